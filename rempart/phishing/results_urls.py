"""Phishing results pages, included in the `phishing` namespace by urls.py."""

from django.urls import path

from . import results_views

urlpatterns = [
    path(
        "campagnes/<int:pk>/resultats/",
        results_views.campaign_results,
        name="campaign_results",
    ),
    path(
        "campagnes/<int:pk>/resultats/chiffres.csv",
        results_views.campaign_results_csv,
        name="campaign_results_csv",
    ),
    path(
        "campagnes/<int:pk>/resultats/resultats.xlsx",
        results_views.campaign_results_xlsx,
        name="campaign_results_xlsx",
    ),
    path(
        "campagnes/<int:pk>/resultats/destinataires.csv",
        results_views.campaign_recipients_csv,
        name="campaign_recipients_csv",
    ),
    path("resultats-regionaux/", results_views.regional_results, name="regional_results"),
    path(
        "resultats-regionaux/chiffres.csv",
        results_views.regional_results_csv,
        name="regional_results_csv",
    ),
]
