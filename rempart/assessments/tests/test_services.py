"""Answering services: saving answers, hidden answers ignored, scores stored, one draft per
version, completion refused below the threshold, carry-over to a new version."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from rempart.assessments import services
from rempart.assessments.models import (
    Answer,
    Assessment,
    AssessmentStatus,
    Choice,
    Question,
    QuestionnaireStatus,
)
from rempart.core.errors import DomainError

from .factories import URN, assessments_world, small_questionnaire

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return assessments_world()


@pytest.fixture
def questionnaire():
    return small_questionnaire()


def q(questionnaire, n: int) -> Question:
    return Question.objects.get(questionnaire=questionnaire, urn=f"{questionnaire.urn}:q{n}")


def choice(question: Question, label: str) -> Choice:
    return question.choices.get(label=label)


def start(world, questionnaire, **kwargs) -> Assessment:
    return services.start_assessment(
        actor=world.rssi, organisation=world.establishment, questionnaire=questionnaire, **kwargs
    ).assessment


def answer(world, assessment, question, *values, comment=None):
    return services.save_answer(
        actor=world.rssi,
        assessment=assessment,
        question=question,
        values=[str(v) for v in values],
        comment=comment,
    )


def test_saving_answers_stores_them_and_refreshes_scores(world, questionnaire):
    assessment = start(world, questionnaire)
    q1, q3 = q(questionnaire, 1), q(questionnaire, 3)
    answer(world, assessment, q1, choice(q1, "Non").pk, comment="Pas encore de référent")
    assessment.refresh_from_db()
    # q1 answered of 3 applicable (q1, q3, q4: q2 hidden while q1 is not « Oui »): 33 % < 50 %.
    assert (assessment.answered_count, assessment.applicable_count) == (1, 3)
    assert assessment.score is None
    assert assessment.theme_scores == {}
    saved = answer(world, assessment, q3, choice(q3, "En partie").pk)
    assessment.refresh_from_db()
    assert saved.answer.score == Decimal("50.0")
    assert assessment.answered_count == 2
    # Weighted by node (referent 1, offline backups 2): (0 × 1 + 50 × 2) / 3.
    assert assessment.score == Decimal("33.3")
    stored = Answer.objects.get(assessment=assessment, question=q1)
    assert stored.comment == "Pas encore de référent"
    assert stored.choice.label == "Non"


def test_hidden_question_answer_is_ignored(world, questionnaire):
    assessment = start(world, questionnaire)
    q1, q2 = q(questionnaire, 1), q(questionnaire, 2)
    answer(world, assessment, q1, choice(q1, "Non").pk)
    saved = answer(world, assessment, q2, choice(q2, "Au moins un jour").pk)
    assert saved.ignored
    assert not Answer.objects.filter(assessment=assessment, question=q2).exists()
    # Once q1 is « Oui », q2 is asked and its answer is stored and scored.
    answer(world, assessment, q1, choice(q1, "Oui").pk)
    saved = answer(world, assessment, q2, choice(q2, "Au moins un jour").pk)
    assert not saved.ignored
    assert Answer.objects.get(assessment=assessment, question=q2).score == Decimal("100.0")


def test_bad_input_is_refused_with_a_french_message_and_nothing_lost(world, questionnaire):
    assessment = start(world, questionnaire)
    q1, q3 = q(questionnaire, 1), q(questionnaire, 3)
    answer(world, assessment, q1, choice(q1, "Oui").pk)
    with pytest.raises(DomainError, match="réponses possibles"):
        answer(world, assessment, q1, choice(q3, "Oui").pk)  # a choice of another question
    with pytest.raises(DomainError, match="réponses possibles"):
        answer(world, assessment, q1, "abc")
    other = small_questionnaire(urn="urn:rempart:test:other")
    with pytest.raises(DomainError, match="n'appartient pas"):
        answer(world, assessment, q(other, 1), choice(q(other, 1), "Oui").pk)
    assert Answer.objects.get(assessment=assessment, question=q1).choice.label == "Oui"


def test_only_assessors_write(world, questionnaire):
    assessment = start(world, questionnaire)
    q1 = q(questionnaire, 1)
    for person in (world.staff, world.sibling_rssi, world.ars_manager, world.outsider_rssi):
        with pytest.raises(DomainError) as refused:
            services.save_answer(
                actor=person,
                assessment=assessment,
                question=q1,
                values=[str(q1.choices.first().pk)],
            )
        assert refused.value.code == "forbidden"
    assert not Answer.objects.filter(assessment=assessment).exists()
    with pytest.raises(DomainError) as refused:
        services.start_assessment(
            actor=world.sibling_rssi, organisation=world.establishment, questionnaire=questionnaire
        )
    assert refused.value.code == "forbidden"


def test_one_draft_per_version(world, questionnaire):
    first = services.start_assessment(
        actor=world.rssi, organisation=world.establishment, questionnaire=questionnaire
    )
    again = services.start_assessment(
        actor=world.director, organisation=world.establishment, questionnaire=questionnaire
    )
    assert first.created
    assert not again.created
    assert again.assessment.pk == first.assessment.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        Assessment.objects.create(organisation=world.establishment, questionnaire=questionnaire)


def test_number_text_date_and_multiple(world):
    questionnaire = small_questionnaire()
    assessment = start(world, questionnaire)
    q4, q5 = q(questionnaire, 4), q(questionnaire, 5)
    saved = answer(world, assessment, q4, choice(q4, "DPI").pk, choice(q4, "Annuaire").pk)
    assert saved.answer.score == Decimal("75.0")
    assert {c.label for c in saved.answer.choices.all()} == {"DPI", "Annuaire"}
    saved = answer(world, assessment, q5, "Veeam, copie sur bande")
    assert saved.answer.text_value == "Veeam, copie sur bande"
    # Clearing an answer removes it.
    answer(world, assessment, q5, "", comment="")
    assert not Answer.objects.filter(assessment=assessment, question=q5).exists()


def test_completion_refused_below_threshold_then_allowed(world, questionnaire):
    assessment = start(world, questionnaire)
    q1, q3 = q(questionnaire, 1), q(questionnaire, 3)
    answer(world, assessment, q1, choice(q1, "Non").pk)
    with pytest.raises(DomainError, match="encore 1 question") as refused:
        services.complete_assessment(actor=world.rssi, assessment=assessment)
    assert refused.value.code == "not_enough_answers"
    assessment.refresh_from_db()
    assert assessment.status == AssessmentStatus.DRAFT
    answer(world, assessment, q3, choice(q3, "Oui").pk)
    done = services.complete_assessment(actor=world.rssi, assessment=assessment)
    assert done.status == AssessmentStatus.COMPLETED
    assert done.completed_at is not None
    assert done.score is not None
    with pytest.raises(DomainError, match="terminée"):
        answer(world, done, q3, choice(q3, "Non").pk)
    # A new draft of the same version may now be started.
    assert start(world, questionnaire).pk != done.pk


def test_carry_over_into_a_new_version(world, questionnaire):
    assessment = start(world, questionnaire)
    q1, q3 = q(questionnaire, 1), q(questionnaire, 3)
    answer(world, assessment, q1, choice(q1, "Oui").pk, comment="Nommé en 2025")
    answer(world, assessment, q3, choice(q3, "En partie").pk)
    services.complete_assessment(actor=world.rssi, assessment=assessment)
    # Version 2: same URNs (identity mapping), the old version superseded.
    questionnaire.status = QuestionnaireStatus.SUPERSEDED
    questionnaire.save()
    v2 = small_questionnaire(urn=URN, version=2)
    v2.previous = questionnaire
    v2.save()
    started = services.start_assessment(
        actor=world.rssi, organisation=world.establishment, questionnaire=v2, carry_over=True
    )
    assert started.created
    assert started.carried == 2
    new = started.assessment
    carried = Answer.objects.get(assessment=new, question=q(v2, 1))
    assert carried.choice.label == "Oui"
    assert carried.comment == "Nommé en 2025"
    new.refresh_from_db()
    assert new.answered_count == 2
    # Without carry-over, a draft of the new version starts empty.
    other = services.start_assessment(
        actor=world.sibling_rssi, organisation=world.sibling, questionnaire=v2, carry_over=True
    )
    assert other.carried == 0
    # A superseded version cannot be started.
    with pytest.raises(DomainError, match="remplacée"):
        services.start_assessment(
            actor=world.rssi, organisation=world.establishment, questionnaire=questionnaire
        )


def test_sharing_switch(world, questionnaire):
    assessment = start(world, questionnaire)
    services.set_sharing(actor=world.rssi, assessment=assessment, shared=True)
    assessment.refresh_from_db()
    assert assessment.shared_with_region
    with pytest.raises(DomainError):
        services.set_sharing(actor=world.ars_manager, assessment=assessment, shared=False)


def test_number_and_date_questions_and_comment_rules(world, questionnaire):
    from rempart.assessments.models import QuestionKind

    node = q(questionnaire, 5).node
    beds = Question.objects.create(
        questionnaire=questionnaire,
        node=node,
        urn=f"{URN}:lits",
        order=6,
        kind=QuestionKind.NUMBER,
        text="Nombre de postes de travail ?",
    )
    audit = Question.objects.create(
        questionnaire=questionnaire,
        node=node,
        urn=f"{URN}:audit",
        order=7,
        kind=QuestionKind.DATE,
        text="Date du dernier audit ?",
    )
    assessment = start(world, questionnaire)
    assert answer(world, assessment, beds, "1 250,5").answer.number_value == Decimal("1250.50")
    assert str(answer(world, assessment, audit, "12/03/2025").answer.date_value) == "2025-03-12"
    with pytest.raises(DomainError, match="n'est pas un nombre"):
        answer(world, assessment, beds, "beaucoup")
    with pytest.raises(DomainError, match="n'est pas une date"):
        answer(world, assessment, audit, "31/02/2025")
    assert Answer.objects.get(assessment=assessment, question=beds).number_value == Decimal(
        "1250.50"
    )
    # A comment needs an answer; clearing the value with the comment left is refused.
    q3 = q(questionnaire, 3)
    with pytest.raises(DomainError, match="Répondez à la question"):
        answer(world, assessment, q3, comment="À vérifier avec la DSI")
    answer(world, assessment, q3, choice(q3, "Oui").pk, comment="Bandes")
    with pytest.raises(DomainError, match="Répondez à la question"):
        answer(world, assessment, q3, comment="Bandes")
    assert Answer.objects.get(assessment=assessment, question=q3).choice.label == "Oui"
