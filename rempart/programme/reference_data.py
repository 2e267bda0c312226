"""The CaRE domains as versioned data: YAML files checked against a JSON Schema, loaded
idempotently, and edited in the UI with history.

Loading is all or nothing: every file is validated first (schema, then rules the schema
cannot express, then the model's own checks) and every error is reported with its file and
item; only when all files are valid are domains and requirements upserted, in one
transaction, through `save()` so that the audit trail records each change.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from rempart.core.errors import DataFilesError, DomainError

from . import perms
from .models import Attainment, Domain, Measurement, Requirement

DATA_DIR = Path(__file__).resolve().parent / "data"
DOMAINS_DIR = DATA_DIR / "domains"
SCHEMA_PATH = DATA_DIR / "domain.schema.json"

DOMAIN_FIELDS = (
    "title",
    "axis",
    "summary",
    "legal_reference",
    "official_list_complete",
    "source_note",
    "data_version",
)
EDITABLE_REQUIREMENT_FIELDS = (
    "label",
    "domain_target",
    "proofs",
    "attainment",
    "measurement",
    "confirmed",
)
PROOF_MAX_LENGTH = 500


class ProgrammeDataError(DataFilesError):
    """The domain files cannot be loaded; nothing was written. `errors` lists each problem."""

    subject = "Les fichiers des domaines CaRE"
    error_code = "programme_data_invalid"


# --------------------------------------------------------------------------------------------
# Reading and validating
# --------------------------------------------------------------------------------------------


@functools.cache
def domain_schema() -> dict:
    with SCHEMA_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def _validator() -> Draft202012Validator:
    schema = domain_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


_TYPE_NAMES = {
    "string": "un texte",
    "boolean": "true ou false",
    "array": "une liste",
    "object": "un dictionnaire (clé : valeur)",
    "integer": "un nombre entier",
    "number": "un nombre",
}


def _show(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _french(error: SchemaError) -> str:
    """A French sentence for one schema error, saying what to write instead."""
    kind, schema, instance = error.validator, error.schema, error.instance
    hint = schema.get("x-message") if isinstance(schema, dict) else None
    if kind == "required":
        missing = [name for name in error.validator_value if name not in instance]
        if missing == ["measurement"]:
            return (
                "le champ « measurement » est obligatoire quand le mode de preuve est « mesure » "
                f"(valeurs possibles : {', '.join(Measurement.values)})"
            )
        names = ", ".join(f"« {name} »" for name in missing)
        return f"champ obligatoire manquant : {names}"
    if kind == "not" and error.validator_value == {"required": ["measurement"]}:
        return (
            "le champ « measurement » ne se renseigne que si le mode de preuve est « mesure » : "
            "retirez-le ou passez « attainment » à « mesure »"
        )
    if kind == "additionalProperties":
        known = schema.get("properties", {})
        extra = ", ".join(f"« {name} »" for name in instance if name not in known)
        return f"champ inconnu : {extra} (champs possibles : {', '.join(known)})"
    if kind == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"valeur « {_show(instance)} » non autorisée (valeurs possibles : {allowed})"
    if kind == "type":
        expected = _TYPE_NAMES.get(error.validator_value, error.validator_value)
        message = f"la valeur « {_show(instance)} » devrait être {expected}"
        return f"{message} ; {hint}" if hint else message
    if kind == "pattern":
        return f"« {_show(instance)} » n'a pas le format attendu" + (f" : {hint}" if hint else "")
    if kind == "minLength":
        return "ce texte ne doit pas être vide" + (f" ; {hint}" if hint else "")
    if kind == "maxLength":
        return (
            f"ce texte est trop long ({len(instance)} caractères, {error.validator_value} au plus)"
        )
    if kind == "uniqueItems":
        return "la liste contient deux fois la même valeur"
    return f"valeur « {_show(instance)} » refusée ({error.message})"


def _where(filename: str, data: Any, path: list) -> str:
    """'d2.yaml, exigence n°4 (D2.PROV.03), champ « measurement »' for a path in a file."""
    parts = [filename]
    if len(path) >= 2 and path[0] == "requirements" and isinstance(path[1], int):
        parts.append(_item_name(data["requirements"][path[1]], path[1]))
        rest = path[2:]
    else:
        rest = path
    if rest:
        parts.append(f"champ « {rest[0]} »")
    return ", ".join(parts)


def _item_name(item: Any, index: int) -> str:
    identifier = item.get("identifier") if isinstance(item, dict) else None
    name = f"exigence n°{index + 1}"
    return f"{name} ({identifier})" if isinstance(identifier, str) and identifier else name


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
            f"guillemets ou crochets non refermés (détail : {problem})."
        ]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path.name} : fichier illisible ({exc})."]


@dataclass
class DomainFile:
    """One valid domain file, ready to be written."""

    filename: str
    domain: dict[str, Any]
    requirements: list[dict[str, Any]]


def _model_errors(instance, exclude: list[str], where: str) -> list[str]:
    """The model's own checks (choices, lengths, check constraints) on an unsaved object."""
    try:
        instance.full_clean(exclude=exclude, validate_unique=False)
    except ValidationError as exc:
        return [
            f"{where}{'' if name == '__all__' else f', champ « {name} »'} : {message}"
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return []


def validate_file(path: Path) -> tuple[DomainFile | None, list[str]]:
    """Check one file; return it ready to load, or the list of its errors (in French)."""
    data, errors = _read(path)
    if errors:
        return None, errors
    name = path.name
    if not isinstance(data, dict):
        return None, [f"{name} : le fichier doit décrire un domaine (dictionnaire YAML)."]
    schema_errors = sorted(
        _validator().iter_errors(data),
        key=lambda e: [(0, p) if isinstance(p, int) else (1, str(p)) for p in e.absolute_path],
    )
    errors = [f"{_where(name, data, list(e.absolute_path))} : {_french(e)}." for e in schema_errors]
    errors += _identifier_errors(name, data)
    if schema_errors:
        return None, errors

    code = data["code"]
    requirements = []
    for index, item in enumerate(data["requirements"]):
        where = f"{name}, {_item_name(item, index)}"
        identifier = item["identifier"]
        values = {
            "kind": item["kind"],
            "label": item["label"].strip(),
            "domain_target": (item.get("domain_target") or "").strip(),
            "proofs": [proof.strip() for proof in item["proofs"]],
            "attainment": item["attainment"],
            "measurement": item.get("measurement", ""),
            "confirmed": item["confirmed"],
            "position": index + 1,
        }
        errors += _model_errors(Requirement(identifier=identifier, **values), ["domain"], where)
        requirements.append({"identifier": identifier, **values})

    domain = {key: data[key] for key in DOMAIN_FIELDS}
    for key in ("title", "summary", "legal_reference", "source_note"):
        domain[key] = domain[key].strip()
    errors += _model_errors(Domain(code=code, **domain), [], name)
    if errors:
        return None, errors
    return DomainFile(name, {"code": code, **domain}, requirements), []


def _identifier_errors(name: str, data: dict) -> list[str]:
    """Rules the schema cannot express: identifiers unique in the file and prefixed by the
    domain's code. Checked even when the schema found errors, so that all are reported."""
    code = data.get("code")
    items = data.get("requirements")
    if not isinstance(items, list):
        return []
    errors = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        identifier = item.get("identifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or not identifier:
            continue
        where = f"{name}, {_item_name(item, index)}"
        if isinstance(code, str) and code and not identifier.startswith(code + "."):
            errors.append(
                f"{where} : l'identifiant doit commencer par le code du domaine « {code}. »."
            )
        if identifier in seen:
            errors.append(
                f"{where} : l'identifiant « {identifier} » figure déjà à l'exigence n°{seen[identifier] + 1}."
            )
        seen.setdefault(identifier, index)
    return errors


def _domain_files(path: Path | str | None) -> list[Path]:
    path = Path(path) if path is not None else DOMAINS_DIR
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ProgrammeDataError([f"{path} : ni fichier ni dossier."])
    files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
    if not files:
        raise ProgrammeDataError([f"{path} : aucun fichier .yaml de domaine."])
    return files


def validate_domains(path: Path | str | None = None) -> list[DomainFile]:
    """Every file of the folder (or the one file), all checked; ProgrammeDataError lists
    every error of every file."""
    loaded: list[DomainFile] = []
    errors: list[str] = []
    codes: dict[str, str] = {}
    with translation.override("fr"):
        for file in _domain_files(path):
            domain_file, file_errors = validate_file(file)
            errors += file_errors
            if domain_file is None:
                continue
            code = domain_file.domain["code"]
            if code in codes:
                errors.append(f"{file.name} : le domaine {code} est déjà décrit par {codes[code]}.")
                continue
            codes[code] = file.name
            loaded.append(domain_file)
    if errors:
        raise ProgrammeDataError(errors)
    return loaded


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

STATUS_LABELS = {
    "created": ("créé", "créée"),
    "updated": ("mis à jour", "mise à jour"),
    "unchanged": ("inchangé", "inchangée"),
    "removed": ("retiré du fichier, conservé en base", "retirée du fichier, conservée en base"),
}


@dataclass
class LoadReport:
    """What a load did (or, in a dry run, would do): per status, the codes / identifiers."""

    dry_run: bool = False
    domains: dict[str, list[str]] = field(
        default_factory=lambda: {"created": [], "updated": [], "unchanged": [], "removed": []}
    )
    requirements: dict[str, list[str]] = field(
        default_factory=lambda: {"created": [], "updated": [], "unchanged": [], "removed": []}
    )
    changed_fields: dict[str, list[str]] = field(default_factory=dict)

    @property
    def has_changes(self) -> bool:
        return any(self.domains[s] or self.requirements[s] for s in ("created", "updated"))

    def lines(self) -> list[str]:
        out = []
        if self.dry_run:
            out.append("Simulation (--dry-run) : rien n'a été enregistré.")
        for status in ("created", "updated", "removed"):
            for code in self.domains[status]:
                label = (
                    "absent des fichiers, conservé en base"
                    if status == "removed"
                    else STATUS_LABELS[status][0]
                )
                out.append(f"Domaine {code} : {label}{self._fields(code)}.")
            for identifier in self.requirements[status]:
                out.append(
                    f"Exigence {identifier} : {STATUS_LABELS[status][1]}{self._fields(identifier)}."
                )
        d, r = self.domains, self.requirements
        out.append(
            f"Domaines : {len(d['created'])} créé(s), {len(d['updated'])} mis à jour, "
            f"{len(d['unchanged'])} inchangé(s), {len(d['removed'])} absent(s) des fichiers."
        )
        out.append(
            f"Prérequis et cibles : {len(r['created'])} créé(s), {len(r['updated'])} mis à jour, "
            f"{len(r['unchanged'])} inchangé(s), {len(r['removed'])} retiré(s) du fichier "
            "(conservé(s) en base)."
        )
        return out

    def _fields(self, key: str) -> str:
        names = self.changed_fields.get(key)
        return f" ({', '.join(names)})" if names else ""


def _upsert(model, lookup: dict, values: dict, existing, write: bool) -> tuple[str, list[str], Any]:
    """Create or update one object through save(); an unchanged object is not saved."""
    if existing is None:
        obj = model(**lookup, **values)
        if write:
            obj.save()
        return "created", [], obj
    changed = [name for name, value in values.items() if getattr(existing, name) != value]
    if not changed:
        return "unchanged", [], existing
    for name in changed:
        setattr(existing, name, values[name])
    if write:
        existing.save(update_fields=[*changed, "updated_at"] if model is Domain else changed)
    return "updated", changed, existing


def load_domains(path: Path | str | None = None, *, dry_run: bool = False) -> LoadReport:
    """Validate every domain file, then upsert domains and requirements by code / identifier.

    Idempotent: a second load reports everything unchanged and writes nothing. Requirements
    that are in the database but no longer in their domain's file are reported, never deleted
    (declarations and applications may refer to them)."""
    files = validate_domains(path)
    report = LoadReport(dry_run=dry_run)
    write = not dry_run
    whole_set = path is None or Path(path).is_dir()
    try:
        with transaction.atomic():
            _load(files, report, write, whole_set=whole_set)
    except IntegrityError as exc:
        raise ProgrammeDataError(
            [f"la base de données a refusé une écriture ({exc}) ; réessayez"]
        ) from exc
    return report


def _load(files: list[DomainFile], report: LoadReport, write: bool, *, whole_set: bool) -> None:
    codes = [f.domain["code"] for f in files]
    identifiers = [r["identifier"] for f in files for r in f.requirements]
    domains = {d.code: d for d in Domain.objects.select_for_update().filter(code__in=codes)}
    requirements = {r.identifier: r for r in Requirement.objects.filter(identifier__in=identifiers)}
    for domain_file in files:
        code = domain_file.domain["code"]
        values = {k: v for k, v in domain_file.domain.items() if k != "code"}
        status, changed, domain = _upsert(Domain, {"code": code}, values, domains.get(code), write)
        report.domains[status].append(code)
        if changed:
            report.changed_fields[code] = changed
        for item in domain_file.requirements:
            identifier = item["identifier"]
            values = {k: v for k, v in item.items() if k != "identifier"}
            values["domain_id"] = domain.pk
            status, changed, _obj = _upsert(
                Requirement,
                {"identifier": identifier},
                values,
                requirements.get(identifier),
                write,
            )
            report.requirements[status].append(identifier)
            if changed:
                report.changed_fields[identifier] = [
                    "domain" if name == "domain_id" else name for name in changed
                ]
        if domain.pk is not None:
            listed = [item["identifier"] for item in domain_file.requirements]
            report.requirements["removed"] += list(
                Requirement.objects.filter(domain=domain)
                .exclude(identifier__in=listed)
                .order_by("identifier")
                .values_list("identifier", flat=True)
            )
    if whole_set:  # (loading one file says nothing about the other domains)
        report.domains["removed"] = list(
            Domain.objects.exclude(code__in=codes).order_by("code").values_list("code", flat=True)
        )


# --------------------------------------------------------------------------------------------
# Editing in the UI
# --------------------------------------------------------------------------------------------


def clean_proofs(proofs) -> list[str]:
    """Proofs as a list of non-empty, distinct texts (the form gives one per line)."""
    if isinstance(proofs, str):
        proofs = proofs.splitlines()
    cleaned: list[str] = []
    for proof in proofs:
        text = str(proof).strip()
        if not text:
            continue
        if len(text) > PROOF_MAX_LENGTH:
            raise DomainError(
                f"Une preuve fait {len(text)} caractères : raccourcissez-la à {PROOF_MAX_LENGTH} au plus.",
                code="proof_too_long",
                field="proofs",
            )
        if text in cleaned:
            raise DomainError(
                f"La preuve « {text} » figure deux fois : supprimez le doublon.",
                code="proof_duplicated",
                field="proofs",
            )
        cleaned.append(text)
    return cleaned


def requirement_update(*, actor, requirement: Requirement, **changes) -> Requirement:
    """Change a prerequisite or a target; audited (the web request sets the actor).

    Only the descriptive fields can change: the identifier, kind and domain come from the
    official text and stay as loaded."""
    if not perms.can_edit_programme_data(actor):
        raise DomainError(
            "Vous ne pouvez pas modifier les prérequis et cibles du programme.", code="forbidden"
        )
    unknown = set(changes) - set(EDITABLE_REQUIREMENT_FIELDS)
    if unknown:
        raise DomainError(
            f"Champs non modifiables : {', '.join(sorted(unknown))}.", code="not_editable"
        )
    if "label" in changes:
        changes["label"] = str(changes["label"] or "").strip()
        if not changes["label"]:
            raise DomainError("Le libellé ne peut pas être vide.", code="required", field="label")
    if "domain_target" in changes:
        changes["domain_target"] = str(changes["domain_target"] or "").strip()
    if "proofs" in changes:
        changes["proofs"] = clean_proofs(changes["proofs"])
    if "measurement" in changes:
        changes["measurement"] = changes["measurement"] or ""
    with transaction.atomic():
        locked = Requirement.objects.select_for_update().get(pk=requirement.pk)
        before = {name: getattr(locked, name) for name in changes}
        for name, value in changes.items():
            setattr(locked, name, value)
        if locked.attainment not in Attainment.values:
            raise DomainError(
                "Choisissez un mode de preuve dans la liste.", code="invalid", field="attainment"
            )
        if locked.attainment == Attainment.MEASUREMENT and not locked.measurement:
            raise DomainError(
                "Indiquez la mesure de la plateforme qui prouve l'atteinte : elle est obligatoire "
                "quand le mode de preuve est « Mesure de la plateforme ».",
                code="measurement_required",
                field="measurement",
            )
        if locked.attainment != Attainment.MEASUREMENT and locked.measurement:
            raise DomainError(
                "Une mesure ne s'indique que pour le mode de preuve « Mesure de la plateforme » : "
                "videz le champ « Mesure utilisée » ou changez de mode de preuve.",
                code="measurement_not_allowed",
                field="measurement",
            )
        try:
            locked.full_clean(validate_unique=False)
        except ValidationError as exc:
            raise DomainError(
                " ".join(message for messages in exc.message_dict.values() for message in messages),
                code="invalid",
            ) from exc
        changed = [name for name in changes if before[name] != getattr(locked, name)]
        if changed:
            locked.save(update_fields=changed)
    for name in changes:
        setattr(requirement, name, getattr(locked, name))
    return requirement
