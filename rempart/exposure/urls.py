"""Exposure watch pages (mounted under /exposition/, namespace exposure)."""

from django.urls import path

from . import views

app_name = "exposure"

urlpatterns = [
    path("", views.home, name="home"),
    path("arret-urgence/", views.emergency_stop, name="emergency_stop"),
    path("arret-urgence/lever/", views.emergency_release, name="emergency_release"),
    path("laboratoire/", views.lab_ranges, name="lab_ranges"),
    path("laboratoire/<int:pk>/revoquer/", views.lab_range_revoke, name="lab_range_revoke"),
    path("organisations/<int:pk>/", views.organisation, name="organisation"),
    path("organisations/<int:pk>/actifs/", views.asset_create, name="asset_create"),
    path(
        "organisations/<int:pk>/autorisations/signer/",
        views.authorisation_create,
        name="authorisation_create",
    ),
    path("organisations/<int:pk>/analyses/", views.scan_create, name="scan_create"),
    path("actifs/<int:pk>/retirer/", views.asset_retire, name="asset_retire"),
    path("actifs/<int:pk>/services/", views.service_add, name="service_add"),
    path("services/<int:pk>/retirer/", views.service_remove, name="service_remove"),
    path(
        "autorisations/<int:pk>/revoquer/",
        views.authorisation_revoke,
        name="authorisation_revoke",
    ),
    path("analyses/<int:pk>/", views.scan_detail, name="scan_detail"),
    path("analyses/<int:pk>/annuler/", views.scan_cancel, name="scan_cancel"),
    path("analyses/<int:pk>/rapport.csv", views.scan_export, name="scan_export"),
    path("constats/<int:pk>/", views.finding_detail, name="finding_detail"),
]
