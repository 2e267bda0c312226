"""A small region for incident tests: an establishment (in a GHT), its people, the region's CRRC
with its on-call experts and an ARS; plus an outsider region. Alerts and cases are built
directly (the services under test build them through their own rules)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from rempart.core.roles import OrgKind, Role
from rempart.incidents.models import (
    Alert,
    AlertSource,
    Case,
    EscalationPolicy,
    IncidentType,
    OnCallShift,
)
from rempart.organisations.models import Organisation, Region, User
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme.tests.factories import establishment, ght


@dataclass
class IncidentWorld:
    region: Region
    crrc: Organisation
    ars: Organisation
    ght: Organisation
    hospital: Organisation  # the victim in most tests
    neighbour: Organisation  # another establishment of the same GHT (a helper)
    provider: Organisation
    director: User
    rssi: User
    staff: User
    ght_coordinator: User
    crrc_operator: User
    oncall: User  # level 1 of the rota
    backup: User  # level 2 of the rota
    provider_expert: User
    ars_manager: User
    neighbour_rssi: User
    outsider_rssi: User  # RSSI of an establishment of another region
    outsider_crrc: User  # CRRC operator of another region


def incident_world(code: str = "84", *, rota: bool = True) -> IncidentWorld:
    region = RegionFactory(code=code, name=f"Région {code}")
    crrc = OrganisationFactory(kind=OrgKind.CRRC, name=f"CRRC {code}", region=region)
    ars = OrganisationFactory(kind=OrgKind.ARS, name=f"ARS {code}", region=region)
    provider = OrganisationFactory(kind=OrgKind.PROVIDER, name="Prestataire CSIRT", region=region)
    group = ght(region, name=f"GHT {code}")
    hospital = establishment(region, "Centre hospitalier de Rivebelle", ght=group)
    neighbour = establishment(region, "Hôpital du Val", ght=group)
    other_region = RegionFactory(code=f"{int(code) + 1:02d}", name="Autre région")
    outsider_site = establishment(other_region, "Hôpital d'ailleurs")
    outsider_crrc_org = OrganisationFactory(
        kind=OrgKind.CRRC, name="CRRC d'ailleurs", region=other_region
    )
    world = IncidentWorld(
        region=region,
        crrc=crrc,
        ars=ars,
        ght=group,
        hospital=hospital,
        neighbour=neighbour,
        provider=provider,
        director=member(Role.DIRECTOR, hospital, first_name="Diane", last_name="Directrice"),
        rssi=member(Role.RSSI, hospital, first_name="Rémi", last_name="Ressi"),
        staff=member(Role.STAFF, hospital, first_name="Sam", last_name="Soignant"),
        ght_coordinator=member(Role.GHT_COORDINATOR, group, first_name="Gaëlle", last_name="Ght"),
        crrc_operator=member(Role.CRRC_OPERATOR, crrc, first_name="Chloé", last_name="Crrc"),
        oncall=member(Role.CRRC_ONCALL, crrc, first_name="Omar", last_name="Astreinte"),
        backup=member(Role.CRRC_ONCALL, provider, first_name="Bea", last_name="Renfort"),
        provider_expert=member(
            Role.PROVIDER_EXPERT, provider, first_name="Paul", last_name="Expert"
        ),
        ars_manager=member(Role.ARS_MANAGER, ars, first_name="Anne", last_name="Ars"),
        neighbour_rssi=member(Role.RSSI, neighbour, first_name="Nina", last_name="Voisine"),
        outsider_rssi=member(Role.RSSI, outsider_site, first_name="Otto", last_name="Ailleurs"),
        outsider_crrc=member(
            Role.CRRC_OPERATOR, outsider_crrc_org, first_name="Odile", last_name="Ailleurs"
        ),
    )
    if rota:
        EscalationPolicy.objects.create(crrc=crrc, ack_timeout_minutes=5, rounds=2)
        now = timezone.now()
        for person, level in ((world.oncall, 1), (world.backup, 2)):
            OnCallShift.objects.create(
                crrc=crrc,
                person=person,
                level=level,
                starts_at=now - datetime.timedelta(hours=2),
                ends_at=now + datetime.timedelta(hours=10),
                phone=f"+3360000000{level}",
            )
    return world


def make_alert(world: IncidentWorld, **fields) -> Alert:
    values = {
        "region": world.region,
        "organisation": world.hospital,
        "crrc": world.crrc,
        "reporter": world.rssi,
        "source": AlertSource.WEB,
        "incident_type": IncidentType.RANSOMWARE,
        "description": "Message de rançon sur les postes des urgences.",
        "received_at": timezone.now(),
    }
    values.update(fields)
    return Alert.objects.create(**values)


def make_case(world: IncidentWorld, number: int = 1, **fields) -> Case:
    now = timezone.now()
    values = {
        "region": world.region,
        "organisation": world.hospital,
        "year": now.year,
        "number": number,
        "title": "Rançongiciel aux urgences",
        "incident_type": IncidentType.RANSOMWARE,
        "reported_at": now,
        "opened_at": now,
        "opened_by": world.crrc_operator,
    }
    values.update(fields)
    return Case.objects.create(**values)
