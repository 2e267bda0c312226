from django.urls import include, path

urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("api/", include("config.api_urls")),
    path("", include("rempart.core.urls")),
    path("organisations/", include("rempart.organisations.urls")),
    path("programme/", include("rempart.programme.urls")),
    path("incidents/", include("rempart.incidents.urls")),
    path("hameconnage/", include("rempart.phishing.urls")),
    # Public tracking of simulated phishing (pixel, link, landing page, report).
    path("p/", include("rempart.phishing.tracking_urls")),
    path("sensibilisation/", include("rempart.awareness.urls")),
    path("formations/", include("rempart.events.urls")),
    path("exercices/", include("rempart.exercises.urls")),
    path("exposition/", include("rempart.exposure.urls")),
    path("autoevaluation/", include("rempart.assessments.urls")),
]
