"""Writes of the learner side: submitting a quiz (scored, frozen, certificate when passed).

`attempt_submit` checks every answer first: a question that does not exist in the module, a
choice that is not one of the question's, two choices for a single-choice question and a
missing answer are all refused together (`QuizAnswerError.errors`, one French message per
question code) and nothing is written. A valid submission is stored with a snapshot of the
questions as asked, so a later change of content never rewrites the result.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.organisations.models import Organisation

from . import perms
from .models import Attempt, Certificate, Module, QuestionKind

MISSING_ANSWER = "Répondez à cette question."
UNKNOWN_CHOICE = "Choisissez parmi les réponses proposées."
ONE_CHOICE_ONLY = "Une seule réponse est attendue pour cette question."
UNKNOWN_QUESTION = "Cette réponse ne correspond à aucune question du module « {title} »."
ANSWERS_KEY = "__all__"


class QuizAnswerError(DomainError):
    """Some answers are missing or invalid; `errors` maps a question code (or `__all__`) to its
    French message. Nothing was written."""

    def __init__(self, errors: dict[str, str]):
        count = len(errors)
        super().__init__(
            "Une réponse est à corriger avant l'envoi."
            if count == 1
            else f"{count} réponses sont à corriger avant l'envoi.",
            code="invalid_answers",
        )
        self.errors = errors


@dataclass(frozen=True)
class ScoredQuestion:
    code: str
    correct: bool


def new_certificate_code() -> str:
    """128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return [str(v) for v in value]
    return [str(value)]


def check_answers(module: Module, answers: Mapping[str, object]) -> dict[str, list[str]]:
    """The answers by question code, cleaned; QuizAnswerError with every problem."""
    errors: dict[str, str] = {}
    questions = {q["code"]: q for q in module.questions}
    unknown = [code for code in answers if code not in questions]
    if unknown:
        errors[ANSWERS_KEY] = (
            UNKNOWN_QUESTION.format(title=module.title) + f" ({', '.join(map(str, unknown))})"
        )
    cleaned: dict[str, list[str]] = {}
    for code, question in questions.items():
        selected = list(dict.fromkeys(_as_list(answers.get(code))))
        choice_codes = {c["code"] for c in question["choices"]}
        if not selected:
            errors[code] = MISSING_ANSWER
        elif any(choice not in choice_codes for choice in selected):
            errors[code] = UNKNOWN_CHOICE
        elif question["kind"] == QuestionKind.SINGLE and len(selected) > 1:
            errors[code] = ONE_CHOICE_ONLY
        else:
            cleaned[code] = selected
    if errors:
        raise QuizAnswerError(errors)
    return cleaned


def score(module: Module, cleaned: Mapping[str, list[str]]) -> tuple[list[dict], int, int]:
    """(snapshot of every question with its answer, number right, percentage)."""
    snapshot = []
    right = 0
    for question in module.questions:
        selected = cleaned[question["code"]]
        is_correct = set(selected) == set(question["correct"])
        right += is_correct
        snapshot.append({**question, "selected": selected, "is_correct": is_correct})
    total = len(module.questions)
    percent = round(100 * right / total) if total else 0
    return snapshot, right, percent


def _organisation_for(actor, organisation: Organisation | None) -> Organisation:
    choices = perms.learner_organisations(actor)
    if not choices:
        raise DomainError(perms.NO_MEMBERSHIP, code="forbidden")
    if organisation is None:
        return choices[0]
    if organisation.pk not in {o.pk for o in choices}:
        raise DomainError(
            "Vous ne pouvez suivre un module qu'au titre d'une organisation dont vous êtes membre.",
            code="forbidden",
            field="organisation",
        )
    return organisation


def attempt_submit(
    *,
    actor,
    module: Module,
    answers: Mapping[str, object],
    organisation: Organisation | None = None,
) -> Attempt:
    """Score the answers and record the attempt (and its certificate when passed)."""
    if not module.is_active:
        raise DomainError("Ce module n'est plus proposé.", code="module_inactive")
    if module.audience not in perms.allowed_audiences(actor):
        raise DomainError(perms.NOT_FOR_YOUR_AUDIENCE, code="forbidden")
    if not module.questions:
        raise DomainError("Ce module n'a pas encore de quiz.", code="no_quiz")
    organisation = _organisation_for(actor, organisation)
    cleaned = check_answers(module, answers)
    snapshot, right, percent = score(module, cleaned)
    now = timezone.now()
    with transaction.atomic():
        attempt = Attempt.objects.create(
            user=actor,
            organisation=organisation,
            module=module,
            module_version=module.version,
            module_title=module.title,
            pass_mark=module.pass_mark,
            answers=snapshot,
            correct_count=right,
            question_count=len(snapshot),
            score=percent,
            passed=percent >= module.pass_mark,
            submitted_at=now,
        )
        if attempt.passed:
            _issue_certificate(attempt, actor, organisation, now)
    return attempt


def _issue_certificate(attempt: Attempt, actor, organisation: Organisation, now) -> Certificate:
    for _try in range(3):  # a collision of 128 random bits will not happen; be safe anyway
        try:
            with transaction.atomic():
                return Certificate.objects.create(
                    attempt=attempt,
                    user=actor,
                    organisation=organisation,
                    code=new_certificate_code(),
                    holder_name=actor.get_full_name() or actor.email,
                    organisation_name=organisation.name,
                    module_title=attempt.module_title,
                    module_version=attempt.module_version,
                    score=attempt.score,
                    issued_at=now,
                )
        except IntegrityError:
            continue
    raise DomainError("L'attestation n'a pas pu être délivrée : réessayez.")
