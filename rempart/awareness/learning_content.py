"""E-learning modules as versioned data: one YAML file per module under `data/modules/`,
checked against `data/module.schema.json`, loaded by `manage.py load_awareness_content`.

Loading is all or nothing: every file is validated first (YAML syntax, schema, then the rules
a schema cannot express: codes unique, correct answers among the choices, one answer for a
single-choice question…), every error is reported in French with its file and item; only when
all files are valid are the modules upserted, in one transaction, through `save()` so that the
audit trail records each change. A module whose content changed gets a new `version`; its
past attempts keep the questions they were asked (see `Attempt.answers`). A module whose file
disappeared is unpublished, never deleted (attempts and certificates refer to it).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from jsonschema import Draft202012Validator

from rempart.core.errors import DataFilesError
from rempart.core.schema_messages import french_schema_error

from .models import Module, QuestionKind

DATA_DIR = Path(__file__).resolve().parent / "data"
MODULES_DIR = DATA_DIR / "modules"
SCHEMA_PATH = DATA_DIR / "module.schema.json"


class AwarenessContentError(DataFilesError):
    """The module files cannot be loaded; nothing was written. `errors` lists each problem."""

    subject = "Les fichiers des modules de sensibilisation"
    error_code = "awareness_content_invalid"


@functools.cache
def module_schema() -> dict:
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        schema = json.load(fh)
    Draft202012Validator.check_schema(schema)
    return schema


def _where(filename: str, document: Any, path: list) -> str:
    """« quiz-cyber.yaml, question n°2 (hameconnage), champ « correct » »."""
    parts = [filename]
    rest = list(path)
    if rest[:2] == ["quiz", "questions"] and len(rest) >= 3 and isinstance(rest[2], int):
        question = document["quiz"]["questions"][rest[2]]
        code = question.get("code") if isinstance(question, dict) else None
        parts.append(f"question n°{rest[2] + 1}" + (f" ({code})" if isinstance(code, str) else ""))
        rest = rest[3:]
    elif rest[:1] == ["sections"] and len(rest) >= 2 and isinstance(rest[1], int):
        parts.append(f"section n°{rest[1] + 1}")
        rest = rest[2:]
    if rest:
        parts.append("champ « " + "/".join(str(p) for p in rest) + " »")
    return ", ".join(parts)


def _read(path: Path) -> tuple[Any, list[str]]:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}, ligne {mark.line + 1}" if mark else path.name
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [
            f"{where} : syntaxe YAML invalide ; vérifiez l'indentation, les deux-points et les "
            f"guillemets (détail : {problem})."
        ]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path.name} : fichier illisible ({exc})."]


def _rules(filename: str, document: dict) -> list[str]:
    """What the schema cannot say."""
    problems = []
    questions = document["quiz"]["questions"]
    codes = [q["code"] for q in questions]
    for dup in sorted({c for c in codes if codes.count(c) > 1}):
        problems.append(f"{filename} : la question « {dup} » est décrite plusieurs fois")
    for index, question in enumerate(questions):
        where = f"{filename}, question n°{index + 1} ({question['code']})"
        choice_codes = [c["code"] for c in question["choices"]]
        for dup in sorted({c for c in choice_codes if choice_codes.count(c) > 1}):
            problems.append(f"{where} : la réponse « {dup} » est proposée deux fois")
        unknown = [c for c in question["correct"] if c not in choice_codes]
        if unknown:
            problems.append(
                f"{where} : la bonne réponse « {', '.join(unknown)} » ne fait pas partie des "
                f"choix ({', '.join(choice_codes)})"
            )
        if question["kind"] == QuestionKind.SINGLE and len(question["correct"]) != 1:
            problems.append(
                f"{where} : une question à choix unique a exactement une bonne réponse "
                f"(ici {len(question['correct'])}) ; sinon écrivez « kind: multiple »"
            )
    for index, section in enumerate(document["sections"]):
        scene = section.get("scene")
        if scene and not any(choice["good"] for choice in scene["choices"]):
            problems.append(
                f"{filename}, section n°{index + 1} : la saynète n'a aucun choix « good: true »"
            )
    return problems


@dataclass
class ModuleFile:
    filename: str
    values: dict[str, Any]
    content_hash: str


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # new version
    unchanged: list[str] = field(default_factory=list)
    unpublished: list[str] = field(default_factory=list)
    dry_run: bool = False


def _values(filename: str, document: dict) -> dict[str, Any]:
    return {
        "title": document["title"].strip(),
        "summary": (document.get("summary") or "").strip(),
        "theme": document["theme"],
        "audience": document["audience"],
        "duration_minutes": document["duration_minutes"],
        "position": document.get("position", 0),
        "pass_mark": document["quiz"]["pass_mark"],
        "sections": [dict(section.items()) for section in document["sections"]],
        "questions": [
            {
                "code": q["code"],
                "text": q["text"].strip(),
                "kind": q["kind"],
                "choices": [{"code": c["code"], "text": c["text"].strip()} for c in q["choices"]],
                "correct": list(q["correct"]),
                "explanation": q["explanation"].strip(),
            }
            for q in document["quiz"]["questions"]
        ],
        "source_file": filename,
    }


def _hash(values: dict[str, Any]) -> str:
    content = {k: v for k, v in values.items() if k not in ("source_file", "position")}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def read_all(directory: Path = MODULES_DIR) -> dict[str, ModuleFile]:
    """Every module file, validated, by code; AwarenessContentError listing every problem."""
    validator = Draft202012Validator(module_schema())
    problems: list[str] = []
    files: dict[str, ModuleFile] = {}
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise AwarenessContentError([f"aucun fichier .yaml dans {directory}"])
    for path in paths:
        document, errors = _read(path)
        if errors:
            problems += errors
            continue
        schema_errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        if schema_errors:
            problems += [
                f"{_where(path.name, document, list(e.absolute_path))} : {french_schema_error(e)}"
                for e in schema_errors
            ]
            continue
        rule_errors = _rules(path.name, document)
        if rule_errors:
            problems += rule_errors
            continue
        code = document["code"]
        if code in files:
            problems.append(
                f"{path.name} : le code « {code} » est déjà celui de {files[code].filename}"
            )
            continue
        values = _values(path.name, document)
        files[code] = ModuleFile(path.name, values, _hash(values))
    if problems:
        raise AwarenessContentError(problems)
    return files


def load(*, directory: Path = MODULES_DIR, dry_run: bool = False) -> LoadReport:
    """Validate every file, then upsert the modules in one transaction (nothing with dry_run)."""
    files = read_all(directory)
    report = LoadReport(dry_run=dry_run)
    with transaction.atomic():
        existing = {m.code: m for m in Module.objects.select_for_update()}
        for code, module_file in files.items():
            module = existing.get(code)
            if module is None:
                report.created.append(code)
                if not dry_run:
                    Module.objects.create(
                        code=code, content_hash=module_file.content_hash, **module_file.values
                    )
                continue
            changed = module.content_hash != module_file.content_hash
            metadata = {
                k: module_file.values[k]
                for k in ("position", "source_file")
                if getattr(module, k) != module_file.values[k]
            }
            if not changed and not metadata and module.is_active:
                report.unchanged.append(code)
                continue
            (report.updated if changed else report.unchanged).append(code)
            if dry_run:
                continue
            if changed:
                for key, value in module_file.values.items():
                    setattr(module, key, value)
                module.content_hash = module_file.content_hash
                module.version += 1
            for key, value in metadata.items():
                setattr(module, key, value)
            module.is_active = True
            module.save()
        for code, module in existing.items():
            if code not in files and module.is_active:
                report.unpublished.append(code)
                if not dry_run:
                    module.is_active = False
                    module.save()
    return report
