"""The awareness routes of the REST API v1 (config/api_urls.py); simulated phishing has its
own (rempart/phishing/api_routes.py)."""

from django.urls import path

from . import learning_api

urlpatterns: list = [
    # The catalogue (questions without answers) and submitting a quiz.
    path("awareness/modules/", learning_api.ModuleListView.as_view(), name="awareness-modules"),
    path(
        "awareness/modules/<slug:code>/attempts/",
        learning_api.AttemptCreateView.as_view(),
        name="awareness-attempts",
    ),
]
