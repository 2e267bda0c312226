"""Pages of simulated phishing (mounted at /hameconnage/): campaigns, recipient groups and their
CSV import, templates (with the regional library), landing pages, sending profiles, mandates.

Thin views: reads through `selectors` (a foreign object is a 403 with the reason, a missing one
a 404), writes through `services` (POST only), errors shown on the form in French."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rempart.core import webflow
from rempart.core.errors import DomainError

from . import perms, selectors, sending, services, templating
from .forms import (
    CampaignForm,
    CampaignStartForm,
    ConfirmForm,
    GroupForm,
    GroupRenameForm,
    ImportForm,
    LandingForm,
    MandateForm,
    ProfileForm,
    TemplateForm,
)
from .models import CampaignMode

PAGE_SIZE = 50


def _form_page(request, form, *, title, back, intro="", status=200, submit="Enregistrer"):
    return render(
        request,
        "phishing/form.html",
        {
            "title": title,
            "form": form,
            "back": back,
            "intro": intro,
            "submit": submit,
            "multipart": "file" in form.fields,
        },
        status=status,
    )


def _organisation(form):
    return form.cleaned_data["organisation"]


# --- Campaigns ------------------------------------------------------------------------------------


@require_GET
def campaign_list(request):
    selectors.require_phishing_user(request.user)
    campaigns = selectors.campaigns_visible_to(request.user).order_by("-created_at", "-pk")
    page = Paginator(campaigns, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "phishing/campaign_list.html",
        {
            "title": "Campagnes d'hameçonnage simulé",
            "page": page,
            "may_create": selectors.own_organisations(request.user).exists()
            or selectors.usable_mandates(request.user).exists(),
        },
    )


@require_http_methods(["GET", "POST"])
def campaign_new(request):
    selectors.require_phishing_user(request.user)
    organisations = list(selectors.own_organisations(request.user))
    mandates = list(selectors.usable_mandates(request.user))
    if not organisations and not mandates:
        raise PermissionDenied(
            "Aucune campagne possible : votre CRRC n'a pas de mandat valide d'un établissement."
        )
    form = CampaignStartForm(
        webflow.posted(request), organisations=organisations, mandates=mandates
    )

    def create():
        target = form.cleaned_data["target"]
        return services.campaign_create(
            actor=request.user,
            organisation=form.organisations.get(target),
            mandate=form.mandates.get(target),
            name=form.cleaned_data["name"],
        )

    done, status = webflow.submit(
        request,
        form,
        create,
        success="Campagne créée en brouillon : complétez-la.",
        then=lambda campaign: ("phishing:campaign_edit", campaign.pk),
    )
    return done or _form_page(
        request,
        form,
        title="Nouvelle campagne",
        back="phishing:campaign_list",
        status=status,
        submit="Créer le brouillon",
    )


@require_GET
def campaign_detail(request, pk: int):
    campaign = selectors.get_campaign(request.user, pk)
    can_edit = perms.can_edit_campaign(request.user, campaign)
    return render(
        request,
        "phishing/campaign_detail.html",
        {
            "title": campaign.name,
            "campaign": campaign,
            "templates": campaign.templates.all(),
            "groups": campaign.groups.all(),
            "can_edit": can_edit and campaign.is_editable,
            "can_cancel": perms.can_cancel_campaign(request.user, campaign)
            and campaign.status not in ("done", "cancelled"),
            "problems": services.launch_problems(campaign) if campaign.is_editable else [],
            "delegated": campaign.mode == CampaignMode.DELEGATED,
            **sending.sending_panel(request.user, campaign),
        },
    )


def _campaign_form(user, campaign, data=None):
    operator = campaign.operator
    return CampaignForm(
        data,
        instance=campaign,
        templates=selectors.templates_visible_to(user).filter(organisation=operator),
        landings=selectors.landings_visible_to(user).filter(organisation=operator),
        profiles=selectors.profiles_visible_to(user).filter(organisation=operator),
        groups=selectors.campaign_group_choices(user, campaign),
    )


@require_http_methods(["GET", "POST"])
def campaign_edit(request, pk: int):
    campaign = selectors.get_editable_campaign(request.user, pk)
    if not campaign.is_editable:
        raise PermissionDenied("Seule une campagne en brouillon se modifie.")
    form = _campaign_form(request.user, campaign, webflow.posted(request))

    def update():
        data = dict(form.cleaned_data)
        return services.campaign_update(
            actor=request.user,
            campaign=campaign,
            templates=data.pop("templates"),
            groups=data.pop("groups"),
            **data,
        )

    done, status = webflow.submit(
        request,
        form,
        update,
        success="Campagne enregistrée.",
        then=lambda saved: ("phishing:campaign_detail", saved.pk),
    )
    return done or render(
        request,
        "phishing/campaign_form.html",
        {"title": f"Modifier « {campaign.name} »", "campaign": campaign, "form": form},
        status=status,
    )


@require_POST
def campaign_schedule(request, pk: int):
    campaign = selectors.get_editable_campaign(request.user, pk)
    try:
        done = services.campaign_schedule(actor=request.user, campaign=campaign)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Campagne programmée pour {done.recipients} destinataires.")
    return redirect("phishing:campaign_detail", pk=campaign.pk)


@require_POST
def campaign_cancel(request, pk: int):
    campaign = selectors.get_campaign(request.user, pk)
    try:
        services.campaign_cancel(actor=request.user, campaign=campaign)
    except DomainError as exc:
        if exc.code == "forbidden":
            raise PermissionDenied(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, "Campagne annulée : plus rien ne sera envoyé.")
    return redirect("phishing:campaign_detail", pk=campaign.pk)


# --- Groups and import ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def group_list(request):
    selectors.require_phishing_user(request.user)
    organisations = selectors.own_organisations(request.user)
    form = (
        GroupForm(webflow.posted(request), organisations=organisations) if organisations else None
    )
    if form is None:
        if request.method == "POST":
            raise PermissionDenied("Seul un établissement gère ses groupes de destinataires.")
        done, status = None, 200
    else:
        done, status = webflow.submit(
            request,
            form,
            lambda: services.group_create(
                actor=request.user,
                organisation=_organisation(form),
                name=form.cleaned_data["name"],
            ),
            success="Groupe créé : importez ses destinataires.",
            then=lambda group: ("phishing:group_import", group.pk),
        )
    return done or render(
        request,
        "phishing/group_list.html",
        {
            "title": "Groupes de destinataires",
            "groups": selectors.groups_visible_to(request.user).order_by("name"),
            "form": form,
        },
        status=status,
    )


@require_GET
def group_detail(request, pk: int):
    group = selectors.get_group(request.user, pk)
    search = request.GET.get("q", "").strip()[:100]
    recipients = selectors.group_recipients(group, search)
    page = Paginator(recipients, PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    return render(
        request,
        "phishing/group_detail.html",
        {
            "title": f"Groupe « {group.name} »",
            "group": group,
            "page": page,
            "search": search,
            "querystring": querystring.urlencode(),
            "can_manage": perms.can_run_for(request.user, group.organisation),
        },
    )


def _group_of_establishment(request, pk: int):
    """The group, for someone who manages the establishment's groups (the CRRC sees the
    groups of delegated campaigns but does not change them)."""
    group = selectors.get_group(request.user, pk)
    if not perms.can_run_for(request.user, group.organisation):
        raise PermissionDenied("Seul l'établissement gère ses groupes de destinataires.")
    return group


@require_http_methods(["GET", "POST"])
def group_rename(request, pk: int):
    group = _group_of_establishment(request, pk)
    form = GroupRenameForm(webflow.posted(request), initial={"name": group.name})
    done, status = webflow.submit(
        request,
        form,
        lambda: services.group_rename(
            actor=request.user, group=group, name=form.cleaned_data["name"]
        ),
        success="Groupe renommé.",
        then=lambda renamed: ("phishing:group_detail", renamed.pk),
    )
    return done or _form_page(
        request,
        form,
        title=f"Renommer le groupe « {group.name} »",
        back="phishing:group_list",
        status=status,
    )


@require_http_methods(["GET", "POST"])
def group_delete(request, pk: int):
    group = _group_of_establishment(request, pk)
    form = ConfirmForm(webflow.posted(request))
    done, status = webflow.submit(
        request,
        form,
        lambda: services.group_delete(actor=request.user, group=group),
        success=f"Groupe « {group.name} » supprimé, avec la liste de ses destinataires.",
        then=lambda _none: ("phishing:group_list",),
    )
    if done:
        return done
    count = group.recipients.count()
    return _form_page(
        request,
        form,
        title=f"Supprimer le groupe « {group.name} »",
        back="phishing:group_list",
        intro=f"Le groupe et la liste de ses {count} destinataire(s) seront supprimés. Les "
        "campagnes déjà programmées ou terminées gardent leurs propres destinataires et leurs "
        "résultats ; une campagne en préparation perd ce groupe.",
        status=status,
        submit="Supprimer le groupe",
    )


@require_POST
def recipient_remove(request, pk: int, recipient_pk: int):
    group = _group_of_establishment(request, pk)
    try:
        services.recipient_remove(actor=request.user, group=group, recipient_id=recipient_pk)
    except DomainError as exc:
        webflow.refuse_forbidden(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, "Personne retirée du groupe.")
    return redirect("phishing:group_detail", pk=group.pk)


@require_http_methods(["GET", "POST"])
def group_import(request, pk: int):
    group = selectors.get_group(request.user, pk)
    form = ImportForm(webflow.posted(request), request.FILES if request.method == "POST" else None)

    def prepare():
        upload = form.cleaned_data["file"]
        return services.recipient_import_prepare(
            actor=request.user, group=group, filename=upload.name, content=upload.read()
        )

    done, status = webflow.submit(
        request,
        form,
        prepare,
        then=lambda pending: ("phishing:import_report", group.pk, pending.pk),
    )
    return done or _form_page(
        request,
        form,
        title=f"Importer des destinataires dans « {group.name} »",
        back="phishing:group_list",
        intro="Rien n'est importé avant votre confirmation : vous verrez d'abord les lignes "
        "valides et le détail des lignes rejetées. Une personne déjà présente (même e-mail) "
        "est mise à jour, jamais dupliquée.",
        status=status,
        submit="Analyser le fichier",
    )


@require_http_methods(["GET", "POST"])
def import_report(request, pk: int, import_pk: int):
    group = selectors.get_group(request.user, pk)
    pending = selectors.get_pending_import(request.user, group, import_pk)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "cancel":
                services.recipient_import_cancel(actor=request.user, upload=pending)
                messages.info(request, "Import abandonné : rien n'a été importé.")
            else:
                done = services.recipient_import_confirm(actor=request.user, upload=pending)
                messages.success(
                    request,
                    f"{done.created_count} destinataires ajoutés, {done.updated_count} mis à jour.",
                )
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("phishing:group_detail", pk=group.pk)
    return render(
        request,
        "phishing/import_report.html",
        {
            "title": f"Import dans « {group.name} » : vérification",
            "group": group,
            "upload": pending,
            "valid": len(pending.rows),
            "preview": pending.rows[:20],
        },
    )


# --- Templates ------------------------------------------------------------------------------------


@require_GET
def template_list(request):
    selectors.require_phishing_user(request.user)
    visible = selectors.templates_visible_to(request.user)
    own = perms.operator_org_ids(request.user)
    return render(
        request,
        "phishing/template_list.html",
        {
            "title": "Modèles de message",
            "own": visible.filter(organisation_id__in=own).order_by("name"),
            "library": visible.filter(library=True).exclude(organisation_id__in=own),
            "may_create": bool(own),
        },
    )


@require_http_methods(["GET", "POST"])
def template_new(request):
    selectors.require_phishing_user(request.user)
    organisations = selectors.operator_organisations(request.user)
    can_share = bool(perms.crrc_ids(request.user))
    form = TemplateForm(webflow.posted(request), organisations=organisations, can_share=can_share)

    def create():
        data = dict(form.cleaned_data)
        return services.template_create(
            actor=request.user, organisation=data.pop("organisation"), **data
        )

    done, status = webflow.submit(
        request,
        form,
        create,
        success="Modèle enregistré.",
        then=lambda template: ("phishing:template_detail", template.pk),
    )
    return done or _form_page(
        request,
        form,
        title="Nouveau modèle de message",
        back="phishing:template_list",
        status=status,
    )


@require_GET
def template_detail(request, pk: int):
    template = selectors.get_template(request.user, pk)
    sample = dict(templating.SAMPLE_VALUES)
    return render(
        request,
        "phishing/template_detail.html",
        {
            "title": f"Modèle « {template.name} »",
            "template": template,
            "subject": templating.render(template.subject, sample),
            "html_preview": templating.render(template.html_body, sample, html=True),
            "text_preview": templating.render(template.text_body, sample),
            "can_edit": perms.can_edit_template(request.user, template),
            "copy_targets": selectors.operator_organisations(request.user),
        },
    )


@require_http_methods(["GET", "POST"])
def template_edit(request, pk: int):
    template = selectors.get_editable_template(request.user, pk)
    form = TemplateForm(webflow.posted(request), instance=template)
    done, status = webflow.submit(
        request,
        form,
        lambda: services.template_update(
            actor=request.user, template=template, **form.cleaned_data
        ),
        success="Modèle enregistré.",
        then=lambda saved: ("phishing:template_detail", saved.pk),
    )
    return done or _form_page(
        request,
        form,
        title=f"Modifier « {template.name} »",
        back="phishing:template_list",
        status=status,
    )


@require_POST
def template_copy(request, pk: int):
    template = selectors.get_template(request.user, pk)
    organisations = {o.pk: o for o in selectors.operator_organisations(request.user)}
    try:
        target = organisations[int(request.POST.get("organisation", ""))]
    except (KeyError, ValueError) as exc:
        raise PermissionDenied("Choisissez une de vos structures pour y copier le modèle.") from exc
    try:
        copy = services.template_copy(actor=request.user, template=template, organisation=target)
    except DomainError as exc:
        raise PermissionDenied(exc.message) from exc
    messages.success(request, f"Modèle copié : « {copy.name} ». Adaptez-le à votre structure.")
    return redirect("phishing:template_edit", pk=copy.pk)


# --- Landing pages ------------------------------------------------------------------------------


@require_GET
def landing_list(request):
    selectors.require_phishing_user(request.user)
    return render(
        request,
        "phishing/landing_list.html",
        {
            "title": "Pages d'atterrissage",
            "landings": selectors.landings_visible_to(request.user),
        },
    )


def _landing_data(form) -> dict:
    data = dict(form.cleaned_data)
    data["fields"] = data.pop("fields_text")
    data.pop("organisation", None)
    return data


@require_http_methods(["GET", "POST"])
def landing_new(request):
    selectors.require_phishing_user(request.user)
    form = LandingForm(
        webflow.posted(request), organisations=selectors.operator_organisations(request.user)
    )
    done, status = webflow.submit(
        request,
        form,
        lambda: services.landing_create(
            actor=request.user, organisation=_organisation(form), **_landing_data(form)
        ),
        success="Page d'atterrissage enregistrée.",
        then=lambda _landing: ("phishing:landing_list",),
    )
    return done or _form_page(
        request,
        form,
        title="Nouvelle page d'atterrissage",
        back="phishing:landing_list",
        status=status,
    )


@require_http_methods(["GET", "POST"])
def landing_edit(request, pk: int):
    landing = selectors.get_landing(request.user, pk)
    form = LandingForm(webflow.posted(request), instance=landing)
    done, status = webflow.submit(
        request,
        form,
        lambda: services.landing_update(actor=request.user, landing=landing, **_landing_data(form)),
        success="Page d'atterrissage enregistrée.",
        then=lambda _landing: ("phishing:landing_list",),
    )
    return done or _form_page(
        request,
        form,
        title=f"Modifier « {landing.name} »",
        back="phishing:landing_list",
        status=status,
    )


# --- Sending profiles ---------------------------------------------------------------------------


@require_GET
def profile_list(request):
    selectors.require_phishing_user(request.user)
    return render(
        request,
        "phishing/profile_list.html",
        {"title": "Profils d'envoi", "profiles": selectors.profiles_visible_to(request.user)},
    )


@require_http_methods(["GET", "POST"])
def profile_new(request):
    selectors.require_phishing_user(request.user)
    form = ProfileForm(
        webflow.posted(request), organisations=selectors.operator_organisations(request.user)
    )

    def create():
        data = dict(form.cleaned_data)
        return services.profile_create(
            actor=request.user, organisation=data.pop("organisation"), **data
        )

    done, status = webflow.submit(
        request,
        form,
        create,
        success="Profil d'envoi enregistré.",
        then=lambda _profile: ("phishing:profile_list",),
    )
    return done or _form_page(
        request, form, title="Nouveau profil d'envoi", back="phishing:profile_list", status=status
    )


@require_http_methods(["GET", "POST"])
def profile_edit(request, pk: int):
    profile = selectors.get_profile(request.user, pk)
    form = ProfileForm(webflow.posted(request), instance=profile, editing=True)
    done, status = webflow.submit(
        request,
        form,
        lambda: services.profile_update(actor=request.user, profile=profile, **form.cleaned_data),
        success="Profil d'envoi enregistré.",
        then=lambda _profile: ("phishing:profile_list",),
    )
    return done or _form_page(
        request,
        form,
        title=f"Modifier « {profile.name} »",
        back="phishing:profile_list",
        status=status,
    )


# --- Mandates -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def mandate_list(request):
    selectors.require_phishing_user(request.user)
    organisations = selectors.own_organisations(request.user)
    first = organisations.first()
    form = None
    if first is not None:
        form = MandateForm(
            webflow.posted(request),
            organisations=organisations,
            crrcs=selectors.crrcs_of_region(first),
        )
    if form is None:
        if request.method == "POST":
            raise PermissionDenied("Seul un établissement donne un mandat à son CRRC.")
        done, status = None, 200
    else:

        def grant():
            data = dict(form.cleaned_data)
            return services.mandate_grant(
                actor=request.user, establishment=data.pop("organisation"), **data
            )

        done, status = webflow.submit(
            request,
            form,
            grant,
            success="Mandat enregistré : le CRRC peut mener vos campagnes.",
            then=lambda _mandate: ("phishing:mandate_list",),
        )
    if done:
        return done
    mandates = selectors.mandates_visible_to(request.user)
    return render(
        request,
        "phishing/mandate_list.html",
        {
            "title": "Mandats de campagnes déléguées",
            "mandates": [
                (m, perms.can_manage_mandate(request.user, m) and m.revoked_at is None)
                for m in mandates
            ],
            "form": form,
        },
        status=status,
    )


@require_POST
def mandate_revoke(request, pk: int):
    mandate = selectors.get_mandate(request.user, pk)
    try:
        services.mandate_revoke(actor=request.user, mandate=mandate)
    except DomainError as exc:
        if exc.code == "forbidden":
            raise PermissionDenied(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, "Mandat révoqué : ses campagnes en cours sont annulées.")
    return redirect("phishing:mandate_list")
