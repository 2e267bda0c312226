"""The attendance certificate of a training session (PDF, the shared certificate page).

A pure builder: the view checks who may download it (the registering organisation, the person
as a liberal professional, the CRRC) and that the person was marked present. The metadata
(title, subject) carry the person's name and the session, so an archive or a mail client shows
them."""

from __future__ import annotations

from xml.sax.saxutils import escape

from django.utils import timezone

from rempart.core.pdf import CertificatePage

from .models import Registration


def filename(registration: Registration) -> str:
    return f"attestation-presence-{registration.session_id}-{registration.pk}.pdf"


def _hours(value) -> str:
    minutes = round(float(value) * 60)
    whole, minutes = divmod(minutes, 60)
    return f"{whole} h {minutes:02d}" if minutes else f"{whole} h"


def _when(session) -> str:
    """« le 12/03/2026, de 09:00 à 12:00 » for one day; « du 12/03/2026 au 13/03/2026 » over
    several days. The duration is the declared training time (session.duration_hours: by
    default the daily hours × the days), never the elapsed time across the nights."""
    starts, ends = timezone.localtime(session.starts_at), timezone.localtime(session.ends_at)
    hours = _hours(session.duration_hours)
    if session.is_several_days:
        return (
            f"du {starts:%d/%m/%Y} au {ends:%d/%m/%Y} ({session.days} jours, "
            f"durée de formation : {hours})"
        )
    return f"le {starts:%d/%m/%Y}, de {starts:%H:%M} à {ends:%H:%M} (durée : {hours})"


def render_pdf(registration: Registration) -> bytes:
    session = registration.session
    starts = timezone.localtime(session.starts_at)
    where = session.location or "en ligne"
    who = ", ".join(p for p in (registration.function, registration.organisation.name) if p)

    page = CertificatePage()
    page.line("Attestation de présence", page.title)
    page.line(f"{escape(session.organiser.name)} atteste que", space=0.8)
    page.line(escape(registration.full_name), page.big, space=0.3)
    page.line(escape(who), space=0.2)
    page.line(f"a participé à la session ({escape(session.get_kind_display().lower())})", space=0.6)
    page.line(f"« {escape(session.title)} »", page.big, space=0.3)
    page.line(f"{_when(session)}, {escape(where)}.", space=0.3)
    page.line(
        f"Programme : {escape(session.programme)} — attestation n° "
        f"{session.pk}-{registration.pk}, établie le {timezone.localdate():%d/%m/%Y}.",
        page.small,
        space=1.2,
    )
    return page.render(
        title=f"Attestation de présence — {registration.full_name}",
        subject=f"{session.title} — {starts:%d/%m/%Y}",
        author=session.organiser.name,
    )
