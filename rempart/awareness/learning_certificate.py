"""The PDF certificate of a passed module (reportlab, Bitstream Vera for French accents).

A pure builder: the view checks who may download it. The document states the holder, their
organisation, the module and its version, the score, the date and the verification code with
the address of the public verification page. Its metadata (title, subject) carry the holder's
name and the code too, so that a mail client or an archive shows them.
"""

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

from .models import Certificate

BLUE = colors.HexColor("#000091")


def filename(certificate: Certificate) -> str:
    return f"attestation-sensibilisation-{certificate.pk}.pdf"


def render_pdf(certificate: Certificate, verify_url: str) -> bytes:
    register_fonts()
    base = ParagraphStyle("base", fontName=FONT, fontSize=12, leading=16, alignment=TA_CENTER)
    title = ParagraphStyle(
        "title", parent=base, fontName=f"{FONT}-Bold", fontSize=26, leading=32, textColor=BLUE
    )
    big = ParagraphStyle("big", parent=base, fontName=f"{FONT}-Bold", fontSize=20, leading=26)
    small = ParagraphStyle("small", parent=base, fontSize=9, leading=12)
    issued = timezone.localtime(certificate.issued_at)

    def p(text: str, style) -> Paragraph:
        return Paragraph(text, style)

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=2.5 * cm,
        rightMargin=2.5 * cm,
        topMargin=2.5 * cm,
        bottomMargin=2 * cm,
        title=f"Attestation de sensibilisation — {certificate.holder_name}",
        subject=f"{certificate.module_title} — code {certificate.code}",
        author="Rempart",
        creator="Rempart",
    )
    story = [
        p("Attestation de sensibilisation à la sécurité numérique", title),
        Spacer(1, 1 * cm),
        p("Nous attestons que", base),
        Spacer(1, 0.3 * cm),
        p(escape(certificate.holder_name), big),
        Spacer(1, 0.2 * cm),
        p(escape(certificate.organisation_name), base),
        Spacer(1, 0.6 * cm),
        p("a suivi avec succès le module", base),
        Spacer(1, 0.3 * cm),
        p(f"« {escape(certificate.module_title)} »", big),
        Spacer(1, 0.3 * cm),
        p(
            f"avec un score de <b>{certificate.score} %</b> au quiz "
            f"(version {certificate.module_version} du module), le {issued:%d/%m/%Y}.",
            base,
        ),
        Spacer(1, 1.2 * cm),
        p(f"Code de vérification : <b>{escape(certificate.code)}</b>", small),
        p(f"Vérifiez cette attestation sur {escape(verify_url)}", small),
    ]
    if not certificate.is_valid:
        story.insert(1, p("ATTESTATION RÉVOQUÉE", big))
    doc.build(story)
    return buffer.getvalue()
