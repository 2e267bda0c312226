"""Reads of the exposure watch, scoped to what the user may see (deny by default: an object
outside the scope is a 404, as if it did not exist)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from rempart.organisations.models import Organisation, Region

from . import perms
from .models import (
    ACTIVE_FINDING,
    SEVERITY_RANK,
    Asset,
    Authorisation,
    DeclaredService,
    EmergencyStop,
    Finding,
    LabRange,
    Scan,
    ScanStatus,
    Severity,
)
from .ports import port_info
from .services import current_authorisation, engaged_stop


def _require_use(user) -> None:
    if not perms.can_use(user):
        raise PermissionDenied(perms.NO_ACCESS)


def organisations(user) -> QuerySet[Organisation]:
    """Organisations whose exposure the user sees (those that hold assets)."""
    q = perms.view_q(user)
    if q is None:
        return Organisation.objects.none()
    return (
        Organisation.objects.filter(q)
        .filter(kind__in=perms.ASSET_HOLDER_KINDS)
        .select_related("region")
        .order_by("name", "pk")
    )


def get_organisation(user, pk: int) -> Organisation:
    _require_use(user)
    organisation = organisations(user).filter(pk=pk).first()
    if organisation is None:
        raise Http404
    return organisation


def _visible(user, qs: QuerySet, organisation_field: str = "organisation"):
    q = perms.view_q(user)
    if q is None:
        return qs.none()
    return qs.filter(**{f"{organisation_field}__in": Organisation.objects.filter(q).values("pk")})


def get_asset(user, pk: int) -> Asset:
    _require_use(user)
    asset = _visible(user, Asset.objects.select_related("organisation")).filter(pk=pk).first()
    if asset is None:
        raise Http404
    return asset


def get_service(user, pk: int) -> DeclaredService:
    _require_use(user)
    service = (
        _visible(
            user,
            DeclaredService.objects.select_related("asset__organisation"),
            "asset__organisation",
        )
        .filter(pk=pk)
        .first()
    )
    if service is None:
        raise Http404
    return service


def get_authorisation(user, pk: int) -> Authorisation:
    _require_use(user)
    authorisation = (
        _visible(user, Authorisation.objects.select_related("organisation", "signed_by"))
        .filter(pk=pk)
        .first()
    )
    if authorisation is None:
        raise Http404
    return authorisation


def get_scan(user, pk: int) -> Scan:
    _require_use(user)
    scan = (
        _visible(user, Scan.objects.select_related("organisation", "authorisation", "launched_by"))
        .filter(pk=pk)
        .first()
    )
    if scan is None:
        raise Http404
    return scan


def get_finding(user, pk: int) -> Finding:
    _require_use(user)
    finding = (
        _visible(user, Finding.objects.select_related("organisation", "ack_by", "first_scan"))
        .filter(pk=pk)
        .first()
    )
    if finding is None:
        raise Http404
    return finding


def assets_of(organisation: Organisation) -> list[Asset]:
    return list(
        Asset.objects.filter(organisation=organisation, retired_at__isnull=True)
        .prefetch_related("services")
        .order_by("kind", "value")
    )


def authorisations_of(organisation: Organisation) -> QuerySet[Authorisation]:
    return (
        Authorisation.objects.filter(organisation=organisation)
        .select_related("signed_by", "revoked_by")
        .prefetch_related("assets")
        .order_by("-signed_at", "-pk")
    )


def scans_of(organisation: Organisation, limit: int = 20) -> list[Scan]:
    return list(
        Scan.objects.filter(organisation=organisation)
        .select_related("launched_by")
        .order_by("-created_at", "-pk")[:limit]
    )


@dataclass
class ObservationLine:
    """An open port as the scan page shows it: the service's label, the certificate's end."""

    observation: object
    label: str
    cert_not_after: datetime.datetime | None
    cert_expired: bool


def observations_of(scan: Scan) -> list[ObservationLine]:
    now = timezone.now()
    lines = []
    for obs in scan.observations.all():
        info = port_info(obs.port)
        not_after = (obs.tls or {}).get("not_after") or ""
        end = datetime.datetime.fromisoformat(not_after) if not_after else None
        lines.append(
            ObservationLine(
                observation=obs,
                label=info.label if info else (obs.service or "—"),
                cert_not_after=end,
                cert_expired=bool(end and end < now),
            )
        )
    return lines


def findings_of(organisation: Organisation, *, active_only: bool = True) -> list[Finding]:
    qs = Finding.objects.filter(organisation=organisation)
    if active_only:
        qs = qs.filter(status__in=ACTIVE_FINDING)
    findings = list(qs.select_related("ack_by"))
    findings.sort(key=lambda f: (SEVERITY_RANK.get(f.severity, 9), f.address, f.port, f.code))
    return findings


def severity_counts(findings) -> dict[str, int]:
    counts = {s.value: 0 for s in Severity}
    for finding in findings:
        if finding.is_active:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return counts


@dataclass
class Trend:
    """Active findings by severity after each of the last finished scans (oldest first)."""

    points: list[tuple[Scan, dict[str, int]]] = field(default_factory=list)


def trend(organisation: Organisation, limit: int = 8) -> Trend:
    """How many findings were active just after each finished scan: opened at or before its
    end and not fixed by then."""
    scans = list(
        Scan.objects.filter(
            organisation=organisation, status__in=[ScanStatus.DONE, ScanStatus.CANCELLED]
        )
        .exclude(finished_at=None)
        .order_by("-finished_at")[:limit]
    )[::-1]
    findings = list(
        Finding.objects.filter(organisation=organisation).values(
            "severity", "first_seen_at", "fixed_at"
        )
    )
    result = Trend()
    for scan in scans:
        counts = {s.value: 0 for s in Severity}
        for f in findings:
            if f["first_seen_at"] <= scan.finished_at and (
                f["fixed_at"] is None or f["fixed_at"] > scan.finished_at
            ):
                counts[f["severity"]] += 1
        result.points.append((scan, counts))
    return result


@dataclass
class BoardLine:
    organisation: Organisation
    counts: dict[str, int]
    authorised: bool
    last_scan_at: object
    running: bool


def board(user, region: Region | None = None) -> list[BoardLine]:
    """The regional board: each organisation of the watcher's scope with its active findings by
    severity, whether it is authorised, and its last scan. Fixed number of queries."""
    q = perms.watch_q(user)
    if q is None:
        raise PermissionDenied(perms.NOT_WATCHER)
    orgs = Organisation.objects.filter(q, kind__in=perms.ASSET_HOLDER_KINDS)
    if region is not None:
        orgs = orgs.filter(region=region)
    # Only organisations that take part: assets declared, or an authorisation, or a finding.
    orgs = orgs.filter(
        Q(exposure_assets__isnull=False) | Q(exposure_authorisations__isnull=False)
    ).distinct()
    counts: dict[int, dict[str, int]] = {}
    for row in (
        Finding.objects.filter(organisation__in=orgs, status__in=ACTIVE_FINDING)
        .values("organisation_id", "severity")
        .annotate(n=Count("pk"))
    ):
        counts.setdefault(row["organisation_id"], {})[row["severity"]] = row["n"]
    today = timezone.localdate()
    authorised = set(
        Authorisation.objects.filter(
            organisation__in=orgs,
            revoked_at__isnull=True,
            valid_from__lte=today,
            valid_until__gte=today,
        ).values_list("organisation_id", flat=True)
    )
    last = dict(
        Scan.objects.filter(organisation__in=orgs, finished_at__isnull=False)
        .values("organisation_id")
        .annotate(at=Max("finished_at"))
        .values_list("organisation_id", "at")
    )
    running = set(
        Scan.objects.filter(
            organisation__in=orgs, status__in=[ScanStatus.QUEUED, ScanStatus.RUNNING]
        ).values_list("organisation_id", flat=True)
    )
    lines = [
        BoardLine(
            organisation=org,
            counts={s.value: counts.get(org.pk, {}).get(s.value, 0) for s in Severity},
            authorised=org.pk in authorised,
            last_scan_at=last.get(org.pk),
            running=org.pk in running,
        )
        for org in orgs.select_related("region").order_by("name", "pk")
    ]
    lines.sort(
        key=lambda line: (
            -line.counts["critical"],
            -line.counts["high"],
            -line.counts["medium"],
            line.organisation.name,
        )
    )
    return lines


@dataclass
class BoardSummary:
    establishments: int  # establishments of the watcher's scope
    declared: int  # … that declared at least one asset in service
    authorised: int  # … with an authorisation in force today


def board_summary(user) -> BoardSummary:
    """How much of the region takes part in the watch (three counts)."""
    from rempart.core.roles import OrgKind

    q = perms.watch_q(user)
    if q is None:
        raise PermissionDenied(perms.NOT_WATCHER)
    today = timezone.localdate()
    establishments = Organisation.objects.filter(q, kind=OrgKind.ESTABLISHMENT)
    return BoardSummary(
        establishments=establishments.count(),
        declared=establishments.filter(exposure_assets__retired_at__isnull=True).distinct().count(),
        authorised=establishments.filter(
            exposure_authorisations__revoked_at__isnull=True,
            exposure_authorisations__valid_from__lte=today,
            exposure_authorisations__valid_until__gte=today,
        )
        .distinct()
        .count(),
    )


def lab_ranges(user) -> QuerySet[LabRange]:
    regions = perms.watch_regions(user)
    return (
        LabRange.objects.filter(region_id__in=regions)
        .select_related("region", "allowed_by")
        .order_by("revoked_at", "network")
    )


def watch_regions(user) -> QuerySet[Region]:
    return Region.objects.filter(pk__in=perms.watch_regions(user)).order_by("name")


def stop_state() -> EmergencyStop | None:
    return engaged_stop()


def authorisation_in_force(organisation: Organisation) -> Authorisation | None:
    return current_authorisation(organisation)


def running_scans(user) -> QuerySet[Scan]:
    return _visible(
        user,
        Scan.objects.filter(status__in=[ScanStatus.QUEUED, ScanStatus.RUNNING]).select_related(
            "organisation"
        ),
    )
