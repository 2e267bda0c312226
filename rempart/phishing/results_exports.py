"""CSV and XLSX exports of phishing results. The same visibility as the pages (the views check
it before calling): the figures for every viewer, the per-recipient rows only for those who
may see them. Every text cell goes through `safe_cell` (formula injection: a department named
« =HYPERLINK(…) » stays text); XLSX text cells are also typed as strings."""

from __future__ import annotations

import io
import re

from django.http import HttpResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from rempart.core.csv_export import csv_response, safe_cell

from . import results

FIGURES_HEADER = ["Rubrique", "Indicateur", "Valeur brute", "Valeur hors robots", "Unité"]
RECIPIENTS_HEADER = [
    "Prénom",
    "Nom",
    "E-mail",
    "Service",
    "Envoi",
    "Envoyé le",
    "Ouvert le",
    "Cliqué le",
    "Formulaire soumis le",
    "Signalé le",
    "Robot suspecté",
]
REGIONAL_HEADER = [
    "Ligne",
    "Structures",
    "Envoyés",
    "Ouverts (%)",
    "Cliqués (%)",
    "Formulaires soumis (%)",
    "Signalés (%)",
    "Signalés sans clic (%)",
    "Ouverts hors robots (%)",
    "Cliqués hors robots (%)",
    "Formulaires soumis hors robots (%)",
    "Signalés hors robots (%)",
]


def _number(value) -> str:
    if value is None:
        return ""
    return str(value).replace(".", ",")


def _moment(value) -> str:
    return "" if value is None else f"{timezone.localtime(value):%d/%m/%Y %H:%M:%S}"


def _minutes(delta) -> str:
    return "" if delta is None else _number(round(delta.total_seconds() / 60, 1))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "campagne"


def _funnel_rows(section: str, raw: results.Funnel, filtered: results.Funnel) -> list[list]:
    rows = [[section, "Destinataires", raw.recipients, filtered.recipients, "personnes"]]
    for name, label in results.STEPS:
        rows.append([section, label, getattr(raw, name), getattr(filtered, name), "personnes"])
        if name != "sent":
            rows.append(
                [
                    section,
                    f"{label} — taux",
                    _number(getattr(raw, f"{name}_rate")),
                    _number(getattr(filtered, f"{name}_rate")),
                    "% des envoyés",
                ]
            )
    return rows


def figure_rows(figures: results.CampaignResults) -> list[list]:
    """Every figure of the results page (no individual)."""
    c = figures.campaign
    rows: list[list] = [
        ["Campagne", "Nom", c.name, "", ""],
        ["Campagne", "Structure ciblée", c.organisation.name, "", ""],
        ["Campagne", "État", c.get_status_display(), "", ""],
        ["Campagne", "Premier envoi", _moment(figures.first_sent), "", ""],
    ]
    rows += _funnel_rows("Entonnoir", figures.raw, figures.filtered)
    rows.append(
        [
            "Signalements",
            "Délai du premier signalement après le premier envoi",
            _minutes(figures.time_to_first_report),
            _minutes(figures.time_to_first_report_filtered),
            "minutes",
        ]
    )
    lines = [*figures.departments, *([figures.others] if figures.others else [])]
    for row in lines:
        rows += _funnel_rows(f"Service : {row.label}", row.raw, row.filtered)
    if figures.departments_hidden:
        rows.append(["Services", "Détail par service", "masqué (moins de 5 personnes)", "", ""])
    unit = "heure" if figures.timeline.hourly else "jour"
    for bucket in figures.timeline.buckets:
        for kind, label in (
            ("opened", "ouvertures"),
            ("clicked", "clics"),
            ("submitted", "formulaires soumis"),
            ("reported", "signalements"),
        ):
            rows.append(
                [
                    f"Chronologie ({unit})",
                    f"{bucket.label} — {label}",
                    bucket.raw[kind],
                    bucket.filtered[kind],
                    "événements",
                ]
            )
    region = figures.region
    if region.available:
        rows += _funnel_rows(
            f"Région ({region.organisations} structures, {region.campaigns} campagnes)",
            region.raw,
            region.filtered,
        )
    else:
        rows.append(
            [
                "Région",
                "Comparaison",
                f"indisponible : {region.finished} structure(s), il en faut {results.MIN_GROUP}",
                "",
                "",
            ]
        )
    return rows


def _recipient_cells(line: results.RecipientLine) -> list:
    bots = [k for k, step in line.steps.items() if step is not None and step.bot_only]
    return [
        line.first_name,
        line.last_name,
        line.email,
        line.department,
        line.send_status_label,
        _moment(line.sent_at),
        *(_moment(step.at if step else None) for step in line.steps.values()),
        ", ".join(bots),
    ]


def figures_csv(figures: results.CampaignResults):
    name = f"resultats-{figures.campaign.pk}-{_slug(figures.campaign.name)}.csv"
    return csv_response(name, FIGURES_HEADER, figure_rows(figures))


def recipients_csv(campaign):
    name = f"destinataires-{campaign.pk}-{_slug(campaign.name)}.csv"
    lines = results.iter_recipient_lines(results.recipient_rows(campaign))
    return csv_response(name, RECIPIENTS_HEADER, (_recipient_cells(line) for line in lines))


def _sheet_row(sheet, values):
    cells = []
    for value in values:
        if isinstance(value, int | float):
            cells.append(WriteOnlyCell(sheet, value=value))
            continue
        cell = WriteOnlyCell(sheet, value=safe_cell(value))
        cell.data_type = "s"  # never a formula, whatever the text
        cells.append(cell)
    sheet.append(cells)


def results_xlsx(figures: results.CampaignResults, *, with_recipients: bool) -> HttpResponse:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Résultats")
    _sheet_row(sheet, FIGURES_HEADER)
    for row in figure_rows(figures):
        _sheet_row(sheet, row)
    if with_recipients:
        people = book.create_sheet("Destinataires")
        _sheet_row(people, RECIPIENTS_HEADER)
        for line in results.iter_recipient_lines(results.recipient_rows(figures.campaign)):
            _sheet_row(people, _recipient_cells(line))
    buffer = io.BytesIO()
    book.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    name = f"resultats-{figures.campaign.pk}-{_slug(figures.campaign.name)}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def regional_rows(figures: results.RegionalFigures) -> list[list]:
    if not figures.available:
        return [
            [
                f"indisponible : {figures.organisations} structure(s), il en faut "
                f"{results.MIN_GROUP}",
                figures.organisations,
                *[""] * (len(REGIONAL_HEADER) - 2),
            ]
        ]
    lines = [figures.total, *figures.categories, *([figures.others] if figures.others else [])]
    rows = []
    for row in lines:
        raw, human = row.raw, row.filtered
        rows.append(
            [
                row.label,
                row.organisations,
                raw.sent,
                _number(raw.opened_rate),
                _number(raw.clicked_rate),
                _number(raw.submitted_rate),
                _number(raw.reported_rate),
                _number(raw.reported_without_click_rate),
                _number(human.opened_rate),
                _number(human.clicked_rate),
                _number(human.submitted_rate),
                _number(human.reported_rate),
            ]
        )
    return rows


def regional_csv(figures: results.RegionalFigures):
    name = f"hameconnage-region-{_slug(figures.region.name)}.csv"
    return csv_response(name, REGIONAL_HEADER, regional_rows(figures))
