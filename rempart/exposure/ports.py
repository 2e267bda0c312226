"""The watched ports and the TLS check texts, as versioned data (data/ports.yaml,
data/tls_checks.yaml).

Each file is checked against its schema, then against rules a schema cannot express (a port
described once, a check code described once), the first time it is read; the result is cached
for the life of the process. A broken file fails loudly with every problem listed — never a
scan that silently reports a port without its explanation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

DATA_DIR = Path(__file__).resolve().parent / "data"
PORTS_PATH = DATA_DIR / "ports.yaml"
TLS_CHECKS_PATH = DATA_DIR / "tls_checks.yaml"

CATEGORIES = (
    "remote_admin",
    "file_sharing",
    "database",
    "directory",
    "medical",
    "mail",
    "web",
    "vpn",
    "other",
)
SEVERITIES = ("critical", "high", "medium", "low", "info")
PROBES = ("read", "http", "none")

_TEXT = {"type": "string", "minLength": 20, "maxLength": 1000}
PORTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "services"],
    "properties": {
        "version": {"type": "integer", "minimum": 1},
        "services": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "service",
                    "label",
                    "category",
                    "severity",
                    "ports",
                    "probe",
                    "explanation",
                    "remediation",
                ],
                "properties": {
                    "service": {"type": "string", "pattern": "^[a-z][a-z0-9_]{1,39}$"},
                    "label": {"type": "string", "minLength": 2, "maxLength": 120},
                    "category": {"enum": list(CATEGORIES)},
                    "severity": {"enum": list(SEVERITIES)},
                    "ports": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": {"type": "integer", "minimum": 1, "maximum": 65535},
                    },
                    "probe": {"enum": list(PROBES)},
                    "tls": {"type": "boolean"},
                    "explanation": _TEXT,
                    "remediation": _TEXT,
                },
            },
        },
    },
}
TLS_CHECKS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "checks"],
    "properties": {
        "version": {"type": "integer", "minimum": 1},
        "checks": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code", "severity", "title", "explanation", "remediation"],
                "properties": {
                    "code": {"type": "string", "pattern": "^tls_[a-z0-9_]{2,40}$"},
                    "severity": {"enum": list(SEVERITIES)},
                    "title": {"type": "string", "minLength": 3, "maxLength": 120},
                    "explanation": _TEXT,
                    "remediation": _TEXT,
                },
            },
        },
    },
}


class ReferenceDataError(ValueError):
    """A data file of the exposure engine is not valid; `errors` lists each problem in French."""

    def __init__(self, name: str, errors: list[str]):
        super().__init__(
            f"Le fichier {name} est invalide :\n" + "\n".join(f"- {e}" for e in errors)
        )
        self.errors = errors


@dataclass(frozen=True)
class PortInfo:
    port: int
    service: str
    label: str
    category: str
    severity: str
    probe: str  # read | http | none: what the banner grab does
    tls: bool
    explanation: str
    remediation: str


@dataclass(frozen=True)
class CheckText:
    code: str
    severity: str
    title: str
    explanation: str
    remediation: str


def _where(path) -> str:
    return "/".join(str(part) for part in path) or "(racine)"


def _schema_problems(schema: dict, document) -> list[str]:
    validator = Draft202012Validator(schema)
    return [
        f"{_where(error.absolute_path)} : {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def _load(text: str, name: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ReferenceDataError(name, [f"YAML illisible : {exc}"]) from exc


def _clean(text: str) -> str:
    return " ".join(text.split())


def parse_ports(text: str) -> dict[int, PortInfo]:
    """The ports of a YAML text, by number; ReferenceDataError listing every problem."""
    document = _load(text, "ports.yaml")
    problems = _schema_problems(PORTS_SCHEMA, document)
    if problems:
        raise ReferenceDataError("ports.yaml", problems)
    seen: dict[int, str] = {}
    services = [entry["service"] for entry in document["services"]]
    for dup in sorted({s for s in services if services.count(s) > 1}):
        problems.append(f"le service « {dup} » est décrit plusieurs fois")
    for entry in document["services"]:
        for port in entry["ports"]:
            if port in seen:
                problems.append(
                    f"le port {port} est décrit deux fois (« {seen[port]} » et « {entry['service']} »)"
                )
            seen[port] = entry["service"]
    if problems:
        raise ReferenceDataError("ports.yaml", problems)
    ports = {}
    for entry in document["services"]:
        for port in entry["ports"]:
            ports[port] = PortInfo(
                port=port,
                service=entry["service"],
                label=entry["label"].strip(),
                category=entry["category"],
                severity=entry["severity"],
                probe=entry["probe"],
                tls=entry.get("tls", False),
                explanation=_clean(entry["explanation"]),
                remediation=_clean(entry["remediation"]),
            )
    return ports


def parse_tls_checks(text: str) -> dict[str, CheckText]:
    """The TLS finding texts of a YAML text, by code; ReferenceDataError on any problem."""
    document = _load(text, "tls_checks.yaml")
    problems = _schema_problems(TLS_CHECKS_SCHEMA, document)
    if problems:
        raise ReferenceDataError("tls_checks.yaml", problems)
    codes = [entry["code"] for entry in document["checks"]]
    for dup in sorted({c for c in codes if codes.count(c) > 1}):
        problems.append(f"le contrôle « {dup} » est décrit plusieurs fois")
    if problems:
        raise ReferenceDataError("tls_checks.yaml", problems)
    return {
        entry["code"]: CheckText(
            code=entry["code"],
            severity=entry["severity"],
            title=entry["title"].strip(),
            explanation=_clean(entry["explanation"]),
            remediation=_clean(entry["remediation"]),
        )
        for entry in document["checks"]
    }


@functools.cache
def watched_ports() -> dict[int, PortInfo]:
    """Every watched port, by number (read and checked once per process)."""
    return parse_ports(PORTS_PATH.read_text(encoding="utf-8"))


@functools.cache
def tls_check_texts() -> dict[str, CheckText]:
    return parse_tls_checks(TLS_CHECKS_PATH.read_text(encoding="utf-8"))


def port_info(port: int) -> PortInfo | None:
    return watched_ports().get(port)


def default_port_list() -> list[int]:
    """The ports a discovery scan probes by default: every watched port, ascending."""
    return sorted(watched_ports())
