"""Background jobs of the phishing integrations (reporting mailbox, webhooks): thin wrappers
around `mailbox` and `webhooks`. Idempotent (the rows say what was already done: handled
Message-ID hashes, delivery rows with their dedup key and status) and acknowledged late.

Registered with the worker by `tasks.py` (`from .integration_tasks import *`); queued by
Celery beat (config/settings.py CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from . import mailbox, webhooks

__all__ = ["poll_mailbox_task", "poll_mailboxes_task", "webhooks_sweep_task"]


@shared_task(name="phishing.poll_mailboxes", acks_late=True)
def poll_mailboxes_task() -> int:
    """Queue one poll per active reporting mailbox."""
    ids = mailbox.due_mailboxes()
    for pk in ids:
        poll_mailbox_task.delay(pk)
    return len(ids)


@shared_task(name="phishing.poll_mailbox", acks_late=True)
def poll_mailbox_task(mailbox_id: int) -> dict:
    """Handle the unseen messages of one mailbox (skipped while another poll holds it)."""
    result = mailbox.poll(mailbox_id)
    return {
        "fetched": result.fetched,
        "reports": result.reports,
        "no_token": result.no_token,
        "duplicates": result.duplicates,
        "error": result.error,
        "skipped": result.skipped,
    }


@shared_task(name="phishing.webhooks_sweep", acks_late=True)
def webhooks_sweep_task() -> dict:
    """Create the due webhook deliveries (campaign changes, tracking events) and send them."""
    return webhooks.sweep()
