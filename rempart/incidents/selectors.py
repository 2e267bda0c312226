"""Reads of incident assistance, scoped by the acting user (rules in `perms`).

An object outside the user's scope is answered with a clear « no access » (403, with the
reason and whom to ask), never with an empty page that looks normal; an id that does not
exist is a 404.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from . import perms
from .models import AccessLevel, Alert, Case

NO_ALERT_ACCESS = (
    "Vous n'avez pas accès à cette alerte : elle concerne une structure dont vous ne gérez pas "
    "les incidents et elle ne vous a pas été adressée."
)
NO_CASE_ACCESS = (
    "Vous n'avez pas accès à ce dossier d'incident. L'accès est réservé à la structure touchée, "
    "au CRRC et aux personnes ou structures à qui son pilote l'a partagé : demandez-lui."
)
CASE_LEVEL_MISSING = {
    AccessLevel.CONTRIBUTE: "Votre accès à ce dossier est en lecture seule.",
    AccessLevel.MANAGE: "Seul le pilotage du dossier (structure touchée, CRRC, pilote) peut "
    "faire cela.",
}


def _pk(pk) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError) as exc:
        raise Http404("Objet introuvable.") from exc


def alerts_visible_to(user) -> QuerySet[Alert]:
    return Alert.objects.filter(perms.alert_q(user)).select_related(
        "organisation", "reporter", "case", "acknowledged_by"
    )


def get_visible_alert(user, pk) -> Alert:
    pk = _pk(pk)
    alert = alerts_visible_to(user).filter(pk=pk).first()
    if alert is not None:
        return alert
    if Alert.objects.filter(pk=pk).exists():
        raise PermissionDenied(NO_ALERT_ACCESS)
    raise Http404("Alerte introuvable.")


def get_handleable_alert(user, pk) -> Alert:
    alert = get_visible_alert(user, pk)
    if not perms.can_handle_alert(user, alert):
        raise PermissionDenied(
            "Seuls le CRRC, l'expert d'astreinte alerté et les responsables de la structure "
            "traitent cette alerte."
        )
    return alert


def cases_visible_to(user) -> QuerySet[Case]:
    return Case.objects.filter(perms.case_q(user)).select_related("organisation", "lead", "region")


def get_visible_case(user, pk, level: AccessLevel = AccessLevel.READ) -> Case:
    """The case if the user holds at least `level` on it; else 403 with the reason."""
    pk = _pk(pk)
    case = Case.objects.select_related("organisation", "lead", "region").filter(pk=pk).first()
    if case is None:
        raise Http404("Dossier d'incident introuvable.")
    held = perms.case_access_level(user, case)
    if held is None:
        raise PermissionDenied(NO_CASE_ACCESS)
    if perms.LEVEL_RANK[held] < perms.LEVEL_RANK[level]:
        raise PermissionDenied(CASE_LEVEL_MISSING[level])
    case.access_level = held  # what the page may offer
    return case
