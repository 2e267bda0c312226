"""Who may do what, on which organisation. Plain functions over the roles table.

`scope_q` (for querysets) and `covers` (for one object) express the same rule twice, so
lists and detail pages can never disagree; tests check they agree on every role.
"""

from django.db.models import Q

from rempart.core.roles import ROLES, Capability, OrgKind, Role, Scope

from .models import Membership, Organisation

# Capabilities an establishment role may use on its GHT's page (shared data, read only).
GHT_SHARED_CAPABILITIES = frozenset({Capability.VIEW_DIRECTORY})


def active_memberships(user) -> list[Membership]:
    """The user's memberships valid today, cached on the user object for the request."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cached = getattr(user, "_rempart_memberships", None)
    if cached is None:
        cached = list(Membership.objects.active().filter(user=user).select_related("organisation"))
        user._rempart_memberships = cached
    return cached


def forget_memberships(user) -> None:
    user.__dict__.pop("_rempart_memberships", None)


def _grants(membership: Membership, capability: Capability) -> bool:
    return capability in ROLES[Role(membership.role)].capabilities


def scope_q(membership: Membership, capability: Capability) -> Q | None:
    """Organisations on which `membership` grants `capability`, as a filter (None: nowhere)."""
    spec = ROLES[Role(membership.role)]
    home = membership.organisation
    q = None
    if capability in spec.capabilities:
        match spec.scope:
            case Scope.NATIONAL:
                return Q()
            case Scope.REGION:
                q = Q(region_id=home.region_id)
            case Scope.GHT:
                q = Q(pk=home.pk) | Q(ght_id=home.pk)
            case Scope.ORGANISATION:
                q = Q(pk=home.pk)
                if home.kind == OrgKind.LEGAL_ENTITY:
                    q |= Q(legal_entity_id=home.pk)
    if spec.sees_own_ght and home.ght_id and capability in GHT_SHARED_CAPABILITIES:
        q = Q(pk=home.ght_id) if q is None else q | Q(pk=home.ght_id)
    return q


def covers(membership: Membership, organisation: Organisation, capability: Capability) -> bool:
    """Same rule as `scope_q`, for one organisation already loaded."""
    spec = ROLES[Role(membership.role)]
    home = membership.organisation
    if capability in spec.capabilities:
        match spec.scope:
            case Scope.NATIONAL:
                return True
            case Scope.REGION:
                if organisation.region_id is not None and organisation.region_id == home.region_id:
                    return True
            case Scope.GHT:
                if organisation.pk == home.pk or organisation.ght_id == home.pk:
                    return True
            case Scope.ORGANISATION:
                if organisation.pk == home.pk:
                    return True
                if home.kind == OrgKind.LEGAL_ENTITY and organisation.legal_entity_id == home.pk:
                    return True
    return bool(
        spec.sees_own_ght
        and home.ght_id
        and capability in GHT_SHARED_CAPABILITIES
        and organisation.pk == home.ght_id
    )


def capability_q(user, capability: Capability) -> Q | None:
    """Union of the scopes where the user holds `capability`; None when they hold it nowhere."""
    combined = None
    for membership in active_memberships(user):
        q = scope_q(membership, capability)
        if q is None:
            continue
        if not q:  # national scope: everything
            return Q()
        combined = q if combined is None else combined | q
    return combined


def has_capability(user, capability: Capability) -> bool:
    return any(_grants(m, capability) for m in active_memberships(user))


def can(user, capability: Capability, organisation: Organisation) -> bool:
    return any(covers(m, organisation, capability) for m in active_memberships(user))


def can_view_organisation(user, organisation: Organisation) -> bool:
    return can(user, Capability.VIEW_DIRECTORY, organisation) or is_member_of(user, organisation)


def can_view_people(user, organisation: Organisation) -> bool:
    return can(user, Capability.VIEW_PEOPLE, organisation)


def can_manage_people(user, organisation: Organisation) -> bool:
    return can(user, Capability.MANAGE_PEOPLE, organisation)


def can_edit_organisation(user, organisation: Organisation) -> bool:
    return can(user, Capability.EDIT_ORGANISATION, organisation)


def can_view_audit(user, organisation: Organisation) -> bool:
    return can(user, Capability.VIEW_AUDIT, organisation)


def can_import_finess(user) -> bool:
    return has_capability(user, Capability.IMPORT_FINESS)


def is_member_of(user, organisation: Organisation) -> bool:
    return any(m.organisation_id == organisation.pk for m in active_memberships(user))


def grantable_roles(user, organisation: Organisation) -> list[Role]:
    """Roles the user may give in `organisation`: never more than their own role allows,
    and only roles that exist for that kind of organisation."""
    roles: set[Role] = set()
    for membership in active_memberships(user):
        if covers(membership, organisation, Capability.MANAGE_PEOPLE):
            roles |= ROLES[Role(membership.role)].grantable
    kind = OrgKind(organisation.kind)
    return [role for role in ROLES if role in roles and kind in ROLES[role].org_kinds]


def requires_mfa(user) -> bool:
    return any(ROLES[Role(m.role)].requires_mfa for m in active_memberships(user)) or bool(
        getattr(user, "is_superuser", False)
    )


def capability_regions(
    user, capability: Capability, *, whole_region_only: bool = False
) -> set[int] | None:
    """Regions of the memberships that grant `capability`: None means every region (a national
    role), an empty set nowhere. With `whole_region_only`, only roles whose scope is the whole
    region count (an establishment's director edits their establishment, not the region)."""
    regions: set[int] = set()
    for membership in active_memberships(user):
        spec = ROLES[Role(membership.role)]
        if capability not in spec.capabilities:
            continue
        if spec.scope == Scope.NATIONAL:
            return None
        if whole_region_only and spec.scope != Scope.REGION:
            continue
        if membership.organisation.region_id:
            regions.add(membership.organisation.region_id)
    return regions


def _regional_editor_regions(user) -> set[int] | None:
    """Regions where the user edits the registry (None: every region)."""
    return capability_regions(user, Capability.EDIT_ORGANISATION, whole_region_only=True)


def creatable_regions(user) -> set[int] | None:
    """Where the user may create organisations that FINESS does not list (GHT, providers,
    liberal professionals): region-wide registry editors only. Empty set: nowhere."""
    return _regional_editor_regions(user)


def can_manage_ght_composition(user, ght: Organisation) -> bool:
    """A GHT's members and support establishment are set by the region (ARS, CRRC), not by
    the GHT itself."""
    if ght.kind != OrgKind.GHT:
        return False
    regions = _regional_editor_regions(user)
    return regions is None or ght.region_id in regions
