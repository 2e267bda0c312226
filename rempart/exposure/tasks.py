"""Background work of the exposure watch: thin wrappers around the services.

* `run_scan`: one scan, acknowledged late: a worker that dies leaves the scan "running" with a
  stale heartbeat; the schedule sweep queues it again and the next worker resumes after the
  hosts already saved. Scans of several establishments run in parallel across workers.
* `schedule_due_scans` (Celery beat, every 15 min): queues the scans due, inside their windows.
* `send_alert`: the e-mail and webhook of a scan's new findings, after commit.
"""

from celery import shared_task


@shared_task(name="exposure.run_scan", acks_late=True)
def run_scan_task(scan_id: int) -> str:
    from .services import scan_run

    scan = scan_run(scan_id)
    return scan.status if scan else "not_taken"


@shared_task(name="exposure.schedule_due_scans", acks_late=True)
def schedule_due_scans_task() -> int:
    from .services import requeue_stale, schedule_due_scans

    requeue_stale()
    return len(schedule_due_scans())


@shared_task(name="exposure.send_alert")
def send_alert_task(scan_id: int, finding_ids: list[int]) -> int:
    from .services import send_alert

    return send_alert(scan_id, finding_ids)
