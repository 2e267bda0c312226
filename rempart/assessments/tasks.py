"""Background e-mails of the regional campaigns: thin wrappers around `campaigns` (idempotent:
every e-mail is recorded with its sending, once per organisation, kind and reminder day)."""

from celery import shared_task


@shared_task(name="assessments.send_campaign_invitations")
def send_campaign_invitations(campaign_id: int) -> int:
    """Right after a launch: the invitations of a campaign whose opening day has come."""
    from .campaigns import send_invitations

    return send_invitations(campaign_id)


@shared_task(name="assessments.send_campaign_reminders")
def send_campaign_reminders() -> int:
    """Daily (Celery beat): invitations on the opening day, reminders on the reminder days."""
    from .campaigns import send_due_notices

    return send_due_notices()
