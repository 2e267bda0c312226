"""Self-assessment and action plans (mounted under /autoevaluation/, namespace assessments).
Each part adds its routes in its own block below."""

from django.urls import path

app_name = "assessments"

urlpatterns = []

# --- Answering, results, evidence, action plan, exports (brief G: views.py) -------------------
from . import views  # noqa: E402

urlpatterns += [
    path("", views.home, name="home"),
    path("commencer/", views.start, name="start"),
    path("importer/", views.questionnaire_import, name="questionnaire_import"),
    path("<int:pk>/", views.answer, name="answer"),
    path("<int:pk>/questions/<int:question_pk>/", views.answer_save, name="answer_save"),
    path("<int:pk>/partage/", views.share, name="share"),
    path("<int:pk>/terminer/", views.complete, name="complete"),
    path("<int:pk>/resultats/", views.results, name="results"),
    path("<int:pk>/preuves/", views.evidence_add, name="evidence_add"),
    path("<int:pk>/preuves/<int:evidence_pk>/", views.evidence_download, name="evidence_download"),
    path(
        "<int:pk>/preuves/<int:evidence_pk>/retirer/",
        views.evidence_delete,
        name="evidence_delete",
    ),
    path("<int:pk>/ecarts/", views.actions_from_gaps, name="actions_from_gaps"),
    path("<int:pk>/pdf/", views.assessment_pdf, name="assessment_pdf"),
    path("<int:pk>/xlsx/", views.assessment_xlsx, name="assessment_xlsx"),
    path("plan/", views.plan, name="plan"),
    path("plan/nouvelle/", views.action_create, name="action_create"),
    path("plan/<int:pk>/", views.action_edit, name="action_edit"),
    path("plan/<int:pk>/statut/", views.action_status, name="action_status"),
    path("plan/<int:pk>/supprimer/", views.action_delete, name="action_delete"),
    path("plan/retex/<int:pk>/importer/", views.retex_import, name="retex_import"),
    path("plan/pdf/", views.plan_pdf, name="plan_pdf"),
    path("plan/xlsx/", views.plan_xlsx, name="plan_xlsx"),
]
# --- end of brief G's block -------------------------------------------------------------------

# --- Regional campaigns and results (brief H: regional_views.py) ------------------------------
from . import regional_views  # noqa: E402

urlpatterns += [
    path("region/", regional_views.home, name="regional_home"),
    path("region/campagnes/nouvelle/", regional_views.campaign_create, name="campaign_create"),
    path("region/campagnes/<int:pk>/", regional_views.campaign_detail, name="campaign_detail"),
    path(
        "region/campagnes/<int:pk>/lancer/", regional_views.campaign_launch, name="campaign_launch"
    ),
    path(
        "region/campagnes/<int:pk>/cloturer/", regional_views.campaign_close, name="campaign_close"
    ),
    path(
        "region/campagnes/<int:pk>/export.csv",
        regional_views.campaign_export,
        name="campaign_export",
    ),
    path(
        "region/questionnaires/<int:pk>/avancement/",
        regional_views.completion,
        name="regional_completion",
    ),
    path(
        "region/questionnaires/<int:pk>/avancement.csv",
        regional_views.completion_export,
        name="regional_completion_export",
    ),
    path(
        "region/questionnaires/<int:pk>/repartition/",
        regional_views.distribution,
        name="regional_distribution",
    ),
    path(
        "region/questionnaires/<int:pk>/a-accompagner/",
        regional_views.support,
        name="regional_support",
    ),
    path("region/questionnaires/<int:pk>/ght/", regional_views.ght, name="regional_ght"),
]
# --- end of brief H's block -------------------------------------------------------------------
