"""Results of simulated-phishing campaigns: who may see what, and the figures.

Who sees what (`results_access`):
* the target establishment's managers (RUN_PHISHING on it) see the figures; in pseudonymous
  mode, and until the identities are erased, the per-recipient rows too;
* the CRRC that runs a delegated campaign sees the figures; the rows only when the campaign is
  pseudonymous, the mandate's visibility is `pseudonymous` and the mandate is not revoked;
* nobody else sees the campaign (404). The ARS and the CRRC have the regional page instead
  (`regional_region_ids`): rates across the region's finished campaigns, per establishment
  category, never an organisation alone.

The figures:
* cumulative funnel sent → opened → clicked → submitted, counted in distinct recipients (a
  person who clicked counts as having opened, even when the pixel was blocked), reported
  apart, reported without clicking, time to the first report; each RAW (every event) and
  FILTERED (events flagged `suspected_bot` left out: a scanner's click is not a click);
* per department, where no group of fewer than `MIN_GROUP` people is ever shown alone
  (`protect_small_groups`: merged into « Autres services », topped up so the merged row cannot
  be recovered by subtraction from the total either);
* over time (Europe/Paris days, or hours for a short campaign);
* compared with the other establishments of the region (finished campaigns, only when at least
  `MIN_GROUP` organisations contribute).

One grouped query does the funnel of every department at once (the events are first reduced
to one row per recipient), so the cost does not depend on Python loops over 20,000 people.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Exists, F, Min, OuterRef, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from rempart.core.roles import ROLES, Capability, OrgKind, Role, Scope
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation, Region

from . import perms
from .models import (
    Campaign,
    CampaignMode,
    CampaignRecipient,
    CampaignStatus,
    EventKind,
    MandateVisibility,
    PrivacyMode,
    SendStatus,
    TrackingEvent,
)

MIN_GROUP = 5  # no group of fewer people (or organisations) is ever shown alone
OTHERS_LABEL = "Autres services (moins de 5 personnes)"
OTHERS_CATEGORIES_LABEL = "Autres catégories (moins de 5 structures)"
OTHERS_KEY = "__autres__"
NO_DEPARTMENT_KEY = "__aucun__"  # the filter's value for people without a department
NO_DEPARTMENT = "Service non renseigné"
NO_CATEGORY = "Catégorie non renseignée"
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
HOURLY_UP_TO = datetime.timedelta(hours=48)  # shorter activity: hourly buckets, else daily

NO_ROWS = (
    "Vous voyez les résultats agrégés de cette campagne, pas le détail par destinataire : "
    "il n'existe qu'en mode pseudonyme, jusqu'à l'effacement des identités, pour la direction, "
    "le RSSI et le DSI de l'établissement ciblé, et pour le CRRC si le mandat le prévoit."
)
NO_REGIONAL = (
    "Les chiffres régionaux de l'hameçonnage simulé sont réservés à l'ARS et au CRRC de la région."
)

AGGREGATES, ROWS = "aggregates", "rows"


# --- Who sees what --------------------------------------------------------------------------------


def visible_campaign(user, pk) -> Campaign:
    """The campaign if the user may see it; 404 otherwise (its existence is not disclosed)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError) as exc:
        raise Http404("Campagne introuvable.") from exc
    campaign = (
        Campaign.objects.filter(perms.campaign_q(user), pk=pk)
        .select_related("organisation", "operator", "mandate")
        .first()
    )
    if campaign is None:
        raise Http404("Campagne introuvable.")
    return campaign


def results_access(user, campaign: Campaign) -> str:
    """AGGREGATES or ROWS for a campaign obtained through `visible_campaign`."""
    rows_exist = (
        campaign.privacy_mode == PrivacyMode.PSEUDONYMOUS and campaign.identities_erased_at is None
    )
    if perms.can_run_for(user, campaign.organisation):
        return ROWS if rows_exist else AGGREGATES
    if campaign.mode == CampaignMode.DELEGATED and campaign.operator_id in perms.crrc_ids(user):
        mandate = campaign.mandate
        if (
            rows_exist
            and mandate is not None
            and mandate.revoked_at is None
            and mandate.visibility == MandateVisibility.PSEUDONYMOUS
        ):
            return ROWS
        return AGGREGATES
    raise Http404("Campagne introuvable.")  # (not reached through visible_campaign)


def require_rows(access: str) -> None:
    if access != ROWS:
        raise PermissionDenied(NO_ROWS)


def regional_region_ids(user) -> set[int] | None:
    """Regions whose phishing figures the user sees: the ARS's and the CRRC's (region-wide
    VIEW_AWARENESS held in an ARS or a CRRC), every region for a national role (None)."""
    regions: set[int] = set()
    for membership in org_perms.active_memberships(user):
        spec = ROLES[Role(membership.role)]
        if Capability.VIEW_AWARENESS not in spec.capabilities:
            continue
        if spec.scope == Scope.NATIONAL:
            return None
        if (
            spec.scope == Scope.REGION
            and membership.organisation.kind in (OrgKind.ARS, OrgKind.CRRC)
            and membership.organisation.region_id
        ):
            regions.add(membership.organisation.region_id)
    return regions


def can_view_regional(user) -> bool:
    regions = regional_region_ids(user)
    return regions is None or bool(regions)


def regional_regions(user) -> list[Region]:
    regions = regional_region_ids(user)
    if regions is not None and not regions:
        raise PermissionDenied(NO_REGIONAL)
    found = Region.objects.order_by("name")
    return list(found if regions is None else found.filter(pk__in=regions))


# --- Figures --------------------------------------------------------------------------------------


def percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(100) * part / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def rate_label(value: Decimal | None) -> str:
    """« 12,5 % » (« — » when nothing was sent)."""
    return "—" if value is None else f"{value} %".replace(".", ",")


RATE_STEPS = ("opened", "clicked", "submitted", "reported", "reported_without_click")


@dataclass
class Funnel:
    """Distinct recipients at each step (cumulative), and the reports."""

    recipients: int = 0
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    submitted: int = 0
    reported: int = 0
    reported_without_click: int = 0

    def add(self, other: Funnel) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def opened_rate(self):
        return percent(self.opened, self.sent)

    @property
    def clicked_rate(self):
        return percent(self.clicked, self.sent)

    @property
    def submitted_rate(self):
        return percent(self.submitted, self.sent)

    @property
    def reported_rate(self):
        return percent(self.reported, self.sent)

    @property
    def reported_without_click_rate(self):
        return percent(self.reported_without_click, self.sent)


STEPS = (
    ("sent", "Envoyés"),
    ("opened", "Ouverts"),
    ("clicked", "Cliqués"),
    ("submitted", "Formulaires soumis"),
    ("reported", "Signalés"),
    ("reported_without_click", "Signalés sans avoir cliqué"),
)


@dataclass
class Row:
    """A line of a breakdown: raw and filtered funnels of a group of recipients."""

    key: str
    label: str
    raw: Funnel = field(default_factory=Funnel)
    filtered: Funnel = field(default_factory=Funnel)
    organisations: int = 0  # regional breakdowns: how many organisations the line covers
    members: list[str] = field(default_factory=list)  # keys merged into an « others » line

    @property
    def size(self) -> int:
        return self.raw.recipients

    def add(self, other: Row) -> None:
        self.raw.add(other.raw)
        self.filtered.add(other.filtered)
        self.organisations += other.organisations

    @property
    def rate_cells(self) -> list[str]:
        """« raw rate (rate without bots) » for each step, formatted once in Python (a table
        of 40 departments would otherwise cost hundreds of template includes)."""
        return [
            f"{rate_label(getattr(self.raw, f'{name}_rate'))} "
            f"({rate_label(getattr(self.filtered, f'{name}_rate'))})"
            for name in RATE_STEPS
        ]


def _stage_case(column: str = "kind") -> str:
    return (
        f"CASE {column} WHEN 'opened' THEN 1 WHEN 'clicked' THEN 2 "
        f"WHEN 'submitted' THEN 3 ELSE 0 END"
    )


def _people_sql(campaign_filter: str, group_column: str) -> str:
    """One line per group: recipients, messages sent, first sending."""
    return f"""
        SELECT {group_column}, COUNT(*),
               SUM(CASE WHEN r.send_status = '{SendStatus.SENT.value}' THEN 1 ELSE 0 END),
               MIN(r.sent_at)
        FROM {CampaignRecipient._meta.db_table} r
        WHERE r.campaign_id {campaign_filter}
        GROUP BY {group_column}
    """  # noqa: S608 - constants and parameters only


def _events_sql(campaign_filter: str, group_column: str) -> str:
    """One line per group: for raw then filtered events, the people (whose message was sent)
    who reached each step — cumulative: their furthest step counts for the ones before — and
    who reported, with or without clicking; the first reports. The events are reduced to one
    row per recipient first (read in recipient order from the covering index, no sort), then
    joined to their recipient by primary key: people without events need no lookup."""
    if connection.vendor == "postgresql":
        return _events_sql_bits(campaign_filter, group_column)
    stage = _stage_case()

    def reached(column: str) -> str:
        return ", ".join(
            f"SUM(CASE WHEN e.{column} >= {step} THEN 1 ELSE 0 END)" for step in (1, 2, 3)
        )

    def reported(flag: str, stage_column: str) -> str:
        return (
            f"SUM(e.{flag}), SUM(CASE WHEN e.{flag} = 1 AND e.{stage_column} < 2 THEN 1 ELSE 0 END)"
        )

    return f"""
        SELECT {group_column},
               {reached("stage_raw")}, {reported("reported_raw", "stage_raw")},
               {reached("stage_human")}, {reported("reported_human", "stage_human")},
               MIN(e.first_report_raw), MIN(e.first_report_human)
        FROM (
            SELECT recipient_id,
                   MAX({stage}) AS stage_raw,
                   MAX(CASE WHEN suspected_bot THEN 0 ELSE {stage} END) AS stage_human,
                   MAX(CASE WHEN kind = 'reported' THEN 1 ELSE 0 END) AS reported_raw,
                   MAX(CASE WHEN kind = 'reported' AND NOT suspected_bot THEN 1 ELSE 0 END)
                       AS reported_human,
                   MIN(CASE WHEN kind = 'reported' THEN at END) AS first_report_raw,
                   MIN(CASE WHEN kind = 'reported' AND NOT suspected_bot THEN at END)
                       AS first_report_human
            FROM {TrackingEvent._meta.db_table}
            WHERE campaign_id {campaign_filter}
            GROUP BY recipient_id
        ) e
        JOIN {CampaignRecipient._meta.db_table} r ON r.id = e.recipient_id
        WHERE r.send_status = '{SendStatus.SENT.value}' AND r.campaign_id {campaign_filter}
        GROUP BY {group_column}
    """  # noqa: S608 - constants and parameters only


# PostgreSQL: one `bit_or` per recipient instead of four MAX — bits 0-3: opened, clicked,
# submitted, reported (every event); bits 4-7: the same without the events of scanners. A
# step sets the bits of the steps before it (a click is an open).
_STEP_BITS = {"opened": 1, "clicked": 3, "submitted": 7, "reported": 8}


def _events_sql_bits(campaign_filter: str, group_column: str) -> str:
    """`_events_sql` for PostgreSQL (same columns): a fifth less work on 100,000 events."""
    bits = " ".join(f"WHEN '{kind}' THEN {value}" for kind, value in _STEP_BITS.items())

    def flags(shift: int) -> str:
        return (
            f"SUM((e.m >> {shift}) & 1), SUM((e.m >> {shift + 1}) & 1), "
            f"SUM((e.m >> {shift + 2}) & 1), SUM((e.m >> {shift + 3}) & 1), "
            f"SUM(CASE WHEN (e.m >> {shift}) & 10 = 8 THEN 1 ELSE 0 END)"
        )

    return f"""
        SELECT {group_column}, {flags(0)}, {flags(4)},
               MIN(e.first_report_raw), MIN(e.first_report_human)
        FROM (
            SELECT recipient_id,
                   bit_or(
                       (CASE kind {bits} ELSE 0 END)
                       * (CASE WHEN suspected_bot THEN 1 ELSE 17 END)
                   ) AS m,
                   MIN(at) FILTER (WHERE kind = 'reported') AS first_report_raw,
                   MIN(at) FILTER (WHERE kind = 'reported' AND NOT suspected_bot)
                       AS first_report_human
            FROM {TrackingEvent._meta.db_table}
            WHERE campaign_id {campaign_filter}
            GROUP BY recipient_id
        ) e
        JOIN {CampaignRecipient._meta.db_table} r ON r.id = e.recipient_id
        WHERE r.send_status = '{SendStatus.SENT.value}' AND r.campaign_id {campaign_filter}
        GROUP BY {group_column}
    """  # noqa: S608 - model tables and constants only, values as parameters


def _moment(value) -> datetime.datetime | None:
    """A datetime read by raw SQL (SQLite returns the text it stores, in UTC)."""
    if value is None or isinstance(value, datetime.datetime):
        return value
    parsed = parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


@dataclass
class GroupFigures:
    key: object
    raw: Funnel
    filtered: Funnel
    first_sent: datetime.datetime | None
    first_report_raw: datetime.datetime | None
    first_report_filtered: datetime.datetime | None


def _grouped_funnels(campaigns: list[int] | int, group_column: str) -> list[GroupFigures]:
    """The funnels of one campaign (its id: `= %s` lets the database read the events in
    recipient order from the covering index, no sort) or of a list of campaigns (their ids
    as constants: the planner then reads only their events)."""
    if isinstance(campaigns, int):
        campaign_filter, campaign_params = "= %s", [campaigns]
    elif not campaigns:
        return []
    else:
        campaign_filter = f"IN ({', '.join(['%s'] * len(campaigns))})"
        campaign_params = list(campaigns)
    with connection.cursor() as cursor:
        cursor.execute(_people_sql(campaign_filter, group_column), campaign_params)
        people = cursor.fetchall()
        cursor.execute(
            _events_sql(campaign_filter, group_column), [*campaign_params, *campaign_params]
        )
        events = {line[0]: line[1:] for line in cursor.fetchall()}
    found = []
    for key, recipients, sent, first_sent in people:
        line = events.get(key) or (0,) * 10 + (None, None)
        numbers = [int(value or 0) for value in line[:10]]
        found.append(
            GroupFigures(
                key=key,
                raw=Funnel(int(recipients), int(sent or 0), *numbers[0:5]),
                filtered=Funnel(int(recipients), int(sent or 0), *numbers[5:10]),
                first_sent=_moment(first_sent),
                first_report_raw=_moment(line[10]),
                first_report_filtered=_moment(line[11]),
            )
        )
    return found


def protect_small_groups(
    rows: list[Row], *, size, others_key: str, others_label: str, minimum: int = MIN_GROUP
) -> tuple[list[Row], Row | None, bool]:
    """Rows of at least `minimum` (by `size(row)`) shown alone, the others merged into one line.

    The merged line is shown next to the total, so it must itself hold at least `minimum`:
    otherwise the total minus the visible lines would give away the small group. When it is
    too small, the smallest visible lines join it until it is large enough. Returns (visible
    lines, merged line or None, whether visible lines were added to the merged one). When even
    everything together is below `minimum`, nothing is shown: ([], None, False)."""
    if sum(size(row) for row in rows) < minimum:
        return [], None, False
    kept = sorted((r for r in rows if size(r) >= minimum), key=lambda r: (-size(r), r.label))
    small = [r for r in rows if size(r) < minimum]
    if not small:
        return kept, None, False
    merged = Row(others_key, others_label)
    for row in small:
        merged.add(row)
        merged.members.append(row.key)
    topped_up = False
    while size(merged) < minimum and kept:
        row = kept.pop()  # the smallest visible line
        merged.add(row)
        merged.members.append(row.key)
        topped_up = True
    return kept, merged, topped_up


@dataclass
class TimeBucket:
    label: str
    short_label: str
    raw: dict[str, int]
    filtered: dict[str, int]


@dataclass
class Timeline:
    hourly: bool
    buckets: list[TimeBucket]
    truncated: bool = False


MAX_BUCKETS = 120


def _timeline(campaign: Campaign) -> Timeline:
    """Events per Europe/Paris day (hour when the activity spans 48 hours or less), raw and
    without bots.

    Python cuts the period into buckets (Paris midnights, DST included, turned into UTC
    bounds); the database counts each bucket × kind × bot flag as a range of the index
    (campaign, kind, suspected_bot, at): no sort of the events, whatever their number."""
    combos = [(kind, bot) for kind in EventKind.values for bot in (False, True)]
    # The first and last events: one seek of the index per kind and flag (a MIN and a MAX
    # over the whole campaign would read all its events).
    event = TrackingEvent._meta.db_table
    edges = ", ".join(
        f"(SELECT {function}(at) FROM {event} WHERE campaign_id = %s AND kind = '{kind}' "  # noqa: S608
        f"AND suspected_bot = {'TRUE' if bot else 'FALSE'})"
        for kind, bot in combos
        for function in ("MIN", "MAX")
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {edges}", [campaign.pk] * (2 * len(combos)))
        found = cursor.fetchone()
    firsts = [_moment(v) for v in found[0::2] if v is not None]
    lasts = [_moment(v) for v in found[1::2] if v is not None]
    if not firsts:
        return Timeline(hourly=False, buckets=[])
    first, last = min(firsts).astimezone(datetime.UTC), max(lasts).astimezone(datetime.UTC)
    hourly = last - first <= HOURLY_UP_TO
    bounds: list[datetime.datetime] = []
    labels: list[tuple[str, str]] = []
    if hourly:  # an hour in UTC is exactly one hour in Paris
        cursor = first.replace(minute=0, second=0, microsecond=0)
        while cursor <= last:
            local = cursor.astimezone(PARIS)
            bounds.append(cursor)
            labels.append((f"{local:%d/%m/%Y %H}h", f"{local:%H}h"))
            cursor += datetime.timedelta(hours=1)
        bounds.append(cursor)
    else:
        day, last_day = first.astimezone(PARIS).date(), last.astimezone(PARIS).date()
        while day <= last_day + datetime.timedelta(days=1):
            bounds.append(
                datetime.datetime.combine(day, datetime.time(0), tzinfo=PARIS).astimezone(
                    datetime.UTC
                )
            )
            labels.append((f"{day:%d/%m/%Y}", f"{day:%d/%m}"))
            day += datetime.timedelta(days=1)
        labels.pop()  # (the last bound closes the last day)
    truncated = len(labels) > MAX_BUCKETS
    labels = labels[:MAX_BUCKETS]
    bounds = bounds[: len(labels) + 1]
    counted = _bucket_counts(campaign, bounds, combos)
    buckets = []
    for index, (label, short) in enumerate(labels):
        numbers = counted.get(index, [0] * len(combos))
        raw = dict.fromkeys(EventKind.values, 0)
        filtered = dict.fromkeys(EventKind.values, 0)
        for (kind, bot), n in zip(combos, numbers, strict=True):
            raw[kind] += int(n or 0)
            if not bot:
                filtered[kind] += int(n or 0)
        buckets.append(TimeBucket(label, short, raw, filtered))
    return Timeline(hourly=hourly, buckets=buckets, truncated=truncated)


def _bucket_counts(campaign: Campaign, bounds: list[datetime.datetime], combos) -> dict:
    """{bucket index: [events per (kind, bot flag) of `combos`]} for the buckets between
    consecutive `bounds`: each bucket × kind × flag is counted as a range of the index
    (campaign, kind, suspected_bot, at), read without visiting the table — no sort nor hash
    of the events (a GROUP BY over the campaign's 100,000 events costs several times more
    on SQLite and on a vacuumed PostgreSQL)."""
    event = TrackingEvent._meta.db_table
    counted: dict[int, list[int]] = {}
    columns = ", ".join(
        f"(SELECT COUNT(*) FROM {event} WHERE campaign_id = %s AND kind = '{kind}' "  # noqa: S608 - constants and parameters only
        f"AND suspected_bot = {'TRUE' if bot else 'FALSE'} AND at >= b.lo AND at < b.hi)"
        for kind, bot in combos
    )
    values = ", ".join(["(%s, %s, %s)"] * (len(bounds) - 1))
    adapt = connection.ops.adapt_datetimefield_value
    params: list = []
    for index in range(len(bounds) - 1):
        params += [index, adapt(bounds[index]), adapt(bounds[index + 1])]
    params += [campaign.pk] * len(combos)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH b(i, lo, hi) AS (VALUES {values}) SELECT b.i, {columns} FROM b ORDER BY b.i",  # noqa: S608 - constants and parameters only
            params,
        )
        for line in cursor.fetchall():
            counted[line[0]] = [int(n or 0) for n in line[1:]]
    return counted


@dataclass
class RegionComparison:
    """The region's pooled rates. Campaigns enter the pool by cohorts of at least MIN_GROUP
    organisations, in the order they finished: two views of the comparison, before and after
    any campaign closes, differ by whole cohorts, so no organisation's rates can be recovered
    by subtraction. The latest campaigns wait (`waiting`) until their cohort is complete."""

    organisations: int  # distinct organisations whose campaigns are pooled
    campaigns: int  # campaigns pooled
    raw: Funnel | None = None
    filtered: Funnel | None = None
    finished: int = 0  # distinct other organisations with a finished campaign (pooled or not)
    waiting: int = 0  # organisations of the latest campaigns, held back for the next cohort

    @property
    def available(self) -> bool:
        return self.raw is not None


def _other_campaigns_of_region(campaign: Campaign) -> QuerySet[Campaign]:
    region_id = campaign.organisation.region_id
    if region_id is None:
        return Campaign.objects.none()
    return Campaign.objects.filter(
        status=CampaignStatus.DONE, organisation__region_id=region_id
    ).exclude(organisation_id=campaign.organisation_id)


def pooled_cohorts(campaigns: list[tuple[int, int]]) -> tuple[list[int], set[int]]:
    """(campaign ids pooled, organisations waiting) from (campaign id, organisation id) in the
    order the campaigns finished: consecutive cohorts of at least MIN_GROUP organisations."""
    pooled: list[int] = []
    cohort: list[int] = []
    cohort_organisations: set[int] = set()
    for pk, organisation_id in campaigns:
        cohort.append(pk)
        cohort_organisations.add(organisation_id)
        if len(cohort_organisations) >= MIN_GROUP:
            pooled += cohort
            cohort, cohort_organisations = [], set()
    return pooled, cohort_organisations


def region_comparison(campaign: Campaign) -> RegionComparison:
    """The same rates pooled over the finished campaigns of the region's other organisations,
    by complete cohorts of MIN_GROUP organisations (see RegionComparison)."""
    others = list(
        _other_campaigns_of_region(campaign)
        .order_by(F("closed_at").asc(nulls_first=True), "pk")
        .values_list("pk", "organisation_id")
    )
    pooled, waiting = pooled_cohorts(others)
    pooled_set = set(pooled)
    comparison = RegionComparison(
        organisations=len({org for pk, org in others if pk in pooled_set}),
        campaigns=len(pooled),
        finished=len({org for _pk, org in others}),
        waiting=len(waiting),
    )
    if not pooled:
        return comparison
    raw, filtered = Funnel(), Funnel()
    for group in _grouped_funnels(pooled, "r.campaign_id"):
        raw.add(group.raw)
        filtered.add(group.filtered)
    comparison.raw, comparison.filtered = raw, filtered
    return comparison


@dataclass
class CampaignResults:
    campaign: Campaign
    raw: Funnel
    filtered: Funnel
    departments: list[Row]
    others: Row | None
    others_topped_up: bool
    departments_hidden: bool
    first_sent: datetime.datetime | None
    first_report_raw: datetime.datetime | None
    first_report_filtered: datetime.datetime | None
    timeline: Timeline
    region: RegionComparison

    @property
    def started(self) -> bool:
        return self.raw.recipients > 0

    @staticmethod
    def _delay(start, end) -> datetime.timedelta | None:
        if start is None or end is None:
            return None
        return max(end - start, datetime.timedelta(0))

    @property
    def time_to_first_report(self):
        return self._delay(self.first_sent, self.first_report_raw)

    @property
    def time_to_first_report_filtered(self):
        return self._delay(self.first_sent, self.first_report_filtered)

    @property
    def funnel_lines(self) -> list[tuple[str, int, str, int, str]]:
        """(step, raw count, raw rate, count without bots, rate without bots)."""
        lines = [("Destinataires", self.raw.recipients, "", self.filtered.recipients, "")]
        for name, label in STEPS:
            rate = name != "sent"
            lines.append(
                (
                    label,
                    getattr(self.raw, name),
                    rate_label(getattr(self.raw, f"{name}_rate")) if rate else "",
                    getattr(self.filtered, name),
                    rate_label(getattr(self.filtered, f"{name}_rate")) if rate else "",
                )
            )
        return lines

    @property
    def region_lines(self) -> list[tuple[str, str, str]]:
        """(step, this campaign, the region): rates without bots (all data)."""
        region = self.region
        if not region.available:
            return []
        lines = []
        for name, label in STEPS[1:]:
            attr = f"{name}_rate"
            lines.append(
                (
                    label,
                    f"{rate_label(getattr(self.filtered, attr))} "
                    f"({rate_label(getattr(self.raw, attr))})",
                    f"{rate_label(getattr(region.filtered, attr))} "
                    f"({rate_label(getattr(region.raw, attr))})",
                )
            )
        return lines

    @property
    def time_to_first_report_label(self) -> str:
        return delay_label(self.time_to_first_report)

    @property
    def time_to_first_report_filtered_label(self) -> str:
        return delay_label(self.time_to_first_report_filtered)

    def department_filter_choices(self) -> list[tuple[str, str]]:
        """What the per-recipient table may be filtered by: the visible departments and the
        merged line (never a small department alone)."""
        choices = [(row.key, row.label) for row in self.departments]
        if self.others is not None:
            choices.append((OTHERS_KEY, self.others.label))
        return choices

    def departments_for(self, key: str) -> list[str] | None:
        """The department values behind a filter choice (None: not a valid choice)."""
        for row in self.departments:
            if row.key == key:
                return [_department_value(row.key)]
        if key == OTHERS_KEY and self.others is not None:
            return [_department_value(key) for key in self.others.members]
        return None


@dataclass
class DepartmentGroups:
    """The department lines as shown (small ones merged), without the funnels: what the
    per-recipient table may be filtered by (one cheap query, for the HTMX pages)."""

    departments: list[Row]
    others: Row | None

    department_filter_choices = CampaignResults.department_filter_choices
    departments_for = CampaignResults.departments_for


def department_groups(campaign: Campaign) -> DepartmentGroups:
    with connection.cursor() as cursor:
        cursor.execute(_people_sql("= %s", "r.department"), [campaign.pk])
        sizes = cursor.fetchall()
    rows = [
        Row(
            key or NO_DEPARTMENT_KEY,
            department_label(key or ""),
            Funnel(recipients=int(n), sent=int(sent or 0)),
        )
        for key, n, sent, _first in sizes
    ]
    visible, others, _topped = protect_small_groups(
        rows, size=lambda r: r.size, others_key=OTHERS_KEY, others_label=OTHERS_LABEL
    )
    return DepartmentGroups(visible, others)


def delay_label(delta: datetime.timedelta | None) -> str:
    """« 3 j 4 h », « 2 h 05 min », « 12 min », « moins d'une minute »."""
    if delta is None:
        return "aucun signalement"
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "moins d'une minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def _department_value(key: str) -> str:
    return "" if key == NO_DEPARTMENT_KEY else key


def department_label(value: str) -> str:
    return value or NO_DEPARTMENT


def campaign_results(
    campaign: Campaign, *, with_region: bool = True, with_timeline: bool = True
) -> CampaignResults:
    groups = _grouped_funnels(campaign.pk, "r.department")
    raw, filtered = Funnel(), Funnel()
    rows = []
    for group in groups:
        raw.add(group.raw)
        filtered.add(group.filtered)
        rows.append(
            Row(
                group.key or NO_DEPARTMENT_KEY,
                department_label(group.key or ""),
                group.raw,
                group.filtered,
            )
        )
    visible, others, topped_up = protect_small_groups(
        rows, size=lambda r: r.size, others_key=OTHERS_KEY, others_label=OTHERS_LABEL
    )

    def earliest(values):
        values = [v for v in values if v is not None]
        return min(values) if values else None

    return CampaignResults(
        campaign=campaign,
        raw=raw,
        filtered=filtered,
        departments=visible,
        others=others,
        others_topped_up=topped_up,
        departments_hidden=bool(rows) and not visible and others is None,
        first_sent=earliest(g.first_sent for g in groups),
        first_report_raw=earliest(g.first_report_raw for g in groups),
        first_report_filtered=earliest(g.first_report_filtered for g in groups),
        timeline=_timeline(campaign) if with_timeline else Timeline(hourly=False, buckets=[]),
        region=region_comparison(campaign) if with_region else RegionComparison(0, 0),
    )


# --- Per-recipient rows (pseudonymous mode, ROWS access only) -----------------------------------

STATUS_FILTERS = (
    ("", "Tous"),
    ("not_sent", "Pas encore envoyé ou en échec"),
    ("no_action", "Envoyé, aucune action"),
    ("opened", "A ouvert (hors robots)"),
    ("clicked", "A cliqué (hors robots)"),
    ("submitted", "A soumis le formulaire (hors robots)"),
    ("reported", "A signalé"),
    ("reported_without_click", "A signalé sans cliquer"),
    ("bot", "Événement attribué à un robot"),
)
STATUS_KEYS = {key for key, _label in STATUS_FILTERS}


def _human_events(kinds) -> Exists:
    return Exists(
        TrackingEvent.objects.filter(
            recipient_id=OuterRef("pk"), kind__in=list(kinds), suspected_bot=False
        )
    )


def recipient_rows(
    campaign: Campaign, *, departments: list[str] | None = None, status: str = ""
) -> QuerySet[CampaignRecipient]:
    """The campaign's recipients, filtered (departments: None = all). Call `with_events` on
    the page actually shown."""
    found = CampaignRecipient.objects.filter(campaign_id=campaign.pk)
    if departments is not None:
        found = found.filter(department__in=departments)
    opened = (EventKind.OPENED, EventKind.CLICKED, EventKind.SUBMITTED)
    clicked = (EventKind.CLICKED, EventKind.SUBMITTED)
    match status:
        case "not_sent":
            found = found.exclude(send_status=SendStatus.SENT)
        case "no_action":
            found = found.filter(send_status=SendStatus.SENT).exclude(
                Exists(TrackingEvent.objects.filter(recipient_id=OuterRef("pk")))
            )
        case "opened":
            found = found.filter(_human_events(opened))
        case "clicked":
            found = found.filter(_human_events(clicked))
        case "submitted":
            found = found.filter(_human_events([EventKind.SUBMITTED]))
        case "reported":
            found = found.filter(_human_events([EventKind.REPORTED]))
        case "reported_without_click":
            found = found.filter(_human_events([EventKind.REPORTED])).exclude(
                _human_events(clicked)
            )
        case "bot":
            found = found.filter(
                Exists(
                    TrackingEvent.objects.filter(recipient_id=OuterRef("pk"), suspected_bot=True)
                )
            )
    return found.order_by("pk")


@dataclass
class Step:
    at: datetime.datetime
    bot_only: bool  # every event of this kind was flagged as a scanner


@dataclass
class RecipientLine:
    pk: int
    email: str
    first_name: str
    last_name: str
    department: str
    send_status: str
    send_status_label: str
    sent_at: datetime.datetime | None
    steps: dict[str, Step | None]

    def step(self, kind: str) -> Step | None:
        return self.steps.get(kind)

    @property
    def step_cells(self) -> list[tuple[str, bool]]:
        """(first moment in Paris time or « — », produced by a scanner only) per step."""
        return [
            (f"{timezone.localtime(step.at):%d/%m %H:%M}", step.bot_only) if step else ("—", False)
            for step in self.steps.values()
        ]

    @property
    def opened(self):
        return self.steps["opened"]

    @property
    def clicked(self):
        return self.steps["clicked"]

    @property
    def submitted(self):
        return self.steps["submitted"]

    @property
    def reported(self):
        return self.steps["reported"]


def with_events(recipients: Iterable[CampaignRecipient]) -> list[RecipientLine]:
    """Lines for the given recipients, with the first moment of each step (a click implies the
    message was opened) in one query."""
    recipients = list(recipients)
    firsts: dict[int, dict[tuple[str, bool], datetime.datetime]] = {}
    if recipients:
        for recipient_id, kind, bot, at in (
            TrackingEvent.objects.filter(recipient_id__in=[r.pk for r in recipients])
            .values_list("recipient_id", "kind", "suspected_bot")
            .annotate(first=Min("at"))
            .order_by()
        ):
            firsts.setdefault(recipient_id, {})[(kind, bot)] = at
    implied = {
        EventKind.OPENED: (EventKind.OPENED, EventKind.CLICKED, EventKind.SUBMITTED),
        EventKind.CLICKED: (EventKind.CLICKED, EventKind.SUBMITTED),
        EventKind.SUBMITTED: (EventKind.SUBMITTED,),
        EventKind.REPORTED: (EventKind.REPORTED,),
    }
    status_labels = dict(SendStatus.choices)
    lines = []
    for r in recipients:
        seen = firsts.get(r.pk, {})
        steps: dict[str, Step | None] = {}
        for step, kinds in implied.items():
            human = [seen[(k, False)] for k in kinds if (k, False) in seen]
            bots = [seen[(k, True)] for k in kinds if (k, True) in seen]
            if human:
                steps[step.value] = Step(min(human), False)
            elif bots:
                steps[step.value] = Step(min(bots), True)
            else:
                steps[step.value] = None
        lines.append(
            RecipientLine(
                pk=r.pk,
                email=r.email,
                first_name=r.first_name,
                last_name=r.last_name,
                department=department_label(r.department),
                send_status=r.send_status,
                send_status_label=str(status_labels.get(r.send_status, r.send_status)),
                sent_at=r.sent_at,
                steps=steps,
            )
        )
    return lines


def iter_recipient_lines(
    recipients: QuerySet[CampaignRecipient], chunk: int = 2000
) -> Iterator[RecipientLine]:
    """Every line, by chunks (exports of a 20,000-recipient campaign)."""
    last_pk = 0
    while True:
        batch = list(recipients.filter(pk__gt=last_pk).order_by("pk")[:chunk])
        if not batch:
            return
        yield from with_events(batch)
        last_pk = batch[-1].pk


# --- Regional figures (ARS, CRRC) ---------------------------------------------------------------


@dataclass
class RegionalFigures:
    region: Region
    organisations: int  # organisations counted (at least MIN_GROUP recipients each)
    campaigns: int
    left_out: int  # organisations left out: fewer than MIN_GROUP recipients
    total: Row | None
    categories: list[Row]
    others: Row | None
    others_topped_up: bool

    @property
    def available(self) -> bool:
        return self.total is not None


def regional_figures(region: Region) -> RegionalFigures:
    """Rates across the region's finished campaigns, per establishment category. An
    organisation whose campaigns reached fewer than MIN_GROUP people is left out; a category
    shown alone covers at least MIN_GROUP organisations; below MIN_GROUP organisations in all,
    no figure at all."""
    owners = dict(
        Campaign.objects.filter(
            status=CampaignStatus.DONE, organisation__region_id=region.pk
        ).values_list("pk", "organisation_id")
    )
    groups = _grouped_funnels(list(owners), "r.campaign_id")
    per_org: dict[int, Row] = {}
    campaigns_of: dict[int, int] = {}
    for group in groups:
        org_id = owners[group.key]
        row = per_org.setdefault(org_id, Row(str(org_id), ""))
        row.raw.add(group.raw)
        row.filtered.add(group.filtered)
        campaigns_of[org_id] = campaigns_of.get(org_id, 0) + 1
    counted = {pk: row for pk, row in per_org.items() if row.size >= MIN_GROUP}
    categories: dict[str, Row] = {}
    for pk, label in Organisation.objects.filter(pk__in=list(counted)).values_list(
        "pk", "category__label"
    ):
        label = label or NO_CATEGORY
        row = categories.setdefault(label, Row(label, label))
        row.add(counted[pk])
        row.organisations += 1
    figures = RegionalFigures(
        region=region,
        organisations=len(counted),
        campaigns=sum(campaigns_of[pk] for pk in counted),
        left_out=len(per_org) - len(counted),
        total=None,
        categories=[],
        others=None,
        others_topped_up=False,
    )
    if len(counted) < MIN_GROUP:
        return figures
    total = Row("total", "Région")
    for row in categories.values():
        total.add(row)
    figures.total = total
    figures.categories, figures.others, figures.others_topped_up = protect_small_groups(
        list(categories.values()),
        size=lambda r: r.organisations,
        others_key=OTHERS_KEY,
        others_label=OTHERS_CATEGORIES_LABEL,
    )
    return figures
