"""Factories for organisations and people. FINESS numbers are generated valid (Luhn key)."""

import itertools

import factory
from allauth.mfa.models import Authenticator

from rempart.core.roles import OrgKind, Role
from rempart.organisations.finess import luhn_key
from rempart.organisations.models import (
    Departement,
    FinessCategory,
    Membership,
    Organisation,
    Region,
    Sector,
    User,
)

_finess_counter = itertools.count(1)
TEST_PASSWORD = "mot-de-passe-de-test-solide"


def next_finess(departement: str = "69") -> str:
    body = f"{departement}{next(_finess_counter):06d}"
    return body + luhn_key(body)


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Region
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"{90 + n % 9}{n // 9 % 10}")
    name = factory.Sequence(lambda n: f"Région {n}")


class DepartementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Departement
        django_get_or_create = ("code",)

    # 800–899 names no real département: a test that asks for "69" by code never gets one
    # that a factory made for another region.
    code = factory.Sequence(lambda n: f"{800 + n % 100}")
    name = factory.Sequence(lambda n: f"Département {n}")
    region = factory.SubFactory(RegionFactory)


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FinessCategory
        django_get_or_create = ("code",)

    code = "355"
    label = "Centre Hospitalier (C.H.)"
    sector = Sector.HEALTH


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    kind = OrgKind.ESTABLISHMENT
    name = factory.Sequence(lambda n: f"Centre hospitalier n°{n}")
    region = factory.SubFactory(RegionFactory)
    departement = factory.LazyAttribute(lambda o: DepartementFactory(region=o.region))
    finess = factory.LazyAttribute(
        lambda o: next_finess() if o.kind in (OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY) else None
    )
    sector = factory.LazyAttribute(
        lambda o: Sector.HEALTH if o.kind == OrgKind.ESTABLISHMENT else ""
    )
    commune = "Lyon"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"personne{n}@exemple.fr")
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Martin{n}")
    password = factory.django.Password(TEST_PASSWORD)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = Role.STAFF


TEST_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # 160 bits


def give_totp(user: User, secret: str = TEST_TOTP_SECRET) -> Authenticator:
    """Give the user a TOTP authenticator, as if they had set it up."""
    from allauth.mfa.totp.internal.auth import TOTP

    return TOTP.activate(user, secret).instance


def member(role: Role, organisation: Organisation, *, mfa: bool = True, **user_kwargs) -> User:
    """A person holding `role` in `organisation`, with MFA already set up when the role needs it."""
    user = UserFactory(**user_kwargs)
    MembershipFactory(user=user, organisation=organisation, role=role)
    if mfa and role != Role.STAFF:
        give_totp(user)
    return user
