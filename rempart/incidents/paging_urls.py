"""Paging: the end-to-end test of the on-call chain, and the signed acknowledgement link."""

from django.urls import path

from . import paging_views

urlpatterns = [
    path("test-chaine/", paging_views.chain_test, name="paging_test"),
    path("test-chaine/<int:pk>/", paging_views.chain_test_detail, name="paging_test_detail"),
    # Public: the signed, expiring link of a page (e-mail, gateway); GET only shows a button.
    path("prise-en-compte/<str:token>/", paging_views.acknowledge_link, name="paging_ack"),
]
