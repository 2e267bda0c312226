from django.urls import include, path

from . import views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("composants/", views.gallery, name="gallery"),
    path("audit/", include("rempart.core.audit_urls")),
    path("compte/api/", include("rempart.core.token_urls")),
]
