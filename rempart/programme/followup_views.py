"""Pages that follow an accepted file: targets (declarations with proofs, ARS review), payment
request, financial report, and an organisation's platform measurements.

Thin views: every page starts from a scoped selector (404 outside the user's scope), every
write goes through a service that checks the user's rights and the rules. A POST that works
redirects (PRG) with a message; one that is refused re-renders the page with the user's input
and the service's French message on the field at fault."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from rempart.core.errors import DomainError
from rempart.organisations.selectors import get_visible_organisation

from . import (
    declaration_services,
    measurement_services,
    payment_services,
    perms,
    selectors,
    uploads,
    windows,
)
from .ceilings import format_eur
from .followup_forms import (
    ActionForm,
    CostLineForm,
    DeclarationForm,
    MeasurementForm,
    PaymentDecisionForm,
    PaymentPaidForm,
    PaymentRequestForm,
    RecoveryForm,
    ReportReviewForm,
    ReviewForm,
)
from .followup_perms import MEASURED_KINDS, can_record_measurement
from .models import (
    ApplicationStatus,
    PaymentStatus,
    ProofKind,
    ReportStatus,
)

# Service fields that a form names differently.
FIELD_ALIASES = {"file": "files", "details": "note"}


def _refuse(form, exc: DomainError) -> int:
    """Put the service's message on the field at fault; the status code of the re-rendered
    page (403 when the user may not do this at all)."""
    name = FIELD_ALIASES.get(exc.field or "", exc.field)
    form.add_error(name if name in form.fields else None, exc.message)
    return 403 if exc.code == "forbidden" else 400


def _is_accepted(application) -> bool:
    return application.status == ApplicationStatus.ACCEPTED


# --- Targets --------------------------------------------------------------------------------------


def _targets_context(request, application, *, bound=None, review=None) -> dict:
    """The page: each target with its status and proofs, a declaration form where the user may
    declare it (`bound` replaces the blank form of its target) and the ARS's review form."""
    today = windows.paris_today()
    call = application.call
    accepted = _is_accepted(application)
    can_edit = accepted and perms.can_edit_application(request.user, application)
    is_open = declaration_services.declarations_open(call, today)
    can_review = accepted and perms.can_decide_application(request.user, application)
    options = declaration_services.measurement_options(application) if can_edit else {}
    rows = declaration_services.target_rows(application)
    shown = set()
    for row in rows:
        requirement = row.requirement
        row.form = None
        row.review_form = None
        if can_edit and is_open and row.can_be_declared:
            if bound is not None and bound.requirement_obj.pk == requirement.pk:
                row.form = bound
                shown.add(id(bound))
            else:
                row.form = DeclarationForm(
                    requirement=requirement,
                    measurement_options=options.get(requirement.measurement, []),
                    auto_id=f"cible{requirement.pk}_%s",
                )
            row.measurement_count = len(options.get(requirement.measurement, []))
        if can_review and row.awaits_review:
            if review is not None and review.declaration_id == row.declaration.pk:
                row.review_form = review
                shown.add(id(review))
            else:
                row.review_form = ReviewForm(
                    initial={"declaration": row.declaration.pk},
                    auto_id=f"avis{row.declaration.pk}_%s",
                )
    validated = declaration_services.validated_count(rows)
    refused = next((f for f in (bound, review) if f is not None and id(f) not in shown), None)
    return {
        "application": application,
        "action_error": refused,
        "rows": rows,
        "validated": validated,
        "total": len(rows),
        "summary": f"{validated} {'cible validée' if validated < 2 else 'cibles validées'} "
        f"sur {len(rows)}",
        "accepted": accepted,
        "can_edit": can_edit,
        "can_review": can_review,
        "declarations_open": is_open,
        "deadline_label": windows.format_date_fr(call.declaration_deadline),
        "closed_message": "" if is_open else declaration_services.declaration_closed_message(call),
        "title": f"Atteinte des cibles — {application.applicant.name}",
    }


@require_http_methods(["GET", "POST"])
def application_targets(request, pk: int):
    application = selectors.get_visible_application(request.user, pk)
    if request.method == "GET":
        return render(request, "programme/targets.html", _targets_context(request, application))
    action = request.POST.get("action")
    if action == "declare":
        return _declare(request, application)
    if action in ("validate", "refuse"):
        return _review_target(request, application, action)
    messages.error(request, "Action inconnue : rechargez la page.")
    return redirect("programme:application_targets", pk=application.pk)


def _declare(request, application):
    rows = {str(row.requirement.pk): row for row in declaration_services.target_rows(application)}
    row = rows.get(request.POST.get("requirement", ""))
    if row is None:
        messages.error(request, "Cette cible ne fait pas partie du domaine de l'appel.")
        return redirect("programme:application_targets", pk=application.pk)
    requirement = row.requirement
    options = declaration_services.measurement_options(application).get(requirement.measurement, [])
    form = DeclarationForm(
        request.POST,
        request.FILES,
        requirement=requirement,
        measurement_options=options,
        auto_id=f"cible{requirement.pk}_%s",
    )
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        links = (
            [declaration_services.LinkProof(data["link"], data["link_label"])]
            if data["link"].strip()
            else []
        )
        try:
            declaration_services.target_declare(
                actor=request.user,
                application=application,
                requirement_id=requirement.pk,
                statement=data["statement"],
                files=data["files"],
                links=links,
                measurement_ids=data["measurements"],
            )
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            messages.success(
                request,
                f"Cible {requirement.identifier} déclarée : l'ARS en est informée et la vérifie.",
            )
            return redirect("programme:application_targets", pk=application.pk)
    context = _targets_context(request, application, bound=form)
    context["error_target"] = requirement
    return render(request, "programme/targets.html", context, status=status)


def _review_target(request, application, action: str):
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Cette déclaration est introuvable : rechargez la page.")
        return redirect("programme:application_targets", pk=application.pk)
    declaration = declaration_services.get_declaration(
        application, form.cleaned_data["declaration"]
    )
    form = ReviewForm(request.POST, auto_id=f"avis{declaration.pk}_%s")
    form.is_valid()
    form.declaration_id = declaration.pk
    service = (
        declaration_services.target_validate
        if action == "validate"
        else declaration_services.target_refuse
    )
    try:
        service(actor=request.user, declaration=declaration, comment=form.cleaned_data["comment"])
    except DomainError as exc:
        status = _refuse(form, exc)
        context = _targets_context(request, application, review=form)
        context["error_target"] = declaration.requirement
        return render(request, "programme/targets.html", context, status=status)
    identifier = declaration.requirement.identifier
    if action == "validate":
        messages.success(request, f"Cible {identifier} validée.")
    else:
        messages.success(request, f"Cible {identifier} non validée : le candidat est informé.")
    return redirect("programme:application_targets", pk=application.pk)


@require_GET
def application_proof(request, pk: int, proof_pk: int):
    """Download a file given as proof, for the people who may see the file only."""
    application = selectors.get_visible_application(request.user, pk)
    proof = declaration_services.get_proof(application, proof_pk)
    if proof.kind != ProofKind.FILE:
        raise Http404("Cette preuve n'est pas un fichier.")
    return uploads.serve(proof.file, proof.original_name, proof.content_type)


# --- Payment --------------------------------------------------------------------------------------


def _payment_context(request, application, **bound) -> dict:
    today = windows.paris_today()
    call = application.call
    accepted = _is_accepted(application)
    payment = payment_services.payment_of(application)
    can_edit = accepted and perms.can_edit_application(request.user, application)
    can_decide = accepted and perms.can_decide_application(request.user, application)
    span = windows.span(call, windows.Window.PAYMENT)
    missing = declaration_services.targets_not_validated(application) if accepted else []
    context = {
        "application": application,
        "payment": payment,
        "accepted": accepted,
        "window": span,
        "window_open": span.is_open_on(today),
        "missing_targets": missing,
        "engaged_label": format_eur(application.engaged_eur) if application.engaged_eur else "",
        "can_request": can_edit and (payment is None or payment.status == PaymentStatus.REFUSED),
        "can_decide": can_decide and payment is not None,
        "title": f"Paiement — {application.applicant.name}",
    }
    if context["can_request"] and (
        "request_form" in bound or (context["window_open"] and not missing)
    ):
        context["request_form"] = bound.get("request_form") or PaymentRequestForm()
    if context["can_decide"] and payment.status == PaymentStatus.REQUESTED:
        context["decision_form"] = bound.get("decision_form") or PaymentDecisionForm()
    if context["can_decide"] and payment.status == PaymentStatus.APPROVED:
        context["paid_form"] = bound.get("paid_form") or PaymentPaidForm(
            initial={"paid_eur": payment.amount_eur, "paid_on": today}
        )
    return context


def _do_request(request, application, data):
    payment_services.payment_request(
        actor=request.user,
        application=application,
        bank_account_holder=data["bank_account_holder"],
    )


def _do_approve(request, application, data):
    payment_services.payment_approve(
        actor=request.user, payment=_payment_or_404(application), comment=data["comment"]
    )


def _do_refuse(request, application, data):
    payment_services.payment_refuse(
        actor=request.user, payment=_payment_or_404(application), comment=data["comment"]
    )


def _do_paid(request, application, data):
    payment_services.payment_record_paid(
        actor=request.user,
        payment=_payment_or_404(application),
        paid_eur=data["paid_eur"],
        paid_on=data["paid_on"],
        payment_reference=data["payment_reference"],
    )


def _payment_or_404(application):
    payment = payment_services.payment_of(application)
    if payment is None:
        raise Http404("Aucune demande de paiement pour ce dossier.")
    return payment


# action -> (form, context key of the form, message when done, what to do)
PAYMENT_ACTIONS = {
    "request": (
        PaymentRequestForm,
        "request_form",
        "Demande de paiement envoyée à l'ARS.",
        _do_request,
    ),
    "approve": (
        PaymentDecisionForm,
        "decision_form",
        "Demande de paiement validée : mise en paiement.",
        _do_approve,
    ),
    "refuse": (
        PaymentDecisionForm,
        "decision_form",
        "Demande de paiement refusée : le candidat est informé.",
        _do_refuse,
    ),
    "paid": (PaymentPaidForm, "paid_form", "Paiement enregistré.", _do_paid),
}


def _post_action(request, application, actions, *, url_name, template, context_builder):
    """Run one POSTed action: PRG when it works, else the page again with the user's input
    and the reason (on the form when it is shown, above the page otherwise)."""
    spec = actions.get(request.POST.get("action", ""))
    if spec is None:
        messages.error(request, "Action inconnue : rechargez la page.")
        return redirect(url_name, pk=application.pk)
    form_class, key, success, run = spec
    form = form_class(request.POST)
    status = 400
    if form.is_valid():
        try:
            run(request, application, form.cleaned_data)
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            messages.success(request, success)
            return redirect(url_name, pk=application.pk)
    context = context_builder(request, application, **{key: form})
    if context.get(key) is not form:
        context["action_error"] = form
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
def application_payment(request, pk: int):
    application = selectors.get_visible_application(request.user, pk)
    if request.method == "GET":
        return render(request, "programme/payment.html", _payment_context(request, application))
    return _post_action(
        request,
        application,
        PAYMENT_ACTIONS,
        url_name="programme:application_payment",
        template="programme/payment.html",
        context_builder=_payment_context,
    )


# --- Financial report -----------------------------------------------------------------------------


def _report_context(request, application, **bound) -> dict:
    accepted = _is_accepted(application)
    report = payment_services.report_of(application)
    categories, total = payment_services.lines_by_category(report)
    can_edit = accepted and perms.can_edit_application(request.user, application)
    can_decide = accepted and perms.can_decide_application(request.user, application)
    draft = report is None or report.status == ReportStatus.DRAFT
    engaged = application.engaged_eur
    preview = None
    if accepted and draft and total and engaged is not None:
        preview = payment_services.compute_amounts(
            total, engaged, payment_services.paid_so_far(application)
        )
    context = {
        "application": application,
        "report": report,
        "accepted": accepted,
        "categories": categories,
        "total": total,
        "preview": preview,
        "draft": draft,
        "can_edit": can_edit and draft,
        "can_decide": can_decide,
        "published_label": windows.format_date_fr(application.call.application_opens_on),
        "title": f"Bilan financier — {application.applicant.name}",
    }
    if context["can_edit"]:
        context["line_form"] = bound.get("line_form") or CostLineForm()
    if can_decide and report is not None and report.status == ReportStatus.FILED:
        context["review_form"] = bound.get("review_form") or ReportReviewForm()
    if can_decide and report is not None and report.status == ReportStatus.RECOVERY:
        context["recovery_form"] = bound.get("recovery_form") or RecoveryForm(
            initial={"recovered_on": windows.paris_today()}
        )
    return context


def _do_add_line(request, application, data):
    payment_services.cost_line_add(actor=request.user, application=application, **data)


def _do_remove_line(request, application, data):
    line = payment_services.get_cost_line(application, data["line"])
    payment_services.cost_line_remove(actor=request.user, line=line)


def _do_file(request, application, data):
    payment_services.report_file(actor=request.user, application=application)


def _report_or_404(application):
    report = payment_services.report_of(application)
    if report is None:
        raise Http404("Ce dossier n'a pas de bilan financier.")
    return report


def _do_review(request, application, data):
    payment_services.report_review(
        actor=request.user, report=_report_or_404(application), comment=data["comment"]
    )


def _do_recovery(request, application, data):
    payment_services.report_record_recovery(
        actor=request.user,
        report=_report_or_404(application),
        recovered_on=data["recovered_on"],
    )


REPORT_ACTIONS = {
    "add_line": (CostLineForm, "line_form", "Dépense ajoutée au bilan.", _do_add_line),
    "remove_line": (ActionForm, "action_form", "Dépense retirée du bilan.", _do_remove_line),
    "file": (
        ActionForm,
        "action_form",
        "Bilan financier déposé : l'ARS en est informée.",
        _do_file,
    ),
    "review": (ReportReviewForm, "review_form", "Bilan financier instruit.", _do_review),
    "recovery": (
        RecoveryForm,
        "recovery_form",
        "Recouvrement du trop-perçu enregistré.",
        _do_recovery,
    ),
}


@require_http_methods(["GET", "POST"])
def application_report(request, pk: int):
    application = selectors.get_visible_application(request.user, pk)
    if request.method == "GET":
        return render(request, "programme/report.html", _report_context(request, application))
    return _post_action(
        request,
        application,
        REPORT_ACTIONS,
        url_name="programme:application_report",
        template="programme/report.html",
        context_builder=_report_context,
    )


# --- Measurements ---------------------------------------------------------------------------------


def _measurements_context(request, organisation, form=None) -> dict:
    can_record = organisation.kind in MEASURED_KINDS and can_record_measurement(
        request.user, organisation
    )
    return {
        "organisation": organisation,
        "measurements": measurement_services.measurements_of(organisation),
        "latest": measurement_services.latest_by_kind(organisation),
        "can_record": can_record,
        "form": (form or MeasurementForm(initial={"measured_on": windows.paris_today()}))
        if can_record
        else None,
        "source_suggestions": measurement_services.SOURCE_SUGGESTIONS,
        "title": f"Mesures de la plateforme — {organisation.name}",
    }


@require_http_methods(["GET", "POST"])
def measurements(request, org_pk: int):
    organisation = get_visible_organisation(request.user, org_pk)
    if request.method == "GET":
        return render(
            request,
            "programme/measurements.html",
            _measurements_context(request, organisation),
        )
    form = MeasurementForm(request.POST, request.FILES)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        note = data["note"].strip()
        try:
            measurement_services.record_measurement(
                organisation=organisation,
                kind=data["kind"],
                level=data["level"] or None,
                result=data["result"],
                measured_on=data["measured_on"],
                source=data["source"],
                details={"note": note} if note else {},
                report=data["report"],
                recorded_by=request.user,
            )
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            messages.success(request, "Mesure enregistrée.")
            return redirect("programme:measurements", org_pk=organisation.pk)
    context = _measurements_context(request, organisation, form)
    if context["form"] is None:
        context["action_error"] = form
    return render(request, "programme/measurements.html", context, status=status)


@require_GET
def measurement_report(request, org_pk: int, measurement_pk: int):
    organisation = get_visible_organisation(request.user, org_pk)
    measurement = measurement_services.get_measurement(organisation, measurement_pk)
    if not measurement.report:
        raise Http404("Cette mesure n'a pas de rapport.")
    name = measurement.report_name or "rapport"
    return uploads.serve(measurement.report, name, _content_type(name))


def _content_type(name: str) -> str:
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return uploads.ALLOWED.get(extension, ("application/octet-stream", ""))[0]
