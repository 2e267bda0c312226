from django.urls import path

from . import finess_views

urlpatterns = [
    path("", finess_views.import_list, name="finess_import"),
    path("<int:pk>/", finess_views.import_detail, name="finess_import_detail"),
    path("<int:pk>/rejets.csv", finess_views.rejections_csv, name="finess_import_rejections_csv"),
]
