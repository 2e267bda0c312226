"""Webhooks: against a real HTTP receiver on 127.0.0.1 (http.server in a thread) that checks
every signature with the secret shown at creation; nothing else on the network."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.phishing import services, tracking
from rempart.phishing import webhooks as wh
from rempart.phishing.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    DeliveryStatus,
    EventKind,
    TrackingEvent,
    WebhookDelivery,
    WebhookEndpoint,
)

from .factories import group_with, landing, phishing_world, profile, template

pytestmark = pytest.mark.django_db

ALL_TRACKING = ["event.opened", "event.clicked", "event.reported"]


# --- A receiver -------------------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.received: list[dict] = []
        self.statuses: list[int] = []  # answers to give, in order (then 200)
        self.secret = ""
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/rempart?src=test"

    def bodies(self, event_type=None) -> list[dict]:
        return [r["json"] for r in self.received if event_type in (None, r["json"]["type"])]


class ReceiverHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        server: Receiver = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        timestamp = self.headers["X-Rempart-Timestamp"]
        expected = (
            "sha256="
            + hmac.new(
                server.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
            ).hexdigest()
        )
        with server.lock:
            status = server.statuses.pop(0) if server.statuses else 200
            server.received.append(
                {
                    "path": self.path,
                    "json": json.loads(body),
                    "raw": body,
                    "headers": dict(self.headers),
                    "valid": hmac.compare_digest(expected, self.headers["X-Rempart-Signature"]),
                    "fresh": abs(time.time() - int(timestamp)) <= 300,
                    "answered": status,
                }
            )
        self.send_response(status)
        if status in (301, 302):
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def loopback(settings):
    settings.PHISHING_INTEGRATIONS_ALLOW_LOOPBACK = True


@pytest.fixture
def world():
    return phishing_world()


def endpoint_for(world, receiver, events=None, name="SIEM"):
    endpoint, secret = wh.endpoint_create(
        actor=world.rssi,
        organisation=world.hospital,
        name=name,
        url=receiver.url,
        events=events or ["campaign.started", "campaign.done", *ALL_TRACKING],
    )
    receiver.secret = secret
    return endpoint


def scheduled_campaign(world, emails, name="Automne", actor=None, org=None):
    now = timezone.now()
    actor, org = actor or world.rssi, org or world.hospital
    campaign = services.campaign_create(
        actor=actor,
        organisation=org,
        name=name,
        templates=[template(actor, org, name=f"Colis {name}")],
        landing_page=landing(actor, org, name=f"Portail {name}"),
        sending_profile=profile(actor, org, name=f"SMTP {name}"),
        groups=[group_with(actor, org, emails, name=f"G {name}")],
        starts_at=now + datetime.timedelta(hours=1),
        spread_until=now + datetime.timedelta(days=3),
        staff_information="Les personnels ont été informés.",
        legal_basis="Intérêt légitime",
    )
    services.campaign_schedule(actor=actor, campaign=campaign)
    return campaign


def recipients(campaign):
    return list(CampaignRecipient.objects.filter(campaign=campaign).order_by("pk"))


def later(seconds=3600):
    return timezone.now() + datetime.timedelta(seconds=seconds)


# --- Addresses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/hook",
        "https://192.168.1.10/hook",
        "https://172.16.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "ftp://93.184.216.34/hook",
        "https://user:pw@93.184.216.34/hook",
        "http://93.184.216.34/hook",
        "pas une adresse",
    ],
)
def test_internal_or_insecure_addresses_are_refused(url):
    with pytest.raises(DomainError) as excinfo:
        wh.check_url(url)
    assert excinfo.value.field == "url"


def test_loopback_only_when_allowed(settings):
    assert wh.check_url("http://127.0.0.1:8080/h")[3] == ["127.0.0.1"]
    assert wh.check_url("https://93.184.216.34/hook")[3] == ["93.184.216.34"]  # resolved only
    settings.PHISHING_INTEGRATIONS_ALLOW_LOOPBACK = False
    for url in ("http://127.0.0.1:8080/h", "https://127.0.0.1/h", "https://[::1]/h"):
        with pytest.raises(DomainError, match="interne"):
            wh.check_url(url)


def test_address_checked_again_before_each_post(world, receiver, settings):
    endpoint = endpoint_for(world, receiver)
    settings.PHISHING_INTEGRATIONS_ALLOW_LOOPBACK = False
    delivery = wh.send_test(actor=world.rssi, endpoint=endpoint)
    assert delivery.status == DeliveryStatus.PENDING
    assert "interne" in delivery.error
    assert receiver.received == []


# --- Endpoints: who, secret ---------------------------------------------------------------------


def test_only_the_establishment_managers_register_webhooks(world, receiver):
    for user, org in (
        (world.staff, world.hospital),
        (world.outsider_rssi, world.hospital),
        (world.crrc_operator, world.hospital),
        (world.crrc_operator, world.crrc),
        (world.ars_manager, world.hospital),
    ):
        with pytest.raises(DomainError) as excinfo:
            wh.endpoint_create(
                actor=user, organisation=org, name="X", url=receiver.url, events=ALL_TRACKING
            )
        assert excinfo.value.code == "forbidden"
    endpoint = endpoint_for(world, receiver)
    assert list(wh.endpoints_visible_to(world.director)) == [endpoint]
    assert not wh.endpoints_visible_to(world.outsider_rssi).exists()
    assert not wh.endpoints_visible_to(world.crrc_operator).exists()
    with pytest.raises(DomainError, match="au moins un"):
        wh.endpoint_create(
            actor=world.rssi, organisation=world.hospital, name="Y", url=receiver.url, events=[]
        )
    with pytest.raises(DomainError, match="inconnu"):
        wh.endpoint_create(
            actor=world.rssi,
            organisation=world.hospital,
            name="Y",
            url=receiver.url,
            events=["event.typed_values"],
        )
    with pytest.raises(DomainError, match="existe déjà"):
        endpoint_for(world, receiver, name="siem")


def test_secret_is_encrypted_rotatable_and_never_in_the_trail(world, receiver):
    endpoint = endpoint_for(world, receiver)
    first = receiver.secret
    assert first.startswith("whsec_")
    assert len(first) > 40
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM phishing_webhookendpoint WHERE id = %s", [endpoint.pk])
        (stored,) = cursor.fetchone()
    assert first not in stored
    second = wh.endpoint_rotate_secret(actor=world.rssi, endpoint=endpoint)
    assert second != first
    receiver.secret = second
    assert wh.send_test(actor=world.rssi, endpoint=endpoint).status == DeliveryStatus.DELIVERED
    assert receiver.received[-1]["valid"]
    trail = AuditEntry.objects.filter(
        content_type__model="webhookendpoint", object_pk=str(endpoint.pk)
    )
    assert trail.count() >= 2
    for entry in trail:
        assert first not in str(entry.changes)
        assert second not in str(entry.changes)
    with pytest.raises(DomainError):
        wh.endpoint_rotate_secret(actor=world.outsider_rssi, endpoint=endpoint)


# --- Deliveries -----------------------------------------------------------------------------------


def test_tracking_events_are_delivered_once_signed_and_without_identities(world, receiver):
    emails = [f"p{i}@exemple.fr" for i in range(6)]
    campaign = scheduled_campaign(world, emails)
    before = tracking.record_event(token=recipients(campaign)[0].token, kind=EventKind.OPENED)
    endpoint = endpoint_for(world, receiver)  # from now on: `before` is not sent
    people = recipients(campaign)
    tracking.record_event(token=people[0].token, kind=EventKind.CLICKED, user_agent="Firefox")
    tracking.record_event(token=people[1].token, kind=EventKind.REPORTED, source="imap")
    tracking.record_event(
        token=people[2].token, kind=EventKind.SUBMITTED, filled_fields=["identifiant"]
    )  # not subscribed
    # A bulk insert (like a benchmark or an import): 450 events in one statement.
    TrackingEvent.objects.bulk_create(
        TrackingEvent(campaign=campaign, recipient=people[i % 6], kind=EventKind.OPENED)
        for i in range(450)
    )
    # Another establishment's events never reach this endpoint.
    far = scheduled_campaign(
        world, ["z@loin.fr"], name="Loin", actor=world.outsider_rssi, org=world.other_hospital
    )
    foreign = tracking.record_event(token=recipients(far)[0].token, kind=EventKind.OPENED)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).cursor_event_id == before.pk

    outcome = wh.sweep(settle=0)
    assert outcome["created"] == 3  # 452 events in batches of 200 (the submission left out)
    assert outcome.get("delivered") == 3
    assert all(r["valid"] and r["fresh"] for r in receiver.received)
    assert {r["path"] for r in receiver.received} == {"/hooks/rempart?src=test"}
    events = [e for b in receiver.bodies("tracking.events") for e in b["data"]["events"]]
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == 452
    assert before.pk not in ids
    assert foreign.pk not in ids
    assert {e["kind"] for e in events} == {"opened", "clicked", "reported"}
    assert {e["department"] for e in events} == {"Urgences"}
    raw = b"".join(r["raw"] for r in receiver.received)
    for person in people:
        assert person.token.encode() not in raw
    for address in emails:
        assert address.encode() not in raw
    assert b"P0" not in raw
    assert b"N0" not in raw
    headers = receiver.received[0]["headers"]
    assert headers["X-Rempart-Event"] == "tracking.events"
    assert headers["X-Rempart-Delivery"] == str(receiver.received[0]["json"]["id"])

    # Nothing new: nothing sent again.
    assert wh.sweep(settle=0) == {"created": 0, "attempted": 0}
    assert len(receiver.received) == 3


def test_cursor_waits_for_the_settling_horizon(world, receiver):
    campaign = scheduled_campaign(world, ["a@exemple.fr"])
    endpoint = endpoint_for(world, receiver, events=["event.opened"])
    token = recipients(campaign)[0].token
    first = tracking.record_event(token=token, kind=EventKind.OPENED)
    now = timezone.now() + datetime.timedelta(seconds=60)
    assert wh.collect(endpoint.pk, now=now, settle=30) == 0  # horizon observed, not read yet
    endpoint.refresh_from_db()
    assert endpoint.horizon_event_id == first.pk
    assert endpoint.cursor_event_id < first.pk
    # An event committed after the horizon was observed waits for the next horizon.
    second = tracking.record_event(token=token, kind=EventKind.OPENED)
    assert wh.collect(endpoint.pk, now=now + datetime.timedelta(seconds=10), settle=30) == 0
    assert wh.collect(endpoint.pk, now=now + datetime.timedelta(seconds=31), settle=30) == 1
    # (the first is read; the horizon then moves to the second, read once it has settled)
    assert wh.collect(endpoint.pk, now=now + datetime.timedelta(seconds=45), settle=30) == 0
    assert wh.collect(endpoint.pk, now=now + datetime.timedelta(seconds=62), settle=30) == 1
    assert wh.collect(endpoint.pk, now=now + datetime.timedelta(seconds=93), settle=30) == 0
    delivered = [
        e["id"]
        for d in WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk")
        for e in d.payload["events"]
    ]
    assert delivered == [first.pk, second.pk]


def test_campaign_status_changes_are_sent_once(world, receiver):
    endpoint = endpoint_for(world, receiver, events=["campaign.started", "campaign.done"])
    campaign = scheduled_campaign(world, ["a@exemple.fr"])
    assert wh.sweep(settle=0)["created"] == 0  # scheduled: not started yet
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    wh.sweep(settle=0)
    wh.sweep(settle=0)
    assert [b["type"] for b in receiver.bodies()] == ["campaign.started"]
    assert receiver.bodies()[0]["data"]["campaign"] == {
        "id": campaign.pk,
        "name": campaign.name,
        "status": "sending",
        "mode": "autonomous",
    }
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.DONE, closed_at=timezone.now()
    )
    wh.sweep(settle=0)
    wh.sweep(settle=0)
    assert [b["type"] for b in receiver.bodies()] == ["campaign.started", "campaign.done"]
    assert all(r["valid"] for r in receiver.received)
    assert endpoint.deliveries.count() == 2


def test_failures_are_retried_with_backoff_then_failed(world, receiver):
    endpoint = endpoint_for(world, receiver, events=["event.opened"])
    campaign = scheduled_campaign(world, ["a@exemple.fr"])
    tracking.record_event(token=recipients(campaign)[0].token, kind=EventKind.OPENED)
    receiver.statuses = [500, 302]
    start = timezone.now()
    wh.sweep(settle=0)
    delivery = endpoint.deliveries.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, 500)
    assert "HTTP 500" in delivery.error
    assert delivery.next_attempt_at >= start + datetime.timedelta(seconds=29)
    assert wh.sweep(settle=0)["attempted"] == 0  # not due yet
    wh.sweep(now=later(60), settle=0)  # a redirect is an answer, not somewhere to go
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_code) == (2, 302)
    assert delivery.next_attempt_at >= start + datetime.timedelta(seconds=119)
    wh.sweep(now=later(3600), settle=0)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert delivery.delivered_at
    assert delivery.error == ""
    bodies = {r["raw"] for r in receiver.received}
    assert len(receiver.received) == 3
    assert len(bodies) == 1
    assert len({r["headers"]["X-Rempart-Delivery"] for r in receiver.received}) == 1

    # A receiver that never accepts: failed after MAX_ATTEMPTS tries.
    receiver.statuses = [503] * 20
    test = wh.send_test(actor=world.rssi, endpoint=endpoint)
    for _ in range(wh.MAX_ATTEMPTS + 2):
        WebhookDelivery.objects.filter(pk=test.pk).update(next_attempt_at=timezone.now())
        wh.deliver(test.pk)
    test.refresh_from_db()
    assert test.status == DeliveryStatus.FAILED
    assert test.attempts == wh.MAX_ATTEMPTS


def test_unreachable_receiver(world, receiver):
    endpoint = endpoint_for(world, receiver)
    receiver.shutdown()
    receiver.server_close()
    delivery = wh.send_test(actor=world.rssi, endpoint=endpoint)
    assert delivery.status == "pending"
    assert "injoignable" in delivery.error


def test_inactive_endpoint_gets_nothing_and_restarts_from_now(world, receiver):
    endpoint = endpoint_for(world, receiver, events=["event.opened"])
    campaign = scheduled_campaign(world, ["a@exemple.fr"])
    token = recipients(campaign)[0].token
    wh.endpoint_update(
        actor=world.rssi,
        endpoint=endpoint,
        name=endpoint.name,
        url=endpoint.url,
        events=endpoint.events,
        active=False,
    )
    tracking.record_event(token=token, kind=EventKind.OPENED)
    assert wh.sweep(settle=0) == {"created": 0, "attempted": 0}
    wh.endpoint_update(
        actor=world.rssi,
        endpoint=endpoint,
        name=endpoint.name,
        url=endpoint.url,
        events=endpoint.events,
        active=True,
    )
    fresh = tracking.record_event(token=token, kind=EventKind.OPENED)
    wh.sweep(settle=0)
    assert [e["id"] for e in receiver.bodies()[0]["data"]["events"]] == [fresh.pk]


# --- Pages ----------------------------------------------------------------------------------------


def test_pages_create_shows_the_secret_once(client, world, receiver):
    client.force_login(world.rssi)
    assert client.get(reverse("phishing:webhook_list")).status_code == 200
    assert client.get(reverse("phishing:webhook_new")).status_code == 200
    bad = client.post(
        reverse("phishing:webhook_new"),
        {"organisation": world.hospital.pk, "name": "SIEM", "url": "https://10.1.2.3/x"},
    )
    assert bad.status_code == 400
    page = bad.content.decode()
    assert "adresse interne" in page
    assert "au moins un" in page
    response = client.post(
        reverse("phishing:webhook_new"),
        {
            "organisation": world.hospital.pk,
            "name": "SIEM",
            "url": receiver.url,
            "events": ["event.reported", "campaign.done"],
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    endpoint = WebhookEndpoint.objects.get(name="SIEM")
    assert endpoint.secret in response.content.decode()
    detail = reverse("phishing:webhook_detail", args=[endpoint.pk])
    assert endpoint.secret not in client.get(detail).content.decode()
    receiver.secret = endpoint.secret
    tested = client.post(reverse("phishing:webhook_test", args=[endpoint.pk]))
    assert tested.status_code == 302
    assert receiver.received[0]["valid"]
    assert receiver.received[0]["json"]["type"] == "ping"
    page = client.get(detail).content.decode()
    assert "Remis" in page
    assert "ping" in page
    assert "HTTP 200" in page
    assert client.get(reverse("phishing:webhook_edit", args=[endpoint.pk])).status_code == 200
    edited = client.post(
        reverse("phishing:webhook_edit", args=[endpoint.pk]),
        {"name": "SIEM 2", "url": receiver.url, "events": ["event.opened"]},
    )
    assert edited.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.events, endpoint.active) == ("SIEM 2", ["event.opened"], False)
    rotated = client.post(reverse("phishing:webhook_rotate", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert endpoint.secret in rotated.content.decode()
    assert endpoint.secret != receiver.secret
    assert client.get(reverse("phishing:webhook_rotate", args=[endpoint.pk])).status_code == 405

    # Someone else's endpoint: 403 with the reason, and nothing changes.
    for user in (world.outsider_rssi, world.crrc_operator, world.staff):
        client.force_login(user)
        for name in ("webhook_detail", "webhook_edit", "webhook_delete"):
            assert client.get(reverse(f"phishing:{name}", args=[endpoint.pk])).status_code == 403
        for name in ("webhook_test", "webhook_rotate", "webhook_delete", "webhook_edit"):
            assert client.post(reverse(f"phishing:{name}", args=[endpoint.pk])).status_code == 403
    assert client.get(reverse("phishing:webhook_detail", args=[99999])).status_code in (403, 404)
    client.force_login(world.crrc_operator)
    assert client.get(reverse("phishing:webhook_new")).status_code == 403
    client.force_login(world.rssi)
    assert client.get(reverse("phishing:webhook_delete", args=[endpoint.pk])).status_code == 200
    assert client.post(reverse("phishing:webhook_delete", args=[endpoint.pk])).status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_the_worker_task_sweeps(world, receiver):
    from rempart.phishing import integration_tasks

    endpoint = endpoint_for(world, receiver, events=["event.opened"])
    campaign = scheduled_campaign(world, ["a@exemple.fr"])
    tracking.record_event(token=recipients(campaign)[0].token, kind=EventKind.OPENED)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        horizon_at=timezone.now() - datetime.timedelta(minutes=5)
    )
    integration_tasks.webhooks_sweep_task()  # observes the horizon (settling delay: 30 s)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        horizon_at=timezone.now() - datetime.timedelta(minutes=5)
    )
    outcome = integration_tasks.webhooks_sweep_task()
    assert outcome["created"] == 1
    assert outcome["delivered"] == 1
    assert receiver.received[0]["valid"]
