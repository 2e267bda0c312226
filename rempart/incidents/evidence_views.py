"""Pages of a case's indicators and evidence, and its exports (STIX 2.1 bundle, CSV timeline,
PDF report).

Thin views: every page starts from `selectors.get_visible_case(user, pk, level)` — READ to
see and export, CONTRIBUTE to add — which answers 403 with the reason outside the user's
access, 404 if missing; every write goes through `indicator_services` or `evidence_services`,
which check the rights and rules again. A POST that works redirects (PRG) with a message; a
refused one re-renders the page with the service's French message on the field at fault.
Evidence downloads are POSTs: each one writes a custody entry (a GET never writes).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core.errors import DomainError

from . import evidence_services, exports, indicator_services, perms, selectors
from .evidence_forms import (
    EvidenceForm,
    IndicatorBulkForm,
    IndicatorForm,
    PdfReportForm,
    StixExportForm,
    TransferForm,
)
from .models import AccessLevel, CaseState, Tlp


def _refuse(form, exc: DomainError) -> int:
    """Put the service's message on the field at fault; the status of the re-rendered page."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return 403 if exc.code == "forbidden" else 400


def _may_contribute(case) -> bool:
    held = getattr(case, "access_level", None)
    return (
        held is not None
        and perms.LEVEL_RANK[held] >= perms.LEVEL_RANK[AccessLevel.CONTRIBUTE]
        and case.state != CaseState.CLOSED
    )


def _no_store(response: HttpResponse) -> HttpResponse:
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# --- Indicators -------------------------------------------------------------------------------------


def _indicators_context(request, case, **bound) -> dict:
    can_add = _may_contribute(case)
    indicators = list(indicator_services.indicators_of(case))
    context = {
        "case": case,
        "title": f"Indicateurs — {case.reference}",
        "indicators": indicators,
        "can_add": can_add,
        "is_closed": case.state == CaseState.CLOSED,
        "stix_form": bound.get("stix_form") or StixExportForm(auto_id="stix_%s"),
        "pdf_form": bound.get("pdf_form")
        or PdfReportForm(initial={"tlp": case.tlp}, auto_id="pdf_%s"),
        "pdf_level_help": "Le rapport n'est jamais moins restreint que le dossier "
        f"({case.get_tlp_display()}) ; les indicateurs plus restreints que le niveau choisi "
        "n'y figurent pas.",
        "bulk_result": bound.get("bulk_result"),
        "action_error": bound.get("action_error", False),
    }
    if can_add:
        context["form"] = bound.get("form") or IndicatorForm(case_tlp=case.tlp, auto_id="ioc_%s")
        context["bulk_form"] = bound.get("bulk_form") or IndicatorBulkForm(
            case_tlp=case.tlp, auto_id="lot_%s"
        )
    return context


@require_http_methods(["GET", "POST"])
def case_indicators(request, pk: int):
    if request.method == "GET":
        case = selectors.get_visible_case(request.user, pk, AccessLevel.READ)
        return render(request, "incidents/indicator_list.html", _indicators_context(request, case))
    case = selectors.get_visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
    action = request.POST.get("action")
    if action == "add":
        return _indicator_add(request, case)
    if action == "bulk":
        return _indicator_bulk(request, case)
    if action == "remove":
        return _indicator_remove(request, case)
    messages.error(request, "Action inconnue : rechargez la page.")
    return redirect("incidents:case_indicators", pk=case.pk)


def _indicator_add(request, case):
    form = IndicatorForm(request.POST, case_tlp=case.tlp, auto_id="ioc_%s")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            indicator = indicator_services.indicator_add(
                actor=request.user,
                case=case,
                kind=data["kind"],
                value=data["value"],
                tlp=data["tlp"],
                description=data["description"],
                first_seen=data["first_seen"],
            )
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            messages.success(
                request,
                f"Indicateur ajouté : {indicator.get_kind_display()} {indicator.value} "
                f"({indicator.get_tlp_display()}).",
            )
            return redirect("incidents:case_indicators", pk=case.pk)
    context = _indicators_context(request, case, form=form, action_error=True)
    return render(request, "incidents/indicator_list.html", context, status=status)


def _indicator_bulk(request, case):
    form = IndicatorBulkForm(request.POST, case_tlp=case.tlp, auto_id="lot_%s")
    status = 400
    result = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = indicator_services.indicators_bulk_add(
                actor=request.user,
                case=case,
                text=data["text"],
                kind=data["kind"],
                tlp=data["tlp"],
                description=data["description"],
            )
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            # The report line by line; the refused lines stay in the box, to correct.
            status = 200 if result.added else 400
            form = IndicatorBulkForm(
                initial={
                    "text": result.refused_text,
                    "kind": data["kind"],
                    "tlp": data["tlp"],
                    "description": data["description"],
                },
                case_tlp=case.tlp,
                auto_id="lot_%s",
            )
    context = _indicators_context(
        request, case, bulk_form=form, bulk_result=result, action_error=result is None
    )
    return render(request, "incidents/indicator_list.html", context, status=status)


def _indicator_remove(request, case):
    indicator = indicator_services.get_indicator(case, request.POST.get("indicator"))
    try:
        indicator_services.indicator_remove(actor=request.user, case=case, indicator=indicator)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Indicateur retiré : {indicator.get_kind_display()} {indicator.value}."
        )
    return redirect("incidents:case_indicators", pk=case.pk)


# --- Evidence -------------------------------------------------------------------------------------


def _evidence_rows(case) -> list:
    rows = list(evidence_services.evidence_of(case))
    for evidence in rows:
        evidence.integrity = evidence_services.integrity(evidence)
        evidence.size_label = evidence_services.human_size(evidence.size)
    return rows


def _evidence_context(request, case, form=None) -> dict:
    can_add = _may_contribute(case)
    rows = _evidence_rows(case)
    context = {
        "case": case,
        "title": f"Preuves — {case.reference}",
        "evidence_list": rows,
        "altered_count": sum(1 for evidence in rows if evidence.integrity.is_altered),
        "can_add": can_add,
        "is_closed": case.state == CaseState.CLOSED,
        "action_error": form is not None,
    }
    if can_add:
        context["form"] = form or EvidenceForm(auto_id="preuve_%s")
    return context


@require_http_methods(["GET", "POST"])
def case_evidence(request, pk: int):
    if request.method == "GET":
        case = selectors.get_visible_case(request.user, pk, AccessLevel.READ)
        return render(request, "incidents/evidence_list.html", _evidence_context(request, case))
    case = selectors.get_visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
    form = EvidenceForm(request.POST, request.FILES, auto_id="preuve_%s")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            evidence = evidence_services.evidence_add(
                actor=request.user,
                case=case,
                upload=data["file"],
                description=data["description"],
                collected_at=data["collected_at"],
                collected_by_name=data["collected_by_name"],
                source=data["source"],
            )
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            messages.success(
                request,
                f"Preuve déposée : « {evidence.original_name} », empreinte SHA-256 "
                f"{evidence.sha256}.",
            )
            return redirect("incidents:case_evidence_detail", pk=case.pk, evidence_pk=evidence.pk)
    context = _evidence_context(request, case, form=form)
    return render(request, "incidents/evidence_list.html", context, status=status)


def _evidence_detail_context(request, case, evidence, transfer_form=None) -> dict:
    held = getattr(case, "access_level", None)
    can_transfer = (
        held is not None and perms.LEVEL_RANK[held] >= perms.LEVEL_RANK[AccessLevel.CONTRIBUTE]
    )
    context = {
        "case": case,
        "evidence": evidence,
        "integrity": evidence_services.integrity(evidence),
        "size_label": evidence_services.human_size(evidence.size),
        "custody": list(evidence.custody.all()),
        "can_transfer": can_transfer,
        "action_error": transfer_form is not None,
        "title": f"Preuve « {evidence.original_name} » — {case.reference}",
    }
    if can_transfer:
        context["transfer_form"] = transfer_form or TransferForm(auto_id="remise_%s")
    return context


@require_GET
def evidence_detail(request, pk: int, evidence_pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.READ)
    evidence = evidence_services.get_evidence(case, evidence_pk)
    return render(
        request, "incidents/evidence_detail.html", _evidence_detail_context(request, case, evidence)
    )


@require_POST
def evidence_download(request, pk: int, evidence_pk: int):
    """Check the hash, write the custody entry, then send the file as an attachment."""
    case = selectors.get_visible_case(request.user, pk, AccessLevel.READ)
    evidence = evidence_services.get_evidence(case, evidence_pk)
    try:
        entry = evidence_services.evidence_download(
            actor=request.user, case=case, evidence=evidence
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("incidents:case_evidence_detail", pk=case.pk, evidence_pk=evidence.pk)
    try:
        handle = evidence.file.storage.open(evidence.file.name, "rb") if entry.sha256 else None
    except OSError:
        handle = None
    if handle is None:
        messages.error(
            request,
            "Le fichier de cette preuve est introuvable dans le stockage : la tentative est "
            "consignée dans la chaîne de conservation. Prévenez l'administrateur de la plateforme.",
        )
        return redirect("incidents:case_evidence_detail", pk=case.pk, evidence_pk=evidence.pk)
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=evidence_services.download_name(evidence, entry),
        content_type="application/octet-stream",
    )
    response["X-Rempart-Empreinte-Conforme"] = "oui" if entry.hash_matches else "non"
    return _no_store(response)


@require_POST
def evidence_verify(request, pk: int, evidence_pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.READ)
    evidence = evidence_services.get_evidence(case, evidence_pk)
    try:
        entry = evidence_services.evidence_verify(actor=request.user, case=case, evidence=evidence)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if entry.hash_matches:
            messages.success(
                request, "Empreinte conforme : le fichier conservé est celui qui a été déposé."
            )
        elif not entry.sha256:
            messages.error(
                request,
                "Fichier introuvable dans le stockage : la vérification est consignée. Prévenez "
                "l'administrateur de la plateforme.",
            )
        else:
            messages.error(
                request,
                "EMPREINTE NON CONFORME : le fichier conservé a été modifié depuis son dépôt. "
                "La vérification est consignée et signalée dans la chronologie du dossier.",
            )
    return redirect("incidents:case_evidence_detail", pk=case.pk, evidence_pk=evidence.pk)


@require_POST
def evidence_transfer(request, pk: int, evidence_pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
    evidence = evidence_services.get_evidence(case, evidence_pk)
    form = TransferForm(request.POST, auto_id="remise_%s")
    status = 400
    if form.is_valid():
        try:
            entry = evidence_services.evidence_transfer(
                actor=request.user,
                case=case,
                evidence=evidence,
                recipient=form.cleaned_data["recipient"],
                note=form.cleaned_data["note"],
            )
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            if entry.hash_matches:
                messages.success(
                    request, "Remise consignée dans la chaîne de conservation (empreinte conforme)."
                )
            else:
                messages.error(
                    request,
                    "Remise consignée, mais l'EMPREINTE N'EST PAS CONFORME : le fichier conservé "
                    "a été modifié ou a disparu. Signalez-le au destinataire.",
                )
            return redirect("incidents:case_evidence_detail", pk=case.pk, evidence_pk=evidence.pk)
    evidence = evidence_services.get_evidence(case, evidence.pk)
    context = _evidence_detail_context(request, case, evidence, transfer_form=form)
    return render(request, "incidents/evidence_detail.html", context, status=status)


# --- Exports ----------------------------------------------------------------------------------------


def _export_refused(request, case, which: str, exc: DomainError):
    form_class = StixExportForm if which == "stix" else PdfReportForm
    form = form_class(request.GET, auto_id=f"{which}_%s")
    form.is_valid()
    form.errors.clear()
    form.add_error("tlp", exc.message)
    context = _indicators_context(request, case, **{f"{which}_form": form}, action_error=True)
    return render(request, "incidents/indicator_list.html", context, status=400)


@require_GET
def case_stix(request, pk: int):
    """The indicators shareable at the chosen TLP level (default AMBER), as STIX 2.1."""
    case = selectors.get_visible_case(request.user, pk, AccessLevel.READ)
    try:
        level = exports.parse_tlp(request.GET.get("tlp"), default=exports.DEFAULT_STIX_LEVEL)
    except DomainError as exc:
        return _export_refused(request, case, "stix", exc)
    export = exports.stix_export(case, level=level)
    response = HttpResponse(
        export.serialize(), content_type="application/stix+json;version=2.1; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{exports.stix_filename(case, level)}"'
    response["X-Rempart-Indicateurs-Exportes"] = str(export.included)
    response["X-Rempart-Indicateurs-Retenus"] = str(export.excluded)
    return _no_store(response)


@require_GET
def case_timeline_csv(request, pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.READ)
    return _no_store(exports.timeline_csv(case))


@require_GET
def case_report_pdf(request, pk: int):
    """The case report, marked with the case's TLP (or a stricter level asked for)."""
    case = selectors.get_visible_case(request.user, pk, AccessLevel.READ)
    try:
        requested = exports.parse_tlp(request.GET.get("tlp"), default=Tlp(case.tlp))
    except DomainError as exc:
        return _export_refused(request, case, "pdf", exc)
    level = exports.report_level(case, requested)
    content = exports.report_pdf(case, generated_by=request.user, level=level)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="{exports.report_filename(case, level)}"'
    )
    return _no_store(response)
