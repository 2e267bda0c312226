"""The demo's crisis exercises: the national library, the RSSI's establishment (a valid
exercise 5 months ago and one planned), an IT-only exercise that does not count, a regional
exercise with three establishments, a coverage of about 65 %; a second run changes nothing."""

import io

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Q

from rempart.exercises.coverage import coverage_overview
from rempart.exercises.models import (
    CoverageRecord,
    Debrief,
    ExerciseParticipant,
    ExerciseRun,
    RunKind,
    RunStatus,
    Scenario,
)
from rempart.organisations.models import Membership, Region

pytestmark = pytest.mark.django_db


def run(command: str) -> str:
    out = io.StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


def home_of(email: str):
    return Membership.objects.get(user__email=email).organisation


def test_demo_exercises():
    with pytest.raises(CommandError, match="seed_demo"):
        run("seed_exercises_demo")
    run("seed_demo")
    mail.outbox.clear()
    output = run("seed_exercises_demo")
    assert "8 scénario(s) créé(s)" in output
    assert not mail.outbox
    region = Region.objects.get(code="84")

    home = home_of("rssi@demo.rempart.fr")
    played, planned = ExerciseRun.objects.filter(organisation=home).order_by("planned_start").all()
    assert played.status == RunStatus.FINISHED
    assert planned.status == RunStatus.PLANNED
    assert 140 <= (planned.planned_start - played.started_at).days <= 200
    assert played.evaluation
    assert Debrief.objects.get(run=played).actions.count() == 4
    assert played.journal.count() >= 5
    assert CoverageRecord.objects.get(run=played, organisation=home).counts
    assert not CoverageRecord.objects.get(run=planned, organisation=home).counts

    other = home_of("rssi2@demo.rempart.fr")
    it_only = CoverageRecord.objects.get(run__organisation=other)
    assert not it_only.counts
    assert any("informatique" in reason for reason in it_only.reasons)

    regional = ExerciseRun.objects.get(kind=RunKind.REGIONAL, region=region)
    assert regional.organisation.kind == "crrc"
    assert CoverageRecord.objects.filter(run=regional, counts=True).count() == 3

    overview = coverage_overview(Q(region=region))
    assert 60 <= overview.total.rate <= 70
    assert not overview.meets_target

    counts = (
        Scenario.objects.count(),
        ExerciseRun.objects.count(),
        ExerciseParticipant.objects.count(),
        CoverageRecord.objects.count(),
    )
    again = run("seed_exercises_demo")
    assert "8 inchangé(s)" in again
    assert "déjà présents" in again
    assert counts == (
        Scenario.objects.count(),
        ExerciseRun.objects.count(),
        ExerciseParticipant.objects.count(),
        CoverageRecord.objects.count(),
    )
