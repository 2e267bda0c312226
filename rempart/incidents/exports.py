"""Exports of a case: the indicators as a STIX 2.1 bundle, the timeline as CSV, the case
report as PDF. Pure builders: the views check access (READ) and send the result.

TLP 2.0 everywhere:

* **STIX bundle** — exported *for an audience level* (`level`, the `?tlp=` parameter, default
  TLP:AMBER): only the indicators whose own TLP is at most that level go out (CLEAR < GREEN <
  AMBER < AMBER+STRICT < RED). TLP:AMBER+STRICT and TLP:RED indicators therefore never leave
  unless that level is chosen explicitly. Each indicator carries its own marking
  (`object_marking_refs`) as the official OASIS TLP 2.0 marking-definition objects
  (extension-definition--60a3c5c5…), which are included in the bundle. The case itself is
  described by a `grouping`: its title and synthesis only when the case's TLP allows the
  chosen level, otherwise just its reference. Ids are stable (`Indicator.stix_id`, and
  derived from the organisation and the case), so two exports describe the same objects.
* **PDF report** — marked on every page (header and footer, TLP 2.0 colours on black) with the
  case's TLP, or a stricter level if asked; indicators more restricted than that level are
  left out (their number is said).
* **CSV timeline** — the case's TLP is in the file's name.

Exports are reads: a GET never writes, so they leave no custody entry and no audit line
(the audit trail of the project records changes, not reads).
"""

from __future__ import annotations

import datetime
import io
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

import stix2
from django.core.exceptions import ObjectDoesNotExist
from django.http import StreamingHttpResponse
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from rempart.core.csv_export import csv_response
from rempart.core.errors import DomainError
from rempart.core.pdf import FONT, register_fonts
from rempart.core.roles import OrgKind
from rempart.organisations.models import Organisation

from . import evidence_services
from .models import Case, Indicator, IndicatorKind, Tlp

# --- TLP 2.0 --------------------------------------------------------------------------------------

TLP_ORDER = [Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED]
TLP_RANK = {level: rank for rank, level in enumerate(TLP_ORDER)}
DEFAULT_STIX_LEVEL = Tlp.AMBER
# The OASIS TLP 2.0 marking definitions (cti-stix-common-objects, extension-definition-
# specifications/tlp-2.0): fixed ids, created 2022-10-01, the level in the extension.
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_MARKING_IDS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP2_VALUES = {
    Tlp.CLEAR: "clear",
    Tlp.GREEN: "green",
    Tlp.AMBER: "amber",
    Tlp.AMBER_STRICT: "amber+strict",
    Tlp.RED: "red",
}
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
# What each level means for the reader (FIRST TLP 2.0, in French).
TLP_MEANINGS = {
    Tlp.CLEAR: "Diffusion libre, sans restriction.",
    Tlp.GREEN: "Diffusion limitée à la communauté du destinataire (partenaires, organisations "
    "du secteur), hors publication ouverte.",
    Tlp.AMBER: "Diffusion limitée à l'organisation du destinataire et à ses clients, selon le "
    "besoin d'en connaître.",
    Tlp.AMBER_STRICT: "Diffusion limitée à la seule organisation du destinataire, selon le "
    "besoin d'en connaître.",
    Tlp.RED: "Réservé aux seules personnes destinataires : aucune rediffusion.",
}
# TLP 2.0 colours (text on a black background).
TLP_COLOURS = {
    Tlp.CLEAR: colors.HexColor("#FFFFFF"),
    Tlp.GREEN: colors.HexColor("#33FF00"),
    Tlp.AMBER: colors.HexColor("#FFC000"),
    Tlp.AMBER_STRICT: colors.HexColor("#FFC000"),
    Tlp.RED: colors.HexColor("#FF2B2B"),
}
# Stable ids for the objects Rempart describes (identities, case groupings).
STIX_NAMESPACE = uuid.UUID("6f1b7f52-3c2e-4f8e-9a55-2b7d2f0c9e41")


def parse_tlp(value, *, default: Tlp) -> Tlp:
    """A TLP level from a query parameter (« amber », « TLP:AMBER+STRICT »…)."""
    text = str(value or "").strip().lower()
    if not text:
        return default
    text = text.removeprefix("tlp:").replace("+", "_").replace("-", "_").replace(" ", "_")
    if text not in Tlp.values:
        raise DomainError(
            "Niveau TLP inconnu : choisissez clear, green, amber, amber_strict ou red.",
            code="invalid_tlp",
            field="tlp",
        )
    return Tlp(text)


def allows(level: Tlp, tlp: str) -> bool:
    """May something marked `tlp` go to an audience of `level`?"""
    return TLP_RANK[Tlp(tlp)] <= TLP_RANK[level]


def stricter(*levels: str) -> Tlp:
    return max((Tlp(level) for level in levels), key=TLP_RANK.__getitem__)


def tlp_file_label(level: Tlp) -> str:
    """« TLP-AMBER-STRICT »: the marking in a file name."""
    return str(level.label).replace(":", "-").replace("+", "-")


# --- STIX 2.1 -------------------------------------------------------------------------------------


def tlp_marking(level: Tlp) -> stix2.v21.MarkingDefinition:
    return stix2.v21.MarkingDefinition(
        id=TLP2_MARKING_IDS[level],
        created=TLP2_CREATED,
        name=str(level.label),
        extensions={
            TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": TLP2_VALUES[level]}
        },
    )


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


STIX_PATHS = {
    IndicatorKind.IPV4: "ipv4-addr:value",
    IndicatorKind.IPV6: "ipv6-addr:value",
    IndicatorKind.DOMAIN: "domain-name:value",
    IndicatorKind.URL: "url:value",
    IndicatorKind.EMAIL: "email-addr:value",
    IndicatorKind.MD5: "file:hashes.MD5",
    IndicatorKind.SHA1: "file:hashes.'SHA-1'",
    IndicatorKind.SHA256: "file:hashes.'SHA-256'",
    IndicatorKind.FILENAME: "file:name",
}


def stix_pattern(indicator: Indicator) -> str:
    return f"[{STIX_PATHS[IndicatorKind(indicator.kind)]} = {_quoted(indicator.value)}]"


def _producer(case: Case) -> Organisation | None:
    """Who produces the export: the CRRC that handled the case's alerts, else the region's."""
    alert = case.alerts.filter(crrc__isnull=False).select_related("crrc").order_by("pk").first()
    if alert is not None:
        return alert.crrc
    return (
        Organisation.objects.filter(kind=OrgKind.CRRC, region_id=case.region_id)
        .order_by("pk")
        .first()
    )


def _identity(case: Case) -> stix2.v21.Identity:
    producer = _producer(case)
    if producer is not None:
        key, name = f"organisation:{producer.pk}", producer.name
        created = producer.created_at
        description = "Centre régional de ressources cyber (CRRC)"
    else:
        key, name = f"region:{case.region_id}", f"Rempart — {case.region.name}"
        created = case.opened_at
        description = "Plateforme régionale de cybersécurité en santé"
    return stix2.v21.Identity(
        id=f"identity--{uuid.uuid5(STIX_NAMESPACE, key)}",
        created=created,
        modified=created,
        name=name,
        description=description,
        identity_class="organization",
        sectors=["healthcare"],
    )


def _stix_indicator(indicator: Indicator, identity_id: str) -> stix2.v21.Indicator:
    fields = {
        "id": f"indicator--{indicator.stix_id}",
        "created": indicator.created_at,
        "modified": indicator.created_at,
        "created_by_ref": identity_id,
        "name": f"{indicator.get_kind_display()} : {indicator.value}"[:250],
        "pattern": stix_pattern(indicator),
        "pattern_type": "stix",
        "valid_from": indicator.first_seen or indicator.created_at,
        "object_marking_refs": [TLP2_MARKING_IDS[Tlp(indicator.tlp)]],
    }
    if indicator.description:
        fields["description"] = indicator.description
    return stix2.v21.Indicator(**fields)


@dataclass
class StixExport:
    bundle: stix2.v21.Bundle
    level: Tlp
    included: int
    excluded: int

    def serialize(self) -> str:
        return self.bundle.serialize(pretty=True, ensure_ascii=False)


def stix_export(case: Case, *, level: Tlp = DEFAULT_STIX_LEVEL) -> StixExport:
    """The case's indicators shareable at `level`, as a STIX 2.1 bundle."""
    indicators = list(case.indicators.order_by("kind", "value", "pk"))
    shared = [indicator for indicator in indicators if allows(level, indicator.tlp)]
    identity = _identity(case)
    objects: list = [identity]
    stix_indicators = [_stix_indicator(indicator, identity.id) for indicator in shared]
    used = {Tlp(indicator.tlp) for indicator in shared}
    if stix_indicators:
        with_details = allows(level, case.tlp)
        grouping_levels = [indicator.tlp for indicator in shared]
        fields = {
            "id": f"grouping--{uuid.uuid5(STIX_NAMESPACE, f'case:{case.pk}:{level.value}')}",
            "created": case.opened_at,
            "modified": max(timezone.now(), case.opened_at),
            "created_by_ref": identity.id,
            "context": "suspicious-activity",
            "object_refs": [obj.id for obj in stix_indicators],
        }
        if with_details:
            grouping_levels.append(case.tlp)
            fields["name"] = f"{case.reference} — {case.title}"
            if case.summary:
                fields["description"] = case.summary
        else:
            fields["name"] = f"{case.reference} — indicateurs de compromission"
        grouping_level = stricter(*grouping_levels)
        used.add(grouping_level)
        fields["object_marking_refs"] = [TLP2_MARKING_IDS[grouping_level]]
        grouping = stix2.v21.Grouping(**fields)
        objects += [tlp_marking(tlp) for tlp in TLP_ORDER if tlp in used]
        objects += [*stix_indicators, grouping]
    bundle = stix2.v21.Bundle(objects=objects)
    return StixExport(bundle, level, len(shared), len(indicators) - len(shared))


def stix_filename(case: Case, level: Tlp) -> str:
    return f"indicateurs-{case.reference}-{tlp_file_label(level)}.stix.json"


# --- CSV timeline ---------------------------------------------------------------------------------

TIMELINE_HEADER = ["date de l'événement", "enregistré le", "type", "auteur", "description"]


def format_datetime(value: datetime.datetime | None) -> str:
    """« 23/11/2025 14:05 » in Paris time."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%d/%m/%Y %H:%M")


def _author(user) -> str:
    if user is None:
        return "—"
    return user.get_full_name() or user.email


def timeline_rows(case: Case):
    for event in case.events.select_related("author").order_by("occurred_at", "pk").iterator():
        yield [
            format_datetime(event.occurred_at),
            format_datetime(event.recorded_at),
            event.get_kind_display(),
            _author(event.author),
            event.text,
        ]


def timeline_csv(case: Case) -> StreamingHttpResponse:
    """The timeline for a spreadsheet: « ; », UTF-8 with BOM, French dates, no formulas."""
    filename = f"chronologie-{case.reference}-{tlp_file_label(Tlp(case.tlp))}.csv"
    return csv_response(filename, TIMELINE_HEADER, timeline_rows(case))


# --- PDF report -----------------------------------------------------------------------------------


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=12, alignment=TA_LEFT)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10),
        "mono": ParagraphStyle("mono", parent=base, fontSize=7, leading=9),
        "title": ParagraphStyle(
            "title", parent=base, fontName=f"{FONT}-Bold", fontSize=18, leading=22
        ),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=12, leading=16),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=f"{FONT}-Bold",
            fontSize=12,
            leading=15,
            spaceBefore=12,
            spaceAfter=6,
            textColor=colors.HexColor("#000091"),
        ),
        "alert": ParagraphStyle(
            "alert",
            parent=base,
            fontName=f"{FONT}-Bold",
            textColor=colors.HexColor("#CE0500"),
        ),
    }


def _p(text, style) -> Paragraph:
    return Paragraph(escape(str(text or "—")).replace("\n", "<br/>"), style)


def duration_fr(delta: datetime.timedelta | None) -> str:
    """« 2 j 3 h », « 1 h 05 min », « 12 min »; « non connu » when a milestone is missing."""
    if delta is None:
        return "non connu"
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h" if hours else f"{days} j"
    if hours:
        return f"{hours} h {mins:02d} min"
    return f"{mins} min"


def _declaration(case: Case):
    try:
        return case.declaration
    except (ObjectDoesNotExist, AttributeError):
        return None


@dataclass
class Metrics:
    to_acknowledge: datetime.timedelta | None
    to_qualify: datetime.timedelta | None
    to_declare: datetime.timedelta | None
    to_resolve: datetime.timedelta | None


def case_metrics(case: Case) -> Metrics:
    """The response times, from the first report of the incident."""
    start = case.reported_at
    acknowledged = [
        at for at in case.alerts.values_list("acknowledged_at", flat=True) if at is not None
    ]
    declaration = _declaration(case)

    def since(moment):
        return moment - start if moment is not None and start is not None else None

    return Metrics(
        to_acknowledge=since(min(acknowledged)) if acknowledged else None,
        to_qualify=since(case.qualified_at),
        to_declare=since(getattr(declaration, "filed_at", None)),
        to_resolve=since(case.resolved_at),
    )


def _table(rows, widths, *, header=True, zebra=True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#BBBBBB")),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E3E3FD")))
    if zebra:
        for row in range(2 if header else 1, len(rows), 2):
            style.append(("BACKGROUND", (0, row), (-1, row), colors.HexColor("#F6F6F6")))
    table.setStyle(TableStyle(style))
    return table


def _key_values(pairs, styles) -> Table:
    rows = [[_p(key, styles["cell"]), _p(value, styles["cell"])] for key, value in pairs]
    return _table(rows, [5 * cm, 12 * cm], header=False, zebra=False)


def _header_row(labels, styles):
    bold = ParagraphStyle("th", parent=styles["cell"], fontName=f"{FONT}-Bold")
    return [_p(label, bold) for label in labels]


class _Page:
    """Header and footer of every page: the TLP label (TLP 2.0: top and bottom, right)."""

    def __init__(self, case: Case, level: Tlp, generated: str):
        self.case, self.level, self.generated = case, level, generated

    def _label(self, canvas, y: float) -> None:
        text = str(self.level.label)
        width = pdfmetrics.stringWidth(text, f"{FONT}-Bold", 11) + 10
        x = A4[0] - 2 * cm - width
        canvas.setFillColor(colors.black)
        canvas.rect(x, y - 4, width, 16, fill=1, stroke=0)
        canvas.setFillColor(TLP_COLOURS[self.level])
        canvas.setFont(f"{FONT}-Bold", 11)
        canvas.drawString(x + 5, y, text)

    def __call__(self, canvas, doc) -> None:
        canvas.saveState()
        top = A4[1] - 1.3 * cm
        canvas.setFont(FONT, 8)
        canvas.setFillColor(colors.HexColor("#3A3A3A"))
        canvas.drawString(2 * cm, top, f"Rempart — rapport d'incident {self.case.reference}")
        self._label(canvas, top)
        bottom = 1.1 * cm
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#3A3A3A"))
        canvas.drawString(2 * cm, bottom, f"{self.generated} — page {doc.page}")
        self._label(canvas, bottom)
        canvas.restoreState()


def report_level(case: Case, requested: Tlp | None = None) -> Tlp:
    """The report shows the whole case: never less restricted than the case's TLP."""
    return stricter(case.tlp, requested or case.tlp)


def report_pdf(case: Case, *, generated_by, level: Tlp | None = None) -> bytes:
    """The case report as a PDF, marked with its TLP on every page."""
    register_fonts()
    level = report_level(case, level)
    generated = (
        f"Généré le {format_datetime(timezone.now())} par "
        f"{evidence_services.person_name(generated_by) or 'Rempart'}"
    )
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=2.2 * cm,
        bottomMargin=2 * cm,
        title=f"Rapport d'incident {case.reference}",
        author="Rempart",
        subject=str(level.label),
    )
    page = _Page(case, level, generated)
    doc.build(report_story(case, level), onFirstPage=page, onLaterPages=page)
    return buffer.getvalue()


def report_story(case: Case, level: Tlp) -> list:
    """The report's content: synthesis, organisation, states and dates, response times,
    declaration status, alerts, timeline, tasks, indicators (up to `level`), assets, evidence
    with hashes and custody."""
    register_fonts()
    styles = _styles()
    story: list = []
    story += [
        _p(f"Rapport d'incident {case.reference}", styles["title"]),
        Spacer(1, 4),
        _p(case.title, styles["subtitle"]),
        Spacer(1, 6),
        _p(f"{level.label} — {TLP_MEANINGS[level]}", styles["base"]),
    ]

    organisation = case.organisation
    lead = case.lead
    story += [
        _p("Structure et dossier", styles["h2"]),
        _key_values(
            [
                ("Structure touchée", organisation.name),
                ("FINESS", getattr(organisation, "finess", "") or "—"),
                ("Région", case.region.name),
                ("Type d'incident", case.get_incident_type_display()),
                ("Gravité", case.get_severity_display()),
                ("État", case.get_state_display()),
                ("Qualification finale", case.get_outcome_display()),
                ("Diffusion du dossier", case.get_tlp_display()),
                ("Pilote", _author(lead) if lead else "non désigné"),
            ],
            styles,
        ),
    ]

    metrics = case_metrics(case)
    story += [
        _p("Dates et délais", styles["h2"]),
        _key_values(
            [
                ("Signalé le", format_datetime(case.reported_at) or "—"),
                ("Ouvert le", format_datetime(case.opened_at) or "—"),
                ("Qualifié le", format_datetime(case.qualified_at) or "—"),
                ("Résolu le", format_datetime(case.resolved_at) or "—"),
                ("Clos le", format_datetime(case.closed_at) or "—"),
                ("Délai de prise en compte", duration_fr(metrics.to_acknowledge)),
                ("Délai de qualification", duration_fr(metrics.to_qualify)),
                ("Délai de déclaration CERT Santé", duration_fr(metrics.to_declare)),
                ("Délai de résolution", duration_fr(metrics.to_resolve)),
            ],
            styles,
        ),
        _p("Délais comptés depuis le signalement.", styles["small"]),
        _p("Synthèse", styles["h2"]),
        _p(case.summary or "Pas encore de synthèse.", styles["base"]),
    ]

    declaration = _declaration(case)
    story.append(_p("Déclaration CERT Santé", styles["h2"]))
    if declaration is None:
        story.append(_p("Aucune déclaration préparée sur la plateforme.", styles["base"]))
    else:
        pairs = [
            ("Statut", declaration.get_status_display()),
            ("Préparée le", format_datetime(declaration.prepared_at) or "—"),
        ]
        if declaration.filed_at:
            pairs += [
                ("Déposée le", format_datetime(declaration.filed_at)),
                ("Référence du portail", declaration.filed_reference or "—"),
            ]
        story.append(_key_values(pairs, styles))

    alerts = list(case.alerts.select_related("organisation").order_by("received_at", "pk"))
    if alerts:
        rows = [_header_row(["Alerte", "Reçue le", "Déclarant", "Prise en compte le"], styles)]
        rows += [
            [
                _p(f"n° {alert.pk}", styles["cell"]),
                _p(format_datetime(alert.received_at), styles["cell"]),
                _p(alert.reporter_name or "—", styles["cell"]),
                _p(format_datetime(alert.acknowledged_at) or "—", styles["cell"]),
            ]
            for alert in alerts
        ]
        story += [
            _p("Alertes rattachées", styles["h2"]),
            _table(rows, [2.5 * cm, 4 * cm, 6 * cm, 4.5 * cm]),
        ]

    events = list(case.events.select_related("author").order_by("occurred_at", "pk"))
    story.append(_p("Chronologie", styles["h2"]))
    if events:
        rows = [_header_row(["Date", "Type", "Auteur", "Description"], styles)]
        rows += [
            [
                _p(format_datetime(event.occurred_at), styles["cell"]),
                _p(event.get_kind_display(), styles["cell"]),
                _p(_author(event.author), styles["cell"]),
                _p(event.text, styles["cell"]),
            ]
            for event in events
        ]
        story.append(_table(rows, [2.8 * cm, 2.6 * cm, 3.2 * cm, 8.4 * cm]))
    else:
        story.append(_p("Aucun événement.", styles["base"]))

    tasks = list(case.tasks.select_related("assignee").order_by("kind", "position", "pk"))
    story.append(_p("Tâches et liste de contrôle", styles["h2"]))
    if tasks:
        rows = [_header_row(["Intitulé", "Statut", "Assignée à", "Échéance", "Faite le"], styles)]
        rows += [
            [
                _p(task.title, styles["cell"]),
                _p(task.get_status_display(), styles["cell"]),
                _p(_author(task.assignee) if task.assignee else "—", styles["cell"]),
                _p(format_datetime(task.due_at) or "—", styles["cell"]),
                _p(format_datetime(task.done_at) or "—", styles["cell"]),
            ]
            for task in tasks
        ]
        story.append(_table(rows, [6.2 * cm, 2.4 * cm, 3.4 * cm, 2.5 * cm, 2.5 * cm]))
    else:
        story.append(_p("Aucune tâche.", styles["base"]))

    indicators = list(case.indicators.order_by("kind", "value", "pk"))
    shown = [indicator for indicator in indicators if allows(level, indicator.tlp)]
    hidden = len(indicators) - len(shown)
    story.append(_p("Indicateurs de compromission", styles["h2"]))
    if shown:
        rows = [_header_row(["Type", "Valeur", "TLP", "Vu le", "Contexte"], styles)]
        rows += [
            [
                _p(indicator.get_kind_display(), styles["cell"]),
                _p(indicator.value, styles["mono"]),
                _p(indicator.get_tlp_display(), styles["cell"]),
                _p(format_datetime(indicator.first_seen) or "—", styles["cell"]),
                _p(indicator.description or "—", styles["cell"]),
            ]
            for indicator in shown
        ]
        story.append(_table(rows, [2.4 * cm, 5.6 * cm, 2.6 * cm, 2.4 * cm, 4 * cm]))
    else:
        story.append(_p("Aucun indicateur.", styles["base"]))
    if hidden:
        plural = "s" if hidden > 1 else ""
        story.append(
            _p(
                f"{hidden} indicateur{plural} plus restreint{plural} que {level.label} "
                f"n'y figure{'nt' if hidden > 1 else ''} pas.",
                styles["small"],
            )
        )

    assets = list(case.assets.order_by("name", "pk"))
    story.append(_p("Actifs touchés", styles["h2"]))
    if assets:
        rows = [_header_row(["Nom", "Type", "État", "Critique soins", "Notes"], styles)]
        rows += [
            [
                _p(asset.name, styles["cell"]),
                _p(asset.get_kind_display(), styles["cell"]),
                _p(asset.get_state_display(), styles["cell"]),
                _p("oui" if asset.critical_for_care else "non", styles["cell"]),
                _p(asset.notes or "—", styles["cell"]),
            ]
            for asset in assets
        ]
        story.append(_table(rows, [4 * cm, 3 * cm, 2.6 * cm, 2 * cm, 5.4 * cm]))
    else:
        story.append(_p("Aucun actif recensé.", styles["base"]))

    story.append(_p("Preuves et chaîne de conservation", styles["h2"]))
    evidence_list = list(evidence_services.evidence_of(case))
    if not evidence_list:
        story.append(_p("Aucune preuve déposée.", styles["base"]))
    for evidence in evidence_list:
        state = evidence_services.integrity(evidence)
        block = [
            _p(
                f"{evidence.original_name} — {evidence_services.human_size(evidence.size)}",
                ParagraphStyle("ev", parent=styles["base"], fontName=f"{FONT}-Bold"),
            ),
            _key_values(
                [
                    ("SHA-256 de référence", evidence.sha256),
                    ("Description", evidence.description),
                    (
                        "Collectée",
                        f"le {format_datetime(evidence.collected_at)} par "
                        f"{evidence.collected_by_name}",
                    ),
                    ("Origine", evidence.source or "—"),
                    ("Déposée le", format_datetime(evidence.added_at)),
                ],
                styles,
            ),
        ]
        if state.is_altered:
            block.append(
                _p(
                    "EMPREINTE NON CONFORME à la dernière vérification : le fichier conservé "
                    "ne correspond plus à celui déposé.",
                    styles["alert"],
                )
            )
        rows = [_header_row(["Date", "Action", "Personne", "Empreinte constatée"], styles)]
        for entry in evidence.custody.all():
            if entry.hash_matches is None:
                check = entry.sha256 or "—"
            elif entry.hash_matches:
                check = f"{entry.sha256} (conforme)"
            else:
                check = f"{entry.sha256 or 'fichier absent'} (NON CONFORME)"
            note = f"\n{entry.note}" if entry.note else ""
            rows.append(
                [
                    _p(format_datetime(entry.at), styles["cell"]),
                    _p(f"{entry.get_action_display()}{note}", styles["cell"]),
                    _p(entry.actor_name, styles["cell"]),
                    _p(check, styles["mono"]),
                ]
            )
        block += [Spacer(1, 3), _table(rows, [2.8 * cm, 5.2 * cm, 3.2 * cm, 5.8 * cm])]
        story += [KeepTogether(block[:2]), *block[2:], Spacer(1, 8)]
    return story


def report_filename(case: Case, level: Tlp) -> str:
    return f"rapport-{case.reference}-{tlp_file_label(level)}.pdf"
