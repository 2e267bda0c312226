"""Evaluation (one per run) and debrief (RETEX) with its actions: services and pages."""

import datetime
import html

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.exercises import selectors, services
from rempart.exercises.models import DebriefAction, Evaluation, Function, RunStatus

from .factories import ScenarioFactory, add_player, exercises_world, run_from
from .test_runs_services import on_commit_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(monkeypatch):
    on_commit_now(monkeypatch)
    return exercises_world()


@pytest.fixture
def finished(world):
    run = run_from(ScenarioFactory(), world.establishment)
    add_player(run, Function.GENERAL_MANAGEMENT)
    add_player(run, Function.CARE)
    services.run_start(actor=world.director, run=run)
    services.run_end(actor=world.director, run=run)
    run.refresh_from_db()
    return run


def scores(run, value=4):
    return {c["code"]: {"score": value, "comment": "RAS"} for c in run.criteria}


def test_evaluation_only_after_the_end_and_one_per_run(world):
    run = run_from(ScenarioFactory(), world.establishment)
    with pytest.raises(DomainError, match="terminé"):
        services.evaluation_save(actor=world.director, run=run, scores=scores(run), summary="x")
    services.run_start(actor=world.director, run=run)
    services.run_end(actor=world.director, run=run)
    first = services.evaluation_save(
        actor=world.director, run=run, scores=scores(run, 2), summary="Premier jet"
    )
    second = services.evaluation_save(
        actor=world.rssi, run=run, scores=scores(run, 3), summary="Version finale"
    )
    assert first.pk == second.pk
    assert Evaluation.objects.filter(run=run).count() == 1
    evaluation = Evaluation.objects.get(run=run)
    assert evaluation.summary == "Version finale"
    assert {v["score"] for v in evaluation.scores.values()} == {3}


def test_evaluation_refuses_a_missing_or_bad_score(world, finished):
    bad = scores(finished)
    bad["alerte"]["score"] = 5
    with pytest.raises(DomainError, match="Alerte et remontée") as exc:
        services.evaluation_save(actor=world.director, run=finished, scores=bad, summary="x")
    assert exc.value.field == "score_alerte"
    partial = scores(finished)
    del partial["cellule"]
    with pytest.raises(DomainError, match="Activation de la cellule"):
        services.evaluation_save(actor=world.director, run=finished, scores=partial, summary="x")
    with pytest.raises(DomainError, match="synthèse"):
        services.evaluation_save(
            actor=world.director, run=finished, scores=scores(finished), summary="  "
        )
    with pytest.raises(DomainError) as exc:
        services.evaluation_save(
            actor=world.sibling_director, run=finished, scores=scores(finished), summary="x"
        )
    assert exc.value.code == "forbidden"
    assert not Evaluation.objects.exists()


def test_debrief_dates_and_actions(world, finished):
    played = timezone.localdate(finished.started_at)
    with pytest.raises(DomainError, match="à partir du"):
        services.debrief_save(
            actor=world.director,
            run=finished,
            held_on=played - datetime.timedelta(days=1),
            strengths="a",
            improvements="b",
        )
    with pytest.raises(DomainError, match="à venir"):
        services.debrief_save(
            actor=world.director,
            run=finished,
            held_on=timezone.localdate() + datetime.timedelta(days=1),
            strengths="a",
            improvements="b",
        )
    with pytest.raises(DomainError, match="RETEX"):
        services.action_create(
            actor=world.director, run=finished, data=services.ActionData(title="Annuaire")
        )
    services.debrief_save(
        actor=world.director, run=finished, held_on=played, strengths="a", improvements="b"
    )
    late = services.action_create(
        actor=world.director,
        run=finished,
        data=services.ActionData(
            title="Mettre à jour l'annuaire de crise",
            owner="DSI",
            due_on=timezone.localdate() - datetime.timedelta(days=3),
            priority="high",
        ),
    )
    done = services.action_create(
        actor=world.director,
        run=finished,
        data=services.ActionData(
            title="Imprimer les procédures dégradées",
            due_on=timezone.localdate() - datetime.timedelta(days=3),
            status="done",
        ),
    )
    flags = {a.pk: a.overdue for a in selectors.actions(finished)}
    assert flags == {late.pk: True, done.pk: False}
    with pytest.raises(DomainError, match="priorité"):
        services.action_update(
            actor=world.director, action=late, data=services.ActionData(title="x", priority="?")
        )
    services.action_update(
        actor=world.director,
        action=late,
        data=services.ActionData(title="Annuaire à jour", status="in_progress"),
    )
    late.refresh_from_db()
    assert (late.title, late.status, late.due_on) == ("Annuaire à jour", "in_progress", None)
    with pytest.raises(DomainError):
        services.action_delete(actor=world.outsider_director, action=late)
    services.action_delete(actor=world.director, action=late)
    assert list(DebriefAction.objects.values_list("pk", flat=True)) == [done.pk]


# --- Pages ------------------------------------------------------------------------------------


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_evaluation_and_debrief_pages(world, finished):
    client = client_for(world.director)
    url = reverse("exercises:run_evaluation", args=[finished.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "Alerte et remontée d'information" in html.unescape(page.text)
    invalid = client.post(url, {"score_alerte": "9", "summary": "Bilan"})
    assert invalid.status_code == 400
    assert "Notez le critère « Alerte et remontée d'information » de 1 à 4." in html.unescape(
        invalid.text
    )
    assert "Bilan" in invalid.text  # what was typed is kept
    ok = client.post(
        url,
        {
            "score_alerte": "3",
            "comment_alerte": "Alerte en 10 min",
            "score_cellule": "2",
            "summary": "Bilan",
        },
    )
    assert ok.status_code == 302
    assert Evaluation.objects.get(run=finished).scores["alerte"] == {
        "score": 3,
        "comment": "Alerte en 10 min",
    }
    url = reverse("exercises:run_debrief", args=[finished.pk])
    assert client.get(url).status_code == 200
    today = timezone.localdate().isoformat()
    response = client.post(url, {"held_on": today, "strengths": "Rapide", "improvements": ""})
    assert response.status_code == 400
    assert "Indiquez les axes d'amélioration." in html.unescape(response.text)
    response = client.post(url, {"held_on": today, "strengths": "Rapide", "improvements": "Com"})
    assert response.status_code == 302
    past = (timezone.localdate() - datetime.timedelta(days=10)).isoformat()
    response = client.post(
        reverse("exercises:action_create", args=[finished.pk]),
        {"title": "Exercice annuel", "due_on": past, "priority": "low", "status": "todo"},
    )
    assert response.status_code == 302
    page = client.get(url)
    assert "échéance dépassée" in page.text
    action = DebriefAction.objects.get()
    edit = reverse("exercises:action_edit", args=[finished.pk, action.pk])
    assert client.get(edit).status_code == 200
    assert client.post(edit, {"title": "", "priority": "low", "status": "todo"}).status_code == 400
    # The verdict now counts (management + care present, evaluated, debriefed, played).
    detail = client.get(reverse("exercises:run_detail", args=[finished.pk]))
    assert "Compte pour la couverture (valable jusqu'au" in html.unescape(detail.text)
    # Another establishment's director: 404 on every page of this run.
    other = client_for(world.sibling_director)
    for name in ("run_evaluation", "run_debrief"):
        assert other.get(reverse(f"exercises:{name}", args=[finished.pk])).status_code == 404
    assert other.post(edit, {"title": "x", "priority": "low", "status": "todo"}).status_code == 404
    assert finished.status == RunStatus.FINISHED
