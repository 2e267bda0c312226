"""Exports of a call's statistics: CSV (every figure, one per line) and XLSX (one sheet per
block: synthèse, montants, dossiers, cibles, calendrier).

Both are safe against formula injection: the CSV through `csv_export.safe_cell`, the XLSX by
writing every text as a string cell (never a formula) marked with a quote prefix, so that
a spreadsheet does not evaluate a name beginning with « = » even once edited.
"""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

from django.http import HttpResponse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import slugify

from rempart.core.csv_export import FORMULA_PREFIXES, csv_response

from . import stats, windows
from .models import ApplicationStatus

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EUR_FORMAT = '#,##0.00 "€"'
PERCENT_FORMAT = '0.0 "%"'
DATE_FORMAT = "dd/mm/yyyy"
EUR = "€"
PCT = "%"
FILES = "dossiers"
ESTABLISHMENTS = "établissements"

STATUS_LABELS = {value: str(label) for value, label in ApplicationStatus.choices}


def _filename(figures: stats.CallStatistics, extension: str) -> str:
    call = figures.call
    return f"statistiques-{slugify(call.domain.code)}-{slugify(call.region.code)}-{call.pk}.{extension}"


# --- The figures, as rows shared by both formats ------------------------------------------------


def summary_rows(figures: stats.CallStatistics) -> list[tuple[str, object, str]]:
    """(indicator, value, unit) of the synthesis: files, establishments, envelope, attainment,
    payments and reports."""
    envelope, attainment = figures.envelope, figures.attainment
    payments, reports = figures.payments, figures.reports
    rows: list[tuple[str, object, str]] = [
        ("Dossiers (tous statuts)", figures.total_files, FILES),
        *[(f"Dossiers — {s.label.lower()}", s.count, FILES) for s in figures.statuses],
        ("Dossiers déposés (hors brouillons)", figures.filed, FILES),
        (
            "Établissements couverts par les dossiers déposés",
            figures.establishments_covered,
            ESTABLISHMENTS,
        ),
        (
            "Établissements couverts par les dossiers acceptés",
            figures.establishments_covered_accepted,
            ESTABLISHMENTS,
        ),
        ("Enveloppe régionale", envelope.envelope, EUR),
        ("Potentiel (plafonds des dossiers déposés)", envelope.potential, EUR),
        ("Engagé (dossiers acceptés)", envelope.engaged, EUR),
        ("Reste à engager", envelope.remaining, EUR),
        ("Engagé / enveloppe", envelope.engaged_percent, PCT),
        ("Potentiel / enveloppe", envelope.potential_percent, PCT),
        ("Engagé / potentiel", envelope.engaged_of_potential_percent, PCT),
        ("Cibles du domaine", attainment.targets, "cibles"),
        ("Dossiers acceptés avec toutes les cibles validées", attainment.full, FILES),
        ("Dossiers acceptés avec une partie des cibles validées", attainment.partial, FILES),
        ("Dossiers acceptés sans cible validée", attainment.none, FILES),
        ("Atteinte complète / dossiers acceptés", attainment.full_percent, PCT),
        ("Demandes de paiement", payments.count, "demandes"),
        *[(f"Paiements — {p.label}", p.count, "demandes") for p in payments.by_status],
        ("Montant demandé (paiements)", payments.requested_total, EUR),
        ("Montant payé", payments.paid_total, EUR),
        ("Bilans financiers déposés", reports.filed, "bilans"),
        *[(f"Bilans — {r.label}", r.count, "bilans") for r in reports.by_status],
        ("Dépenses éligibles déclarées", reports.eligible_costs_total, EUR),
        ("Montant dû (bilans)", reports.amount_due_total, EUR),
        ("Trop-perçu à récupérer", reports.to_recover_total, EUR),
        ("Solde restant à verser", reports.balance_due_total, EUR),
    ]
    return rows


AMOUNT_INDICATORS = [
    ("Nombre", "count", FILES),
    ("Somme", "total", EUR),
    ("Moyenne", "mean", EUR),
    ("Médiane", "median", EUR),
    ("Minimum", "minimum", EUR),
    ("Maximum", "maximum", EUR),
]
AMOUNT_SERIES = [
    ("Plafonds des dossiers déposés", "ceilings"),
    ("Montants engagés des dossiers acceptés", "engaged"),
]
TARGET_HEADER = [
    "Cible",
    "Libellé",
    "Dossiers acceptés",
    "Déclarées, à vérifier",
    "Validées",
    "Non validées",
    "Non déclarées",
    "Taux d'atteinte (%)",
]
CALENDAR_HEADER = [
    "Mois",
    "Dossiers déposés",
    "Décisions",
    "Acceptés",
    "Rejetés",
    "Déclarations de cibles",
]
FILES_HEADER = [
    "Candidat",
    "FINESS",
    "Statut",
    "Plafond (€)",
    "Montant engagé (€)",
    "Établissements couverts",
    "Déposé le",
    "Décidé le",
]


def target_rows(figures: stats.CallStatistics) -> list[list]:
    return [
        [
            t.identifier,
            t.label,
            t.accepted,
            t.declared,
            t.validated,
            t.refused,
            t.not_declared,
            t.rate,
        ]
        for t in figures.targets
    ]


def calendar_rows(figures: stats.CallStatistics) -> list[list]:
    """One row per month active in any of the three series, in order."""
    months = figures.months
    submitted = {m.month: m.count for m in months.submitted}
    decisions = {m.month: m for m in months.decisions}
    declarations = {m.month: m.count for m in months.declarations}
    rows = []
    for month in sorted(set(submitted) | set(decisions) | set(declarations)):
        decided = decisions.get(month)
        rows.append(
            [
                month,
                submitted.get(month, 0),
                decided.count if decided else 0,
                decided.accepted if decided else 0,
                decided.rejected if decided else 0,
                declarations.get(month, 0),
            ]
        )
    return rows


def _local_date(value: datetime.datetime | None) -> datetime.date | None:
    if value is None:
        return None
    return timezone.localtime(value, windows.PARIS).date()


def file_rows(files) -> list[list]:
    return [
        [
            row["applicant__name"],
            row["applicant__finess"] or "",
            STATUS_LABELS.get(row["status"], row["status"]),
            row["ceiling_eur"],
            row["engaged_eur"],
            row["covered_count"],
            _local_date(row["submitted_at"]),
            _local_date(row["decided_at"]),
        ]
        for row in files
    ]


def _month_label(month: datetime.date) -> str:
    return f"{windows.MONTHS[month.month - 1]} {month.year}"


# --- CSV ------------------------------------------------------------------------------------------


def _csv_value(value) -> str:
    """French spreadsheet conventions: decimal comma, no thousands separator, dates dd/mm/yyyy."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}".replace(".", ",")
    if isinstance(value, datetime.date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def statistics_csv(figures: stats.CallStatistics):
    """Every figure of the page, one per line: section; indicator; value; unit."""
    rows: list[list] = [
        ["Synthèse", label, _csv_value(value), unit] for label, value, unit in summary_rows(figures)
    ]
    for series_label, attribute in AMOUNT_SERIES:
        series = getattr(figures, attribute)
        for label, key, unit in AMOUNT_INDICATORS:
            rows.append(
                [
                    "Montants",
                    f"{series_label} — {label.lower()}",
                    _csv_value(getattr(series, key)),
                    unit,
                ]
            )
    for target in figures.targets:
        prefix = f"{target.identifier}"
        rows += [
            ["Cibles", f"{prefix} — déclarées, à vérifier", target.declared, FILES],
            ["Cibles", f"{prefix} — validées", target.validated, FILES],
            ["Cibles", f"{prefix} — non validées", target.refused, FILES],
            ["Cibles", f"{prefix} — non déclarées", target.not_declared, FILES],
            ["Cibles", f"{prefix} — taux d'atteinte", _csv_value(target.rate), PCT],
        ]
    for month, submitted, decided, accepted, rejected, declared in calendar_rows(figures):
        label = _month_label(month)
        rows += [
            ["Calendrier", f"{label} — dossiers déposés", submitted, FILES],
            ["Calendrier", f"{label} — décisions", decided, FILES],
            ["Calendrier", f"{label} — dossiers acceptés", accepted, FILES],
            ["Calendrier", f"{label} — dossiers rejetés", rejected, FILES],
            ["Calendrier", f"{label} — déclarations de cibles", declared, "déclarations"],
        ]
    return csv_response(
        _filename(figures, "csv"), ["Rubrique", "Indicateur", "Valeur", "Unité"], rows
    )


# --- XLSX -----------------------------------------------------------------------------------------


def _put(sheet, row: int, column: int, value, number_format: str | None = None):
    """Write one cell: text never becomes a formula."""
    cell = sheet.cell(row=row, column=column)
    if value is None:
        return cell
    if isinstance(value, Promise):  # a lazy translation
        value = str(value)
    if isinstance(value, str):
        cell.value = value
        cell.data_type = "s"  # openpyxl would otherwise read « =… » as a formula
        if value.startswith(FORMULA_PREFIXES):
            cell.quotePrefix = True
        return cell
    if isinstance(value, datetime.datetime):
        value = _local_date(value)
    cell.value = value
    if number_format:
        cell.number_format = number_format
    elif isinstance(value, datetime.date):
        cell.number_format = DATE_FORMAT
    return cell


def _sheet(workbook, title: str, header: list[str], rows: list[list], formats: dict[int, str]):
    from openpyxl.styles import Font

    sheet = workbook.create_sheet(title)
    bold = Font(bold=True)
    for column, label in enumerate(header, start=1):
        _put(sheet, 1, column, label).font = bold
    for r, values in enumerate(rows, start=2):
        for column, value in enumerate(values, start=1):
            _put(sheet, r, column, value, formats.get(column))
    for column, label in enumerate(header, start=1):
        letter = sheet.cell(row=1, column=column).column_letter
        sheet.column_dimensions[letter].width = max(12, min(60, len(label) + 4))
    sheet.freeze_panes = "A2"
    return sheet


def _unit_format(unit: str) -> str | None:
    return {EUR: EUR_FORMAT, PCT: PERCENT_FORMAT}.get(unit)


def statistics_xlsx(figures: stats.CallStatistics, files) -> HttpResponse:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    call = figures.call
    synthesis = [
        ["Appel", call.title, ""],
        ["Région", call.region.name, ""],
        ["Domaine", f"{call.domain.code} — {call.domain.title}", ""],
        ["Situation au", timezone.localtime(figures.computed_at, windows.PARIS).date(), ""],
        *[[label, value, unit] for label, value, unit in summary_rows(figures)],
    ]
    sheet = _sheet(workbook, "Synthèse", ["Indicateur", "Valeur", "Unité"], [], {})
    for r, (label, value, unit) in enumerate(synthesis, start=2):
        _put(sheet, r, 1, label)
        _put(sheet, r, 2, value, _unit_format(unit))
        _put(sheet, r, 3, unit)
    sheet.column_dimensions["A"].width = 55
    sheet.column_dimensions["B"].width = 40

    amounts = [
        [label, *[getattr(getattr(figures, attribute), key) for _s, attribute in AMOUNT_SERIES]]
        for label, key, _unit in AMOUNT_INDICATORS
    ]
    sheet = _sheet(
        workbook,
        "Montants",
        ["Indicateur", *[label for label, _a in AMOUNT_SERIES]],
        [],
        {},
    )
    for r, values in enumerate(amounts, start=2):
        _put(sheet, r, 1, values[0])
        for column, value in enumerate(values[1:], start=2):
            _put(sheet, r, column, value, None if r == 2 else EUR_FORMAT)
    sheet.column_dimensions["A"].width = 20
    sheet.column_dimensions["B"].width = 34
    sheet.column_dimensions["C"].width = 40

    _sheet(workbook, "Dossiers", FILES_HEADER, file_rows(files), {4: EUR_FORMAT, 5: EUR_FORMAT})
    _sheet(workbook, "Cibles", TARGET_HEADER, target_rows(figures), {8: "0.0"})
    _sheet(
        workbook,
        "Calendrier",
        CALENDAR_HEADER,
        [[_month_label(row[0]), *row[1:]] for row in calendar_rows(figures)],
        {},
    )
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{_filename(figures, "xlsx")}"'
    return response
