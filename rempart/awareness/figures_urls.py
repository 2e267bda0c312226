"""Awareness figures (mounted under /sensibilisation/resultats/, namespace awareness)."""

from django.urls import path

from . import figures_views as views

urlpatterns = [
    path("", views.figures_page, name="figures"),
    path("export.csv", views.figures_export, name="figures_export"),
]
