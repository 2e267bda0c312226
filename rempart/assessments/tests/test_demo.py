"""The demo's self-assessments: the shipped questionnaires, about two thirds of the region's
establishments with completed DNS assessments (scores stored), a regional campaign, the RSSI's
establishment with a completed maturity diagnostic, a DNS assessment in progress and an action
plan with one overdue action; a second run changes nothing; no e-mail is sent."""

import io

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from rempart.assessments.models import (
    Action,
    Assessment,
    AssessmentCampaign,
    AssessmentStatus,
    QuestionnaireKind,
)
from rempart.organisations.models import Membership

pytestmark = pytest.mark.django_db


def run(command: str) -> str:
    out = io.StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


def test_demo_assessments():
    with pytest.raises(CommandError, match="seed_demo"):
        run("seed_assessments_demo")
    run("seed_demo")
    mail.outbox.clear()
    output = run("seed_assessments_demo")
    assert "ont terminé les actions prioritaires" in output
    assert not mail.outbox
    completed = Assessment.objects.filter(
        status=AssessmentStatus.COMPLETED, questionnaire__kind=QuestionnaireKind.PRIORITY_ACTIONS
    )
    assert completed.count() >= 100
    assert not completed.filter(score__isnull=True).exists()
    scores = sorted(float(a.score) for a in completed)
    assert scores[0] < scores[-1]  # a distribution, not one value
    campaign = AssessmentCampaign.objects.get()
    assert campaign.assessments.filter(status=AssessmentStatus.DRAFT).exists()

    home = Membership.objects.get(user__email="rssi@demo.rempart.fr").organisation
    diagnostic = Assessment.objects.get(
        organisation=home, questionnaire__kind=QuestionnaireKind.MATURITY
    )
    assert diagnostic.status == AssessmentStatus.COMPLETED
    assert diagnostic.score is not None
    assert (
        Assessment.objects.get(
            organisation=home, questionnaire__kind=QuestionnaireKind.PRIORITY_ACTIONS
        ).status
        == AssessmentStatus.DRAFT
    )
    assert Action.objects.filter(organisation=home, due_on__lt=timezone.localdate()).count() == 1

    count = Assessment.objects.count()
    assert "déjà présentes" in run("seed_assessments_demo")
    assert Assessment.objects.count() == count
