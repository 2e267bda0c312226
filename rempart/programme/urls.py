from django.urls import include, path

app_name = "programme"

urlpatterns = [
    path("domaines/", include("rempart.programme.domain_urls")),
    path("appels/", include("rempart.programme.call_urls")),
]
