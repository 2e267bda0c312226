"""The participant's public page reached by the signed link: no account, no id in the URL, the
same neutral 404 for a forged, unknown, replaced or expired link; the injects of their function
only, newest first; a message to the facilitator."""

import datetime
import html
import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rempart.exercises import services
from rempart.exercises.models import EntryKind, ExerciseParticipant, Function, JournalEntry

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


def text(response) -> str:
    return html.unescape(response.content.decode())


def neutral(response) -> str:
    """The page without what changes on every answer (CSP nonce, CSRF token)."""
    page = re.sub(r'(nonce|value)="[^"]*"', "", text(response))
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", page)


def link_of(world, participant) -> str:
    mail.outbox.clear()
    services.participant_send_link(actor=world.director, participant=participant)
    body = mail.outbox[-1].body
    path = "/exercices/participer/" + body.split("/participer/")[1].split("/")[0] + "/"
    return path


def test_participant_sees_their_function_only(world, run):
    medical = add_player(run, Function.MEDICAL, full_name="Dr Martin", email="med@ch.fr")
    add_player(run, Function.IT, email="dsi@ch.fr")
    path = link_of(world, medical)
    assert path == reverse("exercises:participant_page", args=[path.split("/")[3]])
    anonymous = Client()
    page = anonymous.get(path)
    assert page.status_code == 200
    assert page["Cache-Control"] == "private, no-store"
    body = text(page)
    assert run.title in body
    assert "Dr Martin" in body
    assert "Direction médicale" in body
    assert "pas encore commencé" in body
    services.run_start(actor=world.director, run=run)
    journalist = run.injects.get(order=2)  # to communication + management: not medical
    services.inject_release_now(actor=world.director, inject=journalist)
    extra = services.inject_create(
        actor=world.director,
        run=run,
        data=services.InjectData(
            order=3,
            offset_minutes=60,
            title="Tous : point de situation",
            body="Point à 10 h.",
            channel="screen",
            functions=[],
        ),
    )
    services.inject_release_now(actor=world.director, inject=extra)
    body = text(anonymous.get(path))
    assert "Écrans noirs aux urgences" in body  # T+0, to IT and medical
    assert "Tous : point de situation" in body  # no function: everyone
    assert "Appel d'un journaliste" not in body
    assert body.index("Tous : point de situation") < body.index("Écrans noirs aux urgences")
    # The HTMX poll gets the feed alone.
    partial = anonymous.get(path, headers={"HX-Request": "true"})
    assert text(partial).lstrip().startswith('<div id="participant-feed"')
    assert "<html" not in text(partial)


def test_message_to_the_facilitator(world, run):
    medical = add_player(run, Function.MEDICAL, email="med@ch.fr")
    path = link_of(world, medical)
    client = Client()
    response = client.post(path, {"text": "Trop tôt"})
    assert response.status_code == 400
    assert "pas commencé" in text(response)
    services.run_start(actor=world.director, run=run)
    response = client.post(path, {"text": ""})
    assert response.status_code == 400
    assert "Écrivez votre message" in text(response)
    response = client.post(path, {"text": "Nous passons en mode dégradé papier."})
    assert response.status_code == 200
    assert "transmis à l'animateur" in text(response)
    entry = JournalEntry.objects.get(kind=EntryKind.MESSAGE)
    assert entry.participant == medical
    assert entry.run == run
    # The facilitator's console shows it.
    facilitator = Client()
    facilitator.force_login(world.director)
    console = text(facilitator.get(reverse("exercises:run_console", args=[run.pk])))
    assert "Nous passons en mode dégradé papier." in console


def test_neutral_page_for_every_bad_link(world, run):
    participant = add_player(run, Function.MEDICAL, email="med@ch.fr")
    old = link_of(world, participant)
    new = link_of(world, participant)  # sending again kills the old link
    token = new.split("/")[3]
    client = Client()
    assert client.get(new).status_code == 200
    bodies = set()
    for bad in (
        old,
        new.replace(token, token[:-3] + "abc"),  # forged signature
        "/exercices/participer/inconnu/",
        f"/exercices/participer/{participant.pk}/",  # an id is no credential
    ):
        response = client.get(bad)
        assert response.status_code == 404, bad
        bodies.add(neutral(response))
        assert run.title not in text(response)
        assert client.post(bad, {"text": "x"}).status_code == 404
    assert len(bodies) == 1  # the same neutral page
    ExerciseParticipant.objects.filter(pk=participant.pk).update(
        link_expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    expired = client.get(new)
    assert expired.status_code == 404
    assert neutral(expired) in bodies
    assert not JournalEntry.objects.filter(kind=EntryKind.MESSAGE).exists()


def test_poll_releases_due_injects(world, run):
    participant = add_player(run, Function.COMMUNICATION, email="com@ch.fr")
    path = link_of(world, participant)
    services.run_start(
        actor=world.director, run=run, now=timezone.now() - datetime.timedelta(minutes=40)
    )
    assert run.injects.filter(released_at__isnull=True).count() == 1
    body = text(Client().get(path))
    assert "Appel d'un journaliste" in body
    assert run.injects.filter(released_at__isnull=True).count() == 0
