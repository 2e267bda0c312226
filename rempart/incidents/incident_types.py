"""Incident types as versioned data: what the alert form tells the reporter to do now, the reflex
actions they tick, and the tasks a case opened from such an alert starts with.

The file `data/incident_types.yaml` is checked against `data/incident_types.schema.json`, then
against rules the schema cannot express (one template per `IncidentType`, codes unique), the
first time it is read; the result is cached for the life of the process. A broken file fails
loudly with every problem listed, at the first alert page or in the test suite — never with a
form that silently shows no guidance.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from .models import IncidentType

DATA_DIR = Path(__file__).resolve().parent / "data"
TYPES_PATH = DATA_DIR / "incident_types.yaml"
SCHEMA_PATH = DATA_DIR / "incident_types.schema.json"


class IncidentTypesError(ValueError):
    """The incident type file is not valid; `errors` lists each problem in French."""

    def __init__(self, errors: list[str]):
        super().__init__(
            "Le fichier des types d'incident est invalide :\n" + "\n".join(f"- {e}" for e in errors)
        )
        self.errors = errors


@dataclass(frozen=True)
class TemplateItem:
    code: str
    title: str
    details: str = ""


@dataclass(frozen=True)
class IncidentTemplate:
    code: str
    label: str
    guidance: list[str]
    checklist: list[TemplateItem]
    tasks: list[TemplateItem]
    hint: str = ""
    reference: str = ""

    def checklist_codes(self) -> list[str]:
        return [item.code for item in self.checklist]


@functools.cache
def schema() -> dict:
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


def _where(path) -> str:
    return "/".join(str(part) for part in path) or "(racine)"


def validate(document) -> list[str]:
    """Every problem of a parsed document (schema first, then the cross-item rules)."""
    validator = Draft202012Validator(schema())
    problems = [
        f"{_where(error.absolute_path)} : {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]
    if problems:
        return problems
    codes = [entry["code"] for entry in document["types"]]
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        problems.append(f"le type « {code} » est décrit plusieurs fois")
    for code in codes:
        if code not in IncidentType.values:
            problems.append(
                f"le type « {code} » n'existe pas (types connus : {', '.join(IncidentType.values)})"
            )
    for code in IncidentType.values:
        if code not in codes:
            problems.append(f"le type « {code} » n'a pas de modèle")
    for entry in document["types"]:
        for part in ("checklist", "tasks"):
            item_codes = [item["code"] for item in entry[part]]
            for dup in sorted({c for c in item_codes if item_codes.count(c) > 1}):
                problems.append(f"{entry['code']}/{part} : le code « {dup} » est en double")
    return problems


def _item(raw: dict) -> TemplateItem:
    return TemplateItem(
        code=raw["code"], title=raw["title"].strip(), details=raw.get("details", "").strip()
    )


def parse(text: str) -> dict[str, IncidentTemplate]:
    """The templates of a YAML text, by code; IncidentTypesError if anything is wrong."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IncidentTypesError([f"YAML illisible : {exc}"]) from exc
    problems = validate(document)
    if problems:
        raise IncidentTypesError(problems)
    templates = {}
    for entry in document["types"]:
        templates[entry["code"]] = IncidentTemplate(
            code=entry["code"],
            label=entry["label"].strip(),
            hint=entry["hint"].strip(),
            reference=entry.get("reference", "").strip(),
            guidance=[line.strip() for line in entry["guidance"]],
            checklist=[_item(item) for item in entry["checklist"]],
            tasks=[_item(item) for item in entry["tasks"]],
        )
    return templates


@functools.cache
def _templates() -> dict[str, IncidentTemplate]:
    return parse(TYPES_PATH.read_text(encoding="utf-8"))


def template_for(incident_type: str | None) -> IncidentTemplate:
    """The template of a type; an empty or unknown type gets the « autre » template."""
    templates = _templates()
    return templates.get(incident_type or "", templates[IncidentType.OTHER])


def all_templates() -> list[IncidentTemplate]:
    """Every template, in the order of IncidentType (the order of the form's tiles)."""
    templates = _templates()
    return [templates[code] for code in IncidentType.values]
