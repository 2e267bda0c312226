"""Questionnaires as data: YAML files in the library format of CISO Assistant (a framework of
URN-based `requirement_nodes` carrying `questions` with `choices` and `depends_on`), plus a few
namespaced extensions (`x-rempart-*`) so that a CISO Assistant file still loads as it is.

Reading a text is all or nothing: it is composed with its line numbers, checked against
data/questionnaire.schema.json and against the rules a schema cannot express (unique URNs,
parents first, depth, conditions on earlier questions, measure triggers, mapping targets), and
every problem is reported with its line and field. Only a fully valid text is written, in one
transaction.

Versions are immutable: a text whose content (SHA-256 of its canonical JSON) differs from the
current version becomes a new row (version + 1), the previous one is superseded and the new one
keeps `previous` and the `mapping` of question and choice URNs, which `carry_over` follows to
copy an organisation's previous answers. The format decisions are documented in
docs/assessments.md (« Questionnaires »).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml
from django.db import transaction
from django.db.models import Max
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from rempart.core import yaml_data
from rempart.core.errors import DomainError
from rempart.core.schema_messages import french_schema_error
from rempart.core.yaml_data import Problem

from . import perms
from .models import (
    Answer,
    Assessment,
    Choice,
    DependsOnCondition,
    Importance,
    Measure,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireKind,
    QuestionnaireStatus,
    RequirementNode,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
QUESTIONNAIRES_DIR = DATA_DIR / "questionnaires"
SCHEMA_PATH = DATA_DIR / "questionnaire.schema.json"

FORMAT_REMPART = "rempart"
FORMAT_CISO = "ciso_assistant"
FORMATS = (FORMAT_REMPART, FORMAT_CISO)

# Choice questions (scored); the others take a value.
CHOICE_TYPES = {"unique_choice", "single_choice", "multiple_choice", "boolean"}
VALUE_TYPES = {"text": QuestionKind.TEXT, "date": QuestionKind.DATE, "number": QuestionKind.NUMBER}

# Wordings of answers that are never scored (answered, left out of the score).
UNSCORED_WORDINGS = {
    "je ne sais pas",
    "ne sait pas",
    "ne sais pas",
    "nsp",
    "non applicable",
    "non concerne",
    "sans objet",
    "n/a",
    "na",
    "i don't know",
    "don't know",
    "not applicable",
}
YES_WORDINGS = {"oui", "yes"}
NO_WORDINGS = {"non", "no"}

DEFAULT_MIN_ANSWERED_PERCENT = 80


# --------------------------------------------------------------------------------------------
# Problems: one per line and field
# --------------------------------------------------------------------------------------------


class QuestionnaireDataError(yaml_data.ProblemsError):
    """A questionnaire text that cannot be loaded; nothing was written. `problems` keeps the
    line and field of each error for the import page."""

    subject = "Les questionnaires"
    error_code = "questionnaire_data_invalid"


# --------------------------------------------------------------------------------------------
# YAML with its line numbers
# --------------------------------------------------------------------------------------------


def questionnaire_schema() -> dict:
    return yaml_data.json_schema(SCHEMA_PATH)


def _validator() -> Draft202012Validator:
    return yaml_data.schema_validator(SCHEMA_PATH)


_ITEM_NAMES = {
    "requirement_nodes": "exigence",
    "choices": "réponse",
    "x-rempart-measures": "mesure",
}
_SKIPPED = {"objects", "framework"}


def _where(path) -> str:
    """« exigence n°3, question « urn:…:q1 », réponse n°2, champ « add_score » »."""
    parts = []
    path = list(path)
    while path:
        key = path.pop(0)
        if isinstance(key, str) and path and isinstance(path[0], int) and key in _ITEM_NAMES:
            parts.append(f"{_ITEM_NAMES[key]} n°{path.pop(0) + 1}")
        elif key == "questions" and path and isinstance(path[0], str):
            parts.append(f"question « {path.pop(0)} »")
        elif key in ("questions", "choices") and len(parts) and parts[-1] == "correspondance":
            parts.append(f"champ « {key} »")
        elif key == "x-rempart-mapping":
            parts.append("correspondance")
        elif key in _SKIPPED and not parts:
            continue
        elif isinstance(key, str):
            parts.append(f"champ « {key} »")
        else:
            parts.append(f"élément n°{key + 1}")
    return ", ".join(parts)


def _schema_line(node, error: SchemaError) -> int | None:
    path = list(error.absolute_path)
    target = yaml_data.node_at(node, path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        for name in error.instance:
            if name not in known and yaml_data.key_node(target, name) is not None:
                return yaml_data.line(yaml_data.key_node(target, name))
    if error.validator == "propertyNames" or (
        error.validator in ("pattern", "type") and error.schema.get("x-message")
    ):
        key = (
            yaml_data.key_node(target, error.instance) if isinstance(error.instance, str) else None
        )
        if key is not None:
            return yaml_data.line(key)
    return yaml_data.line(target)


# --------------------------------------------------------------------------------------------
# Normalisation: what a valid text means
# --------------------------------------------------------------------------------------------


def _wording(label: str) -> str:
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    text = text.lower().replace("’", "'").strip()
    return re.sub(r"[\s.!?«»\"]+$", "", re.sub(r"\s+", " ", text)).strip()


def is_unscored_wording(label: str) -> bool:
    return _wording(label) in UNSCORED_WORDINGS


def _is_yes_no(labels: list[str]) -> bool:
    words = {_wording(label) for label in labels}
    yes, no = words & YES_WORDINGS, words & NO_WORDINGS
    return bool(yes) and bool(no) and words <= (YES_WORDINGS | NO_WORDINGS | UNSCORED_WORDINGS)


def _choice_scores(kind: str, choices: list[dict]) -> list[float | None]:
    """Scores of the choices of one question (documented rule):
    1. `add_score` when the question gives one for at least one choice (the others: no score);
    2. otherwise yes/no by wording: « Oui » 100, « Non » 0;
    3. otherwise a single choice is scored by file order, worst first: the choices other than
       « je ne sais pas » / « non applicable » go from 0 to 100 in equal steps;
    4. a multiple choice without `add_score` is not scored.
    « Je ne sais pas » / « Non applicable » never have a score unless `add_score` gives one."""
    if any("add_score" in c for c in choices):
        return [float(c["add_score"]) if "add_score" in c else None for c in choices]
    if kind == QuestionKind.YES_NO:
        scores: list[float | None] = []
        for c in choices:
            word = _wording(c["value"])
            scores.append(100.0 if word in YES_WORDINGS else 0.0 if word in NO_WORDINGS else None)
        return scores
    if kind == QuestionKind.SINGLE_CHOICE:
        ranked = [i for i, c in enumerate(choices) if not is_unscored_wording(c["value"])]
        scores = [None] * len(choices)
        if len(ranked) >= 2:
            for rank, index in enumerate(ranked):
                scores[index] = round(100 * rank / (len(ranked) - 1), 2)
        return scores
    return [None] * len(choices)


def _question_kind(qtype: str, choices: list[dict]) -> str:
    if qtype == "boolean":
        return QuestionKind.YES_NO
    if qtype == "multiple_choice":
        return QuestionKind.MULTIPLE_CHOICE
    if qtype in ("unique_choice", "single_choice"):
        if _is_yes_no([c["value"] for c in choices]):
            return QuestionKind.YES_NO
        return QuestionKind.SINGLE_CHOICE
    return VALUE_TYPES[qtype]


def _boolean_choices(question_urn: str) -> list[dict]:
    """A CISO Assistant `boolean` question has no choices: it gets « Oui » and « Non »."""
    return [
        {"urn": f"{question_urn}:choice:oui", "value": "Oui"},
        {"urn": f"{question_urn}:choice:non", "value": "Non"},
    ]


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _normalise(data: dict, source_format: str) -> dict:
    framework = data["objects"]["framework"]
    nodes, questions = [], []
    depth_of: dict[str, int] = {}
    theme_of: dict[str, str] = {}
    q_order = 0
    for n_index, raw in enumerate(framework["requirement_nodes"], start=1):
        urn = raw["urn"]
        parent = raw.get("parent_urn")
        theme_of[urn] = theme_of.get(parent, urn) if parent else urn
        depth_of[urn] = raw["depth"]
        importance = raw.get("importance") or ""
        nodes.append(
            {
                "urn": urn,
                "parent_urn": parent,
                "depth": raw["depth"],
                "order": n_index,
                "assessable": bool(raw.get("assessable", False)),
                "ref_id": _text(raw.get("ref_id")),
                "name": _text(raw.get("name")),
                "description": _text(raw.get("description") or raw.get("annotation")),
                "typical_evidence": _text(raw.get("typical_evidence")),
                "importance": importance if importance in Importance.values else "",
                "weight": raw.get("weight", 1),
            }
        )
        for q_urn, rq in (raw.get("questions") or {}).items():
            q_order += 1
            raw_choices = rq.get("choices") or []
            if rq["type"] == "boolean" and not raw_choices:
                raw_choices = _boolean_choices(q_urn)
            kind = _question_kind(rq["type"], raw_choices)
            scores = _choice_scores(kind, raw_choices) if kind in _CHOICE_KINDS else []
            depends = rq.get("depends_on")
            questions.append(
                {
                    "urn": q_urn,
                    "node_urn": urn,
                    "order": q_order,
                    "kind": kind,
                    "text": _text(rq["text"]),
                    "help_text": _text(rq.get("x-rempart-help")),
                    "weight": rq.get("weight", 1),
                    "depends_on": (
                        {
                            "question": depends["question"],
                            "answers": list(depends["answers"]),
                            "condition": depends.get("condition", DependsOnCondition.ANY),
                        }
                        if depends
                        else None
                    ),
                    "choices": [
                        {
                            "urn": c["urn"],
                            "order": c_index,
                            "label": _text(c["value"]),
                            "description": _text(c.get("description")),
                            "score": scores[c_index - 1] if scores else None,
                        }
                        for c_index, c in enumerate(raw_choices, start=1)
                    ],
                }
            )
    mapping = framework.get("x-rempart-mapping") or {}
    kind = framework.get("x-rempart-kind") or QuestionnaireKind.REFERENTIAL
    return {
        "urn": framework["urn"],
        "ref_id": _text(framework.get("ref_id") or data.get("ref_id")),
        "name": _text(framework.get("name") or data.get("name")),
        "description": _text(framework.get("description") or data.get("description")),
        "provider": _text(data.get("provider")),
        "locale": _text(data.get("locale")),
        "kind": kind,
        "min_answered_percent": framework.get(
            "x-rempart-min-answered-percent", DEFAULT_MIN_ANSWERED_PERCENT
        ),
        "nodes": nodes,
        "questions": questions,
        "measures": [
            {
                "urn": m["urn"],
                "title": _text(m["title"]),
                "description": _text(m.get("description")),
                "priority": m["priority"],
                "care_domain": m.get("care_domain", ""),
                "triggered_by": list(m["triggered_by"]),
            }
            for m in framework.get("x-rempart-measures") or []
        ],
        "mapping": {
            "questions": dict(mapping.get("questions") or {}),
            "choices": dict(mapping.get("choices") or {}),
        },
        "themes": theme_of,
        "source_format": source_format,
    }


_CHOICE_KINDS = (QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE, QuestionKind.YES_NO)


def canonical_sha256(content: dict) -> str:
    """SHA-256 of the canonical JSON of a questionnaire's content. The mapping (how to read the
    previous version) and the declared version are not content."""
    payload = {k: v for k, v in content.items() if k not in ("mapping", "themes", "source_format")}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# Rules the schema cannot express
# --------------------------------------------------------------------------------------------

FW = ("objects", "framework")


def _cross_rules(data: dict, root, source_format: str) -> list[tuple[int | None, tuple, str]]:
    """Checked even when the schema found errors (on what is well-formed), so that every
    problem is reported at once."""
    found: list[tuple[int | None, tuple, str]] = []

    def add(path, message, key_line=False):
        node = yaml_data.node_at(root, path)
        if key_line and len(path) and isinstance(path[-1], str):
            key = yaml_data.key_node(yaml_data.node_at(root, path[:-1]), path[-1])
            node = key if key is not None else node
        found.append((yaml_data.line(node), tuple(path), message))

    objects = data.get("objects") if isinstance(data, dict) else None
    framework = objects.get("framework") if isinstance(objects, dict) else None
    if not isinstance(framework, dict):
        return found
    if source_format == FORMAT_REMPART and "x-rempart-kind" not in framework:
        add(
            FW,
            "un questionnaire Rempart indique son type dans « x-rempart-kind » (priority_actions, "
            "prerequisites, maturity ou referential)",
        )
    raw_nodes = framework.get("requirement_nodes")
    if not isinstance(raw_nodes, list):
        return found

    seen_urns: dict[str, str] = {}  # urn → where it was first seen

    def unique(urn, path, label):
        if not isinstance(urn, str):
            return
        key = urn.lower()
        if key in seen_urns:
            add(
                path,
                f"l'URN « {urn} » est déjà utilisée par {seen_urns[key]} : chaque URN est unique",
            )
        else:
            seen_urns[key] = label

    node_depth: dict[str, int] = {}
    question_choices: dict[str, dict] = {}  # earlier questions: urn → {kind, choices set}
    all_choices: set[str] = set()
    all_questions: set[str] = set()
    question_count = 0
    for index, raw in enumerate(raw_nodes):
        base = (*FW, "requirement_nodes", index)
        if not isinstance(raw, dict):
            continue
        urn, depth, parent = raw.get("urn"), raw.get("depth"), raw.get("parent_urn")
        unique(urn, (*base, "urn"), f"l'exigence n°{index + 1}")
        if isinstance(depth, int) and not isinstance(depth, bool):
            if parent is None and depth != 1:
                add(
                    (*base, "depth"),
                    f"une exigence sans « parent_urn » est un thème de profondeur 1 (ici {depth}) : "
                    "indiquez son parent ou « depth: 1 »",
                )
            elif isinstance(parent, str):
                if parent not in node_depth:
                    add(
                        (*base, "parent_urn"),
                        f"le parent « {parent} » n'est pas une exigence écrite plus haut dans le "
                        "fichier : les parents viennent avant leurs enfants",
                    )
                elif depth != node_depth[parent] + 1:
                    add(
                        (*base, "depth"),
                        f"la profondeur doit être celle du parent plus un ({node_depth[parent] + 1})",
                    )
            if isinstance(urn, str):
                node_depth[urn] = depth
        questions = raw.get("questions")
        if not isinstance(questions, dict):
            continue
        for q_urn, rq in questions.items():
            qpath = (*base, "questions", q_urn)
            question_count += 1
            if not isinstance(rq, dict):
                continue
            unique(q_urn, qpath, f"la question « {q_urn} »")
            qtype = rq.get("type")
            choices = rq.get("choices")
            choice_list = choices if isinstance(choices, list) else []
            choice_urns = [c.get("urn") for c in choice_list if isinstance(c, dict)]
            for c_index, c_urn in enumerate(choice_urns):
                unique(c_urn, (*qpath, "choices", c_index, "urn"), f"une réponse de « {q_urn} »")
            if qtype in VALUE_TYPES and choices:
                add(
                    (*qpath, "choices"),
                    f"une question de type « {qtype} » n'a pas de réponses proposées : retirez "
                    "« choices » ou choisissez un type à choix",
                )
            if qtype in ("unique_choice", "single_choice") and len(choice_list) < 2:
                add((*qpath, "type"), "une question à choix unique propose au moins deux réponses")
            if qtype == "multiple_choice" and not choice_list:
                add((*qpath, "type"), "une question à choix multiple propose au moins une réponse")
            if qtype == "boolean" and not choice_list:
                choice_urns = [c["urn"] for c in _boolean_choices(q_urn)]
            depends = rq.get("depends_on")
            if isinstance(depends, dict):
                target = depends.get("question")
                if isinstance(target, str):
                    if target not in question_choices:
                        add(
                            (*qpath, "depends_on", "question"),
                            f"« {target} » n'est pas une question écrite plus haut dans ce "
                            "fichier : une question ne dépend que d'une question qui la précède",
                        )
                    elif not question_choices[target]:
                        add(
                            (*qpath, "depends_on", "question"),
                            f"« {target} » n'a pas de réponses proposées : une condition porte "
                            "sur une question à choix",
                        )
                    else:
                        answers = depends.get("answers")
                        unknown = [
                            a
                            for a in (answers if isinstance(answers, list) else [])
                            if isinstance(a, str) and a not in question_choices[target]
                        ]
                        if unknown:
                            add(
                                (*qpath, "depends_on", "answers"),
                                "réponse(s) inconnue(s) de la question « "
                                + target
                                + " » : "
                                + ", ".join(f"« {a} »" for a in unknown),
                            )
            if isinstance(q_urn, str):
                valid = {c for c in choice_urns if isinstance(c, str)}
                question_choices[q_urn] = valid if qtype in CHOICE_TYPES else set()
                all_choices |= valid
                all_questions.add(q_urn)
    if question_count == 0:
        add(
            (*FW, "requirement_nodes"),
            "ce référentiel ne contient aucune question (« questions » sous les exigences) : "
            "un questionnaire d'autoévaluation pose au moins une question",
        )
    measures = framework.get("x-rempart-measures")
    for index, measure in enumerate(measures if isinstance(measures, list) else []):
        if not isinstance(measure, dict):
            continue
        mpath = (*FW, "x-rempart-measures", index)
        unique(measure.get("urn"), (*mpath, "urn"), f"la mesure n°{index + 1}")
        triggers = measure.get("triggered_by")
        unknown = [
            t for t in (triggers if isinstance(triggers, list) else []) if isinstance(t, str)
        ]
        unknown = [t for t in unknown if t not in all_choices]
        if unknown:
            add(
                (*mpath, "triggered_by"),
                "réponse(s) inconnue(s) dans ce questionnaire : "
                + ", ".join(f"« {t} »" for t in unknown),
            )
    mapping = framework.get("x-rempart-mapping")
    if isinstance(mapping, dict):
        for part, known, label in (
            ("questions", all_questions, "question"),
            ("choices", all_choices, "réponse"),
        ):
            pairs = mapping.get(part)
            for old, new in pairs.items() if isinstance(pairs, dict) else []:
                if isinstance(new, str) and new not in known:
                    add(
                        (*FW, "x-rempart-mapping", part, old),
                        f"« {new} » n'est pas une {label} de ce questionnaire : la correspondance "
                        f"mène vers une {label} de la nouvelle version",
                    )
    return found


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


@dataclass
class QuestionnaireSpec:
    """A valid questionnaire text: its normalised content and where its mapping is written."""

    content: dict
    source: str = ""
    mapping_lines: dict[tuple[str, str], int | None] = field(default_factory=dict)

    @property
    def urn(self) -> str:
        return self.content["urn"]

    @property
    def source_format(self) -> str:
        return self.content["source_format"]

    @functools.cached_property
    def sha256(self) -> str:
        return canonical_sha256(self.content)


def detect_format(data) -> str:
    """A file that uses Rempart's extensions (`x-rempart-kind`) is a Rempart file; any other
    is read as a CISO Assistant library (fields Rempart does not use are ignored)."""
    try:
        framework = data["objects"]["framework"]
    except (KeyError, TypeError):
        return FORMAT_REMPART
    if isinstance(framework, dict) and "x-rempart-kind" in framework:
        return FORMAT_REMPART
    return FORMAT_CISO


def _schema_problems(data, root, source_format: str) -> list[tuple[int | None, tuple, str]]:
    found = []
    for error in _validator().iter_errors(data):
        message = french_schema_error(error)
        if error.validator == "additionalProperties" and source_format == FORMAT_CISO:
            known = error.schema.get("properties", {})
            ours = [n for n in error.instance if n not in known and n.startswith("x-rempart-")]
            if not ours:
                continue  # a CISO Assistant field Rempart does not use: ignored
            message = "champ inconnu : " + ", ".join(f"« {n} »" for n in ours)
        if error.validator == "propertyNames":
            message = (
                f"« {error.instance} » n'est pas une URN : une question est nommée par son URN "
                "(« urn:…:question:1 »)"
            )
        found.append((_schema_line(root, error), tuple(error.absolute_path), message))
    return found


def parse_questionnaire(
    text: str, *, source: str = "", source_format: str | None = None
) -> QuestionnaireSpec:
    """A questionnaire text, fully checked; QuestionnaireDataError lists every problem with
    its line and field."""
    if source_format is not None and source_format not in FORMATS:
        raise ValueError(f"unknown source format {source_format!r}")

    def fail(line, message):
        raise QuestionnaireDataError([Problem(line, "", message, source)])

    if not text or not text.strip():
        fail(None, "le fichier est vide")
    try:
        data, root = yaml_data.compose(text, json_safe=True)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        detail = getattr(exc, "problem", None) or str(exc)
        raise QuestionnaireDataError(
            [
                Problem(
                    mark.line + 1 if mark else None,
                    "",
                    "syntaxe YAML invalide ; vérifiez l'indentation, les deux-points et les "
                    f"guillemets ou crochets non refermés (détail : {detail})",
                    source,
                )
            ]
        ) from exc
    if not isinstance(data, dict):
        fail(
            yaml_data.line(root),
            "le fichier doit décrire une bibliothèque (dictionnaire YAML « clé: valeur » avec "
            "« urn », « name », « version » et « objects: framework: »)",
        )
    source_format = source_format or detect_format(data)
    found: list[tuple[int | None, tuple, str]] = []
    for line, path, key in yaml_data.duplicate_keys(root):
        found.append((line, path, f"la clé « {key} » est écrite deux fois : gardez-en une"))
    schema_found = _schema_problems(data, root, source_format)
    found += schema_found
    found += _cross_rules(data, root, source_format)
    if found:
        found.sort(key=lambda item: (item[0] or 0, [str(p) for p in item[1]]))
        raise QuestionnaireDataError(
            [Problem(line, _where(path), message, source) for line, path, message in found]
        )
    framework_node = yaml_data.node_at(root, (*FW, "x-rempart-mapping"))
    mapping_lines = {}
    for part in ("questions", "choices"):
        part_node = yaml_data.child(framework_node, part)
        if isinstance(part_node, yaml.MappingNode):
            for key_node, _value in part_node.value:
                mapping_lines[(part, key_node.value)] = yaml_data.line(key_node)
    return QuestionnaireSpec(
        content=_normalise(data, source_format), source=source, mapping_lines=mapping_lines
    )


def questionnaire_files(path: Path | str | None = None) -> list[Path]:
    path = Path(path) if path is not None else QUESTIONNAIRES_DIR
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise QuestionnaireDataError([Problem(None, "", f"{path} : ni fichier ni dossier")])
    return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))


def parse_files(path: Path | str | None = None) -> list[QuestionnaireSpec]:
    """Every file of the folder, all checked before anything is written."""
    specs: list[QuestionnaireSpec] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for file in questionnaire_files(path):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(None, "", f"fichier illisible ({exc})", file.name))
            continue
        try:
            spec = parse_questionnaire(text, source=file.name)
        except QuestionnaireDataError as exc:
            problems += exc.problems
            continue
        if spec.urn in seen:
            problems.append(
                Problem(
                    None, "", f"ce questionnaire est déjà décrit dans {seen[spec.urn]}", file.name
                )
            )
            continue
        seen[spec.urn] = file.name
        specs.append(spec)
    if problems:
        raise QuestionnaireDataError(problems)
    return specs


# --------------------------------------------------------------------------------------------
# Loading: new versions, never edits
# --------------------------------------------------------------------------------------------

CREATED, NEW_VERSION, UNCHANGED = "created", "new_version", "unchanged"


@dataclass
class LoadResult:
    questionnaire: Questionnaire
    status: str  # created, new_version, unchanged

    def __str__(self) -> str:
        label = {CREATED: "créé", NEW_VERSION: "nouvelle version", UNCHANGED: "inchangé"}
        return f"{label[self.status]} : {self.questionnaire.name} (v{self.questionnaire.version})"


def _library_key(organisation) -> str:
    return f"org:{organisation.pk}" if organisation is not None else "shared"


def _check_mapping(spec: QuestionnaireSpec, previous: Questionnaire | None) -> None:
    """The old URNs of the mapping must be those of the version it follows."""
    mapping = spec.content["mapping"]
    if previous is None or not (mapping["questions"] or mapping["choices"]):
        return
    old_questions = set(previous.questions.values_list("urn", flat=True))
    old_choices = set(
        Choice.objects.filter(question__questionnaire=previous).values_list("urn", flat=True)
    )
    problems = []
    for part, known, label in (
        ("questions", old_questions, "question"),
        ("choices", old_choices, "réponse"),
    ):
        for old in mapping[part]:
            if old not in known:
                problems.append(
                    Problem(
                        spec.mapping_lines.get((part, old)),
                        f"correspondance, champ « {part} »",
                        f"« {old} » n'est pas une {label} de la version {previous.version} en "
                        "vigueur : la correspondance part des URN de la version précédente",
                        spec.source,
                    )
                )
    if problems:
        raise QuestionnaireDataError(problems)


def _write(spec: QuestionnaireSpec, *, organisation, actor, version, previous) -> Questionnaire:
    content = spec.content
    if previous is not None and previous.status == QuestionnaireStatus.CURRENT:
        previous.status = QuestionnaireStatus.SUPERSEDED
        previous.save(update_fields=["status"])
    questionnaire = Questionnaire.objects.create(
        organisation=organisation,
        urn=content["urn"],
        ref_id=content["ref_id"][:100],
        name=content["name"][:300],
        description=content["description"],
        provider=content["provider"][:200],
        kind=content["kind"],
        version=version,
        status=QuestionnaireStatus.CURRENT,
        min_answered_percent=content["min_answered_percent"],
        previous=previous,
        mapping=content["mapping"] if previous is not None else {},
        source_format=content["source_format"],
        source_sha256=spec.sha256,
        loaded_by=actor,
    )
    # Nodes level by level (a parent has its id before its children are written).
    nodes: dict[str, RequirementNode] = {}
    for depth in sorted({n["depth"] for n in content["nodes"]}):
        level = [
            RequirementNode(
                questionnaire=questionnaire,
                urn=n["urn"],
                parent=nodes.get(n["parent_urn"]) if n["parent_urn"] else None,
                theme=nodes.get(content["themes"][n["urn"]]) if depth > 1 else None,
                order=n["order"],
                depth=n["depth"],
                assessable=n["assessable"],
                ref_id=n["ref_id"][:100],
                name=n["name"][:500],
                description=n["description"],
                typical_evidence=n["typical_evidence"],
                importance=n["importance"],
                weight=n["weight"],
            )
            for n in content["nodes"]
            if n["depth"] == depth
        ]
        for node in RequirementNode.objects.bulk_create(level):
            nodes[node.urn] = node
    themes = [node for node in nodes.values() if node.depth == 1]
    for node in themes:
        node.theme = node
    RequirementNode.objects.bulk_update(themes, ["theme"])

    questions = {
        q.urn: q
        for q in Question.objects.bulk_create(
            Question(
                questionnaire=questionnaire,
                node=nodes[q["node_urn"]],
                urn=q["urn"],
                order=q["order"],
                kind=q["kind"],
                text=q["text"],
                help_text=q["help_text"],
                weight=q["weight"],
                depends_on_choices=q["depends_on"]["answers"] if q["depends_on"] else [],
                depends_on_condition=(
                    q["depends_on"]["condition"] if q["depends_on"] else DependsOnCondition.ANY
                ),
            )
            for q in content["questions"]
        )
    }
    dependent = []
    for q in content["questions"]:
        if q["depends_on"]:
            question = questions[q["urn"]]
            question.depends_on = questions[q["depends_on"]["question"]]
            dependent.append(question)
    Question.objects.bulk_update(dependent, ["depends_on"])
    choices = {
        c.urn: c
        for c in Choice.objects.bulk_create(
            Choice(
                question=questions[q["urn"]],
                urn=c["urn"],
                order=c["order"],
                label=c["label"][:500],
                description=c["description"],
                score=None if c["score"] is None else Decimal(str(c["score"])),
            )
            for q in content["questions"]
            for c in q["choices"]
        )
    }
    measures = Measure.objects.bulk_create(
        Measure(
            questionnaire=questionnaire,
            urn=m["urn"],
            title=m["title"][:300],
            description=m["description"],
            priority=m["priority"],
            care_domain_code=m["care_domain"],
        )
        for m in content["measures"]
    )
    links = [
        Measure.choices.through(measure_id=measure.pk, choice_id=choices[urn].pk)
        for measure, m in zip(measures, content["measures"], strict=True)
        for urn in m["triggered_by"]
    ]
    Measure.choices.through.objects.bulk_create(links)
    return questionnaire


def load_spec(spec: QuestionnaireSpec, *, organisation=None, actor=None) -> LoadResult:
    """Write one valid questionnaire into the shared library (or the organisation's own), in
    one transaction: unchanged when its content is that of the current version."""
    key = _library_key(organisation)
    with transaction.atomic():
        versions = Questionnaire.objects.select_for_update().filter(library_key=key, urn=spec.urn)
        current = versions.filter(status=QuestionnaireStatus.CURRENT).first()
        if current is not None and current.source_sha256 == spec.sha256:
            return LoadResult(current, UNCHANGED)
        latest = current or versions.order_by("-version").first()
        _check_mapping(spec, latest)
        last = versions.aggregate(last=Max("version"))["last"] or 0
        questionnaire = _write(
            spec, organisation=organisation, actor=actor, version=last + 1, previous=latest
        )
    return LoadResult(questionnaire, CREATED if latest is None else NEW_VERSION)


def load_questionnaire(
    text: str,
    *,
    organisation=None,
    actor=None,
    source_format: str | None = None,
    source: str = "",
) -> LoadResult:
    """Parse and load a questionnaire text; `source_format` None detects it (see
    detect_format). Nothing is written when the text has a problem."""
    spec = parse_questionnaire(text, source=source, source_format=source_format)
    return load_spec(spec, organisation=organisation, actor=actor)


def load_files(
    path: Path | str | None = None, *, organisation=None, actor=None
) -> list[LoadResult]:
    """Every shipped file (or those of `path`), all checked first, written in one transaction."""
    specs = parse_files(path)
    with transaction.atomic():
        return [load_spec(spec, organisation=organisation, actor=actor) for spec in specs]


def import_questionnaire(*, actor, organisation, text: str, source: str = "") -> LoadResult:
    """An RSSI imports a referential (CISO Assistant format or Rempart's) for their own
    organisation; it is read by that organisation alone."""
    if not perms.can_assess_for(actor, organisation):
        raise DomainError(perms.NOT_ASSESSOR, code="forbidden")
    return load_questionnaire(text, organisation=organisation, actor=actor, source=source)


# --------------------------------------------------------------------------------------------
# Carrying answers over to a new version
# --------------------------------------------------------------------------------------------


def _lineage(new: Questionnaire, old: Questionnaire) -> list[Questionnaire]:
    """The versions after `old` up to `new` (oldest first), each mapping from the one before."""
    chain: list[Questionnaire] = []
    current = new
    while current is not None and current.pk != old.pk:
        chain.append(current)
        current = current.previous
        if len(chain) > 1000:  # pragma: no cover - a cycle cannot be written by the loader
            break
    if current is None:
        raise DomainError(
            "Ces deux autoévaluations ne portent pas sur deux versions du même questionnaire : "
            "les réponses ne peuvent pas être reprises."
        )
    return list(reversed(chain))


def _compose_maps(old: Questionnaire, chain: list[Questionnaire]) -> tuple[dict, dict]:
    """Old question and choice URNs → URNs of the last version of the chain: the explicit
    mapping of each version, otherwise the same URN when it still exists."""
    q_map = {u: u for u in old.questions.values_list("urn", flat=True)}
    c_map = {
        u: u
        for u in Choice.objects.filter(question__questionnaire=old).values_list("urn", flat=True)
    }
    for version in chain:
        q_urns = set(version.questions.values_list("urn", flat=True))
        c_urns = set(
            Choice.objects.filter(question__questionnaire=version).values_list("urn", flat=True)
        )
        explicit_q = (version.mapping or {}).get("questions", {})
        explicit_c = (version.mapping or {}).get("choices", {})
        q_map = {
            o: explicit_q.get(cur, cur if cur in q_urns else None)
            for o, cur in q_map.items()
            if cur
        }
        c_map = {
            o: explicit_c.get(cur, cur if cur in c_urns else None)
            for o, cur in c_map.items()
            if cur
        }
        q_map = {o: n for o, n in q_map.items() if n in q_urns}
        c_map = {o: n for o, n in c_map.items() if n in c_urns}
    return q_map, c_map


@transaction.atomic
def carry_over(new_assessment: Assessment, previous_assessment: Assessment) -> int:
    """Copy the answers of a previous assessment (an older version of the same questionnaire,
    or the same version) into a new one through the versions' mappings. What does not map —
    a question gone, a choice gone, a question whose kind changed — is skipped, and a question
    already answered in the new assessment is kept as it is. The number of answers copied.
    The caller recomputes and stores the assessment's scores."""
    from . import scoring

    if new_assessment.organisation_id != previous_assessment.organisation_id:
        raise DomainError(
            "Les réponses ne se reprennent que d'une autoévaluation de la même organisation.",
            code="forbidden",
        )
    new_q, old_q = new_assessment.questionnaire, previous_assessment.questionnaire
    chain = _lineage(new_q, old_q)
    q_map, c_map = _compose_maps(old_q, chain)
    new_questions = {q.urn: q for q in Question.objects.filter(questionnaire=new_q)}
    new_choices = {
        c.urn: c
        for c in Choice.objects.filter(question__questionnaire=new_q).only(
            "pk", "urn", "question_id"
        )
    }
    already = set(
        Answer.objects.filter(assessment=new_assessment).values_list("question_id", flat=True)
    )
    old_answers = list(
        Answer.objects.filter(assessment=previous_assessment)
        .select_related("question", "choice")
        .prefetch_related("choices")
    )

    def mapped(choice: Choice, question: Question) -> Choice | None:
        target = new_choices.get(c_map.get(choice.urn, ""))
        return target if target is not None and target.question_id == question.pk else None

    rows: list[tuple[Answer, list[Choice]]] = []
    for old in old_answers:
        question = new_questions.get(q_map.get(old.question.urn, ""))
        if question is None or question.pk in already:
            continue
        answer = Answer(
            assessment=new_assessment,
            question=question,
            comment=old.comment,
            answered_by_id=old.answered_by_id,
            answered_at=old.answered_at,
        )
        many: list[Choice] = []
        if question.kind in (QuestionKind.SINGLE_CHOICE, QuestionKind.YES_NO):
            picked = [old.choice] if old.choice_id else list(old.choices.all())
            targets = [t for t in (mapped(c, question) for c in picked) if t is not None]
            if len(targets) != 1:
                continue
            answer.choice = targets[0]
        elif question.kind == QuestionKind.MULTIPLE_CHOICE:
            picked = list(old.choices.all()) + ([old.choice] if old.choice_id else [])
            many = [t for t in (mapped(c, question) for c in picked) if t is not None]
            if picked and not many:
                continue
        elif question.kind == old.question.kind:
            answer.number_value = old.number_value
            answer.text_value = old.text_value
            answer.date_value = old.date_value
        else:
            continue
        rows.append((answer, many))
    created = Answer.objects.bulk_create([answer for answer, _many in rows])
    Answer.choices.through.objects.bulk_create(
        Answer.choices.through(answer_id=answer.pk, choice_id=choice.pk)
        for answer, (_a, many) in zip(created, rows, strict=True)
        for choice in dict.fromkeys(many)
    )
    if created:
        by_question = scoring.compute(new_assessment).by_question
        for answer in created:
            score = by_question.get(answer.question_id)
            answer.score = None if score is None else Decimal(str(score))
        Answer.objects.bulk_update(created, ["score"])
    return len(created)
