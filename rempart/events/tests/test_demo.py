"""The demo's trainings: past sessions with attendance and answers, a full upcoming session with
its waiting list, a draft; no e-mail for this history; a second run changes nothing."""

import io

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from rempart.events import selectors
from rempart.events.models import Registration, SurveyAnswer, TrainingSession
from rempart.organisations.models import User

pytestmark = pytest.mark.django_db


def run(command: str) -> str:
    out = io.StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


def test_demo_events():
    with pytest.raises(CommandError, match="seed_demo"):
        run("seed_events_demo")
    run("seed_demo")
    mail.outbox.clear()
    assert "3 sessions passées" in run("seed_events_demo")
    assert not mail.outbox
    assert TrainingSession.objects.count() == 6
    assert TrainingSession.objects.filter(status="draft").count() == 1
    assert Registration.objects.filter(status="waiting").count() == 1
    assert SurveyAnswer.objects.count() == 14
    figures = selectors.figures(User.objects.get(email="formateur@demo.rempart.fr"))
    assert figures.people_trained == 11  # distinct people: some attended two sessions
    assert sum(k.attendances for k in figures.by_kind) == 14
    assert figures.satisfaction.answers == 14
    counts = (TrainingSession.objects.count(), Registration.objects.count())
    assert "déjà présentes" in run("seed_events_demo")
    assert counts == (TrainingSession.objects.count(), Registration.objects.count())
