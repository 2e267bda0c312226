"""Permission functions: the queryset rule and the one-object rule agree; nobody grants more
than they hold; only learners may skip the second factor."""

import datetime

import pytest
from django.utils import timezone

from rempart.core.roles import ON_OWN_BEHALF, ROLES, Capability, OrgKind, Role, Scope
from rempart.organisations import perms
from rempart.organisations.models import Membership, Organisation

from .factories import (
    DepartementFactory,
    MembershipFactory,
    OrganisationFactory,
    RegionFactory,
    UserFactory,
)


@pytest.fixture
def orgs(db):
    """National operator; two regions, each with ARS, CRRC, two GHTs, a legal entity whose
    establishments sit in and out of a GHT, a legal entity in a GHT, providers and liberals."""
    national = OrganisationFactory(kind=OrgKind.NATIONAL, name="ANS", region=None, departement=None)
    everything = {"national": national}
    for code in ("11", "84"):
        region = RegionFactory(code=code, name=f"Région {code}")
        dept = DepartementFactory(code=code[:2], name=f"Département {code}", region=region)

        def org(kind, name, region=region, dept=dept, code=code, **extra):
            return OrganisationFactory(
                kind=kind, name=f"{name} {code}", region=region, departement=dept, **extra
            )

        ej = org(OrgKind.LEGAL_ENTITY, "EJ")
        et_ght = org(OrgKind.ESTABLISHMENT, "ET en GHT", legal_entity=ej)
        ght = org(OrgKind.GHT, "GHT", support_establishment=et_ght)
        et_ght.ght = ght
        et_ght.save()
        ght2 = org(OrgKind.GHT, "GHT bis")
        ej_ght = org(OrgKind.LEGAL_ENTITY, "EJ en GHT", ght=ght2)
        everything |= {
            f"ars{code}": org(OrgKind.ARS, "ARS"),
            f"crrc{code}": org(OrgKind.CRRC, "CRRC"),
            f"ght{code}": ght,
            f"ght2_{code}": ght2,
            f"ej{code}": ej,
            f"ej_ght{code}": ej_ght,
            f"et_ght{code}": et_ght,
            f"et_ej{code}": org(OrgKind.ESTABLISHMENT, "ET de l'EJ hors GHT", legal_entity=ej),
            f"et_ght2_{code}": org(
                OrgKind.ESTABLISHMENT, "ET du GHT bis", ght=ght2, legal_entity=ej_ght
            ),
            f"et_alone{code}": org(OrgKind.ESTABLISHMENT, "ET isolé"),
            f"provider{code}": org(OrgKind.PROVIDER, "Prestataire"),
            f"liberal{code}": org(OrgKind.LIBERAL, "Libéral"),
        }
    return everything


def _homes(role: Role, orgs: dict[str, Organisation]) -> list[Organisation]:
    """Every organisation of region 11 (or the national one) where `role` can be held."""
    return [
        o
        for key, o in orgs.items()
        if o.kind in ROLES[role].org_kinds and (key == "national" or key.endswith("11"))
    ]


ROLE_HOMES = [(role, kind) for role in Role for kind in sorted(ROLES[role].org_kinds)]


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_scope_q_and_covers_agree(role, orgs):
    everything = list(Organisation.objects.select_related(None).order_by("pk"))
    assert len(everything) == len(orgs)
    homes = _homes(role, orgs)
    assert homes, f"no organisation where {role} can be held"
    for home in homes:
        membership = Membership(organisation=home, role=role)
        for capability in Capability:
            q = perms.scope_q(membership, capability)
            by_query = (
                set()
                if q is None
                else set(Organisation.objects.filter(q).values_list("pk", flat=True))
            )
            by_object = {o.pk for o in everything if perms.covers(membership, o, capability)}
            assert by_query == by_object, (
                f"{role} in {home.name}, {capability}: scope_q gives "
                f"{sorted(o.name for o in everything if o.pk in by_query - by_object)} that covers refuses, "
                f"covers gives {sorted(o.name for o in everything if o.pk in by_object - by_query)} "
                "that scope_q misses"
            )


def test_scopes_reach_what_the_roles_say(orgs):
    """Spot checks of the table, so that agreeing on a wrong rule cannot pass unseen."""

    def covered(role, home_key, capability=Capability.VIEW_DIRECTORY):
        membership = Membership(organisation=orgs[home_key], role=role)
        return {key for key, o in orgs.items() if perms.covers(membership, o, capability)}

    region11 = {key for key in orgs if key.endswith("11")}
    assert covered(Role.NATIONAL_OBSERVER, "national") == set(orgs)
    assert covered(Role.ARS_MANAGER, "ars11") == region11
    assert covered(Role.GHT_COORDINATOR, "ght11") == {"ght11", "et_ght11"}
    assert covered(Role.RSSI, "et_ght11") == {"et_ght11", "ght11"}
    assert covered(Role.RSSI, "et_alone11") == {"et_alone11"}
    assert covered(Role.DIRECTOR, "ej11") == {"ej11", "et_ght11", "et_ej11"}
    assert covered(Role.DIRECTOR, "ej_ght11") == {"ej_ght11", "et_ght2_11", "ght2_11"}
    # The GHT is shared for reading only: an RSSI does not manage its people.
    assert covered(Role.RSSI, "et_ght11", Capability.MANAGE_PEOPLE) == {"et_ght11"}
    assert covered(Role.STAFF, "et_ght11") == set()
    assert covered(Role.PROVIDER_EXPERT, "provider11") == set()
    assert covered(Role.PROVIDER_EXPERT, "provider11", Capability.VIEW_PEOPLE) == {"provider11"}


SCOPE_RANK = {Scope.ORGANISATION: 0, Scope.GHT: 1, Scope.REGION: 2, Scope.NATIONAL: 3}


def _person(role: Role, home: Organisation):
    user = UserFactory()
    MembershipFactory(user=user, organisation=home, role=role)
    return user


@pytest.mark.parametrize(("role", "kind"), ROLE_HOMES, ids=str)
def test_nobody_grants_more_than_they_hold(role, kind, orgs):
    granter_spec = ROLES[role]
    for home in [o for o in _homes(role, orgs) if o.kind == kind]:
        user = _person(role, home)
        for organisation in orgs.values():
            granted = perms.grantable_roles(user, organisation)
            if not perms.can_manage_people(user, organisation):
                assert granted == [], (
                    f"{role} in {home.name} grants {granted} in {organisation.name}"
                )
            for given in granted:
                spec = ROLES[given]
                assert spec.capabilities - ON_OWN_BEHALF <= granter_spec.capabilities, (
                    f"{role} in {home.name} may grant {given} in {organisation.name}, which can do "
                    f"{sorted(spec.capabilities - ON_OWN_BEHALF - granter_spec.capabilities)} that {role} cannot"
                )
                assert SCOPE_RANK[spec.scope] <= SCOPE_RANK[granter_spec.scope], (
                    f"{role} may grant {given}, whose scope is wider"
                )
                assert OrgKind(organisation.kind) in spec.org_kinds, (
                    f"{given} offered in a {organisation.kind}, where it cannot be held"
                )


def test_grantable_roles_spot_checks(orgs):
    rssi = _person(Role.RSSI, orgs["et_ght11"])
    dsi = _person(Role.DSI, orgs["et_ght11"])
    ars = _person(Role.ARS_MANAGER, orgs["ars11"])
    crrc = _person(Role.CRRC_OPERATOR, orgs["crrc11"])
    everywhere = {
        r for user in (rssi, dsi) for o in orgs.values() for r in perms.grantable_roles(user, o)
    }
    assert Role.ARS_MANAGER not in everywhere
    assert Role.DIRECTOR not in {r for o in orgs.values() for r in perms.grantable_roles(dsi, o)}
    assert set(perms.grantable_roles(dsi, orgs["et_ght11"])) == {Role.DSI, Role.STAFF}
    assert set(perms.grantable_roles(rssi, orgs["et_ght11"])) == {
        Role.DIRECTOR,
        Role.RSSI,
        Role.DSI,
        Role.STAFF,
    }
    assert perms.grantable_roles(rssi, orgs["ght11"]) == []  # the shared GHT is read-only
    assert perms.grantable_roles(rssi, orgs["et_ght84"]) == []  # another region
    assert Role.ARS_MANAGER in perms.grantable_roles(ars, orgs["ars11"])
    assert perms.grantable_roles(ars, orgs["ars84"]) == []
    assert perms.grantable_roles(crrc, orgs["ars11"]) == [Role.STAFF]  # no ARS role from the CRRC
    assert Role.CRRC_ONCALL in perms.grantable_roles(crrc, orgs["crrc11"])


def test_only_learners_may_skip_the_second_factor(orgs):
    assert [role for role, spec in ROLES.items() if not spec.requires_mfa] == [Role.STAFF]
    for role in Role:
        for home in _homes(role, orgs)[:1]:
            assert perms.requires_mfa(_person(role, home)) is (role != Role.STAFF), role
    # A learner who also holds another role needs MFA, whatever the order of the memberships.
    both = _person(Role.STAFF, orgs["et_alone11"])
    MembershipFactory(user=both, organisation=orgs["et_alone11"], role=Role.DSI)
    assert perms.requires_mfa(both) is True
    # Superusers always need it; a role that has ended does not count any more.
    assert perms.requires_mfa(UserFactory(is_superuser=True)) is True
    former = _person(Role.STAFF, orgs["et_alone11"])
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    MembershipFactory(
        user=former,
        organisation=orgs["et_alone11"],
        role=Role.RSSI,
        valid_from=yesterday - datetime.timedelta(days=30),
        valid_until=yesterday,
    )
    assert perms.requires_mfa(former) is False
