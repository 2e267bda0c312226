"""Background jobs of simulated phishing: thin wrappers around `sending`.

Every task is idempotent (the rows say what was sent, claimed, or handed over) and acknowledged
late; the sweep, queued by Celery beat every 30 s, plans new campaigns, takes back the claims of
dead workers, and queues the senders of the profiles with due messages."""

from celery import shared_task

from . import (
    integration_tasks,  # noqa: F401  (registers the mailbox and webhook tasks)
    sending,
)


@shared_task(name="phishing.send_profile", acks_late=True)
def send_profile_task(profile_id: int) -> dict:
    """Send the profile's due messages for a while (SENDER_BUDGET_S), at its rate."""
    result = sending.send_due(profile_id)
    return {"sent": result.sent, "failed": result.failed, "retried": result.retried}


@shared_task(name="phishing.sending_sweep", acks_late=True)
def sweep_task() -> dict:
    """Plan, take back stale claims, close finished campaigns, erase expired identities, and
    queue the senders (PHISHING_SENDERS_PER_PROFILE per profile with due messages)."""
    report = sending.sweep()
    if send_profile_task.app.conf.task_always_eager:
        return report  # without a broker: `manage.py send_phishing` sends (never inline here)
    for profile_id in report["profiles"]:
        for _ in range(sending.senders_per_profile()):
            send_profile_task.delay(profile_id)
    return report
