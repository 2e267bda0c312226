"""Reads the trainings API needs beyond the pages' selectors (a view never touches a manager)."""

from __future__ import annotations

from django.db.models import QuerySet

from . import selectors
from .models import Registration, TrainingSession


def no_sessions() -> QuerySet[TrainingSession]:
    """The empty queryset the schema generator inspects (no user, no data)."""
    return TrainingSession.objects.none()


def no_registrations() -> QuerySet[Registration]:
    return Registration.objects.none()


def visible_registration(user, pk: int) -> Registration | None:
    """A registration the user sees (as on the session page), or None."""
    q = selectors.registrations_q(user)
    if q is None:
        return None
    return (
        Registration.objects.filter(q, pk=pk)
        .select_related("session", "session__organiser", "organisation")
        .first()
    )
