"""Answering and results pages: who may open what (403 with the reason, 404 outside the scope),
saving by HTMX and by plain POST, bad input → 400 with a French message, results with the radar,
progress since the previous assessment and history."""

from __future__ import annotations

import html

import pytest
from django.test import Client
from django.urls import reverse

from rempart.assessments import perms, services
from rempart.assessments.models import Answer, Assessment, AssessmentStatus

from .factories import assessments_world, small_questionnaire
from .test_services import choice, q

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def world():
    return assessments_world()


@pytest.fixture
def questionnaire():
    return small_questionnaire()


@pytest.fixture
def assessment(world, questionnaire):
    return services.start_assessment(
        actor=world.rssi, organisation=world.establishment, questionnaire=questionnaire
    ).assessment


def save(client, assessment, question, *values, htmx=False, **extra):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(
        reverse("assessments:answer_save", args=[assessment.pk, question.pk]),
        {"value": [str(v) for v in values], "comment": "", **extra},
        **headers,
    )


def test_home_lists_questionnaires_and_starts_one(
    world, questionnaire, django_assert_max_num_queries
):
    client = client_for(world.rssi)
    with django_assert_max_num_queries(20):
        response = client.get(reverse("assessments:home"))
    assert response.status_code == 200
    assert "Questionnaire de test" in text(response)
    # The breadcrumb of the home page is the page alone, not « Mes autoévaluations » twice.
    assert response.content.decode().count("fr-breadcrumb__link") == 1
    response = client.post(
        reverse("assessments:start"),
        {"organisation": world.establishment.pk, "questionnaire": questionnaire.pk},
    )
    created = Assessment.objects.get(organisation=world.establishment)
    assert response.status_code == 302
    assert response["Location"] == reverse("assessments:answer", args=[created.pk])
    # Starting again resumes the same draft.
    client.post(
        reverse("assessments:start"),
        {"organisation": world.establishment.pk, "questionnaire": questionnaire.pk},
    )
    assert Assessment.objects.filter(organisation=world.establishment).count() == 1


def test_home_refusals(world, questionnaire):
    assert client_for(world.staff).get(reverse("assessments:home")).status_code == 403
    assert perms.NOT_ASSESSOR in text(client_for(world.staff).get(reverse("assessments:home")))
    # Another establishment's id in the query: not found.
    response = client_for(world.rssi).get(
        reverse("assessments:home"), {"organisation": world.sibling.pk}
    )
    assert response.status_code == 404
    response = client_for(world.rssi).post(
        reverse("assessments:start"),
        {"organisation": world.sibling.pk, "questionnaire": questionnaire.pk},
    )
    assert response.status_code == 404
    assert not Assessment.objects.exists()


def test_answer_page_permissions(world, assessment):
    url = reverse("assessments:answer", args=[assessment.pk])
    assert client_for(world.rssi).get(url).status_code == 200
    assert client_for(world.director).get(url).status_code == 200
    staff = client_for(world.staff).get(url)
    assert staff.status_code == 403
    assert perms.NOT_ASSESSOR in text(staff)
    assert client_for(world.sibling_rssi).get(url).status_code == 404
    assert client_for(world.outsider_rssi).get(url).status_code == 404
    assert client_for(world.outsider_ars).get(url).status_code == 404
    # The region's ARS, CRRC and GHT coordinator: not the answers unless shared.
    for person in (world.ars_manager, world.crrc_operator, world.ght_coordinator):
        refused = client_for(person).get(url)
        assert refused.status_code == 403
        assert perms.ANSWERS_NOT_SHARED in text(refused)
    services.set_sharing(actor=world.rssi, assessment=assessment, shared=True)
    for person in (world.ars_manager, world.crrc_operator):
        response = client_for(person).get(url)
        assert response.status_code == 200
        assert "lecture seule" in text(response)
        assert (
            client_for(person).get(reverse("assessments:results", args=[assessment.pk])).status_code
            == 200
        )
    # Shared or not, they never write.
    assert client_for(world.outsider_ars).get(url).status_code == 404
    q1 = assessment.questionnaire.questions.get(order=1)
    response = save(client_for(world.ars_manager), assessment, q1, choice(q1, "Oui").pk)
    assert response.status_code == 403
    assert not Answer.objects.exists()


def test_save_by_htmx_shows_the_conditional_question(world, assessment, questionnaire):
    client = client_for(world.rssi)
    q1, q2 = q(questionnaire, 1), q(questionnaire, 2)
    response = save(client, assessment, q1, choice(q1, "Non").pk, htmx=True)
    assert response.status_code == 200
    assert 'id="answer-theme"' in text(response)
    assert q2.text not in text(response)
    response = save(client, assessment, q1, choice(q1, "Oui").pk, htmx=True)
    assert q2.text in text(response)
    assert Answer.objects.get(assessment=assessment, question=q1).choice.label == "Oui"


def test_hidden_answer_posted_is_not_stored(world, assessment, questionnaire):
    client = client_for(world.rssi)
    q1, q2 = q(questionnaire, 1), q(questionnaire, 2)
    save(client, assessment, q1, choice(q1, "Non").pk)
    response = save(client, assessment, q2, choice(q2, "Au moins un jour").pk)
    assert response.status_code == 302
    assert not Answer.objects.filter(question=q2).exists()


def test_plain_post_fallback_and_bad_input(world, assessment, questionnaire):
    client = client_for(world.rssi)
    q1, q3 = q(questionnaire, 1), q(questionnaire, 3)
    response = save(client, assessment, q3, choice(q3, "Oui").pk, comment="Bandes LTO")
    assert response.status_code == 302
    assert Answer.objects.get(question=q3).comment == "Bandes LTO"
    # A choice of another question: 400 with the message, the stored answer kept.
    response = save(client, assessment, q3, choice(q1, "Non").pk)
    assert response.status_code == 400
    assert "réponses possibles" in text(response)
    response = save(client, assessment, q3, choice(q1, "Non").pk, htmx=True)
    assert response.status_code == 400
    assert "réponses possibles" in text(response)
    assert Answer.objects.get(question=q3).choice.label == "Oui"
    # A question of another questionnaire.
    other = small_questionnaire(urn="urn:rempart:test:autre")
    response = save(client, assessment, q(other, 3), choice(q(other, 3), "Oui").pk)
    assert response.status_code == 400
    assert "n'appartient pas" in text(response)
    assert not Answer.objects.filter(question__questionnaire=other).exists()


def test_complete_and_results(world, assessment, questionnaire):
    client = client_for(world.rssi)
    q1, q3, q4 = q(questionnaire, 1), q(questionnaire, 3), q(questionnaire, 4)
    save(client, assessment, q1, choice(q1, "Non").pk)
    response = client.post(reverse("assessments:complete", args=[assessment.pk]), follow=True)
    assert "ne peut pas encore être terminée" in text(response)
    results = client.get(reverse("assessments:results", args=[assessment.pk]))
    assert 'id="score-hidden"' in text(results)
    save(client, assessment, q3, choice(q3, "Non").pk)
    save(client, assessment, q4, choice(q4, "DPI").pk)
    response = client.post(reverse("assessments:complete", args=[assessment.pk]))
    assert response.status_code == 302
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.COMPLETED
    page = text(client.get(reverse("assessments:results", args=[assessment.pk])))
    assert "Nommer un référent SSI" in page  # priority measure
    assert "Mettre en place une sauvegarde hors ligne" in page
    assert "<svg" in page
    assert 'id="theme-scores"' in page
    # A second assessment shows the progress by theme and the history.
    second = services.start_assessment(
        actor=world.rssi, organisation=world.establishment, questionnaire=questionnaire
    ).assessment
    save(client, second, q1, choice(q1, "Oui").pk)
    save(client, second, q3, choice(q3, "Oui").pk)
    client.post(reverse("assessments:complete", args=[second.pk]))
    page = text(client.get(reverse("assessments:results", args=[second.pk])))
    assert "Évolution" in page
    assert "+100,0" in page.replace(".", ",")
    assert page.count(reverse("assessments:results", args=[assessment.pk])) >= 1


def test_radar_geometry_with_three_themes():
    from rempart.core.charts import radar_chart

    chart = radar_chart("r", "Scores", ["A", "B", "C"], [("Moi", "#000091", [100, 50, None])])
    polygon = chart["polygons"][-1]["points"].split()
    assert len(polygon) == 3
    # Axis A at the top at full scale; C (no score) at the centre.
    x, y = (float(v) for v in polygon[0].split(","))
    cx, cy = chart["width"] / 2, chart["height"] / 2
    assert x == pytest.approx(cx)
    assert y < cy
    assert polygon[2] == f"{cx:.1f},{cy:.1f}"
    assert len(chart["dots"]) == 3
    assert chart["dots"][2]["title"].endswith("—")


def test_exports_of_an_assessment(world, assessment, questionnaire):
    client = client_for(world.rssi)
    q1 = q(questionnaire, 1)
    save(client, assessment, q1, choice(q1, "Oui").pk)
    pdf = client.get(reverse("assessments:assessment_pdf", args=[assessment.pk]))
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    xlsx = client.get(reverse("assessments:assessment_xlsx", args=[assessment.pk]))
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"
    assert (
        client_for(world.sibling_rssi)
        .get(reverse("assessments:assessment_pdf", args=[assessment.pk]))
        .status_code
        == 404
    )
    assert (
        client_for(world.ars_manager)
        .get(reverse("assessments:assessment_xlsx", args=[assessment.pk]))
        .status_code
        == 403
    )
