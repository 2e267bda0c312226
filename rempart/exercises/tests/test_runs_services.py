"""Services of exercise runs: planning, timeline, participants, transitions, pause arithmetic,
release of due injects, e-mails to the targeted functions, coverage verdict."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.exercises import services
from rempart.exercises.models import (
    Channel,
    CoverageRecord,
    EntryKind,
    ExerciseRun,
    Function,
    JournalEntry,
    RunInject,
    RunKind,
    RunStatus,
    ScenarioStatus,
)
from rempart.exercises.services import InjectData

from .factories import ScenarioFactory, add_player, exercises_world

pytestmark = pytest.mark.django_db


def on_commit_now(monkeypatch) -> None:
    """Run the `on_commit` callbacks (e-mails) at once: a test's transaction never commits."""
    monkeypatch.setattr(
        "django.db.transaction.on_commit", lambda func, using=None, robust=False: func()
    )


@pytest.fixture
def world(monkeypatch):
    on_commit_now(monkeypatch)
    return exercises_world()


@pytest.fixture
def run(world):
    return plan(world)


def plan(world, organisation=None, actor=None, **kw):
    return services.run_create(
        actor=actor or world.director,
        organisation=organisation or world.establishment,
        scenario=kw.pop("scenario", None) or ScenarioFactory(),
        planned_start=kw.pop("planned_start", timezone.now() + datetime.timedelta(days=3)),
        location="Salle de crise",
        **kw,
    )


def record(run, organisation=None):
    return CoverageRecord.objects.get(run=run, organisation=organisation or run.organisation)


# --- Planning ---------------------------------------------------------------------------------


def test_plan_copies_the_scenario(world):
    scenario = ScenarioFactory(title="Rançongiciel de nuit")
    run = plan(world, scenario=scenario)
    assert run.kind == RunKind.ESTABLISHMENT
    assert run.title == "Rançongiciel de nuit"
    assert run.criteria == scenario.criteria
    assert run.objectives.splitlines() == scenario.objectives
    assert list(run.injects.values_list("order", "offset_minutes", "channel")) == [
        (1, 0, Channel.SCREEN),
        (2, 30, Channel.EMAIL),
    ]
    # The run keeps its copy: editing the library does not move it.
    scenario.injects.filter(order=2).update(title="Changé")
    assert run.injects.get(order=2).title == "Appel d'un journaliste"
    assert record(run).counts is False
    assert "L'exercice n'a pas encore été joué." in record(run).reasons


def test_regional_run_held_by_the_crrc(world):
    run = plan(world, organisation=world.crrc, actor=world.trainer)
    assert run.kind == RunKind.REGIONAL
    # No coverage record for the holder itself.
    assert not CoverageRecord.objects.filter(run=run).exists()


def test_plan_refusals(world):
    with pytest.raises(DomainError) as exc:
        plan(world, organisation=world.sibling)
    assert exc.value.code == "forbidden"
    with pytest.raises(DomainError) as exc:
        plan(world, actor=world.staff)
    assert exc.value.code == "forbidden"
    # The CRRC does not plan an establishment's exercise.
    with pytest.raises(DomainError):
        plan(world, actor=world.trainer)
    old = ScenarioFactory(status=ScenarioStatus.SUPERSEDED)
    with pytest.raises(DomainError, match="version en vigueur"):
        plan(world, scenario=old)
    other_region = ScenarioFactory(region=world.other_region)
    with pytest.raises(DomainError, match="bibliothèque"):
        plan(world, scenario=other_region)
    assert not ExerciseRun.objects.exists()


def test_update_and_cancel_only_while_planned(world, run):
    later = run.planned_start + datetime.timedelta(days=1)
    services.run_update(actor=world.director, run=run, planned_start=later, location="Site B")
    run.refresh_from_db()
    assert (run.planned_start, run.location) == (later, "Site B")
    with pytest.raises(DomainError):
        services.run_update(actor=world.sibling_director, run=run, planned_start=later)
    services.run_cancel(actor=world.director, run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert not CoverageRecord.objects.filter(run=run).exists()
    with pytest.raises(DomainError, match="Seul un exercice planifié"):
        services.run_cancel(actor=world.director, run=run)
    with pytest.raises(DomainError, match="ne se modifie plus"):
        services.run_update(actor=world.director, run=run, planned_start=later)


# --- Timeline ---------------------------------------------------------------------------------


def _inject(**kw):
    data = {
        "order": 3,
        "offset_minutes": 45,
        "title": "Coupure du téléphone",
        "body": "Le standard ne répond plus.",
        "channel": Channel.SCREEN,
        "functions": [Function.LOGISTICS],
        "expected_reactions": "",
    }
    return InjectData(**{**data, **kw})


def test_timeline_edit_and_released_frozen(world, run):
    inject = services.inject_create(actor=world.director, run=run, data=_inject())
    assert inject.pk
    assert inject.functions == [Function.LOGISTICS]
    with pytest.raises(DomainError, match="numéro 1"):
        services.inject_create(actor=world.director, run=run, data=_inject(order=1))
    with pytest.raises(DomainError, match="canal"):
        services.inject_create(actor=world.director, run=run, data=_inject(order=9, channel="fax"))
    services.inject_update(actor=world.director, inject=inject, data=_inject(title="Autre"))
    inject.refresh_from_db()
    assert inject.title == "Autre"
    services.run_start(actor=world.director, run=run)
    first = run.injects.get(order=1)
    assert first.released_at is not None  # offset 0: released at the start
    with pytest.raises(DomainError, match="déjà été diffusé"):
        services.inject_update(actor=world.director, inject=first, data=_inject(order=1))
    with pytest.raises(DomainError, match="déjà été diffusé"):
        services.inject_delete(actor=world.director, inject=first)
    services.inject_delete(actor=world.director, inject=inject)
    assert not RunInject.objects.filter(pk=inject.pk).exists()


# --- Transitions and exercise time --------------------------------------------------------------


def test_transitions_and_pause_arithmetic(world, run):
    t0 = timezone.now()
    with pytest.raises(DomainError, match="en cours"):
        services.run_pause(actor=world.director, run=run, now=t0)
    with pytest.raises(DomainError):
        services.run_end(actor=world.director, run=run, now=t0)
    services.run_start(actor=world.director, run=run, now=t0)
    with pytest.raises(DomainError, match="déjà commencé"):
        services.run_start(actor=world.director, run=run, now=t0)
    services.run_pause(actor=world.director, run=run, now=t0 + datetime.timedelta(minutes=10))
    run.refresh_from_db()
    # While paused the clock stands still.
    assert services.exercise_seconds(run, t0 + datetime.timedelta(minutes=50)) == 600
    services.run_resume(actor=world.director, run=run, now=t0 + datetime.timedelta(minutes=25))
    run.refresh_from_db()
    assert run.paused_seconds == 15 * 60
    assert run.paused_at is None
    assert services.exercise_seconds(run, t0 + datetime.timedelta(minutes=40)) == 25 * 60
    # The inject at T+30 is not due at wall clock +40 (exercise time 25 min) but at +45.
    assert services.release_due_injects(run, t0 + datetime.timedelta(minutes=40)) == 0
    assert services.release_due_injects(run, t0 + datetime.timedelta(minutes=45)) == 1
    assert services.release_due_injects(run, t0 + datetime.timedelta(minutes=46)) == 0  # once
    services.run_pause(actor=world.director, run=run, now=t0 + datetime.timedelta(minutes=50))
    services.run_end(actor=world.director, run=run, now=t0 + datetime.timedelta(minutes=60))
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED
    assert run.paused_seconds == 25 * 60
    assert services.exercise_seconds(run) == 35 * 60
    with pytest.raises(DomainError, match="ne recommence pas"):
        services.run_start(actor=world.director, run=run)
    events = list(
        JournalEntry.objects.filter(run=run, kind=EntryKind.EVENT).values_list("text", flat=True)
    )
    assert events[0] == "Début de l'exercice."
    assert events[-1] == "Fin de l'exercice."
    assert sum("Stimulus n°" in text for text in events) == 2
    assert "Pause." in events
    assert "Reprise de l'exercice." in events


def test_beat_releases_only_runs_in_progress(world, run):
    t0 = timezone.now() - datetime.timedelta(hours=1)
    services.run_start(actor=world.director, run=run, now=t0)
    paused = plan(world)
    services.run_start(actor=world.director, run=paused, now=t0)
    services.run_pause(actor=world.director, run=paused, now=t0 + datetime.timedelta(minutes=1))
    assert services.release_all_due() == 1
    assert run.injects.filter(released_at__isnull=True).count() == 0
    assert paused.injects.filter(released_at__isnull=True).count() == 1


def test_release_now_and_email_to_targeted_functions(world, run):
    manager = add_player(run, Function.GENERAL_MANAGEMENT, email="dg@ch.fr")
    add_player(run, Function.COMMUNICATION, email="com@ch.fr")
    add_player(run, Function.IT, email="dsi@ch.fr")
    add_player(run, Function.MEDICAL, email="")
    services.run_start(actor=world.director, run=run)
    mail.outbox.clear()
    journalist = run.injects.get(order=2)  # e-mail, to communication + general management
    with pytest.raises(DomainError):
        services.inject_release_now(actor=world.sibling_director, inject=journalist)
    services.inject_release_now(actor=world.director, inject=journalist)
    journalist.refresh_from_db()
    assert journalist.released_by == world.director
    assert sorted(m.to[0] for m in mail.outbox) == ["com@ch.fr", "dg@ch.fr"]
    body = next(m.body for m in mail.outbox if m.to == ["dg@ch.fr"])
    assert "Un journaliste demande confirmation" in body
    # Nobody had a link yet: each e-mail carries a fresh one, that opens their page.
    token = body.split("/participer/")[1].split("/")[0]
    assert services.participant_for_link(token).pk == manager.pk
    with pytest.raises(DomainError, match="déjà été diffusé"):
        services.inject_release_now(actor=world.director, inject=journalist)


def test_inject_without_functions_goes_to_everyone(world, run):
    add_player(run, Function.IT, email="dsi@ch.fr")
    add_player(run, Function.CARE, email="soins@ch.fr")
    inject = services.inject_create(
        actor=world.director,
        run=run,
        data=_inject(order=5, offset_minutes=90, channel=Channel.EMAIL, functions=[]),
    )
    services.run_start(actor=world.director, run=run)
    mail.outbox.clear()
    services.inject_release_now(actor=world.director, inject=inject)
    assert sorted(m.to[0] for m in mail.outbox) == ["dsi@ch.fr", "soins@ch.fr"]


# --- Participants and links ---------------------------------------------------------------------


def test_participants_and_regional_organisations(world, run):
    with pytest.raises(DomainError, match="fonction"):
        services.participant_add(actor=world.director, run=run, function="chef", full_name="X")
    p = services.participant_add(
        actor=world.director, run=run, function=Function.IT, full_name="Ana", email="A@ch.fr"
    )
    assert p.organisation == world.establishment
    assert p.email == "a@ch.fr"
    with pytest.raises(DomainError, match="déjà"):
        services.participant_add(
            actor=world.director, run=run, function=Function.CARE, full_name="B", email="a@ch.fr"
        )
    regional = plan(world, organisation=world.crrc, actor=world.trainer)
    with pytest.raises(DomainError, match="région"):
        services.participant_add(
            actor=world.trainer,
            run=regional,
            function=Function.IT,
            full_name="Z",
            organisation=world.other_establishment,
        )
    services.participant_add(
        actor=world.trainer,
        run=regional,
        function=Function.IT,
        full_name="Z",
        organisation=world.sibling,
    )
    assert record(regional, world.sibling).counts is False
    services.participant_remove(actor=world.director, participant=p)
    assert not run.participants.exists()


def test_link_token_forged_expired_other_and_renewed(world, run):
    p = add_player(run, Function.GENERAL_MANAGEMENT, email="dg@ch.fr")
    services.participant_send_link(actor=world.director, participant=p)
    assert len(mail.outbox) == 1
    token = mail.outbox[0].body.split("/participer/")[1].split("/")[0]
    p.refresh_from_db()
    assert len(p.link_token_hash) == 64
    assert token.split(":")[0] not in p.link_token_hash
    assert p.link_expires_at == services.planned_end(run) + datetime.timedelta(days=7)
    assert services.participant_for_link(token).pk == p.pk
    assert services.participant_for_link(token[:-2] + "xx") is None  # forged signature
    assert services.participant_for_link("n'importe-quoi") is None
    assert services.participant_for_link(token, now=p.link_expires_at) is None  # expired
    other = add_player(plan(world), Function.IT, email="autre@ch.fr")
    assert services.participant_for_link(token).pk != other.pk
    # Moving the run later extends the links already sent.
    later = run.planned_start + datetime.timedelta(days=30)
    services.run_update(actor=world.director, run=run, planned_start=later)
    p.refresh_from_db()
    assert p.link_expires_at == later + datetime.timedelta(minutes=180, days=7)
    # Sending again kills the old link.
    services.participant_send_link(actor=world.director, participant=p)
    new = mail.outbox[-1].body.split("/participer/")[1].split("/")[0]
    assert services.participant_for_link(token) is None
    assert services.participant_for_link(new).pk == p.pk
    with pytest.raises(DomainError) as exc:
        services.participant_send_link(actor=world.sibling_director, participant=p)
    assert exc.value.code == "forbidden"


def test_participant_message_only_during_the_run(world, run):
    p = add_player(run, Function.MEDICAL)
    with pytest.raises(DomainError, match="pas commencé"):
        services.participant_message(participant=p, text="Bonjour")
    services.run_start(actor=world.director, run=run)
    entry = services.participant_message(participant=p, text="  Bloc fermé.  ")
    assert (entry.kind, entry.participant, entry.text) == (EntryKind.MESSAGE, p, "Bloc fermé.")
    with pytest.raises(DomainError):
        services.participant_message(participant=p, text="   ")


# --- Coverage verdict ---------------------------------------------------------------------------


def test_it_only_is_saved_but_does_not_count(world, run):
    add_player(run, Function.IT)
    services.run_start(actor=world.director, run=run)
    services.run_end(actor=world.director, run=run)
    r = record(run)
    assert r.counts is False
    assert any("Seule l'équipe informatique" in reason for reason in r.reasons)
    assert "Fonction absente : Direction générale." in r.reasons


def test_full_run_counts_and_absence_undoes_it(world, run):
    manager = add_player(run, Function.GENERAL_MANAGEMENT)
    medical = add_player(run, Function.MEDICAL)
    services.run_start(actor=world.director, run=run)
    services.run_end(actor=world.director, run=run)
    run = ExerciseRun.objects.get(pk=run.pk)
    criteria = {c["code"]: {"score": 3, "comment": ""} for c in run.criteria}
    services.evaluation_save(actor=world.director, run=run, scores=criteria, summary="Bien.")
    assert record(run).counts is False
    assert record(run).reasons == ["Le retour d'expérience (RETEX) n'est pas formalisé."]
    services.debrief_save(
        actor=world.director,
        run=run,
        held_on=timezone.localdate(),
        strengths="Cellule réunie en 20 minutes.",
        improvements="Annuaire de crise à jour.",
    )
    r = record(run)
    assert r.counts is True
    assert r.reasons == []
    assert r.held_on == timezone.localdate(run.started_at)
    services.attendance_record(actor=world.director, run=run, present_ids={manager.pk})
    r = record(run)
    assert r.counts is False
    assert any("direction métier" in x for x in r.reasons)
    services.attendance_record(actor=world.director, run=run, present_ids={manager.pk, medical.pk})
    assert record(run).counts is True


def test_attendance_only_once_started(world, run):
    p = add_player(run, Function.IT)
    with pytest.raises(DomainError, match="commencé"):
        services.attendance_record(actor=world.director, run=run, present_ids={p.pk})
    services.run_start(actor=world.director, run=run)
    with pytest.raises(DomainError, match="Seuls les participants"):
        services.attendance_record(actor=world.director, run=run, present_ids={p.pk + 999})
    assert services.attendance_record(actor=world.director, run=run, present_ids=set()) == 0
    p.refresh_from_db()
    assert p.attended is False
