from django.urls import include, path

app_name = "programme"

urlpatterns = [
    path("domaines/", include("rempart.programme.domain_urls")),
    path("appels/", include("rempart.programme.call_urls")),
    # Files: preparation and ARS review (application_*), then targets, payment and report.
    path("dossiers/", include("rempart.programme.application_urls")),
    path("dossiers/", include("rempart.programme.followup_urls")),
    path("statistiques/", include("rempart.programme.stats_urls")),
]
