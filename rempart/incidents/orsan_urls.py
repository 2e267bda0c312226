"""ORSAN cyber mutual aid (mounted under /incidents/orsan/, namespace incidents): activations,
aid requests and loans, the catalogue of pooled resources."""

from django.urls import path

from . import orsan_views as views

urlpatterns = [
    path("", views.activation_list, name="orsan_activations"),
    path("activer/", views.activation_create, name="orsan_activate"),
    path("<int:pk>/", views.activation_detail, name="orsan_detail"),
    path("<int:pk>/lever/", views.activation_lift, name="orsan_lift"),
    path("<int:pk>/demander/", views.aid_request_create, name="orsan_request"),
    path("demandes/<int:pk>/", views.aid_detail, name="orsan_aid"),
    path("prets/", views.loan_list, name="orsan_loans"),
    path("ressources/", views.resource_catalogue, name="orsan_resources"),
    path("ressources/miennes/", views.my_resources, name="orsan_my_resources"),
    path("ressources/nouvelle/", views.resource_create, name="orsan_resource_create"),
    path("ressources/<int:pk>/modifier/", views.resource_edit, name="orsan_resource_edit"),
]
