"""Simulated phishing pages (mounted at /hameconnage/)."""

from django.urls import include, path

from . import integrations_urls, results_urls, sending_urls, views

app_name = "phishing"

urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("campagnes/nouvelle/", views.campaign_new, name="campaign_new"),
    path("campagnes/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("campagnes/<int:pk>/modifier/", views.campaign_edit, name="campaign_edit"),
    path("campagnes/<int:pk>/programmer/", views.campaign_schedule, name="campaign_schedule"),
    path("campagnes/<int:pk>/annuler/", views.campaign_cancel, name="campaign_cancel"),
    path("groupes/", views.group_list, name="group_list"),
    path("groupes/<int:pk>/", views.group_detail, name="group_detail"),
    path("groupes/<int:pk>/renommer/", views.group_rename, name="group_rename"),
    path("groupes/<int:pk>/supprimer/", views.group_delete, name="group_delete"),
    path(
        "groupes/<int:pk>/destinataires/<int:recipient_pk>/retirer/",
        views.recipient_remove,
        name="recipient_remove",
    ),
    path("groupes/<int:pk>/import/", views.group_import, name="group_import"),
    path("groupes/<int:pk>/import/<int:import_pk>/", views.import_report, name="import_report"),
    path("modeles/", views.template_list, name="template_list"),
    path("modeles/nouveau/", views.template_new, name="template_new"),
    path("modeles/<int:pk>/", views.template_detail, name="template_detail"),
    path("modeles/<int:pk>/modifier/", views.template_edit, name="template_edit"),
    path("modeles/<int:pk>/copier/", views.template_copy, name="template_copy"),
    path("pages/", views.landing_list, name="landing_list"),
    path("pages/nouvelle/", views.landing_new, name="landing_new"),
    path("pages/<int:pk>/modifier/", views.landing_edit, name="landing_edit"),
    path("profils/", views.profile_list, name="profile_list"),
    path("profils/nouveau/", views.profile_new, name="profile_new"),
    path("profils/<int:pk>/modifier/", views.profile_edit, name="profile_edit"),
    path("mandats/", views.mandate_list, name="mandate_list"),
    path("mandats/<int:pk>/revoquer/", views.mandate_revoke, name="mandate_revoke"),
    path("", include(sending_urls)),
    path("", include(results_urls)),
    path("", include(integrations_urls)),
]
