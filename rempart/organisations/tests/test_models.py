import pytest
from django.db import IntegrityError, transaction

from rempart.core.roles import OrgKind, Role
from rempart.organisations.finess import finess_error, luhn_is_valid, luhn_key
from rempart.organisations.models import Membership

from .factories import MembershipFactory, OrganisationFactory, UserFactory, next_finess

pytestmark = pytest.mark.django_db


def test_luhn_key():
    body = "69078181"
    key = luhn_key(body)
    assert luhn_is_valid(body + key)
    assert not luhn_is_valid(body + str((int(key) + 1) % 10))


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("", "vide"), ("12345", "9 caractères"), ("6907818X1", "format"), ("2C0000001", "format")],
)
def test_finess_error_messages(value, fragment):
    assert fragment in finess_error(value)


def test_finess_checks():
    assert finess_error(next_finess()) is None
    valid = next_finess()
    wrong_key = valid[:8] + str((int(valid[8]) + 1) % 10)
    assert "clé de contrôle" in finess_error(wrong_key)
    assert finess_error("2A0000123") is None  # Corsica: format only


def _fails(**kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        OrganisationFactory(**kwargs)


def test_database_refuses_malformed_finess():
    _fails(finess="12AB56789")


def test_database_refuses_duplicate_finess():
    org = OrganisationFactory()
    _fails(finess=org.finess)


def test_establishment_needs_finess_and_region():
    _fails(finess=None)
    _fails(region=None, departement=None)


def test_only_establishments_join_a_ght():
    ght = OrganisationFactory(kind=OrgKind.GHT, finess=None, sector="")
    _fails(kind=OrgKind.ARS, finess=None, sector="", ght=ght)
    assert OrganisationFactory(ght=ght).ght == ght


def test_invalid_sector_and_status_refused():
    _fails(sector="hopital")
    _fails(legal_status="associatif")


def test_one_open_membership_per_role():
    user = UserFactory()
    org = OrganisationFactory()
    MembershipFactory(user=user, organisation=org, role=Role.RSSI)
    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(user=user, organisation=org, role=Role.RSSI)
    assert Membership.objects.count() == 1


def test_membership_period_must_be_ordered():
    import datetime

    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(
            valid_from=datetime.date(2026, 5, 1), valid_until=datetime.date(2026, 4, 1)
        )


def test_email_unique_case_insensitive():
    from rempart.organisations.models import User

    UserFactory(email="a@b.fr")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="A@B.fr")
