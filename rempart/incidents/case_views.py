"""Pages of a case: the list, opening (from an alert or directly), the case page (synthesis,
timeline, tasks and checklist, affected assets, alerts, management and sharing), editing.

Thin views: every page starts from `selectors.get_visible_case(user, pk, level)` — 403 with
the reason outside the user's access or below the level the action needs, 404 if missing —
and every write goes through `case_services`, which checks the rights and rules again. A POST
that works redirects (PRG) with a message, or with HTMX answers the part of the page that
changed; a refused one re-renders with the service's French message on the field at fault.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core.errors import DomainError

from . import case_services as services
from . import perms, selectors
from .case_forms import (
    AssetForm,
    AssetStateForm,
    CaseEditForm,
    CaseEventForm,
    CaseFilterForm,
    CaseLeadForm,
    CaseOpenForm,
    CaseOutcomeForm,
    CaseShareForm,
    CaseStateForm,
    LinkAlertForm,
    TaskAssignForm,
    TaskForm,
    TaskStatusForm,
)
from .models import AccessLevel, CaseState, Impact, Severity, TaskKind, Tlp

LIST_PAGE_SIZE = 30
# Service fields that a form names differently.
FIELD_ALIASES = {"case": None}


def _refuse(form, exc: DomainError) -> int:
    """Put the service's message on the field at fault; the status of the re-rendered page."""
    name = FIELD_ALIASES.get(exc.field or "", exc.field)
    form.add_error(name if name in form.fields else None, exc.message)
    return 403 if exc.code == "forbidden" else 400


def _level_at_least(case, level: AccessLevel) -> bool:
    held = getattr(case, "access_level", None)
    return held is not None and perms.LEVEL_RANK[held] >= perms.LEVEL_RANK[level]


def _detail_url(case, anchor: str = "") -> str:
    return reverse("incidents:case_detail", args=[case.pk]) + (f"#{anchor}" if anchor else "")


# --- The list ---------------------------------------------------------------------------------------


@require_GET
def case_list(request):
    user = request.user
    organisations = list(services.list_organisations(user))
    form = CaseFilterForm(request.GET or None, organisations=organisations)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    cases = services.cases_for_list(
        user,
        state=filters.get("state") or "",
        incident_type=filters.get("incident_type") or "",
        organisation_id=filters.get("organisation"),
        mine=bool(filters.get("mine")),
    )
    page = Paginator(cases, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "incidents/case_list.html",
        {
            "title": "Dossiers d'incident",
            "form": form,
            "page": page,
            "querystring": query.urlencode(),
            "filtered": bool(filters and any(filters.values())),
            "can_open": bool(services.openable_organisations(user).exists()),
        },
    )


# --- Opening ------------------------------------------------------------------------------------------


def _alert_initial(alert) -> dict:
    """A first draft of the case from what the reporter wrote."""
    type_label = alert.get_incident_type_display() if alert.incident_type else "Incident"
    parts = []
    if alert.description:
        parts.append(f"Constaté : {alert.description.strip()}")
    since = [f"{timezone.localtime(alert.observed_at):%d/%m/%Y %H:%M}"] if alert.observed_at else []
    if alert.observed_at_text:
        since.append(f"« {alert.observed_at_text.strip()} »")
    if since:
        parts.append(f"Depuis : {' — '.join(since)}")
    if alert.actions_taken:
        parts.append(f"Mesures déjà prises : {alert.actions_taken.strip()}")
    if alert.affects_care == Impact.YES:
        severity = Severity.CRITICAL
    elif Impact.YES in (alert.affects_health_data, alert.affects_systems):
        severity = Severity.HIGH
    else:
        severity = Severity.MEDIUM
    return {
        "title": f"{type_label} — {alert.organisation.name}"[:255],
        "incident_type": alert.incident_type,
        "summary": "\n\n".join(parts),
        "severity": severity,
        "tlp": Tlp.AMBER,
    }


@require_http_methods(["GET", "POST"])
def case_open(request):
    user = request.user
    alert = None
    alert_pk = request.GET.get("alerte") or request.POST.get("alerte")
    if alert_pk:
        alert = selectors.get_handleable_alert(user, alert_pk)
        if alert.case_id:
            messages.info(request, "Cette alerte est déjà rattachée à un dossier.")
            return redirect("incidents:case_detail", pk=alert.case_id)
        organisations = []
    else:
        organisations = list(services.openable_organisations(user))
        if not organisations:
            raise PermissionDenied(
                "Vous ne pouvez ouvrir de dossier d'incident pour aucune structure : c'est le "
                "rôle des responsables des incidents de la structure, du CRRC et de ses experts "
                "d'astreinte."
            )
    if request.method == "POST":
        form = CaseOpenForm(request.POST, organisations=organisations, alert=alert)
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            organisation = None
            if alert is None:
                organisation = next(o for o in organisations if o.pk == data["organisation"])
            try:
                case = services.case_open(
                    actor=user,
                    organisation=organisation,
                    title=data["title"],
                    incident_type=data["incident_type"],
                    summary=data["summary"],
                    severity=data["severity"],
                    tlp=data["tlp"],
                    alert=alert,
                )
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(
                    request,
                    f"Dossier {case.reference} ouvert : tâches et liste de contrôle préparées "
                    "d'après le type d'incident.",
                )
                return redirect("incidents:case_detail", pk=case.pk)
    else:
        form = CaseOpenForm(
            initial=_alert_initial(alert)
            if alert
            else {"severity": Severity.MEDIUM, "tlp": Tlp.AMBER},
            organisations=organisations,
            alert=alert,
        )
        status = 200
    return render(
        request,
        "incidents/case_open.html",
        {"title": "Ouvrir un dossier d'incident", "form": form, "alert": alert},
        status=status,
    )


@require_POST
def case_link_alert(request, alert_pk: int):
    """From an alert's page: add it (and its repeats) to an open case of its organisation."""
    alert = selectors.get_handleable_alert(request.user, alert_pk)
    back = _alert_url(alert)
    form = LinkAlertForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choisissez le dossier auquel rattacher l'alerte.")
        return redirect(back)
    case = selectors.get_visible_case(
        request.user, form.cleaned_data["case"], AccessLevel.CONTRIBUTE
    )
    try:
        services.case_link_alert(actor=request.user, case=case, alert=alert)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, f"Alerte n° {alert.pk} rattachée au dossier {case.reference}.")
    return redirect("incidents:case_detail", pk=case.pk)


def _alert_url(alert) -> str:
    from django.urls import NoReverseMatch

    try:
        return reverse("incidents:alert_detail", args=[alert.pk])
    except NoReverseMatch:
        return reverse("incidents:case_list")


# --- The case page ---------------------------------------------------------------------------------


def _detail_context(request, case, **bound) -> dict:
    can_contribute = _level_at_least(case, AccessLevel.CONTRIBUTE)
    can_manage = _level_at_least(case, AccessLevel.MANAGE)
    is_open = case.state != CaseState.CLOSED
    writable = can_contribute and is_open
    tasks = list(services.case_tasks(case))
    people = services.case_people(case) if writable else []
    for task in tasks:
        task.case = case
    context = {
        "title": f"{case.reference} — {case.title}",
        "case": case,
        "active": "detail",
        "can_contribute": can_contribute,
        "can_manage": can_manage,
        "writable": writable,
        "events": list(services.case_events(case)),
        "tasks": [t for t in tasks if t.kind == TaskKind.TASK],
        "checklist": [t for t in tasks if t.kind == TaskKind.CHECK],
        "task_statuses": TaskStatusForm.base_fields["status"].choices,
        "people": people,
        "assets": list(services.case_assets(case)),
        "asset_states": AssetStateForm.base_fields["state"].choices,
        "alerts": list(services.case_alerts(case)),
    }
    if writable:
        context["event_form"] = bound.get("event_form") or CaseEventForm(auto_id="entree_%s")
        context["task_form"] = bound.get("task_form") or TaskForm(people=people, auto_id="tache_%s")
        context["asset_form"] = bound.get("asset_form") or AssetForm(auto_id="actif_%s")
    if can_manage:
        context["state_form"] = bound.get("state_form") or CaseStateForm(
            initial={"state": _next_state(case)}, auto_id="etat_%s"
        )
        context["outcome_form"] = bound.get("outcome_form") or CaseOutcomeForm(
            initial={"outcome": case.outcome}, auto_id="issue_%s"
        )
        context["lead_form"] = bound.get("lead_form") or CaseLeadForm(
            initial={"lead": case.lead_id},
            candidates=services.lead_candidates(case),
            auto_id="pilote_%s",
        )
        context["share_form"] = bound.get("share_form") or CaseShareForm(
            experts=services.expert_candidates(case),
            organisations=services.share_organisations(case),
            auto_id="partage_%s",
        )
        context["accesses"] = list(services.case_accesses(case))
    context["action_error"] = any(form is not None for form in bound.values())
    return context


def _next_state(case) -> str:
    order = services.STATE_ORDER
    index = order.index(case.state)
    return order[min(index + 1, len(order) - 1)] if case.state != CaseState.CLOSED else case.state


def _render_detail(request, case, status: int = 200, **bound):
    return render(
        request,
        "incidents/case_detail.html",
        _detail_context(request, case, **bound),
        status=status,
    )


@require_GET
def case_detail(request, pk: int):
    case = selectors.get_visible_case(request.user, pk)
    return _render_detail(request, case)


@require_http_methods(["GET", "POST"])
def case_edit(request, pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.MANAGE)
    status = 200
    if request.method == "POST":
        form = CaseEditForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                services.case_update(actor=request.user, case=case, **form.cleaned_data)
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(request, "Dossier mis à jour.")
                return redirect("incidents:case_detail", pk=case.pk)
    else:
        form = CaseEditForm(
            initial={
                "title": case.title,
                "summary": case.summary,
                "severity": case.severity,
                "tlp": case.tlp,
            }
        )
    return render(
        request,
        "incidents/case_edit.html",
        {"title": f"Modifier le dossier {case.reference}", "case": case, "form": form},
        status=status,
    )


AUTO_IDS = {
    "state_form": "etat_%s",
    "outcome_form": "issue_%s",
    "lead_form": "pilote_%s",
    "share_form": "partage_%s",
}


def _manage_action(
    request, pk, form_class, context_name, call, success, anchor, *, form_kwargs=None
):
    """A « pilotage » form posted from the case page: state, outcome, lead, sharing."""
    case = selectors.get_visible_case(request.user, pk, AccessLevel.MANAGE)
    extra = form_kwargs(case) if form_kwargs else {}
    form = form_class(request.POST, auto_id=AUTO_IDS[context_name], **extra)
    if form.is_valid():
        try:
            message = success(call(case, form.cleaned_data))
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            messages.success(request, message)
            return redirect(_detail_url(case, anchor))
    else:
        status = 400
    return _render_detail(request, case, status=status, **{context_name: form})


@require_POST
def case_state(request, pk: int):
    return _manage_action(
        request,
        pk,
        CaseStateForm,
        "state_form",
        lambda case, data: services.case_change_state(
            actor=request.user,
            case=case,
            state=data["state"],
            note=data["note"],
            occurred_at=data["occurred_at"],
        ),
        lambda case: f"Dossier à l'état « {case.get_state_display().lower()} ».",
        "pilotage",
    )


@require_POST
def case_outcome(request, pk: int):
    return _manage_action(
        request,
        pk,
        CaseOutcomeForm,
        "outcome_form",
        lambda case, data: services.case_set_outcome(
            actor=request.user, case=case, outcome=data["outcome"], note=data["note"]
        ),
        lambda case: f"Issue du dossier : {case.get_outcome_display().lower()}.",
        "pilotage",
    )


@require_POST
def case_lead(request, pk: int):
    def call(case, data):
        candidates = {u.pk: u for u in services.lead_candidates(case)}
        lead = None
        if data["lead"] is not None:
            lead = candidates.get(data["lead"])
            if lead is None:
                raise DomainError("Choisissez le pilote dans la liste.", field="lead")
        return services.case_set_lead(actor=request.user, case=case, lead=lead)

    return _manage_action(
        request,
        pk,
        CaseLeadForm,
        "lead_form",
        call,
        lambda case: "Pilote du dossier enregistré.",
        "pilotage",
        form_kwargs=lambda case: {"candidates": services.lead_candidates(case)},
    )


@require_POST
def case_share(request, pk: int):
    def call(case, data):
        person = organisation = None
        if data["person"] is not None:
            person = services.expert_candidates(case).filter(pk=data["person"]).first()
            if person is None:
                raise DomainError("Choisissez l'expert dans la liste.", field="person")
        if data["organisation"] is not None:
            organisation = (
                services.share_organisations(case).filter(pk=data["organisation"]).first()
            )
            if organisation is None:
                raise DomainError("Choisissez la structure dans la liste.", field="organisation")
        return services.case_share(
            actor=request.user,
            case=case,
            person=person,
            organisation=organisation,
            level=data["level"],
        )

    return _manage_action(
        request,
        pk,
        CaseShareForm,
        "share_form",
        call,
        lambda access: "Dossier partagé.",
        "partage",
        form_kwargs=lambda case: {
            "experts": services.expert_candidates(case),
            "organisations": services.share_organisations(case),
        },
    )


@require_POST
def case_unshare(request, pk: int, access_pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.MANAGE)
    try:
        access = services.get_case_access(case, access_pk)
        services.case_unshare(actor=request.user, case=case, access=access)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Partage retiré.")
    return redirect(_detail_url(case, "partage"))


# --- Timeline, tasks, assets (contribution) -------------------------------------------------------


@require_POST
def case_event_add(request, pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
    form = CaseEventForm(request.POST, auto_id="entree_%s")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.case_add_event(
                actor=request.user,
                case=case,
                kind=data["kind"],
                text=data["text"],
                occurred_at=data["occurred_at"],
            )
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            if request.htmx:
                return _timeline_part(request, case, CaseEventForm(auto_id="entree_%s"))
            messages.success(request, "Entrée ajoutée à la chronologie.")
            return redirect(_detail_url(case, "chronologie"))
    if request.htmx:
        # HTMX swaps only 2xx answers: the form comes back with its errors.
        return _timeline_part(request, case, form)
    return _render_detail(request, case, status=status, event_form=form)


def _timeline_part(request, case, form):
    return render(
        request,
        "incidents/includes/case_timeline.html",
        {
            "case": case,
            "events": list(services.case_events(case)),
            "writable": True,
            "event_form": form,
        },
    )


@require_POST
def case_task_add(request, pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
    people = services.case_people(case)
    form = TaskForm(request.POST, people=people, auto_id="tache_%s")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        assignee = next((u for u in people if u.pk == data["assignee"]), None)
        try:
            services.task_add(
                actor=request.user,
                case=case,
                title=data["title"],
                details=data["details"],
                assignee=assignee,
                due_at=data["due_at"],
            )
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            messages.success(request, "Tâche ajoutée.")
            return redirect(_detail_url(case, "taches"))
    return _render_detail(request, case, status=status, task_form=form)


def _task_answer(request, case, task, error: str = "", status: int = 200):
    """With HTMX, the task's row; otherwise back to the tasks of the case page."""
    if request.htmx:
        return render(
            request,
            "incidents/includes/case_task_row.html",
            {
                "case": case,
                "task": task,
                "writable": case.state != CaseState.CLOSED,
                "task_statuses": TaskStatusForm.base_fields["status"].choices,
                "people": services.case_people(case),
                "task_error": error,
            },
        )
    if error:
        messages.error(request, error)
    return redirect(_detail_url(case, f"tache-{task.pk}" if task else "taches"))


@require_POST
def case_task_status(request, pk: int, task_pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
    try:
        task = services.get_case_task(case, task_pk)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(_detail_url(case, "taches"))
    form = TaskStatusForm(request.POST)
    if not form.is_valid():
        return _task_answer(request, case, task, "Choisissez un statut de la liste.")
    try:
        task = services.task_set_status(
            actor=request.user, task=task, status=form.cleaned_data["status"]
        )
    except DomainError as exc:
        return _task_answer(request, case, task, exc.message)
    if not request.htmx:
        messages.success(request, f"« {task.title} » : {task.get_status_display().lower()}.")
    return _task_answer(request, case, task)


@require_POST
def case_task_assign(request, pk: int, task_pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
    try:
        task = services.get_case_task(case, task_pk)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(_detail_url(case, "taches"))
    people = services.case_people(case)
    form = TaskAssignForm(request.POST, people=people)
    if not form.is_valid():
        return _task_answer(request, case, task, "Choisissez la personne dans la liste.")
    assignee = next((u for u in people if u.pk == form.cleaned_data["assignee"]), None)
    try:
        task = services.task_assign(actor=request.user, task=task, assignee=assignee)
    except DomainError as exc:
        return _task_answer(request, case, task, exc.message)
    if not request.htmx:
        messages.success(request, "Attribution de la tâche enregistrée.")
    return _task_answer(request, case, task)


@require_POST
def case_asset_add(request, pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
    form = AssetForm(request.POST, auto_id="actif_%s")
    status = 400
    if form.is_valid():
        try:
            services.asset_add(actor=request.user, case=case, **form.cleaned_data)
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            messages.success(request, "Actif touché ajouté.")
            return redirect(_detail_url(case, "actifs"))
    return _render_detail(request, case, status=status, asset_form=form)


@require_POST
def case_asset_state(request, pk: int, asset_pk: int):
    case = selectors.get_visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
    form = AssetStateForm(request.POST)
    try:
        asset = services.get_case_asset(case, asset_pk)
        if not form.is_valid():
            raise DomainError("Choisissez un état de la liste.", field="state")
        services.asset_update(actor=request.user, asset=asset, state=form.cleaned_data["state"])
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"« {asset.name} » : {asset.get_state_display().lower()}.")
    return redirect(_detail_url(case, "actifs"))
