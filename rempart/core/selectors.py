"""Reads shared by every capability: the home page's next actions."""

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q
from django.urls import reverse
from django.utils.translation import ngettext

from rempart.core.roles import ROLES, Capability, OrgKind, Role
from rempart.organisations import perms
from rempart.organisations.models import Invitation, Membership
from rempart.organisations.selectors import visible_organisations


@dataclass(frozen=True)
class NextAction:
    title: str
    description: str
    url: str
    link_label: str
    level: str = "info"  # info | warning


def home_for(user) -> dict:
    memberships = perms.active_memberships(user)
    actions: list[NextAction] = []
    stats: dict[str, int] = {}

    managed = [m.organisation for m in memberships if perms.can_manage_people(user, m.organisation)]
    for org in managed:
        if (
            org.kind in (OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY)
            and not Membership.objects.active().filter(organisation=org, role=Role.RSSI).exists()
        ):
            actions.append(
                NextAction(
                    f"Désignez un RSSI ou référent SSI pour {org.name}",
                    "Le référent SSI est un prérequis du programme CaRE.",
                    reverse("organisations:people", args=[org.pk]),
                    "Inviter un référent",
                    "warning",
                )
            )
    pending = (
        Invitation.objects.filter(
            organisation__in=managed, accepted_at__isnull=True, revoked_at__isnull=True
        ).count()
        if managed
        else 0
    )
    if pending:
        actions.append(
            NextAction(
                ngettext(
                    "%(n)d invitation en attente de réponse",
                    "%(n)d invitations en attente de réponse",
                    pending,
                )
                % {"n": pending},
                "Relancez les personnes invitées ou annulez les invitations devenues inutiles.",
                reverse("organisations:people", args=[managed[0].pk]),
                "Voir les invitations",
            )
        )

    if perms.capability_q(user, Capability.VIEW_DIRECTORY) is not None:
        scope = visible_organisations(user)
        figures = scope.aggregate(
            establishments=Count("pk", filter=Q(kind=OrgKind.ESTABLISHMENT)),
            health=Count("pk", filter=Q(kind=OrgKind.ESTABLISHMENT, sector="sanitaire")),
            medico_social=Count("pk", filter=Q(kind=OrgKind.ESTABLISHMENT, sector="medico_social")),
            ght=Count("pk", filter=Q(kind=OrgKind.GHT)),
        )
        stats.update(figures)
        if (
            perms.has_capability(user, Capability.MANAGE_PEOPLE)
            and len(memberships)
            and any(ROLES[Role(m.role)].scope in ("region", "national") for m in memberships)
        ):
            without_members = (
                scope.filter(kind=OrgKind.ESTABLISHMENT, is_active=True)
                .exclude(Exists(Membership.objects.active().filter(organisation=OuterRef("pk"))))
                .count()
            )
            stats["without_members"] = without_members
            if without_members:
                actions.append(
                    NextAction(
                        ngettext(
                            "%(n)d établissement sans aucun membre sur la plateforme",
                            "%(n)d établissements sans aucun membre sur la plateforme",
                            without_members,
                        )
                        % {"n": without_members},
                        "Invitez leur directeur ou leur RSSI pour qu'ils rejoignent le programme.",
                        reverse("organisations:directory") + "?membres=aucun",
                        "Voir ces établissements",
                        "warning",
                    )
                )
    if perms.has_capability(user, Capability.IMPORT_FINESS):
        actions.append(
            NextAction(
                "Tenir le répertoire FINESS à jour",
                "Importez la dernière extraction FINESS des établissements pour mettre l'annuaire à jour.",
                reverse("organisations:finess_import"),
                "Importer une extraction",
            )
        )
    return {
        "memberships": memberships,
        "actions": actions,
        "stats": stats,
    }
