"""Campaign sending controls (pause, resume, « send now ») and the progress panel refreshed by
HTMX. Thin views: reads through `selectors`, writes through `sending`'s services (POST only)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from rempart.core.errors import DomainError

from . import selectors, sending

DONE = {
    "pause": "Campagne en pause : plus aucun message ne part jusqu'à la reprise.",
    "resume": "Campagne reprise : les envois continuent.",
    "send_now": "Les messages restants partent dès maintenant, au débit du profil d'envoi.",
}


def _act(request, pk: int, action: str, service):
    campaign = selectors.get_campaign(request.user, pk)
    try:
        service(actor=request.user, campaign=campaign)
    except DomainError as exc:
        if exc.code == "forbidden":
            raise PermissionDenied(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, DONE[action])
    return redirect("phishing:campaign_detail", pk=campaign.pk)


@require_POST
def campaign_pause(request, pk: int):
    return _act(request, pk, "pause", sending.campaign_pause)


@require_POST
def campaign_resume(request, pk: int):
    return _act(request, pk, "resume", sending.campaign_resume)


@require_POST
def campaign_send_now(request, pk: int):
    return _act(request, pk, "send_now", sending.campaign_send_now)


@require_GET
def sending_progress(request, pk: int):
    """The progress panel alone (HTMX polls it while messages are going out)."""
    campaign = selectors.get_campaign(request.user, pk)
    return render(
        request,
        "phishing/includes/sending_panel.html",
        sending.sending_panel(request.user, campaign),
    )
