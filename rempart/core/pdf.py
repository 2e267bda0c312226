"""What every PDF of Rempart shares: one font family with the French characters."""

from __future__ import annotations

from pathlib import Path

FONT = "RempartSans"
FONT_BOLD = f"{FONT}-Bold"


def register_fonts() -> None:
    """Bitstream Vera, shipped with reportlab: accents, « », œ and € on every machine
    (reportlab's built-in Helvetica lacks some of them). Registered once per process."""
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

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
