"""Reads the exercises API needs beyond the pages' selectors (a view never touches a manager)."""

from __future__ import annotations

from django.db.models import QuerySet

from rempart.organisations.models import Organisation, Region

from .models import ExerciseRun


def no_runs() -> QuerySet[ExerciseRun]:
    """The empty querysets the schema generator inspects (no user, no data)."""
    return ExerciseRun.objects.none()


def no_organisations() -> QuerySet[Organisation]:
    return Organisation.objects.none()


def region_exists(pk: int) -> bool:
    return Region.objects.filter(pk=pk).exists()
