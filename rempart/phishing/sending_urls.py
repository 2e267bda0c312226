"""Phishing sending pages, included in the `phishing` namespace by urls.py."""

from django.urls import path

from . import sending_views

urlpatterns: list = [
    path("campagnes/<int:pk>/pause/", sending_views.campaign_pause, name="campaign_pause"),
    path("campagnes/<int:pk>/reprendre/", sending_views.campaign_resume, name="campaign_resume"),
    path(
        "campagnes/<int:pk>/envoyer-maintenant/",
        sending_views.campaign_send_now,
        name="campaign_send_now",
    ),
    path("campagnes/<int:pk>/envoi/", sending_views.sending_progress, name="campaign_sending"),
]
