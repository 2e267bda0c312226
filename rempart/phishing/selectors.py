"""Reads of simulated phishing, scoped by the acting user (rules in `perms`).

An object outside the user's scope is a 403 with the reason; an id that does not exist a 404.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from rempart.organisations.models import Organisation

from . import perms
from .models import (
    Campaign,
    EmailTemplate,
    ImportStatus,
    LandingPage,
    Mandate,
    Recipient,
    RecipientGroup,
    RecipientImport,
    SendingProfile,
)

NO_PHISHING = (
    "L'hameçonnage simulé est réservé à la direction, au RSSI et au DSI d'un établissement, "
    "et aux opérateurs et formateurs du CRRC."
)
NO_ACCESS = (
    "Vous n'avez pas accès à cet élément : il appartient à une autre structure. Demandez à "
    "son RSSI ou à votre CRRC."
)


def _pk(pk) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError) as exc:
        raise Http404("Objet introuvable.") from exc


def get_visible(model, visible: QuerySet, pk, missing: str):
    """The object `pk` among `visible`; 403 with the reason when it exists but belongs to
    another organisation, 404 when it does not exist."""
    pk = _pk(pk)
    found = visible.filter(pk=pk).first()
    if found is not None:
        return found
    if model.objects.filter(pk=pk).exists():
        raise PermissionDenied(NO_ACCESS)
    raise Http404(missing)


def require_phishing_user(user) -> None:
    if not perms.is_phishing_user(user):
        raise PermissionDenied(NO_PHISHING)


# --- Organisations ----------------------------------------------------------------------------


def own_organisations(user) -> QuerySet[Organisation]:
    """Establishments whose campaigns the user runs (autonomous mode)."""
    return Organisation.objects.filter(pk__in=perms.own_org_ids(user)).order_by("name")


def operator_organisations(user) -> QuerySet[Organisation]:
    """Organisations whose profiles, templates and landing pages the user manages."""
    return Organisation.objects.filter(pk__in=perms.operator_org_ids(user)).order_by("name")


def crrcs_of_region(organisation: Organisation) -> QuerySet[Organisation]:
    """The CRRCs an establishment may give a mandate to."""
    from rempart.core.roles import OrgKind

    return Organisation.objects.filter(
        kind=OrgKind.CRRC, region_id=organisation.region_id
    ).order_by("name")


# --- Profiles, templates, landing pages -----------------------------------------------------


def profiles_visible_to(user) -> QuerySet[SendingProfile]:
    return SendingProfile.objects.filter(
        organisation_id__in=perms.operator_org_ids(user)
    ).select_related("organisation")


def get_profile(user, pk) -> SendingProfile:
    return get_visible(SendingProfile, profiles_visible_to(user), pk, "Profil d'envoi introuvable.")


def templates_visible_to(user) -> QuerySet[EmailTemplate]:
    return EmailTemplate.objects.filter(perms.template_q(user)).select_related("organisation")


def get_template(user, pk) -> EmailTemplate:
    return get_visible(EmailTemplate, templates_visible_to(user), pk, "Modèle introuvable.")


def get_editable_template(user, pk) -> EmailTemplate:
    template = get_template(user, pk)
    if not perms.can_edit_template(user, template):
        raise PermissionDenied(
            "Ce modèle de la bibliothèque régionale est en lecture seule : copiez-le pour "
            "l'adapter à votre établissement."
        )
    return template


def landings_visible_to(user) -> QuerySet[LandingPage]:
    return LandingPage.objects.filter(
        organisation_id__in=perms.operator_org_ids(user)
    ).select_related("organisation")


def get_landing(user, pk) -> LandingPage:
    return get_visible(
        LandingPage, landings_visible_to(user), pk, "Page d'atterrissage introuvable."
    )


# --- Groups and imports -------------------------------------------------------------------------


def groups_visible_to(user) -> QuerySet[RecipientGroup]:
    return (
        RecipientGroup.objects.filter(perms.group_q(user))
        .select_related("organisation")
        .annotate(size=Count("recipients"))
    )


def get_group(user, pk) -> RecipientGroup:
    return get_visible(RecipientGroup, groups_visible_to(user), pk, "Groupe introuvable.")


def group_recipients(group: RecipientGroup, search: str = "") -> QuerySet[Recipient]:
    """The people of a group the caller already obtained through `get_group`."""
    recipients = group.recipients.all()
    if search:
        recipients = recipients.filter(
            Q(email__icontains=search)
            | Q(last_name__icontains=search)
            | Q(first_name__icontains=search)
            | Q(department__icontains=search)
        )
    return recipients.order_by("email", "pk")


def get_pending_import(user, group: RecipientGroup, pk) -> RecipientImport:
    """An import waiting for confirmation: only its uploader sees it."""
    visible = RecipientImport.objects.filter(
        group=group, uploaded_by_id=user.pk, status=ImportStatus.PENDING
    )
    return get_visible(RecipientImport, visible, pk, "Import introuvable.")


def campaign_group_choices(user, campaign: Campaign) -> QuerySet[RecipientGroup]:
    """Groups that may be targeted by `campaign`: the target organisation's."""
    return (
        RecipientGroup.objects.filter(organisation_id=campaign.organisation_id)
        .annotate(size=Count("recipients"))
        .order_by("name")
    )


# --- Mandates ---------------------------------------------------------------------------------


def mandates_visible_to(user) -> QuerySet[Mandate]:
    return Mandate.objects.filter(perms.mandate_q(user)).select_related(
        "establishment", "crrc", "signed_by", "revoked_by"
    )


def get_mandate(user, pk) -> Mandate:
    return get_visible(Mandate, mandates_visible_to(user), pk, "Mandat introuvable.")


def usable_mandates(user) -> QuerySet[Mandate]:
    """Mandates valid today under which the user may run a delegated campaign."""
    return (
        Mandate.objects.valid()
        .filter(perms.valid_mandate_q(user))
        .select_related("establishment", "crrc")
    )


# --- Campaigns --------------------------------------------------------------------------------


def no_campaigns() -> QuerySet[Campaign]:
    return Campaign.objects.none()


def campaigns_visible_to(user) -> QuerySet[Campaign]:
    return (
        Campaign.objects.filter(perms.campaign_q(user))
        .select_related("organisation", "operator", "mandate")
        .annotate(recipient_count=Count("recipients"))
    )


def get_campaign(user, pk) -> Campaign:
    return get_visible(Campaign, campaigns_visible_to(user), pk, "Campagne introuvable.")


def get_editable_campaign(user, pk) -> Campaign:
    campaign = get_campaign(user, pk)
    if not perms.can_edit_campaign(user, campaign):
        raise PermissionDenied(
            "Vous voyez cette campagne mais ne la menez pas : une campagne déléguée se modifie "
            "par le CRRC, tant que le mandat est valide."
        )
    return campaign
