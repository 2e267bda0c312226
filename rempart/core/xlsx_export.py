"""XLSX downloads built in write-only mode (rows streamed into the workbook, not held as
cells), one sheet per table, safe against formula injection like the CSV exports: text goes
through `csv_export.safe_cell` and is typed as a string; numbers stay numbers."""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterable
from decimal import Decimal

from django.http import HttpResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from .csv_export import safe_cell

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(sheet, value, *, bold: bool = False) -> WriteOnlyCell:
    if isinstance(value, bool):
        value = "oui" if value else "non"
    if isinstance(value, int | float | Decimal | datetime.date):
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, datetime.date):
            cell.number_format = "DD/MM/YYYY"
    else:
        cell = WriteOnlyCell(sheet, value=safe_cell(value))
        cell.data_type = "s"  # never a formula, whatever the text
    if bold:
        cell.font = Font(bold=True)
    return cell


def xlsx_response(
    filename: str, sheets: Iterable[tuple[str, list[str], Iterable[Iterable]]]
) -> HttpResponse:
    """A workbook with one sheet per (title, header, rows); the header in bold."""
    book = Workbook(write_only=True)
    for title, header, rows in sheets:
        sheet = book.create_sheet(title[:31])  # Excel's limit on sheet names
        sheet.append([_cell(sheet, value, bold=True) for value in header])
        for row in rows:
            sheet.append([_cell(sheet, value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
