from django.urls import path

from . import finess_views

urlpatterns = [
    path("", finess_views.import_list, name="finess_import"),
]
