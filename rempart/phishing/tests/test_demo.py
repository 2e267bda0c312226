"""The demo's simulated phishing: the CRRC library, the demo hospital's finished campaign with
its history (anonymous: no address kept once sent), a draft, a delegated campaign under a
mandate; a second run changes nothing."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rempart.phishing.models import (
    Campaign,
    CampaignMode,
    CampaignRecipient,
    CampaignStatus,
    EmailTemplate,
    EventKind,
    SendStatus,
    TrackingEvent,
)

pytestmark = pytest.mark.django_db


def run(command: str) -> str:
    out = io.StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


def test_demo_phishing():
    with pytest.raises(CommandError, match="seed_demo"):
        run("seed_phishing_demo")
    run("seed_demo")
    first = run("seed_phishing_demo")
    assert "3 modèles" in first
    assert EmailTemplate.objects.filter(library=True).count() == 3
    done = Campaign.objects.filter(status=CampaignStatus.DONE)
    assert {c.mode for c in done} == {CampaignMode.AUTONOMOUS, CampaignMode.DELEGATED}
    assert Campaign.objects.filter(status=CampaignStatus.DRAFT).count() == 1
    recipients = CampaignRecipient.objects.filter(campaign__in=done)
    assert recipients.count() == 2 * 192
    assert not recipients.exclude(send_status=SendStatus.SENT).exists()
    assert not recipients.exclude(email="").exists()  # anonymous: erased once sent
    events = TrackingEvent.objects.filter(campaign__in=done)
    kinds = {kind: events.filter(kind=kind).count() for kind in EventKind.values}
    assert kinds["opened"] > kinds["clicked"] > kinds["submitted"] > 0
    assert kinds["reported"] > 0
    assert events.filter(suspected_bot=True, kind=EventKind.CLICKED).exists()
    counts = (Campaign.objects.count(), TrackingEvent.objects.count())
    assert "déjà en place" in run("seed_phishing_demo")
    assert counts == (Campaign.objects.count(), TrackingEvent.objects.count())
