"""Scores of an assessment, computed from its answers: pure functions over plain values, and
`compute(assessment)` / `priority_measures` / `gaps`, which read the answers with a fixed number
of queries (whatever the number of questions).

Rules (documented in docs/assessments.md, « Questionnaires »):

* A question is visible when it has no `depends_on`, or when its parent question is visible
  and the parent's selected choices meet the condition (`any`: one of the listed choices is
  selected; `all`: every listed choice is). An answer to a hidden question is ignored.
* A question is scored when it is a choice question whose choices discriminate: at least two
  different scores (single choice, yes/no) or a positive score (multiple choice).
* The normalised score of an answer (0–100): single choice and yes/no: (score − min) /
  (max − min) among the scored choices; multiple choice: the sum of the selected scores over
  the sum of the positive scores, capped at 100. A choice without score (« Je ne sais pas »,
  « Non applicable ») gives None: answered, left out of the score.
* A theme score is the weighted average (node weight × question weight) of the visible,
  answered, scored questions of the theme; the overall score the same over all of them.
* Scores stay None until `answered / applicable` reaches the questionnaire's threshold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from .models import (
    Answer,
    Choice,
    DependsOnCondition,
    Measure,
    Question,
    QuestionKind,
    Questionnaire,
    RequirementNode,
)

CHOICE_KINDS = (QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE, QuestionKind.YES_NO)
ONE_DECIMAL = Decimal("0.1")


@dataclass(frozen=True)
class Scores:
    """What an assessment's answers give. `overall` fits Assessment.score (Decimal, one
    decimal); `by_theme` fits Assessment.theme_scores (theme URN → float or None);
    `by_question` gives each answered question's normalised score (for Answer.score)."""

    overall: Decimal | None
    by_theme: dict[str, float | None]
    answered: int
    applicable: int
    shown: bool
    by_question: dict[int, float | None] = field(default_factory=dict)

    @property
    def percent_answered(self) -> int:
        return round(100 * self.answered / self.applicable) if self.applicable else 0


@dataclass(frozen=True)
class Gap:
    """A visible answered question that scores below 100, with the measures its answer
    triggers (for « créer des actions à partir des écarts »)."""

    question: Question
    theme: RequirementNode
    score: float
    choices: list[Choice]
    measures: list[Measure]


# --------------------------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------------------------


def is_scored(kind: str, choice_scores: Iterable[Decimal | float | None]) -> bool:
    """Whether a question of this kind with these choice scores counts in the score."""
    scores = [float(s) for s in choice_scores if s is not None]
    if kind in (QuestionKind.SINGLE_CHOICE, QuestionKind.YES_NO):
        return len(set(scores)) >= 2
    if kind == QuestionKind.MULTIPLE_CHOICE:
        return any(s > 0 for s in scores)
    return False


def normalised_score(
    kind: str,
    choice_scores: Iterable[Decimal | float | None],
    selected_scores: Iterable[Decimal | float | None],
) -> float | None:
    """The 0–100 score of an answer, None when it is not scored (« je ne sais pas », a
    question that is not scored, nothing selected on a single choice)."""
    all_scores = [float(s) for s in choice_scores if s is not None]
    selected = list(selected_scores)
    if not is_scored(kind, all_scores):
        return None
    if kind == QuestionKind.MULTIPLE_CHOICE:
        scored = [float(s) for s in selected if s is not None]
        if selected and not scored:
            return None  # only « je ne sais pas »-like choices were ticked
        total = sum(s for s in all_scores if s > 0)
        return round(min(100.0, max(0.0, 100 * sum(scored) / total)), 1)
    if len(selected) != 1 or selected[0] is None:
        return None
    low, high = min(all_scores), max(all_scores)
    return round(100 * (float(selected[0]) - low) / (high - low), 1)


def condition_met(condition: str, expected: Iterable[str], selected: set[str]) -> bool:
    expected = list(expected)
    if not expected:
        return bool(selected)
    if condition == DependsOnCondition.ALL:
        return all(urn in selected for urn in expected)
    return any(urn in selected for urn in expected)


def visible_ids(questions: Iterable[Question], selected_urns: Mapping[int, set[str]]) -> set[int]:
    """The visible questions among `questions` (any order), given the choice URNs selected
    per question id. A question under a hidden parent is hidden, whatever was answered."""
    by_id = {q.pk: q for q in questions}
    memo: dict[int, bool] = {}

    def visible(question_id: int, seen: frozenset = frozenset()) -> bool:
        if question_id in memo:
            return memo[question_id]
        question = by_id[question_id]
        parent_id = question.depends_on_id
        if parent_id is None:
            result = True
        elif parent_id not in by_id or parent_id in seen:
            result = False  # a parent of another questionnaire, or a cycle: never shown
        else:
            result = visible(parent_id, seen | {question_id}) and condition_met(
                question.depends_on_condition,
                question.depends_on_choices or [],
                selected_urns.get(parent_id, set()),
            )
        memo[question_id] = result
        return result

    return {qid for qid in by_id if visible(qid)}


def weighted_average(pairs: Iterable[tuple[float, int]]) -> float | None:
    pairs = [(score, weight) for score, weight in pairs if weight > 0]
    total = sum(weight for _score, weight in pairs)
    if not total:
        return None
    return round(sum(score * weight for score, weight in pairs) / total, 1)


def threshold_met(answered: int, applicable: int, min_percent: int) -> bool:
    return applicable > 0 and answered * 100 >= min_percent * applicable


# --------------------------------------------------------------------------------------------
# Reading an assessment (fixed number of queries)
# --------------------------------------------------------------------------------------------


@dataclass
class _Snapshot:
    questionnaire: Questionnaire
    questions: list[Question]  # in order, with node and node.theme
    choices: dict[int, list[Choice]]  # question id → its choices in order
    choice_by_id: dict[int, Choice]
    selected: dict[int, list[int]]  # question id → selected choice ids
    answered_ids: set[int]
    visible: set[int]


def _questions(questionnaire_id: int) -> list[Question]:
    return list(
        Question.objects.filter(questionnaire_id=questionnaire_id)
        .select_related("node__theme")
        .order_by("order")
    )


def _choices(questionnaire_id: int) -> tuple[dict[int, list[Choice]], dict[int, Choice]]:
    by_question: dict[int, list[Choice]] = defaultdict(list)
    by_id: dict[int, Choice] = {}
    for choice in Choice.objects.filter(question__questionnaire_id=questionnaire_id).order_by(
        "question_id", "order"
    ):
        by_question[choice.question_id].append(choice)
        by_id[choice.pk] = choice
    return by_question, by_id


def _snapshot(assessment) -> _Snapshot:
    questionnaire = assessment.questionnaire
    questions = _questions(questionnaire.pk)
    choices, choice_by_id = _choices(questionnaire.pk)
    selected: dict[int, list[int]] = defaultdict(list)
    answered_ids: set[int] = set()
    answers = list(
        Answer.objects.filter(assessment=assessment).values("pk", "question_id", "choice_id")
    )
    answer_question = {row["pk"]: row["question_id"] for row in answers}
    kinds = {q.pk: q.kind for q in questions}
    for row in answers:
        question_id = row["question_id"]
        if row["choice_id"] is not None:
            selected[question_id].append(row["choice_id"])
            answered_ids.add(question_id)
        elif kinds.get(question_id) == QuestionKind.MULTIPLE_CHOICE:
            answered_ids.add(question_id)  # a multiple choice answered with nothing ticked
    for answer_id, choice_id in Answer.choices.through.objects.filter(
        answer__assessment=assessment
    ).values_list("answer_id", "choice_id"):
        question_id = answer_question.get(answer_id)
        if question_id is not None and choice_id not in selected[question_id]:
            selected[question_id].append(choice_id)
            answered_ids.add(question_id)
    selected_urns = {
        qid: {choice_by_id[cid].urn for cid in cids if cid in choice_by_id}
        for qid, cids in selected.items()
    }
    return _Snapshot(
        questionnaire=questionnaire,
        questions=questions,
        choices=choices,
        choice_by_id=choice_by_id,
        selected=selected,
        answered_ids=answered_ids,
        visible=visible_ids(questions, selected_urns),
    )


def _theme(question: Question) -> RequirementNode:
    return question.node.theme or question.node


def _question_score(snap: _Snapshot, question: Question) -> float | None:
    own = snap.choices.get(question.pk, [])
    picked = [
        snap.choice_by_id[c] for c in snap.selected.get(question.pk, []) if c in snap.choice_by_id
    ]
    picked = [c for c in picked if c.question_id == question.pk]
    return normalised_score(question.kind, [c.score for c in own], [c.score for c in picked])


def _scores(snap: _Snapshot) -> Scores:
    theme_pairs: dict[str, list[tuple[float, int]]] = {}
    all_pairs: list[tuple[float, int]] = []
    by_question: dict[int, float | None] = {}
    answered = applicable = 0
    for question in snap.questions:
        if question.pk not in snap.visible:
            continue
        own = snap.choices.get(question.pk, [])
        if not is_scored(question.kind, [c.score for c in own]):
            continue
        theme_urn = _theme(question).urn
        theme_pairs.setdefault(theme_urn, [])
        applicable += 1
        if question.pk not in snap.answered_ids:
            continue
        answered += 1
        score = _question_score(snap, question)
        by_question[question.pk] = score
        if score is None:
            continue
        weight = question.node.weight * question.weight
        theme_pairs[theme_urn].append((score, weight))
        all_pairs.append((score, weight))
    shown = threshold_met(answered, applicable, snap.questionnaire.min_answered_percent)
    overall = weighted_average(all_pairs) if shown else None
    return Scores(
        overall=None
        if overall is None
        else Decimal(str(overall)).quantize(ONE_DECIMAL, ROUND_HALF_UP),
        by_theme={
            urn: (weighted_average(pairs) if shown else None) for urn, pairs in theme_pairs.items()
        },
        answered=answered,
        applicable=applicable,
        shown=shown,
        by_question=by_question,
    )


def compute(assessment) -> Scores:
    """The scores of an assessment from its stored answers (5 queries)."""
    return _scores(_snapshot(assessment))


def visible_questions(questionnaire, answers_by_question_id: Mapping[int, object]) -> set[int]:
    """Ids of the visible questions of a questionnaire given the answers per question id.
    A value may be an Answer (its `choice` and, prefetched or not, its `choices`), a choice
    id, a choice URN, a Choice, or a collection of those."""
    questionnaire_id = getattr(questionnaire, "pk", questionnaire)
    questions = list(Question.objects.filter(questionnaire_id=questionnaire_id))
    urn_by_id = dict(
        Choice.objects.filter(question__questionnaire_id=questionnaire_id).values_list("pk", "urn")
    )

    def urns(value) -> set[str]:
        if value is None:
            return set()
        if isinstance(value, Answer):
            found = {value.choice_id} if value.choice_id else set()
            if value.pk:
                found |= {c.pk for c in value.choices.all()}
            return {urn_by_id[c] for c in found if c in urn_by_id}
        if isinstance(value, Choice):
            return {value.urn}
        if isinstance(value, bool):
            return set()
        if isinstance(value, int):
            return {urn_by_id[value]} if value in urn_by_id else set()
        if isinstance(value, str):
            return {value}
        if isinstance(value, Iterable):
            return set().union(*(urns(v) for v in value)) if value else set()
        return set()

    selected = {int(qid): urns(value) for qid, value in answers_by_question_id.items()}
    return visible_ids(questions, selected)


def priority_measures(assessment) -> list[Measure]:
    """The measures the current answers trigger (visible questions only), by priority then
    theme. Each carries `theme` (its first triggering question's theme) and
    `triggering_questions`."""
    snap = _snapshot(assessment)
    selected_ids = {
        cid
        for qid in snap.visible
        for cid in snap.selected.get(qid, [])
        if cid in snap.choice_by_id
    }
    if not selected_ids:
        return []
    question_by_id = {q.pk: q for q in snap.questions}
    links = Measure.choices.through.objects.filter(
        measure__questionnaire_id=snap.questionnaire.pk, choice_id__in=selected_ids
    ).values_list("measure_id", "choice_id")
    triggering: dict[int, list[Question]] = defaultdict(list)
    for measure_id, choice_id in links:
        question = question_by_id.get(snap.choice_by_id[choice_id].question_id)
        if question is not None and question not in triggering[measure_id]:
            triggering[measure_id].append(question)
    measures = list(Measure.objects.filter(pk__in=triggering))
    for measure in measures:
        questions = sorted(triggering[measure.pk], key=lambda q: q.order)
        measure.triggering_questions = questions
        measure.theme = _theme(questions[0])
    measures.sort(key=lambda m: (m.priority, m.theme.order, m.triggering_questions[0].order, m.urn))
    return measures


def gaps(assessment) -> list[Gap]:
    """Visible answered questions scoring below 100, in questionnaire order, with the
    measures their answer triggers."""
    snap = _snapshot(assessment)
    found: list[tuple[Question, float, list[Choice]]] = []
    for question in snap.questions:
        if question.pk not in snap.visible or question.pk not in snap.answered_ids:
            continue
        score = _question_score(snap, question)
        if score is None or score >= 100:
            continue
        picked = [
            snap.choice_by_id[c]
            for c in snap.selected.get(question.pk, [])
            if c in snap.choice_by_id
        ]
        found.append((question, score, picked))
    if not found:
        return []
    picked_ids = {c.pk for _q, _s, picked in found for c in picked}
    measures_by_choice: dict[int, list[Measure]] = defaultdict(list)
    for link in Measure.choices.through.objects.filter(choice_id__in=picked_ids).select_related(
        "measure"
    ):
        measures_by_choice[link.choice_id].append(link.measure)
    result = []
    for question, score, picked in found:
        measures: list[Measure] = []
        for choice in picked:
            for measure in measures_by_choice.get(choice.pk, []):
                if measure not in measures:
                    measures.append(measure)
        measures.sort(key=lambda m: (m.priority, m.urn))
        result.append(Gap(question, _theme(question), score, picked, measures))
    return result
