"""Reads of exercise runs, scoped by the acting user's memberships.

* A run is seen by the people who run its holder's exercises (perms.run_q): the
  establishment's director, RSSI or DSI; for a regional run the CRRC/ARS that holds it.
  Anything else is 404, even with a guessed id; a person who runs no exercise at all gets 403.
* An establishment taking part in a regional run sees that run as one read-only line of its
  list (with its own verdict), never its console, participants of other establishments or
  journal.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from rempart.core.roles import Capability
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation

from . import perms
from .models import (
    ActionStatus,
    CoverageRecord,
    Debrief,
    DebriefAction,
    EntryKind,
    Evaluation,
    ExerciseParticipant,
    ExerciseRun,
    Function,
    JournalEntry,
    RunInject,
    RunKind,
    RunStatus,
    Scenario,
    ScenarioStatus,
)
from .services import due_at, exercise_seconds
from .validity import ValidityRule, rule


def require_runner(user) -> Q:
    q = perms.run_q(user)
    if q is None:
        raise PermissionDenied(perms.NOT_RUNNER)
    return q


def _run_organisations(user) -> QuerySet:
    return Organisation.objects.filter(require_runner(user)).values("pk")


def my_runs(user) -> QuerySet[ExerciseRun]:
    """The runs of the organisations the user runs exercises for, with their verdicts."""
    return (
        ExerciseRun.objects.filter(organisation__in=_run_organisations(user))
        .select_related("organisation", "scenario")
        .prefetch_related(
            Prefetch(
                "coverage",
                queryset=CoverageRecord.objects.select_related("organisation").order_by(
                    "organisation__name", "pk"
                ),
            )
        )
        .annotate(participant_count=Count("participants", distinct=True))
        .order_by("-planned_start", "-pk")
    )


def regional_lines(user) -> list[ExerciseRun]:
    """Regional runs the user's establishments take part in (held by someone else), each with
    `own_records`: the verdicts of the user's organisations only."""
    q = org_perms.capability_q(user, Capability.RUN_EXERCISES)
    if q is None:
        return []
    mine = Organisation.objects.filter(q).values("pk")
    runs = list(
        ExerciseRun.objects.filter(kind=RunKind.REGIONAL, participants__organisation__in=mine)
        .exclude(organisation__in=_run_organisations(user))
        .exclude(status=RunStatus.CANCELLED)
        .select_related("organisation")
        .prefetch_related(
            Prefetch(
                "coverage",
                queryset=CoverageRecord.objects.filter(organisation__in=mine)
                .select_related("organisation")
                .order_by("organisation__name", "pk"),
                to_attr="own_records",
            )
        )
        .distinct()
        .order_by("-planned_start", "-pk")
    )
    return runs


def get_run(user, pk: int) -> ExerciseRun:
    run = (
        ExerciseRun.objects.filter(organisation__in=_run_organisations(user), pk=pk)
        .select_related("organisation", "scenario", "region")
        .first()
    )
    if run is None:
        raise Http404("Exercice introuvable.")
    return run


def get_inject(run: ExerciseRun, pk: int) -> RunInject:
    inject = RunInject.objects.filter(run=run, pk=pk).select_related("run").first()
    if inject is None:
        raise Http404("Stimulus introuvable.")
    return inject


def get_participant(run: ExerciseRun, pk: int) -> ExerciseParticipant:
    participant = ExerciseParticipant.objects.filter(run=run, pk=pk).select_related("run").first()
    if participant is None:
        raise Http404("Participant introuvable.")
    return participant


def get_action(run: ExerciseRun, pk: int) -> DebriefAction:
    action = (
        DebriefAction.objects.filter(debrief__run=run, pk=pk)
        .select_related("debrief", "debrief__run")
        .first()
    )
    if action is None:
        raise Http404("Action introuvable.")
    return action


def organisation_choices(user) -> QuerySet[Organisation]:
    """The organisations the user may plan an exercise for."""
    return Organisation.objects.filter(
        require_runner(user), is_active=True, region__isnull=False
    ).order_by("name", "pk")


def scenario_choices(user) -> QuerySet[Scenario]:
    """Current library versions the user reads (national, their region's, their own)."""
    q = perms.scenario_q(user)
    if q is None:
        return Scenario.objects.none()
    return Scenario.objects.filter(q, status=ScenarioStatus.CURRENT).order_by(
        "level", "title", "pk"
    )


def participants(run: ExerciseRun) -> list[ExerciseParticipant]:
    return list(run.participants.select_related("organisation").order_by("function", "full_name"))


@dataclass
class FunctionGroup:
    code: str
    label: str
    people: list = field(default_factory=list)


def by_function(rows: list[ExerciseParticipant]) -> list[FunctionGroup]:
    """Participants grouped by function, in the order of models.Function."""
    groups = {code: FunctionGroup(code, str(label)) for code, label in Function.choices}
    for row in rows:
        groups[row.function].people.append(row)
    return [group for group in groups.values() if group.people]


def timeline(run: ExerciseRun, now: datetime.datetime | None = None) -> list[RunInject]:
    """The run's injects in order, each with `due` (expected wall-clock time, if started),
    `is_due` and `targets` (function labels)."""
    now = now or timezone.now()
    labels = dict(Function.choices)
    injects = list(run.injects.select_related("released_by").order_by("offset_minutes", "order"))
    elapsed = exercise_seconds(run, now)
    for inject in injects:
        inject.due = due_at(run, inject, now) if inject.released_at is None else None
        inject.is_due = run.started_at is not None and inject.offset_minutes * 60 <= elapsed
        inject.targets = [str(labels.get(f, f)) for f in inject.functions] or ["Tous"]
    return injects


def journal(run: ExerciseRun) -> QuerySet[JournalEntry]:
    return run.journal.select_related("author", "participant", "inject").order_by("at", "pk")


def participant_feed(participant: ExerciseParticipant) -> list[RunInject]:
    """Injects released to the participant's function (an inject with no function goes to
    everyone), newest first."""
    injects = participant.run.injects.filter(released_at__isnull=False).order_by(
        "-released_at", "-order"
    )
    return [i for i in injects if not i.functions or participant.function in i.functions]


def participant_messages(participant: ExerciseParticipant) -> QuerySet[JournalEntry]:
    return participant.run.journal.filter(kind=EntryKind.MESSAGE, participant=participant).order_by(
        "-at", "-pk"
    )


@dataclass
class RunVerdict:
    rule: ValidityRule
    records: list
    requirements: list[str]

    @property
    def counts(self) -> bool:
        return bool(self.records) and all(r.counts for r in self.records)


def verdict(run: ExerciseRun) -> RunVerdict:
    """The validity verdict per participating organisation, with its end of validity."""
    the_rule = rule()
    records = list(
        CoverageRecord.objects.filter(run=run)
        .select_related("organisation")
        .order_by("organisation__name", "pk")
    )
    for record in records:
        record.valid_until = (
            the_rule.valid_until(record.held_on) if record.counts and record.held_on else None
        )
    return RunVerdict(rule=the_rule, records=records, requirements=the_rule.requirements())


def evaluation_of(run: ExerciseRun) -> Evaluation | None:
    return Evaluation.objects.filter(run=run).select_related("evaluated_by").first()


def debrief_of(run: ExerciseRun) -> Debrief | None:
    return Debrief.objects.filter(run=run).select_related("written_by").first()


def actions(run: ExerciseRun) -> list[DebriefAction]:
    rows = list(DebriefAction.objects.filter(debrief__run=run).order_by("due_on", "pk"))
    today = timezone.localdate()
    for action in rows:
        action.overdue = bool(
            action.due_on and action.due_on < today and action.status != ActionStatus.DONE
        )
    return rows
