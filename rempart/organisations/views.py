"""Organisation pages: thin, every object goes through a scoped selector (404 outside scope)."""

from allauth.account.internal.flows.login import record_authentication
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from rempart.core.audit import audit_entries_for_organisation
from rempart.core.errors import DomainError
from rempart.core.roles import Capability, OrgKind

from . import perms, selectors, services
from .forms import (
    AcceptInvitationForm,
    DirectoryFilterForm,
    FinessLookupForm,
    InvitationForm,
    OrganisationCreateForm,
    OrganisationForm,
)

DIRECTORY_PAGE_SIZE = 50


def directory(request):
    if perms.capability_q(request.user, Capability.VIEW_DIRECTORY) is None:
        raise Http404("Annuaire indisponible pour votre rôle.")
    form = DirectoryFilterForm(
        request.GET or None,
        ght_choices=selectors.directory_ght_choices(request.user),
        departement_choices=selectors.directory_departement_choices(request.user),
    )
    filters = selectors.DirectoryFilters()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = selectors.DirectoryFilters(
            q=data["q"],
            kind=data["kind"],
            sector=data["sector"],
            legal_status=data["legal_status"],
            category=data["category"],
            ght=data["ght"],
            departement=data["departement"],
            without_members=data["membres"] == "aucun",
        )
    page = Paginator(selectors.directory(request.user, filters), DIRECTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "querystring": query.urlencode(),
        "title": "Annuaire des organisations",
        "can_create": perms.creatable_regions(request.user) != set(),
    }
    if request.htmx and request.htmx.target == "directory-results":
        return render(request, "organisations/includes/directory_results.html", context)
    return render(request, "organisations/directory.html", context)


def detail(request, pk: int):
    organisation = selectors.get_visible_organisation(request.user, pk)
    user = request.user
    context = {
        "organisation": organisation,
        "title": organisation.name,
        "can_view_people": perms.can_view_people(user, organisation),
        "can_manage_people": perms.can_manage_people(user, organisation),
        "can_edit": perms.can_edit_organisation(user, organisation),
        "can_view_audit": perms.can_view_audit(user, organisation),
        "can_manage_ght": perms.can_manage_ght_composition(user, organisation),
        # CaRE timeline and platform measurements of the organisations that take part.
        "shows_programme": organisation.kind
        in (OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY, OrgKind.GHT)
        and perms.has_capability(user, Capability.VIEW_PROGRAMME),
        "people": selectors.people_of(user, organisation)[:20],
        "members": selectors.visible_organisations(user)
        .filter(ght=organisation)
        .select_related("category")[:200]
        if organisation.kind == "ght"
        else [],
        "establishments": selectors.visible_organisations(user).filter(legal_entity=organisation)[
            :200
        ]
        if organisation.kind == "legal_entity"
        else [],
        "history": audit_entries_for_organisation(user, organisation)[:20],
    }
    return render(request, "organisations/detail.html", context)


@require_http_methods(["GET", "POST"])
def edit(request, pk: int):
    organisation = selectors.get_visible_organisation(request.user, pk)
    if not perms.can_edit_organisation(request.user, organisation):
        raise Http404("Organisation introuvable.")
    form = OrganisationForm(request.POST or None, instance=organisation)
    if request.method == "POST" and form.is_valid():
        try:
            services.organisation_update(
                actor=request.user,
                organisation=organisation,
                **{field: form.cleaned_data[field] for field in form.changed_data},
            )
        except (DomainError, ValidationError) as exc:
            form.add_error(None, getattr(exc, "message", None) or "; ".join(exc.messages))
        else:
            messages.success(request, "Les informations de l'organisation ont été enregistrées.")
            return redirect("organisations:detail", pk=organisation.pk)
    return render(
        request,
        "organisations/edit.html",
        {"organisation": organisation, "form": form, "title": f"Modifier {organisation.name}"},
    )


def people(request, pk: int):
    organisation = selectors.get_visible_organisation(request.user, pk)
    if not perms.can_view_people(request.user, organisation):
        raise Http404("Organisation introuvable.")
    return render(request, "organisations/people.html", _people_context(request, organisation))


def _people_context(request, organisation, form=None):
    can_manage = perms.can_manage_people(request.user, organisation)
    roles = perms.grantable_roles(request.user, organisation) if can_manage else []
    return {
        "organisation": organisation,
        "title": f"Personnes — {organisation.name}",
        "memberships": selectors.people_of(request.user, organisation),
        "invitations": selectors.pending_invitations(request.user, organisation),
        "can_manage_people": can_manage,
        "grantable_roles": {r.value for r in roles},
        "form": form or (InvitationForm(roles=roles) if roles else None),
    }


@require_POST
def invite(request, pk: int):
    organisation = selectors.get_visible_organisation(request.user, pk)
    if not perms.can_manage_people(request.user, organisation):
        raise Http404("Organisation introuvable.")
    form = InvitationForm(request.POST, roles=perms.grantable_roles(request.user, organisation))
    if form.is_valid():
        try:
            invitation = services.invitation_create(
                actor=request.user,
                organisation=organisation,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                f"Invitation envoyée à {invitation.email}. Le lien est valable "
                f"{(invitation.expires_at - invitation.created_at).days} jours.",
            )
            if request.htmx:
                form = None
            else:
                return redirect("organisations:people", pk=organisation.pk)
    context = _people_context(request, organisation, form=form)
    if request.htmx:
        return render(request, "organisations/includes/people_panel.html", context)
    return render(
        request, "organisations/people.html", context, status=200 if form is None else 400
    )


@require_POST
def membership_end(request, pk: int):
    membership = selectors.get_manageable_membership(request.user, pk)
    try:
        services.membership_end(actor=request.user, membership=membership)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Le rôle de {membership.user} a pris fin.")
    return redirect("organisations:people", pk=membership.organisation_id)


@require_POST
def invitation_resend(request, pk: int):
    invitation = selectors.get_manageable_invitation(request.user, pk)
    try:
        services.invitation_resend(actor=request.user, invitation=invitation)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Invitation renvoyée à {invitation.email}.")
    return redirect("organisations:people", pk=invitation.organisation_id)


@require_POST
def invitation_revoke(request, pk: int):
    invitation = selectors.get_manageable_invitation(request.user, pk)
    try:
        services.invitation_revoke(actor=request.user, invitation=invitation)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Invitation de {invitation.email} annulée.")
    return redirect("organisations:people", pk=invitation.organisation_id)


@login_not_required
@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    """The signed link from the e-mail. New people choose a password; known people log in first."""
    try:
        invitation = services.invitation_from_token(token)
    except DomainError as exc:
        return render(
            request,
            "organisations/invitation_invalid.html",
            {"message": exc.message, "title": "Invitation"},
            status=400,
        )
    if selectors.account_exists(invitation.email) and not request.user.is_authenticated:
        messages.info(
            request,
            "Un compte existe déjà pour cette adresse : connectez-vous pour accepter l'invitation.",
        )
        return redirect(f"{reverse('account_login')}?next={request.path}")
    form = None
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                membership = services.invitation_accept(token=token, user=request.user)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Vous avez rejoint {membership.organisation.name}.")
                return redirect("organisations:detail", pk=membership.organisation_id)
    else:
        form = AcceptInvitationForm(request.POST or None, email=invitation.email)
        if request.method == "POST" and form.is_valid():
            try:
                membership = services.invitation_accept(
                    token=token,
                    first_name=form.cleaned_data["first_name"],
                    last_name=form.cleaned_data["last_name"],
                    password=form.cleaned_data["password1"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
                # The password was just typed: tell allauth, so that setting up the second
                # factor does not ask for it again ("recent authentication").
                record_authentication(
                    request,
                    membership.user,
                    method="password",
                    email=membership.user.email,
                    reauthenticated=True,
                )
                messages.success(
                    request, f"Bienvenue ! Vous avez rejoint {membership.organisation.name}."
                )
                return redirect("core:home")
    return render(
        request,
        "organisations/invitation_accept.html",
        {"invitation": invitation, "form": form, "title": "Accepter l'invitation"},
        status=400 if form is not None and form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def create(request):
    regions = selectors.creatable_regions(request.user)
    if not regions.exists():
        raise Http404("Création impossible avec votre rôle.")
    form = OrganisationCreateForm(
        request.POST or None,
        kinds=services.CREATABLE_KINDS,
        regions=regions,
        departements=selectors.departements_of(regions),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            organisation = services.organisation_create(
                actor=request.user,
                kind=data["kind"],
                name=data["name"],
                region=data["region"],
                departement=data["departement"],
                commune=data["commune"],
                email=data["email"],
                phone=data["phone"],
                siret=data["siret"],
            )
        except (DomainError, ValidationError) as exc:
            form.add_error(
                getattr(exc, "field", None),
                getattr(exc, "message", None) or "; ".join(exc.messages),
            )
        else:
            messages.success(request, f"{organisation.name} a été créée.")
            return redirect("organisations:detail", pk=organisation.pk)
    return render(
        request,
        "organisations/create.html",
        {"form": form, "title": "Créer une organisation"},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def ght_composition(request, pk: int):
    ght = selectors.get_visible_organisation(request.user, pk)
    if not perms.can_manage_ght_composition(request.user, ght):
        raise Http404("Organisation introuvable.")
    form = FinessLookupForm(request.POST or None)
    if request.method == "POST":
        action = request.POST.get("action", "add")
        try:
            if action == "add":
                if form.is_valid():
                    establishment = selectors.get_visible_establishment_by_finess(
                        request.user, form.cleaned_data["finess"]
                    )
                    services.ght_add_member(
                        actor=request.user, ght=ght, establishment=establishment
                    )
                    messages.success(request, f"{establishment.name} a rejoint le GHT.")
                    return redirect("organisations:ght_composition", pk=ght.pk)
            else:
                establishment = selectors.get_visible_organisation(
                    request.user, request.POST.get("establishment")
                )
                if action == "remove":
                    services.ght_remove_member(
                        actor=request.user, ght=ght, establishment=establishment
                    )
                    messages.success(request, f"{establishment.name} a quitté le GHT.")
                elif action == "support":
                    services.ght_set_support(
                        actor=request.user, ght=ght, establishment=establishment
                    )
                    messages.success(
                        request, f"{establishment.name} est désormais l'établissement support."
                    )
                return redirect("organisations:ght_composition", pk=ght.pk)
        except DomainError as exc:
            form.add_error("finess" if action == "add" else None, exc.message)
    members = (
        selectors.visible_organisations(request.user).filter(ght=ght).select_related("category")
    )
    return render(
        request,
        "organisations/ght_composition.html",
        {
            "ght": ght,
            "members": members,
            "form": form,
            "title": f"Composition — {ght.name}",
        },
        status=400 if form.errors else 200,
    )
