"""Funding call pages: thin, every call goes through a scoped selector (404 outside scope)."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods

from rempart.core.csv_export import csv_response
from rempart.core.errors import DomainError

from . import application_selectors, ceilings, perms, selectors, services, windows
from .call_forms import CallForm, schedule_initial

APPLICANTS_PAGE_SIZE = 50


@require_GET
def call_list(request):
    if not perms.can_view_programme(request.user):
        raise Http404("Programme indisponible pour votre rôle.")
    today = windows.paris_today()
    calls = list(selectors.calls_for_list(request.user))
    hints = selectors.applicant_hints(request.user, calls)
    rows = [
        {
            "call": call,
            "phase": windows.phase_on(call, today),
            "window": windows.current_or_next(call, today),
            "hint": hints.get(call.pk, ""),
            "can_edit": perms.can_manage_call(request.user, call),
        }
        for call in calls
    ]
    return render(
        request,
        "programme/call_list.html",
        {
            "rows": rows,
            "today": today,
            "today_label": windows.format_date_fr(today),
            "can_create": selectors.regions_where_user_manages_calls(request.user).exists(),
            "title": "Appels à financement CaRE",
        },
    )


def _form_kwargs(request, *, editing: bool):
    return {
        "regions": None if editing else selectors.regions_where_user_manages_calls(request.user),
        "domains": selectors.domains(),
        "categories": selectors.eligible_category_choices(),
        "editing": editing,
    }


def _call_values(data: dict) -> dict:
    keys = [
        "domain",
        "title",
        "legal_reference",
        "national_amount_eur",
        "envelope_eur",
        "applicant_rule",
        *windows.DATE_FIELDS,
        "ceiling_schedule",
    ]
    values = {key: data[key] for key in keys}
    values["eligible_categories"] = [int(pk) for pk in data["eligible_categories"]]
    return values


@require_http_methods(["GET", "POST"])
def call_create(request):
    regions = selectors.regions_where_user_manages_calls(request.user)
    if not regions.exists():
        raise Http404("Création d'appel impossible avec votre rôle.")
    form = CallForm(
        request.POST or None,
        initial={"region": regions.first(), **schedule_initial({})},
        **_form_kwargs(request, editing=False),
    )
    if request.method == "POST" and form.is_valid():
        try:
            call = services.call_create(
                actor=request.user,
                region=form.cleaned_data["region"],
                **_call_values(form.cleaned_data),
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"L'appel « {call.title} » est ouvert.")
            return redirect("programme:call_detail", pk=call.pk)
    return render(
        request,
        "programme/call_form.html",
        {"form": form, "call": None, "title": "Ouvrir un appel à financement"},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def call_edit(request, pk: int):
    call = selectors.get_manageable_call(request.user, pk)
    initial = {
        "domain": call.domain_id,
        "title": call.title,
        "legal_reference": call.legal_reference,
        "national_amount_eur": call.national_amount_eur,
        "envelope_eur": call.envelope_eur,
        "applicant_rule": call.applicant_rule,
        **{name: getattr(call, name) for name in windows.DATE_FIELDS},
        "eligible_categories": [str(pk) for pk in ceilings.eligible_category_ids(call)],
        **schedule_initial(call.ceiling_schedule),
    }
    form = CallForm(request.POST or None, initial=initial, **_form_kwargs(request, editing=True))
    if request.method == "POST" and form.is_valid():
        try:
            services.call_update(
                actor=request.user,
                call=call,
                reason=form.cleaned_data.get("reason", ""),
                **_call_values(form.cleaned_data),
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"L'appel « {call.title} » a été mis à jour.")
            return redirect("programme:call_detail", pk=call.pk)
    return render(
        request,
        "programme/call_form.html",
        {
            "form": form,
            "call": call,
            "opened": call.application_opens_on <= windows.paris_today(),
            "opened_label": windows.format_date_fr(call.application_opens_on),
            "title": f"Modifier {call.title}",
        },
        status=400 if form.errors else 200,
    )


@require_GET
def call_detail(request, pk: int):
    call = selectors.get_visible_call(request.user, pk)
    today = windows.paris_today()
    phase = windows.phase_on(call, today)
    applicants, sees_all = selectors.call_applicants(request.user, call)
    page = Paginator(applicants, APPLICANTS_PAGE_SIZE).get_page(request.GET.get("page"))
    # Each applicant's file (status, link) and whether the user may open it: one query.
    application_selectors.annotate_applicants(request.user, call, page.object_list)
    schedule = ceilings.schedule_of(call)
    context = {
        "call": call,
        "title": call.title,
        "today": today,
        "phase": phase,
        "phase_step": list(windows.Phase).index(phase) + 1,
        "phase_count": len(windows.Phase),
        "spans": [
            {
                "span": span,
                "open": span.is_open_on(today),
                "past": span.closes_on < today,
            }
            for span in windows.spans(call)
        ],
        "next_opening": windows.next_opening(call, today),
        "schedule_lines": schedule.describe() if schedule else [],
        "sees_all": sees_all,
        "summary": ceilings.envelope_summary(call, applicants) if sees_all else None,
        "page": page,
        "can_edit": perms.can_manage_call(request.user, call),
        "can_decide": perms.can_decide_in(request.user, call),
        "applications_open": today <= call.application_closes_on,
    }
    if request.htmx and request.htmx.target == "call-applicants":
        return render(request, "programme/includes/call_applicants.html", context)
    return render(request, "programme/call_detail.html", context)


@require_GET
def call_ceilings_csv(request, pk: int):
    call = selectors.get_visible_call(request.user, pk)
    applicants, _sees_all = selectors.call_applicants(request.user, call)
    header = [
        "Candidat",
        "Type",
        "FINESS",
        "Établissements couverts",
        "Plafond (€)",
        "Données manquantes",
        "Détail du calcul",
    ]
    rows = (
        [
            applicant.name,
            applicant.kind_label,
            applicant.finess,
            len(applicant.establishments),
            f"{applicant.ceiling.amount:.2f}".replace(".", ","),
            " | ".join(applicant.ceiling.missing),
            " | ".join(applicant.ceiling.steps),
        ]
        for applicant in applicants
    )
    return csv_response(f"plafonds-{slugify(call.domain.code)}-{call.pk}.csv", header, rows)
