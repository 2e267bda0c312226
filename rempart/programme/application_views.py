"""File pages: preparing a CaRE file (application) and its review by the ARS.

Thin views: every object is read through a scoped selector (404 outside the user's scope), every
write goes through `application_services` (DomainError → the French message next to the field,
with what the person typed), and every successful POST redirects (Post/Redirect/Get)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core.errors import DomainError

from . import application_selectors, application_services, perms, selectors, uploads, windows
from .application_forms import (
    ApplicationFilterForm,
    ApplicationForm,
    CeilingOverrideForm,
    CommentForm,
    DocumentForm,
    ReviewForm,
    saved_totals,
)
from .ceilings import ceiling_for, format_eur
from .models import ApplicationStatus, EventKind

S = ApplicationStatus
LIST_PAGE_SIZE = 25
TOTALS_TARGET = "application-totals"


# --- List -----------------------------------------------------------------------------------------


@require_GET
def application_list(request):
    if not perms.can_view_programme(request.user):
        raise Http404("Programme indisponible pour votre rôle.")
    today = windows.paris_today()
    calls = list(selectors.calls_visible_to(request.user))
    form = ApplicationFilterForm(request.GET or None, calls=calls)
    filters = form.values() if form.is_bound else {"call_id": None, "status": "", "search": ""}
    files = application_selectors.application_list(request.user, **filters)
    page = Paginator(files, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    may_apply = application_selectors.may_apply_somewhere(request.user)
    open_calls = [
        call
        for call in calls
        if may_apply and call.application_opens_on <= today <= call.application_closes_on
    ]
    return render(
        request,
        "programme/application_list.html",
        {
            "title": "Dossiers de candidature CaRE",
            "form": form,
            "page": page,
            "querystring": querystring.urlencode(),
            "filtered": any(filters.values()),
            "open_calls": open_calls,
        },
    )


# --- Start ----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def application_start(request):
    call_pk = request.POST.get("appel") or request.GET.get("appel")
    if not call_pk:
        messages.info(request, "Choisissez l'appel pour lequel préparer un dossier.")
        return redirect("programme:calls")
    call = selectors.get_visible_call(request.user, call_pk)
    choices = application_selectors.applicable_organisations(request.user, call)
    error = None
    if request.method == "POST":
        wanted = request.POST.get("candidat", "")
        chosen = next(
            ((org, file) for _a, org, file in choices if str(org.pk) == wanted.strip()), None
        )
        if chosen is None:
            error = "Choisissez un candidat pour lequel vous pouvez préparer un dossier."
        else:
            organisation, existing = chosen
            if existing is not None:
                messages.info(request, f"{organisation.name} a déjà un dossier pour cet appel.")
                return redirect("programme:application_detail", pk=existing.pk)
            try:
                application = application_services.application_start(
                    actor=request.user, call=call, applicant=organisation
                )
            except DomainError as exc:
                error = exc.message
            else:
                messages.success(
                    request,
                    f"Le dossier de {organisation.name} est ouvert en brouillon : complétez-le "
                    "puis déposez-le avant la clôture des candidatures.",
                )
                return redirect("programme:application_edit", pk=application.pk)
    today = windows.paris_today()
    return render(
        request,
        "programme/application_start.html",
        {
            "title": f"Préparer un dossier — {call.title}",
            "call": call,
            "choices": choices,
            "error": error,
            "closed": call.application_closes_on < today,
            "closes_label": windows.format_date_fr(call.application_closes_on),
        },
        status=400 if error else 200,
    )


# --- Detail ---------------------------------------------------------------------------------------


def _ceiling(application):
    """(amount, steps, missing, live): the live ceiling while the file is a draft, else the
    one frozen at submission."""
    if application.status == S.DRAFT or application.ceiling_eur is None:
        live = application_services.effective_ceiling(application.call, application.applicant)
        return live.amount, live.steps, live.missing, True
    return application.ceiling_eur, application.ceiling_steps, [], False


def _detail_context(request, application, **extra) -> dict:
    user = request.user
    call = application.call
    parts = application_selectors.file_parts(application)
    editable = application.status in application_services.EDITABLE_STATUSES
    can_edit = editable and perms.can_edit_application(user, application)
    can_decide = perms.can_decide_application(user, application)
    ceiling, steps, missing, live = _ceiling(application)
    gaps, window_error = [], None
    if editable:
        gap_ceiling = (
            ceiling
            if live
            else application_services.effective_ceiling(call, application.applicant).amount
        )
        gaps = application_services.submission_gaps(application, gap_ceiling)
        if application.status == S.DRAFT:
            try:
                windows.require_open(call, windows.Window.APPLICATION)
            except DomainError as exc:
                window_error = exc.message
    decision = None
    if can_decide and application.status in application_services.REVIEWABLE_STATUSES:
        engaged = application_services.engaged_on(call)
        amount = application.requested_eur or 0
        remaining = call.envelope_eur - engaged
        decision = {
            "engaged": engaged,
            "remaining": remaining,
            "amount": amount,
            "fits": amount <= remaining,
            "over_ceiling": application.ceiling_eur is not None
            and amount > application.ceiling_eur,
        }
    events = application_selectors.history(application)
    complement = None
    if application.status == S.COMPLEMENT_REQUESTED:
        complement = next(
            (e for e in reversed(events) if e.kind == EventKind.COMPLEMENT_REQUESTED), None
        )
    context = {
        "title": f"Dossier {application.applicant.name} — {call.title}",
        "application": application,
        "call": call,
        **parts,
        "totals": saved_totals(application, parts["lines"], ceiling),
        "budget_rows": _budget_rows(parts["lines"]),
        "ceiling": ceiling,
        "ceiling_steps": steps,
        "ceiling_missing": missing,
        "ceiling_live": live,
        "editable": editable,
        "can_edit": can_edit,
        "can_decide": can_decide,
        "can_comment": perms.can_comment_application(user, application),
        "can_override": can_decide and application.status not in (S.ACCEPTED, S.REJECTED),
        "gaps": gaps,
        "window_error": window_error,
        "decision": decision,
        "events": events,
        "complement": complement,
        "comments": application_selectors.comments(application),
        "document_form": DocumentForm(),
        "review_form": ReviewForm(),
        "comment_form": CommentForm(),
    }
    context.update(extra)
    return context


def _budget_rows(lines: dict) -> list[dict]:
    from .models import ExpenseCategory

    return [{"label": label, "line": lines.get(value)} for value, label in ExpenseCategory.choices]


def _render_detail(request, application, status=200, **extra):
    return render(
        request,
        "programme/application_detail.html",
        _detail_context(request, application, **extra),
        status=status,
    )


@require_GET
def application_detail(request, pk: int):
    application = selectors.get_visible_application(request.user, pk)
    return _render_detail(request, application)


# --- Edit -----------------------------------------------------------------------------------------


def _get_editable(request, pk: int):
    """A file the user may prepare, or 404 (also when they only see it)."""
    application = selectors.get_visible_application(request.user, pk)
    if not perms.can_edit_application(request.user, application):
        raise Http404("Dossier introuvable.")
    return application


def _edit_form(application, data=None) -> ApplicationForm:
    parts = application_selectors.file_parts(application)
    return ApplicationForm(
        data, application=application, answers=parts["answers"], lines=parts["lines"]
    )


def _render_edit(request, application, form, status=200, **extra):
    live = application_services.effective_ceiling(application.call, application.applicant)
    context = {
        "title": f"Modifier le dossier {application.applicant.name}",
        "application": application,
        "call": application.call,
        "form": form,
        "documents": application_selectors.documents(application),
        "ceiling": live.amount,
        "ceiling_steps": live.steps,
        "ceiling_missing": live.missing,
        "totals": form.typed_totals(live.amount),
        "gaps": application_services.submission_gaps(application, live.amount),
        "document_form": DocumentForm(),
        "can_edit": True,
    }
    context.update(extra)
    return render(request, "programme/application_edit.html", context, status=status)


@require_http_methods(["GET", "POST"])
def application_edit(request, pk: int):
    application = _get_editable(request, pk)
    if application.status not in application_services.EDITABLE_STATUSES:
        messages.info(
            request,
            f"Ce dossier est « {application.get_status_display().lower()} » : il ne se modifie "
            "plus.",
        )
        return redirect("programme:application_detail", pk=application.pk)
    if request.method == "POST" and request.htmx and request.htmx.target == TOTALS_TARGET:
        # Live totals from what is typed, nothing saved.
        form = _edit_form(application, request.POST)
        live = application_services.effective_ceiling(application.call, application.applicant)
        return render(
            request,
            "programme/includes/application_totals.html",
            {"totals": form.typed_totals(live.amount), "application": application, "live": True},
        )
    form = _edit_form(application, request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                form.save(request.user)
            except DomainError as exc:
                form.add_domain_error(exc)
            else:
                messages.success(request, "Le dossier est enregistré.")
                if request.POST.get("suite") == "rester":
                    return redirect("programme:application_edit", pk=application.pk)
                return redirect("programme:application_detail", pk=application.pk)
        return _render_edit(request, application, form, status=400)
    return _render_edit(request, application, form)


# --- Documents ------------------------------------------------------------------------------------


def _back_to(request, application, anchor: str = "") -> str:
    name = (
        "programme:application_edit"
        if request.POST.get("depuis") == "modifier"
        else "programme:application_detail"
    )
    return reverse(name, args=[application.pk]) + anchor


@require_POST
def application_document_add(request, pk: int):
    application = _get_editable(request, pk)
    document_form = DocumentForm(request.POST, request.FILES)
    document_form.is_valid()
    part = document_form.cleaned_data.get("part", "")
    try:
        document = application_services.document_add(
            actor=request.user,
            application=application,
            part=part,
            upload=request.FILES.get("file"),
        )
    except DomainError as exc:
        field = exc.field if exc.field in document_form.fields else "file"
        # Keep the chosen part; a file input is never refilled by the browser.
        document_form = DocumentForm({"part": part})
        document_form.is_valid()
        document_form.add_error(field, exc.message)
        extra = {"document_form": document_form, "document_error": exc.message}
        if request.POST.get("depuis") == "modifier" and (
            application.status in application_services.EDITABLE_STATUSES
        ):
            return _render_edit(request, application, _edit_form(application), 400, **extra)
        return _render_detail(request, application, 400, **extra)
    messages.success(
        request, f"Pièce ajoutée : {document.get_part_display()} — {document.original_name}."
    )
    return redirect(_back_to(request, application, "#pieces"))


@require_GET
def application_document(request, pk: int, document_pk: int):
    application = selectors.get_visible_application(request.user, pk)
    document = application_selectors.get_application_document(application, document_pk)
    return uploads.serve(document.file, document.original_name, document.content_type)


@require_POST
def application_document_remove(request, pk: int, document_pk: int):
    application = _get_editable(request, pk)
    document = application_selectors.get_application_document(application, document_pk)
    try:
        application_services.document_remove(actor=request.user, document=document)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Pièce retirée : {document.original_name}.")
    return redirect(_back_to(request, application, "#pieces"))


# --- Submission -----------------------------------------------------------------------------------


@require_POST
def application_submit(request, pk: int):
    application = _get_editable(request, pk)
    resubmission = application.status == S.COMPLEMENT_REQUESTED
    try:
        application_services.application_submit(actor=request.user, application=application)
    except DomainError as exc:
        application.refresh_from_db()
        return _render_detail(request, application, 400, submit_error=exc.message)
    messages.success(
        request,
        "Le complément est transmis : le dossier est redéposé auprès de l'ARS."
        if resubmission
        else "Le dossier est déposé : l'ARS est prévenue et va l'instruire.",
    )
    return redirect("programme:application_detail", pk=application.pk)


@require_POST
def application_attach_maturity(request, pk: int):
    """Join the applicant's latest completed maturity diagnostic (self-assessment) to the file."""
    application = _get_editable(request, pk)
    try:
        application_services.application_attach_maturity(
            actor=request.user, application=application
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            "Le dernier diagnostic de maturité terminé est joint au dossier : son score remplit "
            "le niveau et le diagnostic.",
        )
    return redirect("programme:application_detail", pk=application.pk)


# --- Review by the ARS ----------------------------------------------------------------------------


@require_POST
def application_review(request, pk: int):
    application = selectors.get_visible_application(request.user, pk)
    if not perms.can_decide_application(request.user, application):
        raise Http404("Dossier introuvable.")
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _render_detail(
            request,
            application,
            400,
            review_form=form,
            review_error=" ".join(e for errors in form.errors.values() for e in errors),
        )
    action, data = form.cleaned_data["action"], form.cleaned_data
    try:
        if action == "start":
            application_services.review_start(actor=request.user, application=application)
            done = "L'instruction du dossier commence."
        elif action == "complement":
            application_services.request_complement(
                actor=request.user, application=application, message=data["message"]
            )
            done = "Le complément est demandé : le candidat est prévenu par courriel."
        elif action == "accept":
            accepted = application_services.application_accept(
                actor=request.user, application=application, comment=data["comment"]
            )
            done = (
                f"Le dossier est accepté : {format_eur(accepted.engaged_eur)} engagés sur "
                "l'enveloppe régionale."
            )
        else:
            application_services.application_reject(
                actor=request.user, application=application, reason=data["reason"]
            )
            done = "Le dossier est rejeté : le candidat est prévenu par courriel, avec le motif."
    except DomainError as exc:
        if exc.field in form.fields:
            form.add_error(exc.field, exc.message)
        application.refresh_from_db()
        return _render_detail(request, application, 400, review_form=form, review_error=exc.message)
    messages.success(request, done)
    return redirect("programme:application_detail", pk=application.pk)


# --- Comments -------------------------------------------------------------------------------------


@require_POST
def application_comment(request, pk: int):
    application = selectors.get_visible_application(request.user, pk)
    if not perms.can_comment_application(request.user, application):
        raise Http404("Dossier introuvable.")
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            application_services.comment_add(
                actor=request.user, application=application, body=form.cleaned_data["body"]
            )
        except DomainError as exc:
            form.add_error("body", exc.message)
        else:
            messages.success(request, "Votre commentaire est publié.")
            return redirect(
                reverse("programme:application_detail", args=[application.pk]) + "#commentaires"
            )
    return _render_detail(request, application, 400, comment_form=form)


# --- The ARS's own ceiling ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def ceiling_override(request, call_pk: int, org_pk: int):
    call = selectors.get_visible_call(request.user, call_pk)
    if not perms.can_decide_in(request.user, call):
        raise Http404("Appel introuvable.")
    organisation, _line = application_selectors.get_call_applicant(call, org_pk)
    form = CeilingOverrideForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data.get("action") == "clear":
                application_services.ceiling_override_clear(
                    actor=request.user, call=call, applicant=organisation
                )
                done = f"Le plafond de {organisation.name} redevient le plafond calculé."
            else:
                override = application_services.ceiling_override_set(
                    actor=request.user,
                    call=call,
                    applicant=organisation,
                    amount_eur=form.cleaned_data["amount_eur"],
                    reason=form.cleaned_data["reason"],
                )
                done = f"Plafond de {organisation.name} fixé à {format_eur(override.amount_eur)}."
        except DomainError as exc:
            field = exc.field if exc.field in form.fields and exc.field != "action" else None
            form.add_error(field, exc.message)
        else:
            messages.success(request, done)
            return redirect("programme:ceiling_override", call_pk=call.pk, org_pk=organisation.pk)
    computed = ceiling_for(call, organisation)
    effective = application_services.effective_ceiling(call, organisation)
    if not form.is_bound and effective.override is not None:
        form.initial = {
            "amount_eur": effective.override.amount_eur,
            "reason": effective.override.reason,
        }
    application = application_selectors.file_of(call, organisation)
    return render(
        request,
        "programme/application_ceiling.html",
        {
            "title": f"Plafond de {organisation.name} — {call.title}",
            "call": call,
            "organisation": organisation,
            "computed": computed,
            "effective": effective,
            "application": application,
            "decided": application is not None and application.status in (S.ACCEPTED, S.REJECTED),
            "form": form,
        },
        status=400 if form.errors else 200,
    )
