"""Writes of exercise runs: planning (from a library scenario), the timeline of injects,
participants and their signed links, the live console (start, pause, resume, end, release),
the journal, the participants' messages, the evaluation, the debrief (RETEX) and its actions.

Every write checks the actor's right first (perms.can_run), runs in one transaction that locks
the run row (two facilitators, the participants' polls and the beat task never release the same
inject twice), and ends with `coverage.refresh_coverage`: the verdict is always recomputed from
the records, never set by hand. E-mails leave after commit, as Celery tasks; a mail server down
never undoes what was saved.

Exercise time: seconds since the start, pauses excluded (`paused_seconds` holds the ended
pauses, `paused_at` the current one). An inject is due when its offset is reached in exercise
time; a pause therefore delays every inject still to come.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import secrets
from dataclasses import dataclass

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

from . import perms
from .coverage import refresh_coverage
from .models import (
    FUNCTION_LABELS,
    ActionPriority,
    ActionStatus,
    Channel,
    Debrief,
    DebriefAction,
    EntryKind,
    Evaluation,
    ExerciseParticipant,
    ExerciseRun,
    Function,
    JournalEntry,
    ParticipantRole,
    RunInject,
    RunKind,
    RunStatus,
    Scenario,
    ScenarioStatus,
)

logger = logging.getLogger(__name__)

LINK_SALT = "rempart.exercises.participant"
LINK_TOKEN_BYTES = 24  # 192 random bits
LINK_GRACE = datetime.timedelta(days=7)  # the link lives until the planned end + 7 days
DEFAULT_DURATION_MINUTES = 180
REGIONAL_HOLDERS = (OrgKind.CRRC, OrgKind.ARS)
STARTED = (RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.FINISHED)
LIVE = (RunStatus.RUNNING, RunStatus.PAUSED)
NOTE_KINDS = (EntryKind.REACTION, EntryKind.DECISION, EntryKind.OBSERVATION)
MAX_TEXT = 4000


def _fmt(value: datetime.datetime) -> str:
    local = timezone.localtime(value)
    return f"{local:%d/%m/%Y} à {local:%H:%M}"


def _check_runner(actor, run: ExerciseRun) -> None:
    if not perms.can_run(actor, run):
        raise DomainError(perms.NOT_RUNNER, code="forbidden")


def _lock(run: ExerciseRun) -> ExerciseRun:
    return (
        ExerciseRun.objects.select_for_update(of=("self",))
        .select_related("organisation", "scenario")
        .get(pk=run.pk)
    )


def _refresh(run: ExerciseRun) -> None:
    """Recompute the verdict from a fresh copy (the evaluation and debrief relations may be
    cached on the caller's instance from before the change)."""
    refresh_coverage(ExerciseRun.objects.select_related("evaluation", "debrief").get(pk=run.pk))


def _text(value: str | None, *, field: str, label: str, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise DomainError(f"Indiquez {label}.", field=field)
    if len(text) > MAX_TEXT:
        raise DomainError(f"{MAX_TEXT} caractères au plus.", field=field)
    return text


# --- Exercise time --------------------------------------------------------------------------


def exercise_seconds(run: ExerciseRun, now: datetime.datetime | None = None) -> int:
    """Seconds of exercise time at `now`: the wall clock since the start, pauses excluded."""
    if run.started_at is None:
        return 0
    now = now or timezone.now()
    end = run.ended_at or run.paused_at or now
    return max(int((end - run.started_at).total_seconds()) - run.paused_seconds, 0)


def planned_duration(run: ExerciseRun) -> datetime.timedelta:
    minutes = run.scenario.duration_minutes if run.scenario_id else DEFAULT_DURATION_MINUTES
    return datetime.timedelta(minutes=minutes)


def planned_end(run: ExerciseRun) -> datetime.datetime:
    """The end as planned; once started late, counted from the real start."""
    start = max(run.planned_start, run.started_at or run.planned_start)
    return start + planned_duration(run)


def _extend_links(run: ExerciseRun) -> None:
    """A run moved later (new date, late start): the links already sent live as long."""
    run.participants.exclude(link_token_hash="").filter(
        link_expires_at__lt=planned_end(run) + LINK_GRACE
    ).update(link_expires_at=planned_end(run) + LINK_GRACE)


def due_at(run: ExerciseRun, inject: RunInject, now: datetime.datetime | None = None):
    """The wall-clock time an unreleased inject is expected at, if the run goes on without a
    new pause (None before the start)."""
    if run.started_at is None:
        return None
    now = now or timezone.now()
    pending_pause = (now - run.paused_at).total_seconds() if run.paused_at else 0
    return run.started_at + datetime.timedelta(
        seconds=inject.offset_minutes * 60 + run.paused_seconds + pending_pause
    )


# --- Planning -------------------------------------------------------------------------------


def _check_plan(planned_start, location: str, objectives: str) -> tuple[str, str]:
    if planned_start is None:
        raise DomainError("Indiquez la date et l'heure de l'exercice.", field="day")
    location = (location or "").strip()
    if len(location) > 300:
        raise DomainError("Le lieu tient en 300 caractères au plus.", field="location")
    objectives = _text(objectives, field="objectives", label="les objectifs", required=False)
    return location, objectives


def run_create(
    *,
    actor,
    organisation: Organisation,
    scenario: Scenario,
    planned_start: datetime.datetime,
    location: str = "",
    objectives: str = "",
) -> ExerciseRun:
    """Plan an exercise from a library scenario: the run copies the scenario's title, level,
    theme, evaluation grid and injects, so that what is played stays on record even when the
    library moves on. A run held by a CRRC or an ARS is a regional exercise."""
    if not perms.can_run_for(actor, organisation):
        raise DomainError(perms.NOT_RUNNER, code="forbidden", field="organisation")
    if scenario is None or not perms.can_read_scenario(actor, scenario):
        raise DomainError("Choisissez un scénario de la bibliothèque.", field="scenario")
    if scenario.status != ScenarioStatus.CURRENT:
        raise DomainError(
            "Ce scénario n'est plus la version en vigueur : choisissez sa version actuelle.",
            field="scenario",
        )
    location, objectives = _check_plan(planned_start, location, objectives)
    if not objectives and scenario.objectives:
        objectives = "\n".join(str(o) for o in scenario.objectives)
    kind = RunKind.REGIONAL if organisation.kind in REGIONAL_HOLDERS else RunKind.ESTABLISHMENT
    if organisation.region_id is None:
        raise DomainError(
            "Cette organisation n'est rattachée à aucune région : l'exercice ne peut pas être "
            "planifié.",
            field="organisation",
        )
    with transaction.atomic():
        run = ExerciseRun.objects.create(
            organisation=organisation,
            region_id=organisation.region_id,
            kind=kind,
            scenario=scenario,
            title=scenario.title,
            level=scenario.level,
            theme=scenario.theme,
            is_cyber=scenario.is_cyber,
            objectives=objectives,
            criteria=list(scenario.criteria or []),
            planned_start=planned_start,
            location=location,
            created_by=actor,
        )
        RunInject.objects.bulk_create(
            RunInject(
                run=run,
                order=inject.order,
                offset_minutes=inject.offset_minutes,
                title=inject.title,
                body=inject.body,
                channel=inject.channel,
                functions=list(inject.functions or []),
                expected_reactions=inject.expected_reactions,
            )
            for inject in scenario.injects.order_by("order")
        )
        _refresh(run)
    return run


def run_update(
    *,
    actor,
    run: ExerciseRun,
    planned_start: datetime.datetime,
    location: str = "",
    objectives: str = "",
) -> ExerciseRun:
    """Change the plan (date, place, objectives) while the exercise has not started."""
    _check_runner(actor, run)
    location, objectives = _check_plan(planned_start, location, objectives)
    with transaction.atomic():
        run = _lock(run)
        if run.status != RunStatus.PLANNED:
            raise DomainError("L'exercice a commencé ou est annulé : son plan ne se modifie plus.")
        run.planned_start, run.location, run.objectives = planned_start, location, objectives
        run.save(update_fields=["planned_start", "location", "objectives", "updated_at"])
        _extend_links(run)
        _refresh(run)
    return run


def run_cancel(*, actor, run: ExerciseRun) -> ExerciseRun:
    """Cancel a planned exercise: it is kept (history) and no longer counts for anyone."""
    _check_runner(actor, run)
    with transaction.atomic():
        run = _lock(run)
        if run.status != RunStatus.PLANNED:
            raise DomainError("Seul un exercice planifié, pas encore commencé, s'annule.")
        run.status, run.cancelled_at = RunStatus.CANCELLED, timezone.now()
        run.save(update_fields=["status", "cancelled_at", "updated_at"])
        _refresh(run)
    return run


# --- Timeline -------------------------------------------------------------------------------


@dataclass
class InjectData:
    order: int
    offset_minutes: int
    title: str
    body: str
    channel: str
    functions: list[str]
    expected_reactions: str = ""


def _check_inject(data: InjectData) -> InjectData:
    if data.order is None or data.order < 1:
        raise DomainError("Indiquez un numéro d'ordre d'au moins 1.", field="order")
    if data.offset_minutes is None or data.offset_minutes < 0:
        raise DomainError(
            "Indiquez le décalage en minutes depuis le début (0 ou plus).", field="offset_minutes"
        )
    data.title = _text(data.title, field="title", label="le titre du stimulus")
    if len(data.title) > 200:
        raise DomainError("Le titre tient en 200 caractères au plus.", field="title")
    data.body = _text(data.body, field="body", label="le message diffusé")
    if data.channel not in Channel.values:
        raise DomainError("Choisissez le canal : courriel ou à l'écran.", field="channel")
    functions = list(dict.fromkeys(data.functions or []))
    if any(f not in Function.values for f in functions):
        raise DomainError("Choisissez les destinataires dans la liste.", field="functions")
    data.functions = functions
    data.expected_reactions = _text(
        data.expected_reactions, field="expected_reactions", label="", required=False
    )
    return data


def _check_timeline_open(run: ExerciseRun) -> None:
    if run.status in (RunStatus.FINISHED, RunStatus.CANCELLED):
        raise DomainError("L'exercice est terminé ou annulé : son déroulé ne se modifie plus.")


def _save_inject(run: ExerciseRun, inject: RunInject, data: InjectData) -> RunInject:
    for name in (
        "order",
        "offset_minutes",
        "title",
        "body",
        "channel",
        "functions",
        "expected_reactions",
    ):
        setattr(inject, name, getattr(data, name))
    taken = run.injects.filter(order=data.order).exclude(pk=inject.pk).exists()
    if taken:
        raise DomainError(
            f"Un autre stimulus porte déjà le numéro {data.order} : choisissez un autre numéro.",
            field="order",
        )
    try:
        with transaction.atomic():
            inject.save()
    except IntegrityError as exc:
        raise DomainError(
            f"Un autre stimulus porte déjà le numéro {data.order}.", field="order"
        ) from exc
    return inject


def next_inject_order(run: ExerciseRun) -> int:
    return (run.injects.aggregate(m=Max("order"))["m"] or 0) + 1


def inject_create(*, actor, run: ExerciseRun, data: InjectData) -> RunInject:
    _check_runner(actor, run)
    data = _check_inject(data)
    with transaction.atomic():
        run = _lock(run)
        _check_timeline_open(run)
        return _save_inject(run, RunInject(run=run), data)


def _locked_inject(run: ExerciseRun, inject: RunInject) -> RunInject:
    inject = RunInject.objects.select_for_update().filter(pk=inject.pk, run=run).first()
    if inject is None:
        raise DomainError("Ce stimulus n'existe plus.", code="not_found")
    if inject.released_at is not None:
        raise DomainError(
            "Ce stimulus a déjà été diffusé : il reste tel qu'il a été envoyé aux participants."
        )
    return inject


def inject_update(*, actor, inject: RunInject, data: InjectData) -> RunInject:
    """Edit an inject not yet released (a released one is what the participants received)."""
    run = inject.run
    _check_runner(actor, run)
    data = _check_inject(data)
    with transaction.atomic():
        run = _lock(run)
        _check_timeline_open(run)
        return _save_inject(run, _locked_inject(run, inject), data)


def inject_delete(*, actor, inject: RunInject) -> None:
    run = inject.run
    _check_runner(actor, run)
    with transaction.atomic():
        run = _lock(run)
        _check_timeline_open(run)
        _locked_inject(run, inject).delete()


# --- Participants ---------------------------------------------------------------------------


def participant_organisations(run: ExerciseRun):
    """Organisations a participant may belong to: the establishment itself, or for a regional
    exercise the active establishments of the region."""
    if run.kind == RunKind.REGIONAL:
        return Organisation.objects.filter(
            region_id=run.region_id, kind=OrgKind.ESTABLISHMENT, is_active=True
        ).order_by("name", "pk")
    return Organisation.objects.filter(pk=run.organisation_id)


def participant_add(
    *,
    actor,
    run: ExerciseRun,
    function: str,
    full_name: str,
    role: str = ParticipantRole.PLAYER,
    job_title: str = "",
    email: str = "",
    organisation: Organisation | None = None,
) -> ExerciseParticipant:
    """Name a participant by function. For an establishment's exercise they belong to it; for
    a regional one to one of the region's establishments."""
    _check_runner(actor, run)
    if function not in Function.values:
        raise DomainError("Choisissez la fonction de la personne dans la liste.", field="function")
    if role not in ParticipantRole.values:
        raise DomainError("Choisissez le rôle : joueur, observateur ou animateur.", field="role")
    full_name = _text(full_name, field="full_name", label="le nom et le prénom de la personne")
    if len(full_name) > 200:
        raise DomainError("Le nom tient en 200 caractères au plus.", field="full_name")
    job_title = (job_title or "").strip()[:200]
    email = (email or "").strip().lower()
    if email and ("@" not in email or len(email) > 254):
        raise DomainError(
            "Indiquez une adresse électronique valide, par exemple nom@exemple.fr.", field="email"
        )
    if run.kind == RunKind.ESTABLISHMENT:
        organisation = run.organisation
    elif (
        organisation is None
        or not participant_organisations(run).filter(pk=organisation.pk).exists()
    ):
        raise DomainError(
            "Choisissez l'établissement de la personne parmi ceux de la région.",
            field="organisation",
        )
    with transaction.atomic():
        run = _lock(run)
        if run.status in (RunStatus.FINISHED, RunStatus.CANCELLED):
            raise DomainError(
                "L'exercice est terminé ou annulé : sa liste de participants ne change plus."
            )
        if email and run.participants.filter(email=email).exists():
            raise DomainError(
                f"{email} participe déjà à cet exercice : une personne, une ligne.",
                code="duplicate",
                field="email",
            )
        participant = ExerciseParticipant.objects.create(
            run=run,
            organisation=organisation,
            function=function,
            role=role,
            full_name=full_name,
            job_title=job_title,
            email=email,
        )
        _refresh(run)
    return participant


def participant_remove(*, actor, participant: ExerciseParticipant) -> None:
    run = participant.run
    _check_runner(actor, run)
    with transaction.atomic():
        run = _lock(run)
        if run.status in (RunStatus.FINISHED, RunStatus.CANCELLED):
            raise DomainError(
                "L'exercice est terminé ou annulé : sa liste de participants ne change plus."
            )
        ExerciseParticipant.objects.filter(pk=participant.pk, run=run).delete()
        _refresh(run)


def attendance_record(*, actor, run: ExerciseRun, present_ids: set[int]) -> int:
    """Mark each participant present (ticked) or absent, once the exercise has started. The
    absent players no longer count for the functions the rule requires. Returns how many are
    present."""
    _check_runner(actor, run)
    with transaction.atomic():
        run = _lock(run)
        if run.status not in STARTED:
            raise DomainError("Les présences se relèvent une fois l'exercice commencé.")
        participants = list(run.participants.select_for_update())
        unknown = set(present_ids) - {p.pk for p in participants}
        if unknown:
            raise DomainError("Seuls les participants de cet exercice peuvent être cochés.")
        present = 0
        for participant in participants:
            attended = participant.pk in present_ids
            present += attended
            if participant.attended is not attended:
                participant.attended = attended
                participant.save(update_fields=["attended"])
        _refresh(run)
    return present


# --- Signed links ---------------------------------------------------------------------------


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def link_token(raw: str) -> str:
    return signing.TimestampSigner(salt=LINK_SALT).sign(raw)


def link_url(raw: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(
        "exercises:participant_page", args=[link_token(raw)]
    )


def participant_for_link(token: str, *, now: datetime.datetime | None = None):
    """The participant of a link; None for a forged, unknown, replaced or expired one (the
    page answers the same for all, so a guess learns nothing)."""
    try:
        raw = signing.TimestampSigner(salt=LINK_SALT).unsign(token or "")
    except signing.BadSignature:
        return None
    participant = (
        ExerciseParticipant.objects.select_related("run", "organisation")
        .filter(link_token_hash=_hash(raw))
        .first()
    )
    now = now or timezone.now()
    if participant is None or participant.link_expires_at is None:
        return None
    if participant.link_expires_at <= now or participant.run.status == RunStatus.CANCELLED:
        return None
    return participant


def _new_link(participant: ExerciseParticipant, run: ExerciseRun) -> tuple[str, datetime.datetime]:
    """A fresh token for the participant (the previous link stops working); (url, expiry)."""
    expires = planned_end(run) + LINK_GRACE
    raw = secrets.token_urlsafe(LINK_TOKEN_BYTES)
    participant.link_token_hash = _hash(raw)
    participant.link_expires_at = expires
    participant.link_sent_at = timezone.now()
    participant.save(update_fields=["link_token_hash", "link_expires_at", "link_sent_at"])
    return link_url(raw), expires


def participant_send_link(*, actor, participant: ExerciseParticipant) -> None:
    """E-mail the participant their personal link (after commit). Sending again makes a new
    link and the old one stops working."""
    run = participant.run
    _check_runner(actor, run)
    if not participant.email:
        raise DomainError(
            f"{participant.full_name} n'a pas d'adresse électronique : ajoutez-la d'abord "
            "(retirez puis renommez la personne)."
        )
    if run.status == RunStatus.CANCELLED:
        raise DomainError("L'exercice est annulé : aucun lien n'est envoyé.")
    if planned_end(run) + LINK_GRACE <= timezone.now():
        raise DomainError(
            "L'exercice s'est terminé il y a plus de 7 jours : le lien expirerait aussitôt."
        )
    pk = participant.pk
    transaction.on_commit(lambda: _queue_link(pk), robust=True)


def _queue_link(participant_id: int) -> None:
    from . import tasks

    tasks.send_participant_link.delay(participant_id)


def link_send(participant_id: int) -> bool:
    """Task body: make a new link and e-mail it. Token and e-mail commit together: if the
    mail server refuses, the old link keeps working."""
    with transaction.atomic():
        participant = (
            ExerciseParticipant.objects.select_for_update(of=("self",))
            .select_related("run", "run__scenario", "organisation")
            .filter(pk=participant_id)
            .exclude(email="")
            .first()
        )
        if participant is None or participant.run.status == RunStatus.CANCELLED:
            return False
        run = participant.run
        url, expires = _new_link(participant, run)
        _email(
            participant,
            subject=f"[Rempart] Exercice de crise : votre lien personnel — {run.title}",
            template="exercises/participant_email_link.txt",
            context={"url": url, "expires": _fmt(expires), "starts": _fmt(run.planned_start)},
        ).send()
    return True


def _email(participant: ExerciseParticipant, *, subject: str, template: str, context: dict):
    run = participant.run
    return EmailMessage(
        subject=subject,
        body=render_to_string(
            template,
            {
                "participant": participant,
                "run": run,
                "function": FUNCTION_LABELS.get(participant.function, participant.function),
                **context,
            },
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[participant.email],
    )


# --- Live console ---------------------------------------------------------------------------


def _event(run: ExerciseRun, text: str, *, actor=None, inject=None, now=None) -> JournalEntry:
    now = now or timezone.now()
    return JournalEntry.objects.create(
        run=run,
        at=now,
        exercise_seconds=exercise_seconds(run, now) if run.started_at else None,
        kind=EntryKind.EVENT,
        inject=inject,
        author=actor,
        text=text,
    )


def run_start(*, actor, run: ExerciseRun, now: datetime.datetime | None = None) -> ExerciseRun:
    _check_runner(actor, run)
    now = now or timezone.now()
    with transaction.atomic():
        run = _lock(run)
        if run.status != RunStatus.PLANNED:
            raise DomainError(
                {
                    RunStatus.CANCELLED: "L'exercice est annulé : il ne peut pas commencer.",
                    RunStatus.FINISHED: "L'exercice est terminé : il ne recommence pas.",
                }.get(run.status, "L'exercice a déjà commencé.")
            )
        run.status, run.started_at = RunStatus.RUNNING, now
        run.save(update_fields=["status", "started_at", "updated_at"])
        _extend_links(run)
        _event(run, "Début de l'exercice.", actor=actor, now=now)
        _release_due(run, now)
        _refresh(run)
    return run


def run_pause(*, actor, run: ExerciseRun, now: datetime.datetime | None = None) -> ExerciseRun:
    """Pause: the exercise clock stops, so no inject falls due until the run resumes."""
    _check_runner(actor, run)
    now = now or timezone.now()
    with transaction.atomic():
        run = _lock(run)
        if run.status != RunStatus.RUNNING:
            raise DomainError("Seul un exercice en cours se met en pause.")
        _release_due(run, now)
        run.status, run.paused_at = RunStatus.PAUSED, now
        run.save(update_fields=["status", "paused_at", "updated_at"])
        _event(run, "Pause.", actor=actor, now=now)
    return run


def _close_pause(run: ExerciseRun, now: datetime.datetime) -> None:
    if run.paused_at is not None:
        run.paused_seconds += max(int((now - run.paused_at).total_seconds()), 0)
        run.paused_at = None


def run_resume(*, actor, run: ExerciseRun, now: datetime.datetime | None = None) -> ExerciseRun:
    _check_runner(actor, run)
    now = now or timezone.now()
    with transaction.atomic():
        run = _lock(run)
        if run.status != RunStatus.PAUSED:
            raise DomainError("Seul un exercice en pause reprend.")
        _close_pause(run, now)
        run.status = RunStatus.RUNNING
        run.save(update_fields=["status", "paused_at", "paused_seconds", "updated_at"])
        _event(run, "Reprise de l'exercice.", actor=actor, now=now)
        _release_due(run, now)
    return run


def run_end(*, actor, run: ExerciseRun, now: datetime.datetime | None = None) -> ExerciseRun:
    """End the exercise. Injects not released stay unreleased (the report shows them so)."""
    _check_runner(actor, run)
    now = now or timezone.now()
    with transaction.atomic():
        run = _lock(run)
        if run.status not in LIVE:
            raise DomainError("Seul un exercice en cours ou en pause se termine.")
        if run.status == RunStatus.RUNNING:
            _release_due(run, now)
        _close_pause(run, now)
        run.status, run.ended_at = RunStatus.FINISHED, now
        run.save(update_fields=["status", "paused_at", "paused_seconds", "ended_at", "updated_at"])
        _event(run, "Fin de l'exercice.", actor=actor, now=now)
        _refresh(run)
    return run


def _release(run: ExerciseRun, inject: RunInject, *, now, actor=None, manual=False) -> None:
    inject.released_at, inject.released_by = now, actor
    inject.save(update_fields=["released_at", "released_by"])
    how = "diffusé manuellement" if manual else "diffusé"
    channel = "par courriel" if inject.channel == Channel.EMAIL else "à l'écran"
    _event(
        run,
        f"Stimulus n° {inject.order} {how} {channel} : {inject.title}",
        actor=actor,
        inject=inject,
        now=now,
    )
    if inject.channel == Channel.EMAIL:
        pk = inject.pk
        transaction.on_commit(lambda: _queue_inject_email(pk), robust=True)


def _release_due(run: ExerciseRun, now: datetime.datetime) -> list[RunInject]:
    """Release the injects whose offset is reached (run locked, in progress)."""
    if run.status != RunStatus.RUNNING:
        return []
    elapsed_minutes = exercise_seconds(run, now) // 60
    due = list(
        run.injects.select_for_update()
        .filter(released_at__isnull=True, offset_minutes__lte=elapsed_minutes)
        .order_by("offset_minutes", "order")
    )
    for inject in due:
        _release(run, inject, now=now)
    return due


def release_due_injects(run: ExerciseRun, now: datetime.datetime | None = None) -> int:
    """Release every inject due at `now` (called by each console and participant poll and by
    the beat task). Idempotent: an inject is released once, under the run's lock."""
    if run.status != RunStatus.RUNNING:
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(run)
        released = _release_due(locked, now)
    return len(released)


def release_all_due(now: datetime.datetime | None = None) -> int:
    """Every run in progress (the beat task); one failing run does not stop the others."""
    now = now or timezone.now()
    total = 0
    for run in ExerciseRun.objects.filter(status=RunStatus.RUNNING).only("pk", "status"):
        try:
            total += release_due_injects(run, now)
        except Exception:
            logger.exception("Releasing the due injects of exercise run %s failed", run.pk)
    return total


def inject_release_now(
    *, actor, inject: RunInject, now: datetime.datetime | None = None
) -> RunInject:
    """« Diffuser maintenant »: release one inject before its time (in progress or paused)."""
    run = inject.run
    _check_runner(actor, run)
    now = now or timezone.now()
    with transaction.atomic():
        run = _lock(run)
        if run.status not in LIVE:
            raise DomainError("Un stimulus se diffuse pendant l'exercice (en cours ou en pause).")
        inject = _locked_inject(run, inject)
        _release(run, inject, now=now, actor=actor, manual=True)
    return inject


def _queue_inject_email(inject_id: int) -> None:
    from . import tasks

    tasks.send_inject_email.delay(inject_id)


def recipients(inject: RunInject):
    """Participants an inject goes to: those of its functions (no function: everyone)."""
    participants = inject.run.participants.all()
    if inject.functions:
        participants = participants.filter(function__in=inject.functions)
    return participants


def inject_email_send(inject_id: int) -> int:
    """Task body: e-mail a released inject to its recipients. A participant without a valid
    link gets a new one in this e-mail; the others keep theirs (a new token would close the
    page they may have open). Returns how many e-mails left."""
    inject = (
        RunInject.objects.select_related("run", "run__scenario")
        .filter(pk=inject_id, released_at__isnull=False, channel=Channel.EMAIL)
        .first()
    )
    if inject is None:
        return 0
    run = inject.run
    now = timezone.now()
    sent = 0
    for pk in list(recipients(inject).exclude(email="").values_list("pk", flat=True)):
        try:
            with transaction.atomic():
                participant = (
                    ExerciseParticipant.objects.select_for_update(of=("self",))
                    .select_related("run", "organisation")
                    .get(pk=pk)
                )
                url = None
                if not participant.link_token_hash or (
                    participant.link_expires_at and participant.link_expires_at <= now
                ):
                    url, _expires = _new_link(participant, run)
                _email(
                    participant,
                    subject=f"[Rempart] [EXERCICE] {inject.title}",
                    template="exercises/participant_email_inject.txt",
                    context={
                        "inject": inject,
                        "url": url,
                        "link_sent": participant.link_sent_at,
                    },
                ).send()
                sent += 1
        except Exception:  # one refused address must not stop the others
            logger.exception("Inject %s e-mail to participant %s failed", inject_id, pk)
    return sent


# --- Journal and messages -------------------------------------------------------------------


def journal_note(
    *, actor, run: ExerciseRun, kind: str, text: str, inject: RunInject | None = None
) -> JournalEntry:
    """The facilitator notes a reaction (to an inject), a decision or an observation."""
    _check_runner(actor, run)
    if kind not in NOTE_KINDS:
        raise DomainError(
            "Choisissez le type de note : réaction, décision ou observation.", field="kind"
        )
    text = _text(text, field="text", label="le texte de la note")
    with transaction.atomic():
        run = _lock(run)
        if run.status not in STARTED:
            raise DomainError("Le journal s'ouvre au début de l'exercice.")
        if inject is not None and inject.run_id != run.pk:
            raise DomainError("Choisissez un stimulus de cet exercice.", field="inject")
        now = timezone.now()
        return JournalEntry.objects.create(
            run=run,
            at=now,
            exercise_seconds=exercise_seconds(run, now),
            kind=kind,
            inject=inject,
            author=actor,
            text=text,
        )


def participant_message(*, participant: ExerciseParticipant, text: str) -> JournalEntry:
    """A participant writes to the facilitator through their link (during the exercise)."""
    text = _text(text, field="text", label="votre message")
    if len(text) > 2000:
        raise DomainError("Votre message tient en 2 000 caractères au plus.", field="text")
    with transaction.atomic():
        run = _lock(participant.run)
        if run.status not in LIVE:
            raise DomainError(
                "L'exercice n'est pas en cours : les messages sont fermés."
                if run.status != RunStatus.PLANNED
                else "L'exercice n'a pas commencé : les messages s'ouvrent à son début."
            )
        now = timezone.now()
        return JournalEntry.objects.create(
            run=run,
            at=now,
            exercise_seconds=exercise_seconds(run, now),
            kind=EntryKind.MESSAGE,
            participant=participant,
            text=text,
        )


# --- Evaluation and debrief -----------------------------------------------------------------


def _check_finished(run: ExerciseRun, what: str) -> None:
    if run.status != RunStatus.FINISHED:
        raise DomainError(f"{what} se renseigne une fois l'exercice terminé.")


def evaluation_save(
    *, actor, run: ExerciseRun, scores: dict, objectives_met: str = "", summary: str = ""
) -> Evaluation:
    """The evaluation grid (one per run; saving again updates it): a score from 1 to 4 for
    every criterion of the run's grid, with an optional comment."""
    _check_runner(actor, run)
    clean = {}
    for criterion in run.criteria or []:
        code = criterion.get("code")
        entry = (scores or {}).get(code) or {}
        score = entry.get("score")
        if not isinstance(score, int) or not 1 <= score <= 4:
            raise DomainError(
                f"Notez le critère « {criterion.get('label', code)} » de 1 à 4.",
                field=f"score_{code}",
            )
        clean[code] = {
            "score": score,
            "comment": _text(
                entry.get("comment"), field=f"comment_{code}", label="", required=False
            ),
        }
    objectives_met = _text(objectives_met, field="objectives_met", label="", required=False)
    summary = _text(summary, field="summary", label="la synthèse de l'évaluation")
    with transaction.atomic():
        run = _lock(run)
        _check_finished(run, "L'évaluation")
        evaluation, _created = Evaluation.objects.update_or_create(
            run=run,
            defaults={
                "scores": clean,
                "objectives_met": objectives_met,
                "summary": summary,
                "evaluated_by": actor,
                "evaluated_at": timezone.now(),
            },
        )
        _refresh(run)
    return evaluation


def debrief_save(
    *,
    actor,
    run: ExerciseRun,
    held_on: datetime.date,
    strengths: str,
    improvements: str,
    notes: str = "",
) -> Debrief:
    """The RETEX (one per run; saving again updates it), held on or after the exercise day."""
    _check_runner(actor, run)
    if held_on is None:
        raise DomainError("Indiquez la date du RETEX.", field="held_on")
    strengths = _text(strengths, field="strengths", label="les points forts")
    improvements = _text(improvements, field="improvements", label="les axes d'amélioration")
    notes = _text(notes, field="notes", label="", required=False)
    with transaction.atomic():
        run = _lock(run)
        _check_finished(run, "Le RETEX")
        played_on = timezone.localdate(run.started_at)
        if held_on < played_on:
            raise DomainError(
                f"Le RETEX suit l'exercice : indiquez une date à partir du {played_on:%d/%m/%Y}.",
                field="held_on",
            )
        if held_on > timezone.localdate():
            raise DomainError(
                "Le RETEX s'enregistre une fois tenu : la date ne peut pas être à venir.",
                field="held_on",
            )
        debrief, _created = Debrief.objects.update_or_create(
            run=run,
            defaults={
                "held_on": held_on,
                "strengths": strengths,
                "improvements": improvements,
                "notes": notes,
                "written_by": actor,
            },
        )
        _refresh(run)
    return debrief


@dataclass
class ActionData:
    title: str
    owner: str = ""
    due_on: datetime.date | None = None
    priority: str = ActionPriority.MEDIUM
    status: str = ActionStatus.TODO


def _check_action(data: ActionData) -> ActionData:
    data.title = _text(data.title, field="title", label="l'action décidée")
    if len(data.title) > 300:
        raise DomainError("L'action tient en 300 caractères au plus.", field="title")
    data.owner = (data.owner or "").strip()[:200]
    if data.priority not in ActionPriority.values:
        raise DomainError("Choisissez la priorité : haute, moyenne ou basse.", field="priority")
    if data.status not in ActionStatus.values:
        raise DomainError("Choisissez le statut : à faire, en cours ou faite.", field="status")
    return data


def _debrief_of(run: ExerciseRun) -> Debrief:
    debrief = Debrief.objects.filter(run=run).first()
    if debrief is None:
        raise DomainError("Enregistrez d'abord le RETEX, puis ses actions.")
    return debrief


def action_create(*, actor, run: ExerciseRun, data: ActionData) -> DebriefAction:
    """An action decided at the RETEX. A past due date is accepted (the pages flag it)."""
    _check_runner(actor, run)
    data = _check_action(data)
    with transaction.atomic():
        run = _lock(run)
        return DebriefAction.objects.create(debrief=_debrief_of(run), **data.__dict__)


def action_update(*, actor, action: DebriefAction, data: ActionData) -> DebriefAction:
    run = action.debrief.run
    _check_runner(actor, run)
    data = _check_action(data)
    with transaction.atomic():
        _lock(run)
        action = DebriefAction.objects.select_for_update().get(pk=action.pk)
        for name, value in data.__dict__.items():
            setattr(action, name, value)
        action.save()
    return action


def action_delete(*, actor, action: DebriefAction) -> None:
    run = action.debrief.run
    _check_runner(actor, run)
    with transaction.atomic():
        _lock(run)
        DebriefAction.objects.filter(pk=action.pk).delete()
