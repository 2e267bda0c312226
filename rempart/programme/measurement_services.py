"""Platform measurements: dated results measured for an organisation (directory-audit level,
internet exposure scan, restoration test, crisis exercise, continuity plan).

`record_measurement` is the single way to write one. People record the results of the ANSSI
services (ADS with the ORADAD collector, SILENE) or of their tests with the report; the
platform's own modules (directory audit, exposure watch, restoration tests, crisis exercises)
call the same function with `recorded_by=None` and their `source`. A target declaration that
cites a measurement freezes a copy of it (see declaration_services), so a measurement row may
later be corrected without changing any proof already given.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404

from rempart.core.errors import DomainError
from rempart.organisations.models import Organisation, User

from . import windows
from .followup_perms import MEASURED_KINDS, can_record_measurement
from .models import Measurement, PlatformMeasurement
from .uploads import check_upload

RESULT_MAX_LENGTH = 255
SOURCE_MAX_LENGTH = 255
DETAILS_MAX_BYTES = 64 * 1024
# Sources offered to people recording by hand (free text is accepted too).
SOURCE_SUGGESTIONS = (
    "ANSSI — service ADS (collecteur ORADAD)",
    "ANSSI — service SILENE (exposition sur internet)",
    "Test de restauration interne",
    "Exercice de crise (RETEX)",
    "Prestataire d'audit",
)


def _text(value: Any, field: str, label: str, max_length: int) -> str:
    text = str(value or "").strip()
    if not text:
        raise DomainError(f"Indiquez {label}.", code="invalid", field=field)
    if len(text) > max_length:
        raise DomainError(
            f"{label[0].upper()}{label[1:]} ne doit pas dépasser {max_length} caractères.",
            code="invalid",
            field=field,
        )
    return text


def _level(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        level = int(value)
    except (TypeError, ValueError):
        level = 0
    if isinstance(value, float) or not 1 <= level <= 5:
        raise DomainError("Le niveau va de 1 à 5.", code="invalid", field="level")
    return level


def _details(value: Any) -> dict:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise DomainError(
            "Les détails d'une mesure sont un dictionnaire.", code="invalid", field="details"
        )
    try:
        encoded = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise DomainError(
            "Les détails de la mesure ne sont pas enregistrables (valeurs JSON uniquement).",
            code="invalid",
            field="details",
        ) from exc
    if len(encoded.encode()) > DETAILS_MAX_BYTES:
        raise DomainError(
            "Les détails de la mesure sont trop volumineux.", code="invalid", field="details"
        )
    return json.loads(encoded)


def record_measurement(
    *,
    organisation: Organisation,
    kind: str,
    result: str,
    measured_on: datetime.date,
    source: str,
    recorded_by: User | None,
    level: int | None = None,
    details: dict | None = None,
    report=None,
) -> PlatformMeasurement:
    """Record a dated result for an organisation: the single entry point, for people (checked
    against `followup_perms.can_record_measurement`) and for the platform's modules
    (`recorded_by=None`). Everything is checked before anything is written."""
    if recorded_by is not None and not can_record_measurement(recorded_by, organisation):
        raise DomainError(
            f"Vous ne pouvez pas enregistrer de mesure pour {organisation.name}.",
            code="forbidden",
        )
    if organisation.kind not in MEASURED_KINDS:
        raise DomainError(
            "Une mesure concerne un établissement, une entité juridique ou un GHT.",
            code="invalid",
        )
    if kind not in Measurement.values:
        raise DomainError("Choisissez la nature de la mesure.", code="invalid", field="kind")
    level = _level(level)
    result = _text(result, "result", "le résultat", RESULT_MAX_LENGTH)
    source = _text(source, "source", "la source de la mesure", SOURCE_MAX_LENGTH)
    if not isinstance(measured_on, datetime.date) or isinstance(measured_on, datetime.datetime):
        raise DomainError("Indiquez la date de la mesure.", code="invalid", field="measured_on")
    today = windows.paris_today()
    if measured_on > today:
        raise DomainError(
            f"La date de la mesure ({windows.format_date_fr(measured_on)}) ne peut pas être "
            "dans le futur.",
            code="invalid",
            field="measured_on",
        )
    details = _details(details)
    checked = check_upload(report, field="report") if report else None
    with transaction.atomic():
        measurement = PlatformMeasurement(
            organisation=organisation,
            kind=kind,
            level=level,
            result=result,
            measured_on=measured_on,
            source=source,
            details=details,
            recorded_by=recorded_by,
        )
        stored = None
        try:
            if checked:
                measurement.report_name = checked.original_name
                measurement.report.save(checked.original_name, checked.upload, save=False)
                stored = measurement.report.name
            measurement.save()
        except Exception:
            if stored:
                measurement.report.storage.delete(stored)
            raise
    return measurement


# --- Reads ----------------------------------------------------------------------------------------


def measurements_of(organisation: Organisation) -> QuerySet[PlatformMeasurement]:
    """An organisation's measurements, the latest of each kind first."""
    return PlatformMeasurement.objects.filter(organisation=organisation).select_related(
        "recorded_by"
    )


def get_measurement(organisation: Organisation, pk) -> PlatformMeasurement:
    """One measurement of an organisation already checked visible (404 otherwise)."""
    try:
        return measurements_of(organisation).get(pk=pk)
    except (PlatformMeasurement.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Mesure introuvable.") from exc


def latest_by_kind(organisation: Organisation) -> list[PlatformMeasurement]:
    """The most recent measurement of each kind (ordering: kind, then newest first)."""
    seen: set[str] = set()
    latest = []
    for measurement in measurements_of(organisation):
        if measurement.kind not in seen:
            seen.add(measurement.kind)
            latest.append(measurement)
    return latest
