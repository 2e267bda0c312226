"""The one way to write a line of a case's timeline (every slice records its facts there)."""

from __future__ import annotations

import datetime

from django.utils import timezone

from .models import Case, CaseEvent, EventKind


def add_event(
    case: Case,
    kind: EventKind,
    actor,
    text: str,
    *,
    occurred_at: datetime.datetime | None = None,
) -> CaseEvent:
    """Append a dated event; call it inside the service's transaction so that the fact and its
    line are written together. `occurred_at` defaults to now (when it is being recorded)."""
    now = timezone.now()
    return CaseEvent.objects.create(
        case=case,
        kind=kind,
        occurred_at=occurred_at or now,
        recorded_at=now,
        author=actor if getattr(actor, "is_authenticated", False) else None,
        text=text,
    )
