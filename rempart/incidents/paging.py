"""On-call paging: the escalation engine, the deliveries, the acknowledgement, the chain test.

How an alert is paged
---------------------
* The alert service calls `start_paging(alert)` inside its transaction: `next_page_at` is set
  to now and, once the alert is committed, the first step is queued (`tasks.run_step_task`).
* `run_step(alert_id)` locks the alert row (`select_for_update`), does nothing if the alert is
  acknowledged, linked to another one, finished, or its step is not due yet, and otherwise
  pages step k: the k-th level of the escalation chain (the levels on call now, in order; after
  the last level it starts again at the first), for `EscalationPolicy.rounds` rounds; then the
  alert is « sans réponse » and the CRRC operators are told by e-mail. When nobody is on call,
  each step pages the CRRC operators directly (pages of level 0, `OPERATORS_LEVEL`).
* A page is one `Page` row per recipient and channel (e-mail, and each active gateway of the
  CRRC), written in the same transaction that advances the alert (`paging_step` + 1,
  `next_page_at` = now + the policy's delay). Unique constraints make a second run of a step
  create nothing. Once committed, the pages are delivered (`deliver_page`, which locks the page
  row, sends, and marks it « envoyée » in that same row); a failed delivery is retried by a
  Celery task with a backoff, then marked « échec ».
* Nothing is lost when a worker dies: the tasks are acknowledged late, and a periodic sweep
  (`sweep`, Celery beat every 30 s) runs the steps that are due and delivers the pages left
  « à envoyer ». Nothing is sent twice in normal operation: the rows are locked and say what
  was sent. A worker killed between a gateway's answer and the commit that records it leaves
  the page « à envoyer », and the sweep sends it again: gateways de-duplicate on the page id.

Webhook signature (for SMS or voice gateways)
---------------------------------------------
Each page is POSTed as JSON (UTF-8) to the gateway's URL, timeout 5 s, redirects not followed::

    Content-Type: application/json; charset=utf-8
    X-Rempart-Timestamp: 1767225600                      (Unix time, seconds)
    X-Rempart-Page: 4242                                 (page id: the idempotency key)
    X-Rempart-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The receiver recomputes the HMAC over the timestamp, a dot and the exact raw body bytes with the
gateway's secret, compares in constant time, refuses a timestamp more than 5 minutes away from
its clock (replay) and ignores a page id it has already handled. The body::

    {"page_id", "alert_id", "step", "level", "organisation", "incident_type",
     "incident_type_label", "incomplete", "test", "direct_to_operators",
     "recipient": {"name", "phone"}, "callback_phone", "ack_url", "ack_token", "sent_at"}

A 2xx answer is a success; anything else (or no answer) is retried, then the page is failed.
To acknowledge on the on-call person's reply, the gateway POSTs {"token": ack_token} to
/api/v1/paging/ack/ (the signed token is the only credential; see `paging_views`).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from auditlog.context import auditlog_value, set_actor
from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import ROLES, Capability, OrgKind
from rempart.organisations.models import Membership, Organisation

from . import perms
from .models import (
    Alert,
    AlertSource,
    AlertStatus,
    EscalationPolicy,
    EventKind,
    IncidentType,
    OnCallShift,
    Page,
    PageChannel,
    PageStatus,
    PagingStatus,
    PagingWebhook,
)
from .timeline import add_event

log = logging.getLogger(__name__)

OPERATORS_LEVEL = 0  # the level of pages sent to the CRRC operators when nobody is on call
FINISHED = (PagingStatus.ACKNOWLEDGED, PagingStatus.EXHAUSTED, PagingStatus.LINKED)
WEBHOOK_TIMEOUT_S = 5
# A failed delivery is tried again after these delays (seconds); then the page is failed.
RETRY_BACKOFF_S = (10, 30, 90)
MAX_ATTEMPTS = len(RETRY_BACKOFF_S) + 1
# The sweep: a page still « à envoyer » this long after its last planned try was lost (a worker
# died); a step due this long ago was lost too (normally its own task runs it on time).
STALE_PAGE_S = 30
STEP_GRACE_S = 10
SWEEP_BATCH = 500
SWEEP_BUDGET_S = 25  # under beat's 30 s: sweeps do not pile up
ACK_SALT = "rempart.incidents.page-ack"
CHAIN_TEST_DESCRIPTION = "Test de la chaîne d'astreinte"


def ack_link_max_age() -> datetime.timedelta:
    return datetime.timedelta(hours=getattr(settings, "PAGING_ACK_LINK_MAX_AGE_HOURS", 24))


# --- The chain ------------------------------------------------------------------------------


def escalation_chain(crrc: Organisation, at: datetime.datetime | None = None) -> list[OnCallShift]:
    """The shifts of the CRRC covering `at` (default now), by level then start (active people)."""
    at = at or timezone.now()
    return list(
        OnCallShift.objects.filter(
            crrc=crrc, starts_at__lte=at, ends_at__gt=at, person__is_active=True
        )
        .select_related("person")
        .order_by("level", "starts_at", "pk")
    )


def policy_for(crrc: Organisation) -> EscalationPolicy:
    """The CRRC's policy, or the defaults (5 minutes, 3 rounds) when it has not set one."""
    return EscalationPolicy.objects.filter(crrc=crrc).first() or EscalationPolicy(crrc=crrc)


def _roles_with(capability: Capability) -> list[str]:
    return [code.value for code, spec in ROLES.items() if capability in spec.capabilities]


def crrc_operators(crrc: Organisation) -> list:
    """The people who run the CRRC's on-call (MANAGE_ONCALL holders in the CRRC itself)."""
    memberships = (
        Membership.objects.active()
        .filter(
            organisation=crrc,
            role__in=_roles_with(Capability.MANAGE_ONCALL),
            user__is_active=True,
        )
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user_id")
    )
    people = {}
    for membership in memberships:
        people.setdefault(membership.user_id, membership.user)
    return list(people.values())


def region_crrc(region_id: int) -> Organisation | None:
    return (
        Organisation.objects.filter(kind=OrgKind.CRRC, region_id=region_id).order_by("pk").first()
    )


@dataclass
class StepTarget:
    level: int
    recipients: list  # [(user, phone)]
    round: int
    rounds: int
    levels: int  # how many entries one round has

    @property
    def exhausted(self) -> bool:
        return self.round >= self.rounds

    @property
    def to_operators(self) -> bool:
        return self.level == OPERATORS_LEVEL


def step_target(
    crrc: Organisation,
    step: int,
    at: datetime.datetime,
    policy: EscalationPolicy | None = None,
) -> StepTarget:
    """Who step `step` pages at `at`: one level of the chain (everyone on call at that level),
    or the CRRC operators when nobody is on call."""
    policy = policy or policy_for(crrc)
    chain = escalation_chain(crrc, at)
    if chain:
        levels = sorted({shift.level for shift in chain})
        level = levels[step % len(levels)]
        seen, recipients = set(), []
        for shift in chain:
            if shift.level == level and shift.person_id not in seen:
                seen.add(shift.person_id)
                recipients.append((shift.person, shift.phone or shift.person.phone))
        return StepTarget(level, recipients, step // len(levels), policy.rounds, len(levels))
    operators = [(person, person.phone) for person in crrc_operators(crrc)]
    return StepTarget(OPERATORS_LEVEL, operators, step, policy.rounds, 1)


# --- Starting and stepping ------------------------------------------------------------------


def _enqueue(task, args: list, countdown: float | None = None) -> None:
    """Queue a task; a broker outage is logged, not raised (the sweep catches up). Without a
    broker (tasks run inline) nothing can wait: a delayed task is left to the sweep."""
    try:
        if countdown:
            if not task.app.conf.task_always_eager:
                task.apply_async(args=args, countdown=countdown)
        else:
            task.delay(*args)
    except Exception:  # the row state is the truth: the sweep queues it again
        log.exception("paging: could not queue %s%s", task.name, args)


def start_paging(alert: Alert) -> None:
    """Called by the alert service inside its transaction: the first step is due now and queued
    once the alert is committed. A linked (duplicate) alert is not paged."""
    if alert.duplicate_of_id or alert.paging_status != PagingStatus.PENDING:
        return
    if alert.crrc_id is None:
        alert.crrc = region_crrc(alert.region_id)
    alert.paging_step = 0
    alert.next_page_at = timezone.now()
    alert.save(update_fields=["crrc", "paging_step", "next_page_at"])
    alert_id = alert.pk

    def queue_first_step():
        from . import tasks

        _enqueue(tasks.run_step_task, [alert_id])

    transaction.on_commit(queue_first_step)


@dataclass
class StepResult:
    outcome: str  # missing, finished, not_due, paged, exhausted, no_crrc
    step: int | None = None
    page_ids: list[int] = field(default_factory=list)


def run_step(alert_id: int, *, deliver: bool = True) -> StepResult:
    """Page the alert's next step if it is due. Idempotent and safe to run concurrently: the
    alert row is locked, and a step already paged is not due any more."""
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update(of=("self",))
            .select_related("crrc", "organisation")
            .filter(pk=alert_id)
            .first()
        )
        if alert is None:
            return StepResult("missing")
        if (
            alert.paging_status in FINISHED
            or alert.duplicate_of_id
            or alert.acknowledged_at is not None
        ):
            return StepResult("finished")
        now = timezone.now()
        if alert.next_page_at is None or alert.next_page_at > now:
            return StepResult("not_due")
        step = alert.paging_step
        if alert.crrc is None:
            log.error("paging: alert %s has no CRRC in its region, nobody can be paged", alert.pk)
            alert.paging_status = PagingStatus.EXHAUSTED
            alert.next_page_at = None
            alert.save(update_fields=["paging_status", "next_page_at"])
            return StepResult("no_crrc", step)
        policy = policy_for(alert.crrc)
        target = step_target(alert.crrc, step, now, policy)
        if target.exhausted or not target.recipients:
            if not target.recipients:
                log.error("paging: nobody to page for alert %s (no rota, no operator)", alert.pk)
            alert.paging_status = PagingStatus.EXHAUSTED
            alert.next_page_at = None
            alert.save(update_fields=["paging_status", "next_page_at"])
            transaction.on_commit(lambda: _queue_exhausted_notice(alert_id))
            return StepResult("exhausted", step)
        webhooks = list(PagingWebhook.objects.filter(crrc=alert.crrc, active=True))
        # Pages of this step already written (only if the step was reset by hand: the locked
        # row and the step counter, advanced in this transaction, keep a step from running
        # twice; the unique constraints are the last guard).
        written = {
            (page.recipient_id, page.channel, page.webhook_id): page.pk
            for page in Page.objects.filter(alert=alert, step=step)
        }
        page_ids, phones = [], {}
        for person, phone in target.recipients:
            # Gateways first: an SMS or a call wakes someone up sooner than an e-mail.
            channels = [(PageChannel.WEBHOOK, webhook) for webhook in webhooks]
            channels.append((PageChannel.EMAIL, None))
            for channel, webhook in channels:
                key = (person.pk, channel, webhook.pk if webhook else None)
                if key not in written:
                    written[key] = Page.objects.create(
                        alert=alert,
                        step=step,
                        level=target.level,
                        recipient=person,
                        channel=channel,
                        webhook=webhook,
                        created_at=now,
                    ).pk
                page_ids.append(written[key])
                phones[written[key]] = phone
        delay = datetime.timedelta(minutes=policy.ack_timeout_minutes)
        alert.paging_status = PagingStatus.PAGING
        alert.paging_step = step + 1
        alert.next_page_at = now + delay
        alert.save(update_fields=["paging_status", "paging_step", "next_page_at"])

        def queue_next_step():
            from . import tasks

            _enqueue(tasks.run_step_task, [alert_id], countdown=delay.total_seconds())

        transaction.on_commit(queue_next_step)
    if deliver:
        for page_id in page_ids:
            outcome = deliver_page(page_id, phone=phones[page_id])
            if outcome.retry_in is not None:
                _queue_retry(page_id, outcome.retry_in)
    return StepResult("paged", step, page_ids)


def _queue_retry(page_id: int, countdown: int) -> None:
    from . import tasks

    _enqueue(tasks.deliver_page_task, [page_id], countdown=countdown)


def _queue_exhausted_notice(alert_id: int) -> None:
    from . import tasks

    _enqueue(tasks.exhausted_notice_task, [alert_id])


# --- Delivering one page --------------------------------------------------------------------


class DeliveryError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass
class DeliveryOutcome:
    status: str  # the page's status after this call, or "missing"
    retry_in: int | None = None  # seconds before the next try, when it failed and may retry


def ack_token(page: Page) -> str:
    """Signed and timestamped; tied to the page and its recipient (no personal data inside)."""
    return signing.dumps({"p": page.pk, "r": page.recipient_id}, salt=ACK_SALT)


def ack_url(page: Page) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("incidents:paging_ack", args=[ack_token(page)])


def _alert_url(alert: Alert) -> str:
    """Where a logged-in person sees the alert (the alerts pages), else the home page."""
    try:
        path = reverse("incidents:alert_detail", args=[alert.pk])
    except NoReverseMatch:  # (the alerts pages are another slice's; never fail a page for it)
        path = reverse("core:home")
    return settings.SITE_URL.rstrip("/") + path


def _recipient_phone(page: Page) -> str:
    """The phone of the shift the page was sent for (the rota's on-call number), else the
    person's own."""
    shift = (
        OnCallShift.objects.filter(
            crrc_id=page.alert.crrc_id,
            person_id=page.recipient_id,
            level=page.level,
            starts_at__lte=page.created_at,
            ends_at__gt=page.created_at,
        )
        .exclude(phone="")
        .order_by("starts_at")
        .first()
    )
    return shift.phone if shift else page.recipient.phone


def webhook_payload(page: Page, sent_at: datetime.datetime, phone: str | None = None) -> dict:
    alert = page.alert
    return {
        "page_id": page.pk,
        "alert_id": alert.pk,
        "step": page.step,
        "level": page.level,
        "organisation": alert.organisation.name,
        "incident_type": alert.incident_type,
        "incident_type_label": alert.get_incident_type_display() if alert.incident_type else "",
        "incomplete": bool(alert.missing_fields),
        "test": alert.is_test,
        "direct_to_operators": page.level == OPERATORS_LEVEL,
        "recipient": {
            "name": page.recipient.get_full_name() or page.recipient.email,
            "phone": _recipient_phone(page) if phone is None else phone,
        },
        "callback_phone": alert.callback_phone,
        "ack_url": ack_url(page),
        "ack_token": ack_token(page),
        "sent_at": sent_at.isoformat(),
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Rempart-Signature value: HMAC-SHA256 over "<timestamp>." + raw body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx is an answer (a failure), not somewhere to POST again


_opener = urllib.request.build_opener(_NoRedirect)


def _post_webhook(page: Page, sent_at: datetime.datetime, phone: str | None = None) -> int:
    body = json.dumps(webhook_payload(page, sent_at, phone), ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    if urlsplit(page.webhook.url).scheme not in ("http", "https"):
        raise DeliveryError("Adresse de passerelle invalide : http ou https attendu.")
    request = urllib.request.Request(  # noqa: S310 - scheme checked just above
        page.webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Rempart-Astreinte/1",
            "X-Rempart-Timestamp": timestamp,
            "X-Rempart-Page": str(page.pk),
            "X-Rempart-Signature": sign(page.webhook.secret, timestamp, body),
        },
    )
    try:
        with _opener.open(request, timeout=WEBHOOK_TIMEOUT_S) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"La passerelle a répondu HTTP {exc.code}.", exc.code) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"Passerelle injoignable : {reason}") from exc
    if not 200 <= status < 300:
        raise DeliveryError(f"La passerelle a répondu HTTP {status}.", status)
    return status


def _send_email(page: Page) -> None:
    alert = page.alert
    if not page.recipient.email:
        raise DeliveryError("La personne n'a pas d'adresse e-mail.")
    context = {
        "alert": alert,
        "page": page,
        "to_operators": page.level == OPERATORS_LEVEL,
        "ack_url": ack_url(page),
        "alert_url": _alert_url(alert),
        "max_age_hours": int(ack_link_max_age().total_seconds() // 3600),
    }
    prefix = "[Rempart][TEST] " if alert.is_test else "[Rempart] "
    kind = alert.get_incident_type_display() if alert.incident_type else "type non précisé"
    subject = f"{prefix}Astreinte : alerte n° {alert.pk} — {kind} — {alert.organisation.name}"
    try:
        send_mail(
            subject=subject,
            message=render_to_string("incidents/email/page_alert.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[page.recipient.email],
        )
    except (OSError, ValueError) as exc:  # SMTP errors are OSError subclasses
        raise DeliveryError(f"Envoi de l'e-mail impossible : {exc}") from exc


def deliver_page(page_id: int, *, phone: str | None = None) -> DeliveryOutcome:
    """Send one page if it is still to be sent. The page row is locked while it is sent and
    marked in the same row, so two deliveries of one page never both send it. `phone`: the
    recipient's on-call number when the caller knows it (else read from the rota)."""
    with transaction.atomic():
        page = (
            Page.objects.select_for_update(of=("self",))
            .select_related("alert", "alert__organisation", "alert__crrc", "recipient", "webhook")
            .filter(pk=page_id)
            .first()
        )
        if page is None:
            return DeliveryOutcome("missing")
        if page.status != PageStatus.PENDING:
            return DeliveryOutcome(page.status)
        alert = page.alert
        if alert.acknowledged_at is not None or alert.paging_status in (
            PagingStatus.ACKNOWLEDGED,
            PagingStatus.LINKED,
        ):
            page.status = PageStatus.CANCELLED
            page.save(update_fields=["status"])
            return DeliveryOutcome(page.status)
        sent_at = timezone.now()
        page.attempts += 1
        try:
            if page.channel == PageChannel.WEBHOOK:
                page.response_status = _post_webhook(page, sent_at, phone)
            else:
                _send_email(page)
        except DeliveryError as exc:
            page.last_error = str(exc)[:500]
            page.response_status = exc.status
            retry_in = None
            if page.attempts >= MAX_ATTEMPTS:
                page.status = PageStatus.FAILED
            else:
                retry_in = RETRY_BACKOFF_S[page.attempts - 1]
            page.save(update_fields=["attempts", "last_error", "response_status", "status"])
            log.warning("paging: page %s not delivered (try %s): %s", page.pk, page.attempts, exc)
            return DeliveryOutcome(page.status, retry_in)
        page.status = PageStatus.SENT
        page.sent_at = sent_at
        page.last_error = ""
        page.save(update_fields=["attempts", "last_error", "response_status", "status", "sent_at"])
        return DeliveryOutcome(page.status)


def send_exhausted_notice(alert_id: int) -> int:
    """Tell the CRRC operators that nobody acknowledged the alert. Returns e-mails sent."""
    alert = Alert.objects.select_related("organisation", "crrc").filter(pk=alert_id).first()
    if alert is None or alert.crrc is None or alert.paging_status != PagingStatus.EXHAUSTED:
        return 0
    emails = [person.email for person in crrc_operators(alert.crrc) if person.email]
    if not emails:
        log.error("paging: alert %s unanswered and the CRRC has no operator", alert_id)
        return 0
    context = {
        "alert": alert,
        "rounds": policy_for(alert.crrc).rounds,
        "pages": alert.pages.select_related("recipient", "webhook").order_by("step", "pk"),
        "alert_url": _alert_url(alert),
    }
    prefix = "[Rempart][TEST] " if alert.is_test else "[Rempart] "
    subject = f"{prefix}Alerte n° {alert.pk} sans prise en compte — {alert.organisation.name}"
    body = render_to_string("incidents/email/page_exhausted.txt", context)
    sent = 0
    for email in emails:
        sent += send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
    return sent


# --- The sweep ------------------------------------------------------------------------------


def _retry_due(created_at: datetime.datetime, attempts: int) -> datetime.datetime:
    """When a page left « à envoyer » after `attempts` tries counts as lost."""
    waited = sum(RETRY_BACKOFF_S[: min(attempts, len(RETRY_BACKOFF_S))])
    return created_at + datetime.timedelta(seconds=STALE_PAGE_S + waited)


def sweep(now: datetime.datetime | None = None, *, budget_s: float = SWEEP_BUDGET_S) -> dict:
    """Catch up after a lost task (a worker killed, a broker restarted): run the steps that are
    due and deliver the pages still « à envoyer », here and now (not through the queue, which
    may be what failed). Both are idempotent and lock their row: doing one that is also on its
    way does no harm. Stops after `budget_s` seconds (the next sweep goes on)."""
    now = now or timezone.now()
    deadline = time.monotonic() + budget_s
    due = list(
        Alert.objects.filter(
            paging_status__in=[PagingStatus.PENDING, PagingStatus.PAGING],
            next_page_at__lte=now - datetime.timedelta(seconds=STEP_GRACE_S),
            duplicate_of__isnull=True,
            acknowledged_at__isnull=True,
        )
        .order_by("next_page_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    steps = 0
    for alert_id in due:
        if time.monotonic() > deadline:
            break
        steps += run_step(alert_id).outcome in ("paged", "exhausted", "no_crrc")
    pending = (
        Page.objects.filter(
            status=PageStatus.PENDING,
            created_at__lte=now - datetime.timedelta(seconds=STALE_PAGE_S),
        )
        .order_by("created_at")
        .values_list("pk", "created_at", "attempts")[:SWEEP_BATCH]
    )
    delivered = 0
    for page_id, created_at, attempts in pending:
        if time.monotonic() > deadline:
            break
        if now < _retry_due(created_at, attempts):
            continue
        outcome = deliver_page(page_id)
        delivered += 1
        if outcome.retry_in is not None:
            _queue_retry(page_id, outcome.retry_in)
    if steps or delivered:
        log.info("paging sweep: %s steps run, %s pages delivered again", steps, delivered)
    return {"steps": steps, "pages": delivered}


# --- Acknowledging --------------------------------------------------------------------------


def _person(user) -> str:
    return (user.get_full_name() or user.email) if user else "une personne"


def _when(at: datetime.datetime) -> str:
    return timezone.localtime(at).strftime("%d/%m/%Y à %H:%M")


def acknowledge(*, actor, alert: Alert) -> Alert:
    """The alert is taken in hand: paging stops, pending pages are cancelled. A second person
    is told who was first; the same person clicking again changes nothing."""
    if not perms.can_handle_alert(actor, alert):
        raise DomainError(
            "Vous ne pouvez pas prendre en compte cette alerte : seuls le CRRC, l'expert "
            "d'astreinte alerté et les responsables de la structure le peuvent.",
            code="forbidden",
        )
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update(of=("self",))
            .select_related("acknowledged_by", "case")
            .get(pk=alert.pk)
        )
        if alert.acknowledged_at is not None:
            if alert.acknowledged_by_id == actor.pk:
                return alert
            raise DomainError(
                f"Cette alerte a déjà été prise en compte par {_person(alert.acknowledged_by)} "
                f"le {_when(alert.acknowledged_at)}.",
                code="already_acknowledged",
            )
        if alert.duplicate_of_id:
            raise DomainError(
                f"Cette alerte est rattachée à l'alerte n° {alert.duplicate_of_id} : prenez en "
                "compte celle-ci.",
                code="linked",
            )
        now = timezone.now()
        alert.acknowledged_at = now
        alert.acknowledged_by = actor
        alert.paging_status = PagingStatus.ACKNOWLEDGED
        alert.next_page_at = None
        fields = ["acknowledged_at", "acknowledged_by", "paging_status", "next_page_at"]
        if alert.status == AlertStatus.NEW:
            alert.status = AlertStatus.ACKNOWLEDGED
            fields.append("status")
        alert.save(update_fields=fields)
        for page in Page.objects.filter(alert=alert, status=PageStatus.PENDING):
            page.status = PageStatus.CANCELLED
            page.save(update_fields=["status"])
        if alert.case is not None:
            add_event(
                alert.case,
                EventKind.ALERT,
                actor,
                f"Alerte n° {alert.pk} prise en compte par {_person(actor)}.",
                occurred_at=now,
            )
    return alert


def page_from_token(token: str) -> Page:
    """The page behind a signed acknowledgement link, or a DomainError saying why not."""
    try:
        payload = signing.loads(token, salt=ACK_SALT, max_age=ack_link_max_age())
    except signing.SignatureExpired as exc:
        raise DomainError(
            "Ce lien de prise en compte a expiré. Connectez-vous à Rempart pour prendre en "
            "compte l'alerte.",
            code="ack_link_expired",
        ) from exc
    except signing.BadSignature as exc:
        raise DomainError(
            "Ce lien de prise en compte n'est pas valide. Vérifiez qu'il a été copié en entier, "
            "ou connectez-vous à Rempart.",
            code="ack_link_invalid",
        ) from exc
    page = (
        Page.objects.select_related("alert", "alert__organisation", "recipient")
        .filter(pk=payload.get("p") if isinstance(payload, dict) else None)
        .first()
    )
    if page is None or page.recipient_id != payload.get("r"):
        raise DomainError(
            "Ce lien de prise en compte ne correspond à aucun appel d'astreinte.",
            code="ack_link_invalid",
        )
    if not page.recipient.is_active:
        raise DomainError(
            "Le compte auquel cet appel était adressé est désactivé.", code="forbidden"
        )
    return page


@contextlib.contextmanager
def _audit_actor(user):
    """Writes made through a signed link (no session) are audited in the recipient's name."""
    try:
        context = auditlog_value.get()
    except LookupError:
        with set_actor(user):
            yield
        return
    if context.get("actor") is None or not getattr(context["actor"], "is_authenticated", False):
        context["actor"] = user
    yield


def acknowledge_by_token(*, token: str) -> tuple[Alert, bool]:
    """Acknowledge as the paged person of a signed link (e-mail, gateway reply). Returns the
    alert and whether it was already acknowledged by that person."""
    page = page_from_token(token)
    recipient = page.recipient
    already = page.alert.acknowledged_by_id == recipient.pk
    with _audit_actor(recipient):
        alert = acknowledge(actor=recipient, alert=page.alert)
    return alert, already


# --- The end-to-end chain test --------------------------------------------------------------


def manageable_crrcs(user) -> QuerySet[Organisation]:
    """The CRRCs whose on-call the user runs (MANAGE_ONCALL)."""
    crrcs = Organisation.objects.filter(kind=OrgKind.CRRC).order_by("name", "pk")
    return crrcs.filter(pk__in=[c.pk for c in crrcs if perms.can_manage_oncall(user, c)])


def chain_tests(user, crrcs) -> QuerySet[Alert]:
    """The latest test alerts of the given CRRCs (the user's own scope, from manageable_crrcs)."""
    return (
        Alert.objects.filter(is_test=True, crrc__in=crrcs)
        .select_related("crrc", "acknowledged_by", "reporter")
        .order_by("-received_at", "-pk")
    )


def get_chain_test(user, pk) -> Alert:
    """A test alert whose CRRC the user runs; 404 if there is no such test, 403 otherwise."""
    try:
        pk = int(pk)
    except (TypeError, ValueError) as exc:
        raise Http404("Test introuvable.") from exc
    alert = (
        Alert.objects.select_related("crrc", "organisation", "acknowledged_by", "reporter")
        .filter(pk=pk, is_test=True)
        .first()
    )
    if alert is None or alert.crrc is None:
        raise Http404("Test de la chaîne d'astreinte introuvable.")
    if not perms.can_manage_oncall(user, alert.crrc):
        raise PermissionDenied(
            "Ce test concerne l'astreinte d'un autre CRRC : seuls ses opérateurs le consultent."
        )
    return alert


def chain_test_start(*, actor, crrc: Organisation) -> Alert:
    """File a test alert from the CRRC and page it through the real chain (e-mails, gateways,
    escalation). Test alerts are left out of the figures."""
    if crrc.kind != OrgKind.CRRC or not perms.can_manage_oncall(actor, crrc):
        raise DomainError(
            "Seuls les opérateurs du CRRC testent sa chaîne d'astreinte.", code="forbidden"
        )
    if crrc.region_id is None:
        raise DomainError("Ce CRRC n'est rattaché à aucune région.", code="invalid", field="crrc")
    with transaction.atomic():
        alert = Alert.objects.create(
            region_id=crrc.region_id,
            organisation=crrc,
            crrc=crrc,
            reporter=actor,
            source=AlertSource.TEST,
            reporter_name=_person(actor),
            reporter_function="Test de la chaîne d'astreinte",
            callback_phone=actor.phone,
            callback_email=actor.email,
            incident_type=IncidentType.OTHER,
            description=CHAIN_TEST_DESCRIPTION,
            received_at=timezone.now(),
            is_test=True,
        )
        start_paging(alert)
    return alert


def duration_fr(delta: datetime.timedelta) -> str:
    """« 1 min 12 s », « 2 h 05 min », « 8 s »."""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


@dataclass
class ChainReport:
    alert: Alert
    on_call: list  # shifts covering now
    operators_paged: bool
    steps: list  # [(step, level, [Page])]
    sent: int
    failed: int
    pending: int
    running: bool
    verdict: str
    verdict_level: str  # success, error, warning, info
    elapsed: str
    first_sent_after: str | None


def chain_report(alert: Alert, now: datetime.datetime | None = None) -> ChainReport:
    """What the chain test page shows: each step with its pages, and a verdict."""
    now = now or timezone.now()
    pages = list(alert.pages.select_related("recipient", "webhook").order_by("step", "level", "pk"))
    steps: dict[int, list[Page]] = {}
    for page in pages:
        steps.setdefault(page.step, []).append(page)
    sent = [p for p in pages if p.status == PageStatus.SENT]
    failed = [p for p in pages if p.status == PageStatus.FAILED]
    pending = [p for p in pages if p.status == PageStatus.PENDING]
    first_sent = min((p.sent_at for p in sent), default=None)
    end = alert.acknowledged_at or now
    running = alert.paging_status in (PagingStatus.PENDING, PagingStatus.PAGING)
    elapsed = duration_fr(end - alert.received_at)
    failures = ", ".join(
        f"{p.webhook.name if p.webhook else 'e-mail'} ({p.last_error or 'échec'})" for p in failed
    )
    if alert.paging_status == PagingStatus.ACKNOWLEDGED:
        who = _person(alert.acknowledged_by)
        if sent:
            verdict, level = (
                f"Chaîne complète : alertée, acquittée en {elapsed} par {who}.",
                "success",
            )
            if failed:
                verdict += f" Des envois ont échoué : {failures}."
                level = "warning"
        else:
            verdict, level = (
                f"Acquittée en {elapsed} par {who}, mais aucun appel n'a été envoyé.",
                "warning",
            )
    elif alert.paging_status == PagingStatus.EXHAUSTED:
        verdict, level = (
            f"Échec : personne n'a acquitté après {policy_for(alert.crrc).rounds} tour(s) "
            "d'escalade ; les opérateurs du CRRC ont été prévenus.",
            "error",
        )
    elif failed and not sent:
        verdict, level = f"Échec : aucun appel n'a pu être envoyé ({failures}).", "error"
    elif not pages and now - alert.received_at > datetime.timedelta(seconds=STALE_PAGE_S):
        verdict, level = (
            "Aucun appel créé après 30 s : le service de tâches de fond (worker Celery) "
            "fonctionne-t-il ?",
            "error",
        )
    elif sent:
        verdict = (
            f"En cours : alertée (premier envoi après "
            f"{duration_fr(first_sent - alert.received_at)}), en attente d'acquittement."
        )
        if failed:
            verdict += f" Des envois ont échoué : {failures}."
        level = "warning" if failed else "info"
    else:
        verdict, level = "En cours : appels en préparation.", "info"
    return ChainReport(
        alert=alert,
        on_call=escalation_chain(alert.crrc, now) if alert.crrc else [],
        operators_paged=any(p.level == OPERATORS_LEVEL for p in pages),
        steps=sorted(steps.items()),
        sent=len(sent),
        failed=len(failed),
        pending=len(pending),
        running=running,
        verdict=verdict,
        verdict_level=level,
        elapsed=elapsed,
        first_sent_after=duration_fr(first_sent - alert.received_at) if first_sent else None,
    )
