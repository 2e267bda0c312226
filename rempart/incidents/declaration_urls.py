"""The CERT Santé declaration of a case, mounted under /incidents/dossiers/ (namespace
« incidents »)."""

from django.urls import path

from . import declaration_views

urlpatterns = [
    path("<int:pk>/declaration/", declaration_views.case_declaration, name="case_declaration"),
    path(
        "<int:pk>/declaration/declaration.pdf",
        declaration_views.case_declaration_pdf,
        name="case_declaration_pdf",
    ),
    path(
        "<int:pk>/declaration/declaration.json",
        declaration_views.case_declaration_json,
        name="case_declaration_json",
    ),
]
