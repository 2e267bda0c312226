"""Who may see and change the programme's reference data and a region's calls."""

from rempart.core.roles import ROLES, Capability, Role, Scope
from rempart.organisations import perms as org_perms

from .models import Call


def programme_regions(user, capability: Capability = Capability.VIEW_PROGRAMME) -> set[int] | None:
    """Regions whose calls the user may see (or manage): None means every region.

    Region- and national-scope roles reach their region (all regions); the others the regions
    of the organisations they belong to (an establishment sees the calls of its region)."""
    return org_perms.capability_regions(user, capability)


def can_view_programme(user) -> bool:
    return org_perms.has_capability(user, Capability.VIEW_PROGRAMME)


def can_edit_programme_data(user) -> bool:
    return org_perms.has_capability(user, Capability.EDIT_PROGRAMME_DATA)


def can_manage_calls_in(user, region_id: int) -> bool:
    regions = programme_regions(user, Capability.MANAGE_CALLS)
    return regions is None or region_id in regions


def can_manage_call(user, call: Call) -> bool:
    return can_manage_calls_in(user, call.region_id)


def sees_all_applicants(user, call: Call) -> bool:
    """Region-wide (ARS, CRRC) and national viewers see every applicant of a call;
    establishment and GHT people only the file that covers them."""
    for membership in org_perms.active_memberships(user):
        spec = ROLES[Role(membership.role)]
        if Capability.VIEW_PROGRAMME not in spec.capabilities:
            continue
        if spec.scope == Scope.NATIONAL:
            return True
        if spec.scope == Scope.REGION and membership.organisation.region_id == call.region_id:
            return True
    return False
