"""Programme statistics, mounted at /programme/statistiques/ (namespace « programme »)."""

from django.urls import path

from . import stats_views

urlpatterns = [
    path("", stats_views.statistics, name="statistics"),
    path("appels/<int:pk>/", stats_views.call_statistics, name="call_statistics"),
    path("appels/<int:pk>/export.csv", stats_views.call_statistics_csv, name="call_statistics_csv"),
    path(
        "appels/<int:pk>/export.xlsx", stats_views.call_statistics_xlsx, name="call_statistics_xlsx"
    ),
    path("parcours/<int:org_pk>/", stats_views.organisation_timeline, name="organisation_timeline"),
]
