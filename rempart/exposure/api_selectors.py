"""Reads the exposure API needs beyond the pages' selectors (a view never touches a manager).

Lists start from `selectors.organisations(user)`: only the organisations whose exposure the user
sees. A single object is first found through the pages' selectors (`get_asset`, `get_scan`…,
404 outside the scope) and only then read again here with what its answer shows.
"""

from __future__ import annotations

from django.db.models import Case, Count, IntegerField, Max, QuerySet, Value, When
from django.utils import timezone

from rempart.organisations.models import Organisation

from . import selectors
from .models import (
    ACTIVE_FINDING,
    SEVERITY_RANK,
    Asset,
    Authorisation,
    Finding,
    LabRange,
    Scan,
    ScanStatus,
    Severity,
)


def _scope(user) -> QuerySet:
    """Ids of the organisations whose exposure the user sees (a subquery)."""
    return selectors.organisations(user).order_by().values("pk")


# --- The empty querysets the schema generator inspects (no user, no data) ----------------------


def no_organisations() -> QuerySet[Organisation]:
    return Organisation.objects.none()


def no_assets() -> QuerySet[Asset]:
    return Asset.objects.none()


def no_authorisations() -> QuerySet[Authorisation]:
    return Authorisation.objects.none()


def no_scans() -> QuerySet[Scan]:
    return Scan.objects.none()


def no_findings() -> QuerySet[Finding]:
    return Finding.objects.none()


def no_lab_ranges() -> QuerySet[LabRange]:
    return LabRange.objects.none()


# --- Organisations -------------------------------------------------------------------------------


def organisation_named(pk: int) -> Organisation | None:
    """The organisation a request body names, whoever it belongs to: the services decide whether
    the user may act on it (403 with their reason), an unknown id is the view's 400."""
    return Organisation.objects.filter(pk=pk).select_related("region").first()


def summaries(organisations: list[Organisation]) -> list[dict]:
    """Each organisation with its exposure figures (active findings by severity, assets in
    service, the authorisation in force, last finished scan, a scan waiting or running), in a
    fixed number of queries."""
    ids = [o.pk for o in organisations]
    today = timezone.localdate()
    counts: dict[int, dict[str, int]] = {}
    for row in (
        Finding.objects.filter(organisation_id__in=ids, status__in=ACTIVE_FINDING)
        .values("organisation_id", "severity")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        counts.setdefault(row["organisation_id"], {})[row["severity"]] = row["n"]
    in_force: dict[int, tuple] = {}
    for org_id, pk, valid_until in (
        Authorisation.objects.filter(
            organisation_id__in=ids,
            revoked_at__isnull=True,
            valid_from__lte=today,
            valid_until__gte=today,
        )
        .order_by("organisation_id", "-signed_at", "-pk")
        .values_list("organisation_id", "pk", "valid_until")
    ):
        # The latest signed, as services.current_authorisation.
        in_force.setdefault(org_id, (pk, valid_until))
    last = dict(
        Scan.objects.filter(organisation_id__in=ids, finished_at__isnull=False)
        .values("organisation_id")
        .annotate(at=Max("finished_at"))
        .order_by()
        .values_list("organisation_id", "at")
    )
    running = set(
        Scan.objects.filter(
            organisation_id__in=ids, status__in=[ScanStatus.QUEUED, ScanStatus.RUNNING]
        ).values_list("organisation_id", flat=True)
    )
    assets = dict(
        Asset.objects.filter(organisation_id__in=ids, retired_at__isnull=True)
        .values("organisation_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("organisation_id", "n")
    )
    rows = []
    for organisation in organisations:
        by_severity = {s.value: counts.get(organisation.pk, {}).get(s.value, 0) for s in Severity}
        authorisation = in_force.get(organisation.pk)
        rows.append(
            {
                "organisation": organisation,
                "region": organisation.region.name if organisation.region else None,
                "findings": by_severity,
                "active_findings": sum(by_severity.values()),
                "assets": assets.get(organisation.pk, 0),
                "authorised": authorisation is not None,
                "authorisation": authorisation[0] if authorisation else None,
                "authorisation_valid_until": authorisation[1] if authorisation else None,
                "last_scan_at": last.get(organisation.pk),
                "scan_running": organisation.pk in running,
            }
        )
    return rows


# --- Assets, authorisations, scans, findings ---------------------------------------------------


def assets(user) -> QuerySet[Asset]:
    return (
        Asset.objects.filter(organisation__in=_scope(user))
        .select_related("organisation", "lab_range", "created_by")
        .prefetch_related("services")
        .order_by("organisation__name", "organisation_id", "kind", "value", "pk")
    )


def asset(user, pk: int) -> Asset:
    """The asset with its services (404 outside the scope)."""
    found = selectors.get_asset(user, pk)
    return (
        Asset.objects.select_related("organisation", "lab_range", "created_by")
        .prefetch_related("services")
        .get(pk=found.pk)
    )


def authorisations(user) -> QuerySet[Authorisation]:
    return (
        Authorisation.objects.filter(organisation__in=_scope(user))
        .select_related("organisation", "signed_by", "revoked_by")
        .prefetch_related("assets")
        .order_by("-signed_at", "-pk")
    )


def authorisation(user, pk: int) -> Authorisation:
    """The authorisation with its assets (404 outside the scope)."""
    found = selectors.get_authorisation(user, pk)
    return (
        Authorisation.objects.select_related("organisation", "signed_by", "revoked_by")
        .prefetch_related("assets")
        .get(pk=found.pk)
    )


def scans(user) -> QuerySet[Scan]:
    # Without the targets: up to a /16 of addresses per scan, which a list does not show.
    return (
        Scan.objects.filter(organisation__in=_scope(user))
        .select_related("organisation", "launched_by")
        .defer("targets")
        .order_by("-created_at", "-pk")
    )


def findings(user) -> QuerySet[Finding]:
    """The most severe first (the model orders severities alphabetically)."""
    rank = Case(
        *(When(severity=value, then=Value(r)) for value, r in SEVERITY_RANK.items()),
        default=Value(9),
        output_field=IntegerField(),
    )
    return (
        Finding.objects.filter(organisation__in=_scope(user))
        .select_related("organisation", "ack_by")
        .annotate(severity_rank=rank)
        .order_by("severity_rank", "organisation__name", "address", "port", "code", "pk")
    )
