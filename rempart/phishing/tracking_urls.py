"""Public tracking endpoints of simulated phishing (no login: the recipient's token is the
credential), mounted at /p/ by config/urls.py. The sending engine reverses `pixel`, `click`
and `report` with the token as the only argument. Tokens are matched loosely here (`str`) and
checked by tracking.is_token: a malformed one gets the same neutral answer, never a 404."""

from django.urls import path

from . import tracking_views as views

app_name = "phishing_tracking"

urlpatterns = [
    path("o/<str:token>.gif", views.pixel, name="pixel"),
    path("c/<str:token>/", views.click, name="click"),
    path("c/<str:token>/envoi/", views.submit, name="submit"),
    path("c/<str:token>/vu/", views.confirm, name="confirm"),
    path("c/<str:token>/apprendre/", views.teaching, name="teaching"),
    path("apprendre/", views.neutral, name="neutral"),
    path("s/<str:token>/", views.report, name="report"),
    path("merci/", views.report_thanks, name="report_thanks"),
]
