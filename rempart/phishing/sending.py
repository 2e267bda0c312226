"""The sending engine of simulated phishing campaigns, and its pause / resume / « send now »
services.

Life of a message
-----------------
* `services.campaign_schedule` snapshots one `CampaignRecipient` per person (token, template).
  The sweep (`sweep`, Celery beat every 30 s, or `manage.py send_phishing` without a broker)
  then *plans* the campaign (`plan_campaign`): each recipient gets its send time
  (`next_attempt_at`), spread evenly (in random order) over the moments between `starts_at`
  and `spread_until` that fall inside the daily window (`window_start`–`window_end`, weekdays
  only when asked), in Europe/Paris local time — the window is computed day by day with
  zoneinfo, so a day when the clocks change has its real length.
* Senders (`send_due(profile_id)`, the Celery task `phishing.send_profile`) work per sending
  profile: take tokens from the profile's rate-limit bucket (Redis when a Redis broker is
  configured, else the profile row itself), *claim* that many due rows (`claimed_at`,
  `claimed_by`; `select_for_update(skip_locked=True)` on PostgreSQL, SQLite has one writer at a
  time), then send them through ONE SMTP connection. Per message: MAIL, RCPT, DATA and the body
  are written (until the final dot the server keeps nothing), the row is marked « handed over »
  (`handed_over_at`, committed; on PostgreSQL the UPDATE is sent and the dot written right
  after it, its answer read afterwards, see `_start_hand_over`), the final dot is written, and
  as soon as the server answers 250 the row is marked sent (committed). Only the server's
  acceptance marks a row sent. The two writes of a message are plain SQL (`_SQL_*`).
* A failure is retried with an exponential back-off (`attempts`, `next_attempt_at`,
  `last_error`) up to `MAX_ATTEMPTS`, then the row is failed; a permanent refusal (5xx) fails
  it at once. A server that cannot be reached (or refuses the login) stops the sender, backs
  off the rows it held and shows the error on the campaign (`Campaign.last_error`).
* The campaign goes scheduled → sending (first due message) → done (every row sent or failed);
  `campaign_pause` / `campaign_resume` stop and restart it (a sender notices within half a
  second and gives its unsent rows back). Anonymous mode: the address and the names are erased in the same
  UPDATE that marks the row sent; pseudonymous mode: `purge_identities` erases the identities
  `retention_days` after the campaign closed (`identities_erased_at`).

What happens to a claim whose worker died
-----------------------------------------
A claim is a lease of `claim_lease()` seconds, renewed by a living sender while it works. The
sweep takes back the rows of an expired lease (`release_stale_claims`):
* not handed over (`handed_over_at` empty): the final dot was never written, so the server
  cannot have accepted the message: the row is simply released and sent again — nothing lost,
  nothing twice;
* handed over but not recorded: the worker died between recording the hand-over and recording
  the server's answer — around the final dot (about a millisecond on a healthy link: the dot,
  the server's 250, one UPDATE). The message may or may not have been accepted; it is NOT sent
  again (never twice) and NOT marked sent (never marked sent what was not): the row is failed
  with an explicit error (`HANDED_OVER_ERROR`), so the figures stay honest and the operator
  sees it. (If the worker died after the hand-over was committed but before the dot left, that
  one message is lost: the window is a few microseconds of CPU, no wait in between.)
A live connection lost in that same window fails the row the same way (`LOST_AFTER_HANDOVER`);
lost before the hand-over, the row is retried.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import logging
import math
import os
import random
import re
import secrets
import smtplib
import socket
import ssl
import time
import uuid
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F, Min, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import strip_tags

from rempart.core.errors import DomainError

from . import perms, templating
from .models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    PrivacyMode,
    SendingProfile,
    SendStatus,
    TlsMode,
)

log = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")
UTC = datetime.UTC
MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 60  # 1, 2, 4, 8, 16 minutes between the tries
BATCH = 50  # rows claimed at once by a sender
SMTP_TIMEOUT_S = 20
SENDER_BUDGET_S = 25.0  # a sender task stops after this (the next sweep starts another)
SENDERS_PER_PROFILE = 2  # sender tasks the sweep queues per profile with due messages
PAUSE_CHECK_S = 0.5
TOKEN_HEADER = "X-Rempart-Campaign-Token"  # noqa: S105 (a header name)
REPORT_HEADER = "X-Rempart-Report-URL"
HANDED_OVER_ERROR = (
    "Envoi interrompu (worker arrêté) après la remise du message au serveur SMTP : il a pu "
    "être reçu ; il n'est pas renvoyé pour éviter un doublon."
)
LOST_AFTER_HANDOVER = (
    "Connexion SMTP perdue après la remise du message : il a pu être reçu ; il n'est pas "
    "renvoyé pour éviter un doublon."
)
ACTIVE = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING)


def claim_lease() -> float:
    """Seconds after which a claim whose worker stopped renewing it is taken back."""
    return float(getattr(settings, "PHISHING_CLAIM_LEASE_S", 60))


def senders_per_profile() -> int:
    """Sender tasks the sweep queues per profile with due messages (one SMTP connection each)."""
    return int(getattr(settings, "PHISHING_SENDERS_PER_PROFILE", SENDERS_PER_PROFILE))


def _worker_id() -> str:
    # (a forked pool process has its own pid: recompute rather than inherit the parent's)
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


# --- Planning ---------------------------------------------------------------------------------


def _local(day: datetime.date, at: datetime.time) -> datetime.datetime:
    """A Paris wall-clock time as an aware UTC instant (a time skipped by the spring change
    is read with the winter offset, i.e. one hour later in summer time)."""
    return datetime.datetime.combine(day, at, tzinfo=PARIS).astimezone(UTC)


def windows(
    start: datetime.datetime,
    end: datetime.datetime,
    window_start: datetime.time,
    window_end: datetime.time,
    weekdays_only: bool,
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """The intervals (UTC) between `start` and `end` inside the daily window, in Paris time."""
    out = []
    day = start.astimezone(PARIS).date()
    last = end.astimezone(PARIS).date()
    while day <= last:
        if not (weekdays_only and day.weekday() >= 5):
            lo = max(start, _local(day, window_start))
            hi = min(end, _local(day, window_end))
            if hi > lo:
                out.append((lo, hi))
        day += datetime.timedelta(days=1)
    return out


def in_window(campaign: Campaign, at: datetime.datetime) -> bool:
    if campaign.send_now_at is not None:
        return True
    local = at.astimezone(PARIS)
    if campaign.weekdays_only and local.weekday() >= 5:
        return False
    return (
        _local(local.date(), campaign.window_start)
        <= at
        < _local(local.date(), campaign.window_end)
    )


def next_allowed(campaign: Campaign, at: datetime.datetime) -> datetime.datetime:
    """`at`, or the next moment inside the daily window (for a retry)."""
    if in_window(campaign, at):
        return at
    found = windows(
        at, at + datetime.timedelta(days=8), campaign.window_start, campaign.window_end,
        campaign.weekdays_only,
    )  # fmt: skip
    return found[0][0] if found else at


def spread_times(
    count: int, intervals: list[tuple[datetime.datetime, datetime.datetime]]
) -> list[datetime.datetime]:
    """`count` instants evenly spread over the intervals' total duration (first at the start)."""
    total = sum((hi - lo).total_seconds() for lo, hi in intervals)
    if count <= 0 or total <= 0:
        return []
    step = total / count
    times, index, used = [], 0, 0.0
    for n in range(count):
        offset = n * step
        while (
            index < len(intervals) - 1
            and offset - used >= (intervals[index][1] - intervals[index][0]).total_seconds()
        ):
            used += (intervals[index][1] - intervals[index][0]).total_seconds()
            index += 1
        times.append(intervals[index][0] + datetime.timedelta(seconds=offset - used))
    return times


NO_SLOT = (
    "Aucun créneau d'envoi entre le début et la fin de l'étalement (plage horaire et jours "
    "ouvrés, heure de Paris) : allongez l'étalement ou utilisez « Envoyer maintenant »."
)


def plan_campaign(campaign_id: int, now: datetime.datetime | None = None) -> int:
    """Give every unplanned pending row of a scheduled campaign its send time. Idempotent
    (only rows without a time are planned; the campaign row is locked). Returns rows planned."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.planned_at is not None or campaign.status not in ACTIVE:
            return 0
        rows = list(
            campaign.recipients.filter(
                send_status=SendStatus.PENDING, next_attempt_at__isnull=True
            ).values_list("pk", flat=True)
        )
        start = max(campaign.starts_at or now, now)
        end = campaign.spread_until or start
        if campaign.send_now_at is not None:
            intervals = [(now, now + datetime.timedelta(seconds=1))]
        else:
            intervals = windows(
                start, end, campaign.window_start, campaign.window_end, campaign.weekdays_only
            )
        if not intervals:
            Campaign.objects.filter(pk=campaign.pk).update(last_error=NO_SLOT, last_error_at=now)
            return 0
        random.SystemRandom().shuffle(rows)
        times = spread_times(len(rows), intervals)
        objs = [
            CampaignRecipient(pk=pk, next_attempt_at=at) for pk, at in zip(rows, times, strict=True)
        ]
        CampaignRecipient.objects.bulk_update(objs, ["next_attempt_at"], batch_size=1000)
        campaign.planned_at = now
        campaign.save(update_fields=["planned_at"])
    return len(rows)


# --- Rate limit -------------------------------------------------------------------------------

_BUCKET_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = cap; ts = now end
if now > ts then tokens = math.min(cap, tokens + (now - ts) * rate); ts = now end
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('EXPIRE', KEYS[1], 3600)
local wait = 0
if granted < 1 then wait = (1 - tokens) / rate end
return {granted, tostring(wait)}
"""


def _redis_url() -> str | None:
    url = getattr(settings, "REDIS_URL", None) or getattr(settings, "CELERY_BROKER_URL", None)
    if url and str(url).startswith(("redis://", "rediss://", "unix://")):
        return url
    return None


@lru_cache(maxsize=4)
def _redis_script(url: str):
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client.register_script(_BUCKET_LUA)


def bucket_capacity(rate: float) -> float:
    """At most one second's worth of messages at once (and at least one message)."""
    return max(1.0, rate)


def _take_redis(url: str, profile_id: int, rate: float, want: int) -> tuple[int, float]:
    script = _redis_script(url)
    granted, wait = script(
        keys=[f"rempart:phishing:bucket:{profile_id}"],
        args=[repr(rate), repr(bucket_capacity(rate)), want],
    )
    return int(granted), float(wait)


def _take_db(profile_id: int, rate: float, want: int) -> tuple[int, float]:
    with transaction.atomic():
        profile = (
            SendingProfile.objects.select_for_update()
            .only("pk", "rate_tokens", "rate_checked_at")
            .get(pk=profile_id)
        )
        now = timezone.now()
        cap = bucket_capacity(rate)
        tokens = cap if profile.rate_tokens is None else profile.rate_tokens
        if profile.rate_checked_at is not None and now > profile.rate_checked_at:
            tokens = min(cap, tokens + (now - profile.rate_checked_at).total_seconds() * rate)
        elif profile.rate_checked_at is None:
            tokens = cap
        granted = min(want, math.floor(tokens))
        tokens -= granted
        SendingProfile.objects.filter(pk=profile_id).update(
            rate_tokens=tokens, rate_checked_at=max(now, profile.rate_checked_at or now)
        )
    return granted, (0.0 if granted else (1 - tokens) / rate)


def take_tokens(profile_id: int, rate: float, want: int) -> tuple[int, float]:
    """Up to `want` sending permits from the profile's token bucket (refilled at `rate` per
    second, holding at most one second's worth): (granted, seconds to wait when none)."""
    url = _redis_url()
    if url:
        try:
            return _take_redis(url, profile_id, rate, want)
        except Exception:  # Redis unreachable: the database bucket takes over
            log.warning("phishing: Redis token bucket unavailable, using the database one")
    return _take_db(profile_id, rate, want)


# --- Messages ---------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _route_pattern(name: str) -> str:
    try:
        return reverse(name, args=["TOKEN"])
    except NoReverseMatch:  # (the public tracking routes are another slice's)
        fallback = {"click": "/p/c/TOKEN/", "pixel": "/p/o/TOKEN.gif", "report": "/p/r/TOKEN/"}
        log.warning("phishing: no route %s, using %s", name, fallback[name.split(":")[1]])
        return fallback[name.split(":")[1]]


def tracking_urls(token: str) -> dict[str, str]:
    """The absolute click, pixel and report URLs of a recipient (public tracking, /p/)."""
    base = settings.SITE_URL.rstrip("/")
    return {
        kind: base + _route_pattern(f"phishing_tracking:{kind}").replace("TOKEN", token)
        for kind in ("click", "pixel", "report")
    }


@lru_cache(maxsize=64)
def _from_header(name: str, address: str) -> str:
    return formataddr((name, address), "utf-8")


def _header(value: str) -> str:
    value = " ".join(value.split())  # no line break can reach a header
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8").encode(linesep="\r\n")


def _part(content_type: str, text: str) -> bytes:
    body = base64.encodebytes(text.encode()).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + body


def build_message(recipient: CampaignRecipient, template, profile: SendingProfile) -> bytes:
    """The multipart/alternative (text + HTML) message of one recipient, with its tracking
    links, as the bytes sent after DATA. (Written directly: the `email` package's generator
    costs more CPU than the whole SMTP exchange.)"""
    urls = tracking_urls(recipient.token)
    values = {
        "prenom": recipient.first_name or "",
        "nom": recipient.last_name or "",
        "lien": urls["click"],
        "pixel": templating.pixel_html(urls["pixel"]),
    }
    html = templating.render(template.html_body, values, html=True)
    if (template.text_body or "").strip():
        text = templating.render(template.text_body, {**values, "pixel": ""})
    else:
        text = strip_tags(html)
    boundary = f"=_rempart_{secrets.token_hex(12)}"
    domain = profile.from_address.rpartition("@")[2] or "rempart.localhost"
    headers = [
        ("Subject", _header(templating.render(template.subject, values))),
        ("From", _from_header(template.sender_name, template.sender_address)),
        ("To", _header(recipient.email)),
        ("Date", formatdate(localtime=True)),
        ("Message-ID", make_msgid(domain=domain)),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        (TOKEN_HEADER, recipient.token),
        (REPORT_HEADER, urls["report"]),
    ]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
    sep = f"--{boundary}\r\n".encode()
    return b"".join(
        (
            head,
            b"\r\n",
            sep,
            _part("text/plain", text),
            sep,
            _part("text/html", html),
            f"--{boundary}--\r\n".encode(),
        )
    )


# --- SMTP -------------------------------------------------------------------------------------


class ServerError(Exception):
    """The server cannot be used now (unreachable, TLS or login refused): retry later."""


def ssl_context() -> ssl.SSLContext:
    """Certificates are verified; PHISHING_SMTP_CA_FILE adds a private authority."""
    return ssl.create_default_context(cafile=getattr(settings, "PHISHING_SMTP_CA_FILE", None))


def connect(profile: SendingProfile) -> smtplib.SMTP:
    """An SMTP connection ready to send (TLS as the profile says, logged in); ServerError
    (closed) when the server cannot be used."""
    smtp = None
    try:
        if profile.tls_mode == TlsMode.TLS:
            smtp = smtplib.SMTP_SSL(
                profile.host, profile.port, timeout=SMTP_TIMEOUT_S, context=ssl_context()
            )
        else:
            smtp = smtplib.SMTP(profile.host, profile.port, timeout=SMTP_TIMEOUT_S)
            if profile.tls_mode == TlsMode.STARTTLS:
                smtp.ehlo()
                smtp.starttls(context=ssl_context())
        smtp.ehlo()
        # The final dot is written on its own (see `_transaction`): without this, Nagle's
        # algorithm holds it until the body is acknowledged (a delayed ACK: ~40 ms a message).
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if profile.username:
            smtp.login(profile.username, profile.password or "")
    except smtplib.SMTPAuthenticationError as exc:
        _close(smtp)
        raise ServerError(
            f"Identifiants SMTP refusés par {profile.host} ({exc.smtp_code})."
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        _close(smtp)
        raise ServerError(
            f"Serveur SMTP {profile.host}:{profile.port} injoignable : {_describe(exc)}"
        ) from exc
    return smtp


def _close(smtp) -> None:
    if smtp is not None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()
        with contextlib.suppress(OSError):
            smtp.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        return f"{exc.smtp_code} {detail}"[:300]
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:300]


_DOT_START = re.compile(rb"(?m)^\.")


def _data_until_dot(smtp: smtplib.SMTP, message: bytes) -> None:
    """DATA and the body, without the final dot: until that dot the server keeps nothing."""
    smtp.putcmd("data")
    code, reply = smtp.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    body = _DOT_START.sub(b"..", re.sub(rb"\r\n|\r|\n", b"\r\n", message))
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    smtp.send(body)


def _final_dot(smtp: smtplib.SMTP, after_dot) -> None:
    smtp.send(b".\r\n")
    after_dot()
    code, reply = smtp.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


class Refused(Exception):
    def __init__(self, message: str, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


def _transaction(smtp, sender: str, to: str, payload: bytes, hand_over) -> None:
    """One SMTP transaction: MAIL, RCPT, DATA, body; the hand-over is recorded (`hand_over()`
    starts it, its result finishes it after the final dot is written); final dot; 250."""
    try:
        code, reply = smtp.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        code, reply = smtp.rcpt(to)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
        _data_until_dot(smtp, payload)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        _rset(smtp)
        detail = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        raise Refused(f"Destinataire refusé : {code} {detail}"[:300], code >= 500) from exc
    except smtplib.SMTPResponseException as exc:
        _rset(smtp)
        raise Refused(f"Message refusé : {_describe(exc)}", exc.smtp_code >= 500) from exc
    finish = hand_over()
    try:
        _final_dot(smtp, finish)
    except smtplib.SMTPResponseException as exc:
        raise Refused(f"Message refusé : {_describe(exc)}", exc.smtp_code >= 500) from exc


def _rset(smtp) -> None:
    with contextlib.suppress(OSError, smtplib.SMTPException):
        smtp.rset()


# --- Claiming and recording -------------------------------------------------------------------


def _backoff(attempts: int) -> datetime.timedelta:
    return datetime.timedelta(seconds=BACKOFF_BASE_S * 2 ** max(0, attempts - 1))


def _sendable_campaigns(profile_id: int, now: datetime.datetime) -> dict[int, Campaign]:
    campaigns = Campaign.objects.filter(
        sending_profile_id=profile_id, status__in=ACTIVE, planned_at__isnull=False
    )
    return {c.pk: c for c in campaigns if in_window(c, now)}


def _due(campaign_ids, now: datetime.datetime):
    return CampaignRecipient.objects.filter(
        campaign_id__in=list(campaign_ids),
        send_status=SendStatus.PENDING,
        claimed_at__isnull=True,
        next_attempt_at__lte=now,
    )


def claim(profile_id: int, campaign_ids, limit: int, worker: str) -> list[int]:
    """Take up to `limit` due rows for `worker`: two workers never hold the same row."""
    now = timezone.now()
    with transaction.atomic():
        due = _due(campaign_ids, now).order_by("next_attempt_at", "pk")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        ids = list(due.values_list("pk", flat=True)[:limit])
        if ids:
            CampaignRecipient.objects.filter(pk__in=ids, claimed_at__isnull=True).update(
                claimed_at=now, claimed_by=worker
            )
    return ids


def _release(ids, worker: str) -> None:
    if ids:
        CampaignRecipient.objects.filter(
            pk__in=list(ids), claimed_by=worker, send_status=SendStatus.PENDING
        ).update(claimed_at=None, claimed_by="", handed_over_at=None)


def _mine(pk: int, worker: str):
    return CampaignRecipient.objects.filter(
        pk=pk, claimed_by=worker, send_status=SendStatus.PENDING
    )


# The two writes of every message, in plain SQL (the ORM's query building costs more CPU than
# the rest of the message): a row's hand-over, and the acceptance of the rows before it.
_TABLE = CampaignRecipient._meta.db_table
_SQL_HANDOVER = (
    f"UPDATE {_TABLE} SET handed_over_at = %s "  # noqa: S608 (the model's table; values bound)
    "WHERE id = %s AND claimed_by = %s AND send_status = 'pending'"
)
_SQL_SENT = (
    f"UPDATE {_TABLE} SET send_status = 'sent', sent_at = %s, attempts = attempts + 1, "  # noqa: S608
    "last_error = '', claimed_at = NULL, claimed_by = '', handed_over_at = NULL, "
    "next_attempt_at = NULL{erase} "
    "WHERE id IN ({ids}) AND claimed_by = %s AND send_status = 'pending'"
)


def _record_sent(rows, campaigns: dict[int, Campaign], worker: str, cursor=None) -> int:
    """Mark rows sent (their server said 250); anonymous campaigns lose the address and the
    names at once (the encrypted fields store an empty value as is)."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    anonymous = [r.pk for r in rows if campaigns[r.campaign_id].privacy_mode == "anonymous"]
    named = [r.pk for r in rows if campaigns[r.campaign_id].privacy_mode != "anonymous"]
    done = 0
    with contextlib.ExitStack() as stack:
        if cursor is None:
            cursor = stack.enter_context(connection.cursor())
        for ids, erase in (
            (anonymous, ", email = '', first_name = '', last_name = ''"),
            (named, ""),
        ):
            if ids:
                sql = _SQL_SENT.format(erase=erase, ids=", ".join(["%s"] * len(ids)))
                cursor.execute(sql, [now, *ids, worker])
                done += cursor.rowcount
    return done


def _start_hand_over(pk: int, worker: str):
    """Record that the final dot of row `pk` is about to be written; returns what to call once
    it is written. PostgreSQL: the UPDATE is sent without waiting for its answer (libpq), so the
    dot follows it within microseconds and the answer is read afterwards — the worker cannot be
    stopped between a committed hand-over and the dot while it waits for the database (a
    SIGKILL there would lose the message). Elsewhere (SQLite: a local write), committed first."""
    now = timezone.now()
    if connection.vendor == "postgresql" and connection.get_autocommit():
        connection.ensure_connection()
        pgconn = connection.connection.pgconn
        sql = _SQL_HANDOVER.replace("%s", "${}").format(1, 2, 3).encode()
        pgconn.send_query_params(sql, [now.isoformat().encode(), str(pk).encode(), worker.encode()])
        while pgconn.flush():  # (psycopg keeps libpq non-blocking: push the query out now)
            pass

        def finish():
            from psycopg import pq

            failure = None
            while (res := pgconn.get_result()) is not None:
                if res.status != pq.ExecStatus.COMMAND_OK:
                    failure = (res.error_message or b"").decode(errors="replace")
            if failure:
                raise DatabaseError(failure)

        return finish
    with connection.cursor() as cursor:
        cursor.execute(_SQL_HANDOVER, [connection.ops.adapt_datetimefield_value(now), pk, worker])
    return lambda: None


def _record_failure(row, campaign: Campaign, worker: str, error: str, permanent: bool) -> None:
    attempts = row.attempts + 1
    now = timezone.now()
    if permanent or attempts >= MAX_ATTEMPTS:
        changes = {"send_status": SendStatus.FAILED, "next_attempt_at": None}
    else:
        changes = {"next_attempt_at": next_allowed(campaign, now + _backoff(attempts))}
    _mine(row.pk, worker).update(
        attempts=attempts,
        last_error=error[:500],
        claimed_at=None,
        claimed_by="",
        handed_over_at=None,
        **changes,
    )


def _campaign_error(campaign_ids, error: str) -> None:
    Campaign.objects.filter(pk__in=list(campaign_ids)).update(
        last_error=error[:500], last_error_at=timezone.now()
    )


def release_stale_claims(now: datetime.datetime | None = None) -> dict:
    """Take back the rows of workers that stopped renewing their lease (see the module
    docstring): released to be sent again, or failed when the final dot had been written."""
    now = now or timezone.now()
    stale = CampaignRecipient.objects.filter(
        send_status=SendStatus.PENDING,
        claimed_at__lt=now - datetime.timedelta(seconds=claim_lease()),
    )
    with transaction.atomic():
        unknown = stale.filter(handed_over_at__isnull=False).update(
            send_status=SendStatus.FAILED,
            attempts=F("attempts") + 1,
            last_error=HANDED_OVER_ERROR,
            next_attempt_at=None,
            claimed_at=None,
            claimed_by="",
            handed_over_at=None,
        )
        released = stale.update(claimed_at=None, claimed_by="")
    if unknown or released:
        log.warning("phishing: %s stale claims released, %s left unknown", released, unknown)
    return {"released": released, "unknown": unknown}


# --- The sender -------------------------------------------------------------------------------


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    error: str = ""
    campaigns: set[int] = field(default_factory=set)


def send_due(
    profile_id: int, *, budget_s: float = SENDER_BUDGET_S, worker: str | None = None
) -> SendResult:
    """Send the profile's due messages for up to `budget_s` seconds, at its rate, over one SMTP
    connection. Safe to run in several processes at once."""
    worker = worker or f"{_worker_id()}:{uuid.uuid4().hex[:6]}"
    result = SendResult()
    deadline = time.monotonic() + budget_s
    profile = SendingProfile.objects.filter(pk=profile_id, active=True).first()
    if profile is None:
        return result
    rate = float(profile.rate_per_second)
    smtp = None
    templates: dict = {}
    renew_every = claim_lease() / 3
    try:
        while time.monotonic() < deadline:
            now = timezone.now()
            campaigns = _sendable_campaigns(profile_id, now)
            if not campaigns or not _due(campaigns.keys(), now).exists():
                break
            granted, wait = take_tokens(profile_id, rate, BATCH)
            if not granted:
                time.sleep(min(wait, max(0.0, deadline - time.monotonic()), 5.0) or 0.01)
                continue
            ids = claim(profile_id, campaigns.keys(), granted, worker)
            if not ids:
                break
            result.campaigns.update(
                CampaignRecipient.objects.filter(pk__in=ids)
                .values_list("campaign_id", flat=True)
                .distinct()
            )
            _start_sending(result.campaigns)
            if smtp is None:
                try:
                    smtp = connect(profile)
                except ServerError as exc:
                    result.error = str(exc)
                    rows = CampaignRecipient.objects.filter(pk__in=ids)
                    for row in rows:
                        _record_failure(row, campaigns[row.campaign_id], worker, str(exc), False)
                        result.retried += 1
                    _campaign_error(campaigns.keys(), str(exc))
                    break
            smtp = _send_rows(smtp, profile, ids, campaigns, templates, worker, result,
                              renew_every)  # fmt: skip
            if smtp is None and result.error:
                break
    finally:
        if smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()
        finish_campaigns(result.campaigns)
    return result


def _start_sending(campaign_ids) -> None:
    for campaign in Campaign.objects.filter(
        pk__in=list(campaign_ids), status=CampaignStatus.SCHEDULED
    ):
        with transaction.atomic():
            locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
            if locked.status == CampaignStatus.SCHEDULED:
                locked.status = CampaignStatus.SENDING
                locked.save(update_fields=["status", "updated_at"])


def _send_rows(smtp, profile, ids, campaigns, templates, worker, result, renew_every):
    """Send the claimed rows; returns the connection (None when it was lost)."""
    rows = list(
        CampaignRecipient.objects.filter(pk__in=ids, claimed_by=worker).order_by(
            "next_attempt_at", "pk"
        )
    )
    accepted: list[CampaignRecipient] = []  # accepted by the server, not yet recorded

    def flush(cursor=None):
        if accepted:
            result.sent += _record_sent(accepted, campaigns, worker, cursor)
            accepted.clear()

    try:
        return _send_each(smtp, profile, rows, campaigns, templates, worker, result,
                          renew_every, accepted, flush)  # fmt: skip
    finally:
        flush()


def _send_each(smtp, profile, rows, campaigns, templates, worker, result, renew_every, accepted,
               flush):  # fmt: skip
    from .models import EmailTemplate

    last_check = last_renew = time.monotonic()
    for index, row in enumerate(rows):
        campaign = campaigns[row.campaign_id]
        if time.monotonic() - last_check > PAUSE_CHECK_S:
            last_check = time.monotonic()
            still = set(
                Campaign.objects.filter(pk__in=list(campaigns), status__in=ACTIVE).values_list(
                    "pk", flat=True
                )
            )
            if row.campaign_id not in still:  # paused or cancelled meanwhile
                flush()
                _release([r.pk for r in rows[index:]], worker)
                return smtp
        if time.monotonic() - last_renew > renew_every:
            last_renew = time.monotonic()
            CampaignRecipient.objects.filter(
                pk__in=[r.pk for r in rows[index:]], claimed_by=worker
            ).update(claimed_at=timezone.now())
        if row.template_id not in templates:
            templates[row.template_id] = EmailTemplate.objects.get(pk=row.template_id)
        if not row.email:
            _record_failure(row, campaign, worker, "Adresse effacée : message non envoyé.", True)
            result.failed += 1
            continue
        payload = build_message(row, templates[row.template_id], profile)

        def handover(pk=row.pk):
            return _start_hand_over(pk, worker)

        try:
            _transaction(smtp, profile.from_address, row.email, payload, handover)
        except Refused as exc:
            flush()
            _record_failure(row, campaign, worker, str(exc), exc.permanent)
            if exc.permanent or row.attempts + 1 >= MAX_ATTEMPTS:
                result.failed += 1
            else:
                result.retried += 1
            continue
        except (OSError, smtplib.SMTPException) as exc:
            flush()
            error = f"Connexion SMTP perdue : {_describe(exc)}"
            # Lost before the answer: was the final dot written (`handed_over_at`)? Then the
            # outcome is unknown: failed, never sent twice; otherwise retried.
            unknown = (
                _mine(row.pk, worker)
                .filter(handed_over_at__isnull=False)
                .update(
                    send_status=SendStatus.FAILED,
                    attempts=F("attempts") + 1,
                    last_error=LOST_AFTER_HANDOVER,
                    next_attempt_at=None,
                    claimed_at=None,
                    claimed_by="",
                    handed_over_at=None,
                )
            )
            if unknown:
                result.failed += 1
            else:
                _record_failure(row, campaign, worker, error, False)
                result.retried += 1
            _release([r.pk for r in rows[index + 1 :]], worker)
            _campaign_error([row.campaign_id], error)
            result.error = error
            with contextlib.suppress(OSError):
                smtp.close()
            return None
        accepted.append(row)
        flush()  # recorded as soon as the server said 250: the unknown window stays tiny
    if result.sent and not result.error:
        Campaign.objects.filter(pk__in=list(result.campaigns)).exclude(last_error="").update(
            last_error="", last_error_at=None
        )
    return smtp


# --- Campaign life ----------------------------------------------------------------------------


def finish_campaigns(campaign_ids=None) -> int:
    """Sending campaigns with nothing left to send are done."""
    candidates = Campaign.objects.filter(status__in=ACTIVE, planned_at__isnull=False)
    if campaign_ids is not None:
        candidates = candidates.filter(pk__in=list(campaign_ids))
    done = 0
    for campaign in candidates.annotate(
        left=Count("recipients", filter=Q(recipients__send_status=SendStatus.PENDING))
    ).filter(left=0):
        with transaction.atomic():
            locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
            if (
                locked.status in ACTIVE
                and not locked.recipients.filter(send_status=SendStatus.PENDING).exists()
            ):
                locked.status, locked.closed_at = CampaignStatus.DONE, timezone.now()
                locked.save(update_fields=["status", "closed_at", "updated_at"])
                done += 1
    return done


def purge_identities(now: datetime.datetime | None = None) -> int:
    """Erase the identities of closed campaigns: anonymous ones at once (an address not used
    for a message that failed), pseudonymous ones `retention_days` after the close."""
    now = now or timezone.now()
    closed = Campaign.objects.filter(
        status__in=(CampaignStatus.DONE, CampaignStatus.CANCELLED),
        closed_at__isnull=False,
        identities_erased_at__isnull=True,
    )
    erased = 0
    for campaign in closed:
        if campaign.privacy_mode == PrivacyMode.PSEUDONYMOUS and campaign.closed_at > (
            now - datetime.timedelta(days=campaign.retention_days)
        ):
            continue
        with transaction.atomic():
            campaign.recipients.update(email="", first_name="", last_name="")
            Campaign.objects.filter(pk=campaign.pk).update(identities_erased_at=now)
        erased += 1
    return erased


def profiles_with_due(now: datetime.datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return sorted(
        set(
            CampaignRecipient.objects.filter(
                campaign__status__in=ACTIVE,
                campaign__planned_at__isnull=False,
                campaign__sending_profile__active=True,
                send_status=SendStatus.PENDING,
                claimed_at__isnull=True,
                next_attempt_at__lte=now,
            )
            .values_list("campaign__sending_profile_id", flat=True)
            .distinct()
        )
    )


def sweep(now: datetime.datetime | None = None) -> dict:
    """The periodic pass: take back dead workers' claims, plan newly scheduled campaigns,
    close finished ones, erase expired identities; returns the profiles with due messages
    (the caller sends them: queued tasks, or inline without a broker)."""
    now = now or timezone.now()
    stale = release_stale_claims(now)
    planned = 0
    for campaign_id in Campaign.objects.filter(
        status__in=ACTIVE, planned_at__isnull=True
    ).values_list("pk", flat=True):
        planned += plan_campaign(campaign_id, now)
    finished = finish_campaigns()
    erased = purge_identities(now)
    return {
        **stale,
        "planned": planned,
        "finished": finished,
        "erased": erased,
        "profiles": profiles_with_due(now),
    }


def run_once(*, budget_s: float = SENDER_BUDGET_S) -> dict:
    """One pass without a broker (`manage.py send_phishing`): sweep, then send inline."""
    report = sweep()
    sent = failed = retried = 0
    errors = []
    for profile_id in report["profiles"]:
        result = send_due(profile_id, budget_s=budget_s)
        sent, failed, retried = sent + result.sent, failed + result.failed, retried + result.retried
        if result.error:
            errors.append(result.error)
    finish_campaigns()
    return {**report, "sent": sent, "failed": failed, "retried": retried, "errors": errors}


# --- Services: pause, resume, send now --------------------------------------------------------


def can_control(user, campaign: Campaign) -> bool:
    """Pause, resume and « send now »: who may edit the campaign (its operator)."""
    return perms.can_edit_campaign(user, campaign)


def _forbid(user, campaign) -> None:
    if not can_control(user, campaign):
        raise DomainError("Vous ne menez pas cette campagne.", code="forbidden")


def campaign_pause(*, actor, campaign: Campaign) -> Campaign:
    _forbid(actor, campaign)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in ACTIVE:
            raise DomainError("Seule une campagne programmée ou en cours d'envoi se met en pause.")
        locked.status = CampaignStatus.PAUSED
        locked.save(update_fields=["status", "updated_at"])
    return locked


def campaign_resume(*, actor, campaign: Campaign) -> Campaign:
    _forbid(actor, campaign)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != CampaignStatus.PAUSED:
            raise DomainError("Cette campagne n'est pas en pause.")
        started = locked.recipients.exclude(send_status=SendStatus.PENDING).exists()
        locked.status = CampaignStatus.SENDING if started else CampaignStatus.SCHEDULED
        locked.save(update_fields=["status", "updated_at"])
    return locked


def campaign_send_now(*, actor, campaign: Campaign) -> Campaign:
    """Send what is left as soon as possible, at the profile's rate: spreading and the daily
    window are set aside (an explicit, audited choice of the operator)."""
    _forbid(actor, campaign)
    now = timezone.now()
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in ACTIVE:
            raise DomainError("Seule une campagne programmée ou en cours d'envoi s'envoie.")
        locked.send_now_at = now
        locked.save(update_fields=["send_now_at", "updated_at"])
        locked.recipients.filter(send_status=SendStatus.PENDING, claimed_at__isnull=True).filter(
            Q(next_attempt_at__gt=now) | Q(next_attempt_at__isnull=True)
        ).update(next_attempt_at=now)
        if locked.planned_at is None:
            Campaign.objects.filter(pk=locked.pk).update(planned_at=now)
            locked.planned_at = now
    return locked


# --- The campaign page ------------------------------------------------------------------------


@dataclass
class Progress:
    planned: int
    pending: int
    sent: int
    failed: int
    next_send_at: datetime.datetime | None
    last_error: str
    last_error_at: datetime.datetime | None
    percent: int
    can_pause: bool
    can_resume: bool
    can_send_now: bool
    live: bool  # the panel refreshes itself (HTMX) while messages are going out


def sending_panel(user, campaign: Campaign) -> dict:
    """Everything `phishing/includes/sending_panel.html` shows, in one call:
    `{"sending": Progress, "campaign": campaign}`."""
    counts = dict(campaign.recipients.values_list("send_status").annotate(n=Count("pk")).order_by())
    pending = counts.get(SendStatus.PENDING, 0)
    sent = counts.get(SendStatus.SENT, 0)
    failed = counts.get(SendStatus.FAILED, 0)
    planned = pending + sent + failed
    next_send = None
    if campaign.status in ACTIVE:
        next_send = campaign.recipients.filter(send_status=SendStatus.PENDING).aggregate(
            at=Min("next_attempt_at")
        )["at"]
        if next_send is not None and campaign.send_now_at is None:
            next_send = next_allowed(campaign, next_send)
    control = can_control(user, campaign)
    return {
        "campaign": campaign,
        "sending": Progress(
            planned=planned,
            pending=pending,
            sent=sent,
            failed=failed,
            next_send_at=next_send,
            last_error=campaign.last_error,
            last_error_at=campaign.last_error_at,
            percent=round(100 * (sent + failed) / planned) if planned else 0,
            can_pause=control and campaign.status in ACTIVE,
            can_resume=control and campaign.status == CampaignStatus.PAUSED,
            can_send_now=control and campaign.status in ACTIVE and campaign.send_now_at is None,
            live=campaign.status in ACTIVE,
        ),
    }
