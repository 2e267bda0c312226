"""Trainings, webinars and workshops (mounted under /formations/, namespace events)."""

from django.urls import path

from . import views

app_name = "events"

urlpatterns = [
    path("", views.session_list, name="session_list"),
    path("nouvelle/", views.session_create, name="session_create"),
    path("<int:pk>/", views.session_detail, name="session_detail"),
    path("<int:pk>/modifier/", views.session_edit, name="session_edit"),
    path("<int:pk>/publier/", views.session_publish, name="session_publish"),
    path("<int:pk>/annuler/", views.session_cancel, name="session_cancel"),
    path("<int:pk>/inscrire/", views.registration_create, name="registration_create"),
    path("<int:pk>/presences/", views.attendance, name="attendance"),
    path("<int:pk>/emargement.csv", views.attendance_export, name="attendance_export"),
    path("<int:pk>/satisfaction/", views.survey_results, name="survey_results"),
    path("inscriptions/<int:pk>/annuler/", views.registration_cancel, name="registration_cancel"),
    path("inscriptions/<int:pk>/attestation.pdf", views.certificate_pdf, name="certificate_pdf"),
    path("mes-equipes/", views.my_staff, name="my_staff"),
    path("mes-equipes/export.csv", views.my_staff_export, name="my_staff_export"),
    path("chiffres/", views.figures, name="figures"),
    path("chiffres/export.csv", views.figures_export, name="figures_export"),
    path("chiffres/export.xlsx", views.figures_xlsx, name="figures_xlsx"),
    # Public: the signed link of the satisfaction e-mail.
    path("questionnaire/<str:token>/", views.survey, name="survey"),
]
