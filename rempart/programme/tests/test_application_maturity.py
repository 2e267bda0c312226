"""A CaRE file joins the latest completed maturity diagnostic (self-assessment) instead of a
summary typed by hand: its scores fill the level and the summary."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from rempart.assessments.models import Assessment, AssessmentStatus
from rempart.assessments.tests.factories import small_questionnaire
from rempart.core.errors import DomainError
from rempart.programme import application_services as svc

from . import test_application_services as shared

pytestmark = pytest.mark.django_db

region, other_region, domain = shared.region, shared.other_region, shared.domain
orgs, people, call, started = shared.orgs, shared.people, shared.call, shared.started


def completed(organisation, score: str, *, days_ago: int = 0) -> Assessment:
    questionnaire = small_questionnaire(urn=f"urn:rempart:test:maturite:{organisation.pk}:{score}")
    return Assessment.objects.create(
        organisation=organisation,
        questionnaire=questionnaire,
        status=AssessmentStatus.COMPLETED,
        completed_at=timezone.now() - timezone.timedelta(days=days_ago),
        score=Decimal(score),
        theme_scores={f"{questionnaire.urn}:gouv": 80.0, f"{questionnaire.urn}:sauv": 45.0},
    )


def test_the_latest_completed_diagnostic_of_a_covered_establishment_is_joined(people, orgs, call):
    app = started(people, orgs, call)
    completed(orgs["voiron"], "40.0", days_ago=200)
    latest = completed(orgs["voiron"], "62.5", days_ago=3)
    svc.application_attach_maturity(actor=people["rssi"], application=app)
    app.refresh_from_db()
    assert app.maturity_assessment == latest
    assert app.maturity_level == 4  # 60–80 → 4
    assert "score global 62.5 / 100" in app.maturity_summary
    assert "CH Voiron" in app.maturity_summary
    assert "- Gouvernance : 80.0 / 100" in app.maturity_summary


def test_without_a_completed_diagnostic_the_file_says_what_to_do(people, orgs, call):
    app = started(people, orgs, call)
    with pytest.raises(DomainError, match="Aucun diagnostic de maturité terminé"):
        svc.application_attach_maturity(actor=people["rssi"], application=app)
    app.refresh_from_db()
    assert app.maturity_assessment is None


def test_only_those_who_prepare_the_file_join_it(people, orgs, call):
    app = started(people, orgs, call)
    completed(orgs["voiron"], "70.0")
    with pytest.raises(DomainError) as refused:
        svc.application_attach_maturity(actor=people["manager"], application=app)
    assert refused.value.code == "forbidden"


def test_the_button_on_the_file(client, people, orgs, call):
    app = started(people, orgs, call)
    completed(orgs["voiron"], "70.0")
    client.force_login(people["rssi"])
    page = client.get(reverse("programme:application_detail", args=[app.pk])).content.decode()
    assert "Joindre mon dernier diagnostic de maturité" in page
    response = client.post(reverse("programme:application_attach_maturity", args=[app.pk]))
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.maturity_level == 4
    # Someone who only sees the file cannot post it (404, as for the other edits).
    client.force_login(people["manager"])
    assert (
        client.post(reverse("programme:application_attach_maturity", args=[app.pk])).status_code
        == 404
    )
