"""Password + TOTP login, mandatory second factor for every role but learner, lockout."""

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from rempart.core.roles import Role
from rempart.organisations.tests.factories import (
    TEST_PASSWORD,
    TEST_TOTP_SECRET,
    MembershipFactory,
    OrganisationFactory,
    UserFactory,
    member,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def hospital():
    return OrganisationFactory(name="CH de Vienne")


def test_password_then_totp_login(client, hospital):
    rssi = member(Role.RSSI, hospital)
    response = client.post(
        reverse("account_login"), {"login": rssi.email, "password": TEST_PASSWORD}
    )
    assert response["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("core:home")).status_code == 302  # not logged in yet
    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert wrong.status_code == 200
    assert "Code incorrect" in wrong.text
    right = client.post(reverse("mfa_authenticate"), {"code": pyotp.TOTP(TEST_TOTP_SECRET).now()})
    assert right.status_code == 302
    home = client.get(reverse("core:home"))
    assert home.status_code == 200
    assert "CH de Vienne" in home.text


def test_wrong_password_message_is_french(client, hospital):
    rssi = member(Role.RSSI, hospital)
    response = client.post(reverse("account_login"), {"login": rssi.email, "password": "faux"})
    assert response.status_code == 200
    assert "incorrect" in response.text


def test_privileged_role_without_second_factor_is_sent_to_setup(client, hospital):
    dsi = member(Role.DSI, hospital, mfa=False)
    client.force_login(dsi)
    for url in (reverse("core:home"), reverse("organisations:detail", args=[hospital.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == reverse("mfa_activate_totp")
    # The setup pages themselves stay reachable, and the menu offers nothing else meanwhile.
    assert client.get(reverse("mfa_index")).status_code == 200
    assert "Annuaire" not in client.get(reverse("mfa_index")).text


def test_learner_needs_no_second_factor(client, hospital):
    staff = member(Role.STAFF, hospital)
    assert not Authenticator.objects.filter(user=staff).exists()
    client.force_login(staff)
    assert client.get(reverse("core:home")).status_code == 200


def test_role_added_later_requires_mfa_from_then_on(client, hospital):
    person = member(Role.STAFF, hospital)
    client.force_login(person)
    assert client.get(reverse("core:home")).status_code == 200
    MembershipFactory(user=person, organisation=hospital, role=Role.DIRECTOR)
    assert client.get(reverse("core:home"))["Location"] == reverse("mfa_activate_totp")


def test_brute_force_lockout(client, hospital):
    rssi = member(Role.RSSI, hospital)
    for _ in range(5):
        client.post(
            reverse("account_login"), {"login": rssi.email, "password": "mauvais-mot-de-passe"}
        )
    response = client.post(
        reverse("account_login"), {"login": rssi.email, "password": TEST_PASSWORD}
    )
    assert response.status_code in (200, 429)
    assert "mfa_authenticate" not in response.get("Location", "")
    assert "Trop de tentatives" in response.text


def test_open_signup_is_closed(client):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "x@y.fr",
            "password1": "Une-phrase-42-longue",
            "password2": "Une-phrase-42-longue",
        },
    )
    assert not UserFactory._meta.model.objects.filter(email="x@y.fr").exists()
    assert response.status_code in (200, 302, 403)
