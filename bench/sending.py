"""Benchmark: a 20,000-recipient phishing campaign sent by real Celery workers into a local SMTP
sink (aiosmtpd, in a thread of this process on 127.0.0.1), one worker killed (SIGKILL) halfway
and started again.

Run with `make bench NAME=sending` or `.venv/bin/python bench/sending.py` (SQLite), or with
DATABASE_URL pointing to a PostgreSQL server; Redis must answer on 127.0.0.1:6379
(REDIS_BENCH_URL to use another). The benchmark never touches the database named there: it
makes its own (a temporary SQLite file, or a PostgreSQL database `rempart_bench_sending`
dropped at the end), uses a Redis queue of its own, and runs the workers with a small settings
module of its own (the project's settings plus a 10 s claim lease so that the killed worker's
rows come back quickly, and a temporary copy of the phishing migrations brought up to date with
the models, so that it runs before the project's migration is regenerated).

It builds an establishment with a group of 20,000 people, a template, a landing page and a
sending profile pointing to the sink (rate limit 2,000 msg/s: the Redis token bucket is used,
as in production), schedules the campaign (anonymous mode: each address is erased once its
message is sent) and asks « send now ». Beat's part is played here: the sweep task is queued
every 5 s; it queues the senders (one per worker process). When 40 % of the messages have
arrived, worker-1 is killed with its pool processes and started again.

Prints, for the database engine in use:
    send_rate_per_s: <x> msg/s      messages received / time from the first to the last
    messages_lost: <n> count        recipients whose message never reached the sink
    messages_duplicated: <n> count  messages received more than once
and exits non-zero when it could not measure (Redis down, a worker that does not start, the
deadline passed), when a message is duplicated, lost without trace (a message lost around the
killed worker's final dot is counted in messages_lost, and shown failed « issue inconnue » on
the campaign), or when a row is marked sent that the sink did not receive. Target: ≥ 200 msg/s. BENCH_RECIPIENTS, BENCH_WORKERS,
BENCH_WORKER_CONCURRENCY, BENCH_DEADLINE_S change the sizes; BENCH_LOG_DIR keeps the logs.
"""

import os
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import prepare_database  # noqa: E402 - bench/ is the script's own folder
from benchkit import (  # noqa: E402
    CannotMeasure,
    Process,
    finess,
    forget_queue,
    free_port,
    log,
    redis_answers,
    wait_for_worker,
)

RECIPIENTS = int(os.environ.get("BENCH_RECIPIENTS", "20000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
WORKER_CONCURRENCY = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "2"))
DEADLINE_S = float(os.environ.get("BENCH_DEADLINE_S", "240"))
REDIS_URL = os.environ.get("REDIS_BENCH_URL", "redis://127.0.0.1:6379/12")
SWEEP_EVERY_S = 5
CLAIM_LEASE_S = 10
RATE = 2000
TARGET = 200.0
KILL_AT = 0.4
BENCH_DB_NAME = "rempart_bench_sending"
TOKEN = re.compile(rb"X-Rempart-Campaign-Token: ([A-Za-z0-9_\-]+)")

SETTINGS_MODULE = f"""
from config.settings import *  # noqa: F403

PHISHING_CLAIM_LEASE_S = {CLAIM_LEASE_S}
PHISHING_SENDERS_PER_PROFILE = {WORKERS * WORKER_CONCURRENCY}
"""


# --- The SMTP sink ------------------------------------------------------------------------------


class SinkHandler:
    """Counts the campaign token of every accepted message, with the first and last times."""

    def __init__(self):
        self.received: Counter = Counter()
        self.first = self.last = None
        self.unreadable = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        match = TOKEN.search(envelope.content)
        now = time.monotonic()
        with self.lock:
            if match:
                self.received[match.group(1).decode()] += 1
            else:
                self.unreadable += 1
            self.first = self.first or now
            self.last = now
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return sum(self.received.values())


def start_sink():
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, handler


# --- Data ---------------------------------------------------------------------------------------


def build_campaign(port: int) -> int:
    import datetime

    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from rempart.core.roles import OrgKind, Role
    from rempart.organisations.models import Membership, Organisation, Region, User
    from rempart.phishing import sending, services
    from rempart.phishing.models import Recipient, SendingProfile

    started = time.perf_counter()
    region = Region.objects.create(code="84", name="Auvergne-Rhône-Alpes")
    hospital = Organisation.objects.create(
        kind=OrgKind.ESTABLISHMENT,
        name="CH bench",
        finess=finess(1),
        region=region,
        sector="sanitaire",
    )
    rssi = User.objects.create(
        email="rssi@ch-bench.fr", first_name="RSSI", last_name="Bench", password=make_password(None)
    )
    Membership.objects.create(user=rssi, organisation=hospital, role=Role.RSSI)
    group = services.group_create(actor=rssi, organisation=hospital, name="Tous")
    departments = ["Urgences", "Pharmacie", "Radiologie", "Administration", "Bloc"]
    Recipient.objects.bulk_create(
        (
            Recipient(
                group=group,
                email=f"personne{n:05d}@ch-bench.fr",
                first_name=f"Prénom{n}",
                last_name=f"Nom{n}",
                department=departments[n % len(departments)],
            )
            for n in range(RECIPIENTS)
        ),
        batch_size=2000,
    )
    mail = services.template_create(
        actor=rssi,
        organisation=hospital,
        name="Colis",
        subject="Votre colis {{prenom}}",
        sender_name="Service courrier",
        sender_address="courrier@ch-bench.fr",
        html_body='<p>Bonjour {{prenom}} {{nom}},</p><p><a href="{{lien}}">Suivre</a></p>{{pixel}}',
        text_body="Bonjour {{prenom}}, suivez votre colis : {{lien}}",
    )
    page = services.landing_create(
        actor=rssi,
        organisation=hospital,
        name="Portail",
        form_html="<form><input name='identifiant'></form>",
        fields=["identifiant"],
        teaching_title="C'était un exercice",
        teaching_text="Vérifiez l'expéditeur.",
    )
    profile = SendingProfile.objects.create(
        organisation=hospital,
        name="Sink",
        host="127.0.0.1",
        port=port,
        tls_mode="none",
        from_address="envoi@ch-bench.fr",
        rate_per_second=RATE,
    )
    now = timezone.now()
    campaign = services.campaign_create(
        actor=rssi,
        organisation=hospital,
        name="Bench",
        templates=[mail],
        groups=[group],
        landing_page=page,
        sending_profile=profile,
        starts_at=now,
        spread_until=now + datetime.timedelta(days=3),
        privacy_mode="anonymous",
        staff_information="Note de service.",
        legal_basis="Intérêt légitime.",
    )
    scheduled = services.campaign_schedule(actor=rssi, campaign=campaign)
    sending.campaign_send_now(actor=rssi, campaign=campaign)
    log(
        f"données : campagne de {scheduled.recipients} destinataires programmée en "
        f"{time.perf_counter() - started:.1f} s"
    )
    return campaign.pk


# --- Processes ------------------------------------------------------------------------------------


def start_worker(name: str, queue: str, workdir: Path) -> Process:
    env = os.environ.copy()
    return Process(
        name,
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
            str(WORKER_CONCURRENCY),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            os.environ.get("BENCH_WORKER_LOG_LEVEL", "warning"),
        ],
        workdir / f"{name}.log",
        env,
    )


# --- The run --------------------------------------------------------------------------------------


def run(engine: str, workdir: Path) -> dict:
    import django
    from django.core.management import call_command

    django.setup()
    from django.db import connection

    from rempart.phishing import sending, tasks
    from rempart.phishing.models import CampaignRecipient

    call_command("migrate", verbosity=0, interactive=False)
    controller, sink = start_sink()
    workers: list[Process] = []
    try:
        campaign_id = build_campaign(controller.port)
        if engine == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        rows = CampaignRecipient.objects.filter(campaign_id=campaign_id)
        tokens = set(rows.values_list("token", flat=True))
        connection.close()  # the workers open their own

        queue = os.environ["REMPART_CELERY_QUEUE"]
        workers.extend(start_worker(f"worker-{n + 1}", queue, workdir) for n in range(WORKERS))
        for worker in workers:
            wait_for_worker(worker)
        log(
            f"{WORKERS} workers Celery × concurrence {WORKER_CONCURRENCY} prêts ; puits SMTP "
            f"sur 127.0.0.1:{controller.port} ; débit du profil {RATE}/s"
        )
        started = time.monotonic()
        last_sweep = 0.0
        killed = False
        while True:
            now = time.monotonic()
            if now - last_sweep >= SWEEP_EVERY_S:
                tasks.sweep_task.delay()
                last_sweep = now
            received = sink.count()
            if not killed and received >= RECIPIENTS * KILL_AT:
                workers[0].kill()
                killed_at = time.monotonic()
                log(f"  worker-1 tué (SIGKILL) après {received} messages reçus")
                workers.append(start_worker("worker-1-relance", queue, workdir))
                wait_for_worker(workers[-1])
                log(f"  worker-1 relancé, prêt {time.monotonic() - killed_at:.1f} s après l'arrêt")
                killed = True
            if killed:
                left = rows.filter(send_status="pending").count()
                if left == 0:
                    break
            if now - started > DEADLINE_S:
                log(f"  délai dépassé : {RECIPIENTS - received} messages non reçus")
                break
            time.sleep(0.5)
        time.sleep(2)  # a late duplicate would arrive now
        if not killed:
            raise CannotMeasure("le worker n'a pas pu être arrêté en cours d'envoi")

        status = Counter(rows.values_list("send_status", flat=True))
        marked_sent = set(rows.filter(send_status="sent").values_list("token", flat=True))
        unknown_rows = rows.filter(last_error=sending.HANDED_OVER_ERROR)
        unknown = unknown_rows.count()
        received = set(sink.received)
        lost = len(tokens - received)
        # A message not received whose row says « issue inconnue » is lost in the open: the
        # worker was killed around its final dot, the campaign shows it failed. Silent = the
        # rest (nothing on the campaign says so): that is what must never happen.
        silent = len(tokens - received - set(unknown_rows.values_list("token", flat=True)))
        duplicated = sum(count - 1 for count in sink.received.values() if count > 1)
        not_received_but_sent = len(marked_sent - received)
        left_addresses = rows.filter(send_status="sent").exclude(email="").count()
        if sink.first is None or sink.last is None or sink.last <= sink.first:
            raise CannotMeasure("aucun message reçu par le puits SMTP")
        rate = sum(sink.received.values()) / (sink.last - sink.first)
        log(
            f"  reçus : {sum(sink.received.values())} messages ({len(received)} distincts) en "
            f"{sink.last - sink.first:.1f} s ; en base : {dict(status)} ; issue inconnue "
            f"(worker tué entre le point final et la réponse, non renvoyés) : {unknown} ; "
            f"marqués envoyés sans être reçus : {not_received_but_sent} ; adresses non "
            f"effacées après envoi : {left_addresses} ; messages illisibles : {sink.unreadable}"
        )
        return {
            "rate": rate,
            "lost": lost,
            "silently_lost": silent,
            "duplicated": duplicated,
            "false_sent": not_received_but_sent + left_addresses + sink.unreadable,
            "unconfirmed": unknown,
        }
    finally:
        for worker in workers:
            worker.kill()
        controller.stop()


def main() -> int:
    os.environ.setdefault("REMPART_LOG_LEVEL", "WARNING")
    if not redis_answers(REDIS_URL):
        log(f"Redis ne répond pas ({REDIS_URL}) : le benchmark a besoin d'un vrai broker.")
        return 2
    queue = f"rempart-bench-sending-{uuid.uuid4().hex[:12]}"
    os.environ.update(
        {
            "CELERY_BROKER_URL": REDIS_URL,
            "REMPART_CELERY_QUEUE": queue,
            "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
    )
    os.environ.pop("REDIS_URL", None)
    engine, cleanup = prepare_database(BENCH_DB_NAME)
    log(f"base : {engine} (base dédiée au benchmark), file Redis {queue}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sending-") as workdir:
            logs = Path(os.environ.get("BENCH_LOG_DIR") or workdir)
            logs.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix="modules-", dir=workdir))
            (work / "bench_sending_settings.py").write_text(SETTINGS_MODULE)
            sys.path.insert(0, str(work))
            os.environ["DJANGO_SETTINGS_MODULE"] = "bench_sending_settings"
            os.environ["PYTHONPATH"] = os.pathsep.join([str(work), str(ROOT)])
            figures = run(engine, logs)
    except CannotMeasure as exc:
        log(f"mesure impossible : {exc}")
        return 3
    finally:
        forget_queue(REDIS_URL, queue)
        cleanup()
    print(f"send_rate_per_s: {figures['rate']:.0f} msg/s")
    print(f"messages_lost: {figures['lost']} count")
    print(f"messages_duplicated: {figures['duplicated']} count")
    # Rows failed because the killed worker died around a final dot (see rempart/phishing/sending).
    print(f"messages_unconfirmed: {figures['unconfirmed']} count")
    if figures["rate"] < TARGET:
        log(f"objectif manqué : {figures['rate']:.0f} msg/s < {TARGET:.0f} msg/s")
    if figures["lost"]:
        log(
            f"{figures['lost']} message(s) non reçu(s), dont {figures['silently_lost']} sans "
            "trace : les autres sont en échec « issue inconnue » sur la campagne (worker tué "
            "autour du point final, voir rempart/phishing/sending.py)"
        )
    if figures["silently_lost"] or figures["duplicated"] or figures["false_sent"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
