"""The main menu: what each role is given, and that it stays short (it wraps, never widens
the page: rempart.css)."""

import pytest
from django.urls import reverse

from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, member

pytestmark = pytest.mark.django_db

# Beyond this many top-level entries the DSFR menu takes a third line at 1280 pixels.
MAX_TOP_LEVEL = 12


def _menu(client, user) -> list[dict]:
    client.force_login(user)
    response = client.get(reverse("core:home"))
    assert response.status_code == 200
    return response.context["nav_items"]


def _labels(items) -> list[str]:
    return [item["label"] for item in items]


def _children(items, label) -> list[str]:
    item = next(item for item in items if item["label"] == label)
    return [child["label"] for child in item["children"]]


def test_ars_tools_are_grouped_in_one_menu(client):
    ars = OrganisationFactory(kind=OrgKind.ARS, name="ARS de test")
    items = _menu(client, member(Role.ARS_MANAGER, ars))
    assert "Journal d'audit" not in _labels(items)
    assert "Journal d'audit" in _children(items, "Outils")
    assert len(items) <= MAX_TOP_LEVEL, _labels(items)


@pytest.mark.parametrize("role", [Role.RSSI, Role.DIRECTOR, Role.CRRC_OPERATOR])
def test_every_menu_stays_short(client, role):
    kind = OrgKind.CRRC if role == Role.CRRC_OPERATOR else OrgKind.ESTABLISHMENT
    items = _menu(client, member(role, OrganisationFactory(kind=kind)))
    assert len(items) <= MAX_TOP_LEVEL, _labels(items)


def test_staff_have_no_tools_menu(client):
    items = _menu(client, member(Role.STAFF, OrganisationFactory(kind=OrgKind.ESTABLISHMENT)))
    assert "Outils" not in _labels(items)
    assert "Accueil" in _labels(items)
