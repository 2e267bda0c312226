"""The CRRC's on-call pages (mounted under /incidents/astreinte/, namespace incidents): the rota
and its shifts, handover notes, the escalation policy and the paging gateways. The CRRC is the
user's own, or the one named by `?crrc=` when they see several."""

from django.urls import path

from . import oncall_views

urlpatterns = [
    path("planning/", oncall_views.oncall_rota, name="oncall_rota"),
    path("planning/tours/<int:pk>/", oncall_views.oncall_shift_edit, name="oncall_shift_edit"),
    path(
        "planning/tours/<int:pk>/supprimer/",
        oncall_views.oncall_shift_delete,
        name="oncall_shift_delete",
    ),
    path("releve/", oncall_views.oncall_handover, name="oncall_handover"),
    path("escalade/", oncall_views.oncall_policy, name="oncall_policy"),
    path("passerelles/", oncall_views.oncall_webhooks, name="oncall_webhooks"),
    path("passerelles/<int:pk>/", oncall_views.oncall_webhook_edit, name="oncall_webhook_edit"),
    path(
        "passerelles/<int:pk>/supprimer/",
        oncall_views.oncall_webhook_delete,
        name="oncall_webhook_delete",
    ),
]
