from django.urls import path

from . import domain_views

urlpatterns = [
    path("", domain_views.domain_list, name="domains"),
    path(
        "exigences/<str:identifier>/modifier/",
        domain_views.requirement_edit,
        name="requirement_edit",
    ),
    path("<str:code>/", domain_views.domain_detail, name="domain_detail"),
]
