"""Webhooks of simulated phishing: an establishment's HTTPS receiver is told, signed with
HMAC-SHA256, when its campaigns start and end and what happens in them — without identities.

What is sent
------------
Each delivery is one POST of a JSON body (UTF-8), timeout 5 s, redirects not followed::

    Content-Type: application/json; charset=utf-8
    User-Agent: Rempart-Webhooks/1
    X-Rempart-Event: tracking.events          (or campaign.started, campaign.done, …, ping)
    X-Rempart-Delivery: 4242                  (delivery id: the idempotency key)
    X-Rempart-Timestamp: 1767225600           (Unix time, seconds)
    X-Rempart-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

    {"id": 4242, "type": "tracking.events", "created_at": "…", "organisation": "CH …",
     "data": {…}}

* `campaign.started` / `campaign.done` / `campaign.cancelled`: data = {"campaign": {"id",
  "name", "status", "mode"}}.
* `tracking.events`: data = {"events": [{"id", "kind", "at", "campaign_id", "campaign",
  "department", "suspected_bot"}]}, at most `EVENT_BATCH` events, only the kinds the endpoint
  subscribed to (opened, clicked, submitted, reported). Never a token, an e-mail or a name: the
  department only.
* `ping`: the « envoyer un événement de test » button.

Verifying (Python)::

    import hashlib, hmac, time

    def verify(secret: str, headers, body: bytes, tolerance=300) -> bool:
        timestamp = headers["X-Rempart-Timestamp"]
        if abs(time.time() - int(timestamp)) > tolerance:
            return False  # replayed or clock skew
        expected = "sha256=" + hmac.new(
            secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, headers["X-Rempart-Signature"])

Use the exact raw body bytes, compare in constant time, refuse a timestamp more than 5 minutes
away, and ignore a delivery id already handled (a delivery may arrive twice).

How deliveries are produced
---------------------------
`sweep()` (Celery beat every 30 s) does, for each active endpoint, with its row locked:

* campaign status changes: one delivery per (campaign, status) of the establishment's campaigns
  changed since the endpoint exists — `dedup_key` (unique per endpoint) makes it once only;
* tracking events: a cursor over `TrackingEvent.id`. Ids are allocated before the inserting
  transaction commits, so a bulk insert still running could commit ids below ones already
  visible. The cursor therefore only advances up to a *horizon*: the highest id seen at least
  `SETTLE_SECONDS` earlier; everything committed within that delay is read, in id order, in
  batches. The cursor and the delivery are written in one transaction: nothing lost, nothing
  twice.

Then the pending deliveries that are due are POSTed; a 2xx marks them delivered, anything else
is retried with back-off (`RETRY_DELAYS`), then the delivery is failed. The log is on the page.

Addresses (no SSRF)
-------------------
The URL must be https; its host is resolved and every address must be public (not private,
loopback, link-local, reserved…), checked at registration and again before each POST, which
connects to the checked address (no second DNS answer). With the setting
`PHISHING_INTEGRATIONS_ALLOW_LOOPBACK` (default: `DEBUG`), http and https to loopback addresses
are also accepted (development and tests); nothing else private ever is.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.organisations.models import Organisation

from . import perms, selectors
from .models import (
    Campaign,
    CampaignStatus,
    DeliveryStatus,
    TrackingEvent,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

log = logging.getLogger(__name__)

TIMEOUT_S = 5
EVENT_BATCH = 200
SETTLE_SECONDS = 30
RETRY_DELAYS = (30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)  # then failed
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DELIVER_PER_SWEEP = 200
LOG_SIZE = 50
SWEEP_BUDGET_S = 25

TRACKING_EVENTS = {
    WebhookEvent.OPENED: "opened",
    WebhookEvent.CLICKED: "clicked",
    WebhookEvent.SUBMITTED: "submitted",
    WebhookEvent.REPORTED: "reported",
}
CAMPAIGN_EVENTS = {
    CampaignStatus.SENDING: WebhookEvent.CAMPAIGN_STARTED,
    CampaignStatus.DONE: WebhookEvent.CAMPAIGN_DONE,
    CampaignStatus.CANCELLED: WebhookEvent.CAMPAIGN_CANCELLED,
}

FORBIDDEN = "Seuls la direction, le RSSI et le DSI de l'établissement gèrent ses webhooks."


# --- Addresses ------------------------------------------------------------------------------------


def allow_loopback() -> bool:
    return bool(getattr(settings, "PHISHING_INTEGRATIONS_ALLOW_LOOPBACK", settings.DEBUG))


def resolve_public(host: str, port: int, *, what: str = "Le serveur") -> list[str]:
    """The addresses of `host`, all public (or loopback when allowed); a DomainError otherwise.
    The caller connects to one of them, so a second DNS answer cannot point elsewhere."""
    host = (host or "").strip().strip("[]")
    if not host:
        raise DomainError(f"{what} n'a pas d'adresse.", field="url")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DomainError(f"{what} « {host} » est introuvable (nom inconnu).") from exc
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if address.is_loopback and allow_loopback():
            pass
        elif not address.is_global or address.is_multicast:
            raise DomainError(
                f"{what} « {host} » désigne une adresse interne ou réservée ({address}) : "
                "seules les adresses publiques sont acceptées."
            )
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise DomainError(f"{what} « {host} » est introuvable.")
    return addresses


def check_url(url: str) -> tuple[str, str, int, list[str]]:
    """(scheme, host, port, addresses) of an acceptable receiver URL."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DomainError("Adresse invalide.", field="url") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DomainError("L'adresse doit commencer par https://.", field="url")
    if parts.username or parts.password:
        raise DomainError("L'adresse ne doit pas contenir d'identifiants.", field="url")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve_public(parts.hostname, port, what="Le destinataire")
    except DomainError as exc:
        raise DomainError(exc.message, field="url") from exc
    if parts.scheme == "http" and not all(
        ipaddress.ip_address(a).is_loopback and allow_loopback() for a in addresses
    ):
        raise DomainError(
            "L'adresse doit être en https:// (http n'est accepté qu'en local, en développement).",
            field="url",
        )
    return parts.scheme, parts.hostname, port, addresses


# --- Reads (scoped by the acting user) -------------------------------------------------------


def manageable_organisations(user) -> QuerySet[Organisation]:
    """Establishments whose webhooks the user manages (RUN_PHISHING on their own behalf)."""
    return Organisation.objects.filter(pk__in=perms.own_org_ids(user)).order_by("name")


def endpoints_visible_to(user) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(
        organisation_id__in=perms.own_org_ids(user)
    ).select_related("organisation")


def get_endpoint(user, pk) -> WebhookEndpoint:
    return selectors.get_visible(
        WebhookEndpoint, endpoints_visible_to(user), pk, "Webhook introuvable."
    )


def delivery_log(endpoint: WebhookEndpoint, size: int = LOG_SIZE) -> list[WebhookDelivery]:
    """The latest deliveries of an endpoint the caller already obtained through `get_endpoint`."""
    return list(endpoint.deliveries.defer("payload").order_by("-created_at", "-pk")[:size])


def delivery_counts(endpoint: WebhookEndpoint) -> dict[str, int]:
    counts = dict.fromkeys(DeliveryStatus.values, 0)
    for row in endpoint.deliveries.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


# --- Writes ---------------------------------------------------------------------------------------


def _forbid(user, organisation: Organisation) -> None:
    if not perms.can_run_for(user, organisation):
        raise DomainError(FORBIDDEN, code="forbidden")


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _clean(name: str, url: str, events) -> tuple[str, str, list[str]]:
    name = (name or "").strip()
    if not name:
        raise DomainError("Donnez un nom.", field="name")
    events = sorted({str(e) for e in (events or [])})
    unknown = set(events) - set(WebhookEvent.values)
    if unknown:
        raise DomainError("Événement inconnu : " + ", ".join(sorted(unknown)), field="events")
    if not events:
        raise DomainError("Choisissez au moins un événement à transmettre.", field="events")
    check_url(url)
    return name, url.strip(), events


def _unique_name(organisation_id: int, name: str, exclude_pk: int | None = None) -> None:
    clash = WebhookEndpoint.objects.filter(organisation_id=organisation_id, name__iexact=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise DomainError(
            f"« {name} » existe déjà dans cette structure : choisissez un autre nom.",
            field="name",
        )


def _current_event_id() -> int:
    return TrackingEvent.objects.aggregate(m=Max("pk"))["m"] or 0


def endpoint_create(
    *, actor, organisation: Organisation, name: str, url: str, events, active: bool = True
) -> tuple[WebhookEndpoint, str]:
    """The endpoint and its secret (shown once: only its encrypted form is stored). It receives
    what happens from now on, not the past."""
    _forbid(actor, organisation)
    name, url, events = _clean(name, url, events)
    secret = new_secret()
    with transaction.atomic():
        _unique_name(organisation.pk, name)
        start = _current_event_id()
        endpoint = WebhookEndpoint.objects.create(
            organisation=organisation,
            name=name,
            url=url,
            secret=secret,
            events=events,
            active=active,
            cursor_event_id=start,
            horizon_event_id=start,
            horizon_at=timezone.now(),
        )
    return endpoint, secret


def endpoint_update(
    *, actor, endpoint: WebhookEndpoint, name: str, url: str, events, active: bool
) -> WebhookEndpoint:
    _forbid(actor, endpoint.organisation)
    name, url, events = _clean(name, url, events)
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        _unique_name(locked.organisation_id, name, locked.pk)
        reactivated = active and not locked.active
        locked.name, locked.url, locked.events, locked.active = name, url, events, active
        if reactivated:
            # Back on: from now on (what happened while it was off is not replayed).
            start = _current_event_id()
            locked.cursor_event_id = locked.horizon_event_id = start
            locked.horizon_at = timezone.now()
        locked.save()
    return locked


def endpoint_rotate_secret(*, actor, endpoint: WebhookEndpoint) -> str:
    """A new secret, effective at once (the old one stops signing); audited without value."""
    _forbid(actor, endpoint.organisation)
    secret = new_secret()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.secret = secret
        locked.save(update_fields=["secret", "updated_at"])
        AuditEntry.objects.log_create(
            locked,
            force_log=True,
            action=AuditEntry.Action.UPDATE,
            changes={"secret": ["••••", "•••• (nouvelle clé)"]},
            actor=actor,
            actor_email=actor.email,
        )
    return secret


def endpoint_delete(*, actor, endpoint: WebhookEndpoint) -> None:
    _forbid(actor, endpoint.organisation)
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()


def send_test(*, actor, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a `ping` and try it at once; the outcome is on the delivery."""
    _forbid(actor, endpoint.organisation)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="ping",
        dedup_key=f"ping:{secrets.token_hex(8)}",
        payload={"message": "Événement de test envoyé depuis Rempart.", "by": actor.email},
    )
    deliver(delivery.pk)
    delivery.refresh_from_db()
    return delivery


# --- Producing deliveries -------------------------------------------------------------------------


def _event_row(event) -> dict:
    return {
        "id": event.pk,
        "kind": event.kind,
        "at": event.at.isoformat(),
        "campaign_id": event.campaign_id,
        "campaign": event.campaign.name,
        "department": event.recipient.department,
        "suspected_bot": event.suspected_bot,
    }


def _campaign_deliveries(endpoint: WebhookEndpoint) -> int:
    wanted = {status for status, event in CAMPAIGN_EVENTS.items() if event in endpoint.events}
    if not wanted:
        return 0
    # "started" is also due for a campaign that went on (paused, done) since it started.
    statuses = set(wanted)
    if CampaignStatus.SENDING in wanted:
        statuses |= {CampaignStatus.PAUSED, CampaignStatus.DONE}
    since = endpoint.created_at
    campaigns = Campaign.objects.filter(
        Q(updated_at__gte=since) | Q(scheduled_at__gte=since) | Q(closed_at__gte=since),
        organisation_id=endpoint.organisation_id,
        status__in=statuses,
    ).only("pk", "name", "status", "mode")
    rows = []
    for campaign in campaigns:
        events = set()
        if campaign.status in wanted:
            events.add(CAMPAIGN_EVENTS[campaign.status])
        if CampaignStatus.SENDING in wanted and campaign.status != CampaignStatus.CANCELLED:
            events.add(WebhookEvent.CAMPAIGN_STARTED)
        for event in events:
            rows.append(
                WebhookDelivery(
                    endpoint=endpoint,
                    event_type=event,
                    dedup_key=f"{event}:{campaign.pk}",
                    payload={
                        "campaign": {
                            "id": campaign.pk,
                            "name": campaign.name,
                            "status": campaign.status,
                            "mode": campaign.mode,
                        }
                    },
                )
            )
    if not rows:
        return 0
    existing = set(
        endpoint.deliveries.filter(dedup_key__in=[r.dedup_key for r in rows]).values_list(
            "dedup_key", flat=True
        )
    )
    new = [r for r in rows if r.dedup_key not in existing]
    WebhookDelivery.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _event_deliveries(
    endpoint: WebhookEndpoint, now: datetime.datetime, settle: float, max_batches: int = 50
) -> int:
    """Advance the cursor up to the horizon, in batches; move the horizon when it is reached."""
    kinds = [TRACKING_EVENTS[e] for e in TRACKING_EVENTS if e in endpoint.events]
    created = 0
    for _ in range(max_batches):
        settled = endpoint.horizon_at is None or endpoint.horizon_at <= now - datetime.timedelta(
            seconds=settle
        )
        if endpoint.cursor_event_id >= endpoint.horizon_event_id:
            latest = _current_event_id()
            if latest <= endpoint.cursor_event_id:
                break  # nothing new (the horizon's time is kept: observe again next sweep)
            endpoint.horizon_event_id, endpoint.horizon_at = latest, now
            if settle > 0:
                break  # read after the settling delay
        elif not settled:
            break
        upper = endpoint.horizon_event_id
        ids = list(
            TrackingEvent.objects.filter(
                campaign__organisation_id=endpoint.organisation_id,
                pk__gt=endpoint.cursor_event_id,
                pk__lte=upper,
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:EVENT_BATCH]
        )
        last = ids[-1] if len(ids) == EVENT_BATCH else upper
        if ids and kinds:
            events = (
                TrackingEvent.objects.filter(pk__in=ids, kind__in=kinds)
                .select_related("campaign", "recipient")
                .only(
                    "pk",
                    "kind",
                    "at",
                    "suspected_bot",
                    "campaign_id",
                    "campaign__name",
                    "recipient__department",
                )
                .order_by("pk")
            )
            rows = [_event_row(e) for e in events]
            if rows:
                WebhookDelivery.objects.create(
                    endpoint=endpoint,
                    event_type="tracking.events",
                    dedup_key=f"events:{endpoint.cursor_event_id + 1}-{last}",
                    payload={"events": rows},
                )
                created += 1
        endpoint.cursor_event_id = last
    return created


def collect(endpoint_id: int, *, now: datetime.datetime | None = None, settle=None) -> int:
    """Create the deliveries due for one endpoint (its row locked; skipped if another worker
    holds it). Returns how many were created."""
    now = now or timezone.now()
    settle = SETTLE_SECONDS if settle is None else settle
    with transaction.atomic():
        endpoint = (
            WebhookEndpoint.objects.select_for_update(skip_locked=True)
            .filter(pk=endpoint_id, active=True)
            .first()
        )
        if endpoint is None:
            return 0
        created = _campaign_deliveries(endpoint)
        created += _event_deliveries(endpoint, now, settle)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            cursor_event_id=endpoint.cursor_event_id,
            horizon_event_id=endpoint.horizon_event_id,
            horizon_at=endpoint.horizon_at,
        )
    return created


# --- Delivering -------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Rempart-Signature value: HMAC-SHA256 over "<timestamp>." + raw body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def body_of(delivery: WebhookDelivery, organisation_name: str) -> bytes:
    document = {
        "id": delivery.pk,
        "type": delivery.event_type,
        "created_at": delivery.created_at.isoformat(),
        "organisation": organisation_name,
        "data": delivery.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class DeliveryError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, address, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, address, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST to the checked address; the HTTP status, or a DeliveryError."""
    try:
        scheme, host, port, addresses = check_url(url)
    except DomainError as exc:
        raise DeliveryError(exc.message) from exc
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if scheme == "https":
        connection = _PinnedHTTPSConnection(
            host, port, addresses[0], timeout=TIMEOUT_S, context=ssl_context()
        )
    else:
        connection = _PinnedHTTPConnection(host, port, addresses[0], timeout=TIMEOUT_S)
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        return response.status
    except ssl.SSLError as exc:
        raise DeliveryError(f"Échec de la connexion TLS : {exc.reason or exc}") from exc
    except TimeoutError as exc:
        raise DeliveryError(f"Pas de réponse en {TIMEOUT_S} s.") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(f"Destinataire injoignable : {exc}") from exc
    finally:
        connection.close()


def retry_delay(attempts: int) -> int | None:
    """Seconds before the next try after `attempts` failed tries; None when it is over."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]


@dataclass
class DeliveryOutcome:
    status: str
    response_code: int | None = None
    retry_in: int | None = None


def deliver(delivery_id: int) -> DeliveryOutcome:
    """Send one delivery if it is pending (row locked: two workers never send it together)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint__organisation")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return DeliveryOutcome(delivery.status if delivery else "gone")
        endpoint = delivery.endpoint
        body = body_of(delivery, endpoint.organisation.name)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Rempart-Webhooks/1",
            "X-Rempart-Event": delivery.event_type,
            "X-Rempart-Delivery": str(delivery.pk),
            "X-Rempart-Timestamp": timestamp,
            "X-Rempart-Signature": sign(endpoint.secret, timestamp, body),
        }
        now = timezone.now()
        delivery.attempts += 1
        try:
            code = post(endpoint.url, body, headers)
            if not 200 <= code < 300:
                raise DeliveryError(f"Le destinataire a répondu HTTP {code}.", code)
        except DeliveryError as exc:
            delivery.response_code = exc.status
            delivery.error = exc.message[:1000]
            delay = retry_delay(delivery.attempts)
            if delay is None:
                delivery.status = DeliveryStatus.FAILED
            else:
                delivery.next_attempt_at = now + datetime.timedelta(seconds=delay)
            delivery.save(
                update_fields=["attempts", "response_code", "error", "status", "next_attempt_at"]
            )
            return DeliveryOutcome(delivery.status, exc.status, delay)
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.response_code = code
        delivery.error = ""
        delivery.save(
            update_fields=["attempts", "response_code", "error", "status", "delivered_at"]
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(last_delivery_at=now)
    return DeliveryOutcome(DeliveryStatus.DELIVERED, code)


def sweep(*, now: datetime.datetime | None = None, settle=None) -> dict:
    """Collect the new deliveries of every active endpoint, then send the due ones."""
    given = now
    now = now or timezone.now()
    created = 0
    for pk in WebhookEndpoint.objects.filter(active=True).values_list("pk", flat=True):
        try:
            created += collect(pk, now=now, settle=settle)
        except IntegrityError:  # pragma: no cover - a concurrent sweep created it first
            log.warning("webhook collect conflict on endpoint %s", pk)
    due = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=given or timezone.now(),  # (what was just created included)
            endpoint__active=True,
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:DELIVER_PER_SWEEP]
    )
    outcomes: dict[str, int] = {}
    started = time.monotonic()
    for pk in due:
        if time.monotonic() - started > SWEEP_BUDGET_S:
            break  # the next sweep goes on
        outcome = deliver(pk)
        outcomes[outcome.status] = outcomes.get(outcome.status, 0) + 1
    return {"created": created, "attempted": len(due), **outcomes}
