"""Background jobs of incident assistance: thin wrappers around `paging`.

Every task is idempotent (the rows say what was already done) and acknowledged late, so a
worker killed mid-task leaves its message to be run again; the sweep, queued by Celery beat
every 30 s, catches what a lost message would have done (see `paging`)."""

from celery import shared_task

from . import paging
from .orsan_services import orsan_notice  # noqa: F401  (registers the ORSAN e-mail task with the worker)


@shared_task(name="incidents.paging_run_step", acks_late=True)
def run_step_task(alert_id: int) -> str:
    """Page the alert's next escalation step if it is due (and deliver its pages)."""
    return paging.run_step(alert_id).outcome


@shared_task(bind=True, name="incidents.paging_deliver_page", acks_late=True, max_retries=None)
def deliver_page_task(self, page_id: int) -> str:
    """Send one page; a failure is retried with a backoff until the page is failed (the page
    row counts the attempts, so a duplicate message never adds tries beyond the limit)."""
    outcome = paging.deliver_page(page_id)
    if outcome.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=outcome.retry_in)
    # (Run inline, without a broker, nothing can wait: the page stays « à envoyer » and the
    # sweep tries it again.)
    return outcome.status


@shared_task(name="incidents.paging_sweep", acks_late=True)
def sweep_task() -> dict:
    """Queue the steps and deliveries that a lost task left behind."""
    return paging.sweep()


@shared_task(name="incidents.paging_exhausted_notice", acks_late=True)
def exhausted_notice_task(alert_id: int) -> int:
    """E-mail the CRRC operators that nobody acknowledged the alert."""
    return paging.send_exhausted_notice(alert_id)
