"""The crisis exercises routes of the REST API v1, plugged into the project's router and URL
list (config/api_urls.py)."""

from django.urls import path

from . import api


def register(router) -> None:
    # Runs of the organisations the user runs exercises for: list, detail, with verdicts.
    router.register("exercises/runs", api.RunViewSet, basename="exercise-run")


urlpatterns = [
    # The coverage indicator and its organisations list (ARS, CRRC, GHT, national).
    path("exercises/coverage/", api.CoverageView.as_view(), name="exercise-coverage"),
    path(
        "exercises/coverage/organisations/",
        api.CoverageOrganisationsView.as_view(),
        name="exercise-coverage-organisations",
    ),
]
