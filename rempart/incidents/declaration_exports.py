"""The CERT Santé declaration as a PDF document and as a structured JSON export.

PDF (reportlab): the four blocks of the official form, the case reference, the TLP marking of
the case in the header and the footer of every page, the date of generation. The text is set
in Bitstream Vera (shipped with reportlab, embedded in the file), so French accents, « », œ
and € render whatever the reader's fonts.

JSON — format `rempart.declaration_cert_sante`, `version` 1. Dates are ISO 8601 with their UTC
offset; empty text is "", an unknown date null; impact answers are "oui", "non", "inconnu" or
"" (not answered). Keys:

    format, version, generated_at
    case:     reference, title, tlp ("TLP:AMBER"…), reported_at
    status:   "brouillon" | "deposee"
    filing:   filed_at, reference (null / "" while not filed)
    complete: true when nothing the portal requires is missing; missing: the French labels
    bloc_1_identification:
        structure: name, finess, address
        declarant: name, function, phone, email
    bloc_2_description: observed_at, scope, systems_concerned, data_concerned, handling_state
    bloc_3_impacts: impact_care, impact_data, impact_people, impact_systems,
                    impact_organisation, may_affect_others
    bloc_4_causes: causes
    labels:   the French label of every field above, as on the official form
"""

from __future__ import annotations

import datetime
import io
import json
from xml.sax.saxutils import escape

from django.http import HttpResponse
from django.utils import timezone

from rempart.core.pdf import FONT, FONT_BOLD, register_fonts

from .declaration_services import (
    BLOCKS,
    EDITABLE_FIELDS,
    PARIS,
    display_value,
    field_label,
    format_datetime_fr,
    is_filed,
    missing_fields,
)
from .models import Case, CertSanteDeclaration, Tlp

FORMAT = "rempart.declaration_cert_sante"
VERSION = 1
# TLP 2.0 colours (FIRST): the label is written in colour on a black background.
TLP_COLOURS = {
    Tlp.CLEAR: "#FFFFFF",
    Tlp.GREEN: "#33FF00",
    Tlp.AMBER: "#FFC000",
    Tlp.AMBER_STRICT: "#FFC000",
    Tlp.RED: "#FF2B2B",
}


def filename(case: Case, extension: str) -> str:
    return f"declaration-cert-sante-{case.reference}.{extension}"


# --- JSON ---------------------------------------------------------------------------------------


def _iso(value: datetime.datetime | None) -> str | None:
    return timezone.localtime(value, PARIS).isoformat() if value else None


def declaration_document(case: Case, declaration: CertSanteDeclaration) -> dict:
    d = declaration
    missing = missing_fields(d)
    return {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": _iso(timezone.now()),
        "case": {
            "reference": case.reference,
            "title": case.title,
            "tlp": Tlp(case.tlp).label,
            "reported_at": _iso(case.reported_at),
        },
        "status": d.status,
        "filing": {"filed_at": _iso(d.filed_at), "reference": d.filed_reference},
        "complete": not missing,
        "missing": missing,
        "bloc_1_identification": {
            "structure": {
                "name": d.structure_name,
                "finess": d.structure_finess,
                "address": d.structure_address,
            },
            "declarant": {
                "name": d.declarant_name,
                "function": d.declarant_function,
                "phone": d.declarant_phone,
                "email": d.declarant_email,
            },
        },
        "bloc_2_description": {
            "observed_at": _iso(d.observed_at),
            "scope": d.scope,
            "systems_concerned": d.systems_concerned,
            "data_concerned": d.data_concerned,
            "handling_state": d.handling_state,
        },
        "bloc_3_impacts": {
            "impact_care": d.impact_care,
            "impact_data": d.impact_data,
            "impact_people": d.impact_people,
            "impact_systems": d.impact_systems,
            "impact_organisation": d.impact_organisation,
            "may_affect_others": d.may_affect_others,
        },
        "bloc_4_causes": {"causes": d.causes},
        "labels": {name: field_label(name) for name in EDITABLE_FIELDS},
    }


def json_response(case: Case, declaration: CertSanteDeclaration) -> HttpResponse:
    body = json.dumps(declaration_document(case, declaration), ensure_ascii=False, indent=2)
    response = HttpResponse(body.encode(), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename(case, "json")}"'
    return response


# --- PDF ----------------------------------------------------------------------------------------


def _text(value: str) -> str:
    """Paragraph markup from plain text: escaped, line breaks kept, a narrow no-break space
    (absent from the font) replaced by a no-break space."""
    return escape(value.replace("\u202f", "\u00a0")).replace("\n", "<br/>")


def pdf_bytes(case: Case, declaration: CertSanteDeclaration) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    register_fonts()
    tlp = Tlp(case.tlp)
    generated = format_datetime_fr(timezone.now())
    body = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=12.5)
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=11)
    label_style = ParagraphStyle("label", parent=body, fontName=FONT_BOLD, spaceBefore=4)
    value_style = ParagraphStyle("value", parent=body, leftIndent=6 * mm, spaceAfter=2)
    title = ParagraphStyle("title", parent=body, fontName=FONT_BOLD, fontSize=15, leading=19)
    block_title = ParagraphStyle(
        "block",
        parent=body,
        fontName=FONT_BOLD,
        fontSize=11.5,
        leading=15,
        spaceBefore=10,
        spaceAfter=2,
        textColor=colors.HexColor("#000091"),
    )

    story = [
        Paragraph(_text("Déclaration d'incident de sécurité des systèmes d'information"), title),
        Paragraph(
            _text(
                "À déposer sur le portail de signalement des événements sanitaires "
                "indésirables (CERT Santé) — Code de la santé publique, article L.1111-8-2."
            ),
            small,
        ),
        Spacer(1, 3 * mm),
        Paragraph(
            _text(
                f"Dossier {case.reference} — {case.title}. Statut : "
                f"{declaration.get_status_display().lower()}"
                + (
                    f", déposée le {format_datetime_fr(declaration.filed_at)} sous la référence "
                    f"{declaration.filed_reference}."
                    if is_filed(declaration)
                    else "."
                )
            ),
            body,
        ),
    ]
    missing = missing_fields(declaration)
    if missing:
        story.append(
            Paragraph(
                _text("Éléments exigés par le portail encore manquants : " + " ; ".join(missing)),
                small,
            )
        )
    # Label then value as flowing paragraphs (not table cells): a long text splits across pages.
    for number, block_name, names in BLOCKS:
        story.append(Paragraph(_text(f"{number}. {block_name}"), block_title))
        for name in names:
            story.append(Paragraph(_text(field_label(name)), label_style))
            story.append(Paragraph(_text(display_value(declaration, name) or "—"), value_style))

    def decorate(canvas, document):
        width, height = A4
        canvas.saveState()
        for y in (height - 12 * mm, 8 * mm):
            canvas.setFillColor(colors.black)
            canvas.rect(15 * mm, y - 1.5 * mm, 42 * mm, 6 * mm, stroke=0, fill=1)
            canvas.setFillColor(colors.HexColor(TLP_COLOURS[tlp]))
            canvas.setFont(FONT_BOLD, 9)
            canvas.drawString(17 * mm, y, tlp.label)
        canvas.setFillColor(colors.black)
        canvas.setFont(FONT, 8)
        canvas.drawRightString(width - 15 * mm, height - 12 * mm, f"Dossier {case.reference}")
        canvas.drawRightString(
            width - 15 * mm,
            8 * mm,
            f"Généré par Rempart le {generated} — page {document.page}",
        )
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=22 * mm,
        bottomMargin=20 * mm,
        title=f"Déclaration CERT Santé — {case.reference}",
        author="Rempart",
        subject=tlp.label,
    )
    document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def pdf_response(case: Case, declaration: CertSanteDeclaration) -> HttpResponse:
    response = HttpResponse(pdf_bytes(case, declaration), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename(case, "pdf")}"'
    return response
