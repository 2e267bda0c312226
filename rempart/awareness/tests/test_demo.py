"""The demo's awareness: modules loaded, the demo agent failed then passed the seed quiz, the
demo hospital's figures are not masked, a few escape games; a second run changes nothing."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rempart.awareness import figures
from rempart.awareness.models import Attempt, Certificate, EscapeGameSession, Module
from rempart.organisations.models import User

pytestmark = pytest.mark.django_db


def run(command: str) -> str:
    out = io.StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


def test_demo_awareness():
    with pytest.raises(CommandError, match="seed_demo"):
        run("seed_awareness_demo")
    run("seed_demo")
    first = run("seed_awareness_demo")
    assert "5 module(s) créé(s)" in first
    agent = User.objects.get(email="agent@demo.rempart.fr")
    quiz = Attempt.objects.filter(user=agent, module__code="quiz-cyber").order_by("submitted_at")
    assert [a.passed for a in quiz] == [False, True]
    assert Certificate.objects.filter(user=agent).count() == 2  # quiz and phishing
    assert EscapeGameSession.objects.count() == 6
    director = User.objects.get(email="directeur@demo.rempart.fr")
    rows = figures.awareness_figures(director).organisations
    assert any(not row.hidden for row in rows)
    counts = (Attempt.objects.count(), EscapeGameSession.objects.count(), Module.objects.count())
    again = run("seed_awareness_demo")
    assert "déjà présentes" in again
    assert counts == (
        Attempt.objects.count(),
        EscapeGameSession.objects.count(),
        Module.objects.count(),
    )
