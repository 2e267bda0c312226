"""The demo's incidents: a rota that covers the coming weeks, a year of alerts (the seeds' 53),
one case in progress for the demo RSSI, the ORSAN catalogue; a second run changes nothing."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from rempart.incidents.models import (
    Alert,
    Case,
    CaseState,
    CertSanteDeclaration,
    CrisisActivation,
    OnCallShift,
    PooledResource,
)

pytestmark = pytest.mark.django_db


def run(command: str) -> str:
    out = io.StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


def test_demo_incidents():
    run("seed_demo")
    first = run("seed_incidents_demo")
    assert "53 alertes" in first
    assert Alert.objects.filter(is_test=False).count() == 54  # the year, and today's
    assert Case.objects.filter(state=CaseState.CONTAINMENT).count() == 1
    assert CertSanteDeclaration.objects.filter(status="deposee").exists()
    assert PooledResource.objects.count() == 6
    assert CrisisActivation.objects.filter(ended_at__isnull=False).count() == 1
    now = timezone.now()
    for days in (0, 7, 14, 21, 27):
        at = now + timezone.timedelta(days=days)
        on_call = OnCallShift.objects.filter(starts_at__lte=at, ends_at__gt=at, level=1)
        assert on_call.count() == 1, f"nobody on call at level 1 in {days} days"
    shifts = OnCallShift.objects.count()
    again = run("seed_incidents_demo")
    assert "déjà présent" in again
    assert Alert.objects.filter(is_test=False).count() == 54
    assert OnCallShift.objects.count() == shifts
