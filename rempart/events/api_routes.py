"""The trainings routes of the REST API v1, plugged into the project's router and URL list
(config/api_urls.py)."""

from django.urls import path

from . import api


def register(router) -> None:
    # Sessions (list with kind/programme/upcoming filters, detail with the seats left) and
    # registrations (list, detail, create with the waiting list, cancel/).
    router.register("trainings/sessions", api.SessionViewSet, basename="training-session")
    router.register(
        "trainings/registrations", api.RegistrationViewSet, basename="training-registration"
    )


urlpatterns = [
    # The region's figures (ARS, CRRC): the numbers of the figures page.
    path("trainings/figures/", api.FiguresView.as_view(), name="training-figures"),
]
