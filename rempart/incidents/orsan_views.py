"""Pages of ORSAN cyber mutual aid: activations, the catalogue of pooled resources, aid requests
and the loans that follow them.

Thin views: every object is read through `orsan_selectors` (403 with the reason outside the
user's scope, 404 when missing), every write goes through `orsan_services` (a refusal is shown
next to the field at fault, with what the person typed), and a POST that works redirects
(Post/Redirect/Get) with a message."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_http_methods

from rempart.core.errors import DomainError

from . import orsan_selectors as sel
from . import orsan_services as services
from . import perms
from .models import AidStatus
from .orsan_forms import (
    ActivationForm,
    AidRequestForm,
    CancelForm,
    CatalogueFilterForm,
    LendForm,
    LiftForm,
    MobiliseForm,
    RefuseForm,
    ResourceForm,
    ReturnForm,
)

PAGE_SIZE = 50
CATALOGUE_TARGET = "orsan-catalogue"
NOT_IN_ORSAN = (
    "ORSAN cyber est réservé aux personnes qui y prennent part dans leur région : l'ARS, le "
    "CRRC, et les responsables des établissements (direction, RSSI, DSI, coordination GHT)."
)


def _refuse(form, exc: DomainError) -> int:
    """Put the service's message on the field at fault; the status of the re-rendered page."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return 403 if exc.code == "forbidden" else 400


def _require_orsan(user) -> None:
    if not sel.takes_part(user):
        raise PermissionDenied(NOT_IN_ORSAN)


def _case_link(user, activation) -> dict | None:
    """The linked case, shown only to whoever may open it."""
    case = activation.case
    if case is None or not perms.can_view_case(user, case):
        return None
    try:
        url = reverse("incidents:case_detail", args=[case.pk])
    except NoReverseMatch:
        url = ""
    return {"case": case, "url": url}


# --- Activations -----------------------------------------------------------------------------


@require_GET
def activation_list(request):
    _require_orsan(request.user)
    page = Paginator(sel.activations_visible_to(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "incidents/orsan_activations.html",
        {
            "title": "ORSAN cyber — entraide régionale",
            "page": page,
            "can_activate": sel.activation_regions(request.user).exists(),
            "may_offer": sel.may_offer(request.user),
            "loans_out": sel.outstanding_loans(request.user).count(),
        },
    )


def _activation_form(user, data=None) -> ActivationForm:
    regions = sel.activation_regions(user)
    region_ids = list(regions.values_list("pk", flat=True))
    return ActivationForm(
        data,
        regions=regions,
        organisations=sel.affectable_organisations(region_ids),
        cases=sel.linkable_cases(user, region_ids).select_related("organisation"),
        initial={"region": region_ids[0]} if len(region_ids) == 1 else None,
    )


@require_http_methods(["GET", "POST"])
def activation_create(request):
    if not sel.activation_regions(request.user).exists():
        raise PermissionDenied("Seule l'ARS de la région active le plan ORSAN cyber.")
    form = _activation_form(request.user, request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                activation = services.activation_create(
                    actor=request.user,
                    region=data["region"],
                    title=data["title"],
                    reason=data["reason"],
                    affected=list(data["affected"]),
                    case=data["case"],
                )
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(
                    request,
                    "Le plan ORSAN cyber est activé : le CRRC, les structures touchées et les "
                    "structures qui proposent des ressources sont prévenus.",
                )
                return redirect("incidents:orsan_detail", pk=activation.pk)
    return render(
        request,
        "incidents/orsan_activate.html",
        {"title": "Activer le plan ORSAN cyber", "form": form},
        status=status,
    )


@require_GET
def activation_detail(request, pk: int):
    activation = sel.get_visible_activation(request.user, pk)
    user = request.user
    requesters = sel.requester_choices(user, activation)
    running = activation.ended_at is None
    return render(
        request,
        "incidents/orsan_detail.html",
        {
            "title": activation.title,
            "activation": activation,
            "affected": list(activation.affected.all()),
            "requests": list(sel.requests_of(user, activation)),
            "loans": list(sel.outstanding_loans(user, activation=activation)),
            "engaged": list(sel.engaged_resources(activation)),
            "case_link": _case_link(user, activation),
            "can_request": running and bool(requesters),
            "can_lift": running and perms.can_activate_in(user, activation.region_id),
            "can_mobilise": perms.can_mobilise_in(user, activation.region_id),
        },
    )


@require_http_methods(["GET", "POST"])
def activation_lift(request, pk: int):
    activation = sel.get_liftable_activation(request.user, pk)
    if activation.ended_at is not None:
        messages.info(request, "Cette activation est déjà levée.")
        return redirect("incidents:orsan_detail", pk=activation.pk)
    form = LiftForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.activation_lift(
                    actor=request.user, activation=activation, note=form.cleaned_data["note"]
                )
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(request, "L'activation ORSAN cyber est levée.")
                return redirect("incidents:orsan_detail", pk=activation.pk)
    return render(
        request,
        "incidents/orsan_lift.html",
        {
            "title": f"Lever l'activation — {activation.title}",
            "activation": activation,
            "form": form,
            "outstanding": services.outstanding_of(activation),
            "waiting": sel.requests_of(request.user, activation)
            .filter(status=AidStatus.REQUESTED)
            .count(),
        },
        status=status,
    )


# --- Aid requests ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def aid_request_create(request, pk: int):
    activation = sel.get_visible_activation(request.user, pk)
    if activation.ended_at is not None:
        raise PermissionDenied("Cette activation est levée : on n'y demande plus d'entraide.")
    requesters = sel.requester_choices(request.user, activation)
    if not requesters:
        raise PermissionDenied(
            "Seules les structures touchées nommées dans l'activation demandent de l'entraide, "
            "par leurs responsables (direction, RSSI, DSI). Adressez-vous à l'ARS si votre "
            "structure doit y être ajoutée."
        )
    resources = sel.requestable_resources(activation).exclude(
        organisation_id__in=[org.pk for org in requesters]
    )
    initial = {"requester": requesters[0].pk}
    wanted = request.GET.get("ressource", "")
    if wanted.isdigit():
        chosen = resources.filter(pk=int(wanted)).first()
        if chosen is not None:
            initial.update(resource=chosen.pk, kind=chosen.kind)
    form = AidRequestForm(
        request.POST if request.method == "POST" else None,
        requesters=requesters,
        resources=resources,
        initial=initial,
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                aid = services.aid_request_create(
                    actor=request.user,
                    activation=activation,
                    requester=data["requester"],
                    kind=data["kind"],
                    need=data["need"],
                    quantity=data["quantity"],
                    resource=data["resource"],
                )
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(
                    request,
                    "Votre demande est enregistrée : l'ARS et le CRRC sont prévenus et la "
                    "mobilisent sur une ressource de la région.",
                )
                return redirect("incidents:orsan_aid", pk=aid.pk)
    return render(
        request,
        "incidents/orsan_request.html",
        {
            "title": f"Demander de l'entraide — {activation.title}",
            "activation": activation,
            "form": form,
        },
        status=status,
    )


AID_ACTIONS = ("mobilise", "refuse", "lend", "return", "cancel")


def _aid_forms(user, aid, bound=None) -> dict:
    """The forms the user may use on this request now (`bound` replaces its blank one)."""
    activation = aid.activation
    status = aid.status
    running = activation.ended_at is None
    mobiliser = perms.can_mobilise_in(user, activation.region_id)
    forms = {}
    if mobiliser and running and status == AidStatus.REQUESTED:
        resources = sel.mobilisable_resources(activation).exclude(organisation_id=aid.requester_id)
        forms["mobilise"] = MobiliseForm(
            resources=resources,
            initial={"resource": aid.resource_id} if aid.resource_id else None,
        )
    if mobiliser and status in (AidStatus.REQUESTED, AidStatus.MOBILISED):
        forms["refuse"] = RefuseForm()
    if services.can_record_loan(user, aid):
        if status == AidStatus.MOBILISED:
            forms["lend"] = LendForm()
        elif status == AidStatus.LENT:
            forms["return"] = ReturnForm()
    if status in (AidStatus.REQUESTED, AidStatus.MOBILISED) and perms.can_request_aid(
        user, activation, aid.requester
    ):
        forms["cancel"] = CancelForm()
    if bound is not None:
        action, form = bound
        forms[action] = form
    return forms


def _aid_context(request, aid, bound=None) -> dict:
    return {
        "title": f"Demande d'entraide n° {aid.pk}",
        "aid": aid,
        "activation": aid.activation,
        "forms": _aid_forms(request.user, aid, bound),
        "note_lines": [line for line in aid.note.splitlines() if line.strip()],
    }


@require_http_methods(["GET", "POST"])
def aid_detail(request, pk: int):
    aid = sel.get_visible_aid(request.user, pk)
    if request.method == "GET":
        return render(request, "incidents/orsan_aid.html", _aid_context(request, aid))
    action = request.POST.get("action", "")
    available = _aid_forms(request.user, aid)
    if action not in AID_ACTIONS:
        messages.error(request, "Action inconnue : rechargez la page.")
        return redirect("incidents:orsan_aid", pk=aid.pk)
    if action not in available:
        message, status = _unavailable(aid, action)
        messages.error(request, message)
        return render(
            request, "incidents/orsan_aid.html", _aid_context(request, aid), status=status
        )
    template = available[action]
    form = _bind(template, request.POST)
    status = 400
    if form.is_valid():
        try:
            _run(action, request.user, aid, form.cleaned_data)
        except DomainError as exc:
            status = _refuse(form, exc)
        else:
            messages.success(request, SUCCESS[action])
            return redirect("incidents:orsan_aid", pk=aid.pk)
    return render(
        request,
        "incidents/orsan_aid.html",
        _aid_context(request, aid, bound=(action, form)),
        status=status,
    )


# The states in which each action makes sense, and who may take it.
ACTION_STATES = {
    "mobilise": (AidStatus.REQUESTED,),
    "refuse": (AidStatus.REQUESTED, AidStatus.MOBILISED),
    "lend": (AidStatus.MOBILISED,),
    "return": (AidStatus.LENT,),
    "cancel": (AidStatus.REQUESTED, AidStatus.MOBILISED),
}
ACTION_RIGHTS = {
    "mobilise": "Seuls l'ARS et le CRRC de la région mobilisent les ressources.",
    "refuse": "Seuls l'ARS et le CRRC de la région refusent une demande d'entraide.",
    "lend": "Le prêt est enregistré par la structure qui prête, l'ARS ou le CRRC.",
    "return": "La restitution est enregistrée par la structure qui prête, l'ARS ou le CRRC.",
    "cancel": "Seuls les responsables de la structure qui a fait la demande peuvent l'annuler.",
}


def _unavailable(aid, action: str) -> tuple[str, int]:
    """Why an action the page does not offer was refused, and the status to answer."""
    if aid.status not in ACTION_STATES[action] or (
        action == "mobilise" and aid.activation.ended_at is not None
    ):
        return (
            f"Cette demande est « {aid.get_status_display().lower()} » : cette action n'est "
            "plus possible. La page montre ce qui peut être fait maintenant.",
            400,
        )
    return ACTION_RIGHTS[action], 403


SUCCESS = {
    "mobilise": "La demande est mobilisée : la structure qui prête et celle qui demande sont "
    "prévenues.",
    "refuse": "La demande est refusée : la structure qui demande est prévenue du motif.",
    "lend": "Le prêt est enregistré, avec sa date de retour prévue.",
    "return": "La restitution est enregistrée : la ressource est de nouveau disponible.",
    "cancel": "La demande est annulée.",
}


def _bind(template, data):
    """A bound copy of one of the page's forms (same choices)."""
    if isinstance(template, MobiliseForm):
        return MobiliseForm(data, resources=template.fields["resource"].queryset)
    return type(template)(data)


def _run(action: str, user, aid, data: dict):
    if action == "mobilise":
        return services.aid_mobilise(
            actor=user, aid=aid, resource=data.get("resource"), quantity=data.get("quantity")
        )
    if action == "refuse":
        return services.aid_refuse(actor=user, aid=aid, reason=data.get("reason", ""))
    if action == "lend":
        return services.aid_lend(
            actor=user, aid=aid, lent_at=data.get("lent_at"), due_back_on=data.get("due_back_on")
        )
    if action == "return":
        return services.aid_return(
            actor=user,
            aid=aid,
            returned_at=data.get("returned_at"),
            condition=data.get("condition", ""),
        )
    return services.aid_cancel(actor=user, aid=aid, reason=data.get("reason", ""))


@require_GET
def loan_list(request):
    """Loans lent and not yet returned that the user sees (region-wide for the ARS/CRRC)."""
    _require_orsan(request.user)
    loans = sel.outstanding_loans(request.user)
    page = Paginator(loans, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "incidents/orsan_loans.html",
        {
            "title": "Prêts en cours — ORSAN cyber",
            "page": page,
            "may_offer": sel.may_offer(request.user),
        },
    )


# --- Pooled resources ------------------------------------------------------------------------


@require_GET
def resource_catalogue(request):
    _require_orsan(request.user)
    form = CatalogueFilterForm(
        request.GET or None, organisations=sel.catalogue_organisations(request.user)
    )
    filters = form.values()
    page = Paginator(sel.catalogue(request.user, **filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "title": "Ressources mutualisées — ORSAN cyber",
        "form": form,
        "page": page,
        "querystring": query.urlencode(),
        "filtered": any(filters.values()),
        "may_offer": sel.may_offer(request.user),
        "target": f"#{CATALOGUE_TARGET}",
    }
    if request.htmx and request.htmx.target == CATALOGUE_TARGET:
        return render(request, "incidents/includes/orsan_catalogue.html", context)
    return render(request, "incidents/orsan_resources.html", context)


def _require_offerer(user) -> None:
    if not sel.offering_organisations(user).exists():
        raise PermissionDenied(
            "Les ressources sont proposées par les responsables des structures (direction, "
            "RSSI, DSI), la coordination du GHT et le CRRC de la région."
        )


@require_GET
def my_resources(request):
    _require_offerer(request.user)
    return render(
        request,
        "incidents/orsan_my_resources.html",
        {
            "title": "Mes ressources proposées — ORSAN cyber",
            "resources": list(sel.my_resources(request.user)),
        },
    )


@require_http_methods(["GET", "POST"])
def resource_create(request):
    _require_offerer(request.user)
    organisations = sel.offering_organisations(request.user)
    only = list(organisations[:2])
    contacts = sel.contact_choices(only[0], request.user) if len(only) == 1 else None
    form = ResourceForm(
        request.POST if request.method == "POST" else None,
        organisations=organisations,
        contacts=contacts,
        initial={"organisation": only[0].pk, "unit": "unités"} if len(only) == 1 else None,
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                resource = services.resource_create(
                    actor=request.user,
                    organisation=data["organisation"],
                    kind=data["kind"],
                    label=data["label"],
                    quantity=data["quantity"],
                    unit=data["unit"],
                    description=data["description"],
                    contact=data.get("contact"),
                )
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(
                    request,
                    f"« {resource.label} » est proposée dans le catalogue de la région.",
                )
                return redirect("incidents:orsan_my_resources")
    return render(
        request,
        "incidents/orsan_resource_form.html",
        {"title": "Proposer une ressource", "form": form, "resource": None},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def resource_edit(request, pk: int):
    resource = sel.get_editable_resource(request.user, pk)
    contacts = sel.contact_choices(resource.organisation, request.user)
    initial = {
        "kind": resource.kind,
        "label": resource.label,
        "quantity": resource.quantity,
        "unit": resource.unit,
        "description": resource.description,
        "contact": resource.contact_id if resource.contact_id else None,
    }
    action = request.POST.get("action", "save") if request.method == "POST" else ""
    if action in ("withdraw", "offer"):
        services.resource_set_active(
            actor=request.user, resource=resource, active=action == "offer"
        )
        if action == "withdraw":
            messages.success(
                request,
                f"« {resource.label} » est retirée du catalogue : plus rien n'y sera mobilisé ; "
                "les prêts en cours restent suivis jusqu'à leur retour.",
            )
        else:
            messages.success(request, f"« {resource.label} » est de nouveau proposée.")
        return redirect("incidents:orsan_my_resources")
    if contacts and resource.contact_id not in {c.pk for c in contacts} and resource.contact:
        contacts = [*contacts, resource.contact]
    form = ResourceForm(
        request.POST if request.method == "POST" else None,
        organisations=sel.offering_organisations(request.user),
        contacts=contacts,
        fixed_organisation=resource.organisation,
        initial=initial,
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.resource_update(
                    actor=request.user,
                    resource=resource,
                    kind=data["kind"],
                    label=data["label"],
                    quantity=data["quantity"],
                    unit=data["unit"],
                    description=data["description"],
                    contact=data.get("contact"),
                )
            except DomainError as exc:
                status = _refuse(form, exc)
            else:
                messages.success(request, "La ressource est enregistrée.")
                return redirect("incidents:orsan_my_resources")
    return render(
        request,
        "incidents/orsan_resource_form.html",
        {"title": f"Modifier « {resource.label} »", "form": form, "resource": resource},
        status=status,
    )
