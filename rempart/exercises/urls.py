"""Cyber crisis exercises (mounted under /exercices/, namespace exercises)."""

from django.urls import path

from . import coverage_views, library_views
from . import views as run_views

app_name = "exercises"

urlpatterns = [
    # Coverage (ARS, CRRC, GHT coordinators, national observers).
    path("couverture/", coverage_views.coverage, name="coverage"),
    path(
        "couverture/etablissements/",
        coverage_views.coverage_organisations,
        name="coverage_organisations",
    ),
    path("couverture/export.csv", coverage_views.coverage_export, name="coverage_export"),
    # XLSX export of the coverage (brief E): the organisations and the breakdown.
    path("couverture/export.xlsx", coverage_views.coverage_xlsx, name="coverage_xlsx"),
    # Exercise runs (brief A): « Mes exercices », planning, participants, console, evaluation,
    # RETEX, report; and the participant's public page reached by a signed link.
    path("", run_views.run_list, name="run_list"),
    path("planifier/", run_views.run_create, name="run_create"),
    path("<int:pk>/", run_views.run_detail, name="run_detail"),
    path("<int:pk>/modifier/", run_views.run_edit, name="run_edit"),
    path("<int:pk>/annuler/", run_views.run_cancel, name="run_cancel"),
    path("<int:pk>/participants/", run_views.participant_add, name="participant_add"),
    path(
        "<int:pk>/participants/<int:participant_pk>/retirer/",
        run_views.participant_remove,
        name="participant_remove",
    ),
    path(
        "<int:pk>/participants/<int:participant_pk>/lien/",
        run_views.participant_send_link,
        name="participant_send_link",
    ),
    path("<int:pk>/presences/", run_views.attendance, name="run_attendance"),
    path("<int:pk>/stimuli/ajouter/", run_views.inject_create, name="inject_create"),
    path("<int:pk>/stimuli/<int:inject_pk>/modifier/", run_views.inject_edit, name="inject_edit"),
    path(
        "<int:pk>/stimuli/<int:inject_pk>/supprimer/",
        run_views.inject_delete,
        name="inject_delete",
    ),
    path(
        "<int:pk>/stimuli/<int:inject_pk>/diffuser/",
        run_views.inject_release,
        name="inject_release",
    ),
    path("<int:pk>/console/", run_views.console, name="run_console"),
    path("<int:pk>/demarrer/", run_views.run_transition, {"action": "start"}, name="run_start"),
    path("<int:pk>/pause/", run_views.run_transition, {"action": "pause"}, name="run_pause"),
    path("<int:pk>/reprendre/", run_views.run_transition, {"action": "resume"}, name="run_resume"),
    path("<int:pk>/terminer/", run_views.run_transition, {"action": "end"}, name="run_end"),
    path("<int:pk>/journal.csv", run_views.journal_export, name="run_journal_export"),
    path("<int:pk>/evaluation/", run_views.evaluation, name="run_evaluation"),
    path("<int:pk>/retex/", run_views.debrief, name="run_debrief"),
    path("<int:pk>/retex/actions/", run_views.action_create, name="action_create"),
    path(
        "<int:pk>/retex/actions/<int:action_pk>/modifier/",
        run_views.action_edit,
        name="action_edit",
    ),
    path(
        "<int:pk>/retex/actions/<int:action_pk>/supprimer/",
        run_views.action_delete,
        name="action_delete",
    ),
    path("<int:pk>/rapport.pdf", run_views.run_report, name="run_report"),
    path("participer/<str:token>/", run_views.participant_page, name="participant_page"),
    # Library (brief B): the scenarios one may read, a scenario with its versions, the CRRC's
    # upload and retire, an establishment's own scenarios (create, edit, injects, duplicate).
    path("bibliotheque/", library_views.library_list, name="library_list"),
    path("bibliotheque/publier/", library_views.library_upload, name="library_upload"),
    path("bibliotheque/creer/", library_views.library_own_create, name="library_own_create"),
    path("bibliotheque/<int:pk>/", library_views.library_detail, name="library_detail"),
    path("bibliotheque/<int:pk>/yaml/", library_views.library_export, name="library_export"),
    path("bibliotheque/<int:pk>/retirer/", library_views.library_retire, name="library_retire"),
    path(
        "bibliotheque/<int:pk>/modifier/", library_views.library_own_edit, name="library_own_edit"
    ),
    path(
        "bibliotheque/<int:pk>/stimuli/ajouter/",
        library_views.library_inject_add,
        name="library_inject_add",
    ),
    path(
        "bibliotheque/<int:pk>/stimuli/<int:inject_pk>/retirer/",
        library_views.library_inject_remove,
        name="library_inject_remove",
    ),
    path(
        "bibliotheque/<int:pk>/dupliquer/",
        library_views.library_duplicate,
        name="library_duplicate",
    ),
]
