"""Scoring: visibility of conditional questions, normalised answer scores, weighted theme and
overall scores, the display threshold, priority measures and gaps."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from rempart.assessments import scoring
from rempart.assessments.models import Answer, Assessment, Choice, Question, QuestionKind
from rempart.assessments.tests.factories import URN, small_questionnaire
from rempart.organisations.tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db


# --- pure functions -------------------------------------------------------------------------


def test_single_choice_is_normalised_between_min_and_max():
    kind = QuestionKind.SINGLE_CHOICE
    assert scoring.normalised_score(kind, [1, 3, 5, None], [3]) == 50.0
    assert scoring.normalised_score(kind, [1, 3, 5, None], [5]) == 100.0
    assert scoring.normalised_score(kind, [1, 3, 5, None], [1]) == 0.0
    # « je ne sais pas »: answered, no score
    assert scoring.normalised_score(kind, [1, 3, 5, None], [None]) is None


def test_multiple_choice_is_the_share_of_positive_scores_capped_at_100():
    kind = QuestionKind.MULTIPLE_CHOICE
    assert scoring.normalised_score(kind, [50, 25, 25], [50, 25]) == 75.0
    assert scoring.normalised_score(kind, [50, 25, 25], []) == 0.0
    assert scoring.normalised_score(kind, [60, 60, 0], [60, 60]) == 100.0
    assert scoring.normalised_score(kind, [40, 60, -50], [40, -50]) == 0.0
    assert scoring.normalised_score(kind, [40, 60, None], [None]) is None


def test_a_question_whose_choices_do_not_discriminate_is_not_scored():
    assert not scoring.is_scored(QuestionKind.SINGLE_CHOICE, [None, None])
    assert not scoring.is_scored(QuestionKind.SINGLE_CHOICE, [10, 10])
    assert not scoring.is_scored(QuestionKind.MULTIPLE_CHOICE, [0, None])
    assert not scoring.is_scored(QuestionKind.TEXT, [])
    assert scoring.normalised_score(QuestionKind.SINGLE_CHOICE, [10, 10], [10]) is None


def test_weighted_average_and_threshold():
    assert scoring.weighted_average([(100, 1), (0, 3)]) == 25.0
    assert scoring.weighted_average([]) is None
    assert scoring.threshold_met(4, 5, 80)
    assert not scoring.threshold_met(3, 5, 80)
    assert not scoring.threshold_met(0, 0, 0)


# --- an assessment of the small questionnaire ------------------------------------------------


@pytest.fixture
def questionnaire():
    return small_questionnaire()


@pytest.fixture
def assessment(questionnaire):
    return Assessment.objects.create(
        organisation=OrganisationFactory(), questionnaire=questionnaire
    )


def q(number: int) -> Question:
    return Question.objects.get(urn=f"{URN}:q{number}")


def choice(number: int, label: str) -> Choice:
    return Choice.objects.get(question=q(number), label=label)


def answer(assessment, number, *labels, **values) -> Answer:
    question = q(number)
    row = Answer.objects.create(
        assessment=assessment,
        question=question,
        answered_at=timezone.now(),
        choice=(
            choice(number, labels[0])
            if labels and question.kind != QuestionKind.MULTIPLE_CHOICE
            else None
        ),
        **values,
    )
    if question.kind == QuestionKind.MULTIPLE_CHOICE:
        row.choices.set([choice(number, label) for label in labels])
    return row


def test_nothing_answered_shows_no_score(assessment):
    scores = scoring.compute(assessment)
    # q1 (yes/no) and q3, q4 visible and scored; q2 hidden (q1 not « Oui »); q5 is text.
    assert (scores.answered, scores.applicable) == (0, 3)
    assert scores.shown is False
    assert scores.overall is None
    assert scores.by_theme == {f"{URN}:gouv": None, f"{URN}:sauv": None}


def test_weighted_scores_by_theme_and_overall(assessment):
    answer(assessment, 1, "Oui")  # 100, node weight 1
    answer(assessment, 2, "Moins d'un jour par semaine")  # 50, now visible
    answer(assessment, 3, "En partie")  # 50, node weight 2
    answer(assessment, 4, "DPI", "Messagerie")  # 75, node weight 2
    scores = scoring.compute(assessment)
    assert (scores.answered, scores.applicable) == (4, 4)
    assert scores.shown
    assert scores.by_theme == {f"{URN}:gouv": 75.0, f"{URN}:sauv": 62.5}
    # (100×1 + 50×1 + 50×2 + 75×2) / 6
    assert scores.overall == Decimal("66.7")
    assert scores.by_question[q(4).pk] == 75.0


def test_hidden_question_is_ignored_even_if_answered(assessment):
    answer(assessment, 1, "Non")
    answer(assessment, 2, "Au moins un jour")  # q2 is hidden while q1 is not « Oui »
    answer(assessment, 3, "Oui")
    scores = scoring.compute(assessment)
    assert (scores.answered, scores.applicable) == (2, 3)
    assert q(2).pk not in scores.by_question
    assert scores.by_theme[f"{URN}:gouv"] == 0.0
    assert scores.overall == Decimal("66.7")  # (0×1 + 100×2) / 3


def test_dont_know_counts_as_answered_but_not_in_the_score(assessment):
    answer(assessment, 1, "Je ne sais pas")
    answer(assessment, 3, "Oui")
    scores = scoring.compute(assessment)
    assert (scores.answered, scores.applicable) == (2, 3)
    assert scores.shown  # 2/3 ≥ 50 %
    assert scores.by_theme[f"{URN}:gouv"] is None
    assert scores.overall == Decimal("100.0")
    assert scores.by_question[q(1).pk] is None


def test_score_hidden_below_the_threshold(assessment, questionnaire):
    answer(assessment, 3, "Oui")
    scores = scoring.compute(assessment)
    assert (scores.answered, scores.applicable) == (1, 3)
    assert not scores.shown  # 33 % < 50 %
    assert scores.overall is None
    questionnaire.min_answered_percent = 30
    questionnaire.save()
    assessment.refresh_from_db()
    assert scoring.compute(assessment).overall == Decimal("100.0")


def test_compute_reads_with_a_fixed_number_of_queries(assessment, django_assert_num_queries):
    answer(assessment, 1, "Oui")
    answer(assessment, 3, "Non")
    answer(assessment, 4, "DPI")
    assessment = Assessment.objects.select_related("questionnaire").get(pk=assessment.pk)
    with django_assert_num_queries(4):
        scoring.compute(assessment)


def test_visible_questions_accepts_answers_choice_ids_or_urns(questionnaire, assessment):
    yes, no = choice(1, "Oui"), choice(1, "Non")
    assert q(2).pk in scoring.visible_questions(questionnaire, {q(1).pk: yes.pk})
    assert q(2).pk in scoring.visible_questions(questionnaire, {q(1).pk: [yes.urn]})
    assert q(2).pk not in scoring.visible_questions(questionnaire, {q(1).pk: no.pk})
    assert q(2).pk not in scoring.visible_questions(questionnaire, {})
    row = answer(assessment, 1, "Oui")
    visible = scoring.visible_questions(questionnaire, {q(1).pk: row})
    assert visible == {q(n).pk for n in (1, 2, 3, 4, 5)}


def test_a_question_under_a_hidden_parent_is_hidden(questionnaire):
    # q6 depends on q2 « Au moins un jour »; q2 itself depends on q1 « Oui ».
    q2 = q(2)
    q6 = Question.objects.create(
        questionnaire=questionnaire,
        node=q2.node,
        urn=f"{URN}:q6",
        order=6,
        kind=QuestionKind.TEXT,
        text="Combien de jours ?",
        depends_on=q2,
        depends_on_choices=[choice(2, "Au moins un jour").urn],
    )
    answers = {q(1).pk: choice(1, "Non").pk, q2.pk: choice(2, "Au moins un jour").pk}
    assert q6.pk not in scoring.visible_questions(questionnaire, answers)
    answers[q(1).pk] = choice(1, "Oui").pk
    assert q6.pk in scoring.visible_questions(questionnaire, answers)


def test_all_condition_needs_every_listed_choice(questionnaire):
    q4 = q(4)
    q7 = Question.objects.create(
        questionnaire=questionnaire,
        node=q4.node,
        urn=f"{URN}:q7",
        order=7,
        kind=QuestionKind.TEXT,
        text="Précisez",
        depends_on=q4,
        depends_on_choices=[choice(4, "DPI").urn, choice(4, "Annuaire").urn],
        depends_on_condition="all",
    )
    assert q7.pk not in scoring.visible_questions(questionnaire, {q4.pk: [choice(4, "DPI").pk]})
    both = [choice(4, "DPI").pk, choice(4, "Annuaire").pk]
    assert q7.pk in scoring.visible_questions(questionnaire, {q4.pk: both})


def test_priority_measures_come_from_visible_answers_by_priority(assessment):
    assert scoring.priority_measures(assessment) == []
    answer(assessment, 1, "Non")
    answer(assessment, 3, "Non")
    measures = scoring.priority_measures(assessment)
    assert [m.urn for m in measures] == [f"{URN}:m1", f"{URN}:m2"]  # same priority: theme order
    assert measures[1].theme.urn == f"{URN}:sauv"
    assert measures[1].triggering_questions == [q(3)]


def test_gaps_list_answers_below_100_with_their_measures(assessment):
    answer(assessment, 1, "Oui")
    answer(assessment, 2, "Non")
    answer(assessment, 3, "Non")
    answer(assessment, 4, "DPI", "Messagerie", "Annuaire")
    found = scoring.gaps(assessment)
    assert [(g.question.urn, g.score) for g in found] == [(f"{URN}:q2", 0.0), (f"{URN}:q3", 0.0)]
    assert [m.urn for m in found[1].measures] == [f"{URN}:m2"]
    assert found[0].measures == []
    assert found[1].theme.urn == f"{URN}:sauv"
