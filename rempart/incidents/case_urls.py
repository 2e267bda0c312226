"""Case pages (mounted under dossiers/, namespace incidents:)."""

from django.urls import path

from . import case_views as views

urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("ouvrir/", views.case_open, name="case_open"),
    path("alertes/<int:alert_pk>/rattacher/", views.case_link_alert, name="case_link_alert"),
    path("<int:pk>/", views.case_detail, name="case_detail"),
    path("<int:pk>/modifier/", views.case_edit, name="case_edit"),
    path("<int:pk>/etat/", views.case_state, name="case_state"),
    path("<int:pk>/issue/", views.case_outcome, name="case_outcome"),
    path("<int:pk>/pilote/", views.case_lead, name="case_lead"),
    path("<int:pk>/partage/", views.case_share, name="case_share"),
    path("<int:pk>/partage/<int:access_pk>/retirer/", views.case_unshare, name="case_unshare"),
    path("<int:pk>/chronologie/", views.case_event_add, name="case_event_add"),
    path("<int:pk>/taches/", views.case_task_add, name="case_task_add"),
    path("<int:pk>/taches/<int:task_pk>/statut/", views.case_task_status, name="case_task_status"),
    path(
        "<int:pk>/taches/<int:task_pk>/attribuer/",
        views.case_task_assign,
        name="case_task_assign",
    ),
    path("<int:pk>/actifs/", views.case_asset_add, name="case_asset_add"),
    path("<int:pk>/actifs/<int:asset_pk>/etat/", views.case_asset_state, name="case_asset_state"),
]
