"""The FINESS registry import: read a FINESS extract, upsert establishments and legal entities.

Why it is built this way:
- A file is applied in ONE transaction: it is imported whole or not at all, and a crash
  mid-way leaves the registry as it was (the run is then marked failed with the reason).
- The file is streamed twice (legal-entity lines first, so establishments get their legal
  entity's status whatever the order of the lines) and written in batches of BATCH_SIZE lines:
  one query fetches the organisations already known, bulk_create / bulk_update write them.
  Memory stays bounded by the batch, plus one small entry per FINESS number seen (duplicates).
- Bulk writes do not fire django-auditlog's signals, so the audit entries (create / update,
  before/after values, actor, organisation) are written here, in the same shape as the
  signal-made ones.
- Every refused line is reported with its line number, FINESS number and a French reason;
  the other lines go on. Only a file that is not a FINESS extract at all stops the run.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import functools
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from auditlog.cid import get_cid
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connection, models, transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.encoding import smart_str

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.core.roles import ORG_KIND_LABELS, Capability, OrgKind

from . import perms
from .finess import finess_error
from .models import (
    Departement,
    FinessCategory,
    FinessImport,
    LegalStatus,
    Organisation,
    Region,
    Sector,
)

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
BATCH_SIZE = 2000
MAX_UPLOAD_BYTES = getattr(settings, "FINESS_IMPORT_MAX_BYTES", 200 * 1024 * 1024)
ACCEPTED_EXTENSIONS = (".csv", ".txt")
# A run still "running" after this long was abandoned by a dead worker: it may be claimed again
# (its transaction was rolled back with the worker, so nothing was half-written).
STALE_RUN_AFTER = datetime.timedelta(hours=2)
PROGRESS_CACHE_KEY = "rempart:finess-import-progress:{}"

# The establishment extract ("structureet" lines): 32 fields, in this order.
ET_FIELDS = (
    "structureet", "nofinesset", "nofinessej", "rs", "rslongue", "complrs", "compldistrib", "numvoie",
    "typvoie", "voie", "compvoie", "lieuditbp", "commune", "departement", "libdepartement",
    "ligneacheminement", "telephone", "telecopie", "categetab", "libcategetab", "categagretab",
    "libcategagretab", "siret", "codeape", "codemft", "libmft", "codesph", "libsph", "dateouv",
    "dateautor", "datemaj", "numuai",
)  # fmt: skip
# The legal-entity extract ("structureej" lines): 23 fields, in this order.
EJ_FIELDS = (
    "structureej", "nofinessej", "rs", "rslongue", "complrs", "numvoie", "typvoie", "voie", "compvoie",
    "compldistrib", "lieuditbp", "commune", "ligneacheminement", "departement", "libdepartement",
    "telephone", "statutjuridique", "libstatutjuridique", "categetab", "libcategetab", "siren",
    "codeape", "datecrea",
)  # fmt: skip
ET = {name: index for index, name in enumerate(ET_FIELDS)}
EJ = {name: index for index, name in enumerate(EJ_FIELDS)}

DATE_COLUMNS = {
    "dateouv": ("opened_on", "date d'ouverture"),
    "dateautor": ("authorised_on", "date d'autorisation"),
    "datemaj": ("finess_updated_on", "date de mise à jour"),
}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ROUTING_RE = re.compile(r"^(\d{5})\s+(.+)$")
_CEDEX_RE = re.compile(r"\s+CEDEX(\s+\d+)?$", re.IGNORECASE)
_BINARY_SIGNATURES = {
    b"PK\x03\x04": "une archive ZIP (ou un classeur Excel / OpenDocument) : décompressez-la ou "
    "exportez le fichier au format CSV, puis importez le fichier CSV",
    b"%PDF": "un document PDF",
    b"\x1f\x8b": "une archive compressée (gzip) : décompressez-la puis importez le fichier CSV",
    b"\xd0\xcf\x11\xe0": "un document Office ancien format (par exemple Excel .xls) : exportez-le en CSV",
}


class FinessFileError(DomainError):
    """The file as a whole cannot be imported: nothing is written."""

    def __init__(self, message: str):
        super().__init__(message, code="finess_file_invalid")


class ReferenceDataError(DomainError):
    """A reference-data YAML file is malformed."""

    def __init__(self, message: str):
        super().__init__(message, code="reference_data_invalid")


class _Reject(Exception):
    """One line is refused; the import of the others goes on."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Reference data (regions, départements, FINESS categories, legal statuses)
# --------------------------------------------------------------------------------------------


def _read_yaml(name: str) -> dict:
    path = DATA_DIR / name
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise ReferenceDataError(f"Le fichier de référence {name} est illisible : {exc}") from exc
    if not isinstance(data, dict):
        raise ReferenceDataError(
            f"Le fichier de référence {name} doit contenir un dictionnaire YAML."
        )
    return data


def _require(entry: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(entry, dict):
        raise ReferenceDataError(f"{where} : chaque entrée doit être un dictionnaire.")
    for key in keys:
        if not str(entry.get(key) or "").strip():
            raise ReferenceDataError(f"{where} : le champ « {key} » est obligatoire ({entry}).")


def reference_departements() -> list[dict]:
    """The départements of departements.yaml, validated."""
    entries = _read_yaml("departements.yaml").get("departements") or []
    seen: set[str] = set()
    region_names: dict[str, str] = {}
    for entry in entries:
        _require(entry, ("code", "name", "region", "region_name"), "departements.yaml")
        code = str(entry["code"])
        if code in seen:
            raise ReferenceDataError(f"departements.yaml : le département {code} figure deux fois.")
        seen.add(code)
        region = str(entry["region"])
        if region_names.setdefault(region, entry["region_name"]) != entry["region_name"]:
            raise ReferenceDataError(
                f"departements.yaml : la région {region} porte deux noms différents."
            )
    return entries


def reference_categories() -> list[dict]:
    """The categories of finess_categories.yaml, validated."""
    entries = _read_yaml("finess_categories.yaml").get("categories") or []
    seen: set[str] = set()
    for entry in entries:
        _require(entry, ("code", "label", "sector"), "finess_categories.yaml")
        code = str(entry["code"])
        if code in seen:
            raise ReferenceDataError(
                f"finess_categories.yaml : la catégorie {code} figure deux fois."
            )
        seen.add(code)
        if entry["sector"] not in Sector.values:
            raise ReferenceDataError(
                f"finess_categories.yaml : secteur « {entry['sector']} » invalide pour la catégorie {code} "
                f"(valeurs possibles : {', '.join(Sector.values)})."
            )
        status = entry.get("default_legal_status") or ""
        if status and status not in LegalStatus.values:
            raise ReferenceDataError(
                f"finess_categories.yaml : statut par défaut « {status} » invalide pour la catégorie {code}."
            )
    return entries


@functools.cache
def _legal_status_table() -> tuple[int, frozenset[str], frozenset[str]]:
    data = _read_yaml("finess_legal_statuses.yaml")
    try:
        public_max = int(data["public_max_code"])
        non_profit = frozenset(str(c).zfill(2) for c in data["prive_non_lucratif"])
        for_profit = frozenset(str(c).zfill(2) for c in data["prive_lucratif"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ReferenceDataError(f"finess_legal_statuses.yaml est mal formé : {exc}") from exc
    return public_max, non_profit, for_profit


def legal_status_from_code(code: str) -> str:
    """Rempart's legal status for a FINESS `statutjuridique` code; blank when the table does not say."""
    code = (code or "").strip()
    if not code.isdigit():
        return ""
    public_max, non_profit, for_profit = _legal_status_table()
    code = code.zfill(2)
    if code in non_profit:
        return LegalStatus.PRIVATE_NON_PROFIT
    if code in for_profit:
        return LegalStatus.PRIVATE_FOR_PROFIT
    if 1 <= int(code) <= public_max:
        return LegalStatus.PUBLIC
    return ""


def _sync(model, code: str, values: dict[str, Any], existing: dict[str, Any]) -> str:
    """Create or update one reference row through save(), so the audit trail records it."""
    obj = existing.get(code)
    if obj is None:
        model.objects.create(code=code, **values)
        return "created"
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if not changed:
        return "unchanged"
    for name in changed:
        setattr(obj, name, values[name])
    obj.save(update_fields=changed)
    return "updated"


def load_reference_data() -> dict[str, dict[str, int]]:
    """Load regions, départements and FINESS categories from the YAML files. Idempotent."""
    departements = reference_departements()
    categories = reference_categories()
    counts = {
        kind: {"created": 0, "updated": 0, "unchanged": 0}
        for kind in ("regions", "departements", "categories")
    }
    with transaction.atomic():
        regions = {r.code: r for r in Region.objects.all()}
        for code, name in {str(d["region"]): d["region_name"] for d in departements}.items():
            counts["regions"][_sync(Region, code, {"name": name}, regions)] += 1
        regions = {r.code: r for r in Region.objects.all()}
        existing_depts = {d.code: d for d in Departement.objects.all()}
        for entry in departements:
            values = {"name": entry["name"], "region_id": regions[str(entry["region"])].pk}
            counts["departements"][
                _sync(Departement, str(entry["code"]), values, existing_depts)
            ] += 1
        existing_cats = {c.code: c for c in FinessCategory.objects.all()}
        for entry in categories:
            values = {
                "label": entry["label"],
                "sector": entry["sector"],
                "default_legal_status": entry.get("default_legal_status") or "",
                "imported": bool(entry.get("imported", True)),
            }
            counts["categories"][
                _sync(FinessCategory, str(entry["code"]), values, existing_cats)
            ] += 1
    return counts


def ensure_reference_data() -> bool:
    """Load the reference data when one of its tables is still empty. True if it was loaded."""
    if Region.objects.exists() and Departement.objects.exists() and FinessCategory.objects.exists():
        return False
    load_reference_data()
    return True


@functools.cache
def _finess_departement_aliases() -> dict[str, str]:
    """FINESS writes overseas départements 9A…9F; map them to the INSEE codes."""
    return {
        str(d["finess_code"]): str(d["code"])
        for d in reference_departements()
        if d.get("finess_code")
    }


# --------------------------------------------------------------------------------------------
# Who may import, and which runs they see
# --------------------------------------------------------------------------------------------


def import_region_ids(user) -> set[int] | None:
    """Regions where `user` may import (None: every region). Empty set: nowhere."""
    return perms.capability_regions(user, Capability.IMPORT_FINESS)


def import_scope_label(user) -> str:
    """The regions where `user` imports, in words (shown next to the upload form)."""
    region_ids = import_region_ids(user)
    if region_ids is None:
        return "toutes les régions"
    names = Region.objects.filter(pk__in=region_ids).order_by("name").values_list("name", flat=True)
    return ", ".join(names) or "aucune région"


def visible_imports(user) -> QuerySet[FinessImport]:
    """Runs the user may read: those of their region(s), and the national ones (command line)."""
    if not perms.can_import_finess(user):
        return FinessImport.objects.none()
    qs = FinessImport.objects.select_related("uploaded_by").prefetch_related("regions")
    region_ids = import_region_ids(user)
    if region_ids is None:
        return qs
    scoped = FinessImport.objects.filter(
        Q(regions__in=region_ids) | Q(regions__isnull=True)
    ).values("pk")
    return qs.filter(pk__in=scoped)


def get_visible_import(user, pk) -> FinessImport:
    try:
        return visible_imports(user).get(pk=pk)
    except (FinessImport.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Import introuvable.") from exc


def import_progress(finess_import: FinessImport) -> dict | None:
    """Lines handled so far by a running import (reported through the cache, outside its transaction)."""
    return cache.get(PROGRESS_CACHE_KEY.format(finess_import.pk))


# --------------------------------------------------------------------------------------------
# Reading the file
# --------------------------------------------------------------------------------------------

OpenFile = Callable[[], IO[bytes]]


@dataclass
class _Decoder:
    """Decodes line by line: UTF-8 first, Windows-1252 / ISO-8859-1 when a line is not UTF-8."""

    fallback_used: bool = False

    def __call__(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.fallback_used = True
            try:
                return raw.decode("cp1252")
            except UnicodeDecodeError:
                return raw.decode("latin-1")

    @property
    def label(self) -> str:
        return "ISO-8859-1" if self.fallback_used else "UTF-8"


def sniff_file_start(head: bytes) -> str | None:
    """A French reason if the first bytes show this is not a text FINESS extract, else None."""
    if not head.strip():
        return "Le fichier est vide : déposez l'extraction FINESS complète."
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            return (
                f"Ce fichier est {what}. L'import attend l'extraction FINESS au format texte (CSV)."
            )
    if b"\x00" in head:
        return (
            "Ce fichier contient des données binaires : ce n'est pas une extraction FINESS au format texte "
            "(CSV séparé par des points-virgules)."
        )
    first_line = head.split(b"\n", 1)[0]
    if b";" not in first_line:
        return (
            "Ce fichier ne ressemble pas à une extraction FINESS : ses champs doivent être séparés par des "
            "points-virgules (première ligne « finess;… » puis des lignes « structureet;… »)."
        )
    return None


def _split(text: str) -> list[str]:
    # Plain lines are split directly; a line with quotes goes through the csv module, one line at a
    # time so that a stray quote can only spoil its own line (which is then rejected).
    if '"' not in text:
        return text.split(";")
    try:
        return next(csv.reader((text,), delimiter=";", quotechar='"', strict=False))
    except (csv.Error, StopIteration):
        return text.split(";")


def _rows(open_file: OpenFile, decoder: _Decoder) -> Iterator[tuple[int, list[str] | None]]:
    """(line number, fields) for every line; fields is None for a blank line."""
    with open_file() as fh:
        for line_no, raw in enumerate(fh, start=1):
            if b"\x00" in raw:
                raise FinessFileError(
                    f"La ligne {line_no} contient des données binaires : ce fichier n'est pas une extraction "
                    "FINESS au format texte. Aucune modification n'a été enregistrée."
                )
            text = decoder(raw)
            if line_no == 1:
                text = text.lstrip("\ufeff")
            text = text.rstrip("\r\n")
            yield line_no, (_split(text) if text.strip() else None)


# --------------------------------------------------------------------------------------------
# The import itself
# --------------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    lines_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    out_of_region: int = 0
    out_of_scope: int = 0
    ignored: int = 0
    legal_entities_created: int = 0
    rejections: list[dict] = field(default_factory=list)
    encoding: str = "UTF-8"
    header: str = ""

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    def reject(self, line: int, finess: str, reason: str) -> None:
        self.rejections.append({"line": line, "finess": finess, "reason": reason})


@dataclass
class _Line:
    line: int
    finess: str
    values: dict[str, Any]
    ej: str = ""
    default_status: str = ""


def _clip(value: str, model_field: str) -> str:
    return value[: Organisation._meta.get_field(model_field).max_length]


def _address(
    numvoie: str, compvoie: str, typvoie: str, voie: str, compldistrib: str, lieuditbp: str
) -> str:
    street = " ".join(part for part in (numvoie, compvoie, typvoie, voie) if part)
    return ", ".join(part for part in (compldistrib, street, lieuditbp) if part)


def _routing(ligne: str) -> tuple[str, str]:
    """Postal code and commune from a FINESS routing line, e.g. "69003 LYON 3E" or "01117 OYONNAX CEDEX"."""
    match = _ROUTING_RE.match(ligne)
    if not match:
        return "", ligne
    return match.group(1), _CEDEX_RE.sub("", match.group(2)).strip()


def _parse_date(value: str, column: str) -> datetime.date | None:
    if not value:
        return None
    if _DATE_RE.match(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    label = DATE_COLUMNS[column][1]
    raise _Reject(
        f"{label.capitalize()} ({column}) « {value} » invalide : le format attendu est AAAA-MM-JJ."
    )


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _placeholder_name(ej: str) -> str:
    return f"Entité juridique {ej}"


# Columns loaded for the organisations a batch touches: enough to decide, compare and audit.
_MANAGED_COLUMNS = (
    "name", "address", "postal_code", "commune", "phone", "siret", "ape_code", "mft_code", "mft_label",
    "sph_code", "sph_label", "opened_on", "authorised_on", "finess_updated_on", "category_id", "sector",
    "region_id", "departement_id", "legal_entity_id", "legal_status",
)  # fmt: skip
_KNOWN_COLUMNS = ("pk", "finess", "kind", *_MANAGED_COLUMNS)
_FIELD_NAMES = {f.attname: f.name for f in Organisation._meta.concrete_fields}
_PASSTHROUGH_FIELDS = (
    models.CharField, models.TextField, models.BooleanField, models.IntegerField, models.ForeignKey,
)  # fmt: skip


def _column_preps(model) -> list[tuple[models.Field, Callable[[Any], Any]]]:
    """(field, value adapter) for each column written by `_bulk_insert`: plain values pass as they
    are, dates, decimals and JSON go through the backend's own adapters."""
    ops = connection.ops
    preps = []
    for model_field in model._meta.concrete_fields:
        if isinstance(model_field, models.AutoField):
            continue
        if isinstance(model_field, models.DateTimeField):
            prep = _last_value_memo(ops.adapt_datetimefield_value)
        elif isinstance(model_field, models.DateField):
            prep = ops.adapt_datefield_value
        elif isinstance(model_field, _PASSTHROUGH_FIELDS) and not isinstance(
            model_field, models.JSONField
        ):
            prep = None
        else:
            prep = functools.partial(_prep_with_field, model_field)
        preps.append((model_field, prep))
    return preps


def _prep_with_field(model_field, value):
    return model_field.get_db_prep_save(value, connection)


def _last_value_memo(adapter):
    """A run stamps every row with the same datetime: adapt it once."""
    last: list = [object(), None]

    def adapt(value):
        if value is not last[0]:
            last[0], last[1] = value, adapter(value)
        return last[1]

    return adapt


def _row_template(model) -> dict[str, Any]:
    """Every column's default, so rows can be built as plain dicts (model instances cost more)."""
    return {
        f.attname: f.get_default()
        for f in model._meta.concrete_fields
        if not isinstance(f, models.AutoField)
    }


def _bulk_insert(model, objs: list[dict[str, Any]]) -> None:
    """Write rows in bulk without the ORM's value-by-value compilation, which costs ten times more
    for wide rows: COPY on PostgreSQL, multi-row INSERT statements
    elsewhere. No primary keys come back (callers read them by FINESS number)."""
    if not objs:
        return
    if connection.vendor == "postgresql":
        _copy_rows(model, objs)
        return
    preps = _column_preps(model)
    template = _row_template(model)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f, _prep in preps)
    row_sql = "(" + ", ".join(["%s"] * len(preps)) + ")"
    limit = connection.features.max_query_params or 999
    rows_per_statement = max(1, min(500, limit // len(preps)))
    with connection.cursor() as cursor:
        for start in range(0, len(objs), rows_per_statement):
            chunk = objs[start : start + rows_per_statement]
            params = []
            for obj in chunk:
                row = {**template, **obj}
                for model_field, prep in preps:
                    value = row[model_field.attname]
                    params.append(value if prep is None else prep(value))
            # Identifiers come from the model's metadata; every value is a bound parameter.
            sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "  # noqa: S608
            sql += ", ".join([row_sql] * len(chunk))
            cursor.execute(sql, params)


def _copy_rows(model, objs: list) -> None:
    """PostgreSQL's COPY: psycopg adapts Python values itself; JSON goes as its text."""
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    json_fields = {f.attname: f.encoder for f in fields if isinstance(f, models.JSONField)}
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    template = _row_template(model)
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for obj in objs:
            values = {**template, **obj}
            row = []
            for model_field in fields:
                value = values[model_field.attname]
                if model_field.attname in json_fields and value is not None:
                    value = json.dumps(value, cls=json_fields[model_field.attname])
                row.append(value)
            copy.write_row(row)


def _bulk_update(
    model, rows: list[tuple[int, dict[str, tuple[Any, Any]]]], now: datetime.datetime
) -> None:
    """UPDATE the changed columns of each row and its `updated_at`, rows grouped by the set of
    columns they change: through a COPY-filled temporary table on PostgreSQL (one statement per
    group), one prepared statement run for every row (executemany) elsewhere."""
    groups: dict[tuple[str, ...], list[tuple[int, dict]]] = {}
    for pk, diff in rows:
        groups.setdefault(tuple(sorted(diff)), []).append((pk, diff))
    for attnames, items in groups.items():
        if connection.vendor == "postgresql":
            _update_through_copy(model, attnames, items, now)
        else:
            _update_each_row(model, attnames, items, now)


def _update_each_row(model, attnames: tuple[str, ...], items: list[tuple[int, dict]], now) -> None:
    quote = connection.ops.quote_name
    preps = {f.attname: (f, prep) for f, prep in _column_preps(model)}
    updated_at = connection.ops.adapt_datetimefield_value(now)
    assignments = ", ".join(f"{quote(preps[a][0].column)} = %s" for a in attnames)
    # Identifiers come from the model's metadata; every value is a bound parameter.
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments}, {quote('updated_at')} = %s "  # noqa: S608
    sql += f"WHERE {quote(model._meta.pk.column)} = %s"
    params = []
    for pk, diff in items:
        values = []
        for attname in attnames:
            new, prep = diff[attname][1], preps[attname][1]
            values.append(new if prep is None else prep(new))
        params.append([*values, updated_at, pk])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _update_through_copy(
    model, attnames: tuple[str, ...], items: list[tuple[int, dict]], now
) -> None:
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(attname) for attname in attnames]
    table, pk_column = quote(model._meta.db_table), quote(model._meta.pk.column)
    staging = quote("rempart_finess_import_update")
    columns = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in fields)
    assignments = ", ".join(f"{quote(f.column)} = u.{quote(f.column)}" for f in fields)
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        # Identifiers and types come from the model's metadata; values travel through COPY.
        cursor.execute(f"DROP TABLE IF EXISTS {staging}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ({pk_column} bigint PRIMARY KEY, {columns})"
        )
        with cursor.copy(
            f"COPY {staging} ({pk_column}, {', '.join(quote(f.column) for f in fields)}) FROM STDIN"
        ) as copy:
            for pk, diff in items:
                copy.write_row([pk, *(diff[attname][1] for attname in attnames)])
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments}, {quote('updated_at')} = %s "  # noqa: S608
            f"FROM {staging} AS u WHERE t.{pk_column} = u.{pk_column}",
            [now],
        )
        cursor.execute(f"DROP TABLE {staging}")


def _identity_values(f: list[str], columns: dict[str, int], *, default_name: str) -> dict[str, str]:
    """Name, address, postal code, commune, phone and APE code: read the same way from
    establishment and legal-entity lines (`columns` maps a column name to its position)."""
    postal_code, commune = _routing(f[columns["ligneacheminement"]])
    address = _address(
        f[columns["numvoie"]],
        f[columns["compvoie"]],
        f[columns["typvoie"]],
        f[columns["voie"]],
        f[columns["compldistrib"]],
        f[columns["lieuditbp"]],
    )
    return {
        "name": _clip(f[columns["rslongue"]] or f[columns["rs"]] or default_name, "name"),
        "address": _clip(address, "address"),
        "postal_code": _clip(postal_code, "postal_code"),
        "commune": _clip(commune, "commune"),
        "phone": _clip(f[columns["telephone"]], "phone"),
        "ape_code": _clip(f[columns["codeape"]], "ape_code"),
    }


class _Importer:
    """One run over one file. Not reusable."""

    def __init__(self, *, actor, region_ids: set[int] | None, progress_key: str | None):
        self.actor = actor if getattr(actor, "pk", None) else None
        self.region_ids = region_ids
        self.progress_key = progress_key
        self.report = ImportReport()
        self.now = timezone.now()
        self.cid = get_cid()
        self.content_type_id = ContentType.objects.get_for_model(Organisation).pk
        self.categories = {c.code: c for c in FinessCategory.objects.all()}
        self.departements = {d.code: d for d in Departement.objects.all()}
        self.aliases = _finess_departement_aliases()
        self.seen_et: dict[str, int] = {}  # establishment number -> first line
        self.seen_ej: dict[str, int] = {}  # legal-entity number -> first line naming it
        self.batch: list[_Line] = []
        self.total_lines = 0
        self.audit_fields = [(f.name, f.attname) for f in Organisation._meta.concrete_fields]
        self.org_defaults = _row_template(Organisation)
        self.actor_pk = getattr(self.actor, "pk", None)
        self.actor_email = getattr(self.actor, "email", None)
        self.now_text = smart_str(timezone.make_naive(self.now, datetime.UTC))

    # -- helpers ---------------------------------------------------------------------------

    def _departement(self, raw: str) -> Departement:
        code = raw.strip().upper()
        code = self.aliases.get(code, code)
        if len(code) == 1 and code.isdigit():
            code = "0" + code
        departement = self.departements.get(code)
        if departement is None:
            raise _Reject(f"Département « {raw} » inconnu des données de référence.")
        return departement

    def _in_scope(self, region_id: int | None) -> bool:
        return self.region_ids is None or region_id in self.region_ids

    def _progress(self, line_no: int) -> None:
        if self.progress_key:
            cache.set(
                self.progress_key, {"line": line_no, "total": self.total_lines}, timeout=6 * 3600
            )

    def _audit_entry(
        self, pk: int, name: str, action: int, changes: dict, line: int
    ) -> dict[str, Any]:
        return {
            "content_type_id": self.content_type_id,
            "object_pk": str(pk),
            "object_id": pk,
            "object_repr": name[:2000],
            "action": action,
            "changes": changes,
            "changes_text": "",
            "actor_id": self.actor_pk,
            "actor_email": self.actor_email,
            "cid": self.cid,
            "timestamp": self.now,
            "organisation_id": pk,
            "additional_data": {"source": "import FINESS", "ligne": line},
        }

    def _created_changes(self, row: dict[str, Any]) -> dict[str, list[str]]:
        # Same shape as auditlog's own create entries: {"field": ["None", "value"]}.
        changes = {}
        for name, attname in self.audit_fields:
            value = row.get(attname, self.org_defaults.get(attname))
            if value is None or value == "":
                continue
            if type(value) is not str:
                value = self.now_text if value is self.now else smart_str(value)
            changes[name] = ["None", value]
        return changes

    @staticmethod
    def _diff(known: dict[str, Any], values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        return {
            attname: (known[attname], value)
            for attname, value in values.items()
            if known[attname] != value
        }

    @staticmethod
    def _changes_for_audit(diff: dict[str, tuple[Any, Any]]) -> dict[str, list[str]]:
        return {
            _FIELD_NAMES[attname]: [smart_str(old), smart_str(new)]
            for attname, (old, new) in diff.items()
        }

    def _known(self, numbers) -> dict[str, dict[str, Any]]:
        """The organisations already holding these FINESS numbers, as plain dicts (cheap to load)."""
        return {
            row["finess"]: row
            for row in Organisation.objects.filter(finess__in=numbers).values(*_KNOWN_COLUMNS)
        }

    def _create(self, to_create: list[tuple[_Line, dict[str, Any]]]) -> None:
        """Insert new organisations, learn their primary keys, audit them."""
        if not to_create:
            return
        for _line, row in to_create:
            row["created_at"] = row["updated_at"] = self.now
        _bulk_insert(Organisation, [row for _line, row in to_create])
        numbers = [row["finess"] for _line, row in to_create]
        pks = dict(Organisation.objects.filter(finess__in=numbers).values_list("finess", "pk"))
        for _line, row in to_create:
            row["id"] = pks[row["finess"]]
        _bulk_insert(
            AuditEntry,
            [
                self._audit_entry(
                    row["id"],
                    row["name"],
                    AuditEntry.Action.CREATE,
                    self._created_changes(row),
                    line.line,
                )
                for line, row in to_create
            ],
        )

    def _update(
        self, to_update: list[tuple[_Line, dict[str, Any], dict[str, tuple[Any, Any]]]]
    ) -> None:
        """Write the changed fields of known organisations, audit the before/after values."""
        if not to_update:
            return
        _bulk_update(
            Organisation, [(known["pk"], diff) for _line, known, diff in to_update], self.now
        )
        _bulk_insert(
            AuditEntry,
            [
                self._audit_entry(
                    known["pk"],
                    diff["name"][1] if "name" in diff else known["name"],
                    AuditEntry.Action.UPDATE,
                    self._changes_for_audit(diff),
                    line.line,
                )
                for line, known, diff in to_update
            ],
        )

    # -- pass 1: legal entities ------------------------------------------------------------------

    def scan_and_import_legal_entities(self, open_file: OpenFile, decoder: _Decoder) -> None:
        structure_lines = 0
        for line_no, fields in _rows(open_file, decoder):
            self.total_lines = line_no
            if fields is None:
                continue
            kind = fields[0].strip().lower()
            if line_no == 1 and kind == "finess":
                self.report.header = ";".join(fields)[:255]
                continue
            if kind in ("structureet", "structureej"):
                structure_lines += 1
            if kind != "structureej":
                continue
            try:
                self.batch.append(self._parse_legal_entity(line_no, fields))
            except _Reject as exc:
                self.report.reject(line_no, self._number(fields, EJ["nofinessej"]), exc.reason)
            if len(self.batch) >= BATCH_SIZE:
                self._flush_legal_entities()
                self._progress(line_no)
        self._flush_legal_entities()
        self.report.lines_read = self.total_lines
        if not structure_lines:
            raise FinessFileError(
                "Ce fichier n'est pas une extraction FINESS : il ne contient aucune ligne « structureet » "
                "(établissement) ni « structureej » (entité juridique). Aucune modification n'a été enregistrée."
            )

    @staticmethod
    def _number(fields: list[str], index: int) -> str:
        return fields[index].strip().upper()[:20] if len(fields) > index else ""

    @staticmethod
    def _checked_line(
        line_no: int,
        fields: list[str],
        line_type: str,
        expected: tuple | list,
        number_index: int,
        seen: dict[str, int],
        whose: str,
    ) -> tuple[list[str], str]:
        """The stripped fields and the FINESS number of a line, once its shape, its number and
        its uniqueness within the file are checked (a `_Reject` says why not)."""
        if len(fields) != len(expected):
            raise _Reject(
                f"La ligne « {line_type} » compte {len(fields)} champs au lieu des {len(expected)} attendus "
                "(séparateur point-virgule)."
            )
        f = [value.strip() for value in fields]
        number = f[number_index].upper()
        error = finess_error(number)
        if error:
            raise _Reject(f"Numéro FINESS {whose} invalide : {_lower_first(error)}")
        first = seen.get(number)
        if first is not None:
            raise _Reject(
                f"Ce numéro FINESS figure déjà à la ligne {first} du fichier : seule la première est importée."
            )
        seen[number] = line_no
        return f, number

    def _parse_legal_entity(self, line_no: int, fields: list[str]) -> _Line:
        f, number = self._checked_line(
            line_no,
            fields,
            "structureej",
            EJ_FIELDS,
            EJ["nofinessej"],
            self.seen_ej,
            "de l'entité juridique",
        )
        departement = self._departement(f[EJ["departement"]])
        values = {
            **_identity_values(f, EJ, default_name=_placeholder_name(number)),
            "legal_status": legal_status_from_code(f[EJ["statutjuridique"]]),
            "region_id": departement.region_id,
            "departement_id": departement.pk,
        }
        return _Line(line=line_no, finess=number, values=values)

    def _flush_legal_entities(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        known_rows = self._known([b.finess for b in batch])
        to_create, to_update = [], []
        for line in batch:
            known = known_rows.get(line.finess)
            if known is None:
                if not self._in_scope(line.values["region_id"]):
                    self.report.out_of_region += 1
                    continue
                to_create.append(
                    (
                        line,
                        {"kind": OrgKind.LEGAL_ENTITY, "finess": line.finess, **line.values},
                    )
                )
                self.report.created += 1
                continue
            if known["kind"] != OrgKind.LEGAL_ENTITY:
                self.report.reject(
                    line.line, line.finess, self._other_kind_reason(line.finess, known)
                )
                continue
            # A placeholder made from another region's establishment may be named by any region.
            claimable = known["name"] == _placeholder_name(line.finess)
            if not self._in_scope(line.values["region_id"]) or not (
                claimable or self._in_scope(known["region_id"])
            ):
                self.report.out_of_region += 1
                continue
            diff = self._diff(known, line.values)
            if not diff:
                self.report.unchanged += 1
                continue
            to_update.append((line, known, diff))
            self.report.updated += 1
        self._create(to_create)
        self._update(to_update)

    @staticmethod
    def _other_kind_reason(number: str, known: dict[str, Any]) -> str:
        return (
            f"Le numéro FINESS {number} est déjà celui d'une organisation d'un autre type "
            f"({ORG_KIND_LABELS.get(known['kind'], known['kind'])} « {known['name']} ») : la ligne n'est pas importée."
        )

    # -- pass 2: establishments -------------------------------------------------------------------

    def import_establishments(self, open_file: OpenFile, decoder: _Decoder) -> None:
        for line_no, fields in _rows(open_file, decoder):
            if fields is None:
                continue
            kind = fields[0].strip().lower()
            if line_no == 1 and kind == "finess":
                continue
            if kind == "structureej":
                continue
            if kind != "structureet":
                self.report.ignored += 1
                continue
            try:
                line = self._parse_establishment(line_no, fields)
            except _Reject as exc:
                self.report.reject(line_no, self._number(fields, ET["nofinesset"]), exc.reason)
                continue
            if line is not None:
                self.batch.append(line)
            if len(self.batch) >= BATCH_SIZE:
                self._flush_establishments()
                self._progress(line_no)
        self._flush_establishments()

    def _parse_establishment(self, line_no: int, fields: list[str]) -> _Line | None:
        f, number = self._checked_line(
            line_no,
            fields,
            "structureet",
            ET_FIELDS,
            ET["nofinesset"],
            self.seen_et,
            "de l'établissement",
        )
        departement = self._departement(f[ET["departement"]])
        if not self._in_scope(departement.region_id):
            self.report.out_of_region += 1
            return None
        ej = f[ET["nofinessej"]].upper()
        error = finess_error(ej)
        if error:
            raise _Reject(
                f"Numéro FINESS de l'entité juridique (nofinessej) invalide : {_lower_first(error)}"
            )
        if ej == number:
            raise _Reject(
                "Le numéro FINESS de l'entité juridique est identique à celui de l'établissement."
            )
        if ej in self.seen_et:
            raise _Reject(
                f"Le numéro FINESS d'entité juridique {ej} est celui d'un établissement "
                f"(ligne {self.seen_et[ej]} du fichier)."
            )
        if number in self.seen_ej:
            raise _Reject(
                f"Ce numéro FINESS est celui d'une entité juridique (ligne {self.seen_ej[number]} du fichier)."
            )
        code = f[ET["categetab"]]
        category = self.categories.get(code)
        if category is None:
            label = f" ({f[ET['libcategetab']]})" if f[ET["libcategetab"]] else ""
            raise _Reject(
                f"Catégorie d'établissement « {code} »{label} inconnue : ajoutez-la au fichier des catégories "
                "FINESS (données de référence) puis relancez l'import."
            )
        if not category.imported:
            self.report.out_of_scope += 1
            return None
        dates = {
            attname: _parse_date(f[ET[column]], column)
            for column, (attname, _label) in DATE_COLUMNS.items()
        }
        values = {
            **_identity_values(f, ET, default_name=f"Établissement {number}"),
            "siret": _clip(f[ET["siret"]], "siret"),
            "mft_code": _clip(f[ET["codemft"]], "mft_code"),
            "mft_label": _clip(f[ET["libmft"]], "mft_label"),
            "sph_code": _clip(f[ET["codesph"]], "sph_code"),
            "sph_label": _clip(f[ET["libsph"]], "sph_label"),
            "category_id": category.pk,
            "sector": category.sector,
            "region_id": departement.region_id,
            "departement_id": departement.pk,
            **dates,
        }
        self.seen_ej.setdefault(ej, line_no)
        return _Line(
            line=line_no,
            finess=number,
            values=values,
            ej=ej,
            default_status=category.default_legal_status,
        )

    def _flush_establishments(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        known_rows = self._known({b.finess for b in batch} | {b.ej for b in batch})

        # First the refusals and the legal entities to create, so every establishment has one.
        kept: list[_Line] = []
        placeholders: dict[str, tuple[_Line, dict[str, Any]]] = {}
        for line in batch:
            known = known_rows.get(line.finess)
            if known is not None and known["kind"] != OrgKind.ESTABLISHMENT:
                self.report.reject(
                    line.line, line.finess, self._other_kind_reason(line.finess, known)
                )
                continue
            if known is not None and not self._in_scope(known["region_id"]):
                self.report.out_of_region += 1
                continue
            legal_entity = known_rows.get(line.ej)
            if legal_entity is not None and legal_entity["kind"] != OrgKind.LEGAL_ENTITY:
                kind = ORG_KIND_LABELS.get(legal_entity["kind"], legal_entity["kind"])
                self.report.reject(
                    line.line,
                    line.finess,
                    f"Le numéro FINESS d'entité juridique {line.ej} est déjà celui d'une organisation d'un autre "
                    f"type ({kind} « {legal_entity['name']} ») : la ligne n'est pas importée.",
                )
                continue
            if legal_entity is None and line.ej not in placeholders:
                placeholders[line.ej] = (
                    line,
                    {
                        "kind": OrgKind.LEGAL_ENTITY,
                        "finess": line.ej,
                        "name": _placeholder_name(line.ej),
                        "region_id": line.values["region_id"],
                        "departement_id": line.values["departement_id"],
                    },
                )
            kept.append(line)
        if placeholders:
            self._create(list(placeholders.values()))
            self.report.legal_entities_created += len(placeholders)
            for number, (_line, row) in placeholders.items():
                known_rows[number] = {
                    "pk": row["id"],
                    "kind": row["kind"],
                    "name": row["name"],
                    "legal_status": "",
                }

        to_create, to_update = [], []
        for line in kept:
            legal_entity = known_rows[line.ej]
            values = {
                **line.values,
                "legal_entity_id": legal_entity["pk"],
                "legal_status": legal_entity["legal_status"] or line.default_status,
            }
            known = known_rows.get(line.finess)
            if known is None:
                to_create.append(
                    (line, {"kind": OrgKind.ESTABLISHMENT, "finess": line.finess, **values})
                )
                self.report.created += 1
                continue
            diff = self._diff(known, values)
            if not diff:
                self.report.unchanged += 1
                continue
            to_update.append((line, known, diff))
            self.report.updated += 1
        self._create(to_create)
        self._update(to_update)


def import_finess_file(
    *,
    open_file: OpenFile,
    actor=None,
    region_ids: set[int] | None = None,
    dry_run: bool = False,
    import_id: int | None = None,
) -> ImportReport:
    """Import one FINESS extract in one transaction and return the report.

    `open_file` returns a fresh binary stream each time it is called (the file is read twice).
    `region_ids` limits the run to those regions (None: every region). With `dry_run`, the work
    is done then rolled back: the report says what would change. Raises FinessFileError when the
    file is not a FINESS extract at all; nothing is written then.
    """
    with open_file() as fh:
        head = fh.read(64 * 1024)
    reason = sniff_file_start(head)
    if reason:
        raise FinessFileError(reason + " Aucune modification n'a été enregistrée.")
    decoder = _Decoder()
    progress_key = PROGRESS_CACHE_KEY.format(import_id) if import_id else None
    with transaction.atomic():
        ensure_reference_data()  # inside the transaction: a dry run writes nothing at all
        importer = _Importer(actor=actor, region_ids=region_ids, progress_key=progress_key)
        importer.scan_and_import_legal_entities(open_file, decoder)
        importer.import_establishments(open_file, decoder)
        if dry_run:
            transaction.set_rollback(True)
    report = importer.report
    if not dry_run and report.created + report.updated >= ANALYZE_AFTER_ROWS:
        _refresh_planner_statistics()
    report.encoding = decoder.label
    report.rejections.sort(key=lambda r: r["line"])
    if progress_key:
        cache.delete(progress_key)
    return report


ANALYZE_AFTER_ROWS = 1_000


def _refresh_planner_statistics() -> None:
    """After a large import, refresh PostgreSQL's statistics at once: until autovacuum gets to
    it, stale statistics make the directory sort the whole region instead of using its index."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE organisations_organisation")


# --------------------------------------------------------------------------------------------
# Runs (FinessImport records): web upload, Celery task, command line
# --------------------------------------------------------------------------------------------


def _store_report(finess_import: FinessImport, report: ImportReport) -> None:
    finess_import.status = FinessImport.Status.DONE
    finess_import.finished_at = timezone.now()
    finess_import.lines_read = report.lines_read
    finess_import.created_count = report.created
    finess_import.updated_count = report.updated
    finess_import.unchanged_count = report.unchanged
    finess_import.rejected_count = report.rejected
    finess_import.out_of_region_count = report.out_of_region
    finess_import.out_of_scope_count = report.out_of_scope
    finess_import.ignored_count = report.ignored
    finess_import.legal_entities_created_count = report.legal_entities_created
    finess_import.rejections = report.rejections
    finess_import.encoding = report.encoding
    finess_import.source_header = report.header
    finess_import.error_message = ""
    finess_import.save()


def _mark_failed(finess_import: FinessImport, message: str) -> None:
    FinessImport.objects.filter(pk=finess_import.pk).update(
        status=FinessImport.Status.FAILED,
        finished_at=timezone.now(),
        error_message=message,
        lines_read=0,
        created_count=0,
        updated_count=0,
        unchanged_count=0,
        rejected_count=0,
        out_of_region_count=0,
        out_of_scope_count=0,
        ignored_count=0,
        legal_entities_created_count=0,
        rejections=[],
    )
    cache.delete(PROGRESS_CACHE_KEY.format(finess_import.pk))
    finess_import.refresh_from_db()


def _execute(finess_import: FinessImport, open_file: OpenFile, actor) -> ImportReport | None:
    """Run the import of a claimed run; the data and its report are committed together, or neither."""
    region_ids = set(finess_import.regions.values_list("pk", flat=True)) or None
    try:
        with transaction.atomic():
            report = import_finess_file(
                open_file=open_file, actor=actor, region_ids=region_ids, import_id=finess_import.pk
            )
            _store_report(finess_import, report)
    except FinessFileError as exc:
        _mark_failed(finess_import, exc.message)
        raise
    except Exception as exc:
        logger.exception("FINESS import %s failed", finess_import.pk)
        _mark_failed(
            finess_import,
            "L'import a été interrompu par une erreur inattendue ; aucune modification n'a été enregistrée. "
            f"Détail technique : {exc.__class__.__name__}: {str(exc)[:500]}",
        )
        return None
    return report


def run_import(import_id: int) -> FinessImport | None:
    """Body of the Celery task. Idempotent: a run already started (and alive) or finished is left alone."""
    now = timezone.now()
    claimed = FinessImport.objects.filter(
        Q(status=FinessImport.Status.PENDING)
        | Q(status=FinessImport.Status.RUNNING, started_at__lt=now - STALE_RUN_AFTER),
        pk=import_id,
    ).update(status=FinessImport.Status.RUNNING, started_at=now)
    if not claimed:
        return None
    finess_import = FinessImport.objects.select_related("uploaded_by").get(pk=import_id)
    if not finess_import.file:
        _mark_failed(
            finess_import, "Le fichier de cet import est introuvable : déposez-le à nouveau."
        )
        return finess_import
    storage, name = finess_import.file.storage, finess_import.file.name
    if not storage.exists(name):
        _mark_failed(
            finess_import,
            "Le fichier de cet import est introuvable dans le stockage : déposez-le à nouveau.",
        )
        return finess_import
    with contextlib.suppress(FinessFileError):  # already recorded on the run
        _execute(finess_import, lambda: storage.open(name, "rb"), finess_import.uploaded_by)
    finess_import.refresh_from_db()
    return finess_import


def validate_upload(uploaded_file) -> None:
    """Refuse, with a French message, what cannot be a FINESS extract before storing it."""
    name = (getattr(uploaded_file, "name", "") or "").strip()
    if not name.lower().endswith(ACCEPTED_EXTENSIONS):
        raise DomainError(
            "Format non accepté : déposez le fichier de l'extraction FINESS au format CSV "
            "(extension .csv ou .txt).",
            code="finess_file_type",
            field="fichier",
        )
    size = getattr(uploaded_file, "size", None) or 0
    if size > MAX_UPLOAD_BYTES:
        raise DomainError(
            f"Le fichier pèse {size / 1024 / 1024:.0f} Mo : la taille maximale est de "
            f"{MAX_UPLOAD_BYTES // (1024 * 1024)} Mo. Déposez l'extraction de votre région ou découpez le fichier.",
            code="finess_file_too_large",
            field="fichier",
        )
    uploaded_file.seek(0)
    head = uploaded_file.read(64 * 1024)
    uploaded_file.seek(0)
    reason = sniff_file_start(head)
    if reason:
        raise DomainError(reason, code="finess_file_invalid", field="fichier")


def create_import(*, actor, uploaded_file) -> FinessImport:
    """Store the uploaded extract (Django storage) and run its import as a background task."""
    if not perms.can_import_finess(actor):
        raise DomainError(
            "Vous n'avez pas le droit d'importer une extraction FINESS.", code="forbidden"
        )
    region_ids = import_region_ids(actor)
    if region_ids is not None and not region_ids:
        raise DomainError(
            "Votre organisation n'est rattachée à aucune région : l'import FINESS est impossible.",
            code="no_region",
        )
    validate_upload(uploaded_file)
    source_name = Path(uploaded_file.name).name[:255]
    with transaction.atomic():
        finess_import = FinessImport(
            source_name=source_name, uploaded_by=actor, file_size=uploaded_file.size
        )
        finess_import.file.save(source_name, uploaded_file, save=False)
        finess_import.save()
        if region_ids:
            finess_import.regions.set(region_ids)
        transaction.on_commit(lambda: _schedule(finess_import.pk))
    finess_import.refresh_from_db()
    return finess_import


def _schedule(import_id: int) -> None:
    from .tasks import run_finess_import

    run_finess_import.delay(import_id)


def run_command_import(
    *, path: Path, region: Region | None = None, dry_run: bool = False
) -> tuple[FinessImport | None, ImportReport]:
    """The command-line import: recorded as a run (unless dry), national unless `region` is given."""
    if not path.is_file():
        raise FinessFileError(f"Fichier introuvable : {path}")

    def open_file():
        return path.open("rb")

    if dry_run:
        report = import_finess_file(
            open_file=open_file, region_ids={region.pk} if region else None, dry_run=True
        )
        return None, report
    finess_import = FinessImport.objects.create(
        source_name=path.name[:255],
        status=FinessImport.Status.RUNNING,
        started_at=timezone.now(),
        file_size=path.stat().st_size,
    )
    if region:
        finess_import.regions.set([region])
    report = _execute(finess_import, open_file, None)
    finess_import.refresh_from_db()
    if report is None:
        raise FinessFileError(finess_import.error_message)
    return finess_import, report


def format_report(report: ImportReport) -> list[str]:
    """The report as French text lines (command output)."""
    lines = [
        f"Lignes lues : {report.lines_read} (encodage détecté : {report.encoding})",
        f"Organisations créées : {report.created}",
        f"Organisations mises à jour : {report.updated}",
        f"Organisations inchangées : {report.unchanged}",
        f"Lignes rejetées : {report.rejected}",
        f"Lignes hors région (ignorées) : {report.out_of_region}",
        f"Lignes hors champ (catégories non suivies) : {report.out_of_scope}",
        f"Lignes d'un autre type (géolocalisation…) ignorées : {report.ignored}",
        f"Entités juridiques créées à partir des établissements : {report.legal_entities_created}",
    ]
    if report.rejections:
        lines.append("Rejets :")
        lines += [
            f"ligne {r['line']} : FINESS {r['finess'] or '(vide)'} : {r['reason']}"
            for r in report.rejections
        ]
    return lines
