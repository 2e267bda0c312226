"""Regional incident figures and response times, mounted under /incidents/statistiques/
(namespace « incidents »)."""

from django.urls import path

from . import stats_views

urlpatterns = [
    path("", stats_views.incident_stats, name="stats"),
    path("export.csv", stats_views.incident_stats_csv, name="stats_csv"),
]
