"""Who may do what in simulated phishing. Plain functions over the roles table.

* An establishment's director, RSSI and DSI (RUN_PHISHING) run their own organisation's
  campaigns, groups, sending profiles, templates and landing pages, grant and revoke mandates,
  and see every campaign aimed at their organisation — delegated ones included.
* A CRRC's operators and trainers (RUN_DELEGATED_PHISHING, held in the CRRC itself) manage
  their CRRC's profiles, templates (its shared library among them) and landing pages, and run
  campaigns for the establishments that gave their CRRC a mandate valid today. They see the
  mandates their CRRC holds and the campaigns it runs; they pick the establishment's groups
  for a delegated campaign (name and size), never browse their people.
* The region's establishments read and copy the library of their region's CRRC.
* The ARS and everybody else: nothing individual (regional figures come later).
"""

from __future__ import annotations

from django.db.models import Q

from rempart.core.roles import ROLES, Capability, OrgKind, Role
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation

from .models import Campaign, CampaignMode, Mandate

C = Capability


# --- Which organisations the user acts for ------------------------------------------------------


def own_org_q(user) -> Q | None:
    """Establishments (or legal entities) whose phishing the user runs (None: none)."""
    return org_perms.capability_q(user, C.RUN_PHISHING)


def own_org_ids(user) -> set[int]:
    scope = own_org_q(user)
    if scope is None:
        return set()
    return set(Organisation.objects.filter(scope).values_list("pk", flat=True))


def crrc_ids(user) -> set[int]:
    """The CRRCs the user works in with RUN_DELEGATED_PHISHING (a trainer of a provider has the
    capability but no CRRC to run campaigns for)."""
    return {
        m.organisation_id
        for m in org_perms.active_memberships(user)
        if C.RUN_DELEGATED_PHISHING in ROLES[Role(m.role)].capabilities
        and m.organisation.kind == OrgKind.CRRC
    }


def operator_org_ids(user) -> set[int]:
    """Organisations whose phishing resources (profiles, templates, landing pages) the user
    manages: their own establishments and their CRRCs."""
    return own_org_ids(user) | crrc_ids(user)


def library_region_ids(user) -> set[int]:
    """Regions whose CRRC library the user reads: those of their establishments and CRRCs."""
    orgs = Organisation.objects.filter(pk__in=operator_org_ids(user))
    return set(orgs.exclude(region__isnull=True).values_list("region_id", flat=True))


def is_phishing_user(user) -> bool:
    return org_perms.has_capability(user, C.RUN_PHISHING) or bool(crrc_ids(user))


def can_run_for(user, organisation: Organisation) -> bool:
    """Run autonomous campaigns and manage the groups of `organisation`."""
    return organisation.kind in (OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY) and org_perms.can(
        user, C.RUN_PHISHING, organisation
    )


def can_manage_resources_of(user, organisation: Organisation) -> bool:
    """Profiles, templates, landing pages owned by `organisation`."""
    return organisation.pk in crrc_ids(user) or can_run_for(user, organisation)


# --- Mandates -------------------------------------------------------------------------------------


def mandate_q(user) -> Q:
    """Mandates the user sees: given by their establishments, held by their CRRCs."""
    return Q(establishment_id__in=own_org_ids(user)) | Q(crrc_id__in=crrc_ids(user))


def can_manage_mandate(user, mandate: Mandate) -> bool:
    """Grant and revoke: the establishment's side only."""
    return can_run_for(user, mandate.establishment)


def valid_mandate_q(user) -> Q:
    """Mandates valid today that the user may act under (held by their CRRC)."""
    return Q(crrc_id__in=crrc_ids(user))


# --- Campaigns ------------------------------------------------------------------------------------


def campaign_q(user) -> Q:
    """Campaigns aimed at the user's establishments, and those their CRRC runs."""
    return Q(organisation_id__in=own_org_ids(user)) | Q(
        mode=CampaignMode.DELEGATED, operator_id__in=crrc_ids(user)
    )


def can_view_campaign(user, campaign: Campaign) -> bool:
    return campaign.organisation_id in own_org_ids(user) or (
        campaign.mode == CampaignMode.DELEGATED and campaign.operator_id in crrc_ids(user)
    )


def can_edit_campaign(user, campaign: Campaign) -> bool:
    """Autonomous: the establishment. Delegated: the CRRC, while the mandate is valid."""
    if campaign.mode == CampaignMode.AUTONOMOUS:
        return can_run_for(user, campaign.organisation)
    return (
        campaign.operator_id in crrc_ids(user)
        and campaign.mandate is not None
        and campaign.mandate.is_valid()
    )


def can_cancel_campaign(user, campaign: Campaign) -> bool:
    """The operator, and the targeted establishment (it may always stop a delegated one)."""
    return can_edit_campaign(user, campaign) or can_run_for(user, campaign.organisation)


# --- Groups ---------------------------------------------------------------------------------------


def group_q(user) -> Q:
    return Q(organisation_id__in=own_org_ids(user))


def delegated_group_q(user) -> Q:
    """Groups a CRRC may pick (name and size only) for a delegated campaign."""
    establishments = Mandate.objects.valid().filter(crrc_id__in=crrc_ids(user))
    return Q(organisation_id__in=establishments.values("establishment_id"))


# --- Templates ------------------------------------------------------------------------------------


def template_q(user) -> Q:
    """Templates the user sees: their organisations' own, and the library of their regions."""
    return Q(organisation_id__in=operator_org_ids(user)) | Q(
        library=True,
        organisation__kind=OrgKind.CRRC,
        organisation__region_id__in=library_region_ids(user),
    )


def can_edit_template(user, template) -> bool:
    return template.organisation_id in operator_org_ids(user) and (
        not template.library or template.organisation_id in crrc_ids(user)
    )
