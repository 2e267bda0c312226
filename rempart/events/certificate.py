"""The attendance certificate of a training session (PDF, reportlab, the shared French font).

A pure builder: the view checks who may download it (the registering organisation, the person
as a liberal professional, the CRRC) and that the person was marked present. The metadata
(title, subject) carry the person's name and the session, so an archive or a mail client shows
them."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from rempart.core.pdf import FONT, register_fonts

from .models import Registration

BLUE = colors.HexColor("#000091")


def filename(registration: Registration) -> str:
    return f"attestation-presence-{registration.session_id}-{registration.pk}.pdf"


def _hours(value: float) -> str:
    whole = int(value)
    minutes = round((value - whole) * 60)
    return f"{whole} h {minutes:02d}" if minutes else f"{whole} h"


def render_pdf(registration: Registration) -> bytes:
    session = registration.session
    register_fonts()
    base = ParagraphStyle("base", fontName=FONT, fontSize=12, leading=16, alignment=TA_CENTER)
    title = ParagraphStyle(
        "title", parent=base, fontName=f"{FONT}-Bold", fontSize=26, leading=32, textColor=BLUE
    )
    big = ParagraphStyle("big", parent=base, fontName=f"{FONT}-Bold", fontSize=20, leading=26)
    small = ParagraphStyle("small", parent=base, fontSize=9, leading=12)
    starts = timezone.localtime(session.starts_at)
    ends = timezone.localtime(session.ends_at)
    where = session.location or "en ligne"
    hours = (session.ends_at - session.starts_at).total_seconds() / 3600

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=2.5 * cm,
        rightMargin=2.5 * cm,
        topMargin=2.5 * cm,
        bottomMargin=2 * cm,
        title=f"Attestation de présence — {registration.full_name}",
        subject=f"{session.title} — {starts:%d/%m/%Y}",
        author=session.organiser.name,
        creator="Rempart",
    )
    story = [
        Paragraph("Attestation de présence", title),
        Spacer(1, 0.8 * cm),
        Paragraph(f"{escape(session.organiser.name)} atteste que", base),
        Spacer(1, 0.3 * cm),
        Paragraph(escape(registration.full_name), big),
        Spacer(1, 0.2 * cm),
        Paragraph(
            escape(
                ", ".join(p for p in (registration.function, registration.organisation.name) if p)
            ),
            base,
        ),
        Spacer(1, 0.6 * cm),
        Paragraph(f"a participé à la session ({escape(session.get_kind_display().lower())})", base),
        Spacer(1, 0.3 * cm),
        Paragraph(f"« {escape(session.title)} »", big),
        Spacer(1, 0.3 * cm),
        Paragraph(
            f"le {starts:%d/%m/%Y}, de {starts:%H:%M} à {ends:%H:%M} "
            f"(durée : {_hours(hours)}), {escape(where)}.",
            base,
        ),
        Spacer(1, 1.2 * cm),
        Paragraph(
            f"Programme : {escape(session.programme)} — attestation n° "
            f"{session.pk}-{registration.pk}, établie le {timezone.localdate():%d/%m/%Y}.",
            small,
        ),
    ]
    doc.build(story)
    return buffer.getvalue()
