"""Exercise coverage: the validity verdict stored per (run, organisation), and the indicator
the ARS reads, computed from those records with the rule of data/validity.yaml.

`refresh_coverage` is the only writer of CoverageRecord; the run services call it after every
change that can move the verdict (participants, attendance, status, evaluation, debrief).
The indicator pages read with a fixed number of queries whatever the number of organisations:
one aggregate over the population grouped by (region, département, category, GHT), then one
query per dimension for the names.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, Subquery
from django.utils import timezone

from rempart.organisations.models import Departement, FinessCategory, Organisation, Region

from .models import CoverageRecord, ExerciseRun, ParticipantRole, RunKind, RunStatus
from .validity import ValidityRule, rule, verdict


def _participating_functions(run: ExerciseRun) -> dict[int, set[str]]:
    """Functions present per organisation: the players not marked absent."""
    present: dict[int, set[str]] = {}
    for organisation_id, function in run.participants.filter(
        Q(attended__isnull=True) | Q(attended=True), role=ParticipantRole.PLAYER
    ).values_list("organisation_id", "function"):
        present.setdefault(organisation_id, set()).add(function)
    return present


@transaction.atomic
def refresh_coverage(run: ExerciseRun, *, the_rule: ValidityRule | None = None) -> None:
    """Recompute the verdict of every organisation taking part in `run` from its records.
    An establishment's own exercise always has a record for it (even before anyone is named:
    « does not count yet » with the reasons); a regional one has one per participating
    organisation, not for the CRRC/ARS that holds it."""
    the_rule = the_rule or rule()
    present = _participating_functions(run)
    organisation_ids = set(present)
    if run.kind == RunKind.ESTABLISHMENT:
        organisation_ids.add(run.organisation_id)
    if run.status == RunStatus.CANCELLED:
        organisation_ids = set()
    played = run.status == RunStatus.FINISHED
    held_on = timezone.localdate(run.started_at) if run.started_at else None
    has_evaluation = hasattr(run, "evaluation") and run.evaluation is not None
    has_debrief = hasattr(run, "debrief") and run.debrief is not None
    now = timezone.now()
    CoverageRecord.objects.filter(run=run).exclude(organisation_id__in=organisation_ids).delete()
    for organisation_id in sorted(organisation_ids):
        result = verdict(
            the_rule,
            is_cyber=run.is_cyber,
            played=played,
            functions_present=present.get(organisation_id, set()),
            has_evaluation=has_evaluation,
            has_debrief=has_debrief,
        )
        CoverageRecord.objects.update_or_create(
            run=run,
            organisation_id=organisation_id,
            defaults={
                "held_on": held_on if result.counts else (held_on if played else None),
                "counts": result.counts,
                "reasons": result.reasons,
                "rule_version": the_rule.version,
                "computed_at": now,
            },
        )


def refresh_all(*, the_rule: ValidityRule | None = None) -> int:
    """Apply the (new) rule to every run kept; the number of runs refreshed."""
    the_rule = the_rule or rule()
    count = 0
    for run in ExerciseRun.objects.select_related("evaluation", "debrief").iterator(chunk_size=500):
        refresh_coverage(run, the_rule=the_rule)
        count += 1
    return count


# --- The indicator ------------------------------------------------------------------------------


@dataclass
class Cell:
    """Covered organisations among a group's population."""

    key: object
    label: str
    total: int = 0
    covered: int = 0

    @property
    def rate(self) -> float:
        return round(100 * self.covered / self.total, 1) if self.total else 0.0

    @property
    def missing(self) -> int:
        return self.total - self.covered


@dataclass
class CoverageOverview:
    rule: ValidityRule
    today: datetime.date
    cutoff: datetime.date
    total: Cell
    by_region: list[Cell] = field(default_factory=list)
    by_departement: list[Cell] = field(default_factory=list)
    by_category: list[Cell] = field(default_factory=list)
    by_ght: list[Cell] = field(default_factory=list)

    @property
    def meets_target(self) -> bool:
        return self.total.total > 0 and self.total.rate >= self.rule.target_percent

    @property
    def needed_for_target(self) -> int:
        """How many more organisations need a valid exercise to reach the target."""
        import math

        needed = math.ceil(self.total.total * self.rule.target_percent / 100) - self.total.covered
        return max(needed, 0)


def population(scope: Q, the_rule: ValidityRule):
    """The organisations the indicator counts, within the user's scope."""
    return Organisation.objects.filter(scope, kind__in=the_rule.population, is_active=True)


def covered_exists(cutoff: datetime.date, today: datetime.date) -> Exists:
    return Exists(
        CoverageRecord.objects.filter(
            organisation_id=OuterRef("pk"), counts=True, held_on__gte=cutoff, held_on__lte=today
        )
    )


DIMENSIONS = ("region", "departement", "category", "ght")
_NAMES = {
    "region": (Region, ("pk", "name")),
    "departement": (Departement, ("pk", "code", "name")),
    "category": (FinessCategory, ("pk", "code", "label")),
    "ght": (Organisation, ("pk", "name")),
}
_UNKNOWN = {
    "region": "Sans région",
    "departement": "Sans département",
    "category": "Sans catégorie",
    "ght": "Hors GHT",
}


def coverage_overview(
    scope: Q,
    *,
    today: datetime.date | None = None,
    dimensions: tuple[str, ...] = DIMENSIONS,
) -> CoverageOverview:
    """The indicator over the population of `scope`, broken down by `dimensions` (a national
    view asks for region and category: grouping 40,000 organisations by every dimension at
    once would return one row per combination)."""
    the_rule = rule()
    today = today or timezone.localdate()
    cutoff = the_rule.cutoff(today)
    rows = list(
        population(scope, the_rule)
        .annotate(is_covered=covered_exists(cutoff, today))
        .values(*(f"{dimension}_id" for dimension in dimensions))
        .annotate(total=Count("pk"), covered=Count("pk", filter=Q(is_covered=True)))
        .order_by()
    )
    overview = CoverageOverview(
        rule=the_rule, today=today, cutoff=cutoff, total=Cell(key=None, label="Total")
    )
    groups: dict[str, dict[object, Cell]] = {dimension: {} for dimension in dimensions}
    for row in rows:
        overview.total.total += row["total"]
        overview.total.covered += row["covered"]
        for dimension, cells in groups.items():
            key = row[f"{dimension}_id"]
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = Cell(key=key, label="")
            cell.total += row["total"]
            cell.covered += row["covered"]
    for dimension, cells in groups.items():
        model, fields = _NAMES[dimension]
        labels = {
            row[0]: " – ".join(str(part) for part in row[1:])
            for row in model.objects.filter(pk__in=[k for k in cells if k]).values_list(*fields)
        }
        for key, cell in cells.items():
            cell.label = labels.get(key, _UNKNOWN[dimension])
        ordered = sorted(cells.values(), key=lambda c: (c.key is None, c.label))
        setattr(overview, f"by_{dimension}", ordered)
    return overview


@dataclass
class CoverageView:
    overview: CoverageOverview
    national: bool  # several regions in view: broken down by region and category
    regional_runs: list


def coverage_view(
    scope: Q, *, regions: set[int] | None, region_id: int | None, today: datetime.date
) -> CoverageView:
    """What the coverage page and its API show: national (several regions in the user's
    scope, none chosen) by region and category; one region by département, category and GHT;
    with the regional exercises of the period."""
    national = region_id is None and (regions is None or len(regions) > 1)
    overview = coverage_overview(
        scope & Q(region_id=region_id) if region_id else scope,
        today=today,
        dimensions=("region", "category") if national else ("departement", "category", "ght"),
    )
    runs = list(regional_runs({region_id} if region_id else regions, since=overview.cutoff)[:50])
    return CoverageView(overview=overview, national=national, regional_runs=runs)


def organisations_page_queryset(
    scope: Q,
    *,
    today: datetime.date | None = None,
    status: str = "",
    departement_id: int | None = None,
    category_id: int | None = None,
    ght_id: int | None = None,
    search: str = "",
):
    """The organisations of the indicator with, for each, its last valid exercise and, when it
    has none, why its latest exercise does not count yet."""
    the_rule = rule()
    today = today or timezone.localdate()
    cutoff = the_rule.cutoff(today)
    records = CoverageRecord.objects.filter(organisation_id=OuterRef("pk"))
    latest_pending = records.filter(counts=False).order_by("-run__planned_start", "-pk")
    queryset = (
        population(scope, the_rule)
        .select_related("departement", "category", "ght")
        .annotate(
            is_covered=covered_exists(cutoff, today),
            last_valid_on=Subquery(
                records.filter(counts=True, held_on__lte=today)
                .order_by()
                .values("organisation_id")
                .annotate(last=Max("held_on"))
                .values("last")[:1]
            ),
            pending_reasons=Subquery(latest_pending.values("reasons")[:1]),
            pending_title=Subquery(latest_pending.values("run__title")[:1]),
            pending_planned=Subquery(latest_pending.values("run__planned_start")[:1]),
        )
        .order_by("name", "pk")
    )
    if status == "covered":
        queryset = queryset.filter(is_covered=True)
    elif status == "missing":
        queryset = queryset.filter(is_covered=False)
    if departement_id:
        queryset = queryset.filter(departement_id=departement_id)
    if category_id:
        queryset = queryset.filter(category_id=category_id)
    if ght_id:
        queryset = queryset.filter(ght_id=ght_id)
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(finess=search))
    return queryset


def filter_choices(scope: Q, the_rule: ValidityRule) -> dict:
    """The départements, categories and GHTs of the population, for the list's filters."""
    in_scope = population(scope, the_rule)
    return {
        "departements": Departement.objects.filter(
            pk__in=in_scope.values("departement_id")
        ).order_by("code"),
        "categories": FinessCategory.objects.filter(pk__in=in_scope.values("category_id")).order_by(
            "label"
        ),
        "ghts": Organisation.objects.filter(pk__in=in_scope.values("ght_id")).order_by("name"),
    }


def regional_runs(scope_regions: set[int] | None, *, since: datetime.date):
    """Regional exercises of the regions in view (None: every region) since a date, with the
    number of organisations taking part and how many of them it counts for."""
    queryset = ExerciseRun.objects.filter(kind=RunKind.REGIONAL).filter(
        Q(planned_start__date__gte=since) | Q(status=RunStatus.PLANNED)
    )
    if scope_regions is not None:
        queryset = queryset.filter(region_id__in=scope_regions)
    return (
        queryset.exclude(status=RunStatus.CANCELLED)
        .select_related("organisation", "region")
        .annotate(
            organisations=Count("coverage", distinct=True),
            organisations_counted=Count("coverage", filter=Q(coverage__counts=True), distinct=True),
        )
        .order_by("-planned_start")
    )
