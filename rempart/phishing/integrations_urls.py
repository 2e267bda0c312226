"""Pages of the phishing integrations: reporting mailboxes (IMAP) and webhooks. Included by
urls.py under the `phishing` namespace (/hameconnage/)."""

from django.urls import path

from . import integrations_views as views

urlpatterns = [
    path("signalements/", views.mailbox_list, name="mailbox_list"),
    path("signalements/nouvelle/", views.mailbox_new, name="mailbox_new"),
    path("signalements/<int:pk>/modifier/", views.mailbox_edit, name="mailbox_edit"),
    path("signalements/<int:pk>/tester/", views.mailbox_test, name="mailbox_test"),
    path("signalements/<int:pk>/relever/", views.mailbox_poll, name="mailbox_poll"),
    path("signalements/<int:pk>/supprimer/", views.mailbox_delete, name="mailbox_delete"),
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/nouveau/", views.webhook_new, name="webhook_new"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:pk>/modifier/", views.webhook_edit, name="webhook_edit"),
    path("webhooks/<int:pk>/cle/", views.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<int:pk>/tester/", views.webhook_test, name="webhook_test"),
    path("webhooks/<int:pk>/supprimer/", views.webhook_delete, name="webhook_delete"),
]
