"""Exposure watch: declaring assets, lab ranges, signing authorisations, queueing, running and
cancelling scans, turning what a scan saw into findings, and alerting.

Safety rules kept here, before the engine is ever called (docs/exposure.md):
- only public addresses, unless a lab range of the region allowed by the CRRC covers them;
- at most a /16 (65,536 addresses) declared per organisation;
- a scan covers the assets of one valid, unrevoked authorisation, inside its weekly window
  (Europe/Paris) and at its rate; the emergency stop prevents any start and stops running scans;
- every scan records who launched it, its scope and its rate.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import re
import socket
import threading
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import ROLES, Capability, Role
from rempart.organisations.models import Membership, Organisation, Region

from . import perms
from .models import (
    ACTIVE_FINDING,
    MAX_ADDRESSES_PER_ORGANISATION,
    SEVERITY_RANK,
    Asset,
    AssetKind,
    Authorisation,
    DeclaredService,
    EmergencyStop,
    Finding,
    FindingStatus,
    LabRange,
    Observation,
    Scan,
    ScanStatus,
    ScanTrigger,
    Severity,
)
from .nmap import NmapError, NmapOptions, NmapScanner
from .ports import default_port_list, port_info
from .scanner import ConnectScanner, HostResult, ScanError, ScanProgress, TimeoutPlan, check_ports
from .tls import check_tls

log = logging.getLogger(__name__)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")

# Safe, quick NSE scripts added to -sV: what a web or TLS service says about itself.
VERSION_SCRIPTS = ("http-title", "http-server-header", "ssl-cert")
HOSTS_PER_BATCH = 64  # hosts scanned (and saved) together: what a dead worker can lose
HEARTBEAT_STALE = datetime.timedelta(minutes=5)  # a running scan silent this long is taken back
CHECK_EVERY_S = 0.5  # how often a running scan looks for a cancel or the emergency stop
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?!-)([a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}$")
UNDECLARED = "undeclared_service"
UNDECLARED_TEXT = (
    "Service non déclaré",
    "Ce port répond depuis Internet alors qu'aucun service n'a été déclaré sur cette adresse. "
    "Un service que l'équipe informatique ne connaît pas n'est ni mis à jour ni surveillé.",
    "Identifier la machine et le service qui répondent ; fermer le port sur le pare-feu s'il "
    "n'a pas de raison d'être, sinon le déclarer dans Rempart avec sa raison.",
)
# Below this severity, a service the establishment declared (with its reason) is not a finding.
DECLARED_IS_ENOUGH_BELOW = {Severity.MEDIUM, Severity.LOW, Severity.INFO}
WEEKDAY_LABELS = {
    "1": "lundi",
    "2": "mardi",
    "3": "mercredi",
    "4": "jeudi",
    "5": "vendredi",
    "6": "samedi",
    "7": "dimanche",
}


def _forbid(message: str) -> None:
    raise DomainError(message, code="forbidden")


# --- Addresses ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedAsset:
    kind: str
    value: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    address_count: int


def parse_asset(text: str) -> ParsedAsset:
    """An address, a CIDR range or a domain name, in canonical form; DomainError in French."""
    text = (text or "").strip().lower().rstrip(".")
    if not text:
        raise DomainError(
            "Indiquez une adresse IP, une plage CIDR ou un nom de domaine.", field="value"
        )
    if re.fullmatch(r"[0-9.:/]+|[0-9a-f:]*:[0-9a-f:./]*", text):
        return _parse_network(text)
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    if not DOMAIN_RE.match(ascii_name):
        raise DomainError(
            f"« {text} » n'est ni une adresse IP, ni une plage CIDR (ex. 203.0.113.0/28), "
            "ni un nom de domaine (ex. portail.chu-exemple.fr).",
            field="value",
        )
    return ParsedAsset(AssetKind.DOMAIN, ascii_name, None, 0)


def _parse_network(text: str) -> ParsedAsset:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise DomainError(
            f"« {text} » n'est pas une adresse IP ou une plage CIDR valide "
            "(ex. 203.0.113.7 ou 203.0.113.0/28).",
            field="value",
        ) from None
    if network.num_addresses > MAX_ADDRESSES_PER_ORGANISATION:
        raise DomainError(
            f"La plage {network} compte {network.num_addresses:,} adresses : un établissement "
            "déclare au plus un /16 (65 536 adresses). Déclarez les sous-plages réellement "
            "utilisées.".replace(",", " "),
            field="value",
        )
    return ParsedAsset(AssetKind.ADDRESS, str(network), network, network.num_addresses)


# Special-purpose blocks (IANA registries) that are never scanned as public addresses. A range
# that overlaps one (192.0.0.0/16 holds 192.0.2.0/24) is not public either.
SPECIAL_PURPOSE = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
        "2001::/23", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
    )
]  # fmt: skip


def non_public_reason(network) -> str:
    """Why an address or range is not public ("" when it is)."""
    if network.is_loopback:
        return "c'est une adresse de bouclage (loopback)"
    if network.is_private:
        return "c'est une adresse privée ou réservée, pas une adresse publique d'Internet"
    if network.is_multicast:
        return "c'est une adresse de multidiffusion"
    if network.is_link_local:
        return "c'est une adresse locale au lien"
    if network.is_unspecified or network.is_reserved:
        return "c'est une adresse réservée"
    if not network.is_global:
        return "ce n'est pas une adresse publique d'Internet"
    for special in SPECIAL_PURPOSE:
        if special.version == network.version and network.overlaps(special):
            return f"la plage contient des adresses réservées ({special}), non publiques"
    return ""


def lab_range_for(region_id: int | None, network) -> LabRange | None:
    """The region's active lab range that holds `network`, if any."""
    if region_id is None:
        return None
    for lab in LabRange.objects.filter(region_id=region_id, revoked_at__isnull=True):
        lab_network = ipaddress.ip_network(lab.network)
        if lab_network.version == network.version and network.subnet_of(lab_network):
            return lab
    return None


def scannable_reason(organisation: Organisation, address: str) -> str:
    """Why this address may not be scanned for the organisation ("" when it may)."""
    network = ipaddress.ip_network(address)
    reason = non_public_reason(network)
    if reason and lab_range_for(organisation.region_id, network) is None:
        return reason
    return ""


# --- Lab ranges and the emergency stop (CRRC) ---------------------------------------------------


def lab_range_allow(*, actor, region: Region, network: str, reason: str) -> LabRange:
    if region.pk not in perms.watch_regions(actor):
        _forbid(perms.NOT_WATCHER)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Donnez le motif de cette plage de laboratoire.", field="reason")
    try:
        parsed = ipaddress.ip_network((network or "").strip(), strict=False)
    except ValueError:
        raise DomainError(
            "Indiquez un réseau CIDR, par exemple 127.0.0.0/8 ou 10.99.0.0/24.", field="network"
        ) from None
    if not non_public_reason(parsed):
        raise DomainError(
            "Ce réseau est public : il n'a pas besoin d'une plage de laboratoire ; un "
            "établissement le déclare et signe son autorisation.",
            field="network",
        )
    if LabRange.objects.filter(
        region=region, network=str(parsed), revoked_at__isnull=True
    ).exists():
        raise DomainError("Cette plage de laboratoire est déjà autorisée.", field="network")
    return LabRange.objects.create(
        region=region, network=str(parsed), reason=reason[:300], allowed_by=actor
    )


def lab_range_revoke(*, actor, lab: LabRange) -> LabRange:
    if lab.region_id not in perms.watch_regions(actor):
        _forbid(perms.NOT_WATCHER)
    if lab.revoked_at is None:
        lab.revoked_at = timezone.now()
        lab.save(update_fields=["revoked_at"])
    return lab


def engaged_stop() -> EmergencyStop | None:
    return EmergencyStop.objects.filter(active=True).first()


def emergency_stop(*, actor, reason: str) -> EmergencyStop:
    """Stop every scan of the platform now; none starts until the stop is released."""
    if not perms.is_watcher(actor):
        _forbid(perms.NOT_WATCHER)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Donnez le motif de l'arrêt d'urgence.", field="reason")
    with transaction.atomic():
        stop = engaged_stop()
        if stop is not None:
            return stop
        stop = EmergencyStop.objects.create(engaged_by=actor, reason=reason[:300])
        Scan.objects.filter(status=ScanStatus.QUEUED).update(
            status=ScanStatus.CANCELLED,
            reason="Arrêt d'urgence des analyses",
            finished_at=timezone.now(),
        )
        Scan.objects.filter(status=ScanStatus.RUNNING).update(cancel_requested=True)
    return stop


def emergency_release(*, actor) -> EmergencyStop | None:
    if not perms.is_watcher(actor):
        _forbid(perms.NOT_WATCHER)
    stop = engaged_stop()
    if stop is not None:
        stop.active = False
        stop.released_by = actor
        stop.released_at = timezone.now()
        stop.save(update_fields=["active", "released_by", "released_at"])
    return stop


# --- Assets (the establishment) ----------------------------------------------------------------


def _check_holder(actor, organisation: Organisation) -> None:
    if not perms.can_declare(actor, organisation):
        _forbid(perms.NOT_DECLARER)
    if organisation.kind not in perms.ASSET_HOLDER_KINDS:
        raise DomainError(
            "Seuls un établissement, une entité juridique ou un GHT déclarent des actifs exposés."
        )


def declared_address_count(organisation: Organisation) -> int:
    return (
        Asset.objects.filter(organisation=organisation, retired_at__isnull=True).aggregate(
            n=Sum("address_count")
        )["n"]
        or 0
    )


def asset_create(*, actor, organisation: Organisation, value: str, description: str = "") -> Asset:
    _check_holder(actor, organisation)
    parsed = parse_asset(value)
    lab = None
    if parsed.network is not None:
        reason = non_public_reason(parsed.network)
        if reason:
            lab = lab_range_for(organisation.region_id, parsed.network)
            if lab is None:
                raise DomainError(
                    f"{parsed.value} ne peut pas être analysé : {reason}. Seules les adresses "
                    "publiques sont surveillées (une plage de laboratoire ne s'ouvre que sur "
                    "décision du CRRC).",
                    field="value",
                )
        total = declared_address_count(organisation) + parsed.address_count
        if total > MAX_ADDRESSES_PER_ORGANISATION:
            count = f"{total:,}".replace(",", " ")
            raise DomainError(
                f"Avec {parsed.value}, l'établissement déclarerait {count} adresses : le "
                "plafond est un /16 (65 536 adresses) par établissement.",
                field="value",
            )
    with transaction.atomic():
        if Asset.objects.filter(
            organisation=organisation, value=parsed.value, retired_at__isnull=True
        ).exists():
            raise DomainError(f"{parsed.value} est déjà déclaré.", field="value")
        return Asset.objects.create(
            organisation=organisation,
            kind=parsed.kind,
            value=parsed.value,
            description=(description or "").strip()[:300],
            address_count=parsed.address_count,
            lab_range=lab,
            created_by=actor,
        )


def asset_retire(*, actor, asset: Asset) -> Asset:
    _check_holder(actor, asset.organisation)
    if asset.retired_at is None:
        asset.retired_at = timezone.now()
        asset.save(update_fields=["retired_at"])
    return asset


def service_declare(*, actor, asset: Asset, port: int | None, purpose: str) -> DeclaredService:
    _check_holder(actor, asset.organisation)
    if asset.retired_at is not None:
        raise DomainError("Cet actif est retiré : déclarez ses services sur un actif en service.")
    if port is None or not 1 <= int(port) <= 65535:
        raise DomainError("Le port est un nombre entre 1 et 65535.", field="port")
    purpose = (purpose or "").strip()
    if not purpose:
        raise DomainError(
            "Dites pourquoi ce service est exposé (passerelle VPN, portail web…).", field="purpose"
        )
    if asset.services.filter(port=port).exists():
        raise DomainError(f"Le port {port} est déjà déclaré sur {asset.value}.", field="port")
    return DeclaredService.objects.create(asset=asset, port=int(port), purpose=purpose[:200])


def service_remove(*, actor, service: DeclaredService) -> None:
    _check_holder(actor, service.asset.organisation)
    service.delete()


# --- Authorisations ------------------------------------------------------------------------------


def authorisation_sign(
    *,
    actor,
    organisation: Organisation,
    assets,
    valid_from: datetime.date,
    valid_until: datetime.date,
    weekdays: str,
    window_start: datetime.time,
    window_end: datetime.time,
    max_rate: int,
    version_detection: bool = False,
) -> Authorisation:
    if not perms.can_authorise(actor, organisation):
        _forbid(perms.NOT_SIGNER)
    assets = list(assets)
    if not assets:
        raise DomainError("Choisissez au moins un actif à faire analyser.", field="assets")
    if any(a.organisation_id != organisation.pk or a.retired_at is not None for a in assets):
        raise DomainError("Un actif choisi n'est pas un actif en service de l'établissement.")
    if valid_until < valid_from:
        raise DomainError("La fin de validité précède son début.", field="valid_until")
    if valid_until > valid_from + datetime.timedelta(days=366):
        raise DomainError(
            "Une autorisation vaut au plus un an : elle se renouvelle chaque année.",
            field="valid_until",
        )
    if valid_until < timezone.localdate():
        raise DomainError("Cette autorisation serait déjà expirée.", field="valid_until")
    weekdays = "".join(sorted(set(weekdays or "")))
    if not weekdays or set(weekdays) - set("1234567"):
        raise DomainError("Choisissez au moins un jour de la semaine.", field="weekdays")
    if window_end <= window_start:
        raise DomainError("La plage horaire doit finir après son début.", field="window_end")
    if not 1 <= int(max_rate) <= 1000:
        raise DomainError(
            "Le débit maximal est entre 1 et 1 000 sondes par seconde et par /24.",
            field="max_rate",
        )
    roles = [
        str(ROLES[Role(m.role)].label)
        for m in Membership.objects.active().filter(
            user=actor, organisation__in=_homes(organisation)
        )
    ]
    with transaction.atomic():
        authorisation = Authorisation.objects.create(
            organisation=organisation,
            signed_by=actor,
            signer_name=actor.get_full_name() or actor.email,
            signer_title=(actor.job_title or ", ".join(roles) or "")[:150],
            valid_from=valid_from,
            valid_until=valid_until,
            weekdays=weekdays,
            window_start=window_start,
            window_end=window_end,
            max_rate=int(max_rate),
            version_detection=bool(version_detection),
        )
        authorisation.assets.set(assets)
    return authorisation


def _homes(organisation: Organisation) -> list[int]:
    return [
        pk
        for pk in (organisation.pk, organisation.legal_entity_id, organisation.ght_id)
        if pk is not None
    ]


def authorisation_revoke(*, actor, authorisation: Authorisation) -> Authorisation:
    if not perms.can_authorise(actor, authorisation.organisation):
        _forbid(perms.NOT_SIGNER)
    if authorisation.revoked_at is None:
        authorisation.revoked_at = timezone.now()
        authorisation.revoked_by = actor
        authorisation.save(update_fields=["revoked_at", "revoked_by"])
        Scan.objects.filter(authorisation=authorisation, status=ScanStatus.QUEUED).update(
            status=ScanStatus.CANCELLED,
            reason="Autorisation révoquée",
            finished_at=timezone.now(),
        )
        Scan.objects.filter(authorisation=authorisation, status=ScanStatus.RUNNING).update(
            cancel_requested=True, reason="Autorisation révoquée"
        )
    return authorisation


def window_refusal(authorisation: Authorisation, now: datetime.datetime | None = None) -> str:
    """Why the authorisation does not allow a scan now ("" when it does)."""
    now = (now or timezone.now()).astimezone(PARIS)
    if authorisation.revoked_at is not None:
        return "l'autorisation a été révoquée"
    if now.date() < authorisation.valid_from:
        return f"l'autorisation ne vaut qu'à partir du {authorisation.valid_from:%d/%m/%Y}"
    if now.date() > authorisation.valid_until:
        return f"l'autorisation a expiré le {authorisation.valid_until:%d/%m/%Y}"
    if str(now.isoweekday()) not in authorisation.weekdays:
        days = ", ".join(WEEKDAY_LABELS[d] for d in authorisation.weekdays)
        return f"hors des jours autorisés ({days})"
    if not authorisation.window_start <= now.time() < authorisation.window_end:
        return (
            f"hors de la plage horaire autorisée ({authorisation.window_start:%H:%M}–"
            f"{authorisation.window_end:%H:%M}, heure de Paris)"
        )
    return ""


def current_authorisation(
    organisation: Organisation, now: datetime.datetime | None = None
) -> Authorisation | None:
    """The latest signed authorisation valid on that day (Paris), not revoked."""
    today = timezone.localdate(now) if now else timezone.localdate()
    return (
        Authorisation.objects.filter(
            organisation=organisation,
            revoked_at__isnull=True,
            valid_from__lte=today,
            valid_until__gte=today,
        )
        .order_by("-signed_at", "-pk")
        .first()
    )


# --- Queueing scans ------------------------------------------------------------------------------


Resolver = Callable[[str], list[str]]


def resolve(name: str) -> list[str]:
    """The addresses a published name points to (both families), sorted; [] when it does not
    resolve."""
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return sorted({info[4][0] for info in infos})


def _hosts(network) -> list[str]:
    if network.num_addresses <= 2:
        return [str(a) for a in network]
    return [str(a) for a in network.hosts()]


def plan_targets(
    authorisation: Authorisation, resolver: Resolver | None = None
) -> tuple[list[list], list[list[str]]]:
    """([address, published name, asset id]…, [[what, why]…]) for the authorisation's assets
    still in service: ranges expanded, names resolved; what may not be scanned is left out with
    its reason."""
    resolver = resolver or resolve
    organisation = authorisation.organisation
    targets: dict[str, list] = {}
    skipped: list[list[str]] = []
    for asset in authorisation.assets.filter(retired_at__isnull=True).order_by("kind", "value"):
        if asset.kind == AssetKind.ADDRESS:
            network = ipaddress.ip_network(asset.value)
            reason = scannable_reason(organisation, asset.value)
            if reason:
                skipped.append([asset.value, reason])
                continue
            for address in _hosts(network):
                targets.setdefault(address, [address, "", asset.pk])
            continue
        addresses = resolver(asset.value)
        if not addresses:
            skipped.append([asset.value, "ce nom de domaine ne se résout en aucune adresse"])
            continue
        for address in addresses:
            reason = scannable_reason(organisation, address)
            if reason:
                skipped.append([f"{asset.value} ({address})", reason])
                continue
            entry = targets.setdefault(address, [address, asset.value, asset.pk])
            if not entry[1]:
                entry[1] = asset.value
    return list(targets.values()), skipped


def port_list(organisation: Organisation) -> list[int]:
    """The watched ports, and those the organisation declared."""
    declared = DeclaredService.objects.filter(
        asset__organisation=organisation, asset__retired_at__isnull=True
    ).values_list("port", flat=True)
    return check_ports([*default_port_list(), *declared])


def scan_queue(
    *,
    actor,
    organisation: Organisation,
    trigger: str = ScanTrigger.ON_DEMAND,
    now: datetime.datetime | None = None,
    resolver: Resolver | None = None,
    hand_to_worker: bool = True,
) -> Scan | None:
    """Queue a scan of the organisation's current authorisation. On demand, a refusal is a
    DomainError; a scheduled scan that may not run is recorded as skipped with its reason.
    `hand_to_worker=False`: the caller runs it (scan_run) itself."""
    if actor is not None and not perms.can_watch(actor, organisation):
        _forbid(perms.NOT_WATCHER)
    stop = engaged_stop()
    authorisation = current_authorisation(organisation, now)
    refusal = ""
    if stop is not None:
        refusal = f"arrêt d'urgence des analyses en cours ({stop.reason})"
    elif authorisation is None:
        refusal = "l'établissement n'a pas d'autorisation d'analyse en vigueur"
    else:
        refusal = window_refusal(authorisation, now)
    if refusal and trigger == ScanTrigger.ON_DEMAND:
        raise DomainError(f"Analyse impossible : {refusal}.")
    # Names are resolved before the organisation is locked (a slow DNS holds no lock).
    targets, skipped = plan_targets(authorisation, resolver) if not refusal else ([], [])
    ports = port_list(organisation)
    with transaction.atomic():
        Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
        if Scan.objects.filter(
            organisation=organisation, status__in=[ScanStatus.QUEUED, ScanStatus.RUNNING]
        ).exists():
            if trigger == ScanTrigger.ON_DEMAND:
                raise DomainError(
                    "Une analyse de cet établissement est déjà en attente ou en cours."
                )
            refusal = refusal or "une analyse de cet établissement était déjà en cours"
        if refusal:
            if authorisation is None:
                return None
            return Scan.objects.create(
                organisation=organisation,
                authorisation=authorisation,
                trigger=trigger,
                launched_by=actor,
                status=ScanStatus.SKIPPED,
                rate=authorisation.max_rate,
                reason=(refusal[:1].upper() + refusal[1:])[:500],
                finished_at=timezone.now(),
            )
        scan = Scan.objects.create(
            organisation=organisation,
            authorisation=authorisation,
            trigger=trigger,
            launched_by=actor,
            targets=targets,
            ports=ports,
            rate=authorisation.max_rate,
            version_detection=authorisation.version_detection,
            skipped=skipped,
            probes_total=len(targets) * len(ports),
        )
        if not targets:
            scan.status = ScanStatus.SKIPPED
            scan.reason = "Aucune adresse analysable dans le périmètre autorisé"
            scan.finished_at = timezone.now()
            scan.save(update_fields=["status", "reason", "finished_at"])
            return scan
        if hand_to_worker:
            transaction.on_commit(lambda: dispatch(scan.pk))
    return scan


def schedule_due_scans(*, now: datetime.datetime | None = None) -> list[Scan]:
    """Scheduled watch (Celery beat): every organisation with a valid authorisation is scanned
    once every EXPOSURE_SCAN_INTERVAL_DAYS, inside its window; the first scan is followed by a
    second one 45 days later (Domain 1's second audit)."""
    now = now or timezone.now()
    interval = datetime.timedelta(days=settings.EXPOSURE_SCAN_INTERVAL_DAYS)
    queued = []
    today = timezone.localdate(now)
    for authorisation in Authorisation.objects.filter(
        revoked_at__isnull=True, valid_from__lte=today, valid_until__gte=today
    ).select_related("organisation"):
        organisation = authorisation.organisation
        if current_authorisation(organisation, now) != authorisation:
            continue
        done = Scan.objects.filter(organisation=organisation, status=ScanStatus.DONE)
        last = done.order_by("-finished_at").first()
        due = (
            last is None
            or last.finished_at + (datetime.timedelta(days=45) if done.count() == 1 else interval)
            <= now
        )
        if not due or window_refusal(authorisation, now):
            continue
        if Scan.objects.filter(
            organisation=organisation, status__in=[ScanStatus.QUEUED, ScanStatus.RUNNING]
        ).exists():
            continue
        scan = scan_queue(
            actor=None, organisation=organisation, trigger=ScanTrigger.SCHEDULED, now=now
        )
        if scan is not None:
            queued.append(scan)
    return queued


def scan_cancel(*, actor, scan: Scan) -> Scan:
    if not perms.can_watch(actor, scan.organisation):
        _forbid(perms.NOT_WATCHER)
    with transaction.atomic():
        scan = Scan.objects.select_for_update().get(pk=scan.pk)
        if scan.status == ScanStatus.QUEUED:
            scan.status = ScanStatus.CANCELLED
            scan.reason = f"Annulée par {actor.get_full_name() or actor.email}"
            scan.finished_at = timezone.now()
            scan.save(update_fields=["status", "reason", "finished_at"])
        elif scan.status == ScanStatus.RUNNING:
            scan.cancel_requested = True
            scan.reason = f"Annulée par {actor.get_full_name() or actor.email}"
            scan.save(update_fields=["cancel_requested", "reason"])
        else:
            raise DomainError("Cette analyse est déjà terminée.")
    return scan


def dispatch(scan_id: int) -> None:
    """Hand the scan to a worker: a Celery task with a broker. Without one (the embedded
    default), a thread of this process when EXPOSURE_SCAN_THREADS is on, else inline (a test
    on an in-memory SQLite database, where a second writer would meet a locked table)."""
    from .tasks import run_scan_task

    if not run_scan_task.app.conf.task_always_eager:
        run_scan_task.delay(scan_id)
    elif settings.EXPOSURE_SCAN_THREADS:
        threading.Thread(target=_thread_run, args=(scan_id,), daemon=True).start()
    else:
        scan_run(scan_id)


def requeue_stale(*, now: datetime.datetime | None = None) -> list[int]:
    """Scans whose worker died (running, heartbeat stale) go to a worker again; it resumes
    after the hosts already saved."""
    stale = (now or timezone.now()) - HEARTBEAT_STALE
    ids = list(
        Scan.objects.filter(status=ScanStatus.RUNNING, worker_heartbeat__lt=stale).values_list(
            "pk", flat=True
        )
    )
    for pk in ids:
        dispatch(pk)
    return ids


def _thread_run(scan_id: int) -> None:
    try:
        scan_run(scan_id)
    except Exception:  # pragma: no cover - logged; the scan shows "failed"
        log.exception("exposure scan %s failed", scan_id)
    finally:
        connection.close()


# --- Running a scan ------------------------------------------------------------------------------


def _claim(scan_id: int) -> Scan | None:
    """Take the scan (queued, or running with a stale heartbeat: its worker died)."""
    now = timezone.now()
    with transaction.atomic():
        scan = (
            Scan.objects.select_for_update()
            .filter(pk=scan_id)
            .filter(
                Q(status=ScanStatus.QUEUED)
                | Q(status=ScanStatus.RUNNING, worker_heartbeat__lt=now - HEARTBEAT_STALE)
            )
            .first()
        )
        if scan is None:
            return None
        scan.status = ScanStatus.RUNNING
        scan.started_at = scan.started_at or now
        scan.worker_heartbeat = now
        scan.save(update_fields=["status", "started_at", "worker_heartbeat"])
    return scan


def _finish(scan: Scan, status: str, reason: str = "") -> None:
    scan.status = status
    if reason:
        scan.reason = reason[:500]
    scan.finished_at = timezone.now()
    Scan.objects.filter(pk=scan.pk).update(
        status=status, reason=scan.reason, finished_at=scan.finished_at
    )


def _stop_reason(scan_id: int) -> str:
    """Why a running scan must stop now ("" to go on)."""
    state = Scan.objects.filter(pk=scan_id).values("cancel_requested", "reason").first()
    if state is None:
        return ""  # not visible from here (a test's open transaction): the batch goes on
    stop = engaged_stop()
    if stop is not None:
        return f"Arrêt d'urgence : {stop.reason}"
    if state["cancel_requested"]:
        return state["reason"] or "Annulée"
    return ""


class _Watcher:
    """Polls the database while the engine runs (cancel, emergency stop, window end), writes the
    progress and the heartbeat, and sets the engine's cancel event."""

    def __init__(self, scan: Scan, base_done: int):
        self.scan = scan
        self.base_done = base_done
        self.event = threading.Event()
        self.reason = ""
        self.progress: ScanProgress | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def on_progress(self, progress: ScanProgress) -> None:
        self.progress = progress

    def _loop(self) -> None:
        try:
            while not self._stop.wait(CHECK_EVERY_S):
                try:
                    self.check()
                except DatabaseError:  # a blip (or a locked test database): check again later
                    log.warning("exposure scan %s: watcher check failed", self.scan.pk)
        finally:
            connection.close()

    def check(self) -> None:
        reason = _stop_reason(self.scan.pk) or window_refusal(self.scan.authorisation)
        if reason and not self.event.is_set():
            self.reason = reason
            self.event.set()
        fields = {"worker_heartbeat": timezone.now()}
        if self.progress is not None:
            fields["probes_done"] = min(self.base_done + self.progress.done, self.scan.probes_total)
            fields["open_found"] = self.scan.open_found + self.progress.open_found
        Scan.objects.filter(pk=self.scan.pk).update(**fields)


def scan_run(
    scan_id: int,
    *,
    scanner=None,
    timeout_plan: TimeoutPlan | None = None,
    tls_checker=check_tls,
    version_scanner=None,
) -> Scan | None:
    """Run (or resume) a scan: hosts by batches of HOSTS_PER_BATCH, each batch's open ports,
    banners and TLS saved before the next; then the findings. Returns None if the scan was not
    there to take (finished, or another worker holds it)."""
    scan = _claim(scan_id)
    if scan is None:
        return None
    scanner = scanner or ConnectScanner()
    ports = list(scan.ports)
    reason = _stop_reason(scan.pk) or window_refusal(scan.authorisation)
    while not reason and scan.hosts_done < len(scan.targets):
        batch = scan.targets[scan.hosts_done : scan.hosts_done + HOSTS_PER_BATCH]
        base_done = scan.hosts_done * len(ports)
        try:
            with _Watcher(scan, base_done) as watcher:
                result = scanner.scan(
                    [t[0] for t in batch],
                    ports,
                    rate_per_24=scan.rate,
                    timeout_plan=timeout_plan,
                    on_progress=watcher.on_progress,
                    cancel_event=watcher.event,
                )
        except (ScanError, OSError) as exc:
            _finish(scan, ScanStatus.FAILED, f"Le moteur d'analyse a échoué : {exc}")
            apply_scan(scan)
            return scan
        if result.cancelled:
            reason = watcher.reason or "Annulée"
            break  # the batch is incomplete: nothing of it counts
        _save_batch(scan, batch, result.hosts, tls_checker)
        if scan.version_detection and result.open_count:
            _identify_versions(scan, result.hosts, version_scanner)
        scan.hosts_done += len(batch)
        scan.probes_done = scan.hosts_done * len(ports)
        scan.open_found += result.open_count
        Scan.objects.filter(pk=scan.pk).update(
            hosts_done=scan.hosts_done,
            probes_done=scan.probes_done,
            open_found=scan.open_found,
            worker_heartbeat=timezone.now(),
        )
        reason = _stop_reason(scan.pk)
    if reason and scan.hosts_done < len(scan.targets):
        _finish(scan, ScanStatus.CANCELLED, reason)
    else:
        _finish(scan, ScanStatus.DONE)
    apply_scan(scan)
    if scan.status == ScanStatus.DONE:
        record_measurement(scan)
    return scan


def record_measurement(scan: Scan):
    """The finished scan as a dated platform measurement of the organisation ("Audit
    d'exposition sur internet"), which a CaRE target declaration can cite as its proof."""
    from rempart.programme.measurement_services import record_measurement as record
    from rempart.programme.models import Measurement

    active = Finding.objects.filter(organisation_id=scan.organisation_id, status__in=ACTIVE_FINDING)
    counts = {s.value: 0 for s in Severity}
    for severity in active.values_list("severity", flat=True):
        counts[severity] += 1
    result = (
        f"{scan.open_found} port(s) ouvert(s), {sum(counts.values())} constat(s) à traiter dont "
        f"{counts['critical']} critique(s) et {counts['high']} élevé(s)"
    )
    return record(
        organisation=scan.organisation,
        kind=Measurement.EXPOSURE_SCAN,
        result=result,
        measured_on=timezone.localdate(scan.finished_at),
        source=f"Rempart — veille d'exposition du CRRC, analyse n° {scan.pk}",
        recorded_by=None,
        details={
            "scan": scan.pk,
            "addresses": len(scan.targets),
            "ports": len(scan.ports),
            "open_ports": scan.open_found,
            "findings": counts,
        },
    )


def _save_batch(scan: Scan, batch: list, hosts: dict[str, HostResult], tls_checker) -> None:
    names = {t[0]: t[1] for t in batch}
    rows = []
    for address, host in hosts.items():
        for entry in host.ports.values():
            info = port_info(entry.port)
            tls = {}
            if entry.tunnel == "ssl" or (info and info.tls):
                report = tls_checker(address, entry.port, server_name=names.get(address, ""))
                tls = {
                    "protocol": report.protocol,
                    "error": report.error,
                    "not_after": (
                        report.certificates[0].not_after.isoformat() if report.certificates else ""
                    ),
                    "subject": report.certificates[0].subject if report.certificates else "",
                    "findings": [
                        {
                            "code": f.code,
                            "severity": f.severity,
                            "title": f.title,
                            "explanation": f.explanation,
                            "remediation": f.remediation,
                            "detail": f.detail,
                        }
                        for f in report.findings
                    ],
                }
            rows.append(
                Observation(
                    scan=scan,
                    address=address,
                    port=entry.port,
                    service=(entry.service or (info.service if info else ""))[:60],
                    banner=entry.banner[:300],
                    tls=tls,
                )
            )
    Observation.objects.bulk_create(rows, ignore_conflicts=True)


def _identify_versions(scan: Scan, hosts: dict[str, HostResult], version_scanner) -> None:
    """nmap -sV with safe default scripts on the batch's open ports only (those that speak
    first or answer HTTP/TLS), at the scan's rate;
    products and versions go on the observations. nmap missing or failing is noted on the
    scan (the ports and findings of the batch stand)."""
    scanner = version_scanner or NmapScanner(
        NmapOptions(version_detection=True, scripts=VERSION_SCRIPTS, timing=3, host_timeout_s=300)
    )
    for address, host in hosts.items():
        # Never on the fragile binary protocols the banner grab leaves alone (probe "none":
        # remote desktop, databases, DICOM, Modbus…): -sV would send them dozens of probes.
        ports = sorted(
            port for port in host.ports if (info := port_info(port)) is None or info.probe != "none"
        )
        if not ports:
            continue
        try:
            result = scanner.scan([address], ports, rate_per_24=scan.rate)
        except (NmapError, ScanError) as exc:
            note = ["identification des versions", str(exc)[:300]]
            if note not in scan.skipped:
                scan.skipped.append(note)
                Scan.objects.filter(pk=scan.pk).update(skipped=scan.skipped)
            return
        seen = result.hosts.get(address)
        if seen is None:
            continue
        for port, entry in seen.ports.items():
            product = " ".join(p for p in (entry.product, entry.version, entry.extra_info) if p)
            if product:
                Observation.objects.filter(scan=scan, address=address, port=port).update(
                    product=product[:200]
                )


# --- Findings ------------------------------------------------------------------------------------


@dataclass
class Expected:
    code: str
    severity: str
    title: str
    explanation: str
    remediation: str
    detail: str = ""


def _declared_ports(scan: Scan) -> dict[int, set[int]]:
    """asset id → ports declared on it."""
    declared: dict[int, set[int]] = {}
    for asset_id, port in DeclaredService.objects.filter(
        asset__organisation_id=scan.organisation_id
    ).values_list("asset_id", "port"):
        declared.setdefault(asset_id, set()).add(port)
    return declared


def expected_findings(scan: Scan) -> dict[tuple[str, int, str], Expected]:
    """What the scan's observations say is wrong, keyed by (address, port, code)."""
    declared = _declared_ports(scan)
    asset_of = {t[0]: t[2] for t in scan.targets}
    expected: dict[tuple[str, int, str], Expected] = {}
    for obs in scan.observations.all():
        info = port_info(obs.port)
        is_declared = obs.port in declared.get(asset_of.get(obs.address), set())
        if info and not (is_declared and info.severity in DECLARED_IS_ENOUGH_BELOW):
            detail = " — ".join(
                part
                for part in (
                    f"Produit : {obs.product}" if obs.product else "",
                    f"Bannière : {obs.banner}" if obs.banner else "",
                )
                if part
            )
            expected[(obs.address, obs.port, f"exposed_{info.service}")] = Expected(
                f"exposed_{info.service}",
                info.severity,
                f"{info.label} exposé sur Internet",
                info.explanation,
                info.remediation,
                detail[:500],
            )
        if not is_declared:
            title, explanation, remediation = UNDECLARED_TEXT
            label = info.label if info else (obs.service or "service inconnu")
            expected[(obs.address, obs.port, UNDECLARED)] = Expected(
                UNDECLARED,
                Severity.MEDIUM,
                f"{title} : {label} (port {obs.port})",
                explanation,
                remediation,
                (f"Bannière : {obs.banner}" if obs.banner else "")[:500],
            )
        for item in (obs.tls or {}).get("findings", []):
            expected[(obs.address, obs.port, item["code"])] = Expected(
                item["code"],
                item["severity"],
                item["title"],
                item["explanation"],
                item["remediation"],
                item.get("detail", "")[:500],
            )
    return expected


def apply_scan(scan: Scan) -> list[Finding]:
    """Open, keep or close the organisation's findings from what the scan saw on the hosts it
    finished. Returns the findings that call for an alert (new or reopened: critical ones, and
    every newly open port)."""
    scanned = {t[0] for t in scan.targets[: scan.hosts_done]}
    if not scanned:
        return []
    now = scan.finished_at or timezone.now()
    expected = expected_findings(scan)
    ports = set(scan.ports)
    alerts: list[Finding] = []
    with transaction.atomic():
        existing = {
            (f.address, f.port, f.code): f
            for f in Finding.objects.select_for_update().filter(
                organisation_id=scan.organisation_id, address__in=scanned
            )
        }
        for key, item in expected.items():
            finding = existing.get(key)
            if finding is None:
                finding = Finding.objects.create(
                    organisation_id=scan.organisation_id,
                    address=key[0],
                    port=key[1],
                    code=item.code,
                    severity=item.severity,
                    title=item.title[:200],
                    explanation=item.explanation,
                    remediation=item.remediation,
                    detail=item.detail,
                    first_seen_at=now,
                    last_seen_at=now,
                    first_scan=scan,
                    last_scan=scan,
                )
                alerts.append(finding)
                continue
            finding.last_seen_at = now
            finding.last_scan = scan
            finding.detail = item.detail
            finding.severity = item.severity
            if finding.status == FindingStatus.FIXED:
                finding.status = FindingStatus.REOPENED
                finding.fixed_at = None
                finding.fixed_scan = None
                finding.times_reopened += 1
                alerts.append(finding)
            finding.save()
        for key, finding in existing.items():
            if key in expected or finding.status not in ACTIVE_FINDING:
                continue
            if finding.port not in ports:
                continue  # this scan did not look at that port
            finding.status = FindingStatus.FIXED
            finding.fixed_at = now
            finding.fixed_scan = scan
            finding.save(update_fields=["status", "fixed_at", "fixed_scan"])
        alerts = [
            f
            for f in alerts
            if f.severity == Severity.CRITICAL
            or f.code.startswith("exposed_")
            or f.code == UNDECLARED
        ]
        if alerts:
            ids = [f.pk for f in alerts]
            transaction.on_commit(lambda: _queue_alert(scan.pk, ids))
    return alerts


def finding_acknowledge(*, actor, finding: Finding, reason: str) -> Finding:
    if not perms.can_declare(actor, finding.organisation):
        _forbid(perms.NOT_DECLARER)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(
            "Dites pourquoi ce constat est pris en compte (correctif prévu, risque accepté…).",
            field="reason",
        )
    if finding.status not in (
        FindingStatus.OPEN,
        FindingStatus.REOPENED,
        FindingStatus.ACKNOWLEDGED,
    ):
        raise DomainError("Un constat corrigé ne se prend plus en compte : il est fermé.")
    finding.status = FindingStatus.ACKNOWLEDGED
    finding.ack_reason = reason[:500]
    finding.ack_by = actor
    finding.ack_at = timezone.now()
    finding.save(update_fields=["status", "ack_reason", "ack_by", "ack_at"])
    return finding


# --- Alerts --------------------------------------------------------------------------------------


def declarers_of(organisation: Organisation) -> list:
    """People who hold DECLARE_EXPOSURE on the organisation (its own, its legal entity's, its
    GHT's coordinators)."""
    from rempart.organisations import perms as org_perms

    roles = [r.value for r in Role if Capability.DECLARE_EXPOSURE in ROLES[r].capabilities]
    memberships = (
        Membership.objects.active()
        .filter(role__in=roles, organisation_id__in=_homes(organisation), user__is_active=True)
        .select_related("user", "organisation")
    )
    return list(
        {
            m.user_id: m.user
            for m in memberships
            if m.user.email and org_perms.covers(m, organisation, Capability.DECLARE_EXPOSURE)
        }.values()
    )


def _queue_alert(scan_id: int, finding_ids: list[int]) -> None:
    from .tasks import send_alert_task

    send_alert_task.delay(scan_id, finding_ids)


def send_alert(scan_id: int, finding_ids: list[int]) -> int:
    """One e-mail to the organisation's declarers, and one webhook delivery per endpoint that
    asked for exposure events. Returns the number of e-mail recipients."""
    from rempart.phishing.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

    scan = Scan.objects.select_related("organisation").filter(pk=scan_id).first()
    if scan is None:
        return 0
    # Most severe first (by rank: the severity codes do not sort alphabetically).
    findings = sorted(
        Finding.objects.filter(pk__in=finding_ids),
        key=lambda f: (SEVERITY_RANK.get(f.severity, 9), f.address, f.port, f.code),
    )
    if not findings:
        return 0
    organisation = scan.organisation
    lines = [
        f"- [{f.get_severity_display()}] {f.title} — {f.address}:{f.port}"
        + (" (rouvert)" if f.status == FindingStatus.REOPENED else "")
        for f in findings
    ]
    url = f"{settings.SITE_URL.rstrip('/')}/exposition/organisations/{organisation.pk}/"
    body = (
        f"Bonjour,\n\nL'analyse d'exposition n° {scan.pk} de {organisation.name} a relevé "
        f"{len(findings)} nouveau(x) constat(s) à traiter :\n\n"
        + "\n".join(lines)
        + f"\n\nExplications et remédiations : {url}\n\n— Rempart, veille d'exposition\n"
    )
    people = declarers_of(organisation)
    if people:
        EmailMessage(
            subject=f"[Rempart] Exposition : {len(findings)} nouveau(x) constat(s) — {organisation.name}",
            body=body,
            to=[p.email for p in people],
        ).send()
    payload = {
        "scan": scan.pk,
        "findings": [
            {
                "id": f.pk,
                "code": f.code,
                "severity": f.severity,
                "title": f.title,
                "address": f.address,
                "port": f.port,
                "status": f.status,
            }
            for f in findings
        ],
    }
    for endpoint in WebhookEndpoint.objects.filter(organisation=organisation, active=True):
        if WebhookEvent.EXPOSURE_FINDINGS in endpoint.events:
            WebhookDelivery.objects.get_or_create(
                endpoint=endpoint,
                dedup_key=f"exposure:{scan.pk}",
                defaults={"event_type": WebhookEvent.EXPOSURE_FINDINGS, "payload": payload},
            )
    return len(people)


# --- Worker without a broker ----------------------------------------------------------------------


def run_pending(*, once: bool = False, idle_sleep: float = 2.0) -> int:
    """`manage.py run_exposure_scans`: run queued scans (and take back dead workers' ones) in
    this process, for a deployment without Celery."""
    ran = 0
    while True:
        close_old_connections()
        stale = timezone.now() - HEARTBEAT_STALE
        ids = list(
            Scan.objects.filter(
                Q(status=ScanStatus.QUEUED)
                | Q(status=ScanStatus.RUNNING, worker_heartbeat__lt=stale)
            )
            .order_by("created_at")
            .values_list("pk", flat=True)[:10]
        )
        for pk in ids:
            if scan_run(pk) is not None:
                ran += 1
        if once:
            return ran
        if not ids:
            time.sleep(idle_sleep)
