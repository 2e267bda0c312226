"""An exposure world: a region with its CRRC, an establishment with its RSSI, director and DSI,
a loopback lab range allowed by the CRRC, a declared loopback address and a signed
authorisation valid every day, all day."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

from django.utils import timezone

from rempart.core.roles import OrgKind, Role
from rempart.exposure import services
from rempart.exposure.models import Asset, Authorisation, LabRange
from rempart.organisations.models import Organisation, Region
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member


def loopback_address() -> str:
    """A loopback address of its own (127.x.y.z answers on Linux without any set-up), so a test
    can listen on fixed ports (3389, 8443) without meeting another test's servers."""
    return f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


@dataclass
class ExposureWorld:
    region: Region
    crrc: Organisation
    establishment: Organisation
    operator: object
    rssi: object
    director: object
    dsi: object
    lab: LabRange
    address: str
    asset: Asset | None = None
    authorisation: Authorisation | None = None


def exposure_world(*, code: str = "84", authorised: bool = True) -> ExposureWorld:
    region = RegionFactory(code=code, name="Auvergne-Rhône-Alpes")
    crrc = OrganisationFactory(kind=OrgKind.CRRC, region=region, name="GCS Sara", finess=None)
    establishment = OrganisationFactory(
        kind=OrgKind.ESTABLISHMENT, region=region, name="Centre hospitalier de Vienne"
    )
    operator = member(Role.CRRC_OPERATOR, crrc, first_name="Inès", last_name="Analyste")
    rssi = member(Role.RSSI, establishment, first_name="Rémi", last_name="Sécu")
    director = member(Role.DIRECTOR, establishment, first_name="Dora", last_name="Direction")
    dsi = member(Role.DSI, establishment, first_name="Denis", last_name="Info")
    lab = services.lab_range_allow(
        actor=operator, region=region, network="127.0.0.0/8", reason="Laboratoire de test"
    )
    address = loopback_address()
    world = ExposureWorld(region, crrc, establishment, operator, rssi, director, dsi, lab, address)
    if authorised:
        world.asset = services.asset_create(
            actor=rssi, organisation=establishment, value=address, description="Laboratoire"
        )
        world.authorisation = authorise(world, [world.asset])
    return world


def authorise(world: ExposureWorld, assets, **overrides) -> Authorisation:
    today = timezone.localdate()
    fields = {
        "valid_from": today,
        "valid_until": today + datetime.timedelta(days=365),
        "weekdays": "1234567",
        "window_start": datetime.time(0, 0),
        "window_end": datetime.time(23, 59, 59),
        "max_rate": 500,
        **overrides,
    }
    return services.authorisation_sign(
        actor=world.rssi, organisation=world.establishment, assets=assets, **fields
    )
