"""Reading the audit trail, with the same scoping as the data it describes."""

import datetime

from django.db.models import QuerySet

from rempart.organisations import perms
from rempart.organisations.models import Organisation

from .models import AuditEntry
from .roles import Capability


def audit_entries(
    user,
    *,
    organisation: Organisation | None = None,
    action: int | None = None,
    model: str = "",
    since: datetime.date | None = None,
    until: datetime.date | None = None,
) -> QuerySet[AuditEntry]:
    """Entries about organisations where the user may read the trail (deny by default)."""
    scope = perms.capability_q(user, Capability.VIEW_AUDIT)
    if scope is None:
        return AuditEntry.objects.none()
    qs = AuditEntry.objects.select_related("actor", "content_type")
    if scope:  # not national
        qs = qs.filter(organisation_id__in=Organisation.objects.filter(scope).values("pk"))
    if organisation is not None:
        if not perms.can_view_audit(user, organisation):
            return AuditEntry.objects.none()
        qs = qs.filter(organisation_id=organisation.pk)
    if action is not None:
        qs = qs.filter(action=action)
    if model:
        qs = qs.filter(content_type__model=model)
    if since:
        qs = qs.filter(timestamp__date__gte=since)
    if until:
        qs = qs.filter(timestamp__date__lte=until)
    return qs.order_by("-timestamp", "-pk")


def audit_entries_for_organisation(user, organisation: Organisation) -> QuerySet[AuditEntry]:
    if not perms.can_view_audit(user, organisation):
        return AuditEntry.objects.none()
    return audit_entries(user, organisation=organisation)


def describe_changes(entry: AuditEntry) -> list[tuple[str, str, str]]:
    """(field, before, after) triples, readable."""
    rows = []
    for field, change in (entry.changes_dict or {}).items():
        if isinstance(change, list | tuple) and len(change) == 2:
            rows.append(
                (
                    field,
                    "" if change[0] in (None, "None") else str(change[0]),
                    "" if change[1] in (None, "None") else str(change[1]),
                )
            )
        else:
            rows.append((field, "", str(change)))
    return rows
