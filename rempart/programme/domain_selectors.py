"""Reads of the CaRE reference data (domains, prerequisites, targets) and of its history.

The data is national and the same for everyone allowed to see the programme; each function
still takes the acting user and refuses (404 or nothing) to anyone else: deny by default."""

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from rempart.core.models import AuditEntry

from . import perms
from .models import Domain, Requirement, RequirementKind


def _require_view(user) -> None:
    if not perms.can_view_programme(user):
        raise Http404("Programme CaRE indisponible pour votre rôle.")


def domains_overview(user) -> QuerySet[Domain]:
    """Every domain with its number of prerequisites and targets (one query, whatever the count)."""
    if not perms.can_view_programme(user):
        return Domain.objects.none()
    return Domain.objects.annotate(
        prerequisite_count=Count(
            "requirements", filter=Q(requirements__kind=RequirementKind.PREREQUISITE)
        ),
        target_count=Count("requirements", filter=Q(requirements__kind=RequirementKind.TARGET)),
    ).order_by("code")


def get_domain(user, code: str) -> Domain:
    _require_view(user)
    try:
        return Domain.objects.get(code=code)
    except Domain.DoesNotExist as exc:
        raise Http404("Domaine introuvable.") from exc


def domain_requirements(user, domain: Domain) -> dict[str, list[Requirement]]:
    """The domain's prerequisites, then its targets, each in the order of the file."""
    _require_view(user)
    grouped: dict[str, list[Requirement]] = {
        RequirementKind.PREREQUISITE: [],
        RequirementKind.TARGET: [],
    }
    for requirement in Requirement.objects.filter(domain=domain).order_by("position", "identifier"):
        grouped.setdefault(requirement.kind, []).append(requirement)
    return grouped


def get_requirement(user, identifier: str) -> Requirement:
    _require_view(user)
    try:
        return Requirement.objects.select_related("domain").get(identifier=identifier)
    except Requirement.DoesNotExist as exc:
        raise Http404("Prérequis ou cible introuvable.") from exc


def get_editable_requirement(user, identifier: str) -> Requirement:
    """404, not 403, for those who may not edit: the page does not exist for them."""
    if not perms.can_edit_programme_data(user):
        raise Http404("Prérequis ou cible introuvable.")
    return get_requirement(user, identifier)


def domain_history(user, domain: Domain) -> QuerySet[AuditEntry]:
    """Audit entries of the domain and of its requirements, newest first, with before/after.

    Shown to those who maintain the data (it names the people who changed it, who may belong
    to other regions' agencies); everyone else sees the data version and the update date."""
    if not perms.can_edit_programme_data(user):
        return AuditEntry.objects.none()
    domain_type = ContentType.objects.get_for_model(Domain)
    requirement_type = ContentType.objects.get_for_model(Requirement)
    return (
        AuditEntry.objects.filter(
            Q(content_type=domain_type, object_id=domain.pk)
            | Q(
                content_type=requirement_type,
                object_id__in=Requirement.objects.filter(domain=domain).values("pk"),
            )
        )
        .select_related("actor", "content_type")
        .order_by("-timestamp", "-pk")
    )


def _readable(value: Any) -> str | None:
    """An audited value as a person reads it: no "None", lists (proofs) without JSON escapes."""
    if value is None or value == "None":
        return None
    if isinstance(value, str) and value[:1] in "[{":
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if isinstance(decoded, list):
            return " ; ".join(str(item) for item in decoded) or "(aucune)"
        return json.dumps(decoded, ensure_ascii=False)
    return str(value)


@dataclass(frozen=True)
class HistoryRow:
    """One audit entry, shaped for core/includes/audit_table.html with readable values."""

    timestamp: Any
    actor: Any
    action_label: str
    content_type: Any
    object_repr: str
    changes_dict: dict[str, tuple[str | None, str | None]]


def domain_history_rows(user, domain: Domain, limit: int) -> list[HistoryRow]:
    rows = []
    for entry in domain_history(user, domain)[:limit]:
        changes = {
            name: (_readable(change[0]), _readable(change[1]))
            for name, change in (entry.changes_dict or {}).items()
            if isinstance(change, list | tuple) and len(change) == 2 and name != "id"
        }
        rows.append(
            HistoryRow(
                entry.timestamp,
                entry.actor,
                entry.action_label,
                entry.content_type,
                entry.object_repr,
                changes,
            )
        )
    return rows
