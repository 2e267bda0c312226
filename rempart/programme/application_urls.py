"""Files: preparation by the applicant and review by the ARS (mounted at /programme/dossiers/)."""

from django.urls import path

from . import application_views as views

urlpatterns = [
    path("", views.application_list, name="application_list"),
    path("nouveau/", views.application_start, name="application_start"),
    path("<int:pk>/", views.application_detail, name="application_detail"),
    path("<int:pk>/modifier/", views.application_edit, name="application_edit"),
    path("<int:pk>/pieces/", views.application_document_add, name="application_document_add"),
    path(
        "<int:pk>/pieces/<int:document_pk>/",
        views.application_document,
        name="application_document",
    ),
    path(
        "<int:pk>/pieces/<int:document_pk>/retirer/",
        views.application_document_remove,
        name="application_document_remove",
    ),
    path(
        "<int:pk>/diagnostic/",
        views.application_attach_maturity,
        name="application_attach_maturity",
    ),
    path("<int:pk>/deposer/", views.application_submit, name="application_submit"),
    path("<int:pk>/instruction/", views.application_review, name="application_review"),
    path("<int:pk>/commentaires/", views.application_comment, name="application_comment"),
    path(
        "plafond/<int:call_pk>/<int:org_pk>/",
        views.ceiling_override,
        name="ceiling_override",
    ),
]
