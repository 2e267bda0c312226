"""The exposure watch routes of the REST API v1, plugged into the project's router and URL list
(config/api_urls.py)."""

from django.urls import path

from . import api


def register(router) -> None:
    # Organisations whose exposure the user sees, with their figures (read).
    router.register(
        "exposure/organisations", api.OrganisationViewSet, basename="exposure-organisation"
    )
    # Declared assets: list, declare, retire (DELETE), and services/ to declare a service.
    router.register("exposure/assets", api.AssetViewSet, basename="exposure-asset")
    # Scan authorisations: list, sign, and revoke/.
    router.register(
        "exposure/authorisations", api.AuthorisationViewSet, basename="exposure-authorisation"
    )
    # Scans: list, queue (CRRC operators), and cancel/.
    router.register("exposure/scans", api.ScanViewSet, basename="exposure-scan")
    # Findings: list, detail, and acknowledge/.
    router.register("exposure/findings", api.FindingViewSet, basename="exposure-finding")
    # The CRRC's lab ranges: list, allow, and revoke/.
    router.register("exposure/lab-ranges", api.LabRangeViewSet, basename="exposure-lab-range")


urlpatterns = [
    # The emergency stop of every scan: state (GET), engage (POST), release (DELETE).
    path("exposure/emergency-stop/", api.EmergencyStopView.as_view(), name="exposure-stop"),
]
