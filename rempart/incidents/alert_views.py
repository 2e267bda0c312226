"""Alert pages: the qualification-and-alert form (mobile first), the confirmation and detail
page, completing an alert, the handlers' actions (acknowledge, qualify, dismiss) and the list.

Thin views: reads through `selectors` and the read helpers of `alert_services` (scoped by the
acting user: a foreign alert is a 403 with the reason, a missing one a 404), writes through
`alert_services` and `paging`. A filing is never refused for a missing field: the page that
follows says what is missing and offers to complete it."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core.errors import DomainError

from . import alert_services, perms, selectors
from .alert_forms import (
    AlertFilterForm,
    AlertForm,
    DismissForm,
    QualifyForm,
    initial_from_alert,
    initial_from_user,
)
from .incident_types import template_for
from .models import AlertSource, AlertStatus, IncidentType, PagingStatus

LIST_PAGE_SIZE = 25
GUIDANCE_TARGET = "alert-guidance"
NO_REPORTING = (
    "Vous ne pouvez signaler d'incident pour aucune structure : le signalement est ouvert aux "
    "personnes d'un établissement (ou de son GHT) et au CRRC de la région. En urgence, appelez "
    "la hotline de votre CRRC ou CERT Santé."
)


def _domain_status(exc: DomainError) -> int:
    return 403 if exc.code == "forbidden" else 400


# --- The form -------------------------------------------------------------------------------------


def _render_form(request, form, status=200):
    return render(
        request,
        "incidents/alert_form.html",
        {"title": "Signaler un incident de sécurité", "form": form},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def alert_new(request):
    organisations = list(alert_services.reportable_organisations(request.user))
    if not organisations:
        raise PermissionDenied(NO_REPORTING)
    if request.method == "GET":
        initial = initial_from_user(request.user)
        initial["client_reference"] = uuid.uuid4().hex
        wanted = request.GET.get("type", "")
        if wanted in IncidentType.values:
            initial["incident_type"] = wanted
        form = AlertForm(organisations=organisations, initial=initial)
        return _render_form(request, form)
    form = AlertForm(request.POST, organisations=organisations)
    if request.POST.get("action") == "consignes":
        # Without JavaScript: show the chosen type's guidance, nothing saved yet.
        form.is_valid()
        return _render_form(request, form)
    if not form.is_valid():
        return _render_form(request, form, status=400)
    organisation = alert_services.get_reportable_organisation(
        request.user, form.cleaned_data["organisation"]
    )
    try:
        alert, created = alert_services.alert_file(
            actor=request.user,
            organisation=organisation,
            source=AlertSource.WEB,
            data=form.alert_data(),
            client_reference=form.cleaned_data.get("client_reference", ""),
        )
    except DomainError as exc:
        form.add_error("organisation" if exc.field == "organisation" else None, exc.message)
        return _render_form(request, form, status=_domain_status(exc))
    if created:
        messages.success(request, f"Votre alerte n° {alert.pk} est enregistrée.")
    else:
        messages.info(request, f"Cette alerte était déjà enregistrée : alerte n° {alert.pk}.")
    return redirect("incidents:alert_detail", pk=alert.pk)


@require_GET
def alert_guidance(request):
    """The chosen type's guidance and reflex actions (the partial the form swaps)."""
    form = AlertForm(initial={"incident_type": request.GET.get("incident_type", "")})
    return render(request, "incidents/includes/alert_guidance.html", {"form": form})


# --- Detail and handling ------------------------------------------------------------------------


def _detail_context(request, alert, **forms) -> dict:
    user = request.user
    can_handle = perms.can_handle_alert(user, alert)
    open_status = alert.status != AlertStatus.DISMISSED
    template = template_for(alert.incident_type)
    ticked = {code for code, done in (alert.checklist or {}).items() if done}
    return {
        "title": f"Alerte n° {alert.pk} — {alert.organisation.name}",
        "alert": alert,
        "template": template,
        "checklist_rows": [
            {"item": item, "checked": item.code in ticked} for item in template.checklist
        ],
        "missing": alert_services.missing_labels(alert),
        "own_description": alert_services.own_description(alert.description),
        "pages": list(alert_services.alert_pages(alert)),
        "repeats": list(alert_services.alert_repeats(user, alert)),
        "first": alert_services.visible_first(user, alert),
        "can_handle_alert": can_handle,
        "can_complete": alert_services.can_complete(user, alert),
        "can_acknowledge": can_handle
        and open_status
        and alert.acknowledged_at is None
        and alert.paging_status != PagingStatus.LINKED,
        "can_qualify": can_handle and open_status,
        "can_dismiss": can_handle and open_status and not alert.case_id,
        "qualify_form": forms.get("qualify_form") or QualifyForm(),
        "dismiss_form": forms.get("dismiss_form") or DismissForm(),
    }


def _render_detail(request, alert, status=200, **forms):
    return render(
        request,
        "incidents/alert_detail.html",
        _detail_context(request, alert, **forms),
        status=status,
    )


@require_GET
def alert_detail(request, pk: int):
    alert = selectors.get_visible_alert(request.user, pk)
    return _render_detail(request, alert)


@require_http_methods(["GET", "POST"])
def alert_complete(request, pk: int):
    alert = selectors.get_visible_alert(request.user, pk)
    if not alert_services.can_complete(request.user, alert):
        if alert.status == AlertStatus.DISMISSED:
            raise PermissionDenied(
                "Cette alerte est classée sans suite : elle ne se complète plus."
            )
        raise PermissionDenied(
            "Seuls le déclarant, le CRRC, l'expert d'astreinte alerté et les responsables de la "
            "structure complètent cette alerte."
        )
    if request.method == "POST":
        form = AlertForm(request.POST)
        if request.POST.get("action") != "consignes" and form.is_valid():
            try:
                alert = alert_services.alert_complete(
                    actor=request.user, alert=alert, data=form.alert_data()
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = _domain_status(exc)
            else:
                missing = alert_services.missing_labels(alert)
                if missing:
                    messages.warning(
                        request, f"Alerte enregistrée. Il manque encore : {', '.join(missing)}."
                    )
                else:
                    messages.success(request, "Alerte complétée : plus rien ne manque.")
                return redirect("incidents:alert_detail", pk=alert.pk)
        else:
            form.is_valid()
            status = 200
    else:
        form = AlertForm(initial=initial_from_alert(alert))
        status = 200
    return render(
        request,
        "incidents/alert_complete.html",
        {"title": f"Compléter l'alerte n° {alert.pk}", "alert": alert, "form": form},
        status=status,
    )


@require_POST
def alert_acknowledge(request, pk: int):
    from . import paging

    alert = selectors.get_handleable_alert(request.user, pk)
    try:
        paging.acknowledge(actor=request.user, alert=alert)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            "Alerte prise en compte : les relances de l'astreinte s'arrêtent. Rappelez le "
            "déclarant.",
        )
    return redirect("incidents:alert_detail", pk=alert.pk)


@require_POST
def alert_qualify(request, pk: int):
    alert = selectors.get_handleable_alert(request.user, pk)
    form = QualifyForm(request.POST)
    if form.is_valid():
        try:
            alert_services.alert_qualify(
                actor=request.user, alert=alert, note=form.cleaned_data["note"]
            )
        except DomainError as exc:
            form.add_error("note" if exc.field == "note" else None, exc.message)
            return _render_detail(request, alert, _domain_status(exc), qualify_form=form)
        messages.success(request, "Alerte qualifiée.")
        return redirect("incidents:alert_detail", pk=alert.pk)
    return _render_detail(request, alert, 400, qualify_form=form)


@require_POST
def alert_dismiss(request, pk: int):
    alert = selectors.get_handleable_alert(request.user, pk)
    form = DismissForm(request.POST)
    if form.is_valid():
        try:
            alert_services.alert_dismiss(
                actor=request.user, alert=alert, reason=form.cleaned_data["reason"]
            )
        except DomainError as exc:
            form.add_error("reason" if exc.field == "reason" else None, exc.message)
            return _render_detail(request, alert, _domain_status(exc), dismiss_form=form)
        messages.success(request, "Alerte classée sans suite.")
        return redirect("incidents:alert_detail", pk=alert.pk)
    return _render_detail(request, alert, 400, dismiss_form=form)


# --- List -----------------------------------------------------------------------------------------


@require_GET
def alert_list(request):
    user = request.user
    form = AlertFilterForm(
        request.GET or None, organisations=alert_services.alert_organisations(user)
    )
    filters = form.values()
    alerts = alert_services.alert_list(user, **filters)
    page = Paginator(alerts, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    return render(
        request,
        "incidents/alert_list.html",
        {
            "title": "Alertes",
            "form": form,
            "page": page,
            "querystring": querystring.urlencode(),
            "filtered": any(value not in (None, "") for value in filters.values()),
            "may_report": alert_services.reportable_organisations(user).exists(),
        },
    )
