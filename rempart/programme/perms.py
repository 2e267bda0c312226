"""Who may see and change the programme's reference data and a region's calls."""

from django.db.models import Exists, OuterRef, Q

from rempart.core.roles import ROLES, Capability, OrgKind, Role, Scope
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


# --- Applications (files) -------------------------------------------------------------------------
#
# A file is seen by the call region's ARS and CRRC (national observers everywhere) and by the
# people of the organisations it concerns: the applicant itself (GHT, legal entity or
# establishment), each establishment it covers and the legal entities and GHT of those.
# It is prepared by the people holding APPLY_FUNDING in one of those organisations; it is
# decided by the region's ARS (DECIDE_FUNDING); the ARS, the CRRC and the applicant comment.


def _org_q(membership) -> Q:
    """Files that concern the membership's organisation (establishment, legal entity, GHT)."""
    from rempart.programme.models import Application

    org = membership.organisation
    covered = Application.covered_establishments.through.objects.filter(
        application_id=OuterRef("pk")
    )
    if org.kind == OrgKind.ESTABLISHMENT:
        covered = covered.filter(organisation_id=org.pk)
    elif org.kind == OrgKind.LEGAL_ENTITY:
        covered = covered.filter(organisation__legal_entity_id=org.pk)
    elif org.kind == OrgKind.GHT:
        covered = covered.filter(
            Q(organisation__ght_id=org.pk) | Q(organisation__legal_entity__ght_id=org.pk)
        )
    else:
        return Q(pk__in=[])
    return Q(applicant_id=org.pk) | Q(Exists(covered))


def application_q(user, capability: Capability = Capability.VIEW_PROGRAMME) -> Q | None:
    """The files on which the user holds `capability`: a Q on Application, None for every file
    (national roles), an empty match when nothing."""
    clauses = Q(pk__in=[])
    for membership in org_perms.active_memberships(user):
        spec = ROLES[Role(membership.role)]
        if capability not in spec.capabilities:
            continue
        if spec.scope == Scope.NATIONAL:
            return None
        if spec.scope == Scope.REGION:
            clauses |= Q(call__region_id=membership.organisation.region_id)
        else:
            clauses |= _org_q(membership)
    return clauses


def _on_application(user, application, capability: Capability) -> bool:
    from rempart.programme.models import Application

    q = application_q(user, capability)
    if q is None:
        return True
    return Application.objects.filter(q, pk=application.pk).exists()


def can_view_application(user, application) -> bool:
    return _on_application(user, application, Capability.VIEW_PROGRAMME)


def can_edit_application(user, application) -> bool:
    """Prepare the file, declare targets, request payment, file the financial report."""
    return _on_application(user, application, Capability.APPLY_FUNDING)


def can_decide_application(user, application) -> bool:
    regions = programme_regions(user, Capability.DECIDE_FUNDING)
    return regions is None or application.call.region_id in regions


def can_decide_in(user, call: Call) -> bool:
    regions = programme_regions(user, Capability.DECIDE_FUNDING)
    return regions is None or call.region_id in regions


def can_comment_application(user, application) -> bool:
    return _on_application(user, application, Capability.COMMENT_APPLICATIONS)


def can_apply_for(user, organisation) -> bool:
    """Whether the user may open a file in the name of `organisation` (a GHT, legal entity or
    establishment): APPLY_FUNDING in it, in an establishment of it, or in its legal entity."""
    for membership in org_perms.active_memberships(user):
        spec = ROLES[Role(membership.role)]
        if Capability.APPLY_FUNDING not in spec.capabilities:
            continue
        home = membership.organisation
        if home.pk == organisation.pk:
            return True
        if organisation.kind == OrgKind.GHT and (
            home.ght_id == organisation.pk
            or (
                home.kind == OrgKind.ESTABLISHMENT
                and home.legal_entity_id
                and _ej_in_ght(home, organisation)
            )
        ):
            return True
        if organisation.kind == OrgKind.LEGAL_ENTITY and home.legal_entity_id == organisation.pk:
            return True
    return False


def _ej_in_ght(establishment, ght) -> bool:
    from rempart.organisations.models import Organisation

    return Organisation.objects.filter(pk=establishment.legal_entity_id, ght_id=ght.pk).exists()
