"""Reads of the CRRC's on-call rota, escalation policy and paging gateways.

Who sees what: the CRRC's operators (MANAGE_ONCALL) see and edit everything; the people who
can be put on the rota (HANDLE_INCIDENTS in the CRRC, or an on-call / expert role in a provider
of the same region) see the rota and write their handover notes, read-only otherwise. Anybody
else gets a clear 403 naming who may open the page, never an empty rota.

Times are computed on aware datetimes (UTC inside), weeks and days are cut at midnight in
Europe/Paris: a week that crosses a change of time lasts 167 or 169 hours, and a gap is
measured in real time.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from rempart.core.models import AuditEntry
from rempart.core.roles import ROLES, Capability, OrgKind, Role
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Membership, Organisation, User

from . import paging, perms
from .models import EscalationPolicy, OnCallShift, PagingWebhook

PARIS = ZoneInfo("Europe/Paris")
DAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
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

NO_ROTA_ACCESS = (
    "Le planning d'astreinte est réservé aux opérateurs du CRRC et aux experts d'astreinte "
    "de sa région. Si vous devez y figurer, demandez à un opérateur du CRRC de vous donner le "
    "rôle d'expert d'astreinte."
)
NO_CRRC_ACCESS = (
    "Vous n'avez pas accès au planning d'astreinte de ce CRRC : il est réservé à ses opérateurs "
    "et aux experts d'astreinte de sa région."
)
MANAGE_ONLY = (
    "Seuls les opérateurs du CRRC modifient le planning d'astreinte, la politique d'escalade "
    "et les passerelles d'alerte. Vous consultez le planning en lecture seule."
)
NO_MANAGE_ACCESS = (
    "La politique d'escalade et les passerelles d'alerte sont réservées aux opérateurs du CRRC "
    "de la région."
)

# Roles whose holders may be put on a CRRC's rota: members of the CRRC itself, and of the
# providers under contract in the same region (from the roles table, not by name).
_HANDLING_ROLES = {
    role for role, spec in ROLES.items() if Capability.HANDLE_INCIDENTS in spec.capabilities
}
CRRC_ROTA_ROLES = frozenset(r for r in _HANDLING_ROLES if OrgKind.CRRC in ROLES[r].org_kinds)
PROVIDER_ROTA_ROLES = frozenset(
    r for r in _HANDLING_ROLES if OrgKind.PROVIDER in ROLES[r].org_kinds
)


# --- French dates ---------------------------------------------------------------------------------


def local(moment: datetime.datetime) -> datetime.datetime:
    return timezone.localtime(moment, PARIS)


def format_day_fr(day: datetime.date, *, year: bool = False) -> str:
    """« lundi 3 mars », « samedi 1er mars 2025 »."""
    number = "1er" if day.day == 1 else str(day.day)
    text = f"{DAY_NAMES[day.weekday()]} {number} {MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if year else text


def format_moment_fr(moment: datetime.datetime, *, year: bool = False) -> str:
    """« lundi 3 mars à 08:00 » (Europe/Paris)."""
    moment = local(moment)
    return f"{format_day_fr(moment.date(), year=year)} à {moment:%H:%M}"


def format_duration_fr(delta: datetime.timedelta) -> str:
    """« 45 min », « 8 h », « 1 h 30 », « 2 j 4 h »."""
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if days:
        parts.append(f"{days} j")
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes:02d}" if hours and not days else f"{minutes} min")
    return " ".join(parts) or "0 min"


def midnight(day: datetime.date) -> datetime.datetime:
    """The instant a day starts in Paris (never 23 or 25 hours away from the next one by
    arithmetic on aware datetimes: each midnight is computed from its own date). In UTC, so
    that subtracting two instants gives real time, not wall-clock time."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=PARIS).astimezone(datetime.UTC)


def week_monday(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def paris_today() -> datetime.date:
    return timezone.localdate(timezone=PARIS)


def parse_week(value: str | None) -> tuple[datetime.date, bool]:
    """The Monday of the week asked for (`?semaine=AAAA-MM-JJ`, any day of it), and whether
    the value was understood; the current week otherwise."""
    if value:
        try:
            day = datetime.date.fromisoformat(value.strip())
        except ValueError:
            return week_monday(paris_today()), False
        if datetime.date(2000, 1, 1) <= day <= datetime.date(2100, 12, 31):
            return week_monday(day), True
        return week_monday(paris_today()), False
    return week_monday(paris_today()), True


# --- Who may see which CRRC ----------------------------------------------------------------------


def _rota_member_crrc_q(user) -> Q | None:
    """CRRCs whose rota the user may be put on (hence read)."""
    clauses = None
    for membership in org_perms.active_memberships(user):
        home = membership.organisation
        role = Role(membership.role)
        if home.kind == OrgKind.CRRC and role in CRRC_ROTA_ROLES:
            clause = Q(pk=home.pk)
        elif home.kind == OrgKind.PROVIDER and role in PROVIDER_ROTA_ROLES and home.region_id:
            clause = Q(region_id=home.region_id)
        else:
            continue
        clauses = clause if clauses is None else clauses | clause
    return clauses


def crrcs_visible_to(user) -> QuerySet[Organisation]:
    """The CRRCs whose rota the user may open (managed, or read as an on-call expert)."""
    clauses = _rota_member_crrc_q(user)
    managed = org_perms.capability_q(user, Capability.MANAGE_ONCALL)
    if managed is not None:
        clauses = managed if clauses is None else clauses | managed
    if clauses is None:
        return Organisation.objects.none()
    return Organisation.objects.filter(clauses, kind=OrgKind.CRRC).order_by("name", "pk")


def can_view_rota(user, crrc: Organisation) -> bool:
    return perms.can_manage_oncall(user, crrc) or crrcs_visible_to(user).filter(pk=crrc.pk).exists()


def _pk(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise Http404("CRRC introuvable.") from exc


def get_rota_crrc(user, crrc_pk=None, *, manage: bool = False) -> Organisation:
    """The CRRC a rota page is about: the one asked for (`?crrc=`), else the user's first.
    403 with the reason when the user may not open it (or not change it, with `manage`)."""
    visible = list(crrcs_visible_to(user))
    if crrc_pk in (None, ""):
        if not visible:
            raise PermissionDenied(NO_MANAGE_ACCESS if manage else NO_ROTA_ACCESS)
        managed = [c for c in visible if perms.can_manage_oncall(user, c)]
        crrc = (managed or visible)[0] if manage else visible[0]
    else:
        pk = _pk(crrc_pk)
        crrc = next((c for c in visible if c.pk == pk), None)
        if crrc is None:
            if Organisation.objects.filter(pk=pk, kind=OrgKind.CRRC).exists():
                raise PermissionDenied(NO_MANAGE_ACCESS if manage else NO_CRRC_ACCESS)
            raise Http404("CRRC introuvable.")
    crrc.can_manage = perms.can_manage_oncall(user, crrc)
    crrc.choices = visible
    if manage and not crrc.can_manage:
        raise PermissionDenied(NO_MANAGE_ACCESS)
    return crrc


def get_visible_shift(user, pk) -> OnCallShift:
    pk = _pk(pk)
    shift = OnCallShift.objects.select_related("crrc", "person").filter(pk=pk).first()
    if shift is None:
        raise Http404("Tour d'astreinte introuvable.")
    if not can_view_rota(user, shift.crrc):
        raise PermissionDenied(NO_CRRC_ACCESS)
    shift.crrc.can_manage = perms.can_manage_oncall(user, shift.crrc)
    return shift


def get_manageable_shift(user, pk) -> OnCallShift:
    shift = get_visible_shift(user, pk)
    if not shift.crrc.can_manage:
        raise PermissionDenied(MANAGE_ONLY)
    return shift


def get_manageable_webhook(user, pk) -> PagingWebhook:
    pk = _pk(pk)
    webhook = (
        PagingWebhook.objects.select_related("crrc")
        .annotate(page_count=Count("pages"))
        .filter(pk=pk)
        .first()
    )
    if webhook is None:
        raise Http404("Passerelle introuvable.")
    if not perms.can_manage_oncall(user, webhook.crrc):
        raise PermissionDenied(NO_MANAGE_ACCESS)
    webhook.secret_set_at = secret_dates([webhook]).get(webhook.pk, webhook.created_at)
    return webhook


# --- People ---------------------------------------------------------------------------------------


def rota_candidates(crrc: Organisation) -> QuerySet[User]:
    """Who may be put on the CRRC's rota today: its members holding HANDLE_INCIDENTS, and the
    on-call experts and experts of the providers of its region."""
    memberships = Membership.objects.active().filter(
        Q(organisation_id=crrc.pk, role__in=[r.value for r in CRRC_ROTA_ROLES])
        | Q(
            organisation__kind=OrgKind.PROVIDER,
            organisation__region_id=crrc.region_id,
            organisation__region_id__isnull=False,
            role__in=[r.value for r in PROVIDER_ROTA_ROLES],
        )
    )
    return User.objects.filter(is_active=True, pk__in=memberships.values("user_id")).order_by(
        "last_name", "first_name", "pk"
    )


def is_rota_candidate(crrc: Organisation, person: User) -> bool:
    return rota_candidates(crrc).filter(pk=person.pk).exists()


# --- Shifts, the week, who is on call now ---------------------------------------------------------


def shifts_between(
    crrc: Organisation, start: datetime.datetime, end: datetime.datetime
) -> QuerySet[OnCallShift]:
    """Shifts overlapping [start, end)."""
    return (
        OnCallShift.objects.filter(crrc=crrc, starts_at__lt=end, ends_at__gt=start)
        .select_related("person")
        .order_by("starts_at", "level", "pk")
    )


def shifts_visible_to(user) -> QuerySet[OnCallShift]:
    """Every shift of the CRRCs whose rota the user may open (for the API)."""
    return (
        OnCallShift.objects.filter(crrc__in=crrcs_visible_to(user).values("pk"))
        .select_related("crrc", "person")
        .order_by("starts_at", "level", "pk")
    )


def previous_level1_shift(
    crrc: Organisation, current: OnCallShift | None, at
) -> OnCallShift | None:
    """The level-1 shift handed over to `current` (the last one that ended before it, or before
    `at` when nobody is on call): its note is what the incoming person reads first."""
    qs = OnCallShift.objects.filter(crrc=crrc, level=1).select_related("person")
    if current is not None:
        qs = qs.exclude(pk=current.pk).filter(
            starts_at__lt=current.starts_at, ends_at__lte=current.ends_at
        )
    else:
        qs = qs.filter(ends_at__lte=at)
    return qs.order_by("-ends_at", "-starts_at", "-pk").first()


@dataclass(frozen=True)
class Gap:
    start: datetime.datetime
    end: datetime.datetime

    @property
    def duration(self) -> datetime.timedelta:
        return self.end - self.start

    @property
    def label(self) -> str:
        return (
            f"du {format_moment_fr(self.start)} au {format_moment_fr(self.end)} "
            f"({format_duration_fr(self.duration)})"
        )


def coverage_gaps(
    shifts, start: datetime.datetime, end: datetime.datetime, *, level: int = 1
) -> list[Gap]:
    """Periods of [start, end) that no shift of `level` covers (24/7 is the promise). Intervals
    are merged on instants, so a shift across midnight or a change of time leaves no false gap."""
    intervals = sorted(
        (max(s.starts_at, start), min(s.ends_at, end))
        for s in shifts
        if s.level == level and s.starts_at < end and s.ends_at > start
    )
    gaps: list[Gap] = []
    cursor = start
    for begins, ends in intervals:
        if begins > cursor:
            gaps.append(Gap(cursor, begins))
        cursor = max(cursor, ends)
    if cursor < end:
        gaps.append(Gap(cursor, end))
    return gaps


@dataclass
class DayCell:
    """One level on one day of the week view: the shifts, with their times cut to the day."""

    items: list[dict] = field(default_factory=list)


@dataclass
class Week:
    monday: datetime.date
    start: datetime.datetime
    end: datetime.datetime
    days: list[dict]
    rows: list[dict]  # one per level: {"level", "cells": [DayCell × 7]}
    shifts: list[OnCallShift]
    gaps: list[Gap]
    uncovered: datetime.timedelta

    @property
    def label(self) -> str:
        sunday = self.monday + datetime.timedelta(days=6)
        return f"Semaine du {format_day_fr(self.monday)} au {format_day_fr(sunday, year=True)}"

    @property
    def previous(self) -> datetime.date:
        return self.monday - datetime.timedelta(days=7)

    @property
    def next(self) -> datetime.date:
        return self.monday + datetime.timedelta(days=7)


def week_view(crrc: Organisation, monday: datetime.date) -> Week:
    """The week of `monday` (Paris): shifts by level and day, and the level-1 gaps. One query."""
    start = midnight(monday)
    end = midnight(monday + datetime.timedelta(days=7))
    shifts = list(shifts_between(crrc, start, end))
    today = paris_today()
    days = []
    for offset in range(7):
        day = monday + datetime.timedelta(days=offset)
        days.append(
            {
                "date": day,
                "label": format_day_fr(day),
                "start": midnight(day),
                "end": midnight(day + datetime.timedelta(days=1)),
                "is_today": day == today,
            }
        )
    levels = sorted({1, *(s.level for s in shifts)})
    rows = []
    for level in levels:
        cells = []
        for day in days:
            cell = DayCell()
            for shift in shifts:
                if shift.level != level:
                    continue
                if shift.starts_at >= day["end"] or shift.ends_at <= day["start"]:
                    continue
                begins = max(shift.starts_at, day["start"])
                ends = min(shift.ends_at, day["end"])
                cell.items.append(
                    {
                        "shift": shift,
                        "from": f"{local(begins):%H:%M}",
                        "to": "24:00" if ends == day["end"] else f"{local(ends):%H:%M}",
                        "continues_before": shift.starts_at < day["start"],
                        "continues_after": shift.ends_at > day["end"],
                    }
                )
            cells.append(cell)
        rows.append({"level": level, "cells": cells})
    gaps = coverage_gaps(shifts, start, end, level=1)
    uncovered = sum((g.duration for g in gaps), datetime.timedelta())
    for shift in shifts:
        shift.period_label = (
            f"du {format_moment_fr(shift.starts_at)} au {format_moment_fr(shift.ends_at)}"
        )
    return Week(monday, start, end, days, rows, shifts, gaps, uncovered)


@dataclass
class NowPanel:
    at: datetime.datetime
    chain: list[OnCallShift]
    level1: OnCallShift | None
    handed_over_by: OnCallShift | None  # the previous level-1 shift (its note)

    @property
    def nobody_level1(self) -> bool:
        return self.level1 is None


def now_panel(crrc: Organisation, at: datetime.datetime | None = None) -> NowPanel:
    at = at or timezone.now()
    chain = paging.escalation_chain(crrc, at)  # exactly whom an alert would page now
    for shift in chain:
        shift.until_label = format_moment_fr(shift.ends_at)
        shift.call_phone = shift.phone or shift.person.phone
    level1 = next((s for s in chain if s.level == 1), None)
    previous = previous_level1_shift(crrc, level1, at)
    if previous is not None:
        previous.ended_label = format_moment_fr(previous.ends_at)
    return NowPanel(at, chain, level1, previous)


def describe_shift(shift: OnCallShift, at: datetime.datetime) -> OnCallShift:
    """Labels a page shows about one shift."""
    shift.period_label = (
        f"du {format_moment_fr(shift.starts_at)} au {format_moment_fr(shift.ends_at)}"
    )
    shift.is_running = shift.starts_at <= at < shift.ends_at
    return shift


def handover_shifts(crrc: Organisation, person: User, at: datetime.datetime) -> dict:
    """The person's shift now (or the last one, ended less than two days ago, whose note they
    may still write) and the note handed to them at the start of it."""
    mine = OnCallShift.objects.filter(crrc=crrc, person=person).select_related("person")
    current = mine.filter(starts_at__lte=at, ends_at__gt=at).order_by("level", "pk").first()
    if current is None:
        current = (
            mine.filter(ends_at__lte=at, ends_at__gt=at - datetime.timedelta(days=2))
            .order_by("-ends_at", "-pk")
            .first()
        )
    received = None
    if current is not None:
        describe_shift(current, at)
        received = (
            OnCallShift.objects.filter(crrc=crrc, level=current.level, ends_at__lte=current.ends_at)
            .exclude(pk=current.pk)
            .filter(starts_at__lt=current.starts_at)
            .select_related("person")
            .order_by("-ends_at", "-starts_at", "-pk")
            .first()
        )
    if received is not None:
        received.ended_label = format_moment_fr(received.ends_at)
    upcoming = (
        mine.filter(starts_at__gt=at).order_by("starts_at", "pk").first()
        if current is None
        else None
    )
    if upcoming is not None:
        upcoming.start_label = format_moment_fr(upcoming.starts_at)
    return {"shift": current, "received": received, "upcoming": upcoming}


# --- Policy, gateways -----------------------------------------------------------------------------


def policy_of(crrc: Organisation) -> EscalationPolicy:
    """The CRRC's policy, or an unsaved one with the defaults (a GET never writes)."""
    policy = EscalationPolicy.objects.filter(crrc=crrc).first()
    if policy is None:
        policy = EscalationPolicy(crrc=crrc)
    return policy


def secret_dates(webhooks) -> dict[int, datetime.datetime]:
    """When each gateway's key was last set: its latest audited key change (the audit keeps the
    date, never the key), else its creation."""
    ids = [w.pk for w in webhooks]
    if not ids:
        return {}
    content_type = ContentType.objects.get_for_model(PagingWebhook)
    rows = (
        AuditEntry.objects.filter(
            content_type=content_type, object_id__in=ids, changes__has_key="secret"
        )
        .values("object_id")
        .annotate(at=Max("timestamp"))
    )
    dates = {w.pk: w.created_at for w in webhooks}
    for row in rows:
        dates[row["object_id"]] = max(row["at"], dates[row["object_id"]])
    return dates


def webhooks_of(crrc: Organisation) -> list[PagingWebhook]:
    webhooks = list(
        PagingWebhook.objects.filter(crrc=crrc)
        .annotate(page_count=Count("pages"))
        .order_by("-active", "name", "pk")
    )
    dates = secret_dates(webhooks)
    for webhook in webhooks:
        webhook.secret_set_at = dates[webhook.pk]
        webhook.is_https = webhook.url.lower().startswith("https://")
    return webhooks
