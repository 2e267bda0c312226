"""Reads of the regional pages: campaigns and their completion, the anonymised distribution of
scores, the organisations that may need help, a GHT's members side by side.

They read the scores stored on each assessment (`Assessment.score`, `theme_scores`), never the
answers, with a fixed number of queries whatever the number of organisations: one query over
the assessments of the scope, the rest (quartiles, groups) computed in Python.

Anonymity: a group (category, size class) of fewer than `MIN_GROUP` organisations is never shown
alone; small groups are merged into « Autres », which is hidden with a note when it is still too
small. The same floor applies to the whole population and to each theme.

Size classes (documented in docs/assessments.md): health and other establishments by beds
(< 100, 100–299, 300–999, ≥ 1 000); medico-social ones by places (< 50, 50–99, ≥ 100).
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db import connections
from django.db.models import CharField, F, FloatField, Func, Q, QuerySet
from django.db.models.functions import Cast
from django.http import Http404
from django.utils import timezone

from rempart.core.roles import Capability, OrgKind
from rempart.organisations import perms as org_perms
from rempart.organisations.models import FinessCategory, Organisation, Region, Sector

from . import perms
from .models import (
    Assessment,
    AssessmentCampaign,
    AssessmentStatus,
    CampaignStatus,
    Questionnaire,
    RequirementNode,
)

MIN_GROUP = 5
DEFAULT_THRESHOLD = 50
OTHERS = "Autres (groupes de moins de 5)"
NOT_STARTED, IN_PROGRESS, COMPLETED = "not_started", "in_progress", "completed"
STATUS_LABELS = {NOT_STARTED: "Non commencée", IN_PROGRESS: "En cours", COMPLETED: "Terminée"}
BED_CLASSES = ((100, "Moins de 100 lits"), (300, "100 à 299 lits"), (1000, "300 à 999 lits"))
BED_TOP = "1 000 lits et plus"
PLACE_CLASSES = ((50, "Moins de 50 places"), (100, "50 à 99 places"))
PLACE_TOP = "100 places et plus"
UNKNOWN_SIZE = "Capacité non renseignée"


# --- Scopes ------------------------------------------------------------------------------------


def figures_scope(user) -> Q:
    """Organisations whose completion and scores the user sees; 403 when none."""
    scope = perms.figures_q(user)
    if scope is None:
        raise PermissionDenied(perms.NO_FIGURES)
    return scope


def figures_regions(user) -> set[int] | None:
    """Regions whose campaigns the user sees (None: every region)."""
    return org_perms.capability_regions(user, Capability.VIEW_ASSESSMENT_FIGURES)


def support_scope(user) -> Q:
    """« Établissements à accompagner » is the region's work: ARS and CRRC only."""
    regions = perms.campaign_regions(user)
    if regions is not None and not regions:
        raise PermissionDenied(
            "La liste des établissements à accompagner est réservée à l'ARS et au CRRC."
        )
    return Q() if regions is None else Q(region_id__in=regions)


def distribution_scope(user, region_id: int | None = None) -> tuple[Q, list[int]]:
    """Scope of the anonymised distribution, and the viewer's own organisations (placed in
    their quartile). Figures roles read their scope (a national observer may narrow it to a
    region); an establishment's assessors read their region's, anonymised."""
    own = []
    assess = perms.assess_q(user)
    if assess is not None:
        own = list(Organisation.objects.filter(assess).values_list("pk", flat=True)[:50])
    scope = perms.figures_q(user)
    if scope is None:
        if not own:
            raise PermissionDenied(perms.NO_FIGURES)
        regions = org_perms.capability_regions(user, Capability.ASSESS)
        scope = Q(region_id__in=regions or [])
    if region_id is not None:
        scope &= Q(region_id=region_id)
    return scope, own


def in_scope(scope: Q, prefix: str = "organisation") -> Q:
    """The organisation scope applied through a relation (no filter for a national scope)."""
    if not scope:
        return Q()
    return Q(**{f"{prefix}__in": Organisation.objects.filter(scope).values("pk")})


def visible_campaigns(user):
    regions = figures_regions(user)
    if regions is not None and not regions:
        raise PermissionDenied(perms.NO_FIGURES)
    queryset = AssessmentCampaign.objects.select_related("questionnaire", "organiser", "region")
    return queryset if regions is None else queryset.filter(region_id__in=regions)


def get_campaign(user, pk: int) -> AssessmentCampaign:
    """A campaign of a region the user sees figures of; 404 otherwise (403 without figures)."""
    campaign = visible_campaigns(user).filter(pk=pk).first()
    if campaign is None:
        raise Http404("Campagne introuvable.")
    return campaign


def regional_questionnaires():
    """Questionnaires of the shared library (every version: a past one keeps its figures)."""
    return Questionnaire.objects.filter(organisation__isnull=True).order_by("name", "-version")


def get_questionnaire(pk: int) -> Questionnaire:
    questionnaire = regional_questionnaires().filter(pk=pk).first()
    if questionnaire is None:
        raise Http404("Questionnaire introuvable.")
    return questionnaire


def themes(questionnaire: Questionnaire) -> list[RequirementNode]:
    return list(
        RequirementNode.objects.filter(questionnaire=questionnaire, depth=1).order_by("order")
    )


# --- Completion ----------------------------------------------------------------------------------


def status_of(status: str, answered: int) -> str:
    if status == AssessmentStatus.COMPLETED:
        return COMPLETED
    return IN_PROGRESS if answered else NOT_STARTED


@dataclass
class CompletionRow:
    organisation_id: int
    name: str
    finess: str
    departement: str
    category: str
    status: str
    score: float | None = None
    completed_at: datetime.datetime | None = None
    assessment_id: int | None = None
    shared: bool = False
    late: bool = False

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass
class Counts:
    label: str
    not_started: int = 0
    in_progress: int = 0
    completed: int = 0

    @property
    def total(self) -> int:
        return self.not_started + self.in_progress + self.completed

    @property
    def rate(self) -> float:
        return 100 * self.completed / self.total if self.total else 0.0

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


@dataclass
class Completion:
    total: Counts
    by_departement: list[Counts]
    by_category: list[Counts]
    rows: list[CompletionRow]
    late: int


ORG_FIELDS = (
    "organisation_id",
    "organisation__name",
    "organisation__finess",
    "organisation__departement__code",
    "organisation__departement__name",
    "organisation__category__label",
)


def _departement(code, name) -> str:
    return f"{code} — {name}" if code else "Département non renseigné"


def _summarise(rows: list[CompletionRow]) -> Completion:
    total = Counts("Total")
    by_departement: dict[str, Counts] = {}
    by_category: dict[str, Counts] = {}
    for row in rows:
        total.add(row.status)
        by_departement.setdefault(row.departement, Counts(row.departement)).add(row.status)
        by_category.setdefault(row.category, Counts(row.category)).add(row.status)
    rows.sort(key=lambda r: (not r.late, r.status != NOT_STARTED, r.name.lower()))
    return Completion(
        total=total,
        by_departement=sorted(by_departement.values(), key=lambda c: c.label),
        by_category=sorted(by_category.values(), key=lambda c: c.label),
        rows=rows,
        late=sum(1 for r in rows if r.late),
    )


def campaign_completion(
    scope: Q, campaign: AssessmentCampaign, *, today: datetime.date | None = None
) -> Completion:
    """The campaign's organisations (those of the scope: a GHT coordinator sees its members),
    with their status and score; late: not completed after the deadline. One query."""
    today = today or timezone.localdate()
    after_deadline = today > campaign.deadline
    rows = []
    for values in (
        Assessment.objects.filter(in_scope(scope), campaign=campaign)
        .values_list(
            "pk",
            "status",
            "answered_count",
            "score",
            "completed_at",
            "shared_with_region",
            *ORG_FIELDS,
        )
        .order_by()
    ):
        pk, status, answered, score, completed_at, shared, org, name, finess, dep, dep_name, cat = (
            values
        )
        state = status_of(status, answered)
        rows.append(
            CompletionRow(
                organisation_id=org,
                name=name,
                finess=finess or "",
                departement=_departement(dep, dep_name),
                category=cat or "Catégorie non renseignée",
                status=state,
                score=float(score) if score is not None and state == COMPLETED else None,
                completed_at=completed_at,
                assessment_id=pk,
                shared=shared,
                late=after_deadline and state != COMPLETED,
            )
        )
    return _summarise(rows)


def questionnaire_completion(
    scope: Q, questionnaire: Questionnaire, *, today: datetime.date | None = None
) -> Completion:
    """Every establishment of the scope (and the legal entities that answered) for one
    questionnaire version, campaign or not: its latest completed assessment, else its draft.
    Late: a draft requested by a campaign whose deadline has passed. Two queries."""
    today = today or timezone.localdate()
    chosen: dict[int, tuple] = {}
    for values in (
        Assessment.objects.filter(in_scope(scope), questionnaire=questionnaire)
        .values_list(
            "organisation_id",
            "pk",
            "status",
            "answered_count",
            "score",
            "completed_at",
            "shared_with_region",
            "campaign__deadline",
        )
        .order_by()
    ):
        current = chosen.get(values[0])
        if current is None:
            chosen[values[0]] = values
            continue
        # A completed one wins over a draft; among completed ones, the latest.
        if values[2] == AssessmentStatus.COMPLETED and (
            current[2] != AssessmentStatus.COMPLETED or values[5] > current[5]
        ):
            chosen[values[0]] = values
    organisations = (
        Organisation.objects.filter(scope)
        .filter(
            Q(kind=OrgKind.ESTABLISHMENT, is_active=True)
            | Q(kind=OrgKind.LEGAL_ENTITY, assessments__questionnaire=questionnaire)
        )
        .distinct()
        .values_list(
            "pk", "name", "finess", "departement__code", "departement__name", "category__label"
        )
        .order_by()
    )
    rows = []
    for org, name, finess, dep, dep_name, cat in organisations:
        values = chosen.get(org)
        row = CompletionRow(
            organisation_id=org,
            name=name,
            finess=finess or "",
            departement=_departement(dep, dep_name),
            category=cat or "Catégorie non renseignée",
            status=NOT_STARTED,
        )
        if values is not None:
            _org, pk, status, answered, score, completed_at, shared, deadline = values
            row.status = status_of(status, answered)
            row.assessment_id = pk
            row.shared = shared
            row.completed_at = completed_at
            if row.status == COMPLETED and score is not None:
                row.score = float(score)
            row.late = row.status != COMPLETED and deadline is not None and today > deadline
        rows.append(row)
    return _summarise(rows)


# --- Distribution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    count: int
    minimum: float
    q1: float
    median: float
    q3: float
    maximum: float
    mean: float

    def quartile_of(self, value: float) -> int:
        """1 to 4: the quartile a score falls in (1: the lowest quarter)."""
        if value <= self.q1:
            return 1
        if value <= self.median:
            return 2
        if value <= self.q3:
            return 3
        return 4


def stats(values: list[float]) -> Stats | None:
    """Count, min, quartiles (inclusive method, as `statistics.quantiles(method="inclusive")`:
    linear interpolation between the ranked scores), max and mean; None below the anonymity
    floor. One sort per group (a national page has 40,000 scores per theme)."""
    count = len(values)
    if count < MIN_GROUP:
        return None
    ranked = sorted(values)

    def at(fraction: float) -> float:
        position = (count - 1) * fraction
        low = int(position)
        high = min(low + 1, count - 1)
        return ranked[low] + (ranked[high] - ranked[low]) * (position - low)

    return Stats(
        count=count,
        minimum=ranked[0],
        q1=at(0.25),
        median=at(0.5),
        q3=at(0.75),
        maximum=ranked[-1],
        mean=math.fsum(ranked) / count,
    )


@dataclass(frozen=True)
class Group:
    label: str
    stats: Stats


@dataclass(frozen=True)
class Breakdown:
    groups: list[Group]
    hidden: int  # organisations left out: in groups still too small once merged


def breakdown(values_by_group: dict[str, list[float]]) -> Breakdown:
    """Groups of at least MIN_GROUP organisations; the smaller ones merged into « Autres »,
    itself hidden when still under the floor."""
    groups, others = [], []
    for label in sorted(values_by_group):
        values = values_by_group[label]
        if len(values) >= MIN_GROUP:
            groups.append(Group(label, stats(values)))
        else:
            others += values
    hidden = 0
    if others:
        merged = stats(others)
        if merged is None:
            hidden = len(others)
        else:
            groups.append(Group(OTHERS, merged))
    return Breakdown(groups=groups, hidden=hidden)


def size_class(sector: str, beds: int | None, places: int | None) -> str:
    if sector == Sector.MEDICO_SOCIAL:
        if places is None:
            return UNKNOWN_SIZE
        for limit, label in PLACE_CLASSES:
            if places < limit:
                return label
        return PLACE_TOP
    if beds is None:
        return UNKNOWN_SIZE
    for limit, label in BED_CLASSES:
        if beds < limit:
            return label
    return BED_TOP


@dataclass
class ThemeStats:
    name: str
    stats: Stats | None
    own: float | None = None


@dataclass
class Distribution:
    count: int
    overall: Stats | None
    themes: list[ThemeStats]
    by_category: Breakdown | None
    by_size: Breakdown | None
    own_score: float | None = None
    own_quartile: int | None = None
    own_name: str = ""
    extra: dict = field(default_factory=dict)


class ThemeScore(Func):
    """A theme's stored score as a float, with one JSON lookup per row (the ORM's key transform
    parses the JSON three times on SQLite; a national page reads 40,000 rows × 8 themes)."""

    output_field = FloatField()

    def __init__(self, urn: str):
        self.urn = urn
        super().__init__(F("theme_scores"))

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL
        sql, params = compiler.compile(self.source_expressions[0])
        return f"CAST(({sql} ->> %s) AS double precision)", [*params, self.urn]

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"CAST(JSON_EXTRACT({sql}, %s) AS REAL)", [*params, "$." + json.dumps(self.urn)]


def completed_scores(scope: Q, questionnaire: Questionnaire, theme_nodes) -> list[tuple]:
    """The latest completed assessment per organisation of the scope, as rows (organisation id,
    completed at, score, category id, sector, beds, places, theme score…), scores as floats.
    One query over the stored scores, never the answers; read through the cursor, without the
    ORM's per-value converters (a national page reads 40,000 rows)."""
    columns = {f"t{index}": ThemeScore(node.urn) for index, node in enumerate(theme_nodes)}
    queryset = (
        Assessment.objects.filter(
            in_scope(scope),
            questionnaire=questionnaire,
            status=AssessmentStatus.COMPLETED,
            score__isnull=False,
        )
        .annotate(
            score_value=Cast("score", FloatField()),
            completed_text=Cast("completed_at", CharField()),
            **columns,
        )
        .values_list(
            "organisation_id",
            "completed_text",
            "score_value",
            "organisation__category_id",
            "organisation__sector",
            "organisation__beds",
            "organisation__places",
            *columns,
        )
        .order_by()
    )
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # Several completed assessments of one version: the latest (completion times as ISO text,
    # which compares in time order and spares a datetime conversion per row).
    latest: dict[int, tuple] = {}
    for row in rows:
        current = latest.get(row[0])
        if current is None or row[1] > current[1]:
            latest[row[0]] = row
    return list(latest.values()) if len(latest) != len(rows) else rows


THEMES_AT = 7  # index of the first theme score in a row of `completed_scores`


def distribution(scope: Q, questionnaire: Questionnaire, *, own_organisations=()) -> Distribution:
    """Anonymised figures of the completed assessments of one questionnaire version."""
    theme_nodes = themes(questionnaire)
    rows = completed_scores(scope, questionnaire, theme_nodes)
    overall = stats([row[2] for row in rows])
    result = Distribution(
        count=len(rows), overall=overall, themes=[], by_category=None, by_size=None
    )
    if overall is None:
        return result
    for index, node in enumerate(theme_nodes):
        column = THEMES_AT + index
        values = [row[column] for row in rows if row[column] is not None]
        result.themes.append(ThemeStats(name=node.name or node.ref_id, stats=stats(values)))
    labels = dict(
        FinessCategory.objects.filter(pk__in={row[3] for row in rows if row[3]}).values_list(
            "pk", "label"
        )
    )
    by_category: dict[str, list[float]] = {}
    by_size: dict[str, list[float]] = {}
    unknown = "Catégorie non renseignée"
    for row in rows:
        by_category.setdefault(labels.get(row[3], unknown), []).append(row[2])
        by_size.setdefault(size_class(row[4], row[5], row[6]), []).append(row[2])
    result.by_category = breakdown(by_category)
    result.by_size = breakdown(by_size)
    own = set(own_organisations)
    for row in rows if own else ():
        if row[0] in own:
            result.own_score = row[2]
            result.own_quartile = overall.quartile_of(row[2])
            for index, theme in enumerate(result.themes):
                theme.own = row[THEMES_AT + index]
            break
    return result


# --- Organisations to support --------------------------------------------------------------------


@dataclass
class SupportRow:
    organisation_id: int
    name: str
    score: float | None
    reasons: list[str]
    assessment_id: int | None = None
    deadline: datetime.date | None = None
    campaign: str = ""


@dataclass
class Support:
    q1: float | None
    threshold: int
    weak: list[SupportRow]
    late: list[SupportRow]


def to_support(
    scope: Q,
    questionnaire: Questionnaire,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    today: datetime.date | None = None,
) -> Support:
    """Completed assessments in the bottom quartile of the scope or with a theme under the
    threshold; organisations that have not started a campaign's assessment after its deadline.
    Four queries."""
    today = today or timezone.localdate()
    theme_nodes = themes(questionnaire)
    rows = completed_scores(scope, questionnaire, theme_nodes)
    scores = {row[0]: row for row in rows}
    overall = stats([row[2] for row in rows])
    q1 = overall.q1 if overall else None
    flagged: dict[int, tuple[float, list[str]]] = {}
    for row in rows:
        organisation_id, score, theme_scores = row[0], row[2], row[THEMES_AT:]
        reasons = []
        if q1 is not None and score <= q1:
            reasons.append("score global dans le premier quartile")
        for node, value in zip(theme_nodes, theme_scores, strict=True):
            if value is not None and value < threshold:
                reasons.append(f"{node.name or node.ref_id} : {value:.0f}")
        if reasons:
            flagged[organisation_id] = (score, reasons)
    names = dict(
        Organisation.objects.filter(pk__in=list(flagged)).values_list("pk", "name")
        if flagged
        else []
    )
    weak = sorted(
        (
            SupportRow(organisation_id=pk, name=names.get(pk, ""), score=score, reasons=reasons)
            for pk, (score, reasons) in flagged.items()
        ),
        key=lambda row: (row.score, row.name),
    )
    late = [
        SupportRow(
            organisation_id=org,
            name=name,
            score=None,
            reasons=["non commencée après l'échéance"],
            assessment_id=pk,
            deadline=deadline,
            campaign=title,
        )
        for pk, org, name, deadline, title in Assessment.objects.filter(
            in_scope(scope),
            campaign__questionnaire=questionnaire,
            campaign__status=CampaignStatus.OPEN,
            campaign__deadline__lt=today,
            status=AssessmentStatus.DRAFT,
            answered_count=0,
        )
        .values_list(
            "pk", "organisation_id", "organisation__name", "campaign__deadline", "campaign__title"
        )
        .order_by("campaign__deadline", "organisation__name")
        if org not in scores  # completed this version otherwise: not « not started »
    ]
    return Support(q1=q1, threshold=threshold, weak=weak, late=late)


# --- GHT side by side ----------------------------------------------------------------------------


def ght_choices(scope: Q) -> list[Organisation]:
    return list(Organisation.objects.filter(scope, kind=OrgKind.GHT).order_by("name"))


@dataclass
class Member:
    organisation_id: int
    name: str
    status: str
    score: float | None = None
    theme_scores: list[float | None] = field(default_factory=list)
    completed_at: datetime.datetime | None = None
    assessment_id: int | None = None
    shared: bool = False

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def ght_comparison(
    scope: Q, ght: Organisation, questionnaire: Questionnaire, theme_nodes
) -> list[Member]:
    """The GHT's members (within the scope) with their latest completed assessment of the
    version, or where they stand. Two queries."""
    members = {
        pk: Member(organisation_id=pk, name=name, status=NOT_STARTED)
        for pk, name in Organisation.objects.filter(scope)
        .filter(ght=ght, is_active=True)
        .values_list("pk", "name")
        .order_by("name")
    }
    if not members:
        return []
    columns = {f"t{index}": ThemeScore(node.urn) for index, node in enumerate(theme_nodes)}
    for row in (
        Assessment.objects.filter(questionnaire=questionnaire, organisation_id__in=list(members))
        .annotate(**columns)
        .values_list(
            "organisation_id",
            "pk",
            "status",
            "answered_count",
            "score",
            "completed_at",
            "shared_with_region",
            *columns,
        )
        .order_by("completed_at", "pk")
    ):
        member = members[row[0]]
        state = status_of(row[2], row[3])
        if member.status == COMPLETED and state != COMPLETED:
            continue  # a newer draft does not hide the latest completed results
        member.status = state
        member.assessment_id = row[1]
        member.shared = row[6]
        if state == COMPLETED:
            member.score = float(row[4]) if row[4] is not None else None
            member.completed_at = row[5]
            member.theme_scores = list(row[7:])
    for member in members.values():
        if not member.theme_scores:
            member.theme_scores = [None] * len(theme_nodes)
    return list(members.values())


def organiser_queryset(organisers) -> QuerySet:
    """The organisations a campaign may be created in the name of, for the form's choices."""
    return Organisation.objects.filter(pk__in=[o.pk for o in organisers]).order_by("name")


def region_choices() -> list[tuple[int, str]]:
    """Every region, for a national observer's filter."""
    return list(Region.objects.order_by("name").values_list("pk", "name"))
