"""Money after acceptance: the payment request and the financial report (bilan financier).

Payment request — once per file, in the call's payment window, when every target of the
domain is validated by the ARS; the amount asked is the amount engaged on acceptance. The ARS
approves it (mise en paiement) or refuses it (with a reason), then records the payment made
(amount not above the amount engaged, date not in the future, reference).

Financial report — the costs actually incurred since the call's publication, one line per
invoice by eligible category, gathered while the report is a draft and then filed. Filing
computes and keeps:

* eligible costs = the sum of the lines;
* amount due = min(eligible costs, amount engaged);
* already paid = the payment's amount when it is paid, else 0;
* to recover = max(0, paid − due) (over-compensation);
* balance due = max(0, due − paid).

The ARS reviews the report: accepted (nothing to recover) or accepted with an amount to
recover, then records the recovery. Money is Decimal to the cent (ROUND_HALF_UP).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.inputs import optional_text as _optional_text
from rempart.core.inputs import required_text as _text
from rempart.organisations.models import User

from . import perms, windows
from .ceilings import format_eur
from .declaration_services import targets_not_validated
from .models import (
    Application,
    ApplicationStatus,
    CostLine,
    EventKind,
    ExpenseCategory,
    FinancialReport,
    PaymentRequest,
    PaymentStatus,
    ReportStatus,
)
from .notify import record
from .services import _check_amount

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
COMMENT_MAX_LENGTH = 5000


def cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _date(value: Any, field: str, missing: str) -> datetime.date:
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise DomainError(missing, code="invalid", field=field)
    return value


def _require_edit(actor: User, application: Application, what: str) -> None:
    if not perms.can_edit_application(actor, application):
        raise DomainError(f"Vous ne pouvez pas {what} pour ce dossier.", code="forbidden")
    _require_accepted(application)


def _require_accepted(application: Application) -> None:
    if application.status != ApplicationStatus.ACCEPTED:
        raise DomainError(
            f"Ce dossier est « {application.get_status_display().lower()} » : le paiement et le "
            "bilan financier concernent les dossiers acceptés par l'ARS.",
            code="not_accepted",
        )


def _require_decide(actor: User, application: Application, what: str) -> None:
    if not perms.can_decide_application(actor, application):
        raise DomainError(f"Seule l'ARS de la région {what}.", code="forbidden")


# --- Payment request ------------------------------------------------------------------------------


def payment_of(application: Application) -> PaymentRequest | None:
    return PaymentRequest.objects.filter(application=application).first()


def payment_request(
    *, actor: User, application: Application, bank_account_holder: str
) -> PaymentRequest:
    """Ask for the amount engaged, in the payment window, once every target is validated."""
    _require_edit(actor, application, "demander le paiement")
    windows.require_open(application.call, windows.Window.PAYMENT)
    missing = targets_not_validated(application)
    if missing:
        listed = "; ".join(
            f"{row.requirement.identifier} ({row.status_label.lower()})" for row in missing
        )
        raise DomainError(
            "Le paiement se demande une fois toutes les cibles du domaine validées par l'ARS. "
            f"Pas encore validées : {listed}.",
            code="targets_not_validated",
        )
    holder = _text(
        bank_account_holder,
        "bank_account_holder",
        "Indiquez le titulaire du compte bancaire qui recevra le paiement.",
        "le titulaire du compte",
        255,
    )
    try:
        with transaction.atomic():
            locked = Application.objects.select_for_update().get(pk=application.pk)
            _require_accepted(locked)
            existing = PaymentRequest.objects.filter(application=locked).first()
            if existing is not None and existing.status != PaymentStatus.REFUSED:
                raise DomainError(
                    "Une demande de paiement existe déjà pour ce dossier (« "
                    f"{existing.get_status_display().lower()} ») : une seule est possible.",
                    code="already_exists",
                )
            if existing is not None:
                # A refused request (a wrong account holder, say) is made again, still in the
                # window: the same row, back to "requested"; the audit trail keeps the refusal.
                payment = existing
                payment.status = PaymentStatus.REQUESTED
                payment.amount_eur = locked.engaged_eur
                payment.bank_account_holder = holder
                payment.requested_by = actor
                payment.requested_at = timezone.now()
                payment.decided_by = None
                payment.decided_at = None
                payment.save()
            else:
                payment = PaymentRequest.objects.create(
                    application=locked,
                    amount_eur=locked.engaged_eur,
                    bank_account_holder=holder,
                    requested_by=actor,
                    requested_at=timezone.now(),
                )
            record(
                locked,
                EventKind.PAYMENT_REQUESTED,
                actor,
                f"Montant demandé : {format_eur(payment.amount_eur)}. Titulaire du compte : "
                f"{holder}.",
            )
    except IntegrityError as exc:
        raise DomainError(
            "Une demande de paiement vient d'être faite pour ce dossier : rechargez la page.",
            code="stale",
        ) from exc
    return payment


def _lock_payment(payment: PaymentRequest, allowed: set[str], verb: str) -> PaymentRequest:
    locked = (
        PaymentRequest.objects.select_for_update().select_related("application").get(pk=payment.pk)
    )
    if locked.status not in allowed:
        raise DomainError(
            f"La demande de paiement est « {locked.get_status_display().lower()} » : on ne peut "
            f"pas {verb}.",
            code="invalid_state",
        )
    return locked


def payment_approve(*, actor: User, payment: PaymentRequest, comment: str = "") -> PaymentRequest:
    _require_decide(actor, payment.application, "instruit les demandes de paiement")
    comment = _optional_text(comment, "comment", "le commentaire", COMMENT_MAX_LENGTH)
    with transaction.atomic():
        locked = _lock_payment(payment, {PaymentStatus.REQUESTED}, "la valider")
        locked.status = PaymentStatus.APPROVED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_comment = comment
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
        record(
            locked.application,
            EventKind.PAYMENT_STATUS,
            actor,
            f"Demande de paiement validée, mise en paiement de {format_eur(locked.amount_eur)}."
            + (f" {comment}" if comment else ""),
        )
    return locked


def payment_refuse(*, actor: User, payment: PaymentRequest, comment: str) -> PaymentRequest:
    _require_decide(actor, payment.application, "instruit les demandes de paiement")
    comment = _text(
        comment,
        "comment",
        "Indiquez le motif du refus : il est communiqué au candidat.",
        "le motif",
        COMMENT_MAX_LENGTH,
    )
    with transaction.atomic():
        locked = _lock_payment(payment, {PaymentStatus.REQUESTED}, "la refuser")
        locked.status = PaymentStatus.REFUSED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_comment = comment
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
        record(
            locked.application,
            EventKind.PAYMENT_STATUS,
            actor,
            f"Demande de paiement refusée. Motif : {comment}",
        )
    return locked


def payment_record_paid(
    *,
    actor: User,
    payment: PaymentRequest,
    paid_eur: Any,
    paid_on: datetime.date | None,
    payment_reference: str,
) -> PaymentRequest:
    """The ARS records the payment made: more than 0, not above the amount engaged, on a date
    that is not in the future, with its reference."""
    application = payment.application
    _require_decide(actor, application, "enregistre les paiements")
    amount = _check_amount(paid_eur, "paid_eur", "le montant payé")
    if amount <= 0:
        raise DomainError(
            "Le montant payé doit être supérieur à 0 €.", code="invalid", field="paid_eur"
        )
    engaged = application.engaged_eur or ZERO
    if amount > engaged:
        raise DomainError(
            f"Le montant payé ({format_eur(amount)}) ne peut pas dépasser le montant engagé "
            f"pour ce dossier ({format_eur(engaged)}).",
            code="over_engaged",
            field="paid_eur",
        )
    paid_on = _date(paid_on, "paid_on", "Indiquez la date du paiement.")
    today = windows.paris_today()
    if paid_on > today:
        raise DomainError(
            f"La date du paiement ({windows.format_date_fr(paid_on)}) ne peut pas être dans "
            "le futur.",
            code="invalid",
            field="paid_on",
        )
    requested_on = timezone.localtime(payment.requested_at, windows.PARIS).date()
    if paid_on < requested_on:
        raise DomainError(
            f"La date du paiement ({windows.format_date_fr(paid_on)}) précède la demande "
            f"({windows.format_date_fr(requested_on)}).",
            code="invalid",
            field="paid_on",
        )
    reference = _text(
        payment_reference,
        "payment_reference",
        "Indiquez la référence du paiement (numéro de mandat ou de virement).",
        "la référence du paiement",
        100,
    )
    with transaction.atomic():
        locked = _lock_payment(payment, {PaymentStatus.APPROVED}, "enregistrer son paiement")
        locked.status = PaymentStatus.PAID
        locked.paid_eur = amount
        locked.paid_on = paid_on
        locked.payment_reference = reference
        locked.save(update_fields=["status", "paid_eur", "paid_on", "payment_reference"])
        record(
            locked.application,
            EventKind.PAYMENT_STATUS,
            actor,
            f"Paiement de {format_eur(amount)} effectué le {windows.format_date_fr(paid_on)} "
            f"(référence {reference}).",
        )
    return locked


# --- Financial report -----------------------------------------------------------------------------


def report_of(application: Application) -> FinancialReport | None:
    return FinancialReport.objects.filter(application=application).first()


def report_lines(report: FinancialReport | None) -> QuerySet[CostLine]:
    if report is None:
        return CostLine.objects.none()
    return report.lines.order_by("category", "invoice_date", "pk")


@dataclass(frozen=True)
class CategoryTotal:
    category: str
    label: str
    lines: list[CostLine]
    total: Decimal


def lines_by_category(report: FinancialReport | None) -> tuple[list[CategoryTotal], Decimal]:
    """The report's lines grouped by eligible category (in the order of the categories), with
    each category's total and the grand total."""
    grouped: dict[str, list[CostLine]] = {}
    for line in report_lines(report):
        grouped.setdefault(line.category, []).append(line)
    result = []
    grand = ZERO
    for category in ExpenseCategory:
        lines = grouped.get(category.value)
        if not lines:
            continue
        total = cents(sum((line.amount_eur for line in lines), ZERO))
        grand += total
        result.append(CategoryTotal(category.value, str(category.label), lines, total))
    return result, cents(grand)


def get_cost_line(application: Application, pk) -> CostLine:
    try:
        return CostLine.objects.select_related("report").get(
            pk=pk, report__application_id=application.pk
        )
    except (CostLine.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Dépense introuvable.") from exc


@dataclass(frozen=True)
class ReportAmounts:
    eligible_costs: Decimal
    amount_due: Decimal
    paid: Decimal
    to_recover: Decimal
    balance_due: Decimal


def compute_amounts(eligible_costs: Decimal, engaged: Decimal, paid: Decimal) -> ReportAmounts:
    """Amount due = min(costs, engaged); over-compensation = max(0, paid − due); balance =
    max(0, due − paid). To the cent."""
    eligible_costs, engaged, paid = cents(eligible_costs), cents(engaged), cents(paid)
    due = min(eligible_costs, engaged)
    return ReportAmounts(
        eligible_costs=eligible_costs,
        amount_due=due,
        paid=paid,
        to_recover=cents(max(ZERO, paid - due)),
        balance_due=cents(max(ZERO, due - paid)),
    )


def paid_so_far(application: Application) -> Decimal:
    payment = payment_of(application)
    if payment is not None and payment.status == PaymentStatus.PAID and payment.paid_eur:
        return payment.paid_eur
    return ZERO


EMPTY_REPORT = "Le bilan est vide : ajoutez au moins une dépense avant de le déposer."


def _lock_draft_report(application: Application, *, create: bool) -> FinancialReport:
    locked_app = Application.objects.select_for_update().get(pk=application.pk)
    _require_accepted(locked_app)
    report = FinancialReport.objects.select_for_update().filter(application=locked_app).first()
    if report is None:
        if not create:
            raise DomainError(EMPTY_REPORT, code="empty_report")
        report = FinancialReport.objects.create(application=locked_app)
    if report.status != ReportStatus.DRAFT:
        raise DomainError(
            f"Le bilan financier est « {report.get_status_display().lower()} » : ses dépenses "
            "ne se modifient plus.",
            code="not_editable",
        )
    return report


def cost_line_add(
    *,
    actor: User,
    application: Application,
    category: str,
    supplier: str,
    invoice_reference: str,
    invoice_date: datetime.date | None,
    amount_eur: Any,
    description: str = "",
) -> CostLine:
    """Add one invoice to the draft report (created on the first line). The invoice must be
    dated between the call's publication (opening of applications) and today."""
    _require_edit(actor, application, "modifier le bilan financier")
    if category not in ExpenseCategory.values:
        raise DomainError(
            "Choisissez une catégorie de dépense éligible.", code="invalid", field="category"
        )
    supplier = _text(supplier, "supplier", "Indiquez le fournisseur.", "le fournisseur", 255)
    reference = _text(
        invoice_reference,
        "invoice_reference",
        "Indiquez la référence de la facture.",
        "la référence de la facture",
        100,
    )
    invoice_date = _date(invoice_date, "invoice_date", "Indiquez la date de la facture.")
    published = application.call.application_opens_on
    if invoice_date < published:
        raise DomainError(
            f"La facture du {windows.format_date_fr(invoice_date)} est antérieure à la "
            f"publication de l'appel ({windows.format_date_fr(published)}) : seules les "
            "dépenses engagées depuis sont éligibles.",
            code="invoice_too_early",
            field="invoice_date",
        )
    if invoice_date > windows.paris_today():
        raise DomainError(
            f"La date de la facture ({windows.format_date_fr(invoice_date)}) ne peut pas être "
            "dans le futur.",
            code="invalid",
            field="invoice_date",
        )
    amount = _check_amount(amount_eur, "amount_eur", "le montant de la dépense")
    if amount <= 0:
        raise DomainError(
            "Le montant de la dépense doit être supérieur à 0 €.",
            code="invalid",
            field="amount_eur",
        )
    description = _optional_text(description, "description", "l'objet de la dépense", 500)
    with transaction.atomic():
        report = _lock_draft_report(application, create=True)
        line = CostLine.objects.create(
            report=report,
            category=category,
            supplier=supplier,
            invoice_reference=reference,
            invoice_date=invoice_date,
            amount_eur=amount,
            description=description,
        )
    return line


def cost_line_remove(*, actor: User, line: CostLine) -> None:
    application = line.report.application
    _require_edit(actor, application, "modifier le bilan financier")
    with transaction.atomic():
        report = _lock_draft_report(application, create=False)
        if line.report_id != report.pk:
            raise DomainError("Cette dépense n'appartient pas à ce bilan.", code="invalid")
        CostLine.objects.filter(pk=line.pk).delete()


def report_file(*, actor: User, application: Application) -> FinancialReport:
    """File the draft report: its amounts are computed now and kept."""
    _require_edit(actor, application, "déposer le bilan financier")
    with transaction.atomic():
        report = _lock_draft_report(application, create=False)
        total = report.lines.aggregate(total=Sum("amount_eur"))["total"]
        if not total:
            raise DomainError(EMPTY_REPORT, code="empty_report")
        locked_app = report.application
        amounts = compute_amounts(total, locked_app.engaged_eur or ZERO, paid_so_far(locked_app))
        report.status = ReportStatus.FILED
        report.filed_by = actor
        report.filed_at = timezone.now()
        report.eligible_costs_eur = amounts.eligible_costs
        report.amount_due_eur = amounts.amount_due
        report.paid_eur = amounts.paid
        report.to_recover_eur = amounts.to_recover
        report.balance_due_eur = amounts.balance_due
        report.save()
        record(locked_app, EventKind.REPORT_FILED, actor, _amounts_sentence(amounts))
    return report


def _amounts_sentence(amounts: ReportAmounts) -> str:
    text = (
        f"Dépenses éligibles : {format_eur(amounts.eligible_costs)} ; montant dû : "
        f"{format_eur(amounts.amount_due)} ; déjà versé : {format_eur(amounts.paid)}."
    )
    if amounts.to_recover:
        text += f" Trop-perçu à récupérer : {format_eur(amounts.to_recover)}."
    elif amounts.balance_due:
        text += f" Solde restant à verser : {format_eur(amounts.balance_due)}."
    return text


def _lock_report(report: FinancialReport, allowed: set[str], verb: str) -> FinancialReport:
    locked = (
        FinancialReport.objects.select_for_update().select_related("application").get(pk=report.pk)
    )
    if locked.status not in allowed:
        raise DomainError(
            f"Le bilan financier est « {locked.get_status_display().lower()} » : on ne peut pas "
            f"{verb}.",
            code="invalid_state",
        )
    return locked


def report_review(*, actor: User, report: FinancialReport, comment: str = "") -> FinancialReport:
    """The ARS accepts the filed report: balance (nothing to recover) or over-compensation to
    recover. What was paid is read again: a payment recorded after the report was filed
    changes what is to recover, and the amounts kept are the ones reviewed."""
    application = report.application
    _require_decide(actor, application, "instruit les bilans financiers")
    comment = _optional_text(comment, "comment", "l'avis", COMMENT_MAX_LENGTH)
    with transaction.atomic():
        locked = _lock_report(report, {ReportStatus.FILED}, "l'instruire")
        amounts = compute_amounts(
            locked.eligible_costs_eur, application.engaged_eur or ZERO, paid_so_far(application)
        )
        changed = amounts.paid != locked.paid_eur
        locked.amount_due_eur = amounts.amount_due
        locked.paid_eur = amounts.paid
        locked.to_recover_eur = amounts.to_recover
        locked.balance_due_eur = amounts.balance_due
        locked.status = ReportStatus.RECOVERY if amounts.to_recover else ReportStatus.ACCEPTED
        locked.reviewed_by = actor
        locked.reviewed_at = timezone.now()
        locked.review_comment = comment
        locked.save()
        if amounts.to_recover:
            text = (
                f"Bilan accepté : trop-perçu de {format_eur(amounts.to_recover)} à récupérer "
                f"(versé {format_eur(amounts.paid)}, dû {format_eur(amounts.amount_due)})."
            )
        else:
            text = f"Bilan accepté. {_amounts_sentence(amounts)}"
        if changed:
            text += " Le montant versé a été mis à jour depuis le dépôt du bilan."
        if comment:
            text += f" {comment}"
        record(application, EventKind.REPORT_REVIEWED, actor, text)
    return locked


def report_record_recovery(
    *, actor: User, report: FinancialReport, recovered_on: datetime.date | None
) -> FinancialReport:
    application = report.application
    _require_decide(actor, application, "enregistre le recouvrement d'un trop-perçu")
    recovered_on = _date(
        recovered_on, "recovered_on", "Indiquez la date à laquelle le trop-perçu a été récupéré."
    )
    if recovered_on > windows.paris_today():
        raise DomainError(
            f"La date du recouvrement ({windows.format_date_fr(recovered_on)}) ne peut pas être "
            "dans le futur.",
            code="invalid",
            field="recovered_on",
        )
    with transaction.atomic():
        locked = _lock_report(report, {ReportStatus.RECOVERY}, "enregistrer un recouvrement")
        reviewed_on = timezone.localtime(locked.reviewed_at, windows.PARIS).date()
        if recovered_on < reviewed_on:
            raise DomainError(
                f"La date du recouvrement ({windows.format_date_fr(recovered_on)}) précède "
                f"l'instruction du bilan ({windows.format_date_fr(reviewed_on)}).",
                code="invalid",
                field="recovered_on",
            )
        locked.status = ReportStatus.RECOVERED
        locked.recovered_on = recovered_on
        locked.save(update_fields=["status", "recovered_on"])
        record(
            application,
            EventKind.REPORT_REVIEWED,
            actor,
            f"Trop-perçu de {format_eur(locked.to_recover_eur)} récupéré le "
            f"{windows.format_date_fr(recovered_on)}.",
        )
    return locked
