"""Exposure watch services: assets, lab ranges, authorisations, windows, queueing, cancelling,
the emergency stop and the schedule. Nothing here touches the network: scans are queued, not
run (test_findings.py runs them on loopback), and names resolve through injected resolvers."""

from __future__ import annotations

import datetime
import ipaddress
import zoneinfo

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import ROLES, OrgKind, Role
from rempart.exposure import perms, services
from rempart.exposure.models import (
    Asset,
    AssetKind,
    Authorisation,
    EmergencyStop,
    LabRange,
    Scan,
    ScanStatus,
    ScanTrigger,
)
from rempart.exposure.ports import default_port_list
from rempart.organisations.tests.factories import OrganisationFactory, member

from .factories import authorise, exposure_world, loopback_address

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
PRIVATE = "c'est une adresse privée ou réservée, pas une adresse publique d'Internet"
LOOPBACK = "c'est une adresse de bouclage (loopback)"


@pytest.fixture(autouse=True)
def _no_real_dns(monkeypatch):
    """A test that forgets to inject a resolver fails instead of asking a real DNS server."""

    def refuse(name):
        raise AssertionError(f"real DNS lookup attempted for {name!r}")

    monkeypatch.setattr(services, "resolve", refuse)


@pytest.fixture
def world():
    return exposure_world()


def other_region_world():
    """A second region, with its own CRRC operator and establishment (nothing authorised)."""
    return exposure_world(code="93", authorised=False)


def loopback_block(prefix: int) -> str:
    """A loopback network of its own, e.g. 127.91.17.8/29."""
    return str(ipaddress.ip_network(f"{loopback_address()}/{prefix}", strict=False))


def refused(call, *, code: str | None = None, field: str | None = None) -> DomainError:
    with pytest.raises(DomainError) as info:
        call()
    if code is not None:
        assert info.value.code == code
    if field is not None:
        assert info.value.field == field
    return info.value


def paris(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=PARIS)


# --- Parsing assets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value", "count"),
    [
        ("193.48.12.7", AssetKind.ADDRESS, "193.48.12.7/32", 1),
        ("  193.48.12.9/28 ", AssetKind.ADDRESS, "193.48.12.0/28", 16),  # host bits dropped
        ("193.48.0.0/16", AssetKind.ADDRESS, "193.48.0.0/16", 65_536),
        ("2A01:E0A:0:0::1", AssetKind.ADDRESS, "2a01:e0a::1/128", 1),
        ("2a01:e0a::17/120", AssetKind.ADDRESS, "2a01:e0a::/120", 256),
        ("Portail.CHU-Exemple.fr.", AssetKind.DOMAIN, "portail.chu-exemple.fr", 0),
        ("Hôpital-Sud.fr", AssetKind.DOMAIN, "xn--hpital-sud-rbb.fr", 0),
    ],
)
def test_parse_asset_canonical_forms(text, kind, value, count):
    parsed = services.parse_asset(text)
    assert parsed.kind == kind
    assert parsed.value == value
    assert parsed.address_count == count
    if kind == AssetKind.ADDRESS:
        assert str(parsed.network) == value
    else:
        assert parsed.network is None
        assert value.encode("ascii").decode("idna") == text.lower().rstrip(".")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "Indiquez une adresse IP, une plage CIDR ou un nom de domaine."),
        ("   ", "Indiquez une adresse IP"),
        ("pas une adresse", "« pas une adresse » n'est ni une adresse IP"),
        ("intranet", "ni un nom de domaine (ex. portail.chu-exemple.fr)"),
        ("-tiret.fr", "n'est ni une adresse IP"),
        ("a..b.fr", "n'est ni une adresse IP"),
        ("https://portail.fr/", "n'est ni une adresse IP"),
        ("999.1.1.1", "« 999.1.1.1 » n'est pas une adresse IP ou une plage CIDR valide"),
        ("193.48.12.0/33", "n'est pas une adresse IP ou une plage CIDR valide"),
        ("2a01:e0a::1::2", "n'est pas une adresse IP ou une plage CIDR valide"),
    ],
)
def test_parse_asset_refuses_garbage_in_french(text, fragment):
    error = refused(lambda: services.parse_asset(text), field="value")
    assert fragment in error.message


def test_parse_asset_refuses_a_range_larger_than_a_16():
    error = refused(lambda: services.parse_asset("193.48.0.0/15"), field="value")
    assert "La plage 193.48.0.0/15 compte 131 072 adresses" in error.message
    assert "au plus un /16" in error.message
    refused(lambda: services.parse_asset("2a01:e0a::/64"), field="value")


# --- Declaring assets -------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["rssi", "director", "dsi"])
def test_establishment_declarers_declare_a_public_asset(who):
    world = exposure_world(authorised=False)
    actor = getattr(world, who)
    asset = services.asset_create(
        actor=actor,
        organisation=world.establishment,
        value="193.48.12.9/29",
        description="  Passerelle VPN  ",
    )
    asset.refresh_from_db()
    assert asset.organisation == world.establishment
    assert asset.kind == AssetKind.ADDRESS
    assert asset.value == "193.48.12.8/29"
    assert asset.address_count == 8
    assert asset.lab_range is None  # public: no lab range needed
    assert asset.description == "Passerelle VPN"
    assert asset.created_by == actor
    assert asset.retired_at is None


def test_staff_crrc_and_other_establishments_do_not_declare():
    world = exposure_world(authorised=False)
    staff = member(Role.STAFF, world.establishment)
    neighbour = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=world.region)
    neighbour_rssi = member(Role.RSSI, neighbour)
    for actor in (staff, neighbour_rssi, world.operator):
        error = refused(
            lambda actor=actor: services.asset_create(
                actor=actor, organisation=world.establishment, value="193.48.12.7"
            ),
            code="forbidden",
        )
        assert error.message == perms.NOT_DECLARER
    assert not Asset.objects.exists()
    # The neighbour's RSSI declares for their own establishment.
    services.asset_create(actor=neighbour_rssi, organisation=neighbour, value="193.48.12.7")


def test_private_address_refused_without_a_lab_range():
    world = exposure_world(authorised=False)
    error = refused(
        lambda: services.asset_create(
            actor=world.rssi, organisation=world.establishment, value="10.20.30.40"
        ),
        field="value",
    )
    assert error.message.startswith(f"10.20.30.40/32 ne peut pas être analysé : {PRIVATE}.")
    assert "décision du CRRC" in error.message
    assert not Asset.objects.exists()


def test_loopback_accepted_inside_the_region_lab_range(world):
    value = loopback_block(30)
    asset = services.asset_create(actor=world.dsi, organisation=world.establishment, value=value)
    assert asset.lab_range == world.lab
    assert asset.address_count == 4
    assert world.asset.lab_range == world.lab


def test_lab_range_of_another_region_does_not_open_an_address():
    world = exposure_world(authorised=False)
    other = other_region_world()
    services.lab_range_allow(
        actor=other.operator, region=other.region, network="10.99.0.0/24", reason="Maquette"
    )
    error = refused(
        lambda: services.asset_create(
            actor=world.rssi, organisation=world.establishment, value="10.99.0.5"
        ),
        field="value",
    )
    assert PRIVATE in error.message
    # The other region's establishment may declare it.
    asset = services.asset_create(
        actor=other.rssi, organisation=other.establishment, value="10.99.0.5"
    )
    assert asset.lab_range.region == other.region


def test_revoked_lab_range_no_longer_opens_an_address():
    world = exposure_world(authorised=False)
    services.lab_range_revoke(actor=world.operator, lab=world.lab)
    error = refused(
        lambda: services.asset_create(
            actor=world.rssi, organisation=world.establishment, value=world.address
        ),
        field="value",
    )
    assert LOOPBACK in error.message


def test_cumulative_total_capped_at_a_16():
    world = exposure_world(authorised=False)
    declare = lambda value: services.asset_create(  # noqa: E731
        actor=world.rssi, organisation=world.establishment, value=value
    )
    first = declare("193.48.0.0/17")
    declare("193.49.128.0/17")  # exactly 65,536 addresses: allowed
    assert services.declared_address_count(world.establishment) == 65_536
    error = refused(lambda: declare("193.50.0.1"), field="value")
    assert error.message == (
        "Avec 193.50.0.1/32, l'établissement déclarerait 65 537 adresses : le plafond est un "
        "/16 (65 536 adresses) par établissement."
    )
    declare("portail.chu-exemple.fr")  # a name counts no address
    services.asset_retire(actor=world.rssi, asset=first)
    assert services.declared_address_count(world.establishment) == 32_768
    assert declare("193.50.0.1").address_count == 1


def test_cap_is_per_organisation():
    world = exposure_world(authorised=False)
    neighbour = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=world.region)
    neighbour_rssi = member(Role.RSSI, neighbour)
    services.asset_create(actor=world.rssi, organisation=world.establishment, value="193.48.0.0/16")
    services.asset_create(actor=neighbour_rssi, organisation=neighbour, value="193.49.0.0/16")


def test_duplicate_refused_then_retire_and_declare_again():
    world = exposure_world(authorised=False)
    declare = lambda value: services.asset_create(  # noqa: E731
        actor=world.rssi, organisation=world.establishment, value=value
    )
    first = declare("193.48.12.7")
    error = refused(lambda: declare("193.48.12.7/32"), field="value")  # same canonical form
    assert error.message == "193.48.12.7/32 est déjà déclaré."
    name = declare("portail.chu-exemple.fr")
    refused(lambda: declare("PORTAIL.chu-exemple.fr."), field="value")
    services.asset_retire(actor=world.dsi, asset=first)
    services.asset_retire(actor=world.dsi, asset=name)
    again = declare("193.48.12.7")
    assert again.pk != first.pk
    assert Asset.objects.filter(value="193.48.12.7/32").count() == 2
    assert Asset.objects.filter(value="193.48.12.7/32", retired_at__isnull=True).get() == again
    # The database keeps one active row per value too.
    with pytest.raises(IntegrityError), transaction.atomic():
        Asset.objects.create(
            organisation=world.establishment,
            kind=AssetKind.ADDRESS,
            value="193.48.12.7/32",
            address_count=1,
        )


def test_retire_refused_to_other_establishment():
    world = exposure_world()
    neighbour = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=world.region)
    refused(
        lambda: services.asset_retire(actor=member(Role.RSSI, neighbour), asset=world.asset),
        code="forbidden",
    )
    world.asset.refresh_from_db()
    assert world.asset.retired_at is None


def test_service_declare_validation(world):
    declare = lambda port, purpose="VPN", actor=world.rssi, asset=world.asset: (  # noqa: E731
        services.service_declare(actor=actor, asset=asset, port=port, purpose=purpose)
    )
    for port in (None, 0, 65536, -1):
        assert refused(lambda port=port: declare(port), field="port").message == (
            "Le port est un nombre entre 1 et 65535."
        )
    refused(lambda: declare(443, purpose="  "), field="purpose")
    service = declare(443, purpose="  Portail patients ")
    assert (service.port, service.purpose) == (443, "Portail patients")
    refused(lambda: declare(443), field="port")
    staff = member(Role.STAFF, world.establishment)
    refused(lambda: declare(8443, actor=staff), code="forbidden")
    services.asset_retire(actor=world.rssi, asset=world.asset)
    world.asset.refresh_from_db()
    assert "retiré" in refused(lambda: declare(8443)).message


# --- Lab ranges -------------------------------------------------------------------------------


def test_lab_range_only_by_the_region_crrc_operator():
    world = exposure_world(authorised=False)
    other = other_region_world()
    for actor in (other.operator, world.rssi, world.director):
        error = refused(
            lambda actor=actor: services.lab_range_allow(
                actor=actor, region=world.region, network="10.98.0.0/24", reason="Maquette"
            ),
            code="forbidden",
        )
        assert error.message == perms.NOT_WATCHER
    lab = services.lab_range_allow(
        actor=world.operator, region=world.region, network=" 10.98.0.7/24 ", reason=" Maquette "
    )
    assert (lab.network, lab.reason, lab.allowed_by) == ("10.98.0.0/24", "Maquette", world.operator)
    refused(lambda: services.lab_range_revoke(actor=other.operator, lab=lab), code="forbidden")
    assert LabRange.objects.get(pk=lab.pk).revoked_at is None


def test_lab_range_refuses_public_network_duplicates_and_nonsense():
    world = exposure_world(authorised=False)

    def allow(network, reason="Maquette"):
        return services.lab_range_allow(
            actor=world.operator, region=world.region, network=network, reason=reason
        )

    assert (
        "Ce réseau est public" in refused(lambda: allow("193.48.0.0/24"), field="network").message
    )
    refused(lambda: allow("2a01:e0a::/64"), field="network")
    error = refused(lambda: allow("127.0.0.0/8"), field="network")  # the world's own
    assert error.message == "Cette plage de laboratoire est déjà autorisée."
    refused(lambda: allow("127.1.2.3/8"), field="network")  # same network once normalised
    refused(lambda: allow("pas un réseau"), field="network")
    refused(lambda: allow(""), field="network")
    refused(lambda: allow("10.98.0.0/24", reason="  "), field="reason")
    # Revoked, it can be allowed again (a new row).
    services.lab_range_revoke(actor=world.operator, lab=world.lab)
    again = allow("127.0.0.0/8")
    assert again.pk != world.lab.pk
    assert LabRange.objects.filter(region=world.region, network="127.0.0.0/8").count() == 2


# --- Authorisations ---------------------------------------------------------------------------


def test_authorisation_records_signer_and_normalises_weekdays():
    world = exposure_world(authorised=False)
    asset = services.asset_create(
        actor=world.rssi, organisation=world.establishment, value=world.address
    )
    today = timezone.localdate()
    authorisation = services.authorisation_sign(
        actor=world.director,
        organisation=world.establishment,
        assets=[asset],
        valid_from=today,
        valid_until=today + datetime.timedelta(days=366),  # a leap year's worth: allowed
        weekdays="5311",
        window_start=datetime.time(20),
        window_end=datetime.time(23),
        max_rate=1000,
    )
    authorisation.refresh_from_db()
    assert authorisation.weekdays == "135"
    assert authorisation.signed_by == world.director
    assert authorisation.signer_name == "Dora Direction"
    assert authorisation.signer_title == str(ROLES[Role.DIRECTOR].label)
    assert list(authorisation.assets.all()) == [asset]
    assert services.current_authorisation(world.establishment) == authorisation


def test_dsi_and_staff_do_not_sign(world):
    staff = member(Role.STAFF, world.establishment)
    for actor in (world.dsi, staff, world.operator):
        error = refused(
            lambda actor=actor: services.authorisation_sign(
                actor=actor,
                organisation=world.establishment,
                assets=[world.asset],
                valid_from=timezone.localdate(),
                valid_until=timezone.localdate(),
                weekdays="1",
                window_start=datetime.time(1),
                window_end=datetime.time(2),
                max_rate=10,
            ),
            code="forbidden",
        )
        assert error.message == perms.NOT_SIGNER
    refused(
        lambda: services.authorisation_revoke(actor=world.dsi, authorisation=world.authorisation),
        code="forbidden",
    )
    assert Authorisation.objects.count() == 1


def test_ght_coordinator_declares_and_signs_for_a_member():
    world = exposure_world(authorised=False)
    ght = OrganisationFactory(kind=OrgKind.GHT, region=world.region, finess=None, sector="")
    world.establishment.ght = ght
    world.establishment.save()
    coordinator = member(Role.GHT_COORDINATOR, ght, first_name="Gaël", last_name="Coord")
    asset = services.asset_create(
        actor=coordinator, organisation=world.establishment, value="193.48.12.7"
    )
    authorisation = authorise(world, [asset])  # signed by the RSSI
    services.authorisation_revoke(actor=coordinator, authorisation=authorisation)
    signed = services.authorisation_sign(
        actor=coordinator,
        organisation=world.establishment,
        assets=[asset],
        valid_from=timezone.localdate(),
        valid_until=timezone.localdate(),
        weekdays="1234567",
        window_start=datetime.time(0),
        window_end=datetime.time(23),
        max_rate=100,
    )
    assert signed.signed_by == coordinator
    assert coordinator in services.declarers_of(world.establishment)


def _days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (lambda: {"assets": []}, "assets", "Choisissez au moins un actif à faire analyser."),
        (
            lambda: {"valid_from": _days(1), "valid_until": _days(0)},
            "valid_until",
            "La fin de validité précède son début.",
        ),
        (
            lambda: {"valid_from": _days(0), "valid_until": _days(367)},
            "valid_until",
            "Une autorisation vaut au plus un an : elle se renouvelle chaque année.",
        ),
        (
            lambda: {"valid_from": _days(-400), "valid_until": _days(-40)},
            "valid_until",
            "Cette autorisation serait déjà expirée.",
        ),
        (
            lambda: {"valid_from": _days(-10), "valid_until": _days(-1)},
            "valid_until",
            "Cette autorisation serait déjà expirée.",
        ),
        (lambda: {"weekdays": ""}, "weekdays", "Choisissez au moins un jour de la semaine."),
        (lambda: {"weekdays": "08"}, "weekdays", "Choisissez au moins un jour de la semaine."),
        (
            lambda: {"window_start": datetime.time(18), "window_end": datetime.time(18)},
            "window_end",
            "La plage horaire doit finir après son début.",
        ),
        (
            lambda: {"window_start": datetime.time(18), "window_end": datetime.time(8)},
            "window_end",
            "La plage horaire doit finir après son début.",
        ),
        (
            lambda: {"max_rate": 0},
            "max_rate",
            "Le débit maximal est entre 1 et 1 000 sondes par seconde et par /24.",
        ),
        (lambda: {"max_rate": 1001}, "max_rate", "Le débit maximal est entre 1 et 1 000"),
    ],
)
def test_authorisation_validation(overrides, field, message):
    world = exposure_world(authorised=False)
    asset = services.asset_create(
        actor=world.rssi, organisation=world.establishment, value=world.address
    )
    fields = overrides()
    assets = fields.pop("assets", [asset])
    error = refused(lambda: authorise(world, assets, **fields), field=field)
    assert message in error.message
    assert not Authorisation.objects.exists()


def test_authorisation_may_end_today_or_start_later():
    world = exposure_world(authorised=False)
    asset = services.asset_create(
        actor=world.rssi, organisation=world.establishment, value=world.address
    )
    ends_today = authorise(world, [asset], valid_from=_days(-30), valid_until=_days(0))
    later = authorise(world, [asset], valid_from=_days(10), valid_until=_days(20))
    # The one in force today is the one that started, not the one signed last.
    assert services.current_authorisation(world.establishment) == ends_today
    assert later.pk


@pytest.mark.parametrize("rate", [1, 1000])
def test_authorisation_rate_bounds_accepted(rate):
    world = exposure_world(authorised=False)
    asset = services.asset_create(
        actor=world.rssi, organisation=world.establishment, value=world.address
    )
    assert authorise(world, [asset], max_rate=rate).max_rate == rate


def test_authorisation_refuses_other_or_retired_assets():
    world = exposure_world()
    neighbour = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=world.region)
    foreign = services.asset_create(
        actor=member(Role.RSSI, neighbour), organisation=neighbour, value="193.48.12.7"
    )
    refused(lambda: authorise(world, [world.asset, foreign]))
    services.asset_retire(actor=world.rssi, asset=world.asset)
    world.asset.refresh_from_db()
    refused(lambda: authorise(world, [world.asset]))
    assert Authorisation.objects.count() == 1


def test_authorisation_constraints_hold_in_the_database(world):
    for field, value in (("max_rate", 0), ("window_end", datetime.time(0, 0))):
        with pytest.raises(IntegrityError), transaction.atomic():
            Authorisation.objects.filter(pk=world.authorisation.pk).update(**{field: value})


def test_revoke_cancels_queued_scans_and_flags_running_ones(world):
    authorisation = world.authorisation
    queued = services.scan_queue(actor=world.operator, organisation=world.establishment)
    common = {
        "organisation": world.establishment,
        "authorisation": authorisation,
        "trigger": ScanTrigger.ON_DEMAND,
        "rate": 10,
    }
    running = Scan.objects.create(status=ScanStatus.RUNNING, **common)
    done = Scan.objects.create(status=ScanStatus.DONE, finished_at=timezone.now(), **common)
    # Another establishment's queued scan is not touched.
    other = exposure_world(code="93")
    elsewhere = services.scan_queue(actor=other.operator, organisation=other.establishment)

    services.authorisation_revoke(actor=world.director, authorisation=authorisation)

    authorisation.refresh_from_db()
    assert authorisation.revoked_at is not None
    assert authorisation.revoked_by == world.director
    queued.refresh_from_db()
    assert queued.status == ScanStatus.CANCELLED
    assert queued.reason == "Autorisation révoquée"
    assert queued.finished_at is not None
    running.refresh_from_db()
    assert running.status == ScanStatus.RUNNING
    assert running.cancel_requested is True
    done.refresh_from_db()
    assert (done.status, done.cancel_requested) == (ScanStatus.DONE, False)
    elsewhere.refresh_from_db()
    assert elsewhere.status == ScanStatus.QUEUED
    assert services.current_authorisation(world.establishment) is None
    # A second revocation changes nothing.
    revoked_at = authorisation.revoked_at
    services.authorisation_revoke(actor=world.rssi, authorisation=authorisation)
    authorisation.refresh_from_db()
    assert (authorisation.revoked_at, authorisation.revoked_by) == (revoked_at, world.director)


# --- Windows ----------------------------------------------------------------------------------


def _weekday_evenings(**fields) -> Authorisation:
    return Authorisation(
        valid_from=datetime.date(2025, 3, 1),
        valid_until=datetime.date(2025, 12, 31),
        weekdays="12345",
        window_start=datetime.time(20, 0),
        window_end=datetime.time(23, 0),
        max_rate=100,
        **fields,
    )


UTC = datetime.UTC


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Monday 3 March 2025, 19:30 UTC = 20:30 in Paris (winter time, UTC+1): inside.
        (datetime.datetime(2025, 3, 3, 19, 30, tzinfo=UTC), ""),
        # Monday 7 July 2025, 18:30 UTC = 20:30 in Paris (summer time, UTC+2): inside.
        (datetime.datetime(2025, 7, 7, 18, 30, tzinfo=UTC), ""),
        (datetime.datetime(2025, 7, 7, 20, 30, tzinfo=PARIS), ""),
        # 19:30 UTC in July is 21:30 in Paris; 17:30 UTC is 19:30 in Paris: outside.
        (
            datetime.datetime(2025, 7, 7, 17, 30, tzinfo=UTC),
            "hors de la plage horaire autorisée (20:00–23:00, heure de Paris)",
        ),
        # The end of the window is excluded.
        (
            datetime.datetime(2025, 3, 3, 22, 0, tzinfo=UTC),
            "hors de la plage horaire autorisée (20:00–23:00, heure de Paris)",
        ),
        # Saturday evening.
        (
            datetime.datetime(2025, 3, 8, 20, 30, tzinfo=UTC),
            "hors des jours autorisés (lundi, mardi, mercredi, jeudi, vendredi)",
        ),
        # Before the first valid day (Friday 28 February, 21:30 in Paris).
        (
            datetime.datetime(2025, 2, 28, 20, 30, tzinfo=UTC),
            "l'autorisation ne vaut qu'à partir du 01/03/2025",
        ),
        # 23:30 UTC on 31 December is already 1 January in Paris.
        (
            datetime.datetime(2025, 12, 31, 23, 30, tzinfo=UTC),
            "l'autorisation a expiré le 31/12/2025",
        ),
    ],
)
def test_window_refusal_in_paris_time(now, expected):
    assert services.window_refusal(_weekday_evenings(), now) == expected


def test_window_weekday_is_the_paris_one():
    saturday_nights = _weekday_evenings()
    saturday_nights.weekdays = "6"
    saturday_nights.window_start = datetime.time(0, 0)
    saturday_nights.window_end = datetime.time(2, 0)
    # Friday 7 March 2025, 23:30 UTC is Saturday 00:30 in Paris.
    assert services.window_refusal(
        saturday_nights, datetime.datetime(2025, 3, 7, 23, 30, tzinfo=UTC)
    ) == ("")
    assert services.window_refusal(
        saturday_nights, datetime.datetime(2025, 3, 8, 1, 30, tzinfo=UTC)
    ) == ("hors de la plage horaire autorisée (00:00–02:00, heure de Paris)")
    assert services.window_refusal(
        saturday_nights, datetime.datetime(2025, 3, 8, 23, 30, tzinfo=UTC)
    ) == ("hors des jours autorisés (samedi)")


def test_window_refusal_when_revoked():
    revoked = _weekday_evenings(revoked_at=datetime.datetime(2025, 3, 2, tzinfo=UTC))
    inside = datetime.datetime(2025, 3, 3, 19, 30, tzinfo=UTC)
    assert services.window_refusal(revoked, inside) == "l'autorisation a été révoquée"


def test_window_refusal_of_a_signed_authorisation(world):
    today = timezone.localdate()
    assert services.window_refusal(world.authorisation, paris(today, 12)) == ""
    authorisation = authorise(
        world, [world.asset], window_start=datetime.time(8), window_end=datetime.time(18)
    )
    assert services.window_refusal(authorisation, paris(today, 7, 59)) != ""
    assert services.window_refusal(authorisation, paris(today, 8)) == ""
    after_the_end = today + datetime.timedelta(days=366)
    assert services.window_refusal(authorisation, paris(after_the_end, 12)) == (
        f"l'autorisation a expiré le {authorisation.valid_until:%d/%m/%Y}"
    )


# --- Queueing ---------------------------------------------------------------------------------


def test_scan_queue_records_scope_ports_and_rate(world):
    service_asset = services.asset_create(
        actor=world.rssi, organisation=world.establishment, value=loopback_block(32)
    )
    services.service_declare(actor=world.rssi, asset=service_asset, port=47001, purpose="Appli")
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    scan.refresh_from_db()
    assert scan.status == ScanStatus.QUEUED
    assert scan.trigger == ScanTrigger.ON_DEMAND
    assert scan.launched_by == world.operator
    assert scan.authorisation == world.authorisation
    # Only the authorised asset is in scope, not the one declared after the authorisation.
    assert scan.targets == [[world.address, "", world.asset.pk]]
    assert scan.skipped == []
    assert scan.rate == 500
    assert scan.ports == sorted({*default_port_list(), 47001})
    assert {3389, 8080, 8443} <= set(scan.ports)
    assert scan.probes_total == len(scan.ports)
    assert (scan.hosts_done, scan.probes_done, scan.percent) == (0, 0, 0)


def test_only_the_region_crrc_operator_queues():
    world = exposure_world()
    other = other_region_world()
    staff = member(Role.STAFF, world.establishment)
    for actor in (other.operator, world.rssi, world.director, staff):
        error = refused(
            lambda actor=actor: services.scan_queue(actor=actor, organisation=world.establishment),
            code="forbidden",
        )
        assert error.message == perms.NOT_WATCHER
    assert not Scan.objects.exists()


def test_scan_queue_refused_outside_the_window(world):
    authorise(world, [world.asset], window_start=datetime.time(8), window_end=datetime.time(18))
    evening = paris(timezone.localdate(), 20)
    error = refused(
        lambda: services.scan_queue(
            actor=world.operator, organisation=world.establishment, now=evening
        )
    )
    assert error.message == (
        "Analyse impossible : hors de la plage horaire autorisée (08:00–18:00, heure de Paris)."
    )
    assert not Scan.objects.exists()
    noon = paris(timezone.localdate(), 12)
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment, now=noon)
    assert scan.status == ScanStatus.QUEUED


def test_scan_queue_refused_without_authorisation():
    world = exposure_world(authorised=False)
    error = refused(
        lambda: services.scan_queue(actor=world.operator, organisation=world.establishment)
    )
    assert error.message == (
        "Analyse impossible : l'établissement n'a pas d'autorisation d'analyse en vigueur."
    )
    # Scheduled, there is no authorisation to record a skipped scan against.
    assert (
        services.scan_queue(
            actor=None, organisation=world.establishment, trigger=ScanTrigger.SCHEDULED
        )
        is None
    )
    assert not Scan.objects.exists()


def test_scan_queue_refused_after_revocation(world):
    services.authorisation_revoke(actor=world.rssi, authorisation=world.authorisation)
    error = refused(
        lambda: services.scan_queue(actor=world.operator, organisation=world.establishment)
    )
    assert "pas d'autorisation d'analyse en vigueur" in error.message


def test_scan_queue_refused_during_the_emergency_stop(world):
    services.emergency_stop(actor=world.operator, reason="Incident chez l'hébergeur")
    error = refused(
        lambda: services.scan_queue(actor=world.operator, organisation=world.establishment)
    )
    assert error.message == (
        "Analyse impossible : arrêt d'urgence des analyses en cours (Incident chez l'hébergeur)."
    )
    assert not Scan.objects.exists()


def test_scan_queue_refused_while_a_scan_is_queued_or_running(world):
    first = services.scan_queue(actor=world.operator, organisation=world.establishment)
    error = refused(
        lambda: services.scan_queue(actor=world.operator, organisation=world.establishment)
    )
    assert error.message == "Une analyse de cet établissement est déjà en attente ou en cours."
    Scan.objects.filter(pk=first.pk).update(status=ScanStatus.RUNNING)
    refused(lambda: services.scan_queue(actor=world.operator, organisation=world.establishment))
    Scan.objects.filter(pk=first.pk).update(status=ScanStatus.DONE, finished_at=timezone.now())
    assert services.scan_queue(actor=world.operator, organisation=world.establishment).pk
    assert Scan.objects.count() == 2


def test_scheduled_scan_outside_the_window_is_recorded_as_skipped(world):
    authorisation = authorise(
        world, [world.asset], window_start=datetime.time(8), window_end=datetime.time(18)
    )
    scan = services.scan_queue(
        actor=None,
        organisation=world.establishment,
        trigger=ScanTrigger.SCHEDULED,
        now=paris(timezone.localdate(), 20),
    )
    scan.refresh_from_db()
    assert scan.status == ScanStatus.SKIPPED
    assert scan.trigger == ScanTrigger.SCHEDULED
    assert scan.launched_by is None
    assert scan.authorisation == authorisation
    assert scan.reason == "Hors de la plage horaire autorisée (08:00–18:00, heure de Paris)"
    assert scan.finished_at is not None
    assert scan.targets == []
    assert scan.is_finished


def test_scheduled_scan_skipped_during_the_stop_or_while_another_runs(world):
    first = services.scan_queue(
        actor=None, organisation=world.establishment, trigger=ScanTrigger.SCHEDULED
    )
    assert first.status == ScanStatus.QUEUED
    second = services.scan_queue(
        actor=None, organisation=world.establishment, trigger=ScanTrigger.SCHEDULED
    )
    assert second.status == ScanStatus.SKIPPED
    assert second.reason == "Une analyse de cet établissement était déjà en cours"
    services.emergency_stop(actor=world.operator, reason="Maintenance du CRRC")
    third = services.scan_queue(
        actor=None, organisation=world.establishment, trigger=ScanTrigger.SCHEDULED
    )
    assert third.status == ScanStatus.SKIPPED
    assert third.reason == "Arrêt d'urgence des analyses en cours (Maintenance du CRRC)"


def test_plan_targets_expands_ranges_and_resolves_names(world):
    base = ipaddress.ip_network(loopback_block(28))
    at = lambda n: str(base[n])  # noqa: E731
    declare = lambda value: services.asset_create(  # noqa: E731
        actor=world.rssi, organisation=world.establishment, value=value
    )
    small = declare(f"{at(0)}/30")  # a /30: its two hosts, not the network nor broadcast
    pair = declare(f"{at(4)}/31")  # a /31: both addresses
    portal = declare("portail.chu-test.fr")  # published on .8 and on a private address
    mail = declare("messagerie.chu-test.fr")  # published on the declared address
    absent = declare("absent.chu-test.fr")
    private = declare("intranet.chu-test.fr")
    retired = declare(at(15))
    authorisation = authorise(
        world, [world.asset, small, pair, portal, mail, absent, private, retired]
    )
    services.asset_retire(actor=world.rssi, asset=retired)
    answers = {
        "portail.chu-test.fr": [at(8), "10.1.2.3"],
        "messagerie.chu-test.fr": [world.address],
        "absent.chu-test.fr": [],
        "intranet.chu-test.fr": ["192.168.1.10"],
    }
    asked = []

    def resolver(name):
        asked.append(name)
        return answers[name]

    targets, skipped = services.plan_targets(authorisation, resolver)
    assert sorted(asked) == sorted(answers)
    assert len(targets) == len({t[0] for t in targets})  # each address once
    by_address = {t[0]: t for t in targets}
    assert set(by_address) == {world.address, at(1), at(2), at(4), at(5), at(8)}
    assert by_address[at(1)] == [at(1), "", small.pk]
    assert by_address[at(2)] == [at(2), "", small.pk]
    assert by_address[at(4)] == [at(4), "", pair.pk]
    assert by_address[at(8)] == [at(8), "portail.chu-test.fr", portal.pk]
    # An address both declared and published keeps its asset and gains the published name.
    assert by_address[world.address] == [world.address, "messagerie.chu-test.fr", world.asset.pk]
    assert sorted(skipped) == sorted(
        [
            ["absent.chu-test.fr", "ce nom de domaine ne se résout en aucune adresse"],
            ["intranet.chu-test.fr (192.168.1.10)", PRIVATE],
            ["portail.chu-test.fr (10.1.2.3)", PRIVATE],
        ]
    )


def test_plan_targets_skips_a_range_whose_lab_range_was_revoked(world):
    lab = services.lab_range_allow(
        actor=world.operator, region=world.region, network="10.77.0.0/24", reason="Maquette"
    )
    lab_asset = services.asset_create(
        actor=world.rssi, organisation=world.establishment, value="10.77.0.0/30"
    )
    authorisation = authorise(world, [world.asset, lab_asset])
    targets, skipped = services.plan_targets(authorisation, resolver=lambda name: [])
    assert {t[0] for t in targets} == {world.address, "10.77.0.1", "10.77.0.2"}
    services.lab_range_revoke(actor=world.operator, lab=lab)
    targets, skipped = services.plan_targets(authorisation, resolver=lambda name: [])
    assert [t[0] for t in targets] == [world.address]
    assert skipped == [["10.77.0.0/30", PRIVATE]]


def test_scan_queue_stores_what_was_left_out(world):
    name = services.asset_create(
        actor=world.rssi, organisation=world.establishment, value="portail.chu-test.fr"
    )
    authorise(world, [world.asset, name])
    scan = services.scan_queue(
        actor=world.operator, organisation=world.establishment, resolver=lambda n: ["10.0.0.8"]
    )
    scan.refresh_from_db()
    assert scan.targets == [[world.address, "", world.asset.pk]]
    assert scan.skipped == [["portail.chu-test.fr (10.0.0.8)", PRIVATE]]


def test_scan_queue_with_nothing_scannable_is_skipped(world):
    name = services.asset_create(
        actor=world.rssi, organisation=world.establishment, value="absent.chu-test.fr"
    )
    authorise(world, [name])
    scan = services.scan_queue(
        actor=world.operator, organisation=world.establishment, resolver=lambda n: []
    )
    scan.refresh_from_db()
    assert scan.status == ScanStatus.SKIPPED
    assert scan.reason == "Aucune adresse analysable dans le périmètre autorisé"
    assert scan.skipped == [
        ["absent.chu-test.fr", "ce nom de domaine ne se résout en aucune adresse"]
    ]
    assert scan.probes_total == 0


# --- Cancelling and the emergency stop --------------------------------------------------------


def test_cancel_a_queued_scan(world):
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    services.scan_cancel(actor=world.operator, scan=scan)
    scan.refresh_from_db()
    assert scan.status == ScanStatus.CANCELLED
    assert scan.reason == "Annulée par Inès Analyste"
    assert scan.finished_at is not None
    error = refused(lambda: services.scan_cancel(actor=world.operator, scan=scan))
    assert error.message == "Cette analyse est déjà terminée."
    # Cancelled, it no longer blocks a new one.
    assert services.scan_queue(actor=world.operator, organisation=world.establishment).pk


def test_cancel_a_running_scan_asks_its_worker(world):
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    Scan.objects.filter(pk=scan.pk).update(status=ScanStatus.RUNNING)
    services.scan_cancel(actor=world.operator, scan=scan)
    scan.refresh_from_db()
    assert scan.status == ScanStatus.RUNNING
    assert scan.cancel_requested is True
    assert scan.reason == "Annulée par Inès Analyste"
    assert scan.finished_at is None


def test_cancel_only_by_the_region_crrc_operator(world):
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    other = other_region_world()
    for actor in (other.operator, world.rssi):
        refused(lambda actor=actor: services.scan_cancel(actor=actor, scan=scan), code="forbidden")
    scan.refresh_from_db()
    assert scan.status == ScanStatus.QUEUED


def test_emergency_stop_cancels_blocks_and_releases(world):
    queued = services.scan_queue(actor=world.operator, organisation=world.establishment)
    other = exposure_world(code="93")
    running = services.scan_queue(actor=other.operator, organisation=other.establishment)
    Scan.objects.filter(pk=running.pk).update(status=ScanStatus.RUNNING)

    stop = services.emergency_stop(actor=world.operator, reason="  Plainte d'un hébergeur ")

    assert stop.active is True
    assert stop.reason == "Plainte d'un hébergeur"
    assert stop.engaged_by == world.operator
    assert services.engaged_stop() == stop
    queued.refresh_from_db()
    assert queued.status == ScanStatus.CANCELLED  # every region's scans stop
    assert queued.reason == "Arrêt d'urgence des analyses"
    assert queued.finished_at is not None
    running.refresh_from_db()
    assert (running.status, running.cancel_requested) == (ScanStatus.RUNNING, True)
    refused(lambda: services.scan_queue(actor=world.operator, organisation=world.establishment))

    # A second engagement (by another region's operator) returns the same stop.
    again = services.emergency_stop(actor=other.operator, reason="Autre motif")
    assert again.pk == stop.pk
    assert EmergencyStop.objects.count() == 1
    assert EmergencyStop.objects.get().reason == "Plainte d'un hébergeur"
    with pytest.raises(IntegrityError), transaction.atomic():
        EmergencyStop.objects.create(engaged_by=world.operator, reason="Doublon")

    released = services.emergency_release(actor=other.operator)
    assert released.pk == stop.pk
    stop.refresh_from_db()
    assert stop.active is False
    assert stop.released_by == other.operator
    assert stop.released_at is not None
    assert services.engaged_stop() is None
    assert services.emergency_release(actor=world.operator) is None
    scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
    assert scan.status == ScanStatus.QUEUED
    # A new stop is a new row.
    assert services.emergency_stop(actor=world.operator, reason="Encore").pk != stop.pk


def test_emergency_stop_only_by_crrc_operators_and_with_a_reason(world):
    for actor in (world.rssi, world.director, world.dsi):
        refused(
            lambda actor=actor: services.emergency_stop(actor=actor, reason="Test"),
            code="forbidden",
        )
        refused(lambda actor=actor: services.emergency_release(actor=actor), code="forbidden")
    refused(lambda: services.emergency_stop(actor=world.operator, reason=" "), field="reason")
    assert not EmergencyStop.objects.exists()


# --- The schedule -----------------------------------------------------------------------------


def _done(scan: Scan, finished_at: datetime.datetime) -> None:
    Scan.objects.filter(pk=scan.pk).update(status=ScanStatus.DONE, finished_at=finished_at)


def test_schedule_first_scan_then_45_days_then_every_interval(world, settings):
    settings.EXPOSURE_SCAN_INTERVAL_DAYS = 20
    start = timezone.now()
    day = datetime.timedelta(days=1)

    [first] = services.schedule_due_scans(now=start)
    assert first.trigger == ScanTrigger.SCHEDULED
    assert first.status == ScanStatus.QUEUED
    assert first.launched_by is None
    assert first.targets == [[world.address, "", world.asset.pk]]
    # While it is queued, nothing more.
    assert services.schedule_due_scans(now=start + day) == []
    _done(first, start)

    # The second audit is 45 days after the first, not the usual interval.
    assert services.schedule_due_scans(now=start + 20 * day + datetime.timedelta(minutes=1)) == []
    assert services.schedule_due_scans(now=start + 45 * day - datetime.timedelta(minutes=1)) == []
    [second] = services.schedule_due_scans(now=start + 45 * day)
    second_done = start + 45 * day + datetime.timedelta(hours=1)
    _done(second, second_done)

    # Then every EXPOSURE_SCAN_INTERVAL_DAYS after the last one done.
    assert (
        services.schedule_due_scans(now=second_done + 20 * day - datetime.timedelta(minutes=1))
        == []
    )
    [third] = services.schedule_due_scans(now=second_done + 20 * day)
    assert third.pk not in (first.pk, second.pk)
    # Cancelled or failed scans do not count as done.
    Scan.objects.filter(pk=third.pk).update(
        status=ScanStatus.FAILED, finished_at=second_done + 20 * day
    )
    [fourth] = services.schedule_due_scans(now=second_done + 20 * day + datetime.timedelta(hours=1))
    assert fourth.status == ScanStatus.QUEUED
    assert Scan.objects.filter(trigger=ScanTrigger.SCHEDULED).count() == 4


def test_schedule_queues_nothing_outside_the_window(world):
    today = timezone.localdate()
    authorise(
        world,
        [world.asset],
        weekdays=str(today.isoweekday()),
        window_start=datetime.time(8),
        window_end=datetime.time(18),
    )
    assert services.schedule_due_scans(now=paris(today, 7)) == []
    assert services.schedule_due_scans(now=paris(today + datetime.timedelta(days=1), 12)) == []
    assert not Scan.objects.exists()  # not even a skipped one
    [scan] = services.schedule_due_scans(now=paris(today, 12))
    assert scan.status == ScanStatus.QUEUED


def test_schedule_ignores_revoked_and_unauthorised_organisations(world):
    exposure_world(code="93", authorised=False)
    services.authorisation_revoke(actor=world.rssi, authorisation=world.authorisation)
    assert services.schedule_due_scans() == []
    assert not Scan.objects.exists()


def test_schedule_covers_every_authorised_organisation(world):
    other = exposure_world(code="93")
    scans = services.schedule_due_scans()
    assert {s.organisation_id for s in scans} == {world.establishment.pk, other.establishment.pk}
    # A second pass while they are queued queues nothing more.
    assert services.schedule_due_scans() == []
