"""Who may do what with crisis exercises. Plain functions over the roles table.

* **Running** an organisation's exercises (plan, console, participants, evaluation, debrief,
  report): its director, RSSI or DSI (RUN_EXERCISES, on their organisation only; a legal
  entity's people on its establishments too). A regional exercise belongs to the CRRC or the
  ARS that holds it: their operators, trainers and programme managers run it
  (RUN_REGIONAL_EXERCISES reaches their own organisation only, never an establishment's
  exercises: what a hospital learnt about its weaknesses stays its own).
* **The library**: every person who runs exercises reads the national scenarios and those of
  their region's CRRC; an establishment's own scenarios are seen by it alone. The CRRC's
  operators and trainers publish new versions of their region's library
  (MANAGE_EXERCISE_LIBRARY).
* **Coverage** (VIEW_EXERCISE_COVERAGE: ARS, CRRC operators, national observers; a GHT
  coordinator for the GHT's members): whether each organisation has a valid exercise and why
  not, never the content of its exercises.
"""

from __future__ import annotations

from django.db.models import Q

from rempart.core.roles import Capability
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation

C = Capability

NOT_RUNNER = (
    "Seuls la direction, le RSSI ou le DSI de l'établissement (ou le CRRC et l'ARS pour un "
    "exercice régional) organisent et consultent ses exercices de crise."
)
NOT_LIBRARIAN = (
    "Seuls le CRRC et ses formateurs publient les scénarios de la bibliothèque régionale."
)
NO_COVERAGE = (
    "La couverture des exercices est réservée à l'ARS, au CRRC et aux coordinateurs de GHT."
)


def regional_home_ids(user) -> set[int]:
    """The CRRC/ARS organisations whose regional exercises the user runs."""
    return {
        m.organisation_id
        for m in org_perms.active_memberships(user)
        if org_perms._grants(m, C.RUN_REGIONAL_EXERCISES)
    }


def run_q(user) -> Q | None:
    """Organisations whose exercises the user runs (None: none)."""
    q = org_perms.capability_q(user, C.RUN_EXERCISES)
    homes = regional_home_ids(user)
    if homes:
        q = Q(pk__in=homes) if q is None else q | Q(pk__in=homes)
    return q


def can_run_exercises(user) -> bool:
    return run_q(user) is not None


def can_run_for(user, organisation: Organisation) -> bool:
    return org_perms.can(user, C.RUN_EXERCISES, organisation) or (
        organisation.pk in regional_home_ids(user)
    )


def can_run(user, run) -> bool:
    """The run's holder's people (a regional run: the CRRC/ARS that holds it)."""
    return can_run_for(user, run.organisation)


def library_region_ids(user) -> set[int]:
    """Regions whose CRRC library the user reads (those where they run exercises or manage
    the library)."""
    regions = set()
    for membership in org_perms.active_memberships(user):
        if (
            org_perms._grants(membership, C.RUN_EXERCISES)
            or org_perms._grants(membership, C.RUN_REGIONAL_EXERCISES)
            or org_perms._grants(membership, C.MANAGE_EXERCISE_LIBRARY)
        ) and membership.organisation.region_id:
            regions.add(membership.organisation.region_id)
    return regions


def scenario_q(user) -> Q | None:
    """Scenarios the user may read: national ones, their regions' libraries and the own
    scenarios of the organisations they run exercises for (None: none)."""
    regions = library_region_ids(user)
    if not regions:
        return None
    q = Q(region__isnull=True, organisation__isnull=True) | Q(region_id__in=regions)
    runs = run_q(user)
    if runs is not None:
        q |= Q(organisation__in=Organisation.objects.filter(runs))
    return q


def can_read_scenario(user, scenario) -> bool:
    if scenario.organisation_id is not None:
        return can_run_for(user, scenario.organisation)
    if scenario.region_id is None:
        return bool(library_region_ids(user))
    return scenario.region_id in library_region_ids(user)


def library_manage_regions(user) -> set[int]:
    """Regions whose CRRC library the user maintains."""
    regions = org_perms.capability_regions(user, C.MANAGE_EXERCISE_LIBRARY, whole_region_only=True)
    return regions or set()


def can_manage_library(user, region_id: int | None) -> bool:
    return region_id is not None and region_id in library_manage_regions(user)


def coverage_q(user) -> Q | None:
    """Organisations whose coverage the user sees (None: none; Q(): all)."""
    return org_perms.capability_q(user, C.VIEW_EXERCISE_COVERAGE)


def can_view_coverage(user) -> bool:
    return coverage_q(user) is not None


def can_use_exercises(user) -> bool:
    """Whether the exercise pages open at all (the menu shows them)."""
    return can_run_exercises(user) or can_view_coverage(user) or bool(library_manage_regions(user))
