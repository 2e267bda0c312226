import datetime

import pytest
from django.core import mail, signing
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import OrgKind, Role
from rempart.organisations import services
from rempart.organisations.models import Invitation, Membership

from .factories import OrganisationFactory, RegionFactory, UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def hospital():
    return OrganisationFactory(name="CH de Villefranche")


@pytest.fixture
def rssi(hospital):
    return member(Role.RSSI, hospital)


def test_invitation_create_sends_a_signed_link(rssi, hospital, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.invitation_create(
            actor=rssi, organisation=hospital, email="Alex@CH.fr", role=Role.DSI
        )
    assert invitation.email == "alex@ch.fr"
    assert len(mail.outbox) == 1
    assert "/organisations/invitation/" in mail.outbox[0].body
    assert "alex@ch.fr" not in mail.outbox[0].body.split("/organisations/invitation/")[1]


def test_cannot_invite_a_role_above_ones_own(rssi, hospital):
    with pytest.raises(DomainError) as exc:
        services.invitation_create(
            actor=rssi, organisation=hospital, email="x@ch.fr", role=Role.ARS_MANAGER
        )
    assert exc.value.code in {"role_not_allowed_here", "role_not_grantable"}
    dsi = member(Role.DSI, hospital)
    with pytest.raises(DomainError, match="ne pouvez pas attribuer"):
        services.invitation_create(
            actor=dsi, organisation=hospital, email="x@ch.fr", role=Role.DIRECTOR
        )
    assert not Invitation.objects.exists()


def test_cannot_invite_into_a_foreign_organisation(rssi):
    foreign = OrganisationFactory(name="Clinique voisine")
    with pytest.raises(DomainError) as exc:
        services.invitation_create(
            actor=rssi, organisation=foreign, email="x@ch.fr", role=Role.STAFF
        )
    assert exc.value.code == "forbidden"


def test_unknown_role_is_refused(rssi, hospital):
    with pytest.raises(DomainError) as exc:
        services.invitation_create(
            actor=rssi, organisation=hospital, email="x@ch.fr", role="pirate"
        )
    assert exc.value.code == "unknown_role"


def test_duplicate_pending_invitation_is_refused_without_losing_the_first(rssi, hospital):
    first = services.invitation_create(
        actor=rssi, organisation=hospital, email="x@ch.fr", role=Role.STAFF
    )
    with pytest.raises(DomainError) as exc:
        services.invitation_create(
            actor=rssi, organisation=hospital, email="X@ch.fr", role=Role.STAFF
        )
    assert exc.value.code == "invitation_pending"
    assert Invitation.objects.get() == first


def test_expired_invitation_is_replaced_by_a_new_one(rssi, hospital):
    old = services.invitation_create(
        actor=rssi, organisation=hospital, email="x@ch.fr", role=Role.STAFF
    )
    Invitation.objects.filter(pk=old.pk).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1),
        created_at=timezone.now() - datetime.timedelta(days=8),
    )
    new = services.invitation_create(
        actor=rssi, organisation=hospital, email="x@ch.fr", role=Role.STAFF
    )
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert new.pk != old.pk


def test_accept_creates_account_and_membership_once(rssi, hospital):
    invitation = services.invitation_create(
        actor=rssi, organisation=hospital, email="new@ch.fr", role=Role.DSI
    )
    token = services.invitation_token(invitation)
    membership = services.invitation_accept(
        token=token, first_name="Alex", last_name="Durand", password="un-mot-de-passe-solide-42"
    )
    assert membership.user.email == "new@ch.fr"
    assert membership.user.check_password("un-mot-de-passe-solide-42")
    assert membership.role == Role.DSI
    assert membership.organisation == hospital
    with pytest.raises(DomainError) as exc:
        services.invitation_accept(token=token, password="x")
    assert exc.value.code == "invitation_used"
    assert Membership.objects.filter(user__email="new@ch.fr").count() == 1


def test_expired_link_is_refused_with_a_clear_message(rssi, hospital, monkeypatch):
    invitation = services.invitation_create(
        actor=rssi, organisation=hospital, email="late@ch.fr", role=Role.STAFF
    )
    token = services.invitation_token(invitation)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1),
        created_at=timezone.now() - datetime.timedelta(days=2),
    )
    with pytest.raises(DomainError, match="expiré") as exc:
        services.invitation_accept(token=token, password="un-mot-de-passe-solide-42")
    assert exc.value.code == "invitation_expired"


def test_signature_older_than_max_age_is_expired(rssi, hospital, settings):
    invitation = services.invitation_create(
        actor=rssi, organisation=hospital, email="late@ch.fr", role=Role.STAFF
    )
    token = services.invitation_token(invitation)
    settings.INVITATION_MAX_AGE_DAYS = 0
    with pytest.raises(DomainError) as exc:
        services.invitation_from_token(token)
    assert exc.value.code == "invitation_expired"


def test_tampered_or_revoked_token(rssi, hospital):
    invitation = services.invitation_create(
        actor=rssi, organisation=hospital, email="x@ch.fr", role=Role.STAFF
    )
    forged = signing.dumps({"i": invitation.pk, "e": "0" * 16}, salt=services.INVITATION_SALT)
    with pytest.raises(DomainError) as exc:
        services.invitation_from_token(forged)
    assert exc.value.code == "invitation_invalid"
    with pytest.raises(DomainError) as exc:
        services.invitation_from_token(services.invitation_token(invitation)[:-3] + "abc")
    assert exc.value.code == "invitation_invalid"
    services.invitation_revoke(actor=rssi, invitation=invitation)
    with pytest.raises(DomainError) as exc:
        services.invitation_from_token(services.invitation_token(invitation))
    assert exc.value.code == "invitation_revoked"


def test_logged_in_user_must_be_the_invited_one(rssi, hospital):
    invitation = services.invitation_create(
        actor=rssi, organisation=hospital, email="x@ch.fr", role=Role.STAFF
    )
    intruder = UserFactory(email="intrus@ailleurs.fr")
    with pytest.raises(DomainError) as exc:
        services.invitation_accept(token=services.invitation_token(invitation), user=intruder)
    assert exc.value.code == "invitation_other_user"
    assert not Membership.objects.filter(user=intruder).exists()


def test_existing_account_must_log_in_to_accept(rssi, hospital):
    UserFactory(email="known@ch.fr")
    invitation = services.invitation_create(
        actor=rssi, organisation=hospital, email="known@ch.fr", role=Role.STAFF
    )
    with pytest.raises(DomainError) as exc:
        services.invitation_accept(
            token=services.invitation_token(invitation), password="un-mot-de-passe-solide-42"
        )
    assert exc.value.code == "account_exists"


def test_membership_end_keeps_history_and_refuses_self_removal(rssi, hospital):
    colleague = member(Role.STAFF, hospital)
    membership = colleague.memberships.get()
    services.membership_end(actor=rssi, membership=membership)
    membership.refresh_from_db()
    assert membership.valid_until is not None
    assert not Membership.objects.active().filter(pk=membership.pk).exists()
    with pytest.raises(DomainError) as exc:
        services.membership_end(actor=rssi, membership=rssi.memberships.get())
    assert exc.value.code == "self_removal"


def test_region_manager_can_invite_in_any_establishment_of_the_region():
    region = RegionFactory(code="84")
    ars = OrganisationFactory(kind=OrgKind.ARS, region=region, finess=None, sector="")
    manager = member(Role.ARS_MANAGER, ars)
    hospital = OrganisationFactory(region=region)
    services.invitation_create(
        actor=manager, organisation=hospital, email="dir@ch.fr", role=Role.DIRECTOR
    )
    elsewhere = OrganisationFactory(region=RegionFactory(code="11"))
    with pytest.raises(DomainError):
        services.invitation_create(
            actor=manager, organisation=elsewhere, email="dir@ch.fr", role=Role.DIRECTOR
        )


def test_organisation_update_validates_and_audits(rssi, hospital):
    from rempart.core.models import AuditEntry

    services.organisation_update(
        actor=rssi, organisation=hospital, beds=420, phone="04 74 00 00 00"
    )
    hospital.refresh_from_db()
    assert hospital.beds == 420
    with pytest.raises(DomainError):
        services.organisation_update(actor=rssi, organisation=hospital, finess="690000000")
    entry = AuditEntry.objects.filter(
        organisation=hospital, action=AuditEntry.Action.UPDATE
    ).latest("timestamp")
    assert entry.changes_dict["beds"] == ["None", "420"]
