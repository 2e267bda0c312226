"""Run pages for the owner, a lesser colleague, a sibling establishment, the CRRC and people of
another region; the list's query budget; the report and the journal export."""

import datetime
import html

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rempart.exercises import services
from rempart.exercises.models import ExerciseParticipant, ExerciseRun, Function, RunKind
from rempart.incidents.tests.test_declaration import pdf_text

from .factories import ScenarioFactory, add_player, exercises_world, mark_played, run_from
from .test_runs_services import on_commit_now

pytestmark = pytest.mark.django_db


class _Undefined(str):
    def __mod__(self, other):
        # (The shared field component probes `widget.input_type`, which a textarea lacks.)
        if str(other).endswith("widget.input_type"):
            return ""
        raise AssertionError(f"Variable de gabarit indéfinie : {other}")


@pytest.fixture(autouse=True)
def strict_templates(settings):
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {**settings.TEMPLATES[0]["OPTIONS"], "string_if_invalid": _Undefined("%s")},
        }
    ]


@pytest.fixture
def world(monkeypatch):
    on_commit_now(monkeypatch)
    return exercises_world()


@pytest.fixture
def run(world):
    return run_from(ScenarioFactory(), world.establishment, created_by=world.director)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name, *args):
    return reverse(f"exercises:{name}", args=args)


def text(response) -> str:
    return html.unescape(response.content.decode())


def run_pages(run):
    return [
        url("run_detail", run.pk),
        url("run_edit", run.pk),
        url("run_console", run.pk),
        url("inject_create", run.pk),
        url("run_evaluation", run.pk),
        url("run_debrief", run.pk),
        url("run_report", run.pk),
        url("run_journal_export", run.pk),
    ]


def test_owner_opens_every_page(world, run):
    client = client_for(world.director)
    for page in [url("run_list"), url("run_create"), *run_pages(run)]:
        assert client.get(page).status_code == 200, page
    inject = run.injects.first()
    assert client.get(url("inject_edit", run.pk, inject.pk)).status_code == 200


def test_refusals(world, run):
    # Staff of the establishment: no exercise rights at all → 403 with the reason.
    staff = client_for(world.staff)
    response = staff.get(url("run_list"))
    assert response.status_code == 403
    assert "organisent et consultent ses exercices" in text(response)
    assert staff.get(url("run_detail", run.pk)).status_code == 403
    # A sibling establishment, another region, the CRRC and the ARS: 404 (never revealed).
    for user in (
        world.sibling_director,
        world.outsider_director,
        world.outsider_ars,
        world.trainer,
        world.ars_manager,
    ):
        client = client_for(user)
        for page in run_pages(run):
            assert client.get(page).status_code == 404, (user, page)
        assert client.post(url("run_start", run.pk)).status_code == 404
        assert client.post(url("run_cancel", run.pk)).status_code == 404
        response = client.post(
            url("participant_add", run.pk), {"function": "it", "role": "player", "full_name": "X"}
        )
        assert response.status_code == 404
    assert not ExerciseParticipant.objects.exists()
    run.refresh_from_db()
    assert run.status == "planned"


def test_crrc_regional_run_and_establishment_line(world):
    regional = run_from(ScenarioFactory(), world.crrc, kind=RunKind.REGIONAL)
    add_player(regional, Function.GENERAL_MANAGEMENT, organisation=world.establishment)
    add_player(regional, Function.IT, organisation=world.sibling)
    trainer = client_for(world.trainer)
    assert trainer.get(url("run_detail", regional.pk)).status_code == 200
    assert trainer.get(url("run_console", regional.pk)).status_code == 200
    # The establishment taking part sees its own line, read-only, with its own verdict...
    director = client_for(world.director)
    page = director.get(url("run_list"))
    assert page.status_code == 200
    body = text(page)
    assert f'id="regional-{regional.pk}"' in body
    assert "CRRC Rivebelle" in body
    assert "EHPAD Les Tilleuls" not in body  # not the other establishments' verdicts
    assert url("run_detail", regional.pk) not in body
    # ...but not the console or any page of the CRRC's run.
    for page_url in run_pages(regional):
        assert director.get(page_url).status_code == 404, page_url
    # An establishment of another region does not even see the line.
    assert f"regional-{regional.pk}" not in text(
        client_for(world.outsider_director).get(url("run_list"))
    )


def test_list_query_budget(world, django_assert_max_num_queries):
    for _ in range(6):
        run = run_from(ScenarioFactory(), world.establishment)
        add_player(run, Function.IT)
        add_player(run, Function.MEDICAL)
    regional = run_from(ScenarioFactory(), world.crrc, kind=RunKind.REGIONAL)
    add_player(regional, Function.CARE, organisation=world.establishment)
    client = client_for(world.director)
    client.get(url("run_list"))  # warm the session
    with django_assert_max_num_queries(11):
        response = client.get(url("run_list"))
    assert response.status_code == 200
    assert text(response).count('id="run-') == 6


def test_plan_a_run_through_the_form(world):
    scenario = ScenarioFactory(title="Fuite de données patients")
    client = client_for(world.director)
    day = (timezone.localdate() + datetime.timedelta(days=20)).isoformat()
    bad = client.post(
        url("run_create"),
        {"organisation": world.establishment.pk, "scenario": scenario.pk, "day": "31/02"},
    )
    assert bad.status_code == 400
    assert "Indiquez une date valide" in text(bad)
    forbidden = client.post(
        url("run_create"),
        {
            "organisation": world.sibling.pk,
            "scenario": scenario.pk,
            "day": day,
            "start_time": "09:30",
        },
    )
    assert forbidden.status_code == 400  # not among the choices
    assert not ExerciseRun.objects.exists()
    response = client.post(
        url("run_create"),
        {
            "organisation": world.establishment.pk,
            "scenario": scenario.pk,
            "day": day,
            "start_time": "09:30",
            "location": "Salle du conseil",
        },
    )
    assert response.status_code == 302
    run = ExerciseRun.objects.get()
    local = timezone.localtime(run.planned_start)
    assert (local.isoformat()[:16], str(local.tzinfo)) == (f"{day}T09:30", "Europe/Paris")
    assert run.title == "Fuite de données patients"
    assert run.injects.count() == 2
    detail = text(client.get(url("run_detail", run.pk)))
    assert "Ne compte pas encore" in detail
    assert "L'exercice n'a pas encore été joué." in detail
    assert "participation de : Direction générale" in detail  # the rule is shown
    # Edit the plan, then cancel.
    response = client.post(
        url("run_edit", run.pk), {"day": day, "start_time": "14:00", "location": "Amphi"}
    )
    assert response.status_code == 302
    run.refresh_from_db()
    assert timezone.localtime(run.planned_start).hour == 14
    assert client.post(url("run_cancel", run.pk)).status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled"
    response = client.post(url("run_edit", run.pk), {"day": day, "start_time": "15:00"})
    assert response.status_code == 400
    assert "ne se modifie plus" in text(response)


def test_participants_attendance_and_timeline_pages(world, run):
    client = client_for(world.director)
    response = client.post(
        url("participant_add", run.pk),
        {"function": "it", "role": "player", "full_name": "", "email": "pas-une-adresse"},
    )
    assert response.status_code == 400
    assert "Indiquez le nom et le prénom" in text(response)
    response = client.post(
        url("participant_add", run.pk),
        {
            "function": "it",
            "role": "player",
            "full_name": "Paul DSI",
            "job_title": "DSI",
            "email": "paul@ch.fr",
        },
    )
    assert response.status_code == 302
    detail = text(client.get(url("run_detail", run.pk)))
    assert "Paul DSI" in detail
    assert "Seule l'équipe informatique participe" in detail  # saved but does not count
    participant = ExerciseParticipant.objects.get()
    assert client.post(url("participant_send_link", run.pk, participant.pk)).status_code == 302
    participant.refresh_from_db()
    assert participant.link_sent_at is not None
    # Timeline: add an inject with a bad offset, then a good one.
    response = client.post(
        url("inject_create", run.pk),
        {"order": "3", "offset_minutes": "-5", "title": "T", "body": "B", "channel": "email"},
    )
    assert response.status_code == 400
    assert "ne peut pas être négatif" in text(response)
    response = client.post(
        url("inject_create", run.pk),
        {
            "order": "3",
            "offset_minutes": "60",
            "title": "La presse appelle",
            "body": "BFM demande une interview.",
            "channel": "email",
            "functions": ["communication"],
        },
    )
    assert response.status_code == 302
    assert run.injects.get(order=3).functions == ["communication"]
    # Attendance before the start is refused with the reason, nothing lost.
    response = client.post(url("run_attendance", run.pk), {"present": [participant.pk]})
    assert response.status_code == 400
    assert "une fois l'exercice commencé" in text(response)
    services.run_start(actor=world.director, run=run)
    response = client.post(url("run_attendance", run.pk), {"present": [participant.pk]})
    assert response.status_code == 302
    participant.refresh_from_db()
    assert participant.attended is True
    response = client.post(url("run_attendance", run.pk), {"present": ["abc"]})
    assert response.status_code == 400
    # Remove the participant.
    assert client.post(url("participant_remove", run.pk, participant.pk)).status_code == 302
    assert not ExerciseParticipant.objects.exists()


def test_regional_participant_from_the_region_only(world):
    regional = run_from(ScenarioFactory(), world.crrc, kind=RunKind.REGIONAL)
    client = client_for(world.crrc_operator)
    response = client.post(
        url("participant_add", regional.pk),
        {
            "organisation": world.other_establishment.pk,
            "function": "general_management",
            "role": "player",
            "full_name": "Ailleurs",
        },
    )
    assert response.status_code == 400
    assert "Choisissez un établissement de la région" in text(response)
    response = client.post(
        url("participant_add", regional.pk),
        {
            "organisation": world.sibling.pk,
            "function": "general_management",
            "role": "player",
            "full_name": "Directrice EHPAD",
        },
    )
    assert response.status_code == 302
    assert ExerciseParticipant.objects.get().organisation == world.sibling


def test_report_and_journal_export(world, run):
    add_player(run, Function.GENERAL_MANAGEMENT, full_name="Claire Dubois")
    services.run_start(actor=world.director, run=run)
    services.journal_note(
        actor=world.director, run=run, kind="decision", text="=Activation de la cellule"
    )
    services.run_end(actor=world.director, run=run)
    client = client_for(world.director)
    response = client.get(url("run_report", run.pk))
    assert response["Content-Type"] == "application/pdf"
    content = pdf_text(response.content)
    for expected in (
        "Rapport d'exercice de crise cyber",
        "Claire Dubois",
        "Écrans noirs aux urgences",
        "Activation de la cellule",
        "ne compte pas encore",
        "Le RETEX n'est pas formalisé.",
    ):
        assert expected in content, expected
    csv = b"".join(client.get(url("run_journal_export", run.pk)).streaming_content).decode()
    assert "Début de l'exercice." in csv
    assert "'=Activation de la cellule" in csv  # formula injection defused
    assert "Décision" in csv


def test_played_run_shows_counts(world, run):
    mark_played(run)
    page = text(client_for(world.director).get(url("run_list")))
    assert "Ne compte pas encore" in page
