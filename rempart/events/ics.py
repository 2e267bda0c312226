"""iCalendar (RFC 5545) invitations for a training session, written by hand: one VEVENT per
registration (a session over several days is one event spanning them), CRLF line endings, lines folded at 75 octets, times in UTC, a stable UID so that
a later CANCEL (same UID, higher SEQUENCE) removes the event from the person's calendar."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import timezone

from .models import Registration

CONTENT_TYPE = "text/calendar"
PRODID = "-//Rempart//Formations CRRC//FR"


def escape_text(value: str) -> str:
    """TEXT value escaping (RFC 5545 §3.3.11): backslash, semicolon, comma, newline."""
    return (
        (value or "")
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Fold a content line at 75 octets (§3.1), never inside a UTF-8 character."""
    out, current, size = [], "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        limit = 75 if not out else 74  # continuation lines start with one space
        if size + width > limit:
            out.append(current)
            current, size = "", 0
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)


def utc(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def uid(registration: Registration) -> str:
    host = settings.SITE_URL.split("//", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "rempart"
    return f"formation-{registration.session_id}-inscription-{registration.pk}@{host}"


def invitation(registration: Registration, *, cancel: bool = False) -> str:
    """The calendar text of `registration`'s session (PUBLISH), or its cancellation (CANCEL)."""
    session = registration.session
    where = session.location or session.online_url
    description = session.description
    if session.is_several_days:
        # One event from the first day's start to the last day's end (DTSTART/DTEND span the
        # days); the description says so, since calendars show it as one long block.
        starts, ends = timezone.localtime(session.starts_at), timezone.localtime(session.ends_at)
        hours = f"{session.duration_hours.normalize():f}".replace(".", ",")
        description = (
            f"Session sur {session.days} jours, du {starts:%d/%m/%Y} à {starts:%H:%M} au "
            f"{ends:%d/%m/%Y} à {ends:%H:%M} ({hours} h de formation).\n\n{description}"
        ).strip()
    if session.online_url:
        description = f"{description}\n\nLien de connexion : {session.online_url}".strip()
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{'CANCEL' if cancel else 'PUBLISH'}",
        "BEGIN:VEVENT",
        f"UID:{uid(registration)}",
        f"DTSTAMP:{utc(timezone.now())}",
        f"DTSTART:{utc(session.starts_at)}",
        f"DTEND:{utc(session.ends_at)}",
        f"SEQUENCE:{1 if cancel else 0}",
        f"SUMMARY:{escape_text(session.title)}",
        f"DESCRIPTION:{escape_text(description)}",
        f"LOCATION:{escape_text(where)}",
        f'ORGANIZER;CN="{session.organiser.name.replace(chr(34), "")}":'
        f"mailto:{settings.DEFAULT_FROM_EMAIL.rsplit('<', 1)[-1].rstrip('>')}",
        f"STATUS:{'CANCELLED' if cancel else 'CONFIRMED'}",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    if session.online_url:
        lines.insert(-2, f"URL:{session.online_url}")
    return "".join(fold(line) + "\r\n" for line in lines)


def filename(registration: Registration) -> str:
    return f"formation-{registration.session_id}.ics"
