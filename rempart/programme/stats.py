"""Programme statistics: the figures of a funding call, the region overview and the CaRE
timeline of one organisation.

Every figure is computed in the database in a fixed number of queries whatever the size of
the call (a national call has thousands of files and about a hundred thousand target
declarations): counts and sums are SQL aggregates; the median only fetches the one or two
middle values of the sorted column (OFFSET), never the whole series.

Definitions (stated once, used by the page, the exports and the API):

* a file is *filed* once it leaves the draft status (every status except « brouillon »);
* *establishments covered* are the distinct establishments listed in `covered_establishments`
  of at least one filed file of the call: an establishment covered by two files of the same
  call counts once;
* the amount statistics are to the cent: mean = sum / count rounded half-up; the median of an
  even count is the mean of the two middle values, rounded half-up;
* the *potential* is the sum of the ceilings frozen at submission of the filed files, the
  *engaged* amount the sum of `engaged_eur` of the accepted files, *remaining* = envelope −
  engaged;
* target attainment is counted among the accepted files, per target of the call's domain:
  declared (awaiting the ARS), validated, refused, not declared; attainment rate = validated /
  accepted files. A file reaches *full attainment* when every target of the domain is
  validated, *partial* when at least one but not all are;
* the monthly series count, in Paris time, the files by month of submission (`submitted_at`)
  and of decision (`decided_at` of accepted and rejected files), and the target declarations
  of the accepted files by month of declaration (`declared_at`).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Sum
from django.utils import timezone

from rempart.core.roles import ROLES, Capability, OrgKind, Role, Scope
from rempart.organisations import perms as org_perms

from . import selectors, windows
from .ceilings import NBSP, format_eur, format_number
from .models import (
    Application,
    ApplicationEvent,
    ApplicationStatus,
    Call,
    DeclarationStatus,
    EventKind,
    FinancialReport,
    PaymentRequest,
    PaymentStatus,
    ReportStatus,
    Requirement,
    RequirementKind,
    TargetDeclaration,
)

CENT = Decimal("0.01")
TENTH = Decimal("0.1")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
# Monthly series run from the first to the last active month (months without activity show
# zero), over six years at most.
MAX_MONTHS = 72
SHORT_MONTHS = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)


# --- Money and percentages ------------------------------------------------------------------------


def cents(value) -> Decimal:
    """A database amount (Decimal; None when nothing was summed) to the cent, half-up."""
    if value is None:
        return ZERO
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part / whole in percent to one decimal, half-up (None when the whole is zero)."""
    if not whole:
        return None
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(TENTH, rounding=ROUND_HALF_UP)


def format_short_eur(amount: Decimal) -> str:
    """« 7,7 M€ » from a million on, else the amount to the cent."""
    if abs(amount) >= Decimal(1_000_000):
        millions = (amount / Decimal(1_000_000)).quantize(TENTH, rounding=ROUND_HALF_UP)
        return f"{format_number(millions, 1)}{NBSP}M€"
    return format_eur(amount)


def format_percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{format_number(value, 1)}{NBSP}%"


def median_of_sorted(values: list[Decimal], count: int | None = None) -> Decimal | None:
    """The median of a sorted series given either whole or as its middle values only
    (`count` is then the size of the whole series): odd count, the middle value; even, the
    mean of the two middle values rounded half-up to the cent."""
    count = len(values) if count is None else count
    if not count:
        return None
    if len(values) > 2:  # the whole series: keep the middle values
        middle = (count - 1) // 2
        values = values[middle : middle + 2]
    if count % 2:
        return cents(values[0])
    return ((Decimal(values[0]) + Decimal(values[1])) / 2).quantize(CENT, rounding=ROUND_HALF_UP)


# --- The figures of one call ----------------------------------------------------------------------


@dataclass(frozen=True)
class AmountStats:
    """Count, sum, mean, median, min and max of a series of amounts, to the cent."""

    count: int
    total: Decimal
    mean: Decimal | None
    median: Decimal | None
    minimum: Decimal | None
    maximum: Decimal | None

    @classmethod
    def of(cls, values) -> AmountStats:
        """From the whole series (the database path gives the same figures in SQL)."""
        series = sorted(Decimal(v) for v in values)
        total = cents(sum(series, ZERO))
        return cls.from_aggregates(
            len(series),
            total,
            series[0] if series else None,
            series[-1] if series else None,
            series,
        )

    @classmethod
    def from_aggregates(cls, count, total, minimum, maximum, middle) -> AmountStats:
        total = cents(total)
        if not count:
            return cls(0, ZERO, None, None, None, None)
        return cls(
            count=count,
            total=total,
            mean=(total / count).quantize(CENT, rounding=ROUND_HALF_UP),
            median=median_of_sorted(list(middle), count),
            minimum=cents(minimum),
            maximum=cents(maximum),
        )


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


@dataclass(frozen=True)
class EnvelopeStats:
    envelope: Decimal
    potential: Decimal
    engaged: Decimal
    remaining: Decimal
    engaged_percent: Decimal | None  # of the envelope
    potential_percent: Decimal | None  # of the envelope
    engaged_of_potential_percent: Decimal | None

    @property
    def headline(self) -> str:
        """« 7,7 M€ engagés sur un potentiel de 8,1 M€ »."""
        return (
            f"{format_short_eur(self.engaged)} engagés sur un potentiel de "
            f"{format_short_eur(self.potential)}"
        )


@dataclass(frozen=True)
class TargetStats:
    requirement_id: int
    identifier: str
    label: str
    accepted: int
    declared: int  # awaiting the ARS's review
    validated: int
    refused: int
    not_declared: int
    rate: Decimal | None  # validated / accepted files, in percent


@dataclass(frozen=True)
class AttainmentSummary:
    accepted: int
    targets: int
    full: int
    partial: int
    none: int
    full_percent: Decimal | None


@dataclass(frozen=True)
class PaymentStatusCount:
    status: str
    label: str
    count: int
    requested: Decimal
    paid: Decimal


@dataclass(frozen=True)
class PaymentStats:
    by_status: list[PaymentStatusCount]
    count: int
    requested_total: Decimal
    paid_total: Decimal


@dataclass(frozen=True)
class ReportStatusCount:
    status: str
    label: str
    count: int


@dataclass(frozen=True)
class ReportStats:
    by_status: list[ReportStatusCount]
    filed: int
    eligible_costs_total: Decimal
    amount_due_total: Decimal
    to_recover_total: Decimal
    balance_due_total: Decimal


@dataclass(frozen=True)
class MonthCount:
    month: datetime.date  # first day of the month (Europe/Paris)
    count: int

    @property
    def label(self) -> str:
        return f"{windows.MONTHS[self.month.month - 1]} {self.month.year}"

    @property
    def short_label(self) -> str:
        return f"{SHORT_MONTHS[self.month.month - 1]} {self.month:%y}"


@dataclass(frozen=True)
class MonthDecisions(MonthCount):
    accepted: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class Timelines:
    submitted: list[MonthCount]
    decisions: list[MonthDecisions]
    declarations: list[MonthCount]


@dataclass(frozen=True)
class CallStatistics:
    call: Call
    statuses: list[StatusCount]
    total_files: int
    filed: int
    establishments_covered: int  # distinct, by the filed files
    establishments_covered_accepted: int  # distinct, by the accepted files
    ceilings: AmountStats  # ceilings of the filed files
    engaged: AmountStats  # engaged amounts of the accepted files
    envelope: EnvelopeStats
    targets: list[TargetStats]
    attainment: AttainmentSummary
    payments: PaymentStats
    reports: ReportStats
    months: Timelines
    computed_at: datetime.datetime = field(default_factory=timezone.now)

    def status_count(self, status: str) -> int:
        return next((s.count for s in self.statuses if s.status == status), 0)

    @property
    def accepted(self) -> int:
        return self.status_count(ApplicationStatus.ACCEPTED)

    @property
    def rejected(self) -> int:
        return self.status_count(ApplicationStatus.REJECTED)

    def as_dict(self) -> dict:
        """JSON-ready: amounts and percentages as strings (« 62067.28 »), dates in ISO 8601."""
        body = {
            "call": {
                "id": self.call.pk,
                "title": self.call.title,
                "region": self.call.region.code,
                "domain": self.call.domain.code,
            },
            "computed_at": self.computed_at,
        }
        for item in dataclasses.fields(self):
            if item.name in ("call", "computed_at"):
                continue
            body[item.name] = getattr(self, item.name)
        body["envelope"] = {**_plain(self.envelope), "headline": self.envelope.headline}
        return _plain(body)


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.date):  # datetimes too
        return value.isoformat()
    return value


def _middle_values(queryset, column: str, count: int) -> list[Decimal]:
    """The one or two middle values of the sorted column: one short query whatever the size."""
    start = (count - 1) // 2 if count else 0
    return list(queryset.order_by(column, "pk").values_list(column, flat=True)[start : start + 2])


def _month(value: datetime.datetime) -> datetime.date:
    if timezone.is_aware(value):
        value = timezone.localtime(value, windows.PARIS)
    return value.date().replace(day=1)


def _next_month(day: datetime.date) -> datetime.date:
    return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def _months_between(first: datetime.datetime | None, last: datetime.datetime | None) -> list:
    """Every month (Paris time) from the one of `first` to the one of `last`, at most
    MAX_MONTHS of them (the earliest)."""
    if first is None or last is None:
        return []
    months, current, end = [], _month(first), _month(last)
    while current <= end and len(months) < MAX_MONTHS:
        months.append(current)
        current = _next_month(current)
    return months


def _paris_midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=windows.PARIS)


def _from_each_month(prefix: str, column: str, months: list, condition: Q | None = None) -> dict:
    """Counts of the rows at or after the start of each month, and after the last month:
    `prefix<i>`. Month i holds count(i) − count(i + 1). Comparing the column with fixed
    instants costs the database far less than truncating every row to its month (SQLite
    truncates with a Python function called for each row), and stays exact in Paris time."""
    bounds = [*months, _next_month(months[-1])] if months else []
    counts = {}
    for index, month in enumerate(bounds):
        where = Q(**{f"{column}__gte": _paris_midnight(month)})
        counts[f"{prefix}{index}"] = Count("pk", filter=where & condition if condition else where)
    return counts


def _per_month(months: list, row: dict, prefix: str) -> dict[datetime.date, int]:
    return {
        month: (row[f"{prefix}{i}"] or 0) - (row[f"{prefix}{i + 1}"] or 0)
        for i, month in enumerate(months)
    }


def _amounts_by_status(call: Call) -> dict[str, dict]:
    rows = (
        Application.objects.filter(call=call)
        .values("status")
        .annotate(
            n=Count("pk"),
            ceilings=Count("ceiling_eur"),
            ceiling_sum=Sum("ceiling_eur"),
            ceiling_min=Min("ceiling_eur"),
            ceiling_max=Max("ceiling_eur"),
            engaged=Count("engaged_eur"),
            engaged_sum=Sum("engaged_eur"),
            engaged_min=Min("engaged_eur"),
            engaged_max=Max("engaged_eur"),
            first_submitted=Min("submitted_at"),
            last_submitted=Max("submitted_at"),
            first_decided=Min("decided_at"),
            last_decided=Max("decided_at"),
        )
        .order_by()
    )
    return {row["status"]: row for row in rows}


def _ceiling_series(by_status: dict[str, dict], call: Call) -> AmountStats:
    filed = [row for status, row in by_status.items() if status != ApplicationStatus.DRAFT]
    count = sum(row["ceilings"] for row in filed)
    total = sum((cents(row["ceiling_sum"]) for row in filed), ZERO)
    minima = [row["ceiling_min"] for row in filed if row["ceiling_min"] is not None]
    maxima = [row["ceiling_max"] for row in filed if row["ceiling_max"] is not None]
    middle = _middle_values(
        Application.objects.filter(call=call, ceiling_eur__isnull=False).exclude(
            status=ApplicationStatus.DRAFT
        ),
        "ceiling_eur",
        count,
    )
    return AmountStats.from_aggregates(
        count, total, min(minima, default=None), max(maxima, default=None), middle
    )


def _engaged_series(by_status: dict[str, dict], call: Call) -> AmountStats:
    row = by_status.get(ApplicationStatus.ACCEPTED) or {}
    count = row.get("engaged", 0)
    middle = _middle_values(
        Application.objects.filter(
            call=call, status=ApplicationStatus.ACCEPTED, engaged_eur__isnull=False
        ),
        "engaged_eur",
        count,
    )
    return AmountStats.from_aggregates(
        count, row.get("engaged_sum"), row.get("engaged_min"), row.get("engaged_max"), middle
    )


def _covered(call: Call) -> dict[str, int]:
    through = Application.covered_establishments.through
    return (
        through.objects.filter(application__call=call)
        .exclude(application__status=ApplicationStatus.DRAFT)
        .aggregate(
            filed=Count("organisation_id", distinct=True),
            accepted=Count(
                "organisation_id",
                distinct=True,
                filter=Q(application__status=ApplicationStatus.ACCEPTED),
            ),
        )
    )


def _targets(
    call: Call, accepted: int
) -> tuple[list[TargetStats], AttainmentSummary, list[MonthCount]]:
    """Per target, then per file (full or partial attainment) and per month of declaration:
    two passes over the declarations of the call's accepted files, whatever their number."""
    requirements = list(
        Requirement.objects.filter(domain_id=call.domain_id, kind=RequirementKind.TARGET)
        .order_by("position", "identifier")
        .values("pk", "identifier", "label")
    )
    target_ids = [r["pk"] for r in requirements]
    # Joined on the requirement rather than filtered with a list of ids: the databases test a
    # join key once per row, a list element by element.
    declarations = TargetDeclaration.objects.filter(
        application__call=call,
        application__status=ApplicationStatus.ACCEPTED,
        requirement__domain_id=call.domain_id,
        requirement__kind=RequirementKind.TARGET,
    )
    per_target = {
        row["requirement_id"]: row
        for row in declarations.values("requirement_id")
        .annotate(
            declared=Count("pk", filter=Q(status=DeclarationStatus.DECLARED)),
            validated=Count("pk", filter=Q(status=DeclarationStatus.VALIDATED)),
            refused=Count("pk", filter=Q(status=DeclarationStatus.REFUSED)),
            first=Min("declared_at"),
            last=Max("declared_at"),
        )
        .order_by()
    }
    targets = []
    for requirement in requirements:
        row = per_target.get(requirement["pk"], {})
        declared, validated = row.get("declared", 0), row.get("validated", 0)
        refused = row.get("refused", 0)
        targets.append(
            TargetStats(
                requirement_id=requirement["pk"],
                identifier=requirement["identifier"],
                label=requirement["label"],
                accepted=accepted,
                declared=declared,
                validated=validated,
                refused=refused,
                not_declared=max(0, accepted - declared - validated - refused),
                rate=percent(validated, accepted),
            )
        )
    months = _months_between(
        min((r["first"] for r in per_target.values() if r["first"]), default=None),
        max((r["last"] for r in per_target.values() if r["last"]), default=None),
    )
    full = partial = 0
    declared_per_month: dict[datetime.date, int] = {}
    if target_ids:
        # Validated targets and declarations from each month on, per accepted file, summed in
        # the database: one row comes back.
        counts = _from_each_month("m", "declared_at", months)
        per_file = (
            declarations.values("application_id")
            .annotate(validated=Count("pk", filter=Q(status=DeclarationStatus.VALIDATED)), **counts)
            .order_by()
        )
        summary = per_file.aggregate(
            full=Count("application_id", filter=Q(validated__gte=len(target_ids))),
            partial=Count(
                "application_id", filter=Q(validated__gt=0, validated__lt=len(target_ids))
            ),
            **{f"sum_{name}": Sum(name) for name in counts},
        )
        full, partial = summary["full"] or 0, summary["partial"] or 0
        declared_per_month = _per_month(
            months, {name: summary[f"sum_{name}"] for name in counts}, "m"
        )
    attainment = AttainmentSummary(
        accepted=accepted,
        targets=len(target_ids),
        full=full,
        partial=partial,
        none=max(0, accepted - full - partial),
        full_percent=percent(full, accepted),
    )
    return targets, attainment, [MonthCount(m, declared_per_month.get(m, 0)) for m in months]


def _payments(call: Call) -> PaymentStats:
    rows = {
        row["status"]: row
        for row in PaymentRequest.objects.filter(application__call=call)
        .values("status")
        .annotate(n=Count("pk"), requested=Sum("amount_eur"), paid=Sum("paid_eur"))
        .order_by()
    }
    by_status = [
        PaymentStatusCount(
            status=status.value,
            label=str(status.label),
            count=rows.get(status, {}).get("n", 0),
            requested=cents(rows.get(status, {}).get("requested")),
            paid=cents(rows.get(status, {}).get("paid")),
        )
        for status in PaymentStatus
    ]
    return PaymentStats(
        by_status=by_status,
        count=sum(s.count for s in by_status),
        requested_total=sum((s.requested for s in by_status), ZERO),
        paid_total=sum((s.paid for s in by_status), ZERO),
    )


def _reports(call: Call) -> ReportStats:
    rows = {
        row["status"]: row
        for row in FinancialReport.objects.filter(application__call=call)
        .values("status")
        .annotate(
            n=Count("pk"),
            eligible=Sum("eligible_costs_eur"),
            due=Sum("amount_due_eur"),
            recover=Sum("to_recover_eur"),
            balance=Sum("balance_due_eur"),
        )
        .order_by()
    }
    filed = {s: row for s, row in rows.items() if s != ReportStatus.DRAFT}

    def total(key: str) -> Decimal:
        return sum((cents(row[key]) for row in filed.values()), ZERO)

    return ReportStats(
        by_status=[
            ReportStatusCount(status.value, str(status.label), rows.get(status, {}).get("n", 0))
            for status in ReportStatus
        ],
        filed=sum(row["n"] for row in filed.values()),
        eligible_costs_total=total("eligible"),
        amount_due_total=total("due"),
        to_recover_total=total("recover"),
        balance_due_total=total("balance"),
    )


def _timelines(call: Call, by_status: dict[str, dict], declarations) -> Timelines:
    """Files submitted and decided per month: one query over the call's files, with the
    months bounded by the first and last dates already read with the amounts."""
    rows = by_status.values()
    submitted_months = _months_between(
        min((r["first_submitted"] for r in rows if r["first_submitted"]), default=None),
        max((r["last_submitted"] for r in rows if r["last_submitted"]), default=None),
    )
    decided = [
        by_status.get(s, {}) for s in (ApplicationStatus.ACCEPTED, ApplicationStatus.REJECTED)
    ]
    decided_months = _months_between(
        min((r["first_decided"] for r in decided if r.get("first_decided")), default=None),
        max((r["last_decided"] for r in decided if r.get("last_decided")), default=None),
    )
    counts = {
        **_from_each_month("s", "submitted_at", submitted_months),
        **_from_each_month("a", "decided_at", decided_months, Q(status=ApplicationStatus.ACCEPTED)),
        **_from_each_month("r", "decided_at", decided_months, Q(status=ApplicationStatus.REJECTED)),
    }
    row = Application.objects.filter(call=call).aggregate(n=Count("pk"), **counts)
    submitted = _per_month(submitted_months, row, "s")
    accepted = _per_month(decided_months, row, "a")
    rejected = _per_month(decided_months, row, "r")
    return Timelines(
        submitted=[MonthCount(m, submitted[m]) for m in submitted_months],
        decisions=[
            MonthDecisions(m, accepted[m] + rejected[m], accepted[m], rejected[m])
            for m in decided_months
        ],
        declarations=declarations,
    )


def call_statistics(call: Call) -> CallStatistics:
    """Every figure of the call, in a fixed number of queries (ten) whatever its size."""
    by_status = _amounts_by_status(call)
    statuses = [
        StatusCount(status.value, str(status.label), by_status.get(status, {}).get("n", 0))
        for status in ApplicationStatus
    ]
    total_files = sum(s.count for s in statuses)
    drafts = by_status.get(ApplicationStatus.DRAFT, {}).get("n", 0)
    accepted = by_status.get(ApplicationStatus.ACCEPTED, {}).get("n", 0)
    ceilings = _ceiling_series(by_status, call)
    engaged = _engaged_series(by_status, call)
    covered = _covered(call)
    envelope = call.envelope_eur
    targets, attainment, declarations = _targets(call, accepted)
    return CallStatistics(
        call=call,
        statuses=statuses,
        total_files=total_files,
        filed=total_files - drafts,
        establishments_covered=covered["filed"] or 0,
        establishments_covered_accepted=covered["accepted"] or 0,
        ceilings=ceilings,
        engaged=engaged,
        envelope=EnvelopeStats(
            envelope=envelope,
            potential=ceilings.total,
            engaged=engaged.total,
            remaining=envelope - engaged.total,
            engaged_percent=percent(engaged.total, envelope),
            potential_percent=percent(ceilings.total, envelope),
            engaged_of_potential_percent=percent(engaged.total, ceilings.total),
        ),
        targets=targets,
        attainment=attainment,
        payments=_payments(call),
        reports=_reports(call),
        months=_timelines(call, by_status, declarations),
    )


def call_files(call: Call):
    """One row per file of the call, for the exports: applicant, FINESS, status, amounts,
    establishments covered and dates (one query)."""
    return (
        Application.objects.filter(call=call)
        .annotate(covered_count=Count("covered_establishments"))
        .order_by("applicant__name", "pk")
        .values(
            "pk",
            "applicant__name",
            "applicant__finess",
            "applicant__kind",
            "status",
            "ceiling_eur",
            "engaged_eur",
            "covered_count",
            "submitted_at",
            "decided_at",
        )
    )


# --- Who sees the figures -------------------------------------------------------------------------


def statistics_regions(user) -> set[int] | None:
    """Regions whose figures the user sees: None for every region (national roles), else the
    regions of their region-scope roles with VIEW_PROGRAMME (ARS, CRRC). Establishment, legal
    entity and GHT people get an empty set: they never see other establishments' amounts.
    The same rule as `perms.sees_all_applicants`, for a list of calls."""
    regions: set[int] = set()
    for membership in org_perms.active_memberships(user):
        spec = ROLES[Role(membership.role)]
        if Capability.VIEW_PROGRAMME not in spec.capabilities:
            continue
        if spec.scope == Scope.NATIONAL:
            return None
        if spec.scope == Scope.REGION:
            regions.add(membership.organisation.region_id)
    return regions


# --- Region overview ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallSummary:
    call: Call
    filed: int
    accepted: int
    rejected: int
    establishments_covered: int
    potential: Decimal
    engaged: Decimal
    paid: Decimal

    @property
    def envelope(self) -> Decimal:
        return self.call.envelope_eur

    @property
    def engaged_percent(self) -> Decimal | None:
        return percent(self.engaged, self.call.envelope_eur)

    @property
    def headline(self) -> str:
        return (
            f"{format_short_eur(self.engaged)} engagés sur un potentiel de "
            f"{format_short_eur(self.potential)}"
        )


@dataclass(frozen=True)
class RegionSummary:
    region: object
    calls: list[CallSummary]


def calls_overview(user) -> list[RegionSummary] | None:
    """The calls whose figures the user sees, with their key figures, grouped by region; None
    when the user sees no region's figures. Four queries whatever the number of calls."""
    regions = statistics_regions(user)
    if regions is not None and not regions:
        return None
    calls = selectors.calls_visible_to(user)
    if regions is not None:
        calls = calls.filter(region_id__in=regions)
    calls = list(calls.order_by("region__name", "-application_opens_on", "domain__code"))
    ids = [call.pk for call in calls]
    files: dict[int, dict] = defaultdict(
        lambda: {"filed": 0, "accepted": 0, "rejected": 0, "potential": ZERO, "engaged": ZERO}
    )
    if ids:
        for row in (
            Application.objects.filter(call_id__in=ids)
            .exclude(status=ApplicationStatus.DRAFT)
            .values("call_id", "status")
            .annotate(n=Count("pk"), ceilings=Sum("ceiling_eur"), engaged=Sum("engaged_eur"))
            .order_by()
        ):
            entry = files[row["call_id"]]
            entry["filed"] += row["n"]
            entry["potential"] += cents(row["ceilings"])
            entry["engaged"] += cents(row["engaged"])
            if row["status"] == ApplicationStatus.ACCEPTED:
                entry["accepted"] += row["n"]
            elif row["status"] == ApplicationStatus.REJECTED:
                entry["rejected"] += row["n"]
        through = Application.covered_establishments.through
        covered = dict(
            through.objects.filter(application__call_id__in=ids)
            .exclude(application__status=ApplicationStatus.DRAFT)
            .values("application__call_id")
            .annotate(n=Count("organisation_id", distinct=True))
            .order_by()
            .values_list("application__call_id", "n")
        )
        paid = dict(
            PaymentRequest.objects.filter(application__call_id__in=ids)
            .values("application__call_id")
            .annotate(paid=Sum("paid_eur"))
            .order_by()
            .values_list("application__call_id", "paid")
        )
    else:
        covered, paid = {}, {}
    grouped: dict[int, RegionSummary] = {}
    for call in calls:
        entry = files[call.pk]
        summary = CallSummary(
            call=call,
            filed=entry["filed"],
            accepted=entry["accepted"],
            rejected=entry["rejected"],
            establishments_covered=covered.get(call.pk, 0),
            potential=entry["potential"],
            engaged=entry["engaged"],
            paid=cents(paid.get(call.pk)),
        )
        grouped.setdefault(call.region_id, RegionSummary(call.region, [])).calls.append(summary)
    return list(grouped.values())


# --- The CaRE timeline of one organisation --------------------------------------------------------

TIMELINE_KINDS = {OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY, OrgKind.GHT}
# Events whose record (declaration, payment request, financial report) gives the timeline a
# richer entry of its own; the history keeps them for the file's page.
EVENTS_SHOWN_BY_RECORDS = {
    EventKind.TARGET_DECLARED,
    EventKind.TARGET_VALIDATED,
    EventKind.TARGET_REFUSED,
    EventKind.PAYMENT_REQUESTED,
    EventKind.PAYMENT_STATUS,
    EventKind.REPORT_FILED,
    EventKind.REPORT_REVIEWED,
}


def concerning(organisation) -> Q:
    """Files (Application) that are the organisation's own or cover it: for an establishment,
    the files listing it; for a legal entity, those listing one of its establishments; for a
    GHT, those listing one of its members' establishments."""
    through = Application.covered_establishments.through
    covered = through.objects.filter(application_id=OuterRef("pk"))
    if organisation.kind == OrgKind.ESTABLISHMENT:
        covered = covered.filter(organisation_id=organisation.pk)
    elif organisation.kind == OrgKind.LEGAL_ENTITY:
        covered = covered.filter(organisation__legal_entity_id=organisation.pk)
    elif organisation.kind == OrgKind.GHT:
        covered = covered.filter(
            Q(organisation__ght_id=organisation.pk)
            | Q(organisation__legal_entity__ght_id=organisation.pk)
        )
    else:
        return Q(pk__in=[])
    return Q(applicant_id=organisation.pk) | Q(Exists(covered))


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime.datetime  # for sorting; date-only facts sit at midnight, Paris time
    date_only: bool
    kind: str  # "evenement", "cible", "paiement", "bilan"
    title: str
    detail: str
    application: Application
    tone: str = ""  # DSFR badge modifier: success, error, info, warning

    @property
    def when(self) -> str:
        local = timezone.localtime(self.at, windows.PARIS)
        day = windows.format_date_fr(local.date())
        return day if self.date_only else f"{day} à {local:%H:%M}"


@dataclass(frozen=True)
class CallTimeline:
    call: Call
    spans: list[dict]
    files: list[Application]
    entries: list[TimelineEntry]


def _day_start(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=windows.PARIS)


def _event_tone(kind: str) -> str:
    return {
        EventKind.ACCEPTED: "success",
        EventKind.REJECTED: "error",
        EventKind.COMPLEMENT_REQUESTED: "warning",
        EventKind.SUBMITTED: "info",
        EventKind.COMPLEMENT_PROVIDED: "info",
    }.get(kind, "")


def organisation_timeline(user, organisation) -> list[CallTimeline]:
    """Every file the user may see that is the organisation's own or covers it, across calls,
    with its history, target declarations and reviews, payment and financial report, in one
    chronological list per call (calls in the order they opened). Five queries."""
    files = list(
        selectors.applications_visible_to(user)
        .filter(concerning(organisation))
        .order_by("call__application_opens_on", "call__pk", "applicant__name", "pk")
    )
    by_pk = {application.pk: application for application in files}
    entries: dict[int, list[TimelineEntry]] = defaultdict(list)

    def add(application_id: int, entry_kwargs: dict) -> None:
        application = by_pk[application_id]
        entries[application.call_id].append(TimelineEntry(application=application, **entry_kwargs))

    ids = list(by_pk)
    if ids:
        for event in (
            ApplicationEvent.objects.filter(application_id__in=ids)
            .exclude(kind__in=EVENTS_SHOWN_BY_RECORDS)
            .order_by("at", "pk")
        ):
            add(
                event.application_id,
                {
                    "at": event.at,
                    "date_only": False,
                    "kind": "evenement",
                    "title": event.get_kind_display(),
                    "detail": event.message,
                    "tone": _event_tone(event.kind),
                },
            )
        for declaration in (
            TargetDeclaration.objects.filter(application_id__in=ids)
            .select_related("requirement")
            .order_by("declared_at", "pk")
        ):
            target = declaration.requirement.identifier
            add(
                declaration.application_id,
                {
                    "at": declaration.declared_at,
                    "date_only": False,
                    "kind": "cible",
                    "title": f"Cible {target} déclarée atteinte",
                    "detail": declaration.requirement.label,
                    "tone": "info",
                },
            )
            if declaration.reviewed_at and declaration.status != DeclarationStatus.DECLARED:
                validated = declaration.status == DeclarationStatus.VALIDATED
                add(
                    declaration.application_id,
                    {
                        "at": declaration.reviewed_at,
                        "date_only": False,
                        "kind": "cible",
                        "title": f"Cible {target} {'validée' if validated else 'non validée'} par l'ARS",
                        "detail": declaration.review_comment,
                        "tone": "success" if validated else "error",
                    },
                )
        for payment in PaymentRequest.objects.filter(application_id__in=ids).order_by("pk"):
            add(
                payment.application_id,
                {
                    "at": payment.requested_at,
                    "date_only": False,
                    "kind": "paiement",
                    "title": "Paiement demandé",
                    "detail": f"Montant demandé : {format_eur(payment.amount_eur)}",
                    "tone": "info",
                },
            )
            if payment.decided_at:
                refused = payment.status == PaymentStatus.REFUSED
                add(
                    payment.application_id,
                    {
                        "at": payment.decided_at,
                        "date_only": False,
                        "kind": "paiement",
                        "title": "Paiement refusé" if refused else "Paiement validé par l'ARS",
                        "detail": payment.decision_comment,
                        "tone": "error" if refused else "success",
                    },
                )
            if payment.paid_on:
                add(
                    payment.application_id,
                    {
                        "at": _day_start(payment.paid_on),
                        "date_only": True,
                        "kind": "paiement",
                        "title": "Paiement versé",
                        "detail": f"Montant payé : {format_eur(payment.paid_eur or ZERO)}"
                        + (
                            f" (référence {payment.payment_reference})"
                            if payment.payment_reference
                            else ""
                        ),
                        "tone": "success",
                    },
                )
        for report in (
            FinancialReport.objects.filter(application_id__in=ids)
            .exclude(status=ReportStatus.DRAFT)
            .order_by("pk")
        ):
            add(
                report.application_id,
                {
                    "at": report.filed_at,
                    "date_only": False,
                    "kind": "bilan",
                    "title": "Bilan financier déposé",
                    "detail": f"Dépenses éligibles : {format_eur(report.eligible_costs_eur or ZERO)}",
                    "tone": "info",
                },
            )
            if report.reviewed_at:
                recover = report.to_recover_eur or ZERO
                add(
                    report.application_id,
                    {
                        "at": report.reviewed_at,
                        "date_only": False,
                        "kind": "bilan",
                        "title": "Bilan financier instruit",
                        "detail": f"Trop-perçu à récupérer : {format_eur(recover)}"
                        if recover
                        else f"Solde à verser : {format_eur(report.balance_due_eur or ZERO)}",
                        "tone": "warning" if recover else "success",
                    },
                )
            if report.recovered_on:
                add(
                    report.application_id,
                    {
                        "at": _day_start(report.recovered_on),
                        "date_only": True,
                        "kind": "bilan",
                        "title": "Trop-perçu récupéré",
                        "detail": format_eur(report.to_recover_eur or ZERO),
                        "tone": "success",
                    },
                )
    today = windows.paris_today()
    result: list[CallTimeline] = []
    seen: set[int] = set()
    for application in files:
        call = application.call
        if call.pk in seen:
            continue
        seen.add(call.pk)
        result.append(
            CallTimeline(
                call=call,
                spans=[
                    {"span": s, "open": s.is_open_on(today), "past": s.closes_on < today}
                    for s in windows.spans(call)
                ],
                files=[a for a in files if a.call_id == call.pk],
                entries=sorted(
                    entries.get(call.pk, []), key=lambda e: (e.at, e.kind, e.application.pk)
                ),
            )
        )
    return result
