"""Escape-game sessions (mounted under /sensibilisation/escape-games/, namespace awareness)."""

from django.urls import path

from . import escape_views as views

urlpatterns = [
    path("", views.session_list, name="escape_list"),
    path("export.csv", views.session_export, name="escape_export"),
    path("nouvelle/", views.session_create, name="escape_create"),
    path("<int:pk>/", views.session_detail, name="escape_detail"),
    path("<int:pk>/modifier/", views.session_edit, name="escape_edit"),
]
