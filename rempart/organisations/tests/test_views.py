"""Organisation pages, with the three people every view test needs: the owner, a colleague
with a lesser role, and an outsider from another organisation."""

import pytest
from django.core import mail
from django.urls import reverse

from rempart.core.models import AuditEntry
from rempart.core.roles import OrgKind, Role
from rempart.organisations import services
from rempart.organisations.models import Invitation, Membership

from .factories import TEST_PASSWORD, OrganisationFactory, RegionFactory, UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def region():
    return RegionFactory(code="84", name="Auvergne-Rhône-Alpes")


@pytest.fixture
def hospital(region):
    ght = OrganisationFactory(
        kind=OrgKind.GHT, name="GHT Rhône Nord", region=region, finess=None, sector=""
    )
    return OrganisationFactory(name="CH Nord-Ouest", region=region, ght=ght)


@pytest.fixture
def owner(hospital):
    return member(Role.RSSI, hospital)


@pytest.fixture
def colleague(hospital):
    return member(Role.STAFF, hospital)


@pytest.fixture
def outsider(region):
    return member(Role.RSSI, OrganisationFactory(name="Clinique du Parc", region=region))


def test_detail_for_owner_colleague_and_outsider(client, hospital, owner, colleague, outsider):
    url = reverse("organisations:detail", args=[hospital.pk])
    client.force_login(owner)
    page = client.get(url)
    assert page.status_code == 200
    assert "CH Nord-Ouest" in page.text
    assert "Gérer les personnes" in page.text
    assert "Historique" in page.text
    client.force_login(colleague)
    page = client.get(url)
    assert page.status_code == 200
    assert "Gérer les personnes" not in page.text
    assert "Historique" not in page.text
    client.force_login(outsider)
    page = client.get(url)
    assert page.status_code == 404
    assert "CH Nord-Ouest" not in page.text


def test_rssi_sees_their_ght_but_not_its_people(client, hospital, owner):
    client.force_login(owner)
    assert client.get(reverse("organisations:detail", args=[hospital.ght_id])).status_code == 200
    assert client.get(reverse("organisations:people", args=[hospital.ght_id])).status_code == 404


def test_people_page_and_invitation_by_htmx(
    client, hospital, owner, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    page = client.get(reverse("organisations:people", args=[hospital.pk]))
    assert "Inviter une personne" in page.text
    assert 'value="ars_manager"' not in page.text  # only grantable roles are offered
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("organisations:invite", args=[hospital.pk]),
            {"email": "collegue@ch-nord.fr", "role": Role.DSI},
            headers={"HX-Request": "true", "HX-Target": "people-panel"},
        )
    assert response.status_code == 200
    assert "Invitation envoyée à collegue@ch-nord.fr" in response.text
    assert "collegue@ch-nord.fr" in response.text  # now listed as pending
    assert Invitation.objects.filter(email="collegue@ch-nord.fr", role=Role.DSI).exists()
    assert len(mail.outbox) == 1


def test_invitation_form_errors_are_french_and_keep_input(client, hospital, owner):
    client.force_login(owner)
    response = client.post(
        reverse("organisations:invite", args=[hospital.pk]),
        {"email": "pas-une-adresse", "role": Role.DSI},
    )
    assert response.status_code == 400
    assert "Saisissez une adresse e-mail valide" in response.text
    assert 'value="pas-une-adresse"' in response.text
    response = client.post(
        reverse("organisations:invite", args=[hospital.pk]),
        {"email": "a@b.fr", "role": Role.ARS_MANAGER},
    )
    assert response.status_code == 400
    assert "Sélectionnez un choix valide" in response.text
    assert not Invitation.objects.exists()


def test_colleague_and_outsider_cannot_invite(client, hospital, colleague, outsider):
    for person in (colleague, outsider):
        client.force_login(person)
        response = client.post(
            reverse("organisations:invite", args=[hospital.pk]),
            {"email": "a@b.fr", "role": Role.STAFF},
        )
        assert response.status_code == 404
    assert not Invitation.objects.exists()


def test_accept_invitation_as_new_person_then_mfa_setup(client, hospital, owner):
    invitation = services.invitation_create(
        actor=owner, organisation=hospital, email="neuf@ch.fr", role=Role.DSI
    )
    url = reverse("organisations:invitation_accept", args=[services.invitation_token(invitation)])
    page = client.get(url)
    assert page.status_code == 200
    assert "CH Nord-Ouest" in page.text
    assert "neuf@ch.fr" in page.text
    response = client.post(
        url, {"first_name": "Noé", "last_name": "Neuf", "password1": "court", "password2": "court"}
    )
    assert response.status_code == 400
    assert "trop court" in response.text
    assert not Membership.objects.filter(user__email="neuf@ch.fr").exists()
    response = client.post(
        url,
        {
            "first_name": "Noé",
            "last_name": "Neuf",
            "password1": "Une-phrase-de-passe-42",
            "password2": "Une-phrase-de-passe-42",
        },
    )
    assert response.status_code == 302
    # A DSI must set up a second factor before anything else.
    home = client.get(reverse("core:home"))
    assert home.status_code == 302
    assert home["Location"] == reverse("mfa_activate_totp")
    # The password was just chosen: the setup page opens without asking for it again.
    setup = client.get(reverse("mfa_activate_totp"))
    assert setup.status_code == 200


def test_expired_or_forged_link_shows_a_french_explanation(client):
    response = client.get(reverse("organisations:invitation_accept", args=["nimporte-quoi"]))
    assert response.status_code == 400
    assert "pas valide" in response.text


def test_known_person_is_asked_to_log_in_first(client, hospital, owner):
    known = UserFactory(email="connu@ch.fr")
    invitation = services.invitation_create(
        actor=owner, organisation=hospital, email="connu@ch.fr", role=Role.STAFF
    )
    url = reverse("organisations:invitation_accept", args=[services.invitation_token(invitation)])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    client.force_login(known)
    assert client.post(url).status_code == 302
    assert (
        Membership.objects.active()
        .filter(user=known, organisation=hospital, role=Role.STAFF)
        .exists()
    )


def test_end_membership_and_revoke_invitation(client, hospital, owner, colleague, outsider):
    membership = colleague.memberships.get()
    invitation = services.invitation_create(
        actor=owner, organisation=hospital, email="x@ch.fr", role=Role.STAFF
    )
    client.force_login(outsider)
    assert (
        client.post(reverse("organisations:membership_end", args=[membership.pk])).status_code
        == 404
    )
    assert (
        client.post(reverse("organisations:invitation_revoke", args=[invitation.pk])).status_code
        == 404
    )
    client.force_login(owner)
    assert (
        client.post(reverse("organisations:membership_end", args=[membership.pk])).status_code
        == 302
    )
    assert (
        client.post(reverse("organisations:invitation_revoke", args=[invitation.pk])).status_code
        == 302
    )
    assert not Membership.objects.active().filter(pk=membership.pk).exists()
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


def test_edit_organisation(client, hospital, owner, colleague):
    url = reverse("organisations:edit", args=[hospital.pk])
    client.force_login(colleague)
    assert client.get(url).status_code == 404
    client.force_login(owner)
    response = client.post(url, {"name": "CH Nord-Ouest Villefranche", "beds": "-3"})
    assert response.status_code == 200
    assert "supérieure ou égale à 0" in response.text
    hospital.refresh_from_db()
    assert hospital.name == "CH Nord-Ouest"
    response = client.post(url, {"name": "CH Nord-Ouest Villefranche", "beds": "350"})
    assert response.status_code == 302
    hospital.refresh_from_db()
    assert hospital.name == "CH Nord-Ouest Villefranche"
    assert hospital.beds == 350
    entry = AuditEntry.objects.filter(organisation=hospital).latest("timestamp")
    assert entry.actor == owner
    assert entry.changes_dict["name"] == ["CH Nord-Ouest", "CH Nord-Ouest Villefranche"]


def test_login_page_is_french_and_mfa_is_asked(client, hospital, owner):
    page = client.get(reverse("account_login"))
    assert page.status_code == 200
    assert "Connexion" in page.text
    response = client.post(
        reverse("account_login"), {"login": owner.email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")


def test_learner_needs_no_mfa_and_has_no_directory(client, hospital, colleague):
    client.force_login(colleague)
    assert client.get(reverse("core:home")).status_code == 200
    assert client.get(reverse("organisations:directory")).status_code == 404
