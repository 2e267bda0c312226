"""Background e-mails of the action plans (a module of its own beside the campaigns' `tasks.py`;
imported by the app's `ready()` so that workers register it)."""

from celery import shared_task


@shared_task(name="assessments.send_action_reminders")
def send_action_reminders() -> int:
    """Daily (Celery beat): each organisation's assessors hear of the open actions of their plan
    due within 7 days or overdue (one e-mail per organisation)."""
    from .services import send_action_reminders as send

    return send()
