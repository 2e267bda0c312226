"""The learner's pages (mounted under /sensibilisation/, namespace awareness)."""

from django.urls import path

from . import learning_views as views

urlpatterns = [
    path("", views.module_list, name="modules"),
    path("modules/<slug:code>/", views.module_detail, name="module_detail"),
    path("modules/<slug:code>/quiz/", views.module_quiz, name="module_quiz"),
    path("mes-resultats/", views.attempt_list, name="attempt_list"),
    path("mes-resultats/<int:pk>/", views.attempt_detail, name="attempt_detail"),
    path("attestations/<int:pk>/pdf/", views.certificate_pdf, name="certificate_pdf"),
    # Public: the code printed on the certificate (128 random bits) is the credential.
    path("attestations/verifier/<str:code>/", views.certificate_verify, name="certificate_verify"),
]
