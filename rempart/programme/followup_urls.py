"""After acceptance: targets and their proofs, payment, financial report; and the platform
measurements of an organisation (mounted under /programme/dossiers/, namespace programme)."""

from django.urls import path

from . import followup_views

urlpatterns = [
    path("<int:pk>/cibles/", followup_views.application_targets, name="application_targets"),
    path(
        "<int:pk>/cibles/preuves/<int:proof_pk>/",
        followup_views.application_proof,
        name="application_proof",
    ),
    path("<int:pk>/paiement/", followup_views.application_payment, name="application_payment"),
    path("<int:pk>/bilan/", followup_views.application_report, name="application_report"),
    path("mesures/<int:org_pk>/", followup_views.measurements, name="measurements"),
    path(
        "mesures/<int:org_pk>/<int:measurement_pk>/rapport/",
        followup_views.measurement_report,
        name="measurement_report",
    ),
]
