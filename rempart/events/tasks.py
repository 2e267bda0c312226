"""Background e-mails of trainings: thin wrappers around the services (idempotent: each checks
that its e-mail still applies and, for reminders and surveys, that it was not sent already)."""

from celery import shared_task


@shared_task(name="events.send_registration_email")
def send_registration_email(registration_id: int, kind: str) -> bool:
    from .services import registration_notify

    return registration_notify(registration_id, kind)


@shared_task(name="events.send_survey_invitation")
def send_survey_invitation(registration_id: int) -> bool:
    from .services import survey_invite

    return survey_invite(registration_id)


@shared_task(name="events.send_session_reminders")
def send_session_reminders() -> int:
    """Daily (Celery beat): the reminder e-mail, with the calendar invitation, the day before."""
    from .services import send_due_reminders

    return send_due_reminders()
