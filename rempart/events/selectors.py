"""Reads of trainings, scoped by the acting user's memberships.

* Sessions: trainers see every session (drafts included) of the CRRCs they cover; people who
  register (and the region's figures holders) see the published and cancelled sessions of their
  region. Anything else is 404, even with a guessed id.
* Registrations: trainers see all those of their sessions; an establishment sees those of the
  organisations it registers for; a liberal professional their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied
from django.db.models import Avg, Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from rempart.core.roles import OrgKind
from rempart.organisations.models import Organisation

from . import perms
from .models import (
    LIVE_STATUSES,
    Registration,
    RegistrationStatus,
    SessionKind,
    SessionStatus,
    SurveyAnswer,
    TrainingSession,
)

VISIBLE_TO_REGISTRANTS = (SessionStatus.PUBLISHED, SessionStatus.CANCELLED)


def require_trainings_user(user) -> None:
    if not perms.can_use_trainings(user):
        raise PermissionDenied(perms.NO_TRAININGS)


def _organisations(q: Q | None) -> QuerySet[Organisation] | None:
    if q is None:
        return None
    return Organisation.objects.filter(q).values("pk")


def _session_q(user) -> Q:
    require_trainings_user(user)
    regions = perms.catalogue_region_ids(user)
    if regions is None:
        q = Q(status__in=VISIBLE_TO_REGISTRANTS)
    else:
        q = Q(status__in=VISIBLE_TO_REGISTRANTS, region_id__in=regions)
    managed = _organisations(perms.manage_q(user))
    if managed is not None:
        q |= Q(organiser__in=managed)
    return q


def sessions(user, *, upcoming: bool | None = None) -> QuerySet[TrainingSession]:
    """The sessions the user may see, with their seats taken and waiting counts."""
    qs = TrainingSession.objects.filter(_session_q(user)).select_related("organiser")
    now = timezone.now()
    if upcoming is True:
        qs = qs.filter(ends_at__gte=now)
    elif upcoming is False:
        qs = qs.filter(ends_at__lt=now)
    return qs.annotate(
        confirmed_count=Count(
            "registrations", filter=Q(registrations__status=RegistrationStatus.CONFIRMED)
        ),
        waiting_count=Count(
            "registrations", filter=Q(registrations__status=RegistrationStatus.WAITING)
        ),
    ).order_by("-starts_at" if upcoming is False else "starts_at", "pk")


def get_session(user, pk: int) -> TrainingSession:
    session = sessions(user).filter(pk=pk).first()
    if session is None:
        raise Http404("Session introuvable.")
    session.can_manage = perms.can_manage_session_of(user, session.organiser)
    session.seats_left = max(session.capacity - session.confirmed_count, 0)
    session.is_open = (
        session.status == SessionStatus.PUBLISHED and session.starts_at > timezone.now()
    )
    session.has_started = session.starts_at <= timezone.now()
    return session


def get_session_to_manage(user, pk: int) -> TrainingSession:
    session = get_session(user, pk)
    if not session.can_manage:
        raise PermissionDenied(perms.NOT_TRAINER)
    return session


def organiser_choices(user) -> QuerySet[Organisation]:
    """The CRRCs whose sessions the user may publish."""
    q = perms.manage_q(user)
    if q is None:
        raise PermissionDenied(perms.NOT_TRAINER)
    return Organisation.objects.filter(q, kind=OrgKind.CRRC, is_active=True).order_by("name")


def register_organisations(user, session: TrainingSession) -> QuerySet[Organisation]:
    """The organisations of the session's region the user registers people for."""
    q = perms.register_q(user)
    if q is None:
        return Organisation.objects.none()
    return Organisation.objects.filter(q, region_id=session.region_id, is_active=True).order_by(
        "name", "pk"
    )


def registrations_q(user) -> Q | None:
    """Registrations the user sees (None: none)."""
    parts = []
    managed = _organisations(perms.manage_q(user))
    if managed is not None:
        parts.append(Q(session__organiser__in=managed))
    registering = _organisations(perms.org_perms.capability_q(user, perms.C.REGISTER_TRAINEES))
    if registering is not None:
        parts.append(Q(organisation__in=registering))
    own = perms.self_registration_org_ids(user)
    if own:
        parts.append(Q(organisation_id__in=own, email=user.email.lower()))
    if not parts:
        return None
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return q


def session_registrations(user, session: TrainingSession) -> list[Registration]:
    """The registrations of a session the user sees, confirmed first, then the waiting list
    in order, then the cancelled ones."""
    q = registrations_q(user)
    if q is None:
        return []
    rows = list(
        Registration.objects.filter(q, session=session)
        .select_related("organisation", "survey_answer")
        .order_by("last_name", "first_name", "pk")
    )
    order = {
        RegistrationStatus.CONFIRMED: 0,
        RegistrationStatus.WAITING: 1,
        RegistrationStatus.CANCELLED: 2,
    }
    rows.sort(key=lambda r: (order[r.status], r.position or 0))
    rank = 0
    for row in rows:
        if row.status == RegistrationStatus.WAITING:
            rank += 1
            row.rank = rank  # among the rows shown (the trainer sees them all)
        else:
            row.rank = None
    return rows


def _get_registration(user, pk: int) -> Registration:
    q = registrations_q(user)
    if q is None:
        raise PermissionDenied(perms.NO_TRAININGS)
    registration = (
        Registration.objects.filter(q, pk=pk)
        .select_related("session", "session__organiser", "organisation")
        .first()
    )
    if registration is None:
        raise Http404("Inscription introuvable.")
    return registration


def get_registration(user, pk: int) -> Registration:
    return _get_registration(user, pk)


def get_certificate_registration(user, pk: int) -> Registration:
    registration = _get_registration(user, pk)
    if registration.attended is not True:
        raise PermissionDenied(perms.NOT_ATTENDED)
    return registration


def staff_registrations(user) -> QuerySet[Registration]:
    """What the people of the user's organisations registered for and attended."""
    q = perms.org_perms.capability_q(user, perms.C.REGISTER_TRAINEES)
    own = perms.self_registration_org_ids(user)
    parts = []
    if q is not None:
        parts.append(Q(organisation__in=Organisation.objects.filter(q).values("pk")))
    if own:
        parts.append(Q(organisation_id__in=own, email=user.email.lower()))
    if not parts:
        raise PermissionDenied(perms.NOT_REGISTRAR)
    combined = parts[0] if len(parts) == 1 else parts[0] | parts[1]
    return (
        Registration.objects.filter(combined)
        .select_related("session", "session__organiser", "organisation")
        .order_by("-session__starts_at", "last_name", "first_name", "pk")
    )


def attendance_rows(session: TrainingSession) -> list[Registration]:
    """The confirmed people of a session (trainer's attendance sheet)."""
    return list(
        session.registrations.filter(status=RegistrationStatus.CONFIRMED)
        .select_related("organisation")
        .order_by("last_name", "first_name", "pk")
    )


def present_count(session: TrainingSession) -> int:
    return session.registrations.filter(attended=True).count()


# --- Satisfaction -------------------------------------------------------------------------------


def two_decimals(value) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def format_score(value) -> str:
    """« 9,02/10 » (— without answers)."""
    value = two_decimals(value)
    return "—" if value is None else f"{value}".replace(".", ",") + "/10"


@dataclass(frozen=True)
class Satisfaction:
    average: Decimal | None
    answers: int

    @property
    def label(self) -> str:
        return format_score(self.average)


def satisfaction(answers: QuerySet[SurveyAnswer]) -> Satisfaction:
    row = answers.aggregate(avg=Avg("score"), n=Count("pk"))
    return Satisfaction(two_decimals(row["avg"]), row["n"])


def session_answers(session: TrainingSession) -> QuerySet[SurveyAnswer]:
    return SurveyAnswer.objects.filter(registration__session=session).select_related(
        "registration", "registration__organisation"
    )


def _figure_sessions(user) -> QuerySet[TrainingSession]:
    q = perms.figures_q(user)
    if q is None or not perms.can_view_figures(user):
        raise PermissionDenied(perms.NO_FIGURES)
    qs = TrainingSession.objects.exclude(status=SessionStatus.DRAFT)
    if q:
        qs = qs.filter(organiser__in=Organisation.objects.filter(q).values("pk"))
    return qs


@dataclass(frozen=True)
class KindFigures:
    kind: str
    label: str
    sessions: int
    registrations: int
    attendances: int
    satisfaction: Satisfaction


@dataclass(frozen=True)
class ProgrammeFigures:
    programme: str
    kind_label: str
    sessions: int
    attendances: int
    satisfaction: Satisfaction


@dataclass(frozen=True)
class Figures:
    structures_enrolled: int
    people_registered: int
    people_trained: int
    sessions_held: int
    satisfaction: Satisfaction
    by_kind: list[KindFigures]
    by_programme: list[ProgrammeFigures]


def figures(user, *, year: int | None = None) -> Figures:
    """The region's participation and satisfaction (cancelled sessions are not counted)."""
    held = _figure_sessions(user).filter(status=SessionStatus.PUBLISHED)
    if year:
        held = held.filter(starts_at__year=year)
    registrations = Registration.objects.filter(session__in=held.values("pk"))
    live = registrations.filter(status__in=LIVE_STATUSES)
    answers = SurveyAnswer.objects.filter(registration__session__in=held.values("pk"))
    kind_rows = {
        row["kind"]: row
        for row in held.values("kind").annotate(
            sessions=Count("pk", distinct=True),
            registered=Count(
                "registrations",
                filter=Q(registrations__status__in=LIVE_STATUSES),
                distinct=True,
            ),
            attendances=Count(
                "registrations", filter=Q(registrations__attended=True), distinct=True
            ),
            avg=Avg("registrations__survey_answer__score"),
            answers=Count("registrations__survey_answer", distinct=True),
        )
    }
    by_kind = []
    for kind, label in SessionKind.choices:
        row = kind_rows.get(kind)
        if row is None:
            continue
        by_kind.append(
            KindFigures(
                kind=kind,
                label=str(label),
                sessions=row["sessions"],
                registrations=row["registered"],
                attendances=row["attendances"],
                satisfaction=Satisfaction(two_decimals(row["avg"]), row["answers"]),
            )
        )
    labels = dict(SessionKind.choices)
    by_programme = [
        ProgrammeFigures(
            programme=row["programme"],
            kind_label=str(labels.get(row["kind"], row["kind"])),
            sessions=row["sessions"],
            attendances=row["attendances"],
            satisfaction=Satisfaction(two_decimals(row["avg"]), row["answers"]),
        )
        for row in held.values("programme", "kind")
        .annotate(
            sessions=Count("pk", distinct=True),
            attendances=Count(
                "registrations", filter=Q(registrations__attended=True), distinct=True
            ),
            avg=Avg("registrations__survey_answer__score"),
            answers=Count("registrations__survey_answer", distinct=True),
        )
        .order_by("kind", "programme")
    ]
    return Figures(
        structures_enrolled=live.values("organisation").distinct().count(),
        people_registered=live.values("email").distinct().count(),
        people_trained=registrations.filter(attended=True).values("email").distinct().count(),
        sessions_held=held.count(),
        satisfaction=satisfaction(answers),
        by_kind=by_kind,
        by_programme=by_programme,
    )


def figure_session_rows(user, *, year: int | None = None):
    """One row per session held, for the figures page's table and CSV export."""
    held = _figure_sessions(user).filter(status=SessionStatus.PUBLISHED)
    if year:
        held = held.filter(starts_at__year=year)
    return (
        held.select_related("organiser")
        .annotate(
            registered=Count(
                "registrations",
                filter=Q(registrations__status__in=LIVE_STATUSES),
                distinct=True,
            ),
            attendances=Count(
                "registrations", filter=Q(registrations__attended=True), distinct=True
            ),
            avg=Avg("registrations__survey_answer__score"),
            answers=Count("registrations__survey_answer", distinct=True),
        )
        .order_by("-starts_at", "pk")
    )
