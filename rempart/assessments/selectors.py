"""What the answering, results and action-plan pages read, always through the person's rights:
an object outside their scope is not found (404), an object they see but may not use gives the
reason (403)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation

from . import perms, scoring
from .models import (
    Action,
    ActionStatus,
    Answer,
    Assessment,
    AssessmentStatus,
    CampaignStatus,
    Choice,
    Evidence,
    Question,
    Questionnaire,
    QuestionnaireStatus,
    RequirementNode,
)

NOT_FOUND = "Autoévaluation introuvable."


# --- Organisations and questionnaires ---------------------------------------------------------


def assess_organisations(user) -> QuerySet[Organisation]:
    q = perms.assess_q(user)
    if q is None:
        return Organisation.objects.none()
    return Organisation.objects.filter(q).order_by("name")


def pick_organisation(user, raw) -> Organisation:
    """The organisation a page is about: the one asked (?organisation=) if the person assesses
    for it, else their first. 403 for someone who assesses for none."""
    if not perms.can_assess(user):
        raise PermissionDenied(perms.NOT_ASSESSOR)
    organisations = assess_organisations(user)
    if raw not in (None, ""):
        if not str(raw).isdigit():
            raise Http404("Organisation introuvable.")
        organisation = organisations.filter(pk=int(raw)).first()
        if organisation is None:
            raise Http404("Organisation introuvable.")
        return organisation
    organisation = organisations.first()
    if organisation is None:
        raise PermissionDenied(perms.NOT_ASSESSOR)
    return organisation


def available_questionnaires(user, organisation: Organisation) -> QuerySet[Questionnaire]:
    """Current versions the organisation may answer: the shared library and its own imports."""
    q = perms.questionnaire_q(user)
    if q is None:
        return Questionnaire.objects.none()
    return (
        Questionnaire.objects.filter(q, status=QuestionnaireStatus.CURRENT)
        .filter(Q(organisation__isnull=True) | Q(organisation=organisation))
        .order_by("name")
    )


def get_questionnaire(user, organisation: Organisation, pk) -> Questionnaire:
    if not str(pk).isdigit():
        raise Http404("Questionnaire introuvable.")
    questionnaire = available_questionnaires(user, organisation).filter(pk=int(pk)).first()
    if questionnaire is None:
        raise Http404("Questionnaire introuvable.")
    return questionnaire


def organisation_assessments(organisation: Organisation) -> QuerySet[Assessment]:
    return (
        Assessment.objects.filter(organisation=organisation)
        .select_related("questionnaire", "campaign")
        .order_by("-started_at", "-pk")
    )


def campaign_requests(organisation: Organisation) -> list[Assessment]:
    """Assessments a regional campaign asked for and not yet completed, deadline first."""
    return list(
        Assessment.objects.filter(
            organisation=organisation,
            campaign__isnull=False,
            campaign__status=CampaignStatus.OPEN,
            status=AssessmentStatus.DRAFT,
        )
        .select_related("campaign", "campaign__organiser", "questionnaire")
        .order_by("campaign__deadline", "pk")
    )


def carry_over_sources(organisation: Organisation, questionnaires) -> dict[int, Assessment]:
    """For each questionnaire: the latest completed assessment of the same URN (any version)."""
    keys = {(q.library_key, q.urn): q.pk for q in questionnaires}
    found: dict[int, Assessment] = {}
    if not keys:
        return found
    completed = (
        Assessment.objects.filter(
            organisation=organisation,
            status=AssessmentStatus.COMPLETED,
            questionnaire__urn__in=[urn for _k, urn in keys],
        )
        .select_related("questionnaire")
        .order_by("-completed_at", "-pk")
    )
    for assessment in completed:
        qpk = keys.get((assessment.questionnaire.library_key, assessment.questionnaire.urn))
        if qpk is not None and qpk not in found:
            found[qpk] = assessment
    return found


# --- One assessment ---------------------------------------------------------------------------


def get_assessment(user, pk, *, write: bool = False) -> Assessment:
    """The assessment, if the person may read (or, with `write`, answer) it.

    Its organisation's assessors read and write. The region's figures roles (ARS, CRRC, GHT
    coordinator) read it only when the organisation shared its answers (403 otherwise, with
    the reason). Anyone else: 404, as if it did not exist."""
    assessment = (
        Assessment.objects.select_related("questionnaire", "organisation", "campaign")
        .filter(pk=pk)
        .first()
    )
    if assessment is None:
        raise Http404(NOT_FOUND)
    organisation = assessment.organisation
    if perms.can_assess_for(user, organisation):
        return assessment
    member = org_perms.is_member_of(user, organisation)
    figures = perms.can_view_figures_of(user, organisation)
    if write:
        if member or figures:
            raise PermissionDenied(perms.NOT_ASSESSOR)
        raise Http404(NOT_FOUND)
    if figures:
        if assessment.shared_with_region:
            return assessment
        raise PermissionDenied(perms.ANSWERS_NOT_SHARED)
    if member:
        raise PermissionDenied(perms.NOT_ASSESSOR)
    raise Http404(NOT_FOUND)


@dataclass
class QuestionRow:
    question: Question
    answer: Answer | None
    visible: bool
    chosen: set[int] = field(default_factory=set)
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.answer is not None

    @property
    def input_value(self) -> str:
        answer = self.answer
        if answer is None:
            return ""
        if answer.number_value is not None:
            return format(answer.number_value.normalize(), "f")
        if answer.date_value is not None:
            return answer.date_value.isoformat()
        return answer.text_value


@dataclass
class ThemeBlock:
    theme: RequirementNode
    requirements: list[tuple[RequirementNode, list[QuestionRow]]]
    visible_count: int = 0
    answered_count: int = 0
    score: float | None = None

    @property
    def percent(self) -> int:
        return round(100 * self.answered_count / self.visible_count) if self.visible_count else 100


def questionnaire_tree(questionnaire: Questionnaire):
    """Themes, requirement nodes and questions with their choices, in file order (4 queries)."""
    nodes = list(RequirementNode.objects.filter(questionnaire=questionnaire).order_by("order"))
    questions = list(
        Question.objects.filter(questionnaire=questionnaire)
        .order_by("order")
        .prefetch_related(Prefetch("choices", queryset=Choice.objects.order_by("order")))
    )
    return nodes, questions


def answering_blocks(assessment: Assessment, answers: dict[int, Answer] | None = None):
    """Everything the answering page shows, by theme, with each theme's progress."""
    nodes, questions = questionnaire_tree(assessment.questionnaire)
    if answers is None:
        answers = {
            a.question_id: a
            for a in Answer.objects.filter(assessment=assessment)
            .select_related("choice")
            .prefetch_related("choices")
        }
    visible = scoring.visible_questions(assessment.questionnaire, answers)
    by_node: dict[int, list[QuestionRow]] = {}
    for question in questions:
        answer = answers.get(question.pk)
        chosen = set()
        if answer is not None:
            if answer.choice_id:
                chosen.add(answer.choice_id)
            chosen |= {c.pk for c in answer.choices.all()}
        by_node.setdefault(question.node_id, []).append(
            QuestionRow(question, answer, question.pk in visible, chosen)
        )
    themes: dict[int, ThemeBlock] = {}
    for node in nodes:
        theme_id = node.theme_id or node.pk
        if node.depth <= 1 or theme_id == node.pk:
            themes.setdefault(node.pk, ThemeBlock(node, []))
    for node in nodes:
        theme_id = node.theme_id or node.pk
        block = themes.get(theme_id)
        if block is None:
            continue
        rows = by_node.get(node.pk, [])
        if rows:
            block.requirements.append((node, rows))
            for row in rows:
                if row.visible:
                    block.visible_count += 1
                    block.answered_count += 1 if row.answered else 0
    for block in themes.values():
        value = (assessment.theme_scores or {}).get(block.theme.urn)
        block.score = value
    return [b for b in themes.values() if b.requirements]


def evidence_of(assessment: Assessment) -> list[Evidence]:
    today = timezone.localdate()
    items = list(
        Evidence.objects.filter(assessment=assessment)
        .select_related("node")
        .order_by("node__order", "-uploaded_at")
    )
    for item in items:
        item.expired = item.expires_on is not None and item.expires_on < today
    return items


# --- Results ----------------------------------------------------------------------------------


@dataclass
class ThemeResult:
    theme: RequirementNode
    score: float | None
    previous: float | None = None

    @property
    def delta(self) -> float | None:
        if self.score is None or self.previous is None:
            return None
        return round(float(self.score) - float(self.previous), 1)


def themes_of(questionnaire: Questionnaire) -> list[RequirementNode]:
    return list(
        RequirementNode.objects.filter(questionnaire=questionnaire, depth=1).order_by("order")
    )


def previous_completed_before(assessment: Assessment) -> Assessment | None:
    """The organisation's completed assessment of the same questionnaire just before this one."""
    qs = Assessment.objects.filter(
        organisation_id=assessment.organisation_id,
        status=AssessmentStatus.COMPLETED,
        questionnaire__library_key=assessment.questionnaire.library_key,
        questionnaire__urn=assessment.questionnaire.urn,
    ).exclude(pk=assessment.pk)
    if assessment.completed_at is not None:
        qs = qs.filter(completed_at__lt=assessment.completed_at)
    return qs.select_related("questionnaire").order_by("-completed_at", "-pk").first()


def theme_results(assessment: Assessment, previous: Assessment | None) -> list[ThemeResult]:
    """Score by theme, with the previous assessment's score of the theme of the same URN
    (or, across versions, of the same reference or name)."""
    themes = themes_of(assessment.questionnaire)
    previous_scores = {}
    if previous is not None:
        previous_themes = themes_of(previous.questionnaire)
        stored = previous.theme_scores or {}
        for theme in previous_themes:
            value = stored.get(theme.urn)
            previous_scores[theme.urn] = value
            if theme.ref_id:
                previous_scores.setdefault(f"ref:{theme.ref_id}", value)
            previous_scores.setdefault(f"name:{theme.name}", value)
    results = []
    for theme in themes:
        prev = previous_scores.get(theme.urn)
        if prev is None and theme.ref_id:
            prev = previous_scores.get(f"ref:{theme.ref_id}")
        if prev is None:
            prev = previous_scores.get(f"name:{theme.name}")
        results.append(ThemeResult(theme, (assessment.theme_scores or {}).get(theme.urn), prev))
    return results


def history(assessment: Assessment) -> list[Assessment]:
    """Completed assessments of the same questionnaire (all versions), oldest first."""
    return list(
        Assessment.objects.filter(
            organisation_id=assessment.organisation_id,
            status=AssessmentStatus.COMPLETED,
            questionnaire__library_key=assessment.questionnaire.library_key,
            questionnaire__urn=assessment.questionnaire.urn,
        )
        .select_related("questionnaire")
        .order_by("completed_at", "pk")
    )


# --- Action plan ------------------------------------------------------------------------------


@dataclass
class PlanFilters:
    status: str = ""
    overdue: bool = False

    @classmethod
    def from_query(cls, query) -> PlanFilters:
        status = query.get("statut", "")
        return cls(
            status=status if status in ActionStatus.values else "",
            overdue=query.get("en_retard") == "1",
        )

    def querystring(self) -> str:
        parts = []
        if self.status:
            parts.append(f"statut={self.status}")
        if self.overdue:
            parts.append("en_retard=1")
        return "&".join(parts)


OPEN = [ActionStatus.TODO, ActionStatus.IN_PROGRESS]


def plan_actions(organisation: Organisation, filters: PlanFilters | None = None) -> list[Action]:
    """The organisation's actions with their overdue flag (one query)."""
    filters = filters or PlanFilters()
    today = timezone.localdate()
    qs = Action.objects.filter(organisation=organisation).select_related(
        "care_domain", "source_assessment__questionnaire", "source_measure"
    )
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.overdue:
        qs = qs.filter(status__in=OPEN, due_on__lt=today)
    actions = list(qs.order_by("due_on", "pk"))
    for action in actions:
        action.overdue = is_overdue(action, today)
    return actions


def is_overdue(action: Action, today: datetime.date | None = None) -> bool:
    today = today or timezone.localdate()
    return action.status in OPEN and action.due_on is not None and action.due_on < today


def get_action(user, pk) -> Action:
    action = Action.objects.select_related("organisation", "care_domain").filter(pk=pk).first()
    if action is None:
        raise Http404("Action introuvable.")
    if perms.can_assess_for(user, action.organisation):
        return action
    if org_perms.is_member_of(user, action.organisation):
        raise PermissionDenied(perms.NOT_ASSESSOR)
    raise Http404("Action introuvable.")


def retex_actions(organisation: Organisation) -> list:
    """Actions decided at the RETEX of the organisation's crisis exercises, with whether they
    were already imported into the plan."""
    from rempart.exercises.models import DebriefAction

    actions = list(
        DebriefAction.objects.filter(debrief__run__organisation=organisation)
        .select_related("debrief__run")
        .order_by("due_on", "pk")
    )
    if actions:
        imported = set(
            Action.objects.filter(
                organisation=organisation, source_debrief_action__isnull=False
            ).values_list("source_debrief_action_id", flat=True)
        )
        for action in actions:
            action.imported = action.pk in imported
    return actions


def get_retex_action(user, organisation: Organisation, pk):
    from rempart.exercises.models import DebriefAction

    action = (
        DebriefAction.objects.filter(pk=pk, debrief__run__organisation=organisation)
        .select_related("debrief__run")
        .first()
    )
    if action is None:
        raise Http404("Action de RETEX introuvable.")
    return action


def plan_summary(actions: list[Action]) -> dict:
    cost = sum((a.estimated_cost_eur or Decimal(0)) for a in actions if a.status in OPEN)
    return {
        "total": len(actions),
        "open": sum(1 for a in actions if a.status in OPEN),
        "done": sum(1 for a in actions if a.status == ActionStatus.DONE),
        "overdue": sum(1 for a in actions if getattr(a, "overdue", False)),
        "open_cost": cost,
    }


def requirement_nodes(assessment: Assessment) -> list[RequirementNode]:
    """The nodes of the assessment's questionnaire (evidence may be attached to one)."""
    return list(RequirementNode.objects.filter(questionnaire=assessment.questionnaire))


def question_of(assessment: Assessment, question_pk: int) -> Question | None:
    """A question by id (checked against the assessment's questionnaire by the service)."""
    return Question.objects.select_related("node").filter(pk=question_pk).first()
