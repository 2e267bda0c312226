"""Who may do what with trainings. Plain functions over the roles table.

* **Trainers** (MANAGE_TRAININGS: the CRRC's operators and trainers) publish the sessions of the
  CRRCs they cover (their region), follow registrations and the waiting list, take attendance,
  export the attendance sheet and read the satisfaction answers.
* **Registering** (REGISTER_TRAINEES: an establishment's director, RSSI and DSI, or those of its
  legal entity) registers people of the organisations in one's scope to the published sessions of
  their region, cancels them, sees what they attended and downloads their certificates. A
  liberal professional (a member of a liberal professional's organisation) registers themselves
  only.
* **Figures** (VIEW_TRAINING_FIGURES: ARS and CRRC, region-wide) and trainers see the region's
  participation and satisfaction.
"""

from __future__ import annotations

from django.db.models import Q

from rempart.core.roles import Capability, OrgKind
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation

C = Capability

NO_TRAININGS = (
    "Les formations et webinaires du CRRC sont réservés aux directions, RSSI et DSI des "
    "structures, aux professionnels libéraux, au CRRC et à l'ARS."
)
NOT_TRAINER = "Seuls le CRRC et ses formateurs gèrent les sessions de formation de la région."
NOT_REGISTRAR = (
    "Seuls la direction, le RSSI ou le DSI de la structure (ou le professionnel libéral "
    "lui-même) inscrivent ou désinscrivent ses personnels."
)
NO_FIGURES = "Les chiffres des formations sont réservés à l'ARS et au CRRC de la région."
NOT_ATTENDED = "L'attestation n'existe que pour une personne présente à la session."


def manage_q(user) -> Q | None:
    """Organisers (CRRC) whose sessions the user manages; None: nowhere."""
    return org_perms.capability_q(user, C.MANAGE_TRAININGS)


def can_manage_trainings(user) -> bool:
    return org_perms.has_capability(user, C.MANAGE_TRAININGS)


def can_manage_session_of(user, organiser: Organisation) -> bool:
    return org_perms.can(user, C.MANAGE_TRAININGS, organiser)


def self_registration_org_ids(user) -> set[int]:
    """Liberal professionals' organisations of the user: they register themselves only."""
    return {
        m.organisation_id
        for m in org_perms.active_memberships(user)
        if m.organisation.kind == OrgKind.LIBERAL
    }


def register_q(user) -> Q | None:
    """Organisations for which the user registers people (None: none)."""
    q = org_perms.capability_q(user, C.REGISTER_TRAINEES)
    own = self_registration_org_ids(user)
    if own:
        q = Q(pk__in=own) if q is None else q | Q(pk__in=own)
    return q


def can_register(user) -> bool:
    return register_q(user) is not None


def can_register_for(user, organisation: Organisation) -> bool:
    return org_perms.can(user, C.REGISTER_TRAINEES, organisation) or (
        organisation.pk in self_registration_org_ids(user)
    )


def registers_only_self(user, organisation: Organisation) -> bool:
    """True when the user registers for `organisation` only as the liberal professional."""
    return not org_perms.can(user, C.REGISTER_TRAINEES, organisation)


def figures_q(user) -> Q | None:
    """Organisers whose figures the user sees (None: nowhere, Q(): everywhere)."""
    combined = None
    for capability in (C.VIEW_TRAINING_FIGURES, C.MANAGE_TRAININGS):
        q = org_perms.capability_q(user, capability)
        if q is None:
            continue
        if not q:
            return Q()
        combined = q if combined is None else combined | q
    return combined


def can_view_figures(user) -> bool:
    """Region-wide roles only: an establishment's people see their own staff's page."""
    return org_perms.capability_regions(
        user, C.VIEW_TRAINING_FIGURES, whole_region_only=True
    ) != set() or can_manage_trainings(user)


def catalogue_region_ids(user) -> set[int] | None:
    """Regions whose published sessions the user sees (None: every region)."""
    regions: set[int] = set()
    for membership in org_perms.active_memberships(user):
        organisation = membership.organisation
        if (
            org_perms.covers(membership, organisation, C.REGISTER_TRAINEES)
            or organisation.kind == OrgKind.LIBERAL
        ) and organisation.region_id:
            regions.add(organisation.region_id)
    figures = org_perms.capability_regions(user, C.VIEW_TRAINING_FIGURES, whole_region_only=True)
    if figures is None:
        return None
    return regions | figures


def can_use_trainings(user) -> bool:
    """Whether the trainings pages open at all (the menu shows them)."""
    regions = catalogue_region_ids(user)
    return regions is None or bool(regions) or can_manage_trainings(user)
