"""The simulated-phishing routes of the REST API v1, plugged into the project's router
(config/api_urls.py)."""

from . import api


def register(router) -> None:
    # Campaigns: list, detail with sending progress, results/, and pause/, resume/, send-now/.
    router.register("phishing/campaigns", api.CampaignViewSet, basename="phishing-campaign")
