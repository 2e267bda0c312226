"""Regional incident figures and response times (the ARS's and the CRRC's dashboard).

Who: the holders of VIEW_INCIDENT_STATS — ARS and CRRC operators for their region, national
observers for every region (with a region filter). Figures, never cases: nothing here names a
person or shows a case's content.

Definitions (stated once, used by the page, the CSV export and the API):

* the **period** is a calendar year (default: the current one) or a range of dates, in Paris
  time, inclusive; alerts belong to it by `received_at`, cases by `reported_at` (the first
  alert): the figures follow the cohort of incidents reported in the period, whatever happened
  to them afterwards (a declaration filed in January for a December incident counts for
  December's cohort);
* **test alerts** (the end-to-end check of the on-call chain) are left out everywhere, and so
  are cases opened only from test alerts;
* **alerts received** are the distinct reports; a **duplicate** (a repeated alert linked to an
  earlier one) is counted apart and left out of the other alert figures; **incomplete**:
  saved with an essential field missing (share among the alerts received);
* **organisations concerned**: distinct structures with an alert received or a case reported;
* **response times**, over the alerts or cases that reached the milestone (the others are not
  counted, their number is shown): to acknowledge = received → acknowledged, to qualify =
  received → qualified (alerts); to declare = reported → declaration filed on the CERT Santé
  portal, to resolve = reported → resolved (cases). **Median**: the middle value, the mean of
  the two middle values for an even count; **90th percentile**: nearest rank, the smallest
  value with at least 90 % of the values at or below it (a value actually observed).
* the **organisation type**: ES = sanitaire, ESSMS = médico-social, from the structure's sector
  or, when it is blank, from its FINESS category.

Fixed number of queries whatever the volume: one for the alerts, one for the cases (with their
declaration), each a `values_list` of the few columns needed; medians and percentiles are
computed in Python over those lists (a region has a few hundred incidents a year).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from rempart.organisations.models import Region, Sector

from . import perms
from .models import (
    Alert,
    Case,
    CaseOutcome,
    CaseState,
    DeclarationStatus,
    IncidentType,
)

PARIS = ZoneInfo("Europe/Paris")
NBSP = "\u00a0"
MAX_PERIOD_DAYS = 5 * 366  # five years at most: 60 monthly bars
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
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
ORGANISATION_TYPES = {
    Sector.HEALTH.value: "Établissements de santé (ES)",
    Sector.MEDICO_SOCIAL.value: "Établissements et services médico-sociaux (ESSMS)",
}
UNTYPED = "Type non renseigné"
NO_STATS_ACCESS = (
    "Les chiffres régionaux des incidents sont réservés à l'ARS et au CRRC de la région, et aux "
    "observateurs nationaux. Les dossiers de votre structure se consultent dans « Dossiers "
    "d'incident »."
)


# --- Numbers ------------------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    """The middle value of the sorted list; the mean of the two middle ones for an even count."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], rank: int) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `rank` % of the values at or
    below it."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(math.ceil(rank / 100 * len(ordered)) - 1, 0)
    return ordered[index]


def share(part: int, whole: int) -> float | None:
    """Percentage to one decimal (None when the whole is zero)."""
    if not whole:
        return None
    return round(part * 100 / whole, 1)


def format_duration(seconds: float | None) -> str:
    """« 45 s », « 4 min », « 2 h 15 », « 3 j 4 h » (no-break spaces); « — » when unknown."""
    if seconds is None:
        return "—"
    seconds = max(seconds, 0)
    if seconds < 59.5:
        return f"{round(seconds)}{NBSP}s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}{NBSP}min"
    if minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours}{NBSP}h{NBSP}{rest:02d}" if rest else f"{hours}{NBSP}h"
    days, rest = divmod(minutes, 24 * 60)
    hours = round(rest / 60)
    if hours == 24:
        days, hours = days + 1, 0
    return f"{days}{NBSP}j{NBSP}{hours}{NBSP}h" if hours else f"{days}{NBSP}j"


def format_percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}".replace(".", ",") + f"{NBSP}%"


# --- Scope and filters ----------------------------------------------------------------------------


def regions_in_scope(user) -> list[Region]:
    """The regions whose figures the user sees, by name (every region for a national role)."""
    scope = perms.stats_regions(user)
    regions = Region.objects.order_by("name", "pk")
    if scope is not None:
        regions = regions.filter(pk__in=scope)
    return list(regions)


@dataclass
class Period:
    start: datetime.date  # inclusive
    end: datetime.date  # inclusive
    label: str

    @property
    def start_at(self) -> datetime.datetime:
        return datetime.datetime.combine(self.start, datetime.time.min, tzinfo=PARIS)

    @property
    def end_at(self) -> datetime.datetime:
        """Exclusive: midnight (Paris) after the last day."""
        following = self.end + datetime.timedelta(days=1)
        return datetime.datetime.combine(following, datetime.time.min, tzinfo=PARIS)

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(datetime.date(year, 1, 1), datetime.date(year, 12, 31), f"année {year}")

    @classmethod
    def between(cls, start: datetime.date, end: datetime.date) -> Period:
        return cls(start, end, f"du {start:%d/%m/%Y} au {end:%d/%m/%Y}")


def current_year() -> int:
    return timezone.localdate(timezone=PARIS).year


@dataclass
class Filters:
    regions: list[Region]  # the regions counted (all those in scope, or the one chosen)
    period: Period
    organisation_type: str = ""  # "" | Sector value
    incident_type: str = ""  # "" | IncidentType value

    @property
    def region_label(self) -> str:
        return ", ".join(region.name for region in self.regions) or "aucune région"

    @property
    def organisation_type_label(self) -> str:
        return ORGANISATION_TYPES.get(self.organisation_type, "Toutes les structures")

    @property
    def incident_type_label(self) -> str:
        if not self.incident_type:
            return "Tous les types d'incident"
        return str(IncidentType(self.incident_type).label)


# --- Figures --------------------------------------------------------------------------------------


@dataclass
class Count:
    key: str
    label: str
    count: int


@dataclass
class Month:
    month: datetime.date
    complete: int = 0
    incomplete: int = 0

    @property
    def count(self) -> int:
        return self.complete + self.incomplete

    @property
    def label(self) -> str:
        return f"{MONTHS[self.month.month - 1]} {self.month.year}"

    @property
    def short_label(self) -> str:
        return f"{SHORT_MONTHS[self.month.month - 1]} {self.month:%y}"


@dataclass
class Timing:
    key: str
    label: str
    definition: str
    values: list[float] = field(default_factory=list)  # seconds
    pending: int = 0  # reached the start, not yet the milestone

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float | None:
        return median(self.values)

    @property
    def p90(self) -> float | None:
        return percentile(self.values, 90)

    @property
    def median_label(self) -> str:
        return format_duration(self.median)

    @property
    def p90_label(self) -> str:
        return format_duration(self.p90)

    @property
    def median_minutes(self) -> float | None:
        return None if self.median is None else round(self.median / 60, 1)

    @property
    def p90_minutes(self) -> float | None:
        return None if self.p90 is None else round(self.p90 / 60, 1)


@dataclass
class IncidentFigures:
    filters: Filters
    alerts: int
    duplicates: int
    incomplete: int
    months: list[Month]
    alert_types: list[Count]
    cases: int
    case_states: list[Count]
    case_outcomes: list[Count]
    organisations: int
    declarations_filed: int
    timings: list[Timing]

    @property
    def complete(self) -> int:
        return self.alerts - self.incomplete

    @property
    def incomplete_share(self) -> float | None:
        return share(self.incomplete, self.alerts)

    @property
    def incomplete_share_label(self) -> str:
        return format_percent(self.incomplete_share)

    @property
    def declared_share(self) -> float | None:
        return share(self.declarations_filed, self.cases)


def _organisation_type_q(prefix: str, sector: str) -> Q:
    return Q(**{f"{prefix}__sector": sector}) | (
        Q(**{f"{prefix}__sector": ""}) & Q(**{f"{prefix}__category__sector": sector})
    )


def _months(period: Period) -> list[Month]:
    months, day = [], period.start.replace(day=1)
    while day <= period.end:
        months.append(Month(day))
        day = (day + datetime.timedelta(days=32)).replace(day=1)
    return months


def _seconds(start: datetime.datetime | None, end: datetime.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def incident_figures(filters: Filters) -> IncidentFigures:
    """Every figure of the dashboard, in two queries."""
    period = filters.period
    region_ids = [region.pk for region in filters.regions]

    alerts = Alert.objects.filter(
        is_test=False,
        region_id__in=region_ids,
        received_at__gte=period.start_at,
        received_at__lt=period.end_at,
    )
    test_alert = Alert.objects.filter(case_id=OuterRef("pk"), is_test=True)
    real_alert = Alert.objects.filter(case_id=OuterRef("pk"), is_test=False)
    cases = Case.objects.filter(
        region_id__in=region_ids,
        reported_at__gte=period.start_at,
        reported_at__lt=period.end_at,
    ).filter(~Q(Exists(test_alert)) | Q(Exists(real_alert)))
    if filters.organisation_type:
        alerts = alerts.filter(_organisation_type_q("organisation", filters.organisation_type))
        cases = cases.filter(_organisation_type_q("organisation", filters.organisation_type))
    if filters.incident_type:
        alerts = alerts.filter(incident_type=filters.incident_type)
        cases = cases.filter(incident_type=filters.incident_type)

    months = _months(period)
    by_month = {month.month: month for month in months}
    type_counts = dict.fromkeys(IncidentType.values, 0)
    type_counts[""] = 0
    organisations: set[int] = set()
    received = duplicates = incomplete = 0
    acknowledge = Timing(
        "acknowledge",
        "Prise en compte de l'alerte",
        "de la réception de l'alerte à sa prise en compte par l'astreinte",
    )
    qualify = Timing(
        "qualify", "Qualification de l'alerte", "de la réception de l'alerte à sa qualification"
    )
    for (
        received_at,
        incident_type,
        missing,
        duplicate_of,
        acknowledged_at,
        qualified_at,
        organisation_id,
    ) in alerts.order_by().values_list(
        "received_at",
        "incident_type",
        "missing_fields",
        "duplicate_of_id",
        "acknowledged_at",
        "qualified_at",
        "organisation_id",
    ):
        organisations.add(organisation_id)
        if duplicate_of is not None:
            duplicates += 1
            continue
        received += 1
        local = timezone.localtime(received_at, PARIS).date().replace(day=1)
        month = by_month.get(local)
        if missing:
            incomplete += 1
        if month is not None:
            if missing:
                month.incomplete += 1
            else:
                month.complete += 1
        type_counts[incident_type if incident_type in type_counts else ""] += 1
        for timing, reached in ((acknowledge, acknowledged_at), (qualify, qualified_at)):
            seconds = _seconds(received_at, reached)
            if seconds is None:
                timing.pending += 1
            else:
                timing.values.append(seconds)

    declare = Timing(
        "declare",
        "Déclaration à CERT Santé",
        "du signalement de l'incident au dépôt de la déclaration sur le portail",
    )
    resolve = Timing(
        "resolve", "Résolution de l'incident", "du signalement de l'incident à sa résolution"
    )
    states = dict.fromkeys(CaseState.values, 0)
    outcomes = dict.fromkeys(CaseOutcome.values, 0)
    case_count = filed = 0
    for (
        state,
        outcome,
        organisation_id,
        reported_at,
        resolved_at,
        declaration_status,
        filed_at,
    ) in cases.order_by().values_list(
        "state",
        "outcome",
        "organisation_id",
        "reported_at",
        "resolved_at",
        "declaration__status",
        "declaration__filed_at",
    ):
        case_count += 1
        organisations.add(organisation_id)
        states[state] = states.get(state, 0) + 1
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        is_filed = declaration_status == DeclarationStatus.FILED
        filed += is_filed
        for timing, reached in (
            (declare, filed_at if is_filed else None),
            (resolve, resolved_at),
        ):
            seconds = _seconds(reported_at, reached)
            if seconds is None:
                timing.pending += 1
            else:
                timing.values.append(seconds)

    return IncidentFigures(
        filters=filters,
        alerts=received,
        duplicates=duplicates,
        incomplete=incomplete,
        months=months,
        alert_types=[
            Count(value, str(label), type_counts[value]) for value, label in IncidentType.choices
        ]
        + ([Count("", UNTYPED, type_counts[""])] if type_counts[""] else []),
        cases=case_count,
        case_states=[Count(v, str(label), states.get(v, 0)) for v, label in CaseState.choices],
        case_outcomes=[
            Count(v, str(label), outcomes.get(v, 0)) for v, label in CaseOutcome.choices
        ],
        organisations=len(organisations),
        declarations_filed=filed,
        timings=[acknowledge, qualify, declare, resolve],
    )
