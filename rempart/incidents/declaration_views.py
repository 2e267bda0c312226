"""The CERT Santé declaration page of a case, and its PDF and JSON downloads.

Thin: the case comes from `selectors.get_visible_case` (403 with the reason outside its
readers, at the managing level for every write), every write goes through
`declaration_services`. A POST that works redirects (PRG) with a message; one that is refused
re-renders the page with the input and the service's French message on the field at fault."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from rempart.core.errors import DomainError

from . import declaration_exports, declaration_services, perms, selectors
from .declaration_forms import DeclarationForm, FilingForm, datetime_local
from .models import AccessLevel


def _refuse(form, exc: DomainError) -> int:
    """Put the service's messages on the fields at fault; the status of the re-rendered page."""
    errors = getattr(exc, "errors", None) or {exc.field or "": exc.message}
    for name, message in errors.items():
        form.add_error(name if name in form.fields else None, message)
    return 403 if exc.code == "forbidden" else 400


def _context(request, case, *, form=None, filing_form=None, action_error=None) -> dict:
    declaration = declaration_services.declaration_of(case)
    can_manage = perms.can_manage_case(request.user, case)
    filed = declaration_services.is_filed(declaration)
    if declaration is not None and can_manage and not filed and form is None:
        form = DeclarationForm(declaration=declaration)
    if declaration is not None and can_manage and filing_form is None:
        initial = (
            {
                "filed_at": datetime_local(declaration.filed_at),
                "reference": declaration.filed_reference,
            }
            if filed
            else {}
        )
        filing_form = FilingForm(initial=initial)
    return {
        "case": case,
        "active": "declaration",
        "declaration": declaration,
        "blocks": declaration_services.blocks(declaration) if declaration else [],
        "missing": declaration_services.missing_fields(declaration) if declaration else [],
        "filed": filed,
        "filed_at_label": declaration_services.format_datetime_fr(declaration.filed_at)
        if filed
        else "",
        "prepared_at_label": declaration_services.format_datetime_fr(declaration.prepared_at)
        if declaration
        else "",
        "can_manage": can_manage,
        "form": form if can_manage and not filed else None,
        "filing_form": filing_form if can_manage else None,
        "action_error": action_error,
        "portal_name": declaration_services.PORTAL_NAME,
        "portal_url": declaration_services.PORTAL_URL,
        "title": f"Déclaration CERT Santé — {case.reference}",
    }


@require_http_methods(["GET", "POST"])
def case_declaration(request, pk: int):
    if request.method == "GET":
        case = selectors.get_visible_case(request.user, pk)
        return render(request, "incidents/declaration_detail.html", _context(request, case))
    case = selectors.get_visible_case(request.user, pk, AccessLevel.MANAGE)
    action = request.POST.get("action")
    if action == "prepare":
        return _prepare(request, case)
    if action == "save":
        return _save(request, case)
    if action in ("file", "correct"):
        return _file(request, case, action)
    messages.error(request, "Action inconnue : rechargez la page et recommencez.")
    return redirect("incidents:case_declaration", pk=case.pk)


def _prepare(request, case):
    existed = declaration_services.declaration_of(case) is not None
    try:
        declaration = declaration_services.declaration_prepare(actor=request.user, case=case)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("incidents:case_declaration", pk=case.pk)
    missing = declaration_services.missing_fields(declaration)
    done = (
        "Les champs encore vides ont été complétés à partir du dossier (ce qui avait été saisi "
        "est conservé)."
        if existed
        else "Déclaration préparée à partir du dossier."
    )
    if missing:
        done += f" {len(missing)} élément(s) exigé(s) par le portail restent à compléter."
    messages.success(request, done)
    return redirect("incidents:case_declaration", pk=case.pk)


def _save(request, case):
    declaration = declaration_services.declaration_of(case)
    form = DeclarationForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            declaration_services.declaration_update(
                actor=request.user, case=case, values=form.cleaned_data
            )
        except DomainError as exc:
            if declaration is None or declaration_services.is_filed(declaration):
                messages.error(request, exc.message)
                return redirect("incidents:case_declaration", pk=case.pk)
            status = _refuse(form, exc)
        else:
            messages.success(request, "Déclaration enregistrée.")
            return redirect("incidents:case_declaration", pk=case.pk)
    elif declaration is None or declaration_services.is_filed(declaration):
        messages.error(
            request,
            "La déclaration ne peut pas être modifiée : elle n'est pas préparée ou déjà déposée.",
        )
        return redirect("incidents:case_declaration", pk=case.pk)
    context = _context(request, case, form=form)
    context["action_error"] = "save"
    return render(request, "incidents/declaration_detail.html", context, status=status)


def _file(request, case, action: str):
    if declaration_services.declaration_of(case) is None:
        messages.error(
            request,
            "La déclaration n'est pas encore préparée : préparez-la et complétez-la avant "
            "d'enregistrer son dépôt.",
        )
        return redirect("incidents:case_declaration", pk=case.pk)
    form = FilingForm(request.POST)
    status = 400
    if form.is_valid():
        service = (
            declaration_services.declaration_record_filing
            if action == "file"
            else declaration_services.declaration_correct_filing
        )
        try:
            service(
                actor=request.user,
                case=case,
                filed_at=form.cleaned_data["filed_at"],
                reference=form.cleaned_data["reference"],
            )
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            messages.success(
                request,
                "Dépôt enregistré : la déclaration est figée."
                if action == "file"
                else "Dépôt corrigé ; la correction est inscrite dans la chronologie.",
            )
            return redirect("incidents:case_declaration", pk=case.pk)
    context = _context(request, case, filing_form=form)
    context["action_error"] = "file"
    return render(request, "incidents/declaration_detail.html", context, status=status)


def _declaration_or_404(request, pk):
    case = selectors.get_visible_case(request.user, pk)
    declaration = declaration_services.declaration_of(case)
    if declaration is None:
        raise Http404("Aucune déclaration CERT Santé n'est encore préparée pour ce dossier.")
    return case, declaration


@require_GET
def case_declaration_pdf(request, pk: int):
    case, declaration = _declaration_or_404(request, pk)
    return declaration_exports.pdf_response(case, declaration)


@require_GET
def case_declaration_json(request, pk: int):
    case, declaration = _declaration_or_404(request, pk)
    return declaration_exports.json_response(case, declaration)
