"""Paging survives a worker killed mid-way: a real `celery -A config worker` on Redis pages
alerts filed in the test database, is killed with SIGKILL in the middle, another one starts, and
every alert gets its first pages exactly once (the sweep takes back what the dead worker held).

Runs when Redis answers on 127.0.0.1:6379 and the database is PostgreSQL (the worker, another
process, must see the test's committed rows): both are there in CI. Each run uses a queue of
its own, so it never meets another worker sharing the Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, transaction

from rempart.incidents import paging
from rempart.incidents.models import (
    EscalationPolicy,
    Page,
    PageChannel,
    PageStatus,
    PagingWebhook,
)

from .factories import incident_world, make_alert

REPO = Path(__file__).resolve().parents[3]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
ALERTS = 40
CONCURRENCY = 2
GATEWAY_DELAY_S = 0.08  # a gateway that takes its time: the kill lands in the middle of the work
DEADLINE_S = 150  # about 20 s on an idle machine; generous for a busy CI runner


def _redis_answers() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
# CI sets REMPART_TEST_REDIS=required on its PostgreSQL run: there, a missing Redis fails.
REDIS_REQUIRED = os.environ.get("REMPART_TEST_REDIS") == "required"
pytestmark = [
    pytest.mark.skipif(
        not ON_POSTGRESQL, reason="needs PostgreSQL (the worker process reads the test database)"
    ),
    pytest.mark.skipif(
        not REDIS_REQUIRED and not _redis_answers(), reason="needs Redis on 127.0.0.1:6379"
    ),
    pytest.mark.django_db(transaction=True),
]


class Gateway:
    """The SMS gateway: counts each page id it receives (signature checked)."""

    def __init__(self, secret: str):
        self.received: Counter = Counter()
        self.bad_signatures = 0
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                good = self.headers["X-Rempart-Signature"] == paging.sign(
                    secret, self.headers["X-Rempart-Timestamp"], body
                )
                time.sleep(GATEWAY_DELAY_S)
                with gateway.lock:
                    if good:
                        gateway.received[json.loads(body)["page_id"]] += 1
                    else:
                        gateway.bad_signatures += 1
                self.send_response(200 if good else 401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "postgres")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    def __init__(self, name: str, queue: str, broker: str, log: Path):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": broker,
            "REMPART_CELERY_QUEUE": queue,
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
        env.pop("REDIS_URL", None)
        self.log = log
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queue,
                "-n",
                f"{name}@%h",
                "-c",
                str(CONCURRENCY),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "info",
            ],
            cwd=REPO,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed with its children
        )

    def kill(self):
        """SIGKILL to the worker and its pool processes: a crash, not a shutdown."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def broker(settings):
    """The test process publishes to Redis, on a queue of its own, instead of running inline."""
    from config.celery import app

    assert _redis_answers(), "Redis ne répond pas sur 127.0.0.1:6379 (REMPART_TEST_REDIS=required)"
    queue = f"rempart-paging-test-{uuid.uuid4().hex[:12]}"
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = url
    settings.CELERY_TASK_DEFAULT_QUEUE = queue

    def fresh():
        app.__dict__.pop("amqp", None)  # routing and producers built from the settings above
        app._pool = None

    fresh()
    assert app.amqp.router.route({}, "incidents.paging_run_step")["queue"].name == queue
    yield queue, url
    try:
        app.pool.force_close_all()
    finally:
        fresh()
        _forget_queue(queue)


def _forget_queue(queue: str) -> None:
    """Remove what the run leaves in Redis: its queue and the messages the dead worker held."""
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0)
    client.delete(queue)
    for tag, raw in client.hscan_iter("unacked"):
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key == queue:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
    client.close()


def _queued(queue: str) -> int:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0)
    try:
        return client.llen(queue)
    finally:
        client.close()


def _first_pages_sent(alert_ids) -> int:
    """Alerts whose first step is entirely sent."""
    done = 0
    for alert_id in alert_ids:
        pages = list(
            Page.objects.filter(alert_id=alert_id, step=0).values_list("status", flat=True)
        )
        done += bool(pages) and all(status == PageStatus.SENT for status in pages)
    return done


def test_a_killed_worker_loses_no_alert_and_sends_nothing_twice(broker, tmp_path, monkeypatch):
    queue, url = broker
    world = incident_world()
    EscalationPolicy.objects.filter(crrc=world.crrc).update(ack_timeout_minutes=30)
    gateway = Gateway(secret="s3cret")
    PagingWebhook.objects.create(crrc=world.crrc, name="SMS", url=gateway.url, secret="s3cret")
    # The sweep runs here, in the test process; shorter waits than beat's so the test is quick.
    monkeypatch.setattr(paging, "STALE_PAGE_S", 4)
    monkeypatch.setattr(paging, "STEP_GRACE_S", 2)

    alert_ids = []
    for n in range(ALERTS):
        with transaction.atomic():
            alert = make_alert(world, description=f"Alerte {n}")
            paging.start_paging(alert)  # the first step is queued in Redis on commit
        alert_ids.append(alert.pk)

    log = tmp_path / "workers.log"
    workers = [Worker("first", queue, url, log)]
    started = time.monotonic()
    try:
        # Kill the first worker once a quarter of the alerts are paged, while it works.
        while _first_pages_sent(alert_ids) < ALERTS // 4:
            assert time.monotonic() - started < DEADLINE_S / 2, log.read_text()[-3000:]
            time.sleep(0.1)
        workers[0].kill()
        paged_at_kill = _first_pages_sent(alert_ids)
        assert paged_at_kill < ALERTS, "the worker was not killed mid-way"

        # The second worker takes the queue over; what the dead one held (acknowledged late,
        # so never acknowledged) is taken back by the sweep once the queue is drained.
        workers.append(Worker("second", queue, url, log))
        while _queued(queue):
            assert time.monotonic() - started < DEADLINE_S, log.read_text()[-3000:]
            time.sleep(0.2)
        paged_by_second_worker = _first_pages_sent(alert_ids) - paged_at_kill
        swept = Counter()
        while _first_pages_sent(alert_ids) < ALERTS:
            assert time.monotonic() - started < DEADLINE_S, log.read_text()[-3000:]
            swept.update(paging.sweep())  # (beat's periodic task, run here)
            time.sleep(1)
        time.sleep(2 * GATEWAY_DELAY_S + 1)  # anything late would arrive now
    finally:
        for worker in workers:
            worker.kill()
        gateway.close()

    pages = Page.objects.filter(alert_id__in=alert_ids)
    # Exactly the first step, once: one gateway call and one e-mail for the level-1 person.
    assert pages.count() == 2 * ALERTS
    for alert_id in alert_ids:
        first = pages.filter(alert_id=alert_id)
        assert sorted(first.values_list("step", "level", "channel", "recipient_id")) == [
            (0, 1, PageChannel.EMAIL, world.oncall.pk),
            (0, 1, PageChannel.WEBHOOK, world.oncall.pk),
        ]
    assert set(pages.values_list("status", flat=True)) == {PageStatus.SENT}
    webhook_pages = set(pages.filter(channel=PageChannel.WEBHOOK).values_list("pk", flat=True))
    assert gateway.bad_signatures == 0
    assert set(gateway.received) == webhook_pages  # every page reached the gateway
    # Never sent twice, but for a call in flight at the kill (answered, not yet recorded): the
    # gateway recognises it by its page id. At most one per pool process of the dead worker.
    twice = [page for page, count in gateway.received.items() if count > 1]
    assert len(twice) <= CONCURRENCY, twice
    assert max(gateway.received.values()) <= 2
    print(
        f"{ALERTS} alerts: {paged_at_kill} paged when the first worker was killed, "
        f"{paged_by_second_worker} by the second worker from the queue; the sweep took back "
        f"{swept['steps']} step(s) and {swept['pages']} page(s); {len(twice)} gateway call(s) repeated; {time.monotonic() - started:.1f} s"
    )
