"""`make demo`: the demo region, its accounts, and the TOTP helper for demo accounts only."""

import io
from collections import Counter

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError

from rempart.core.models import AuditEntry
from rempart.core.roles import ROLES, OrgKind, Role
from rempart.organisations import demo
from rempart.organisations.finess import finess_error
from rempart.organisations.models import (
    FinessImport,
    Invitation,
    LegalStatus,
    Membership,
    Organisation,
    Sector,
    User,
)
from rempart.organisations.tests.factories import OrganisationFactory, member

pytestmark = pytest.mark.django_db

DEMO_DEPARTEMENTS = {"01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"}


def seed(*args) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def demo_totp(email: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("demo_totp", email, stdout=out, stderr=err)
    return out.getvalue().strip()


def snapshot() -> dict:
    """Everything the demo writes, as comparable values."""
    return {
        "organisations": list(Organisation.objects.order_by("pk").values()),
        "users": list(User.objects.order_by("pk").values()),
        "memberships": list(Membership.objects.order_by("pk").values()),
        "authenticators": list(
            Authenticator.objects.order_by("pk").values("pk", "user_id", "type", "data")
        ),
        "invitations": list(Invitation.objects.order_by("pk").values()),
        "audit_entries": AuditEntry.objects.count(),
        "finess_imports": FinessImport.objects.count(),
    }


@pytest.fixture
def seeded():
    return seed()


def test_plan_is_deterministic_and_in_the_finess_format():
    lines = demo.finess_lines(demo.build_plan())
    assert lines == demo.finess_lines(demo.build_plan())
    header, *rows = lines
    assert header.startswith("finess;")
    kinds = Counter(row.split(";")[0] for row in rows)
    assert kinds["structureet"] > 300
    for row in rows:
        fields = row.split(";")
        assert len(fields) == (32 if fields[0] == "structureet" else 23), row
        numbers = fields[1:3] if fields[0] == "structureet" else fields[1:2]
        for number in numbers:
            assert finess_error(number) is None, row
            assert number[:2] in DEMO_DEPARTEMENTS


def test_seed_demo_creates_the_region(seeded):
    region_orgs = Organisation.objects.filter(region__code="84")
    ghts = region_orgs.filter(kind=OrgKind.GHT)
    establishments = region_orgs.filter(kind=OrgKind.ESTABLISHMENT)
    assert ghts.count() == 13
    assert 220 <= establishments.filter(sector=Sector.HEALTH).count() <= 240
    assert 90 <= establishments.filter(sector=Sector.MEDICO_SOCIAL).count() <= 110
    assert region_orgs.get(kind=OrgKind.ARS).name == "ARS de démonstration Auvergne-Rhône-Alpes"
    assert region_orgs.filter(kind=OrgKind.CRRC).count() == 1
    assert region_orgs.filter(kind=OrgKind.PROVIDER).count() == 1
    assert Organisation.objects.filter(kind=OrgKind.NATIONAL).count() == 1

    # Real départements, valid FINESS numbers, a legal entity for every establishment.
    assert set(establishments.values_list("departement__code", flat=True)) == DEMO_DEPARTEMENTS
    for org in region_orgs.exclude(finess=None):
        assert finess_error(org.finess) is None, org.finess
        assert org.finess[:2] == org.departement.code
    assert not establishments.filter(legal_entity=None).exists()
    assert set(establishments.values_list("legal_entity__kind", flat=True)) == {
        OrgKind.LEGAL_ENTITY
    }

    # Realistic categories, statuses and activity figures.
    categories = set(establishments.values_list("category__code", flat=True))
    assert {"101", "355", "292", "365", "109", "500", "183", "246", "255", "354"} <= categories
    assert set(establishments.values_list("legal_status", flat=True)) == set(LegalStatus.values)
    assert not establishments.filter(staff_count=None).exists()
    assert not establishments.filter(operating_budget_eur=None).exists()
    assert not establishments.filter(beds=None, places=None).exists()
    chu = establishments.filter(category__code="101").order_by("-beds").first()
    ehpad = establishments.filter(category__code="500").order_by("-places").first()
    assert chu.beds > 500
    assert chu.operating_budget_eur > 100_000_000
    assert ehpad.places < 200
    assert ehpad.operating_budget_eur < 20_000_000

    # GHT: one per establishment (a foreign key), a support establishment that is a member,
    # most public hospitals are members, and only public hospitals.
    for ght in ghts:
        assert ght.support_establishment is not None
        assert ght.support_establishment.ght_id == ght.pk
        assert ght.members.count() >= 2
    public_hospitals = establishments.filter(sector=Sector.HEALTH, legal_status=LegalStatus.PUBLIC)
    assert public_hospitals.filter(ght__isnull=False).count() >= 0.85 * public_hospitals.count()
    assert set(establishments.filter(ght__isnull=False).values_list("legal_status", flat=True)) == {
        LegalStatus.PUBLIC
    }

    # The summary tells how to log in.
    assert "http://127.0.0.1:8000/" in seeded
    assert demo.DEMO_PASSWORD in seeded
    assert "make totp EMAIL=" in seeded
    assert "otpauth://totp/" in seeded


def test_one_account_per_role_with_mfa_for_all_but_the_learner(seeded):
    users = User.objects.filter(email__endswith="@demo.rempart.fr")
    memberships = (
        Membership.objects.active().filter(user__in=users).select_related("user", "organisation")
    )
    roles = Counter(m.role for m in memberships)
    assert set(roles) == {role.value for role in ROLES}
    assert roles[Role.RSSI] == 2
    assert all(n == 1 for role, n in roles.items() if role != Role.RSSI)
    for membership in memberships:
        user = membership.user
        assert user.first_name
        assert user.last_name
        assert authenticate(email=user.email, password=demo.DEMO_PASSWORD) == user
        has_totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
        assert has_totp == (membership.role != Role.STAFF), user.email
        assert OrgKind(membership.organisation.kind) in ROLES[Role(membership.role)].org_kinds

    by_email = {m.user.email: m.organisation for m in memberships}
    home = by_email["rssi@demo.rempart.fr"]
    assert home.kind == OrgKind.ESTABLISHMENT
    assert home.ght is not None
    for local in ("directeur", "dsi", "agent"):
        assert by_email[f"{local}@demo.rempart.fr"] == home
    assert by_email["ght@demo.rempart.fr"] == home.ght
    other = by_email["rssi2@demo.rempart.fr"]
    assert other != home
    assert other.ght is not None
    assert other.ght != home.ght

    pending = Invitation.objects.get()
    assert pending.is_pending
    assert pending.organisation == home


def test_running_it_twice_changes_nothing(seeded):
    before = snapshot()
    output = seed()
    assert snapshot() == before
    assert "Déjà à jour" in output


def test_reset_recreates_the_demo(seeded):
    User.objects.filter(email="rssi@demo.rempart.fr").update(first_name="Modifié")
    before = Counter(Organisation.objects.values_list("kind", flat=True))
    seed("--reset")
    assert Counter(Organisation.objects.values_list("kind", flat=True)) == before
    assert User.objects.get(email="rssi@demo.rempart.fr").first_name == "Romain"
    assert Membership.objects.filter(user__email__endswith="@demo.rempart.fr").count() == len(
        demo.ACCOUNTS
    )


def test_a_changed_demo_password_is_restored(seeded):
    user = User.objects.get(email="ars@demo.rempart.fr")
    user.set_password("un-autre-mot-de-passe-solide")
    user.save()
    seed()
    assert authenticate(email="ars@demo.rempart.fr", password=demo.DEMO_PASSWORD) == user


def test_demo_totp_gives_a_code_that_allauth_accepts(seeded):
    code = demo_totp("RSSI@demo.rempart.fr")
    assert code.isdigit()
    assert len(code) == 6
    authenticator = Authenticator.objects.get(
        user__email="rssi@demo.rempart.fr", type=Authenticator.Type.TOTP
    )
    assert TOTP(authenticator).validate_code(code)
    # The code is the one of the secret printed in the summary.
    account = next(a for a in demo.ACCOUNTS if a.email == "rssi@demo.rempart.fr")
    assert account.totp_secret in seeded


def test_demo_totp_refuses_any_other_address():
    real = member(Role.RSSI, OrganisationFactory(), email="rssi@chu-exemple.fr")
    assert Authenticator.objects.filter(user=real).exists()
    for email in (
        "rssi@chu-exemple.fr",
        "rssi@demo.rempart.fr.exemple.com",
        "rssi@faux-demo.rempart.fr",
    ):
        out = io.StringIO()
        with pytest.raises(CommandError, match="n'est pas un compte de démonstration"):
            call_command("demo_totp", email, stdout=out)
        assert out.getvalue() == ""


def test_demo_totp_explains_missing_accounts_and_learners(seeded):
    with pytest.raises(CommandError, match="Aucun compte"):
        demo_totp("inconnu@demo.rempart.fr")
    with pytest.raises(CommandError, match="mot de passe seul"):
        demo_totp("agent@demo.rempart.fr")
