"""Reading a CSV of recipients: `email;prenom;nom;service;fonction`.

Separator `;` or `,`; UTF-8 with or without BOM, or Windows-1252 (what Excel writes in
France). A header line is recognised by its names (in any order; `e-mail`, `courriel`,
`prénom`, `département`… accepted); without one, the columns are taken in the order above.
Each broken line is reported with its number and the reasons; the good lines are returned,
ready to import. Pure function: nothing is written here.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from rempart.core.errors import DomainError

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
COLUMNS = ("email", "first_name", "last_name", "department", "position")
MAX_LENGTHS = {
    "email": 254,
    "first_name": 100,
    "last_name": 100,
    "department": 150,
    "position": 150,
}
LABELS = {
    "email": "e-mail",
    "first_name": "prénom",
    "last_name": "nom",
    "department": "service",
    "position": "fonction",
}
HEADER_NAMES = {
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "courriel": "email",
    "adresse e-mail": "email",
    "adresse email": "email",
    "prenom": "first_name",
    "nom": "last_name",
    "nom de famille": "last_name",
    "service": "department",
    "departement": "department",
    "pole": "department",
    "fonction": "position",
    "poste": "position",
    "metier": "position",
}


@dataclass
class ParseResult:
    encoding: str
    delimiter: str
    lines_read: int = 0
    rows: list[dict[str, str]] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in folded if not unicodedata.combining(c))


def decode(content: bytes) -> tuple[str, str]:
    """(text, encoding name shown to the user)."""
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="replace"), "UTF-8 (BOM)"
    try:
        return content.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace"), "Windows-1252"


def _delimiter(first_line: str) -> str:
    return "," if first_line.count(",") > first_line.count(";") else ";"


def _header(cells: list[str]) -> list[str | None] | None:
    """The column of each cell when the line is a header, else None."""
    mapped = [HEADER_NAMES.get(_plain(cell)) for cell in cells]
    return mapped if "email" in mapped else None


def parse_recipients(content: bytes) -> ParseResult:
    if len(content) > MAX_BYTES:
        raise DomainError(
            f"Le fichier dépasse {MAX_BYTES // (1024 * 1024)} Mo : découpez-le en plusieurs "
            "fichiers.",
            field="file",
        )
    text, encoding = decode(content)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    if not first:
        raise DomainError("Le fichier est vide.", field="file")
    delimiter = _delimiter(first)
    result = ParseResult(encoding=encoding, delimiter=delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns: list[str | None] = list(COLUMNS)
    seen: dict[str, int] = {}
    header_done = False
    try:
        for cells in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if not header_done:
                header_done = True
                mapped = _header(cells)
                if mapped is not None:
                    columns = mapped
                    continue
            result.lines_read += 1
            if result.lines_read > MAX_ROWS:
                raise DomainError(
                    f"Le fichier dépasse {MAX_ROWS} lignes : découpez-le en plusieurs fichiers.",
                    field="file",
                )
            _read_row(cells, number, columns, seen, result)
    except csv.Error as exc:
        raise DomainError(
            f"Le fichier n'est pas un CSV lisible (ligne {reader.line_num}) : vérifiez les "
            "guillemets et le séparateur.",
            field="file",
        ) from exc
    return result


def _read_row(cells, number, columns, seen, result: ParseResult) -> None:
    row = dict.fromkeys(COLUMNS, "")
    for column, cell in zip(columns, cells, strict=False):
        if column is not None:
            row[column] = cell.strip()
    row["email"] = row["email"].lower()
    reasons = []
    email = row["email"]
    if not email:
        reasons.append("e-mail manquant")
    else:
        try:
            validate_email(email)
        except ValidationError:
            reasons.append("e-mail invalide")
    for column, limit in MAX_LENGTHS.items():
        if len(row[column]) > limit:
            reasons.append(f"{LABELS[column]} trop long ({limit} caractères au plus)")
    if email and not reasons:
        if email in seen:
            reasons.append(f"en double dans le fichier (déjà ligne {seen[email]})")
        else:
            seen[email] = number
    if reasons:
        result.rejections.append({"line": number, "email": email[:254], "reasons": reasons})
    else:
        result.rows.append(row)
