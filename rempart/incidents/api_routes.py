"""The incident assistance routes of the REST API v1, plugged into the project's router
(config/api_urls.py). Each slice adds its viewsets to `register` and any other route to
`urlpatterns`."""

from django.urls import path

from . import alert_api, case_api, evidence_api, oncall_api, orsan_api, paging_views
from .stats_api import IncidentStatisticsView


def register(router) -> None:
    # Alerts: file (idempotent, never refused for a missing field), read, and their
    # acknowledge/, qualify/, dismiss/ actions.
    router.register("alerts", alert_api.AlertViewSet, basename="alert")
    # Cases: list, open, edit, and their state/, outcome/, events/, tasks/, share/ actions.
    router.register("cases", case_api.CaseViewSet, basename="case")
    # On-call rota (read): the shifts, and who is on call now (oncall/shifts/now/).
    router.register("oncall/shifts", oncall_api.OnCallShiftViewSet, basename="oncall-shift")
    # ORSAN cyber: pooled resources, activations (read), aid requests and their steps.
    orsan_api.register(router)


urlpatterns: list = [
    # Paging: a gateway acknowledges a page with its signed token (public, throttled).
    path("paging/ack/", paging_views.PagingAckApiView.as_view(), name="paging-ack"),
    # A case's indicators of compromise (list, add one or a list, remove) and STIX 2.1 export.
    path(
        "cases/<int:case_pk>/indicators/",
        evidence_api.CaseIndicatorListView.as_view(),
        name="case-indicator-list",
    ),
    path(
        "cases/<int:case_pk>/indicators/<int:pk>/",
        evidence_api.CaseIndicatorDetailView.as_view(),
        name="case-indicator-detail",
    ),
    path("cases/<int:case_pk>/stix/", evidence_api.CaseStixView.as_view(), name="case-stix"),
    # Regional incident figures and response times (ARS, CRRC, national observers).
    path(
        "incidents/statistics/",
        IncidentStatisticsView.as_view(),
        name="incident-statistics",
    ),
]
