from django.urls import path

from . import call_views

urlpatterns = [
    path("", call_views.call_list, name="calls"),
    path("nouveau/", call_views.call_create, name="call_create"),
    path("<int:pk>/", call_views.call_detail, name="call_detail"),
    path("<int:pk>/modifier/", call_views.call_edit, name="call_edit"),
    path("<int:pk>/plafonds.csv", call_views.call_ceilings_csv, name="call_ceilings_csv"),
]
