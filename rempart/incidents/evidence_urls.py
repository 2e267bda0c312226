"""A case's indicators, evidence and exports (mounted under dossiers/, namespace incidents:)."""

from django.urls import path

from . import evidence_views as views

urlpatterns = [
    path("<int:pk>/indicateurs/", views.case_indicators, name="case_indicators"),
    path("<int:pk>/preuves/", views.case_evidence, name="case_evidence"),
    path(
        "<int:pk>/preuves/<int:evidence_pk>/",
        views.evidence_detail,
        name="case_evidence_detail",
    ),
    path(
        "<int:pk>/preuves/<int:evidence_pk>/telecharger/",
        views.evidence_download,
        name="case_evidence_download",
    ),
    path(
        "<int:pk>/preuves/<int:evidence_pk>/verifier/",
        views.evidence_verify,
        name="case_evidence_verify",
    ),
    path(
        "<int:pk>/preuves/<int:evidence_pk>/remise/",
        views.evidence_transfer,
        name="case_evidence_transfer",
    ),
    path("<int:pk>/export/stix.json", views.case_stix, name="case_stix"),
    path("<int:pk>/export/chronologie.csv", views.case_timeline_csv, name="case_timeline_csv"),
    path("<int:pk>/export/rapport.pdf", views.case_report_pdf, name="case_report_pdf"),
]
