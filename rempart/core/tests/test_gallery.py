import pytest
from django.urls import reverse

from rempart.core.roles import Role
from rempart.organisations.tests.factories import OrganisationFactory, member

pytestmark = pytest.mark.django_db


def test_every_component_renders_with_sample_data(client):
    client.force_login(member(Role.STAFF, OrganisationFactory()))
    page = client.get(reverse("core:gallery"))
    assert page.status_code == 200
    assert "Ce champ est obligatoire" in page.text  # field errors
    assert "Page 3 sur 6" in page.text  # pagination
    assert "q=exemple&amp;page=4" in page.text  # filters kept across pages
    assert "Aucune modification enregistrée" in page.text
    assert "<title>Sanitaire : 12</title>" in page.text  # horizontal bars
    assert "<title>mars — Complètes : 7</title>" in page.text  # stacked columns, long titles
