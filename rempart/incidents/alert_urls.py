"""The qualification-and-alert form, the alerts and their handling (mounted at /incidents/alertes/)."""

from django.urls import path

from . import alert_views as views

urlpatterns = [
    path("", views.alert_list, name="alert_list"),
    path("nouvelle/", views.alert_new, name="alert_new"),
    path("consignes/", views.alert_guidance, name="alert_guidance"),
    path("<int:pk>/", views.alert_detail, name="alert_detail"),
    path("<int:pk>/completer/", views.alert_complete, name="alert_complete"),
    path("<int:pk>/prise-en-compte/", views.alert_acknowledge, name="alert_acknowledge"),
    path("<int:pk>/qualifier/", views.alert_qualify, name="alert_qualify"),
    path("<int:pk>/classer/", views.alert_dismiss, name="alert_dismiss"),
]
