"""The life of a file: prepared (draft), submitted in the application window, reviewed by the
ARS (complement requested, accepted, rejected), with its comments and history.

Every write is one transaction, checked first (DomainError with a French message and the field
at fault), audited by the models' registration and recorded in the file's readable history
(which e-mails the other side once committed).

The regional envelope is never over-committed: accepting a file locks the call row
(`SELECT … FOR UPDATE` on PostgreSQL; SQLite transactions take the write lock at BEGIN), sums
what is already engaged and refuses when the new amount would not fit.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import OrgKind
from rempart.organisations.models import Organisation, User

from . import perms
from .ceilings import ZERO, applicant_key, ceiling_for, covered_rows, format_eur, to_cent
from .models import (
    Application,
    ApplicationComment,
    ApplicationDocument,
    ApplicationStatus,
    BudgetLine,
    Call,
    CeilingOverride,
    DocumentPart,
    EventKind,
    ExpenseCategory,
    PrerequisiteAnswer,
    Requirement,
    RequirementKind,
)
from .notify import author_organisation, notify_comment, record
from .services import REASON_MAX_LENGTH, _check_amount
from .uploads import check_upload
from .windows import Window, format_date_fr, paris_today, require_open

S = ApplicationStatus
EDITABLE_STATUSES = {S.DRAFT, S.COMPLEMENT_REQUESTED}
REVIEWABLE_STATUSES = {S.SUBMITTED, S.UNDER_REVIEW}
TEXT_FIELDS = {
    "maturity_summary": ("le diagnostic de maturité", 20000),
    "project_objectives": ("les objectifs du projet", 20000),
    "project_schedule": ("le calendrier et le pilotage du projet", 20000),
    "project_lead": ("le chef de projet", 255),
    "commitment_signatory": ("le signataire de la lettre d'engagement", 255),
}
AMOUNT_FIELDS = {
    "requested_eur": "le financement CaRE demandé",
    "own_funding_eur": "l'autofinancement",
    "other_funding_eur": "les autres financements",
}
COMMENT_MAX_LENGTH = 5000
# The parts a file needs before it can be submitted (seed 003).
REQUIRED_DOCUMENTS = (DocumentPart.COMMITMENT,)


# --- Ceilings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveCeiling:
    amount: Decimal
    steps: list[str]
    missing: list[str]
    override: CeilingOverride | None = None


def effective_ceiling(call: Call, applicant: Organisation) -> EffectiveCeiling:
    """The computed ceiling, or the ARS's own figure when it set one (with its reason)."""
    computed = ceiling_for(call, applicant)
    override = CeilingOverride.objects.filter(call=call, applicant=applicant).first()
    if override is None:
        return EffectiveCeiling(computed.amount, computed.steps, computed.missing)
    steps = [
        *computed.steps,
        f"Plafond calculé : {format_eur(computed.amount)}.",
        f"Plafond retenu par l'ARS : {format_eur(override.amount_eur)} — motif : {override.reason}",
    ]
    return EffectiveCeiling(override.amount_eur, steps, [], override)


def ceiling_override_set(
    *, actor: User, call: Call, applicant: Organisation, amount_eur: Any, reason: str
) -> CeilingOverride:
    """The ARS sets an applicant's ceiling itself, with a reason (audited). A file already
    decided keeps the amount it was decided on."""
    if not perms.can_decide_in(actor, call):
        raise DomainError("Seule l'ARS de la région modifie les plafonds.", code="forbidden")
    amount = _check_amount(amount_eur, "amount_eur", "le plafond retenu")
    reason = _reason(reason, "Indiquez le motif de la modification du plafond.")
    with transaction.atomic():
        application = (
            Application.objects.select_for_update().filter(call=call, applicant=applicant).first()
        )
        if application and application.status in (S.ACCEPTED, S.REJECTED):
            raise DomainError(
                "Ce dossier est déjà décidé : son plafond ne change plus.", code="already_decided"
            )
        override, _ = CeilingOverride.objects.update_or_create(
            call=call,
            applicant=applicant,
            defaults={"amount_eur": amount, "reason": reason, "set_by": actor},
        )
        if application:
            if application.status != S.DRAFT:
                ceiling = effective_ceiling(call, applicant)
                application.ceiling_eur = ceiling.amount
                application.ceiling_steps = ceiling.steps
                application.save(update_fields=["ceiling_eur", "ceiling_steps", "updated_at"])
            record(
                application,
                EventKind.CEILING_OVERRIDDEN,
                actor,
                f"Plafond retenu : {format_eur(amount)}. Motif : {reason}",
            )
    return override


def ceiling_override_clear(*, actor: User, call: Call, applicant: Organisation) -> None:
    if not perms.can_decide_in(actor, call):
        raise DomainError("Seule l'ARS de la région modifie les plafonds.", code="forbidden")
    with transaction.atomic():
        application = (
            Application.objects.select_for_update().filter(call=call, applicant=applicant).first()
        )
        if application and application.status in (S.ACCEPTED, S.REJECTED):
            raise DomainError(
                "Ce dossier est déjà décidé : son plafond ne change plus.", code="already_decided"
            )
        deleted, _ = CeilingOverride.objects.filter(call=call, applicant=applicant).delete()
        if application and deleted:
            if application.status != S.DRAFT:
                ceiling = effective_ceiling(call, applicant)
                application.ceiling_eur = ceiling.amount
                application.ceiling_steps = ceiling.steps
                application.save(update_fields=["ceiling_eur", "ceiling_steps", "updated_at"])
            record(
                application,
                EventKind.CEILING_OVERRIDDEN,
                actor,
                "Retour au plafond calculé : "
                f"{format_eur(effective_ceiling(call, applicant).amount)}.",
            )


# --- Preparing a file -----------------------------------------------------------------------------


def _reason(text: str, missing_message: str, field: str = "reason") -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError(missing_message, code="reason_required", field=field)
    if len(text) > REASON_MAX_LENGTH:
        raise DomainError(
            f"Le motif ne doit pas dépasser {REASON_MAX_LENGTH} caractères.",
            code="invalid",
            field=field,
        )
    return text


def _require_edit(actor: User, application: Application) -> None:
    if not perms.can_edit_application(actor, application):
        raise DomainError("Vous ne pouvez pas modifier ce dossier.", code="forbidden")
    if application.status not in EDITABLE_STATUSES:
        raise DomainError(
            f"Ce dossier est « {application.get_status_display().lower()} » : il ne se modifie "
            "plus.",
            code="not_editable",
        )


def application_start(*, actor: User, call: Call, applicant: Organisation) -> Application:
    """Open a draft file for an applicant of the call (until the application window closes)."""
    if not perms.can_apply_for(actor, applicant):
        raise DomainError(
            f"Vous ne pouvez pas candidater au nom de {applicant.name}.", code="forbidden"
        )
    if applicant.region_id != call.region_id:
        raise DomainError(
            f"{applicant.name} n'est pas dans la région de cet appel.", code="not_applicant"
        )
    today = paris_today()
    if call.application_closes_on < today:
        raise DomainError(
            f"Les candidatures à cet appel sont closes depuis le "
            f"{format_date_fr(call.application_closes_on)}.",
            code="window_closed",
        )
    kept, excluded = covered_rows(call, applicant)
    if not kept:
        if excluded:
            message = (
                f"Aucun établissement de {applicant.name} n'est d'une catégorie éligible à cet "
                "appel."
            )
        elif applicant.kind in (OrgKind.GHT, OrgKind.LEGAL_ENTITY, OrgKind.ESTABLISHMENT):
            message = (
                f"{applicant.name} ne dépose pas de dossier à cet appel : "
                f"{call.get_applicant_rule_display().lower()}."
            )
        else:
            message = f"{applicant.name} ne candidate pas aux appels à financement."
        raise DomainError(message, code="not_applicant")
    if any(applicant_key(call, row) != (applicant.kind, applicant.pk) for row in kept):
        # e.g. an establishment of a GHT when the GHT applies for it, or a GHT when each
        # establishment applies: its establishments are covered by another file.
        raise DomainError(
            f"{applicant.name} ne dépose pas de dossier à cet appel (qui candidate : "
            f"{call.get_applicant_rule_display()}).",
            code="not_applicant",
        )
    try:
        with transaction.atomic():
            application = Application.objects.create(
                call=call, applicant=applicant, created_by=actor
            )
            application.covered_establishments.set([row.pk for row in kept])
            prerequisites = Requirement.objects.filter(
                domain_id=call.domain_id, kind=RequirementKind.PREREQUISITE
            )
            PrerequisiteAnswer.objects.bulk_create(
                [PrerequisiteAnswer(application=application, requirement=r) for r in prerequisites]
            )
            record(application, EventKind.CREATED, actor)
    except IntegrityError as exc:
        raise DomainError(
            f"{applicant.name} a déjà un dossier pour cet appel.", code="already_exists"
        ) from exc
    return application


def application_update(*, actor: User, application: Application, **changes: Any) -> Application:
    """Change the structured parts of a file (text, maturity level, funding plan, commitment)."""
    _require_edit(actor, application)
    allowed = set(TEXT_FIELDS) | set(AMOUNT_FIELDS) | {"maturity_level", "commitment_signed_on"}
    unknown = set(changes) - allowed
    if unknown:
        raise DomainError(
            "Ces informations ne se modifient pas : " + ", ".join(sorted(unknown)) + ".",
            code="not_editable",
        )
    values: dict[str, Any] = {}
    for name, (label, max_length) in TEXT_FIELDS.items():
        if name in changes:
            value = (changes[name] or "").strip()
            if len(value) > max_length:
                raise DomainError(
                    f"{label[0].upper()}{label[1:]} ne doit pas dépasser {max_length} caractères.",
                    code="invalid",
                    field=name,
                )
            values[name] = value
    for name, label in AMOUNT_FIELDS.items():
        if name in changes:
            raw = changes[name]
            if name == "requested_eur" and raw in (None, ""):
                values[name] = None
            else:
                values[name] = _check_amount("0" if raw in (None, "") else raw, name, label)
    if "maturity_level" in changes:
        level = changes["maturity_level"]
        if level in (None, ""):
            values["maturity_level"] = None
        else:
            try:
                level = int(level)
            except (TypeError, ValueError):
                level = 0
            if not 1 <= level <= 5:
                raise DomainError(
                    "Le niveau de maturité va de 1 à 5.", code="invalid", field="maturity_level"
                )
            values["maturity_level"] = level
    if "commitment_signed_on" in changes:
        signed = changes["commitment_signed_on"]
        if signed is not None and not isinstance(signed, datetime.date):
            raise DomainError(
                "La date de signature n'est pas valide.",
                code="invalid",
                field="commitment_signed_on",
            )
        if signed and signed > paris_today():
            raise DomainError(
                "La lettre d'engagement ne peut pas être signée dans le futur.",
                code="invalid",
                field="commitment_signed_on",
            )
        values["commitment_signed_on"] = signed
    fields = [name for name, value in values.items() if getattr(application, name) != value]
    for name in fields:
        setattr(application, name, values[name])
    if fields:
        application.save(update_fields=[*fields, "updated_at"])
    return application


def latest_maturity_assessment(application: Application):
    """The most recent completed maturity diagnostic (rempart/assessments) of the applicant or,
    for a GHT or a legal entity applying for several, of one of the establishments the file
    covers; None when there is none."""
    from rempart.assessments.models import Assessment, AssessmentStatus, QuestionnaireKind

    organisations = {application.applicant_id} | set(
        application.covered_establishments.values_list("pk", flat=True)
    )
    return (
        Assessment.objects.filter(
            organisation_id__in=organisations,
            status=AssessmentStatus.COMPLETED,
            questionnaire__kind=QuestionnaireKind.MATURITY,
            score__isnull=False,
        )
        .select_related("questionnaire", "organisation")
        .order_by("-completed_at", "-pk")
        .first()
    )


def maturity_level_of(score: Decimal) -> int:
    """The file's 1–5 maturity level from a 0–100 score: 0–20 → 1, …, 80–100 → 5."""
    return min(5, int(score // 20) + 1)


def application_attach_maturity(*, actor: User, application: Application) -> Application:
    """Join the applicant's latest completed maturity diagnostic to the file: the level and the
    summary come from its scores (the person may still reword the summary)."""
    _require_edit(actor, application)
    assessment = latest_maturity_assessment(application)
    if assessment is None:
        raise DomainError(
            "Aucun diagnostic de maturité terminé pour les structures de ce dossier : faites-le "
            "dans « Autoévaluation », puis joignez-le.",
            code="invalid",
            field="maturity_assessment",
        )
    themes = {
        node.urn: node.name
        for node in assessment.questionnaire.nodes.filter(depth=1).only("urn", "name")
    }
    lines = [
        f"{assessment.questionnaire.name} (v{assessment.questionnaire.version}) de "
        f"{assessment.organisation.name}, terminé le "
        f"{timezone.localtime(assessment.completed_at):%d/%m/%Y} : score global "
        f"{assessment.score} / 100.",
        *(
            f"- {themes.get(urn, urn)} : {score} / 100"
            for urn, score in assessment.theme_scores.items()
            if score is not None
        ),
    ]
    application.maturity_assessment = assessment
    application.maturity_level = maturity_level_of(assessment.score)
    application.maturity_summary = "\n".join(lines)
    application.save(
        update_fields=["maturity_assessment", "maturity_level", "maturity_summary", "updated_at"]
    )
    return application


def budget_set(
    *, actor: User, application: Application, lines: dict[str, tuple[Any, str]]
) -> list[BudgetLine]:
    """Replace the forecast budget: {category: (amount, description)}; empty amounts drop the
    line. Checked entirely before anything changes."""
    _require_edit(actor, application)
    cleaned: dict[str, tuple[Decimal, str]] = {}
    for category, (amount, description) in lines.items():
        if category not in ExpenseCategory.values:
            raise DomainError(
                "Cette catégorie de dépense n'est pas éligible.", code="invalid", field="budget"
            )
        label = f"le montant « {ExpenseCategory(category).label} »"
        if amount in (None, ""):
            continue
        value = _check_amount(amount, f"budget_{category}", label)
        description = (description or "").strip()
        if len(description) > 500:
            raise DomainError(
                "Une description de dépense ne doit pas dépasser 500 caractères.",
                code="invalid",
                field=f"budget_{category}",
            )
        if value:
            cleaned[category] = (value, description)
    with transaction.atomic():
        application.budget_lines.exclude(category__in=cleaned).delete()
        result = []
        for category, (amount, description) in cleaned.items():
            line, _ = BudgetLine.objects.update_or_create(
                application=application,
                category=category,
                defaults={"amount_eur": amount, "description": description},
            )
            result.append(line)
    return result


def prerequisite_answer(
    *, actor: User, application: Application, requirement_id: int, met: bool, comment: str = ""
) -> PrerequisiteAnswer:
    _require_edit(actor, application)
    comment = (comment or "").strip()
    if len(comment) > 5000:
        raise DomainError(
            "Le commentaire ne doit pas dépasser 5000 caractères.", code="invalid", field="comment"
        )
    answer = application.prerequisite_answers.filter(requirement_id=requirement_id).first()
    if answer is None:
        raise DomainError("Ce prérequis ne concerne pas ce dossier.", code="invalid")
    answer.met, answer.comment = bool(met), comment
    answer.save(update_fields=["met", "comment", "updated_at"])
    return answer


def document_add(
    *, actor: User, application: Application, part: str, upload
) -> ApplicationDocument:
    """Attach a checked file to a part of the file (stored under a random private name)."""
    _require_edit(actor, application)
    if part not in DocumentPart.values:
        raise DomainError("Choisissez la pièce du dossier.", code="invalid", field="part")
    checked = check_upload(upload)
    with transaction.atomic():
        document = ApplicationDocument(
            application=application,
            part=part,
            original_name=checked.original_name,
            content_type=checked.content_type,
            size=checked.size,
            sha256=checked.sha256,
            uploaded_by=actor,
        )
        document.file.save(checked.original_name, checked.upload, save=False)
        # Stored before the row: if the transaction rolls back, the file goes too.
        stored, storage = document.file.name, document.file.storage
        try:
            document.save()
        except Exception:
            storage.delete(stored)
            raise
        record(
            application,
            EventKind.DOCUMENT_ADDED,
            actor,
            f"{document.get_part_display()} : {document.original_name}",
        )
    return document


def document_remove(*, actor: User, document: ApplicationDocument) -> None:
    application = document.application
    _require_edit(actor, application)
    with transaction.atomic():
        name, part = document.original_name, document.get_part_display()
        stored = document.file.name
        storage = document.file.storage
        document.delete()
        record(application, EventKind.DOCUMENT_REMOVED, actor, f"{part} : {name}")
        transaction.on_commit(lambda: storage.delete(stored))


# --- Submission -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    field: str
    message: str


def submission_gaps(application: Application, ceiling: Decimal | None = None) -> list[Gap]:
    """What still stops the file from being submitted, in the order of the form."""
    gaps: list[Gap] = []
    if not application.maturity_level:
        gaps.append(Gap("maturity_level", "Indiquez le niveau de maturité estimé (1 à 5)."))
    if not application.maturity_summary.strip():
        gaps.append(Gap("maturity_summary", "Rédigez le diagnostic de maturité."))
    if not application.project_objectives.strip():
        gaps.append(Gap("project_objectives", "Décrivez les objectifs du projet."))
    if not application.project_lead.strip():
        gaps.append(Gap("project_lead", "Indiquez le chef de projet."))
    expenses = application.budget_lines.aggregate(total=Sum("amount_eur"))["total"] or ZERO
    if not expenses:
        gaps.append(Gap("budget", "Renseignez le budget prévisionnel par catégorie de dépense."))
    if application.requested_eur is None:
        gaps.append(Gap("requested_eur", "Indiquez le financement CaRE demandé."))
    else:
        resources = application.requested_eur + application.own_funding_eur
        resources += application.other_funding_eur
        if expenses and resources != expenses:
            gaps.append(
                Gap(
                    "budget",
                    f"Le budget ne s'équilibre pas : les dépenses prévues ({format_eur(expenses)}) "
                    f"doivent égaler les financements (CaRE {format_eur(application.requested_eur)}"
                    f" + autofinancement {format_eur(application.own_funding_eur)} + autres "
                    f"{format_eur(application.other_funding_eur)} = {format_eur(resources)}).",
                )
            )
        if ceiling is not None and application.requested_eur > ceiling:
            gaps.append(
                Gap(
                    "requested_eur",
                    f"Le financement demandé ({format_eur(application.requested_eur)}) dépasse "
                    f"le plafond du dossier ({format_eur(ceiling)}).",
                )
            )
    if not application.commitment_signatory.strip() or not application.commitment_signed_on:
        gaps.append(
            Gap(
                "commitment_signatory",
                "Indiquez le signataire et la date de la lettre d'engagement du directeur.",
            )
        )
    parts = set(application.documents.values_list("part", flat=True))
    for part in REQUIRED_DOCUMENTS:
        if part not in parts:
            gaps.append(Gap("documents", f"Joignez la pièce « {DocumentPart(part).label} »."))
    for answer in application.prerequisite_answers.select_related("requirement"):
        if not answer.met:
            gaps.append(
                Gap(
                    "prerequisites",
                    f"Prérequis {answer.requirement.identifier} non rempli : "
                    f"{answer.requirement.label.rstrip('.')}.",
                )
            )
    return gaps


def application_submit(*, actor: User, application: Application) -> Application:
    """Submit the file (or resubmit it with the complement the ARS asked for).

    A first submission happens only in the application window; a complement is accepted
    after it closes, since the ARS asked for it. The ceiling, its computation and the covered
    establishments are frozen at that moment."""
    _require_edit(actor, application)
    call = application.call
    resubmission = application.status == S.COMPLEMENT_REQUESTED
    if not resubmission:
        require_open(call, Window.APPLICATION)
    ceiling = effective_ceiling(call, application.applicant)
    gaps = submission_gaps(application, ceiling.amount)
    if gaps:
        raise DomainError(
            "Le dossier n'est pas complet : " + " ".join(gap.message for gap in gaps),
            code="incomplete",
            field=gaps[0].field,
        )
    kept, _ = covered_rows(call, application.applicant)
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        if locked.status != application.status:
            raise DomainError("Ce dossier vient d'être modifié : rechargez la page.", code="stale")
        application.status = S.SUBMITTED
        application.submitted_at = timezone.now()
        application.ceiling_eur = ceiling.amount
        application.ceiling_steps = ceiling.steps
        application.save(
            update_fields=["status", "submitted_at", "ceiling_eur", "ceiling_steps", "updated_at"]
        )
        application.covered_establishments.set([row.pk for row in kept])
        record(
            application,
            EventKind.COMPLEMENT_PROVIDED if resubmission else EventKind.SUBMITTED,
            actor,
            f"Financement demandé : {format_eur(application.requested_eur)} "
            f"(plafond {format_eur(ceiling.amount)}).",
        )
    return application


# --- Review by the ARS ----------------------------------------------------------------------------


def _require_decide(actor: User, application: Application) -> None:
    if not perms.can_decide_application(actor, application):
        raise DomainError("Seule l'ARS de la région instruit ce dossier.", code="forbidden")


def _transition(application: Application, allowed: set[str], verb: str) -> Application:
    """Lock the file and check it is still in a state that allows the step."""
    locked = Application.objects.select_for_update().get(pk=application.pk)
    if locked.status not in allowed:
        raise DomainError(
            f"Ce dossier est « {locked.get_status_display().lower()} » : on ne peut pas {verb}.",
            code="invalid_state",
        )
    return locked


def review_start(*, actor: User, application: Application) -> Application:
    _require_decide(actor, application)
    with transaction.atomic():
        locked = _transition(application, {S.SUBMITTED}, "commencer son instruction")
        locked.status = S.UNDER_REVIEW
        locked.save(update_fields=["status", "updated_at"])
        record(locked, EventKind.REVIEW_STARTED, actor)
    return locked


def request_complement(*, actor: User, application: Application, message: str) -> Application:
    """Send the file back to the applicant, saying what is missing."""
    _require_decide(actor, application)
    message = _reason(message, "Indiquez les pièces ou informations attendues.", "message")
    with transaction.atomic():
        locked = _transition(application, REVIEWABLE_STATUSES, "demander un complément")
        locked.status = S.COMPLEMENT_REQUESTED
        locked.save(update_fields=["status", "updated_at"])
        record(locked, EventKind.COMPLEMENT_REQUESTED, actor, message)
    return locked


def engaged_on(call: Call) -> Decimal:
    """What the call's accepted files engage, to the cent (SQLite sums decimals as floats)."""
    total = Application.objects.filter(call=call, status=S.ACCEPTED).aggregate(
        total=Sum("engaged_eur")
    )["total"]
    return to_cent(total)


def application_accept(*, actor: User, application: Application, comment: str = "") -> Application:
    """Accept the file and engage its amount on the regional envelope, never beyond it."""
    _require_decide(actor, application)
    comment = (comment or "").strip()[:REASON_MAX_LENGTH]
    with transaction.atomic():
        call = Call.objects.select_for_update().get(pk=application.call_id)
        locked = _transition(application, REVIEWABLE_STATUSES, "l'accepter")
        amount = locked.requested_eur or ZERO
        if locked.ceiling_eur is not None and amount > locked.ceiling_eur:
            raise DomainError(
                f"Le financement demandé ({format_eur(amount)}) dépasse le plafond du dossier "
                f"({format_eur(locked.ceiling_eur)}).",
                code="over_ceiling",
            )
        engaged = engaged_on(call)
        if engaged + amount > call.envelope_eur:
            raise DomainError(
                f"Accepter ce dossier engagerait {format_eur(engaged + amount)} pour une "
                f"enveloppe régionale de {format_eur(call.envelope_eur)} : il reste "
                f"{format_eur(call.envelope_eur - engaged)} à engager et le dossier demande "
                f"{format_eur(amount)}.",
                code="envelope_exceeded",
            )
        locked.status = S.ACCEPTED
        locked.engaged_eur = amount
        locked.decided_at = timezone.now()
        locked.decided_by = actor
        locked.decision_reason = comment
        locked.save(
            update_fields=[
                "status",
                "engaged_eur",
                "decided_at",
                "decided_by",
                "decision_reason",
                "updated_at",
            ]
        )
        record(
            locked,
            EventKind.ACCEPTED,
            actor,
            f"Montant engagé : {format_eur(amount)}." + (f" {comment}" if comment else ""),
        )
    return locked


def application_reject(*, actor: User, application: Application, reason: str) -> Application:
    _require_decide(actor, application)
    reason = _reason(reason, "Indiquez le motif du rejet : il est communiqué au candidat.")
    with transaction.atomic():
        locked = _transition(application, REVIEWABLE_STATUSES, "le rejeter")
        locked.status = S.REJECTED
        locked.decided_at = timezone.now()
        locked.decided_by = actor
        locked.decision_reason = reason
        locked.save(
            update_fields=["status", "decided_at", "decided_by", "decision_reason", "updated_at"]
        )
        record(locked, EventKind.REJECTED, actor, reason)
    return locked


# --- Comments -------------------------------------------------------------------------------------


def comment_add(*, actor: User, application: Application, body: str) -> ApplicationComment:
    """Add to the file's thread (applicant, CRRC, ARS); the other side is e-mailed."""
    if not perms.can_comment_application(actor, application):
        raise DomainError("Vous ne pouvez pas commenter ce dossier.", code="forbidden")
    body = (body or "").strip()
    if not body:
        raise DomainError("Le commentaire est vide.", code="invalid", field="body")
    if len(body) > COMMENT_MAX_LENGTH:
        raise DomainError(
            f"Le commentaire ne doit pas dépasser {COMMENT_MAX_LENGTH} caractères.",
            code="invalid",
            field="body",
        )
    with transaction.atomic():
        comment = ApplicationComment.objects.create(
            application=application,
            author=actor,
            author_organisation=author_organisation(actor, application),
            body=body,
        )
        notify_comment(comment)
    return comment
