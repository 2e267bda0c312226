"""The reported-messages mailbox: staff forward a suspicious message to their establishment's
« signaler un hameçonnage » address; Rempart polls that mailbox over IMAP and records a
`reported` event for each simulated-phishing message it recognises, so the report rate is real.

How a poll goes (`poll`, queued for every active mailbox by Celery beat each minute):

* one poller per mailbox at a time (`poll_lease_until`, claimed by a conditional UPDATE);
* connect (IMAPS, STARTTLS or plain, per `tls_mode`) to an address checked to be public —
  loopback only with PHISHING_INTEGRATIONS_ALLOW_LOOPBACK, see webhooks.resolve_public —, LOGIN,
  SELECT the folder, `UID SEARCH UNSEEN`, and for at most `MAX_PER_POLL` messages
  `UID FETCH <uid> (BODY.PEEK[])` (peek: the message stays unseen until it is handled);
* find the campaign tokens: the `X-Rempart-Campaign-Token` header of the message and of every
  attached message (message/rfc822, « transférer en tant que pièce jointe »), and the tracking
  URLs (`/p/o/<token>.gif`, `/p/c/<token>/`, `/p/s/<token>/`) in every text part, decoded
  (quoted-printable, base64, charset) and URL-decoded (links rewritten by a mail filter);
* keep only tokens of campaigns aimed at, or run by, the mailbox's organisation, and record one
  `reported` event per token through `tracking.record_event(source="imap")`, in the same
  transaction as the `ReportedMessage` row (the SHA-256 of the Message-ID, unique per mailbox):
  a message is never counted twice, even by two pollers or after a crash;
* then `UID STORE <uid> +FLAGS (\\Seen)` — every handled message is marked seen, with or without
  a token (messages without a valid token are otherwise ignored).

Nothing of a message is stored: no body, no subject, no sender; only the hash of its
Message-ID and the outcome. Connection errors (bad credentials, unreachable server, TLS) are
written on the mailbox (`last_error`, shown on its page) in French.
"""

from __future__ import annotations

import contextlib
import datetime
import email
import email.policy
import hashlib
import imaplib
import logging
import re
import socket
import ssl
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import unquote

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.organisations.models import Organisation

from . import perms, selectors, tracking
from .models import (
    CampaignRecipient,
    EventKind,
    ImapTlsMode,
    ReportedMessage,
    ReportedOutcome,
    ReportMailbox,
)
from .webhooks import resolve_public

log = logging.getLogger(__name__)

TIMEOUT_S = 20
MAX_PER_POLL = 200
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_TOKENS_PER_MESSAGE = 10
MAX_CANDIDATES = 50
LEASE = datetime.timedelta(minutes=5)
TOKEN_HEADER = "X-Rempart-Campaign-Token"  # noqa: S105 - a header name

TOKEN = r"[A-Za-z0-9_-]{22,64}"  # noqa: S105 - a pattern
HEADER_TOKEN = re.compile(rf"^{TOKEN}$")
# /p/o/<token>.gif, /p/c/<token>/…, /p/s/<token>/ (tracking_urls, mounted at /p/)
URL_TOKEN = re.compile(rf"/p/[a-z]{{1,12}}/({TOKEN})(?![A-Za-z0-9_-])")
# A forwarded message's headers quoted in the body (« afficher l'original »).
TEXT_HEADER_TOKEN = re.compile(rf"{TOKEN_HEADER}:\s*({TOKEN})(?![A-Za-z0-9_-])", re.I)

FORBIDDEN = "Vous ne gérez pas l'hameçonnage simulé de cette structure."


# --- Reads ------------------------------------------------------------------------------------


def manageable_organisations(user) -> QuerySet[Organisation]:
    """Organisations whose reporting mailbox the user configures: their establishments, and
    their CRRC (for the campaigns it runs under a mandate)."""
    return Organisation.objects.filter(pk__in=perms.operator_org_ids(user)).order_by("name")


def mailboxes_visible_to(user) -> QuerySet[ReportMailbox]:
    return ReportMailbox.objects.filter(
        organisation_id__in=perms.operator_org_ids(user)
    ).select_related("organisation")


def get_mailbox(user, pk) -> ReportMailbox:
    return selectors.get_visible(
        ReportMailbox, mailboxes_visible_to(user), pk, "Boîte de signalement introuvable."
    )


def outcome_counts(mailbox: ReportMailbox) -> dict[str, int]:
    counts = dict.fromkeys(ReportedOutcome.values, 0)
    rows = mailbox.handled_messages.order_by().values("outcome").annotate(n=Count("pk"))
    for row in rows:
        counts[row["outcome"]] = row["n"]
    return counts


# --- Writes ---------------------------------------------------------------------------------------

FIELDS = ("address", "host", "port", "tls_mode", "username", "folder", "active")


def _forbid(user, organisation: Organisation) -> None:
    if not perms.can_manage_resources_of(user, organisation):
        raise DomainError(FORBIDDEN, code="forbidden")


def _clean(name: str, data: dict) -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError("Donnez un nom.", field="name")
    port = data.get("port")
    if port is not None and not 1 <= port <= 65535:
        raise DomainError("Le port doit être compris entre 1 et 65535.", field="port")
    if "tls_mode" in data and data["tls_mode"] not in ImapTlsMode.values:
        raise DomainError("Chiffrement inconnu.", field="tls_mode")
    if "folder" in data:
        data["folder"] = (data["folder"] or "").strip() or "INBOX"
        if any(c in data["folder"] for c in '"\\\r\n'):
            raise DomainError("Nom de dossier invalide.", field="folder")
    if "host" in data:
        data["host"] = (data["host"] or "").strip()
        if not data["host"]:
            raise DomainError("Indiquez le serveur IMAP.", field="host")
    return name


def _unique_name(organisation_id: int, name: str, exclude_pk: int | None = None) -> None:
    clash = ReportMailbox.objects.filter(organisation_id=organisation_id, name__iexact=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise DomainError(
            f"« {name} » existe déjà dans cette structure : choisissez un autre nom.",
            field="name",
        )


def mailbox_create(
    *, actor, organisation: Organisation, name: str, password: str = "", **data
) -> ReportMailbox:
    _forbid(actor, organisation)
    name = _clean(name, data)
    with transaction.atomic():
        _unique_name(organisation.pk, name)
        mailbox = ReportMailbox(organisation=organisation, name=name, password=password or "")
        for key in FIELDS:
            if key in data:
                setattr(mailbox, key, data[key])
        mailbox.save()
    return mailbox


def mailbox_update(
    *, actor, mailbox: ReportMailbox, name: str, password: str = "", **data
) -> ReportMailbox:
    """An empty password keeps the stored one (never shown back); its change is audited
    without its value."""
    _forbid(actor, mailbox.organisation)
    name = _clean(name, data)
    with transaction.atomic():
        locked = ReportMailbox.objects.select_for_update().get(pk=mailbox.pk)
        _unique_name(locked.organisation_id, name, locked.pk)
        locked.name = name
        for key in FIELDS:
            if key in data:
                setattr(locked, key, data[key])
        if password:
            locked.password = password
        locked.save()
        if password:
            AuditEntry.objects.log_create(
                locked,
                force_log=True,
                action=AuditEntry.Action.UPDATE,
                changes={"password": ["••••", "•••• (nouveau mot de passe)"]},
                actor=actor,
                actor_email=actor.email,
            )
    return locked


def mailbox_delete(*, actor, mailbox: ReportMailbox) -> None:
    """The reported events stay (they belong to the campaigns); the handled-message hashes go."""
    _forbid(actor, mailbox.organisation)
    with transaction.atomic():
        ReportMailbox.objects.filter(pk=mailbox.pk).delete()


# --- IMAP -------------------------------------------------------------------------------------


class MailboxError(Exception):
    """A connection problem, in French, safe to show (never the password)."""


def ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _PinnedIMAP4(imaplib.IMAP4):
    """IMAP4 connecting to an address checked beforehand (no second DNS answer)."""

    def __init__(self, host, port, address, timeout):
        self._address = address
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self._address, self.port), timeout)


class _PinnedIMAP4_SSL(imaplib.IMAP4_SSL):
    def __init__(self, host, port, address, timeout, context):
        self._address = address
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self._address, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def _describe(exc: Exception, mailbox: ReportMailbox) -> str:
    where = f"{mailbox.host}:{mailbox.port}"
    if isinstance(exc, MailboxError):
        return str(exc)
    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"Échec de la négociation TLS avec {where} : {getattr(exc, 'reason', '') or exc}."
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"Le serveur IMAP {where} ne répond pas (délai de {TIMEOUT_S} s dépassé)."
    if isinstance(exc, ConnectionRefusedError):
        return f"Le serveur IMAP {where} refuse la connexion (port fermé ?)."
    if isinstance(exc, imaplib.IMAP4.error):
        return f"Le serveur IMAP {where} a refusé une commande : {_short(exc)}"
    if isinstance(exc, OSError):
        return f"Le serveur IMAP {where} est injoignable : {exc.strerror or exc}."
    return f"Erreur inattendue avec le serveur IMAP {where} : {type(exc).__name__}."


def _short(exc: Exception) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text[:300]


def connect(mailbox: ReportMailbox) -> imaplib.IMAP4:
    """Logged in, the folder selected (read-write). Raises MailboxError / OSError / ssl errors."""
    address = resolve_public(mailbox.host, mailbox.port, what="Le serveur IMAP")[0]
    if mailbox.tls_mode == ImapTlsMode.TLS:
        client = _PinnedIMAP4_SSL(mailbox.host, mailbox.port, address, TIMEOUT_S, ssl_context())
    else:
        client = _PinnedIMAP4(mailbox.host, mailbox.port, address, TIMEOUT_S)
        if mailbox.tls_mode == ImapTlsMode.STARTTLS:
            if "STARTTLS" not in client.capabilities:
                client.shutdown()
                raise MailboxError(
                    f"Le serveur IMAP {mailbox.host} ne propose pas STARTTLS : choisissez "
                    "« TLS implicite » (port 993)."
                )
            client.starttls(ssl_context())
    try:
        client.login(mailbox.username, mailbox.password or "")
    except imaplib.IMAP4.error as exc:
        client.shutdown()
        raise MailboxError(
            "Identifiant ou mot de passe refusé par le serveur IMAP : vérifiez-les."
        ) from exc
    status, _data = client.select(_quote(mailbox.folder))
    if status != "OK":
        client.logout()
        raise MailboxError(f"Le dossier « {mailbox.folder} » est introuvable sur le serveur.")
    return client


def _quote(folder: str) -> str:
    return f'"{folder}"'


@dataclass
class TestResult:
    ok: bool
    message: str


def mailbox_test(*, actor, mailbox: ReportMailbox) -> TestResult:
    """Connect, log in, open the folder, count the unseen messages; the outcome is written on
    the mailbox (`last_error` cleared or set)."""
    _forbid(actor, mailbox.organisation)
    try:
        client = connect(mailbox)
        try:
            status, data = client.uid("SEARCH", None, "UNSEEN")
            unseen = len(data[0].split()) if status == "OK" and data and data[0] else 0
        finally:
            _logout(client)
    except Exception as exc:
        message = _describe(exc, mailbox)
        ReportMailbox.objects.filter(pk=mailbox.pk).update(last_error=message)
        return TestResult(False, message)
    ReportMailbox.objects.filter(pk=mailbox.pk).update(last_error="")
    return TestResult(
        True,
        f"Connexion réussie : {unseen} message(s) non lu(s) dans « {mailbox.folder} ».",
    )


def _logout(client: imaplib.IMAP4) -> None:
    with contextlib.suppress(imaplib.IMAP4.error, OSError):
        client.logout()


# --- Finding the tokens -------------------------------------------------------------------------


def _texts(message: Message):
    """Decoded text of every text part, attached messages included (walk() enters them)."""
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if not payload:
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            yield payload.decode(charset, errors="replace")
        except LookupError:
            yield payload.decode("utf-8", errors="replace")


def candidate_tokens(raw: bytes) -> list[str]:
    """Every string that may be a campaign token in the message, headers first, in order."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    found: list[str] = []

    def add(token: str) -> None:
        if token not in found and len(found) < MAX_CANDIDATES:
            found.append(token)

    for part in message.walk():
        for value in part.get_all(TOKEN_HEADER) or []:
            value = str(value).strip()
            if HEADER_TOKEN.match(value):
                add(value)
    for text in _texts(message):
        for variant in (text, unquote(unquote(text))):
            variant = variant.replace("&amp;", "&")
            for match in TEXT_HEADER_TOKEN.finditer(variant):
                add(match.group(1))
            for match in URL_TOKEN.finditer(variant):
                add(match.group(1))
    return found


def message_key(raw: bytes) -> str:
    """SHA-256 of the Message-ID (or of the whole message when it has none)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    message_id = (message.get("Message-ID") or "").strip()
    source = message_id.lower().encode() if message_id else raw
    return hashlib.sha256(source).hexdigest()


def _valid_tokens(mailbox: ReportMailbox, candidates: list[str]) -> list[str]:
    """The candidates that are tokens of a campaign aimed at or run by the mailbox's owner."""
    if not candidates:
        return []
    org = mailbox.organisation_id
    known = set(
        CampaignRecipient.objects.filter(token__in=candidates)
        .filter(Q(campaign__organisation_id=org) | Q(campaign__operator_id=org))
        .values_list("token", flat=True)
    )
    return [t for t in candidates if t in known][:MAX_TOKENS_PER_MESSAGE]


def handle_message(mailbox: ReportMailbox, raw: bytes) -> tuple[str, int]:
    """Record the reports of one fetched message, once. ("duplicate" | outcome, events)."""
    key = message_key(raw)
    if ReportedMessage.objects.filter(mailbox=mailbox, message_key=key).exists():
        return "duplicate", 0
    tokens = _valid_tokens(mailbox, candidate_tokens(raw)) if len(raw) <= MAX_MESSAGE_BYTES else []
    try:
        with transaction.atomic():
            recorded = 0
            for token in tokens:
                event = tracking.record_event(token=token, kind=EventKind.REPORTED, source="imap")
                recorded += event is not None
            ReportedMessage.objects.create(
                mailbox=mailbox,
                message_key=key,
                outcome=ReportedOutcome.RECORDED if recorded else ReportedOutcome.NO_TOKEN,
                reports=recorded,
            )
    except IntegrityError:
        return "duplicate", 0  # another poller handled it first; its transaction won
    return (ReportedOutcome.RECORDED if recorded else ReportedOutcome.NO_TOKEN), recorded


# --- Polling ------------------------------------------------------------------------------------


@dataclass
class PollResult:
    fetched: int = 0
    reports: int = 0
    no_token: int = 0
    duplicates: int = 0
    error: str = ""
    skipped: bool = False
    outcomes: list[str] = field(default_factory=list)


def _claim(mailbox_id: int, now: datetime.datetime) -> bool:
    return bool(
        ReportMailbox.objects.filter(pk=mailbox_id, active=True)
        .filter(Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now))
        .update(poll_lease_until=now + LEASE)
    )


def _fetch(client: imaplib.IMAP4, uid: bytes) -> bytes | None:
    status, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        return None
    for item in data or []:
        if isinstance(item, tuple) and len(item) == 2:
            return item[1]
    return None


def poll(mailbox_id: int, *, now: datetime.datetime | None = None) -> PollResult:
    """Handle the unseen messages of one mailbox (see the module's docstring)."""
    now = now or timezone.now()
    result = PollResult()
    if not _claim(mailbox_id, now):
        result.skipped = True
        return result
    mailbox = ReportMailbox.objects.get(pk=mailbox_id)
    try:
        client = connect(mailbox)
        try:
            status, data = client.uid("SEARCH", None, "UNSEEN")
            uids = data[0].split() if status == "OK" and data and data[0] else []
            for uid in uids[:MAX_PER_POLL]:
                raw = _fetch(client, uid)
                if raw is None:
                    continue
                result.fetched += 1
                outcome, recorded = handle_message(mailbox, raw)
                result.outcomes.append(outcome)
                result.reports += recorded
                result.no_token += outcome == ReportedOutcome.NO_TOKEN
                result.duplicates += outcome == "duplicate"
                client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        finally:
            _logout(client)
    except Exception as exc:
        result.error = _describe(exc, mailbox)
        log.warning("phishing mailbox %s: %s", mailbox.pk, result.error)
    done = timezone.now()
    updates = {"last_polled_at": done, "poll_lease_until": None, "last_error": result.error}
    if not result.error:
        updates["last_success_at"] = done
    ReportMailbox.objects.filter(pk=mailbox.pk).update(**updates)
    if result.reports:
        from django.db.models import F

        ReportMailbox.objects.filter(pk=mailbox.pk).update(
            reports_recorded=F("reports_recorded") + result.reports
        )
    return result


def poll_now(*, actor, mailbox: ReportMailbox) -> PollResult:
    """« Relever maintenant » from the page: the same poll as the periodic job."""
    _forbid(actor, mailbox.organisation)
    if not mailbox.active:
        raise DomainError("Cette boîte est désactivée : réactivez-la pour la relever.")
    return poll(mailbox.pk)


def due_mailboxes() -> list[int]:
    return list(ReportMailbox.objects.filter(active=True).values_list("pk", flat=True))
