"""Who may see and do what in incident assistance. Plain functions over the roles table; the
querysets in `selectors` use the `*_q` filters, the detail checks the same rules on one row.

* **Alerts** are seen by their reporter, by the people holding VIEW_INCIDENTS on the
  organisation concerned (its director, RSSI, DSI; its GHT's coordinator; the region's CRRC
  operators, who run the hotline) and by the on-call experts paged for them.
* **Cases** are seen by the victim's VIEW_INCIDENTS holders and the region's CRRC operators
  (level « pilotage »), by their lead, and by whoever was given access on that case: an
  on-call or provider expert assigned to it, the ARS invited, a helping establishment — at the
  level chosen. Nobody else, not even a national observer: they see figures, not cases.
* Figures (regional dashboard) need VIEW_INCIDENT_STATS; the rota MANAGE_ONCALL on the CRRC.
* ORSAN cyber: the ARS activates (ACTIVATE_CRISIS), the ARS and the CRRC mobilise
  (MOBILISE_RESOURCES), organisations offer what they can lend (OFFER_RESOURCES) and a
  structure named in the activation asks for help (VIEW_INCIDENTS on it).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from rempart.core.roles import ROLES, Capability, Role
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation

from .models import AccessLevel, Alert, Case, CaseAccess, CrisisActivation, Page, PooledResource

C = Capability
LEVEL_RANK = {AccessLevel.READ: 1, AccessLevel.CONTRIBUTE: 2, AccessLevel.MANAGE: 3}
# Roles whose holders act for their organisation when a case is shared with it (not its staff).
_SHARE_CAPABILITIES = frozenset({C.VIEW_INCIDENTS, C.VIEW_INCIDENT_STATS, C.HANDLE_INCIDENTS})


def _organisations_q(user, capability: Capability, prefix: str = "organisation") -> Q | None:
    """Rows whose `prefix` organisation the user holds `capability` on (None: nowhere)."""
    scope = org_perms.capability_q(user, capability)
    if scope is None:
        return None
    if not scope:
        return Q()
    return Q(**{f"{prefix}__in": Organisation.objects.filter(scope).values("pk")})


def shared_with_org_ids(user) -> list[int]:
    """Organisations through which a case shared with an organisation reaches the user."""
    return [
        m.organisation_id
        for m in org_perms.active_memberships(user)
        if ROLES[Role(m.role)].capabilities & _SHARE_CAPABILITIES
    ]


# --- Alerts -------------------------------------------------------------------------------------


def alert_q(user) -> Q:
    """A filter on Alert (no join: never duplicates rows)."""
    paged = Page.objects.filter(alert_id=OuterRef("pk"), recipient_id=user.pk)
    clauses = Q(reporter_id=user.pk) | Q(acknowledged_by_id=user.pk) | Q(Exists(paged))
    viewed = _organisations_q(user, C.VIEW_INCIDENTS)
    if viewed is not None:
        clauses |= viewed
    return clauses


def can_view_alert(user, alert: Alert) -> bool:
    return Alert.objects.filter(alert_q(user), pk=alert.pk).exists()


def can_report_for(user, organisation: Organisation) -> bool:
    return org_perms.can(user, C.REPORT_INCIDENT, organisation)


def can_handle_alert(user, alert: Alert) -> bool:
    """Acknowledge, qualify, open a case from it or link it to one: the region's CRRC
    operators, the on-call experts paged for it, the organisation's incident managers."""
    if org_perms.can(user, C.VIEW_INCIDENTS, alert.organisation):
        return True
    if not org_perms.has_capability(user, C.HANDLE_INCIDENTS):
        return False
    return alert.pages.filter(recipient_id=user.pk).exists() or alert.acknowledged_by_id == user.pk


# --- Cases --------------------------------------------------------------------------------------


def case_q(user) -> Q:
    """A filter on Case (no join: never duplicates rows)."""
    granted = CaseAccess.objects.filter(case_id=OuterRef("pk")).filter(
        Q(person_id=user.pk) | Q(organisation_id__in=shared_with_org_ids(user))
    )
    clauses = Q(lead_id=user.pk) | Q(Exists(granted))
    viewed = _organisations_q(user, C.VIEW_INCIDENTS)
    if viewed is not None:
        clauses |= viewed
    return clauses


def case_access_level(user, case: Case) -> AccessLevel | None:
    """The highest level the user holds on the case, None when they may not see it."""
    if org_perms.can(user, C.VIEW_INCIDENTS, case.organisation) or case.lead_id == user.pk:
        return AccessLevel.MANAGE
    grants = case.accesses.filter(
        Q(person_id=user.pk) | Q(organisation_id__in=shared_with_org_ids(user))
    ).values_list("level", flat=True)
    levels = [AccessLevel(level) for level in grants]
    return max(levels, key=LEVEL_RANK.__getitem__) if levels else None


def has_level(user, case: Case, wanted: AccessLevel) -> bool:
    level = case_access_level(user, case)
    return level is not None and LEVEL_RANK[level] >= LEVEL_RANK[wanted]


def can_view_case(user, case: Case) -> bool:
    return case_access_level(user, case) is not None


def can_contribute(user, case: Case) -> bool:
    """Notes, timeline, tasks, indicators, assets, evidence."""
    return has_level(user, case, AccessLevel.CONTRIBUTE)


def can_manage_case(user, case: Case) -> bool:
    """State, outcome, lead, sharing, closure, the CERT Santé declaration."""
    return has_level(user, case, AccessLevel.MANAGE)


def can_open_case_for(user, organisation: Organisation) -> bool:
    return org_perms.can(user, C.VIEW_INCIDENTS, organisation) or org_perms.has_capability(
        user, C.HANDLE_INCIDENTS
    )


# --- Rota, figures ------------------------------------------------------------------------------


def can_manage_oncall(user, crrc: Organisation) -> bool:
    return org_perms.can(user, C.MANAGE_ONCALL, crrc)


def stats_regions(user) -> set[int] | None:
    """Regions whose incident figures the user sees (None: all; empty: none)."""
    return org_perms.capability_regions(user, C.VIEW_INCIDENT_STATS, whole_region_only=True)


def can_view_stats(user) -> bool:
    regions = stats_regions(user)
    return regions is None or bool(regions)


# --- ORSAN cyber ------------------------------------------------------------------------------------

_ORSAN_CAPABILITIES = (
    C.ACTIVATE_CRISIS,
    C.MOBILISE_RESOURCES,
    C.OFFER_RESOURCES,
    C.VIEW_INCIDENTS,
)


def orsan_regions(user) -> set[int] | None:
    """Regions whose activations and pooled resources the user sees (None: all)."""
    regions: set[int] = set()
    for capability in _ORSAN_CAPABILITIES:
        found = org_perms.capability_regions(user, capability)
        if found is None:
            return None
        regions |= found
    return regions


def can_activate_in(user, region_id: int) -> bool:
    regions = org_perms.capability_regions(user, C.ACTIVATE_CRISIS, whole_region_only=True)
    return regions is None or region_id in regions


def can_mobilise_in(user, region_id: int) -> bool:
    regions = org_perms.capability_regions(user, C.MOBILISE_RESOURCES, whole_region_only=True)
    return regions is None or region_id in regions


def can_offer_for(user, organisation: Organisation) -> bool:
    return org_perms.can(user, C.OFFER_RESOURCES, organisation)


def can_edit_resource(user, resource: PooledResource) -> bool:
    return can_offer_for(user, resource.organisation)


def can_request_aid(user, activation: CrisisActivation, organisation: Organisation) -> bool:
    """A structure named in a running activation asks, through its incident managers."""
    return (
        activation.ended_at is None
        and activation.affected.filter(pk=organisation.pk).exists()
        and org_perms.can(user, C.VIEW_INCIDENTS, organisation)
    )
