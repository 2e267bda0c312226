"""Pages of the CaRE domains: thin, every read through domain_selectors, writes through
reference_data.requirement_update. 404 for whoever may not see (or edit) them."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from rempart.core.errors import DomainError

from . import domain_selectors, perms
from .domain_forms import RequirementForm
from .models import RequirementKind
from .reference_data import requirement_update

HISTORY_LIMIT = 50


@require_GET
def domain_list(request):
    if not perms.can_view_programme(request.user):
        raise Http404("Programme CaRE indisponible pour votre rôle.")
    return render(
        request,
        "programme/domain_list.html",
        {
            "title": "Domaines du programme CaRE",
            "domains": domain_selectors.domains_overview(request.user),
        },
    )


@require_GET
def domain_detail(request, code: str):
    domain = domain_selectors.get_domain(request.user, code)
    grouped = domain_selectors.domain_requirements(request.user, domain)
    can_edit = perms.can_edit_programme_data(request.user)
    return render(
        request,
        "programme/domain_detail.html",
        {
            "title": f"{domain.code} — {domain.title}",
            "domain": domain,
            "prerequisites": grouped[RequirementKind.PREREQUISITE],
            "targets": grouped[RequirementKind.TARGET],
            "can_edit": can_edit,
            "history": domain_selectors.domain_history_rows(request.user, domain, HISTORY_LIMIT),
        },
    )


@require_http_methods(["GET", "POST"])
def requirement_edit(request, identifier: str):
    requirement = domain_selectors.get_editable_requirement(request.user, identifier)
    form = RequirementForm.for_requirement(
        requirement, request.POST if request.method == "POST" else None
    )
    detail_url = (
        reverse("programme:domain_detail", args=[requirement.domain.code])
        + f"#exigence-{requirement.pk}"
    )
    if request.method == "POST" and form.is_valid():
        changes = form.changes_for(requirement)
        if not changes:
            messages.info(request, "Aucune modification : rien n'a été enregistré.")
            return redirect(detail_url)
        try:
            requirement_update(actor=request.user, requirement=requirement, **changes)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"« {requirement.identifier} » a été mis à jour.")
            return redirect(detail_url)
    return render(
        request,
        "programme/domain_requirement_edit.html",
        {
            "title": f"Modifier {requirement.identifier}",
            "requirement": requirement,
            "domain": requirement.domain,
            "form": form,
            "cancel_url": detail_url,
        },
    )
