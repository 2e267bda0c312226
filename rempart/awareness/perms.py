"""Who may do what in awareness. Plain functions over the roles table.

* **Learning** needs no capability: any person with an active membership follows the modules
  meant for them. Members of a liberal professional's organisation only (no other membership)
  see the modules open to liberal professionals (audience « tous »).
* **Certificates** are downloaded by their holder, and by the managers of the holder's
  organisation (VIEW_AWARENESS held on that organisation itself: its director, RSSI, DSI, or
  the director of its legal entity); anybody may check a certificate's code on the public
  verification page, which shows only initials, module, date and validity.
* **Escape games** are recorded by MANAGE_AWARENESS holders (CRRC operators and trainers) for
  host organisations of their region; VIEW_AWARENESS holders see the sessions that involve
  organisations within their scope.
* **Figures** (learning and escape-game participation) need VIEW_AWARENESS or
  MANAGE_AWARENESS, per organisation within scope.
"""

from __future__ import annotations

from django.db.models import Q

from rempart.core.roles import ROLES, Capability, OrgKind, Role, Scope
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation

from .models import Audience, Certificate

C = Capability
NO_MEMBERSHIP = (
    "Les modules de sensibilisation sont réservés aux personnes rattachées à une organisation : "
    "demandez une invitation à votre référent."
)
NOT_FOR_YOUR_AUDIENCE = (
    "Ce module est réservé aux personnels des structures de santé : il n'est pas ouvert aux "
    "professionnels libéraux."
)
NO_FIGURES = (
    "Les résultats de sensibilisation sont réservés aux directions, RSSI et DSI pour leur "
    "structure, aux coordinateurs de GHT, au CRRC et à l'ARS."
)
NO_ESCAPE = (
    "Les sessions d'escape game sont réservées au CRRC, aux formateurs et aux responsables des "
    "structures participantes."
)
NOT_MANAGER = (
    "Seuls le CRRC et les formateurs de la région enregistrent les sessions d'escape game."
)
NOT_CERTIFICATE_HOLDER = (
    "Cette attestation appartient à une autre personne : seuls son titulaire et la direction de "
    "sa structure peuvent la télécharger."
)


def can_learn(user) -> bool:
    return bool(org_perms.active_memberships(user))


def allowed_audiences(user) -> list[str]:
    """The audiences of the modules the user may follow (empty: no membership)."""
    memberships = org_perms.active_memberships(user)
    if not memberships:
        return []
    if all(m.organisation.kind == OrgKind.LIBERAL for m in memberships):
        return [Audience.EVERYONE.value]
    return [Audience.STAFF.value, Audience.EVERYONE.value]


def learner_organisations(user) -> list[Organisation]:
    """The organisations a learner may follow a module for (their memberships), by name."""
    seen: dict[int, Organisation] = {}
    for membership in org_perms.active_memberships(user):
        seen.setdefault(membership.organisation_id, membership.organisation)
    return sorted(seen.values(), key=lambda o: (o.name, o.pk))


def can_download_certificate(user, certificate: Certificate) -> bool:
    if certificate.user_id == user.pk:
        return True
    organisation = certificate.organisation
    for membership in org_perms.active_memberships(user):
        spec = ROLES[Role(membership.role)]
        if spec.scope == Scope.ORGANISATION and org_perms.covers(
            membership, organisation, C.VIEW_AWARENESS
        ):
            return True
    return False


def figures_q(user) -> Q | None:
    """Organisations whose awareness figures the user sees (None: nowhere, Q(): everywhere)."""
    combined = None
    for capability in (C.VIEW_AWARENESS, C.MANAGE_AWARENESS):
        q = org_perms.capability_q(user, capability)
        if q is None:
            continue
        if not q:
            return Q()
        combined = q if combined is None else combined | q
    return combined


def can_view_figures(user) -> bool:
    return figures_q(user) is not None


def manage_q(user) -> Q | None:
    return org_perms.capability_q(user, C.MANAGE_AWARENESS)


def can_manage_escape_games(user) -> bool:
    return org_perms.has_capability(user, C.MANAGE_AWARENESS)


def can_manage_escape_game_at(user, organisation: Organisation) -> bool:
    return org_perms.can(user, C.MANAGE_AWARENESS, organisation)
