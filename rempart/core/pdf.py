"""What every PDF of Rempart shares: one font family with the French characters, and the
page of a certificate (the attendance of a training, a passed awareness module)."""

from __future__ import annotations

import io
from pathlib import Path

import reportlab
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

FONT = "RempartSans"
FONT_BOLD = f"{FONT}-Bold"
BLUE = colors.HexColor("#000091")


def register_fonts() -> None:
    """Bitstream Vera, shipped with reportlab: accents, « », œ and € on every machine
    (reportlab's built-in Helvetica lacks some of them). Registered once per process."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(reportlab.__file__).resolve().parent / "fonts"
    faces = {
        FONT: "Vera.ttf",
        FONT_BOLD: "VeraBd.ttf",
        f"{FONT}-Italic": "VeraIt.ttf",
        f"{FONT}-BoldItalic": "VeraBI.ttf",
    }
    for name, filename in faces.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / filename)))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT_BOLD, italic=f"{FONT}-Italic", boldItalic=f"{FONT}-BoldItalic"
    )


class CertificatePage:
    """One landscape A4 page of centred lines, so that every certificate of Rempart looks the
    same: a blue `title`, `big` bold lines for who and what, `base` text, `small` references
    at the foot. The builder adds its lines, then `render` gives the PDF; its metadata (title,
    subject) should name the holder, so that an archive or a mail client shows them."""

    def __init__(self) -> None:
        register_fonts()
        self.base = ParagraphStyle(
            "base", fontName=FONT, fontSize=12, leading=16, alignment=TA_CENTER
        )
        self.title = ParagraphStyle(
            "title", parent=self.base, fontName=FONT_BOLD, fontSize=26, leading=32, textColor=BLUE
        )
        self.big = ParagraphStyle(
            "big", parent=self.base, fontName=FONT_BOLD, fontSize=20, leading=26
        )
        self.small = ParagraphStyle("small", parent=self.base, fontSize=9, leading=12)
        self.story: list = []

    def line(self, text: str, style: ParagraphStyle | None = None, *, space: float = 0) -> None:
        """A paragraph in reportlab markup (escape what people typed), in the base style unless
        told, after `space` centimetres of blank."""
        if space:
            self.story.append(Spacer(1, space * cm))
        self.story.append(Paragraph(text, style or self.base))

    def render(self, *, title: str, subject: str, author: str = "Rempart") -> bytes:
        buffer = io.BytesIO()
        doc = SimpleDocTemplate(
            buffer,
            pagesize=landscape(A4),
            leftMargin=2.5 * cm,
            rightMargin=2.5 * cm,
            topMargin=2.5 * cm,
            bottomMargin=2 * cm,
            title=title,
            subject=subject,
            author=author,
            creator="Rempart",
        )
        doc.build(self.story)
        return buffer.getvalue()
