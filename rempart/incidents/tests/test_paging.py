"""The paging engine: escalation order and rounds on a moving clock, acknowledgement, no double
sending, webhook delivery to a real HTTP server (HMAC), retries, the sweep, nobody on call."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.incidents import paging, tasks
from rempart.incidents.models import (
    AlertStatus,
    EscalationPolicy,
    EventKind,
    OnCallShift,
    Page,
    PageChannel,
    PageStatus,
    PagingStatus,
    PagingWebhook,
)

from .factories import incident_world, make_alert, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return incident_world()


class Clock:
    """timezone.now() under the test's control (the code under test reads it at each call)."""

    def __init__(self, monkeypatch):
        self.now = timezone.now()
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def advance(self, **delta) -> datetime.datetime:
        self.now += datetime.timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def file_alert(world, capture, **fields):
    """An alert as the alert service files it: saved, then paging started in its transaction
    (the queued first step runs inline: no broker in tests)."""
    with capture(execute=True):
        alert = make_alert(world, **fields)
        paging.start_paging(alert)
    alert.refresh_from_db()
    return alert


def step(alert, capture):
    with capture(execute=True):
        result = paging.run_step(alert.pk)
    alert.refresh_from_db()
    return result


def paged(alert) -> list[tuple[int, int, str, str]]:
    return [
        (p.step, p.level, p.recipient.last_name, p.channel)
        for p in alert.pages.select_related("recipient").order_by("step", "pk")
    ]


# --- Gateway: a real HTTP server on the loopback ------------------------------------------------


class Gateway:
    """An SMS gateway on 127.0.0.1: records each request; answers the statuses it is given."""

    def __init__(self, statuses=(200,)):
        self.requests: list[dict] = []
        self.statuses = list(statuses)
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.requests.append({"headers": dict(self.headers), "body": body})
                index = min(len(gateway.requests), len(gateway.statuses)) - 1
                self.send_response(gateway.statuses[index])
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway_factory():
    made = []

    def make(statuses=(200,)):
        made.append(Gateway(statuses))
        return made[-1]

    yield make
    for gateway in made:
        gateway.close()


# --- The chain ----------------------------------------------------------------------------------


def test_chain_is_the_shifts_covering_the_moment_by_level(world):
    now = timezone.now()
    later = OnCallShift.objects.create(
        crrc=world.crrc,
        person=world.provider_expert,
        level=1,
        starts_at=now + datetime.timedelta(hours=20),
        ends_at=now + datetime.timedelta(hours=30),
    )
    chain = paging.escalation_chain(world.crrc, now)
    assert [(s.person, s.level) for s in chain] == [(world.oncall, 1), (world.backup, 2)]
    assert paging.escalation_chain(world.crrc, later.starts_at) == [later]
    assert paging.escalation_chain(world.crrc, now - datetime.timedelta(days=1)) == []


def test_escalation_order_rounds_then_exhausted(world, clock, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    alert = file_alert(world, capture)
    # Step 1 at once: level 1 by e-mail (the CRRC has no gateway).
    assert paged(alert) == [(0, 1, "Astreinte", PageChannel.EMAIL)]
    assert alert.paging_status == PagingStatus.PAGING
    assert alert.paging_step == 1
    assert alert.next_page_at == clock.now + datetime.timedelta(minutes=5)
    assert [m.to for m in mail.outbox] == [[world.oncall.email]]

    # Not due yet: nothing happens, whoever runs the step.
    clock.advance(minutes=4, seconds=59)
    assert step(alert, capture).outcome == "not_due"
    assert len(alert.pages.all()) == 1

    # Then level 2, then level 1 again (second round), then level 2; the policy has 2 rounds.
    for expected_level in (2, 1, 2):
        clock.advance(seconds=1)
        assert step(alert, capture).outcome == "paged"
        assert paged(alert)[-1][1] == expected_level
        clock.advance(minutes=4, seconds=59)
    assert [p[:3] for p in paged(alert)] == [
        (0, 1, "Astreinte"),
        (1, 2, "Renfort"),
        (2, 1, "Astreinte"),
        (3, 2, "Renfort"),
    ]
    assert all(p.status == PageStatus.SENT for p in alert.pages.all())

    # After the last round: unanswered, the CRRC operators are told, nobody is paged again.
    clock.advance(seconds=1)
    mail.outbox.clear()
    assert step(alert, capture).outcome == "exhausted"
    assert alert.paging_status == PagingStatus.EXHAUSTED
    assert alert.next_page_at is None
    assert [m.to for m in mail.outbox] == [[world.crrc_operator.email]]
    assert "sans prise en compte" in mail.outbox[0].subject
    assert "après 2 tours" in mail.outbox[0].body
    clock.advance(hours=1)
    assert step(alert, capture).outcome == "finished"
    assert alert.pages.count() == 4


def test_the_page_email_says_what_is_needed_and_no_more(world, django_capture_on_commit_callbacks):
    alert = file_alert(
        world,
        django_capture_on_commit_callbacks,
        description="Patient Jean Dupont, dossier 1234 : écran de rançon",
        callback_phone="0601020304",
        reporter_name="Rémi Ressi",
        affects_care="oui",
        missing_fields=["observed_at"],
    )
    message = mail.outbox[0]
    assert f"alerte n° {alert.pk}" in message.subject
    assert "Centre hospitalier de Rivebelle" in message.subject
    assert "0601020304" in message.body
    assert "Impact sur les soins : Oui" in message.body
    assert "Alerte incomplète" in message.body
    assert "/incidents/astreinte/prise-en-compte/" in message.body
    assert "Jean Dupont" not in message.body  # the free text stays on the platform


def test_a_repeated_or_linked_alert_is_not_paged(world, django_capture_on_commit_callbacks):
    first = file_alert(world, django_capture_on_commit_callbacks)
    repeat = file_alert(
        world,
        django_capture_on_commit_callbacks,
        duplicate_of=first,
        paging_status=PagingStatus.LINKED,
    )
    assert repeat.pages.count() == 0
    assert repeat.next_page_at is None
    assert paging.run_step(repeat.pk).outcome == "finished"


# --- Acknowledgement ----------------------------------------------------------------------------


def test_acknowledgement_stops_the_escalation(world, clock, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    alert = file_alert(world, capture)
    clock.advance(minutes=1, seconds=12)
    alert = paging.acknowledge(actor=world.oncall, alert=alert)
    assert alert.paging_status == PagingStatus.ACKNOWLEDGED
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == world.oncall
    assert alert.acknowledged_at == clock.now
    assert alert.next_page_at is None
    clock.advance(minutes=30)
    assert step(alert, capture).outcome == "finished"
    assert paging.sweep() == {"steps": 0, "pages": 0}
    assert alert.pages.count() == 1


def test_pending_pages_are_cancelled_by_the_acknowledgement(world):
    alert = make_alert(world)
    paging.start_paging(alert)
    paging.run_step(alert.pk, deliver=False)  # written, not sent yet
    page = alert.pages.get()
    assert page.status == PageStatus.PENDING
    paging.acknowledge(actor=world.crrc_operator, alert=alert)
    page.refresh_from_db()
    assert page.status == PageStatus.CANCELLED
    assert paging.deliver_page(page.pk).status == PageStatus.CANCELLED
    assert mail.outbox == []


def test_a_second_acknowledgement_says_who_and_when(world, django_capture_on_commit_callbacks):
    alert = file_alert(world, django_capture_on_commit_callbacks)
    first = paging.acknowledge(actor=world.oncall, alert=alert)
    again = paging.acknowledge(actor=world.oncall, alert=alert)  # a second click: harmless
    assert again.acknowledged_at == first.acknowledged_at
    with pytest.raises(DomainError) as refused:
        paging.acknowledge(actor=world.crrc_operator, alert=alert)
    assert refused.value.code == "already_acknowledged"
    assert "Omar Astreinte" in refused.value.message
    assert timezone.localtime(first.acknowledged_at).strftime("%d/%m/%Y à %H:%M") in (
        refused.value.message
    )


def test_only_people_who_handle_the_alert_acknowledge(world, django_capture_on_commit_callbacks):
    alert = file_alert(world, django_capture_on_commit_callbacks)
    for person in (world.backup, world.staff, world.outsider_crrc, world.ars_manager):
        with pytest.raises(DomainError) as refused:
            paging.acknowledge(actor=person, alert=alert)
        assert refused.value.code == "forbidden", person
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert paging.acknowledge(actor=world.rssi, alert=alert).acknowledged_by == world.rssi


def test_acknowledging_an_alert_of_a_case_writes_its_timeline(world):
    case = make_case(world)
    alert = make_alert(world, case=case)
    paging.acknowledge(actor=world.crrc_operator, alert=alert)
    line = case.events.get()
    assert line.kind == EventKind.ALERT
    assert f"Alerte n° {alert.pk} prise en compte par Chloé Crrc" in line.text


# --- Never twice --------------------------------------------------------------------------------


def test_running_a_step_twice_sends_nothing_twice(
    world, gateway_factory, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    gateway = gateway_factory()
    PagingWebhook.objects.create(crrc=world.crrc, name="SMS", url=gateway.url, secret="s3cret")
    alert = file_alert(world, capture)
    assert alert.pages.count() == 2  # the gateway and the e-mail
    assert step(alert, capture).outcome == "not_due"  # the same task delivered twice
    # A step re-run after a crash that happened once the pages were written and sent:
    alert.paging_step, alert.next_page_at = 0, timezone.now()
    alert.save()
    assert step(alert, capture).outcome == "paged"
    assert alert.pages.count() == 2
    for page in alert.pages.all():
        assert paging.deliver_page(page.pk).status == PageStatus.SENT
    assert len(gateway.requests) == 1
    assert len(mail.outbox) == 1


# --- Webhooks -----------------------------------------------------------------------------------


def test_webhook_is_signed_and_says_what_a_gateway_needs(
    world, gateway_factory, django_capture_on_commit_callbacks
):
    gateway = gateway_factory()
    PagingWebhook.objects.create(crrc=world.crrc, name="SMS", url=gateway.url, secret="s3cret")
    PagingWebhook.objects.create(
        crrc=world.crrc, name="Ancienne", url=gateway.url, secret="x", active=False
    )
    alert = file_alert(
        world, django_capture_on_commit_callbacks, callback_phone="0601020304", missing_fields=[]
    )
    [request] = gateway.requests
    headers, body = request["headers"], request["body"]
    timestamp = headers["X-Rempart-Timestamp"]
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Rempart-Signature"] == f"sha256={expected}"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    page = alert.pages.get(channel=PageChannel.WEBHOOK)
    assert headers["X-Rempart-Page"] == str(page.pk)
    payload = json.loads(body)
    assert payload["page_id"] == page.pk
    assert payload["alert_id"] == alert.pk
    assert payload["organisation"] == "Centre hospitalier de Rivebelle"
    assert payload["incident_type"] == "rancongiciel"
    assert payload["incident_type_label"] == "Rançongiciel"
    assert payload["incomplete"] is False
    assert payload["test"] is False
    assert payload["direct_to_operators"] is False
    assert payload["recipient"] == {"name": "Omar Astreinte", "phone": "+33600000001"}
    assert payload["callback_phone"] == "0601020304"
    assert payload["ack_url"].endswith(
        f"/incidents/astreinte/prise-en-compte/{payload['ack_token']}/"
    )
    assert paging.page_from_token(payload["ack_token"]) == page
    assert datetime.datetime.fromisoformat(payload["sent_at"]) == page.sent_at
    assert page.status == PageStatus.SENT
    assert page.response_status == 200
    assert page.attempts == 1
    # A tampered body does not match the signature.
    assert paging.sign("s3cret", timestamp, body + b" ") != headers["X-Rempart-Signature"]


def test_failed_delivery_is_retried_with_a_backoff_then_failed(world, gateway_factory):
    gateway = gateway_factory(statuses=(503,))
    PagingWebhook.objects.create(crrc=world.crrc, name="SMS", url=gateway.url, secret="s3cret")
    alert = make_alert(world)
    paging.start_paging(alert)
    result = paging.run_step(alert.pk)  # delivers at once: the e-mail goes, the gateway fails
    page = Page.objects.get(pk__in=result.page_ids, channel=PageChannel.WEBHOOK)
    assert alert.pages.get(channel=PageChannel.EMAIL).status == PageStatus.SENT
    page.refresh_from_db()
    assert (page.status, page.attempts) == (PageStatus.PENDING, 1)
    # Each retry (a Celery retry, see below) tries once more, later each time; then it fails.
    delays = [paging.deliver_page(page.pk).retry_in for _ in range(paging.MAX_ATTEMPTS - 1)]
    assert delays == [*paging.RETRY_BACKOFF_S[1:], None]
    page.refresh_from_db()
    assert len(gateway.requests) == paging.MAX_ATTEMPTS
    assert page.status == PageStatus.FAILED
    assert page.attempts == paging.MAX_ATTEMPTS
    assert page.response_status == 503
    assert page.last_error == "La passerelle a répondu HTTP 503."
    assert page.sent_at is None
    # A failed page is not tried again, by a late retry or by the sweep.
    assert paging.deliver_page(page.pk).status == PageStatus.FAILED
    assert paging.sweep(timezone.now() + datetime.timedelta(hours=1))["pages"] == 0
    assert len(gateway.requests) == paging.MAX_ATTEMPTS


def test_the_delivery_task_asks_celery_for_a_retry_with_the_backoff(
    world, gateway_factory, monkeypatch
):
    gateway = gateway_factory(statuses=(503,))
    PagingWebhook.objects.create(crrc=world.crrc, name="SMS", url=gateway.url, secret="s3cret")
    alert = make_alert(world)
    paging.start_paging(alert)
    result = paging.run_step(alert.pk, deliver=False)
    page = Page.objects.get(pk__in=result.page_ids, channel=PageChannel.WEBHOOK)
    asked = []

    class Retried(Exception):
        pass

    def retry(countdown):
        asked.append(countdown)
        return Retried()

    monkeypatch.setattr(tasks.deliver_page_task, "retry", retry)
    tasks.deliver_page_task.push_request(is_eager=False)  # as a worker runs it
    try:
        for _ in range(paging.MAX_ATTEMPTS - 1):
            with pytest.raises(Retried):
                tasks.deliver_page_task.run(page.pk)
        assert tasks.deliver_page_task.run(page.pk) == PageStatus.FAILED
    finally:
        tasks.deliver_page_task.pop_request()
    assert asked == list(paging.RETRY_BACKOFF_S)
    assert len(gateway.requests) == paging.MAX_ATTEMPTS


def test_a_retry_that_gets_through_sends_the_page(world, gateway_factory):
    gateway = gateway_factory(statuses=(500, 200))
    PagingWebhook.objects.create(crrc=world.crrc, name="SMS", url=gateway.url, secret="s3cret")
    alert = make_alert(world)
    paging.start_paging(alert)
    result = paging.run_step(alert.pk, deliver=False)
    page = Page.objects.get(pk__in=result.page_ids, channel=PageChannel.WEBHOOK)
    assert paging.deliver_page(page.pk).retry_in == paging.RETRY_BACKOFF_S[0]
    assert tasks.deliver_page_task.apply(args=[page.pk]).get() == PageStatus.SENT
    page.refresh_from_db()
    assert (page.status, page.attempts, page.response_status, page.last_error) == (
        PageStatus.SENT,
        2,
        200,
        "",
    )


def test_an_unreachable_gateway_is_recorded(world):
    PagingWebhook.objects.create(
        crrc=world.crrc, name="SMS", url="http://127.0.0.1:9/sms", secret="s3cret"
    )
    alert = make_alert(world)
    paging.start_paging(alert)
    result = paging.run_step(alert.pk, deliver=False)
    page = Page.objects.get(pk__in=result.page_ids, channel=PageChannel.WEBHOOK)
    outcome = paging.deliver_page(page.pk)
    page.refresh_from_db()
    assert outcome.retry_in == paging.RETRY_BACKOFF_S[0]
    assert page.status == PageStatus.PENDING
    assert page.last_error.startswith("Passerelle injoignable")


# --- Nobody on call -----------------------------------------------------------------------------


def test_nobody_on_call_pages_the_crrc_operators(
    gateway_factory, django_capture_on_commit_callbacks
):
    world = incident_world(rota=False)
    EscalationPolicy.objects.create(crrc=world.crrc, ack_timeout_minutes=5, rounds=1)
    gateway = gateway_factory()
    PagingWebhook.objects.create(crrc=world.crrc, name="SMS", url=gateway.url, secret="s3cret")
    alert = file_alert(world, django_capture_on_commit_callbacks)
    assert paged(alert) == [
        (0, paging.OPERATORS_LEVEL, "Crrc", PageChannel.WEBHOOK),
        (0, paging.OPERATORS_LEVEL, "Crrc", PageChannel.EMAIL),
    ]
    assert "Personne n'est d'astreinte" in mail.outbox[0].body
    assert json.loads(gateway.requests[0]["body"])["direct_to_operators"] is True
    assert all(p.status == PageStatus.SENT for p in alert.pages.all())


# --- The sweep ----------------------------------------------------------------------------------


def test_sweep_sends_the_pages_a_killed_worker_left(world, clock):
    alert = make_alert(world)
    paging.start_paging(alert)
    paging.run_step(alert.pk, deliver=False)  # the worker died right after the commit
    page = alert.pages.get()
    assert paging.sweep() == {
        "steps": 0,
        "pages": 0,
    }  # too fresh: its own delivery may be on its way
    clock.advance(seconds=paging.STALE_PAGE_S + 1)
    assert paging.sweep() == {"steps": 0, "pages": 1}
    page.refresh_from_db()
    assert page.status == PageStatus.SENT
    assert len(mail.outbox) == 1
    assert paging.sweep() == {"steps": 0, "pages": 0}  # and never twice
    assert len(mail.outbox) == 1


def test_sweep_runs_a_step_whose_task_was_lost(world, clock):
    alert = make_alert(world)
    paging.start_paging(alert)  # its transaction commits, the queued task is lost
    assert paging.sweep() == {"steps": 0, "pages": 0}
    clock.advance(seconds=paging.STEP_GRACE_S)
    assert paging.sweep() == {"steps": 1, "pages": 0}
    alert.refresh_from_db()
    assert alert.paging_step == 1
    assert alert.pages.get().status == PageStatus.SENT
    assert paging.sweep() == {"steps": 0, "pages": 0}


def test_sweep_leaves_a_retry_its_backoff(world, clock):
    alert = make_alert(world)
    paging.start_paging(alert)
    paging.run_step(alert.pk, deliver=False)
    page = alert.pages.get()
    Page.objects.filter(pk=page.pk).update(attempts=1)  # one failed try, its retry is planned
    clock.advance(seconds=paging.STALE_PAGE_S + 5)
    assert paging.sweep()["pages"] == 0  # the retry is due 10 s after the first try
    clock.advance(seconds=paging.RETRY_BACKOFF_S[0])
    assert paging.sweep()["pages"] == 1


def test_beat_runs_the_sweep_every_30_seconds(settings):
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["incidents-paging-sweep"]
    assert entry == {"task": "incidents.paging_sweep", "schedule": 30.0}
    for name in (
        "incidents.paging_sweep",
        "incidents.paging_run_step",
        "incidents.paging_deliver_page",
        "incidents.paging_exhausted_notice",
    ):
        assert name in app.tasks
        assert app.tasks[name].acks_late
