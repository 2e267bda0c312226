"""The only writer of assessments, answers, evidence and the action plan.

Every function takes the acting person and checks their right first (`DomainError` with code
"forbidden" → 403), then the input (a French message, nothing written). Scores are recomputed by
`scoring.compute` after each answer and stored on the assessment, so that lists and regional
pages read one row per assessment and never the answers."""

from __future__ import annotations

import datetime
import logging
import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import ROLES, Capability
from rempart.organisations.models import Membership, Organisation
from rempart.programme import uploads

from . import perms, questionnaires, scoring
from .models import (
    Action,
    ActionPriority,
    ActionStatus,
    Answer,
    Assessment,
    AssessmentStatus,
    Choice,
    Evidence,
    Measure,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireStatus,
    RequirementNode,
)

logger = logging.getLogger(__name__)

REMINDER_DAYS_AHEAD = 7
MAX_TEXT = 5000
MAX_NUMBER = Decimal("999999999999.99")


def _forbid(message: str = perms.NOT_ASSESSOR):
    raise DomainError(message, code="forbidden")


def _check_assessor(actor, organisation: Organisation) -> None:
    if not perms.can_assess_for(actor, organisation):
        _forbid()


def _check_draft(assessment: Assessment) -> None:
    if assessment.status != AssessmentStatus.DRAFT:
        raise DomainError(
            "Cette autoévaluation est terminée : ses réponses ne changent plus. Commencez-en "
            "une nouvelle pour mettre vos réponses à jour.",
            code="completed",
        )


# --- Assessments ------------------------------------------------------------------------------


def previous_completed(organisation: Organisation, questionnaire: Questionnaire):
    """The organisation's latest completed assessment of this questionnaire (any version)."""
    return (
        Assessment.objects.filter(
            organisation=organisation,
            status=AssessmentStatus.COMPLETED,
            questionnaire__library_key=questionnaire.library_key,
            questionnaire__urn=questionnaire.urn,
        )
        .select_related("questionnaire")
        .order_by("-completed_at", "-pk")
        .first()
    )


@dataclass
class Started:
    assessment: Assessment
    created: bool
    carried: int = 0


def start_assessment(
    *, actor, organisation: Organisation, questionnaire: Questionnaire, carry_over: bool = False
) -> Started:
    """The organisation's draft of this questionnaire version: the existing one (one draft per
    version, a DB constraint), or a new one, with the previous completed answers carried over
    through the version mapping when asked."""
    _check_assessor(actor, organisation)
    readable = perms.questionnaire_q(actor)
    if (
        readable is None
        or not Questionnaire.objects.filter(readable, pk=questionnaire.pk).exists()
        or (
            questionnaire.organisation_id is not None
            and questionnaire.organisation_id != organisation.pk
        )
    ):
        raise DomainError("Ce questionnaire n'est pas disponible pour cet établissement.")
    existing = Assessment.objects.filter(
        organisation=organisation, questionnaire=questionnaire, status=AssessmentStatus.DRAFT
    ).first()
    if existing is not None:
        return Started(existing, created=False)
    if questionnaire.status != QuestionnaireStatus.CURRENT:
        raise DomainError(
            "Cette version du questionnaire est remplacée : commencez la version en vigueur."
        )
    previous = previous_completed(organisation, questionnaire) if carry_over else None
    try:
        with transaction.atomic():
            assessment = Assessment.objects.create(
                organisation=organisation, questionnaire=questionnaire, started_by=actor
            )
            carried = 0
            if previous is not None:
                carried = questionnaires.carry_over(assessment, previous) or 0
                if not isinstance(carried, int):
                    carried = assessment.answers.count()
                refresh_scores(assessment)
    except IntegrityError:
        # Someone of the same organisation started it at the same moment: use theirs.
        existing = Assessment.objects.get(
            organisation=organisation, questionnaire=questionnaire, status=AssessmentStatus.DRAFT
        )
        return Started(existing, created=False)
    return Started(assessment, created=True, carried=carried)


def refresh_scores(assessment: Assessment) -> scoring.Scores:
    """Recompute and store the scores (None until enough is answered)."""
    scores = scoring.compute(assessment)
    assessment.answered_count = scores.answered
    assessment.applicable_count = scores.applicable
    if scores.shown and scores.overall is not None:
        assessment.score = Decimal(str(scores.overall)).quantize(Decimal("0.1"))
        assessment.theme_scores = {
            urn: (None if value is None else float(round(Decimal(str(value)), 1)))
            for urn, value in scores.by_theme.items()
        }
    else:
        assessment.score = None
        assessment.theme_scores = {}
    assessment.save(
        update_fields=["answered_count", "applicable_count", "score", "theme_scores", "updated_at"]
    )
    return scores


def answers_by_question(assessment: Assessment) -> dict[int, Answer]:
    return {
        a.question_id: a
        for a in Answer.objects.filter(assessment=assessment)
        .select_related("choice")
        .prefetch_related("choices")
    }


@dataclass
class Saved:
    answer: Answer | None
    ignored: bool = False  # the question is hidden by a condition: nothing was stored
    cleared: bool = False
    scores: object = None


@dataclass
class _Value:
    choice: Choice | None = None
    choices: list[Choice] = field(default_factory=list)
    number: Decimal | None = None
    text: str = ""
    date: datetime.date | None = None
    empty: bool = True


def _choice_of(question: Question, raw: str) -> Choice:
    raw = (raw or "").strip()
    choice = None
    if raw.isdigit():
        choice = Choice.objects.filter(question=question, pk=int(raw)).first()
    if choice is None:
        raise DomainError(
            "Cette réponse ne fait pas partie des réponses possibles à la question.",
            code="unknown_choice",
            field="value",
        )
    return choice


def _parse(question: Question, values: list[str]) -> _Value:
    """The posted value(s), checked against the question's kind and choices."""
    values = [v for v in (values or []) if v is not None and str(v).strip() != ""]
    if not values:
        return _Value()
    kind = question.kind
    if kind in (QuestionKind.SINGLE_CHOICE, QuestionKind.YES_NO):
        if len(values) > 1:
            raise DomainError("Une seule réponse est possible.", field="value")
        return _Value(choice=_choice_of(question, values[0]), empty=False)
    if kind == QuestionKind.MULTIPLE_CHOICE:
        chosen = {}
        for raw in values:
            choice = _choice_of(question, raw)
            chosen[choice.pk] = choice
        return _Value(choices=list(chosen.values()), empty=False)
    raw = str(values[0]).strip()
    if kind == QuestionKind.NUMBER:
        try:
            number = Decimal(raw.replace("\u00a0", "").replace(" ", "").replace(",", "."))
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise DomainError(f"« {raw[:40]} » n'est pas un nombre.", field="value")
        if abs(number) > MAX_NUMBER:
            raise DomainError("Ce nombre est trop grand.", field="value")
        return _Value(number=number.quantize(Decimal("0.01")), empty=False)
    if kind == QuestionKind.DATE:
        try:
            day = datetime.date.fromisoformat(raw)
        except ValueError:
            try:
                dd, mm, yyyy = raw.split("/")
                day = datetime.date(int(yyyy), int(mm), int(dd))
            except ValueError:
                raise DomainError(
                    f"« {raw[:40]} » n'est pas une date (jj/mm/aaaa).", field="value"
                ) from None
        return _Value(date=day, empty=False)
    if len(raw) > MAX_TEXT:
        raise DomainError(
            f"La réponse est trop longue ({len(raw)} caractères, {MAX_TEXT} au plus).",
            field="value",
        )
    return _Value(text=raw, empty=False)


def save_answer(
    *,
    actor,
    assessment: Assessment,
    question: Question,
    values: list[str],
    comment: str | None = None,
) -> Saved:
    """Store one answer (an empty value clears it) and refresh the scores. An answer to a
    question hidden by its condition is ignored: nothing is stored, nothing is scored."""
    _check_assessor(actor, assessment.organisation)
    if question.questionnaire_id != assessment.questionnaire_id:
        raise DomainError(
            "Cette question n'appartient pas au questionnaire de cette autoévaluation.",
            code="wrong_question",
            field="value",
        )
    comment = None if comment is None else comment.strip()
    if comment is not None and len(comment) > MAX_TEXT:
        raise DomainError(
            f"Le commentaire est trop long ({MAX_TEXT} caractères au plus).", field="comment"
        )
    value = _parse(question, values)
    with transaction.atomic():
        assessment = Assessment.objects.select_for_update().get(pk=assessment.pk)
        _check_draft(assessment)
        current = answers_by_question(assessment)
        visible = scoring.visible_questions(assessment.questionnaire, current)
        if question.pk not in visible:
            return Saved(None, ignored=True)
        answer = current.get(question.pk)
        if value.empty:
            if comment:
                raise DomainError(
                    "Répondez à la question pour garder un commentaire, ou effacez aussi le "
                    "commentaire pour retirer la réponse.",
                    field="comment",
                )
            if answer is not None:
                answer.delete()
            return Saved(None, cleared=True, scores=refresh_scores(assessment))
        if answer is None:
            answer = Answer(assessment=assessment, question=question)
        answer.choice = value.choice
        answer.number_value = value.number
        answer.text_value = value.text
        answer.date_value = value.date
        if comment is not None:
            answer.comment = comment
        answer.answered_by = actor
        answer.answered_at = timezone.now()
        answer.save()
        answer.choices.set(value.choices)
        scores = refresh_scores(assessment)
        # The normalised score of this answer, as the scoring reads it (None: not scored).
        value = scores.by_question.get(question.pk)
        answer_score = None if value is None else Decimal(str(value)).quantize(Decimal("0.1"))
        if answer.score != answer_score:
            answer.score = answer_score
            answer.save(update_fields=["score"])
    return Saved(answer, scores=scores)


def set_sharing(*, actor, assessment: Assessment, shared: bool) -> Assessment:
    """The organisation lets its region's ARS and CRRC read its answers (or stops)."""
    _check_assessor(actor, assessment.organisation)
    assessment.shared_with_region = bool(shared)
    assessment.save(update_fields=["shared_with_region", "updated_at"])
    return assessment


def remaining_to_answer(assessment: Assessment) -> int:
    """How many more applicable questions must be answered before the score is shown."""
    percent = assessment.questionnaire.min_answered_percent
    needed = math.ceil(assessment.applicable_count * percent / 100)
    if assessment.applicable_count == 0:
        return 1
    return max(0, needed - assessment.answered_count)


def complete_assessment(*, actor, assessment: Assessment) -> Assessment:
    """Completed once its score is shown (enough answered); its answers then stay as they are."""
    _check_assessor(actor, assessment.organisation)
    with transaction.atomic():
        assessment = (
            Assessment.objects.select_for_update()
            .select_related("questionnaire", "organisation")
            .get(pk=assessment.pk)
        )
        _check_draft(assessment)
        scores = refresh_scores(assessment)
        if not scores.shown:
            percent = assessment.questionnaire.min_answered_percent
            missing = max(1, remaining_to_answer(assessment))
            raise DomainError(
                f"L'autoévaluation ne peut pas encore être terminée : répondez à au moins "
                f"{percent} % des questions applicables ({scores.answered} sur "
                f"{scores.applicable} pour le moment, encore {missing} question"
                f"{'s' if missing > 1 else ''}).",
                code="not_enough_answers",
            )
        assessment.status = AssessmentStatus.COMPLETED
        assessment.completed_at = timezone.now()
        assessment.completed_by = actor
        assessment.save(update_fields=["status", "completed_at", "completed_by", "updated_at"])
    return assessment


# --- Evidence ---------------------------------------------------------------------------------


def add_evidence(
    *,
    actor,
    assessment: Assessment,
    upload,
    title: str,
    effective_on: datetime.date,
    expires_on: datetime.date | None = None,
    node: RequirementNode | None = None,
) -> Evidence:
    """Attach a proof (checked type and size, SHA-256 kept) to the assessment or one of its
    requirements. Stored under a random name, served only through the authorised view."""
    _check_assessor(actor, assessment.organisation)
    title = (title or "").strip()
    if not title:
        raise DomainError("Donnez un intitulé à la preuve.", field="title")
    if effective_on is None:
        raise DomainError("Indiquez la date depuis laquelle la preuve vaut.", field="effective_on")
    if expires_on is not None and expires_on < effective_on:
        raise DomainError(
            "La date d'expiration doit suivre la date d'entrée en vigueur.", field="expires_on"
        )
    if node is not None and node.questionnaire_id != assessment.questionnaire_id:
        raise DomainError(
            "Cette exigence n'appartient pas au questionnaire de cette autoévaluation.",
            field="node",
        )
    checked = uploads.check_upload(upload, field="file")
    evidence = Evidence(
        assessment=assessment,
        node=node,
        title=title[:300],
        original_name=checked.original_name,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        effective_on=effective_on,
        expires_on=expires_on,
        uploaded_by=actor,
    )
    evidence.file.save(checked.original_name, checked.upload, save=False)
    try:
        evidence.save()
    except Exception:
        evidence.file.delete(save=False)
        raise
    return evidence


def delete_evidence(*, actor, evidence: Evidence) -> None:
    assessment = evidence.assessment
    _check_assessor(actor, assessment.organisation)
    _check_draft(assessment)
    stored = evidence.file.name
    storage = evidence.file.storage
    evidence.delete()
    transaction.on_commit(lambda: storage.delete(stored) if stored else None)


def is_expired(evidence: Evidence, today: datetime.date | None = None) -> bool:
    today = today or timezone.localdate()
    return evidence.expires_on is not None and evidence.expires_on < today


# --- Action plan ------------------------------------------------------------------------------

ACTION_FIELDS = (
    "title",
    "description",
    "owner",
    "due_on",
    "status",
    "priority",
    "estimated_cost_eur",
    "care_domain",
)


def _check_action_data(data: dict) -> None:
    if not (data.get("title") or "").strip():
        raise DomainError("Donnez un intitulé à l'action.", field="title")
    if data.get("status", ActionStatus.TODO) not in ActionStatus.values:
        raise DomainError("Ce statut n'existe pas.", field="status")
    if data.get("priority", ActionPriority.MEDIUM) not in ActionPriority.values:
        raise DomainError("Cette priorité n'existe pas.", field="priority")
    cost = data.get("estimated_cost_eur")
    if cost is not None and cost < 0:
        raise DomainError("Le coût estimé ne peut pas être négatif.", field="estimated_cost_eur")


def _apply_status(action: Action, status: str, today: datetime.date | None = None) -> None:
    action.status = status
    if status == ActionStatus.DONE:
        action.done_on = action.done_on or today or timezone.localdate()
    else:
        action.done_on = None


def action_create(*, actor, organisation: Organisation, data: dict) -> Action:
    """A hand-written action. A due date in the past is allowed: the plan flags it."""
    _check_assessor(actor, organisation)
    _check_action_data(data)
    action = Action(organisation=organisation, created_by=actor)
    for name in ACTION_FIELDS:
        if name in data:
            setattr(action, name, data[name])
    action.title = action.title.strip()[:300]
    _apply_status(action, action.status)
    action.save()
    return action


def action_update(*, actor, action: Action, data: dict) -> Action:
    _check_assessor(actor, action.organisation)
    _check_action_data({**{"title": action.title}, **data})
    for name in ACTION_FIELDS:
        if name in data and name != "status":
            setattr(action, name, data[name])
    action.title = action.title.strip()[:300]
    if "status" in data and data["status"] != action.status:
        _apply_status(action, data["status"])
    action.save()
    return action


def action_set_status(*, actor, action: Action, status: str) -> Action:
    """Done sets the day it was done; any other status clears it."""
    _check_assessor(actor, action.organisation)
    if status not in ActionStatus.values:
        raise DomainError("Ce statut n'existe pas.", field="status")
    _apply_status(action, status)
    action.save(update_fields=["status", "done_on", "updated_at"])
    return action


def action_delete(*, actor, action: Action) -> None:
    _check_assessor(actor, action.organisation)
    action.delete()


MEASURE_PRIORITY = {
    1: ActionPriority.HIGH,
    2: ActionPriority.MEDIUM,
    3: ActionPriority.LOW,
    4: ActionPriority.LOW,
}


@dataclass
class GapChoice:
    """One line of « create actions from gaps »: a measure (with the question that triggered
    it) or a question scoring below 100 without a measure."""

    key: str
    title: str
    description: str
    question: Question | None
    measure: Measure | None
    priority: str
    care_domain_code: str = ""
    theme: str = ""


def gap_choices(assessment: Assessment) -> list[GapChoice]:
    """What the results page offers to turn into actions: every measure triggered by the
    answers (priority first), then every gap without a measure."""
    items: dict[str, GapChoice] = {}
    for measure in scoring.priority_measures(assessment):
        key = f"m{measure.pk}"
        items.setdefault(
            key,
            GapChoice(
                key=key,
                title=measure.title,
                description=measure.description,
                question=None,
                measure=measure,
                priority=MEASURE_PRIORITY.get(measure.priority, ActionPriority.MEDIUM),
                care_domain_code=measure.care_domain_code,
            ),
        )
    measured_questions = set()
    for gap in scoring.gaps(assessment):
        question = gap.question
        measures = list(gap.measures)
        for measure in measures:
            key = f"m{measure.pk}"
            if key in items and items[key].question is None:
                items[key].question = question
                measured_questions.add(question.pk)
        if not measures and question.pk not in measured_questions:
            key = f"q{question.pk}"
            items.setdefault(
                key,
                GapChoice(
                    key=key,
                    title=f"Améliorer : {question.text}"[:300],
                    description=question.node.name if question.node_id else "",
                    question=question,
                    measure=None,
                    priority=ActionPriority.MEDIUM,
                ),
            )
    return list(items.values())


def actions_from_gaps(*, actor, assessment: Assessment, keys: list[str]) -> list[Action]:
    """One action per selected gap or measure, pre-filled and linked to its source. A gap
    already in the plan (same assessment and measure or question) is not added twice."""
    from rempart.programme.models import Domain

    _check_assessor(actor, assessment.organisation)
    if not keys:
        raise DomainError("Cochez au moins un écart ou une mesure.", field="gaps")
    offered = {item.key: item for item in gap_choices(assessment)}
    unknown = [k for k in keys if k not in offered]
    if unknown:
        raise DomainError(
            "Un des écarts cochés ne fait pas partie de cette autoévaluation (la page a pu "
            "changer) : rechargez-la.",
            field="gaps",
        )
    domains = {d.code: d for d in Domain.objects.all()}
    created = []
    with transaction.atomic():
        for key in dict.fromkeys(keys):
            item = offered[key]
            existing = Action.objects.filter(
                organisation=assessment.organisation, source_assessment=assessment
            )
            if item.measure is not None:
                existing = existing.filter(source_measure=item.measure)
            else:
                existing = existing.filter(source_question=item.question, source_measure=None)
            if existing.exists():
                continue
            created.append(
                Action.objects.create(
                    organisation=assessment.organisation,
                    title=item.title[:300],
                    description=item.description,
                    priority=item.priority,
                    care_domain=domains.get(item.care_domain_code),
                    source_assessment=assessment,
                    source_question=item.question,
                    source_measure=item.measure,
                    created_by=actor,
                )
            )
    return created


def import_debrief_action(*, actor, organisation: Organisation, debrief_action) -> Action:
    """Copy an action decided at a crisis exercise's RETEX into the plan (once)."""
    _check_assessor(actor, organisation)
    run = debrief_action.debrief.run
    if run.organisation_id != organisation.pk:
        raise DomainError("Cette action de RETEX ne concerne pas cet établissement.")
    if Action.objects.filter(
        organisation=organisation, source_debrief_action=debrief_action
    ).exists():
        raise DomainError("Cette action de RETEX est déjà dans le plan d'action.")
    status = debrief_action.status if debrief_action.status in ActionStatus.values else "todo"
    action = Action(
        organisation=organisation,
        title=debrief_action.title[:300],
        description=f"Décidée au RETEX de l'exercice « {run} ».",
        source_debrief_action=debrief_action,
        owner=debrief_action.owner,
        due_on=debrief_action.due_on,
        priority=debrief_action.priority
        if debrief_action.priority in ActionPriority.values
        else ActionPriority.MEDIUM,
        created_by=actor,
    )
    _apply_status(action, status)
    try:
        with transaction.atomic():
            action.save()
    except IntegrityError as exc:  # imported at the same moment by someone else
        raise DomainError("Cette action de RETEX est déjà dans le plan d'action.") from exc
    return action


# --- Reminders --------------------------------------------------------------------------------


def assessors_of(organisation: Organisation) -> list:
    """People holding ASSESS on the organisation (its own, and those of its legal entity)."""
    from rempart.core.roles import Role
    from rempart.organisations import perms as org_perms

    roles = [r.value for r in Role if Capability.ASSESS in ROLES[r].capabilities]
    homes = [organisation.pk] + (
        [organisation.legal_entity_id] if organisation.legal_entity_id else []
    )
    memberships = (
        Membership.objects.active()
        .filter(role__in=roles, organisation_id__in=homes, user__is_active=True)
        .select_related("user", "organisation")
    )
    people = {}
    for membership in memberships:
        if org_perms.covers(membership, organisation, Capability.ASSESS) and membership.user.email:
            people[membership.user_id] = membership.user
    return list(people.values())


def due_actions(today: datetime.date | None = None):
    today = today or timezone.localdate()
    return Action.objects.filter(
        status__in=[ActionStatus.TODO, ActionStatus.IN_PROGRESS],
        due_on__isnull=False,
        due_on__lte=today + datetime.timedelta(days=REMINDER_DAYS_AHEAD),
    )


def send_action_reminders(today: datetime.date | None = None) -> int:
    """Daily (Celery beat): one e-mail per organisation to its assessors listing the open
    actions due within 7 days or overdue. Returns how many e-mails left."""
    today = today or timezone.localdate()
    by_org: dict[int, list[Action]] = {}
    for action in due_actions(today).select_related("organisation").order_by("due_on", "pk"):
        by_org.setdefault(action.organisation_id, []).append(action)
    sent = 0
    for actions in by_org.values():
        organisation = actions[0].organisation
        people = assessors_of(organisation)
        if not people:
            continue
        overdue = [a for a in actions if a.due_on < today]
        soon = [a for a in actions if a.due_on >= today]
        body = render_to_string(
            "assessments/email/action_reminder.txt",
            {
                "organisation": organisation,
                "overdue": overdue,
                "soon": soon,
                "days": REMINDER_DAYS_AHEAD,
                "site_url": getattr(settings, "SITE_URL", ""),
            },
        )
        try:
            EmailMessage(
                subject=f"[Rempart] Plan d'action : {len(actions)} action"
                f"{'s' if len(actions) > 1 else ''} à échéance — {organisation.name}",
                body=body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[p.email for p in people],
            ).send()
            sent += 1
        except Exception:  # one refused address must not stop the others
            logger.exception("Action plan reminder to organisation %s failed", organisation.pk)
    return sent


def action_q_open() -> Q:
    return Q(status__in=[ActionStatus.TODO, ActionStatus.IN_PROGRESS])
