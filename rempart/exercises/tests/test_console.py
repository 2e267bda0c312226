"""The facilitator's live console: transitions with clear refusals, « diffuser maintenant »,
automatic release on each poll, the HTMX partial, notes in the journal, and who may open it."""

import datetime
import html

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rempart.exercises.models import EntryKind, Function, JournalEntry, RunKind, RunStatus

from .factories import ScenarioFactory, add_player, exercises_world, run_from
from .test_runs_services import on_commit_now
from .test_runs_views import strict_templates  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(monkeypatch):
    on_commit_now(monkeypatch)
    return exercises_world()


@pytest.fixture
def run(world):
    return run_from(ScenarioFactory(), world.establishment)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name, *args):
    return reverse(f"exercises:{name}", args=args)


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_console_transitions(world, run):
    client = client_for(world.director)
    page = client.get(url("run_console", run.pk))
    assert page.status_code == 200
    assert "Démarrer" in text(page)
    # Refused transitions say why and change nothing.
    response = client.post(url("run_pause", run.pk), follow=True)
    assert "Seul un exercice en cours se met en pause." in text(response)
    run.refresh_from_db()
    assert run.status == RunStatus.PLANNED
    assert client.post(url("run_start", run.pk)).status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    page = text(client.get(url("run_console", run.pk)))
    assert "diffusé à" in page  # the T+0 inject went out at the start
    assert "dû à" in page  # the T+30 one shows its expected time
    assert "Diffuser maintenant" in page
    client.post(url("run_pause", run.pk))
    run.refresh_from_db()
    assert run.status == RunStatus.PAUSED
    assert run.paused_at is not None
    client.post(url("run_resume", run.pk))
    client.post(url("run_end", run.pk))
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED
    response = client.post(url("run_start", run.pk), follow=True)
    assert "L'exercice est terminé : il ne recommence pas." in text(response)
    kinds = set(JournalEntry.objects.filter(run=run).values_list("kind", flat=True))
    assert kinds == {EntryKind.EVENT}


def test_poll_releases_due_injects_and_returns_the_partial(world, run):
    add_player(run, Function.COMMUNICATION, email="com@ch.fr")
    add_player(run, Function.MEDICAL, email="med@ch.fr")
    run.status = RunStatus.RUNNING
    run.started_at = timezone.now() - datetime.timedelta(minutes=31)
    run.save()
    client = client_for(world.director)
    response = client.get(url("run_console", run.pk), headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = text(response)
    assert body.lstrip().startswith('<div id="run-console"')
    assert 'hx-trigger="every 5s"' in body
    assert "<html" not in body
    assert run.injects.filter(released_at__isnull=True).count() == 0
    # The e-mail inject (T+30, communication + management) went to communication only.
    assert [m.to for m in mail.outbox] == [["com@ch.fr"]]


def test_release_now_and_notes(world, run):
    client = client_for(world.director)
    client.post(url("run_start", run.pk))
    later = run.injects.get(order=2)
    assert client.post(url("inject_release", run.pk, later.pk)).status_code == 302
    later.refresh_from_db()
    assert later.released_at is not None
    assert later.released_by == world.director
    response = client.post(url("inject_release", run.pk, later.pk), follow=True)
    assert "déjà été diffusé" in text(response)
    # A note linked to an inject; an empty note is refused, what was chosen kept.
    response = client.post(url("run_console", run.pk), {"kind": "reaction", "text": "  "})
    assert response.status_code == 400
    assert "Écrivez la note" in text(response)
    response = client.post(
        url("run_console", run.pk),
        {"kind": "reaction", "inject": later.pk, "text": "Le DG renvoie vers la cellule."},
    )
    assert response.status_code == 302
    entry = JournalEntry.objects.get(kind=EntryKind.REACTION)
    assert entry.inject == later
    assert entry.author == world.director
    # An inject of another run is not a choice.
    other = run_from(ScenarioFactory(), world.establishment).injects.first()
    response = client.post(
        url("run_console", run.pk), {"kind": "decision", "inject": other.pk, "text": "x"}
    )
    assert response.status_code == 400
    # Another run's inject through this run's URL: 404.
    assert client.post(url("inject_release", run.pk, other.pk)).status_code == 404


def test_console_access(world, run):
    regional = run_from(ScenarioFactory(), world.crrc, kind=RunKind.REGIONAL)
    add_player(regional, Function.GENERAL_MANAGEMENT, organisation=world.establishment)
    director = client_for(world.director)
    # The establishment cannot open the CRRC's regional console, nor drive it.
    assert director.get(url("run_console", regional.pk)).status_code == 404
    assert director.post(url("run_start", regional.pk)).status_code == 404
    regional.refresh_from_db()
    assert regional.status == RunStatus.PLANNED
    # The CRRC cannot open the establishment's console.
    trainer = client_for(world.trainer)
    assert trainer.get(url("run_console", run.pk)).status_code == 404
    assert trainer.post(url("run_start", run.pk)).status_code == 404
    assert client_for(world.staff).get(url("run_console", run.pk)).status_code == 403
    assert client_for(world.outsider_ars).get(url("run_console", run.pk)).status_code == 404
    assert trainer.post(url("run_start", regional.pk)).status_code == 302
    regional.refresh_from_db()
    assert regional.status == RunStatus.RUNNING
