"""Who may do what in the exposure watch. Plain functions over the roles table.

* An establishment's (or legal entity's, or GHT's) director, RSSI and DSI declare its public
  assets and the services it knows it exposes, see its scans and findings and acknowledge them
  (DECLARE_EXPOSURE); its director and RSSI sign the scan authorisation (AUTHORISE_SCANS). A GHT
  coordinator does both for the GHT's members.
* The CRRC's operators run the regional watch (RUN_EXPOSURE_WATCH, their region only): they see
  the assets, authorisations, scans and findings of the region's organisations, launch and
  cancel scans, allow lab ranges, and engage the emergency stop.
* Nobody else sees an establishment's exposure: it is a map of its weak points.
"""

from __future__ import annotations

from django.db.models import Q

from rempart.core.roles import Capability, OrgKind
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation

C = Capability

# Kinds of organisation that hold assets of their own.
ASSET_HOLDER_KINDS = (OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY, OrgKind.GHT)

NO_ACCESS = (
    "La veille d'exposition est réservée à la direction, au RSSI et au DSI de l'établissement, "
    "et aux opérateurs du CRRC de sa région."
)
NOT_DECLARER = "Seuls la direction, le RSSI ou le DSI de l'établissement déclarent ses actifs."
NOT_SIGNER = "Seuls la direction ou le RSSI de l'établissement signent l'autorisation d'analyse."
NOT_WATCHER = "Seuls les opérateurs du CRRC de la région lancent ou arrêtent les analyses."


def _or(*qs: Q | None) -> Q | None:
    present = [q for q in qs if q is not None]
    if not present:
        return None
    combined = present[0]
    for q in present[1:]:
        combined |= q
    return combined


def declare_q(user) -> Q | None:
    return org_perms.capability_q(user, C.DECLARE_EXPOSURE)


def watch_q(user) -> Q | None:
    return org_perms.capability_q(user, C.RUN_EXPOSURE_WATCH)


def view_q(user) -> Q | None:
    """Organisations whose exposure the user sees (None: none)."""
    return _or(declare_q(user), watch_q(user))


def can_use(user) -> bool:
    return view_q(user) is not None


def can_view(user, organisation: Organisation) -> bool:
    return can_declare(user, organisation) or can_watch(user, organisation)


def can_declare(user, organisation: Organisation) -> bool:
    return org_perms.can(user, C.DECLARE_EXPOSURE, organisation)


def can_authorise(user, organisation: Organisation) -> bool:
    return org_perms.can(user, C.AUTHORISE_SCANS, organisation)


def can_watch(user, organisation: Organisation) -> bool:
    return org_perms.can(user, C.RUN_EXPOSURE_WATCH, organisation)


def watch_regions(user) -> set[int]:
    """Regions whose watch the user runs (lab ranges, board, emergency stop)."""
    return org_perms.capability_regions(user, C.RUN_EXPOSURE_WATCH, whole_region_only=True) or set()


def is_watcher(user) -> bool:
    return bool(watch_regions(user))
