"""Who may record a platform measurement for an organisation.

A measurement (directory-audit level, exposure scan, restoration test, crisis exercise,
continuity plan) is recorded:

* by the people who apply for funding for that organisation: APPLY_FUNDING held in the
  organisation itself, in its legal entity (for an establishment) or in its GHT (the GHT
  coordinator for the GHT and its members) — the same reach as the roles table gives
  APPLY_FUNDING everywhere else;
* by the region's programme operators: region-scope roles holding VIEW_PROGRAMME in the
  organisation's region (CRRC operators, ARS programme managers).

National observers read, they never record. Automated platform modules record with
`recorded_by=None` and do not go through this rule.
"""

from __future__ import annotations

from rempart.core.roles import ROLES, Capability, OrgKind, Role, Scope
from rempart.organisations import perms as org_perms

# Organisations a measurement may concern: the ones that apply for funding.
MEASURED_KINDS = frozenset({OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY, OrgKind.GHT})


def can_record_measurement(user, organisation) -> bool:
    for membership in org_perms.active_memberships(user):
        spec = ROLES[Role(membership.role)]
        if Capability.APPLY_FUNDING in spec.capabilities and org_perms.covers(
            membership, organisation, Capability.APPLY_FUNDING
        ):
            return True
        if (
            spec.scope == Scope.REGION
            and Capability.VIEW_PROGRAMME in spec.capabilities
            and organisation.region_id is not None
            and membership.organisation.region_id == organisation.region_id
        ):
            return True
    return False
