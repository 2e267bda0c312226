"""Writes of trainings: sessions (create, edit, publish, cancel), registrations with the waiting
list and its automatic promotion, attendance, the satisfaction survey, and the e-mails.

Every registration change locks the session row first (`select_for_update`), so two people
taking the last seat at the same time cannot both get it, and a cancellation promotes exactly
one waiting person. E-mails leave after commit (`transaction.on_commit`, as Celery tasks); a
mail server down never undoes what was saved.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import OrgKind
from rempart.organisations.models import Organisation

from . import ics, perms
from .models import (
    LIVE_STATUSES,
    Audience,
    Registration,
    RegistrationStatus,
    SessionKind,
    SessionStatus,
    SurveyAnswer,
    TrainingSession,
    default_duration_hours,
    span_days,
)

logger = logging.getLogger(__name__)

SESSION_FIELDS = (
    "kind",
    "programme",
    "title",
    "description",
    "audience",
    "prerequisites",
    "starts_at",
    "ends_at",
    "duration_hours",
    "location",
    "online_url",
    "capacity",
)
SURVEY_SALT = "rempart.events.survey"
SURVEY_TOKEN_BYTES = 24  # 192 random bits
SURVEY_LINK_MAX_AGE = datetime.timedelta(days=90)
MAX_SESSION_DAYS = 31


def _fmt(value: datetime.datetime) -> str:
    local = timezone.localtime(value)
    return f"{local:%d/%m/%Y} à {local:%H:%M}"


# --- Sessions -------------------------------------------------------------------------------


def _check_session_data(data: dict) -> None:
    if not (data.get("title") or "").strip():
        raise DomainError("Indiquez le titre de la session.", field="title")
    if not (data.get("programme") or "").strip():
        raise DomainError(
            "Indiquez le programme (intitulé commun aux sessions d'une même formation).",
            field="programme",
        )
    if data.get("kind") not in SessionKind.values:
        raise DomainError("Choisissez le type : formation, webinaire ou atelier.", field="kind")
    audience = data.get("audience") or []
    if not audience or any(a not in Audience.values for a in audience):
        raise DomainError("Choisissez au moins un public dans la liste.", field="audience")
    starts, ends = data.get("starts_at"), data.get("ends_at")
    if starts is None or ends is None:
        raise DomainError("Indiquez la date et les heures de la session.", field="starts_at")
    if ends <= starts:
        raise DomainError("L'heure de fin doit suivre l'heure de début.", field="ends_at")
    if span_days(starts, ends) > MAX_SESSION_DAYS:
        raise DomainError(
            f"Une session dure au plus {MAX_SESSION_DAYS} jours : découpez-la en plusieurs "
            "sessions.",
            field="end_day",
        )
    _check_duration(data, starts, ends)
    if not (data.get("location") or "").strip() and not (data.get("online_url") or "").strip():
        raise DomainError(
            "Indiquez l'adresse du site, ou le lien de connexion pour une session en ligne.",
            field="location",
        )
    capacity = data.get("capacity")
    if capacity is None or capacity < 1:
        raise DomainError("Indiquez un nombre de places d'au moins 1.", field="capacity")


def _check_duration(data: dict, starts, ends) -> None:
    """The declared training time (hours), or the default (models.default_duration_hours):
    more than 0 and no more than the time between the start and the end."""
    hours = data.get("duration_hours")
    if hours is None or hours == "":
        data["duration_hours"] = default_duration_hours(starts, ends)
        return
    try:
        hours = Decimal(str(hours)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise DomainError(
            "Indiquez la durée de formation en heures, par exemple 7 ou 3,5.",
            field="duration_hours",
        ) from exc
    elapsed = Decimal((ends - starts).total_seconds()) / 3600
    if hours <= 0 or hours > elapsed:
        limit = f"{elapsed.quantize(Decimal('0.01')).normalize():f}".replace(".", ",")
        raise DomainError(
            "La durée de formation doit être positive et ne pas dépasser le temps entre le "
            f"début et la fin de la session ({limit} h).",
            field="duration_hours",
        )
    data["duration_hours"] = hours


def _check_organiser(actor, organiser: Organisation) -> None:
    if organiser.kind != OrgKind.CRRC or not perms.can_manage_session_of(actor, organiser):
        raise DomainError(perms.NOT_TRAINER, code="forbidden", field="organiser")


def session_create(*, actor, organiser: Organisation, data: dict) -> TrainingSession:
    """A new session, in draft: nobody sees it before it is published."""
    _check_organiser(actor, organiser)
    _check_session_data(data)
    with transaction.atomic():
        return TrainingSession.objects.create(
            organiser=organiser,
            region_id=organiser.region_id,
            created_by=actor,
            status=SessionStatus.DRAFT,
            **{key: data[key] for key in SESSION_FIELDS if key in data},
        )


def _lock(session: TrainingSession) -> TrainingSession:
    return (
        TrainingSession.objects.select_for_update(of=("self",))
        .select_related("organiser")
        .get(pk=session.pk)
    )


def session_update(*, actor, session: TrainingSession, data: dict) -> TrainingSession:
    """Edit a session that is not cancelled. Fewer places than confirmed people is refused;
    more places promote people from the waiting list."""
    _check_organiser(actor, session.organiser)
    _check_session_data(data)
    with transaction.atomic():
        session = _lock(session)
        if session.status == SessionStatus.CANCELLED:
            raise DomainError("Cette session est annulée : elle ne se modifie plus.")
        confirmed = session.registrations.filter(status=RegistrationStatus.CONFIRMED).count()
        if data["capacity"] < confirmed:
            raise DomainError(
                f"{confirmed} personne(s) déjà inscrite(s) : la session ne peut pas avoir moins "
                f"de {confirmed} place(s) (désinscrivez d'abord des personnes).",
                field="capacity",
            )
        for key in SESSION_FIELDS:
            if key in data:
                setattr(session, key, data[key])
        session.save()
        if session.status == SessionStatus.PUBLISHED:
            _promote(session)
    return session


def session_publish(*, actor, session: TrainingSession) -> TrainingSession:
    _check_organiser(actor, session.organiser)
    with transaction.atomic():
        session = _lock(session)
        if session.status != SessionStatus.DRAFT:
            raise DomainError("Seule une session en brouillon se publie.")
        if session.starts_at <= timezone.now():
            raise DomainError(
                "Cette session a déjà commencé : changez sa date avant de la publier.",
                field="starts_at",
            )
        session.status, session.published_at = SessionStatus.PUBLISHED, timezone.now()
        session.save(update_fields=["status", "published_at", "updated_at"])
    return session


def session_cancel(*, actor, session: TrainingSession) -> TrainingSession:
    """Cancel a session: its registrations are kept (history) and every registered or waiting
    person is told, with a calendar cancellation."""
    _check_organiser(actor, session.organiser)
    with transaction.atomic():
        session = _lock(session)
        if session.status == SessionStatus.CANCELLED:
            raise DomainError("Cette session est déjà annulée.")
        session.status, session.cancelled_at = SessionStatus.CANCELLED, timezone.now()
        session.save(update_fields=["status", "cancelled_at", "updated_at"])
        for pk in session.registrations.filter(status__in=LIVE_STATUSES).values_list(
            "pk", flat=True
        ):
            _notify_on_commit(pk, "session_cancelled")
    return session


# --- Registrations --------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationResult:
    registration: Registration
    message: str

    @property
    def waiting(self) -> bool:
        return self.registration.status == RegistrationStatus.WAITING


def waiting_rank(registration: Registration) -> int | None:
    """1 for the next person to be promoted."""
    if registration.status != RegistrationStatus.WAITING:
        return None
    return Registration.objects.filter(
        session_id=registration.session_id,
        status=RegistrationStatus.WAITING,
        position__lte=registration.position,
    ).count()


def registration_create(
    *,
    actor,
    session: TrainingSession,
    organisation: Organisation,
    first_name: str,
    last_name: str,
    email: str,
    function: str = "",
    notify: bool = True,
) -> RegistrationResult:
    """Register a person: a seat if one is left, else the waiting list (with its position).
    A second live registration of the same e-mail to the session is refused. `notify=False`
    (recording past registrations, the demo) sends no e-mail."""
    if not perms.can_register_for(actor, organisation):
        raise DomainError(perms.NOT_REGISTRAR, code="forbidden", field="organisation")
    if perms.registers_only_self(actor, organisation):
        # A liberal professional registers themselves, as they are known to the platform.
        first_name = actor.first_name or first_name
        last_name = actor.last_name or last_name
        if (email or "").strip().lower() != actor.email.lower():
            raise DomainError(
                "En tant que professionnel libéral, vous vous inscrivez vous-même, avec "
                f"l'adresse de votre compte ({actor.email}).",
                field="email",
            )
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
    email, function = (email or "").strip().lower(), (function or "").strip()
    if not first_name or not last_name:
        raise DomainError("Indiquez le prénom et le nom de la personne.", field="last_name")
    if not email or "@" not in email:
        raise DomainError("Indiquez l'adresse électronique de la personne.", field="email")
    with transaction.atomic():
        session = _lock(session)
        if organisation.region_id != session.region_id:
            raise DomainError(
                "Cette session est réservée aux structures de sa région.", field="organisation"
            )
        if session.status != SessionStatus.PUBLISHED:
            raise DomainError(
                "Cette session n'est pas ouverte aux inscriptions (brouillon ou annulée)."
            )
        if session.starts_at <= timezone.now():
            raise DomainError("Cette session a commencé : les inscriptions sont closes.")
        live = session.registrations.filter(status__in=LIVE_STATUSES)
        existing = live.filter(email=email).first()
        if existing is not None:
            where = (
                "en liste d'attente"
                if existing.status == RegistrationStatus.WAITING
                else "inscrite"
            )
            raise DomainError(
                f"{email} est déjà {where} pour cette session : une seule inscription par "
                "personne.",
                code="duplicate",
                field="email",
            )
        confirmed = live.filter(status=RegistrationStatus.CONFIRMED).count()
        values = {
            "session": session,
            "organisation": organisation,
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "function": function,
            "registered_by": actor,
        }
        name = f"{first_name} {last_name}"
        try:
            with transaction.atomic():
                if confirmed < session.capacity:
                    registration = Registration.objects.create(
                        status=RegistrationStatus.CONFIRMED, **values
                    )
                    message = f"{name} est inscrit·e à la session."
                else:
                    last = session.registrations.aggregate(m=Max("position"))["m"] or 0
                    registration = Registration.objects.create(
                        status=RegistrationStatus.WAITING, position=last + 1, **values
                    )
                    message = (
                        f"Session complète : {name} est inscrit·e en liste d'attente "
                        f"(position {waiting_rank(registration)})."
                    )
        except IntegrityError as exc:  # a concurrent twin slipped past the check above
            raise DomainError(
                f"{email} est déjà inscrite pour cette session : une seule inscription par "
                "personne.",
                code="duplicate",
                field="email",
            ) from exc
        if notify:
            _notify_on_commit(registration.pk, registration.status)
    return RegistrationResult(registration, message)


def can_cancel(actor, registration: Registration) -> bool:
    if perms.can_manage_session_of(actor, registration.session.organiser):
        return True
    if not perms.can_register_for(actor, registration.organisation):
        return False
    if perms.registers_only_self(actor, registration.organisation):
        return registration.email == actor.email.lower()
    return True


def _promote(session: TrainingSession) -> list[Registration]:
    """Fill the free seats from the waiting list, first come first served (session locked)."""
    promoted = []
    confirmed = session.registrations.filter(status=RegistrationStatus.CONFIRMED).count()
    waiting = session.registrations.filter(status=RegistrationStatus.WAITING).order_by("position")
    for registration in waiting[: max(session.capacity - confirmed, 0)]:
        registration.status, registration.position = RegistrationStatus.CONFIRMED, None
        registration.promoted_at = timezone.now()
        registration.save(update_fields=["status", "position", "promoted_at", "updated_at"])
        _notify_on_commit(registration.pk, "promoted")
        promoted.append(registration)
    return promoted


def registration_cancel(*, actor, registration: Registration) -> Registration | None:
    """Cancel a registration (kept, marked cancelled). A freed seat goes to the first person
    of the waiting list, who is e-mailed. Returns that person's registration, if any."""
    if not can_cancel(actor, registration):
        raise DomainError(perms.NOT_REGISTRAR, code="forbidden")
    with transaction.atomic():
        session = _lock(registration.session)
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        if registration.status == RegistrationStatus.CANCELLED:
            raise DomainError("Cette inscription est déjà annulée.")
        if session.starts_at <= timezone.now():
            raise DomainError("La session a commencé : l'inscription ne s'annule plus.")
        registration.status, registration.position = RegistrationStatus.CANCELLED, None
        registration.cancelled_at = timezone.now()
        registration.save(update_fields=["status", "position", "cancelled_at", "updated_at"])
        _notify_on_commit(registration.pk, "cancelled")
        promoted = _promote(session) if session.status == SessionStatus.PUBLISHED else []
    return promoted[0] if promoted else None


# --- Attendance -----------------------------------------------------------------------------


def attendance_record(
    *, actor, session: TrainingSession, present_ids: set[int], send_survey: bool = True
) -> int:
    """Mark every confirmed person present (ticked) or absent, once the session has started.
    People newly marked present get the satisfaction survey (unless `send_survey` is False:
    the demo's past sessions). Returns how many are present."""
    _check_organiser(actor, session.organiser)
    with transaction.atomic():
        session = _lock(session)
        if session.status != SessionStatus.PUBLISHED:
            raise DomainError("La présence ne se relève que pour une session publiée.")
        if session.starts_at > timezone.now():
            raise DomainError(
                "La présence se relève une fois la session commencée "
                f"(le {_fmt(session.starts_at)})."
            )
        confirmed = list(
            session.registrations.select_for_update().filter(status=RegistrationStatus.CONFIRMED)
        )
        unknown = set(present_ids) - {r.pk for r in confirmed}
        if unknown:
            raise DomainError(
                "Seules les personnes inscrites (hors liste d'attente) peuvent être "
                "marquées présentes."
            )
        present = 0
        for registration in confirmed:
            attended = registration.pk in present_ids
            present += attended
            if registration.attended is not attended:
                registration.attended = attended
                registration.save(update_fields=["attended", "updated_at"])
            if attended and send_survey and registration.survey_sent_at is None:
                pk = registration.pk
                transaction.on_commit(lambda pk=pk: _queue_survey(pk), robust=True)
    return present


# --- Satisfaction survey --------------------------------------------------------------------


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def survey_link_token(raw: str) -> str:
    return signing.TimestampSigner(salt=SURVEY_SALT).sign(raw)


class SurveyLinkExpired(DomainError):
    pass


def registration_for_survey(token: str) -> Registration | None:
    """The registration of a survey link; None for a forged or unknown link. An expired link
    raises SurveyLinkExpired (the page says so)."""
    signer = signing.TimestampSigner(salt=SURVEY_SALT)
    try:
        raw = signer.unsign(token, max_age=SURVEY_LINK_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise SurveyLinkExpired(
            "Ce lien de questionnaire a expiré (90 jours) : merci pour votre participation.",
            code="expired",
        ) from exc
    except signing.BadSignature:
        return None
    return (
        Registration.objects.select_related("session", "session__organiser", "organisation")
        .filter(survey_token_hash=_hash(raw), attended=True)
        .first()
    )


def survey_answer(*, token: str, score: int, comment: str = "") -> SurveyAnswer:
    """Record a participant's answer. Answered twice: refused, the first answer is kept."""
    registration = registration_for_survey(token)
    if registration is None:
        raise DomainError("Ce lien de questionnaire n'est pas valide.", code="not_found")
    return survey_answer_record(registration=registration, score=score, comment=comment)


def survey_answer_record(
    *, registration: Registration, score: int, comment: str = ""
) -> SurveyAnswer:
    """Record the answer of a participant marked present (the first one only)."""
    if registration.attended is not True:
        raise DomainError("Seule une personne présente répond au questionnaire.")
    if not isinstance(score, int) or not 0 <= score <= 10:
        raise DomainError("Choisissez une note de 0 à 10.", field="score")
    already = DomainError(
        "Vous avez déjà répondu à ce questionnaire : votre première réponse est conservée.",
        code="already_answered",
    )
    with transaction.atomic():
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        if SurveyAnswer.objects.filter(registration=registration).exists():
            raise already
        try:
            with transaction.atomic():
                return SurveyAnswer.objects.create(
                    registration=registration,
                    score=score,
                    comment=(comment or "").strip()[:4000],
                    submitted_at=timezone.now(),
                )
        except IntegrityError as exc:
            raise already from exc


def survey_invite(registration_id: int) -> bool:
    """E-mail the survey link to a present participant, once (a new token each time it is
    really sent; only its hash is stored). Returns whether an e-mail left."""
    with transaction.atomic():
        registration = (
            Registration.objects.select_for_update(of=("self",))
            .select_related("session", "session__organiser", "organisation")
            .filter(pk=registration_id, attended=True, survey_sent_at__isnull=True)
            .first()
        )
        if registration is None:
            return False
        raw = secrets.token_urlsafe(SURVEY_TOKEN_BYTES)
        registration.survey_token_hash = _hash(raw)
        registration.survey_sent_at = timezone.now()
        registration.save(update_fields=["survey_token_hash", "survey_sent_at", "updated_at"])
        link = settings.SITE_URL.rstrip("/") + reverse(
            "events:survey", args=[survey_link_token(raw)]
        )
        # Sent inside the transaction: if the mail server refuses, nothing is marked as sent.
        _message(registration, "survey", link=link).send()
    return True


# --- E-mails --------------------------------------------------------------------------------

SUBJECTS = {
    RegistrationStatus.CONFIRMED: "Inscription confirmée",
    RegistrationStatus.WAITING: "Inscription en liste d'attente",
    "promoted": "Une place s'est libérée : inscription confirmée",
    "cancelled": "Inscription annulée",
    "session_cancelled": "Session annulée",
    "reminder": "Rappel : votre session a lieu demain",
    "survey": "Votre avis sur la session",
}
WITH_CALENDAR = {RegistrationStatus.CONFIRMED, "promoted", "reminder"}
WITH_CANCELLATION = {"cancelled", "session_cancelled"}


def _message(registration: Registration, kind: str, **extra) -> EmailMessage:
    session = registration.session
    context = {
        "registration": registration,
        "session": session,
        "kind": kind,
        "starts": _fmt(session.starts_at),
        "ends": f"{timezone.localtime(session.ends_at):%H:%M}",
        "ends_day": f"{timezone.localtime(session.ends_at):%d/%m/%Y}",  # several days
        "rank": waiting_rank(registration),
        **extra,
    }
    message = EmailMessage(
        subject=f"[Rempart] {SUBJECTS[kind]} — {session.title}",
        body=render_to_string("events/email/registration.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[registration.email],
    )
    if kind in WITH_CALENDAR or kind in WITH_CANCELLATION:
        calendar = ics.invitation(registration, cancel=kind in WITH_CANCELLATION)
        method = "CANCEL" if kind in WITH_CANCELLATION else "PUBLISH"
        message.attach(
            ics.filename(registration),
            calendar,
            f"{ics.CONTENT_TYPE}; charset=utf-8; method={method}",
        )
    return message


def registration_notify(registration_id: int, kind: str) -> bool:
    """E-mail a registration's news to the person. Skipped when it no longer applies (a
    confirmation for a registration cancelled since, for instance)."""
    registration = (
        Registration.objects.select_related("session", "session__organiser", "organisation")
        .filter(pk=registration_id)
        .first()
    )
    if registration is None:
        return False
    expected = {
        RegistrationStatus.CONFIRMED: RegistrationStatus.CONFIRMED,
        RegistrationStatus.WAITING: RegistrationStatus.WAITING,
        "promoted": RegistrationStatus.CONFIRMED,
        "cancelled": RegistrationStatus.CANCELLED,
    }.get(kind)
    if expected is not None and registration.status != expected:
        return False
    _message(registration, kind).send()
    return True


def _notify_on_commit(registration_id: int, kind: str) -> None:
    from . import tasks

    transaction.on_commit(
        lambda: tasks.send_registration_email.delay(registration_id, str(kind)), robust=True
    )


def _queue_survey(registration_id: int) -> None:
    from . import tasks

    tasks.send_survey_invitation.delay(registration_id)


def send_due_reminders(*, now: datetime.datetime | None = None) -> int:
    """Daily: remind the confirmed people of the sessions that start by the end of tomorrow
    (Paris time), once each: the mark and the e-mail commit together, so an e-mail that could
    not leave is tried again by the next run while the session has not started. Returns how
    many were sent."""
    now = now or timezone.now()
    tomorrow = timezone.localtime(now).date() + datetime.timedelta(days=1)
    end = timezone.make_aware(datetime.datetime.combine(tomorrow, datetime.time.min)) + (
        datetime.timedelta(days=1)
    )
    due = Registration.objects.filter(
        status=RegistrationStatus.CONFIRMED,
        reminder_sent_at__isnull=True,
        session__status=SessionStatus.PUBLISHED,
        session__starts_at__gt=now,
        session__starts_at__lt=end,
    ).values_list("pk", flat=True)
    sent = 0
    for pk in list(due):
        try:
            with transaction.atomic():
                registration = (
                    Registration.objects.select_for_update(of=("self",))
                    .select_related("session", "session__organiser", "organisation")
                    .filter(
                        pk=pk,
                        status=RegistrationStatus.CONFIRMED,
                        reminder_sent_at__isnull=True,
                    )
                    .first()
                )
                if registration is None:
                    continue
                registration.reminder_sent_at = timezone.now()
                registration.save(update_fields=["reminder_sent_at", "updated_at"])
                _message(registration, "reminder").send()
                sent += 1
        except Exception:  # one refused address must not stop the others
            logger.exception("Training reminder to registration %s failed", pk)
    return sent
