"""Background work of exercise runs: thin wrappers around the services.

* `release_due_injects` (Celery beat, every 30 s): releases the injects that fell due in every
  exercise in progress, so the timeline moves even when no console or participant page is open.
  Idempotent: an inject is released once, under the run's lock.
* the e-mails of a participant's link and of an e-mail inject, after commit.
"""

from celery import shared_task


@shared_task(name="exercises.release_due_injects")
def release_due_injects() -> int:
    from .services import release_all_due

    return release_all_due()


@shared_task(name="exercises.send_participant_link")
def send_participant_link(participant_id: int) -> bool:
    from .services import link_send

    return link_send(participant_id)


@shared_task(name="exercises.send_inject_email")
def send_inject_email(inject_id: int) -> int:
    from .services import inject_email_send

    return inject_email_send(inject_id)
