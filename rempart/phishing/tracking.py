"""Tracking of simulated-phishing campaigns: storing events and flagging mail scanners.

`record_event` is the ONE function that stores a `TrackingEvent`: the public endpoints
(tracking_views.py: pixel, link, form submission, "report this message"), the reporting
mailbox poller (source "imap") and the webhooks call it. An unknown, forged or malformed token
is ignored (None), never an exception: the caller answers the same neutral thing whatever the
token.

Privacy: a submission keeps only the NAMES of the fields that were filled (and only names the
landing page really shows); no value typed on a landing page is ever passed to this module. The
user-agent is kept only as a SHA-256 hash; the IP address is never read.

Bot filtering (mail security scanners open and follow every link of a message as it arrives):
an event is stored with `suspected_bot=True` and `bot_reason`, a comma-separated list of codes:
- `too_fast`: less than PHISHING_BOT_MIN_DELAY_SECONDS (setting, default 10 s) after the
  message was delivered (`CampaignRecipient.sent_at`);
- `scanner_agent`: the user-agent names a known scanner, link checker or HTTP library
  (SCANNER_AGENT_MARKERS below, matched case-insensitively as substrings), or is empty;
- `no_js`: a click whose landing page never ran its confirmation script. Every click is stored
  with this code; the page's nonce'd script posts a beacon on the person's first interaction
  (`confirm_click`) which removes it (and clears `suspected_bot` when no other reason is left).
  A submission also confirms its clicks (a person typed in the form). A browser without
  JavaScript is therefore counted as a bot, knowingly: it is rare and errs on the safe side.
Opens (the pixel) can be flagged `too_fast` or `scanner_agent`, never `no_js`; submissions
likewise; reports are never flagged (a scanner does not report).

Counting (results.py): an event is "raw" whatever its flag; the "filtered" figures only count
events with `suspected_bot=False`.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import threading
import time
from collections.abc import Iterable
from html import escape
from html.parser import HTMLParser

from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from .models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    EventKind,
    LandingPage,
    TrackingEvent,
)

# secrets.token_urlsafe(24): 32 characters of the URL-safe base64 alphabet. Older or future
# tokens may be longer (models.new_token): from 22 characters (128 bits) to the column's 64.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{22,64}")

# Campaigns whose links are alive: a draft has sent nothing, a cancelled campaign is over.
LIVE_STATUSES = (
    CampaignStatus.SCHEDULED,
    CampaignStatus.SENDING,
    CampaignStatus.PAUSED,
    CampaignStatus.DONE,
)

REASON_TOO_FAST = "too_fast"
REASON_SCANNER = "scanner_agent"
REASON_NO_JS = "no_js"

# Known mail security scanners, link checkers, previewers and HTTP libraries (lower case,
# matched as substrings of the user-agent). Sources: the vendors' documentation and the
# user-agents seen in GoPhish / King Phisher issue trackers. Extend with care: a marker that
# appears in a real browser's user-agent would hide real clicks.
SCANNER_AGENT_MARKERS = (
    # Mail security gateways and link rewriting / sandboxing services
    "barracuda",
    "proofpoint",
    "urldefense",
    "mimecast",
    "messagelabs",
    "symantec",
    "trendmicro",
    "trend micro",
    "fortiguard",
    "fortimail",
    "ironport",
    "cisco",
    "sophos",
    "zscaler",
    "paloalto",
    "forcepoint",
    "bitdefender",
    "kaspersky",
    "mcafee",
    "safelinks",
    "vade",
    "altospam",
    "mailinblack",
    "urlscan",
    "virustotal",
    # Headless browsers and automation
    "headlesschrome",
    "phantomjs",
    "slimerjs",
    "selenium",
    "puppeteer",
    "playwright",
    # HTTP libraries and command-line tools
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "okhttp",
    "java/",
    "apache-httpclient",
    "libwww-perl",
    "curl/",
    "wget/",
    "powershell",
    # Crawlers and link previewers (a link pasted in a chat is not a click)
    "googlebot",
    "bingbot",
    "bingpreview",
    "yandexbot",
    "slackbot",
    "discordbot",
    "telegrambot",
    "twitterbot",
    "linkedinbot",
    "facebookexternalhit",
    "skypeuripreview",
    "whatsapp",
    "crawler",
    "spider",
)


def is_token(token: object) -> bool:
    """The shape of a tracking token, checked before any query."""
    return isinstance(token, str) and TOKEN_SHAPE.fullmatch(token) is not None


def user_agent_hash(user_agent: str) -> str:
    """SHA-256 of the user-agent (empty for none): lets results tell devices apart, no more."""
    if not user_agent:
        return ""
    return hashlib.sha256(user_agent.encode("utf-8", "replace")).hexdigest()


def is_scanner_agent(user_agent: str) -> bool:
    # Substring tests on the lower-cased agent: about 15 times faster than one regular
    # expression of every marker (Python's re tries each alternative at each position), and
    # this runs on every hit of the pixel and the link.
    agent = (user_agent or "").strip().lower()
    return not agent or any(marker in agent for marker in SCANNER_AGENT_MARKERS)


def min_delay() -> datetime.timedelta:
    return datetime.timedelta(seconds=getattr(settings, "PHISHING_BOT_MIN_DELAY_SECONDS", 10))


def bot_reasons(
    *,
    kind: str,
    user_agent: str,
    sent_at: datetime.datetime | None,
    at: datetime.datetime,
    source: str = "web",
) -> list[str]:
    """Why this event looks like a machine's (empty: a person's)."""
    if kind == EventKind.REPORTED or source != "web":
        return []
    reasons = []
    if sent_at is not None and at - sent_at < min_delay():
        reasons.append(REASON_TOO_FAST)
    if is_scanner_agent(user_agent):
        reasons.append(REASON_SCANNER)
    if kind == EventKind.CLICKED:
        reasons.append(REASON_NO_JS)  # until the landing page's script confirms it
    return reasons


def _live_recipients():
    return CampaignRecipient.objects.filter(
        campaign__status__in=LIVE_STATUSES, campaign__identities_erased_at__isnull=True
    )


def record_event(
    *,
    token: str,
    kind: EventKind | str,
    user_agent: str = "",
    filled_fields: Iterable[str] = (),
    at: datetime.datetime | None = None,
    source: str = "web",
) -> TrackingEvent | None:
    """Store one event of the recipient holding `token`; None (nothing stored) when the token
    is malformed, unknown, or its campaign is cancelled, a draft, or erased.

    The hot path of the pixel and the link: ONE statement (INSERT … SELECT … RETURNING, in
    autocommit: atomic on its own), which finds the live recipient and stores the event
    together; the "too fast" test is made by the database on `sent_at`.
    """
    kind = EventKind(kind)  # a wrong kind is a programming error: ValueError
    if not is_token(token):
        return None
    at = at or timezone.now()
    source = (source or "web")[:20]
    # The reasons that do not depend on the delivery time; `too_fast` is added by the query.
    reasons = bot_reasons(kind=kind, user_agent=user_agent, sent_at=None, at=at, source=source)
    checks_delay = kind != EventKind.REPORTED and source == "web"
    names = _field_names(filled_fields) if kind == EventKind.SUBMITTED else []
    row = _insert_event(
        token=token,
        kind=kind,
        at=at,
        fast_after=(at - min_delay()) if checks_delay else None,
        reasons=reasons,
        agent_hash=user_agent_hash(user_agent),
        names=names,
        source=source,
    )
    if row is None:
        return None
    event_id, campaign_id, recipient_id, suspected_bot, bot_reason = row
    event = TrackingEvent(
        pk=event_id,
        campaign_id=campaign_id,
        recipient_id=recipient_id,
        kind=kind,
        at=at,
        suspected_bot=bool(suspected_bot),
        bot_reason=bot_reason,
        user_agent_hash=user_agent_hash(user_agent),
        filled_fields=names,
        source=source,
    )
    event._state.adding = False
    event._state.db = "default"
    return event


def _insert_event(*, token, kind, at, fast_after, reasons, agent_hash, names, source):
    """INSERT … SELECT from the live recipient of `token` … RETURNING; None when none."""
    import json

    event, recipient, campaign = (
        TrackingEvent._meta.db_table,
        CampaignRecipient._meta.db_table,
        Campaign._meta.db_table,
    )
    quote = connection.ops.quote_name
    fast_reasons = ",".join([REASON_TOO_FAST, *reasons])
    postgresql = connection.vendor == "postgresql"
    fields = "CAST(%s AS jsonb)" if postgresql else "%s"
    # PostgreSQL, in autocommit (the statement is its own transaction): that transaction commits
    # without waiting for the WAL flush (synchronous_commit off for it alone; see
    # docs/decisions/0004-tracking-asynchronous-commit.md). The event is stored and visible at
    # once; only a crash of the database server itself in the next fraction of a second could
    # lose it, never leave it half written. Inside a caller's transaction nothing changes.
    async_commit = (
        " CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS s"
        if postgresql and not connection.in_atomic_block
        else ""
    )
    statuses = ", ".join(["%s"] * len(LIVE_STATUSES))
    # Table names come from the models, every value is a parameter.
    sql = (
        f"INSERT INTO {quote(event)} ({', '.join(INSERT_COLUMNS)}) "  # noqa: S608
        "SELECT r.campaign_id, r.id, %s, %s, "
        "CASE WHEN r.sent_at > %s THEN %s ELSE %s END, "
        "CASE WHEN r.sent_at > %s THEN %s ELSE %s END, "
        f"%s, {fields}, %s "
        f"FROM {quote(recipient)} r INNER JOIN {quote(campaign)} c ON c.id = r.campaign_id"
        f"{async_commit} WHERE r.token = %s AND c.status IN ({statuses}) AND c.identities_erased_at IS NULL "
        "RETURNING id, campaign_id, recipient_id, suspected_bot, bot_reason"
    )
    # No delivery time to compare with (or no delay test): a date nothing is after.
    after = connection.ops.adapt_datetimefield_value(fast_after or _NEVER)
    params = [
        str(kind),
        connection.ops.adapt_datetimefield_value(at),
        after, True, bool(reasons),
        after, fast_reasons, ",".join(reasons),
        agent_hash,
        json.dumps(names),
        source,
        token,
        *[str(status) for status in LIVE_STATUSES],
    ]  # fmt: skip
    if postgresql:
        with _prepared_statement_cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    # SQLite has one writer at a time: the threads of a process queue here rather than in
    # SQLite's busy handler, which sleeps by steps of milliseconds.
    with _sqlite_writer, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _prepared_statement_cursor():
    """connection.cursor() (same checks, same query log and execute wrappers), but binding its
    parameters on the server: PostgreSQL then parses and plans the tracking insert once per
    connection instead of once per hit (config/settings.py sets `prepare_threshold`; decision
    0004's amendment). Django's own cursors bind on the client and are never prepared."""
    import psycopg

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(connection.connection)
    connection.validate_thread_sharing()
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


_sqlite_writer = threading.Lock()


# Every column of TrackingEvent but the id, in the order of the SELECT above (a test checks that
# a new column of the model is not forgotten here).
INSERT_COLUMNS = (
    "campaign_id",
    "recipient_id",
    "kind",
    "at",
    "suspected_bot",
    "bot_reason",
    "user_agent_hash",
    "filled_fields",
    "source",
)
_NEVER = datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC)


FIELD_NAME = re.compile(r"[\w.\-\[\]]{1,64}")
MAX_FIELDS = 50


def _field_names(names: Iterable[str]) -> list[str]:
    """Field NAMES only (sorted, distinct, name-shaped, at most 50)."""
    kept = sorted({name for name in names if isinstance(name, str) and FIELD_NAME.fullmatch(name)})
    return kept[:MAX_FIELDS]


def confirm_click(*, token: str, event_id: object) -> bool:
    """The landing page's script ran in a browser: the click `event_id` of this token's
    recipient loses its `no_js` reason (and its bot flag when no other reason is left)."""
    if not is_token(token):
        return False
    try:
        event_id = int(event_id)
    except (TypeError, ValueError):
        return False
    if not 0 < event_id < 2**63:
        return False
    return _confirm(
        TrackingEvent.objects.filter(pk=event_id, kind=EventKind.CLICKED, recipient__token=token)
    )


def _confirm(events) -> bool:
    """Remove `no_js` from these events' reasons (one UPDATE per distinct reason list)."""
    changed = False
    pending = events.filter(bot_reason__contains=REASON_NO_JS).values_list("bot_reason", flat=True)
    for reason in set(pending):
        rest = [code for code in reason.split(",") if code and code != REASON_NO_JS]
        count = events.filter(bot_reason=reason).update(
            bot_reason=",".join(rest), suspected_bot=bool(rest)
        )
        changed = changed or count > 0
    return changed


def record_submission(
    *, token: str, user_agent: str, filled: Iterable[str], allowed: Iterable[str]
) -> TrackingEvent | None:
    """A form of the landing page was sent: keep the names of the filled fields that the page
    shows (`allowed`), and confirm the recipient's clicks of the last hour (a person typed)."""
    allowed = set(allowed)
    names = [name for name in filled if name in allowed]
    event = record_event(
        token=token, kind=EventKind.SUBMITTED, user_agent=user_agent, filled_fields=names
    )
    if event is not None:
        _confirm(
            TrackingEvent.objects.filter(
                recipient_id=event.recipient_id,
                kind=EventKind.CLICKED,
                at__gte=event.at - datetime.timedelta(hours=1),
            )
        )
    return event


# --- What the public pages show ------------------------------------------------------------------


def landing_for(token: str) -> LandingPage | None:
    """The landing page of a live token's campaign, or None (malformed, unknown or forged token,
    campaign cancelled or erased, no landing page): the public pages show nothing else of it."""
    if not is_token(token):
        return None
    row = list(
        _live_recipients()
        .filter(token=token)
        .select_related("campaign__landing_page")
        .only("pk", "campaign__landing_page")[:1]
    )
    return row[0].campaign.landing_page if row else None


def record_click(*, token: str, user_agent: str) -> tuple[TrackingEvent, LandingPage | None] | None:
    """The link of the message was followed: store the click (flagged `no_js` until the page's
    script confirms it) and return it with the landing page to show; None for a dead token."""
    event = record_event(token=token, kind=EventKind.CLICKED, user_agent=user_agent)
    if event is None:
        return None
    return event, _landing_of_campaign(event.campaign_id)


# A landing page seen by this process in the last few seconds, per campaign: a burst of clicks
# reads it once. (An edit of the page shows within LANDING_CACHE_SECONDS.)
LANDING_CACHE_SECONDS = 10.0
_landings: dict[int, tuple[float, LandingPage | None]] = {}


def _landing_of_campaign(campaign_id: int) -> LandingPage | None:
    now = time.monotonic()
    cached = _landings.get(campaign_id)
    if cached is not None and now - cached[0] < LANDING_CACHE_SECONDS:
        return cached[1]
    landing = LandingPage.objects.filter(campaigns__id=campaign_id).first()
    if len(_landings) > 1000:
        _landings.clear()
    _landings[campaign_id] = (now, landing)
    return landing


def module_link(landing: LandingPage | None) -> tuple[str, str]:
    """(URL, title) of the e-learning module a teaching page recommends: the landing page's
    module when it exists and is published, else the awareness catalogue."""
    from rempart.awareness.models import Module

    code = landing.module_code if landing is not None else ""
    if code:
        module = Module.objects.filter(code=code, is_active=True).only("title").first()
        if module is not None:
            return reverse("awareness:module_detail", args=[code]), module.title
    return reverse("awareness:modules"), ""


# --- Landing-page HTML, made safe ----------------------------------------------------------------

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "button", "caption", "code", "dd", "div", "dl", "dt",
    "em", "fieldset", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i", "img",
    "input", "label", "legend", "li", "main", "ol", "option", "p", "section", "select", "small",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "textarea", "tfoot", "th", "thead",
    "tr", "u", "ul",
}  # fmt: skip
VOID_TAGS = {"br", "hr", "img", "input"}
# Their content goes too (not only the tags).
DROPPED_WITH_CONTENT = {
    "script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math",
    "frame", "frameset", "applet", "head", "title",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "alt", "aria-describedby", "aria-label", "checked", "class", "colspan", "disabled", "for",
    "height", "href", "id", "maxlength", "name", "placeholder", "required", "role", "rowspan",
    "scope", "selected", "size", "src", "title", "type", "value", "width",
}  # fmt: skip
INPUT_TYPES = {"text", "password", "email", "tel", "number", "checkbox", "radio", "hidden",
               "submit", "button", "date", "search", "url"}  # fmt: skip
SAFE_URL = re.compile(
    r"(https?:|mailto:|#|/(?!/)|[\w.-]+(/|$)|data:image/(png|gif|jpeg|webp);)", re.I
)


class _Sanitiser(HTMLParser):
    """Re-emits only allowed tags and attributes, escaping everything else: no script, no
    event handler, no style, no form of its own (the page wraps the content in the one form
    that posts to the submission endpoint), no `javascript:` URL."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping: list[str] = []
        self.open: list[str] = []  # elements opened and not closed yet
        self.in_label = 0  # inside a <label>: its field is labelled
        self.field_names: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in DROPPED_WITH_CONTENT:
            if tag not in VOID_TAGS:
                self.skipping.append(tag)
            return
        if self.skipping or tag not in ALLOWED_TAGS:
            return
        kept = []
        kept_pairs = []
        for name, value in attrs:
            name = name.lower()
            value = value or ""
            if name not in ALLOWED_ATTRIBUTES:
                continue
            if name in ("href", "src"):
                value = value.strip()
                if not SAFE_URL.match(value) or (name == "href" and value[:5].lower() == "data:"):
                    continue
            if name == "type" and value.lower() not in INPUT_TYPES:
                value = "text"
            if name == "name" and tag in ("input", "select", "textarea", "button"):
                self.field_names.append(value)
            kept_pairs.append((name, value))
            kept.append(f'{name}="{escape(value)}"' if value else name)
        if tag in ("input", "textarea", "select"):
            kept.append('autocomplete="off"')
            # A field needs a label (RGAA): one made from its name when the author gave none.
            names = {name for name, _value in kept_pairs}
            field = dict(kept_pairs).get("name", "")
            if field and not names & {"id", "aria-label"} and not self.in_label:
                kept.append(f'aria-label="{escape(field.replace("_", " ").capitalize())}"')
        if tag == "a":
            kept.append('rel="noopener noreferrer"')
        attributes = (" " + " ".join(kept)) if kept else ""
        self.out.append(f"<{tag}{attributes}>")
        if tag not in VOID_TAGS:
            self.open.append(tag)
            self.in_label += tag == "label"

    def handle_startendtag(self, tag, attrs):
        if tag in DROPPED_WITH_CONTENT:
            return
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS and tag in ALLOWED_TAGS and not self.skipping:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in DROPPED_WITH_CONTENT:
            if tag in self.skipping:
                while self.skipping and self.skipping.pop() != tag:
                    pass
            return
        if self.skipping or tag not in self.open:
            return  # a stray end tag never closes an element of the page around it
        while self.open:
            opened = self.open.pop()
            self.in_label -= opened == "label"
            self.out.append(f"</{opened}>")
            if opened == tag:
                break

    def close(self):
        super().close()
        while self.open:
            self.out.append(f"</{self.open.pop()}>")

    def handle_data(self, data):
        if not self.skipping:
            self.out.append(escape(data, quote=False))

    def handle_comment(self, data):
        pass

    def handle_decl(self, decl):
        pass

    def handle_pi(self, data):
        pass

    def unknown_decl(self, data):
        pass


def safe_landing_html(html: str) -> tuple[str, list[str]]:
    """(sanitised HTML, names of its form fields). The result is shown inside the page's own
    form; the CSP (no inline script without the nonce, no inline style, form-action 'self')
    is a second barrier behind this allow-list."""
    parser = _Sanitiser()
    parser.feed(html or "")
    parser.close()
    return "".join(parser.out), [name for name in parser.field_names if FIELD_NAME.fullmatch(name)]
