"""The scenario library: versioned YAML data (national files shipped in data/scenarios, a
region's CRRC uploads, an establishment's own scenarios), its reads and its writes.

Reading a YAML text is all or nothing: it is composed with its line numbers, checked against
data/scenario.schema.json and against the rules a schema cannot express (unique inject order,
offsets that never go back in time, recipients among the scenario's functions…), and every
problem is reported with its line and field. Only a fully valid text is written, in one
transaction.

Versions are immutable: a scenario whose content (SHA-256 of its canonical JSON) changed gets
a new row (version + 1) and the previous one becomes « superseded »; runs keep the version
they played. An establishment's own scenario may be edited in place only while no run uses
it; afterwards an edit makes a new version.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.db.models import Case, Count, IntegerField, Max, QuerySet, Value, When
from django.http import Http404
from django.utils.text import slugify
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from rempart.core import yaml_data
from rempart.core.errors import DomainError
from rempart.core.roles import Capability
from rempart.core.schema_messages import french_schema_error
from rempart.core.yaml_data import Problem
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation, Region

from . import perms
from .models import (
    FUNCTION_LABELS,
    Channel,
    Function,
    Level,
    Scenario,
    ScenarioInject,
    ScenarioStatus,
    Theme,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
SCENARIOS_DIR = DATA_DIR / "scenarios"
SCHEMA_PATH = DATA_DIR / "scenario.schema.json"

# Fields whose content makes a version (the declared `version` is not content).
CONTENT_FIELDS = (
    "slug",
    "title",
    "level",
    "theme",
    "is_cyber",
    "summary",
    "objectives",
    "duration_minutes",
    "functions",
    "criteria",
    "changelog",
)
INJECT_FIELDS = (
    "order",
    "offset_minutes",
    "title",
    "body",
    "channel",
    "functions",
    "expected_reactions",
)

# The grid given to a scenario an establishment writes itself (it may be adapted by uploading
# it to a library); the same eight points as the national scenarios.
STANDARD_CRITERIA = [
    {"code": "alerte", "label": "Alerte et remontée d'information vers la direction"},
    {"code": "cellule", "label": "Activation et fonctionnement de la cellule de crise"},
    {"code": "continuite", "label": "Continuité des soins et procédures dégradées"},
    {"code": "decisions", "label": "Décisions tracées dans la main courante"},
    {"code": "communication", "label": "Communication interne et externe"},
    {"code": "declaration", "label": "Déclaration au CERT Santé et information de l'ARS"},
    {"code": "confinement", "label": "Confinement technique et préservation des traces"},
    {"code": "retour", "label": "Préparation du retour à la normale"},
]

LEVEL_ORDER = Case(
    When(level=Level.BEGINNER, then=Value(0)),
    When(level=Level.INTERMEDIATE, then=Value(1)),
    When(level=Level.EXPERT, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)

NOT_READER = (
    "La bibliothèque de scénarios est réservée aux personnes qui organisent des exercices de "
    "crise (direction, RSSI, DSI, CRRC, ARS)."
)
NOT_OWNER = (
    "Seuls la direction, le RSSI ou le DSI de l'établissement modifient ses propres scénarios."
)
NOT_AUTHOR = (
    "Seuls la direction, le RSSI ou le DSI d'un établissement écrivent ou adaptent des "
    "scénarios pour leur établissement."
)


# --------------------------------------------------------------------------------------------
# Problems: one per line and field
# --------------------------------------------------------------------------------------------


class ScenarioDataError(yaml_data.ProblemsError):
    """A scenario text that cannot be loaded; nothing was written. `problems` keeps the
    line and field of each error for the upload page."""

    subject = "Les scénarios"
    error_code = "scenario_data_invalid"


# --------------------------------------------------------------------------------------------
# Reading: YAML with its line numbers
# --------------------------------------------------------------------------------------------


def scenario_schema() -> dict:
    return yaml_data.json_schema(SCHEMA_PATH)


def _validator() -> Draft202012Validator:
    return yaml_data.schema_validator(SCHEMA_PATH)


_ITEM_NAMES = {"injects": "stimulus", "criteria": "critère", "objectives": "objectif"}


def _where(path) -> str:
    """« stimulus n°3, champ « functions » » for ('injects', 2, 'functions')."""
    parts = []
    path = list(path)
    while path:
        key = path.pop(0)
        if isinstance(key, str) and path and isinstance(path[0], int) and key in _ITEM_NAMES:
            parts.append(f"{_ITEM_NAMES[key]} n°{path.pop(0) + 1}")
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
    return yaml_data.line(target)


def _cross_rules(data: dict, node) -> list[tuple[int | None, tuple, str]]:
    """Rules the schema cannot express. Checked even when the schema found errors (on what
    is well-formed), so that every problem is reported at once."""
    found: list[tuple[int | None, tuple, str]] = []
    functions = data.get("functions")
    functions = set(functions) if isinstance(functions, list) else None
    duration = data.get("duration_minutes")
    criteria = data.get("criteria")
    if isinstance(criteria, list):
        seen_codes: dict[str, int] = {}
        for index, item in enumerate(criteria):
            code = item.get("code") if isinstance(item, dict) else None
            if not isinstance(code, str):
                continue
            path = ("criteria", index, "code")
            if code in seen_codes:
                found.append(
                    (
                        yaml_data.line(yaml_data.node_at(node, path)),
                        path,
                        f"le code « {code} » est déjà celui du critère n°{seen_codes[code] + 1} : "
                        "chaque critère a son propre code",
                    )
                )
            seen_codes.setdefault(code, index)
    injects = data.get("injects")
    if not isinstance(injects, list):
        return found
    seen_orders: dict[int, int] = {}
    timeline: list[tuple[int, int, int]] = []  # (order, offset, index)
    for index, item in enumerate(injects):
        if not isinstance(item, dict):
            continue
        order, offset = item.get("order"), item.get("offset_minutes")
        if isinstance(order, int) and not isinstance(order, bool):
            path = ("injects", index, "order")
            if order in seen_orders:
                found.append(
                    (
                        yaml_data.line(yaml_data.node_at(node, path)),
                        path,
                        f"l'ordre {order} est déjà celui du stimulus n°{seen_orders[order] + 1} : "
                        "chaque stimulus a son propre numéro d'ordre",
                    )
                )
            else:
                seen_orders[order] = index
                if isinstance(offset, int) and not isinstance(offset, bool):
                    timeline.append((order, offset, index))
        if (
            isinstance(offset, int)
            and isinstance(duration, int)
            and not isinstance(duration, bool)
            and offset > duration
        ):
            path = ("injects", index, "offset_minutes")
            found.append(
                (
                    yaml_data.line(yaml_data.node_at(node, path)),
                    path,
                    f"le stimulus arrive à T+{offset} min, après la fin de l'exercice "
                    f"(durée {duration} min) : avancez-le ou allongez « duration_minutes »",
                )
            )
        recipients = item.get("functions")
        if functions is not None and isinstance(recipients, list):
            unknown = [f for f in recipients if isinstance(f, str) and f not in functions]
            unknown = [f for f in unknown if f in Function.values]  # others: schema error
            if unknown:
                path = ("injects", index, "functions")
                found.append(
                    (
                        yaml_data.line(yaml_data.node_at(node, path)),
                        path,
                        "destinataire(s) absent(s) des fonctions du scénario : "
                        + ", ".join(f"« {f} »" for f in unknown)
                        + " ; ajoutez-les à « functions » en tête du scénario",
                    )
                )
    timeline.sort()
    for (_prev_order, prev_offset, _pi), (order, offset, index) in itertools.pairwise(timeline):
        if offset < prev_offset:
            path = ("injects", index, "offset_minutes")
            found.append(
                (
                    yaml_data.line(yaml_data.node_at(node, path)),
                    path,
                    f"le stimulus d'ordre {order} arrive à T+{offset} min, avant le précédent "
                    f"(T+{prev_offset} min) : les décalages doivent croître avec l'ordre",
                )
            )
    return found


# --------------------------------------------------------------------------------------------
# Specs: a valid scenario ready to be written
# --------------------------------------------------------------------------------------------


def canonical_sha256(content: dict) -> str:
    """SHA-256 of the canonical JSON of a scenario's content (keys sorted, injects by order)."""
    payload = {key: content[key] for key in CONTENT_FIELDS}
    payload["injects"] = sorted(
        ({key: inject[key] for key in INJECT_FIELDS} for inject in content["injects"]),
        key=lambda inject: inject["order"],
    )
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class ScenarioSpec:
    """One valid scenario of a text: its normalised content, declared version and line."""

    content: dict
    declared_version: int
    line: int | None = None
    source: str = ""
    version_line: int | None = None

    @property
    def slug(self) -> str:
        return self.content["slug"]

    @functools.cached_property
    def sha256(self) -> str:
        return canonical_sha256(self.content)


def _normalise(data: dict) -> dict:
    strip = str.strip
    return {
        "slug": data["slug"],
        "title": strip(data["title"]),
        "level": data["level"],
        "theme": data["theme"],
        "is_cyber": data["is_cyber"],
        "summary": strip(data["summary"]),
        "objectives": [strip(o) for o in data["objectives"]],
        "duration_minutes": data["duration_minutes"],
        "functions": list(data["functions"]),
        "criteria": [{"code": c["code"], "label": strip(c["label"])} for c in data["criteria"]],
        "changelog": strip(data.get("changelog") or ""),
        "injects": sorted(
            (
                {
                    "order": i["order"],
                    "offset_minutes": i["offset_minutes"],
                    "title": strip(i["title"]),
                    "body": strip(i["body"]),
                    "channel": i["channel"],
                    "functions": list(i["functions"]),
                    "expected_reactions": strip(i.get("expected_reactions") or ""),
                }
                for i in data["injects"]
            ),
            key=lambda i: i["order"],
        ),
    }


def parse_scenarios(text: str, *, source: str = "") -> list[ScenarioSpec]:
    """Every scenario of a YAML text (one scenario, or a list under `scenarios:`), all
    checked; ScenarioDataError lists every problem with its line and field."""
    problems: list[Problem] = []

    def problem(line, where, message):
        problems.append(Problem(line=line, where=where, message=message, source=source))

    if not text or not text.strip():
        raise ScenarioDataError([Problem(None, "", "le fichier est vide", source)])
    try:
        data, root = yaml_data.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        detail = getattr(exc, "problem", None) or str(exc)
        raise ScenarioDataError(
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
    for line, path, key in yaml_data.duplicate_keys(root):
        problem(line, _where(path), f"la clé « {key} » est écrite deux fois : gardez-en une")

    # One scenario, or a list under `scenarios:`.
    items: list[tuple[Any, Any, tuple]] = []
    if isinstance(data, dict) and "scenarios" in data:
        if set(data) != {"scenarios"}:
            problem(
                yaml_data.line(root),
                "",
                "un fichier qui liste des scénarios sous « scenarios: » ne contient rien d'autre",
            )
        listed, list_node = data["scenarios"], yaml_data.child(root, "scenarios")
        if not isinstance(listed, list) or not listed:
            problem(
                yaml_data.line(list_node),
                "champ « scenarios »",
                "une liste de scénarios est attendue",
            )
        else:
            items = [
                (item, yaml_data.child(list_node, index), ("scenarios", index))
                for index, item in enumerate(listed)
            ]
    elif isinstance(data, dict):
        items = [(data, root, ())]
    else:
        problem(
            yaml_data.line(root),
            "",
            "le fichier doit décrire un scénario (dictionnaire YAML « clé: valeur ») ou une "
            "liste de scénarios sous « scenarios: »",
        )

    specs: list[ScenarioSpec] = []
    slugs: dict[str, int | None] = {}
    for position, (item, node, prefix) in enumerate(items):
        label = f"scénario n°{position + 1}" if prefix else ""
        if isinstance(item, dict) and isinstance(item.get("slug"), str):
            label = f"scénario « {item['slug']} »"

        def where(path, label=label):
            return ", ".join(part for part in (label, _where(path)) if part)

        if not isinstance(item, dict):
            problem(yaml_data.line(node), label, "un scénario est un dictionnaire (clé : valeur)")
            continue
        errors = sorted(
            _validator().iter_errors(item),
            key=lambda e: (_schema_line(node, e) or 0, [str(p) for p in e.absolute_path]),
        )
        for error in errors:
            problem(
                _schema_line(node, error), where(error.absolute_path), french_schema_error(error)
            )
        for line, path, message in _cross_rules(item, node):
            problem(line, where(path), message)
        slug = item.get("slug")
        if isinstance(slug, str):
            if slug in slugs:
                problem(
                    yaml_data.line(yaml_data.child(node, "slug")),
                    where(("slug",)),
                    f"le scénario « {slug} » figure déjà plus haut (ligne {slugs[slug]}) dans ce "
                    "fichier",
                )
            slugs.setdefault(slug, yaml_data.line(yaml_data.child(node, "slug")))
        if not errors:
            specs.append(
                ScenarioSpec(
                    content=_normalise(item),
                    declared_version=item["version"],
                    line=yaml_data.line(node),
                    source=source,
                    version_line=yaml_data.line(yaml_data.child(node, "version")),
                )
            )
    if problems:
        raise ScenarioDataError(problems)
    return specs


def scenario_files(path: Path | str | None = None) -> list[Path]:
    path = Path(path) if path is not None else SCENARIOS_DIR
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ScenarioDataError([Problem(None, "", f"{path} : ni fichier ni dossier")])
    return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))


def parse_files(path: Path | str | None = None) -> list[ScenarioSpec]:
    """Every file of the folder, all checked before anything is written; a slug may appear
    in one file only."""
    specs: list[ScenarioSpec] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for file in scenario_files(path):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(None, "", f"fichier illisible ({exc})", file.name))
            continue
        try:
            file_specs = parse_scenarios(text, source=file.name)
        except ScenarioDataError as exc:
            problems += exc.problems
            continue
        for spec in file_specs:
            if spec.slug in seen:
                problems.append(
                    Problem(
                        spec.line,
                        f"scénario « {spec.slug} »",
                        f"ce scénario est déjà décrit dans {seen[spec.slug]}",
                        file.name,
                    )
                )
                continue
            seen[spec.slug] = file.name
            specs.append(spec)
    if problems:
        raise ScenarioDataError(problems)
    return specs


# --------------------------------------------------------------------------------------------
# Loading: new versions, never edits
# --------------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    """What a load did: slugs created, new versions (« slug v3 ») and unchanged slugs."""

    created: list[str] = field(default_factory=list)
    new_versions: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)  # rows written

    @property
    def has_changes(self) -> bool:
        return bool(self.created or self.new_versions)

    def summary(self) -> str:
        return (
            f"{len(self.created)} scénario(s) créé(s), {len(self.new_versions)} nouvelle(s) "
            f"version(s), {len(self.unchanged)} inchangé(s)."
        )

    def lines(self) -> list[str]:
        lines = [f"créé : {slug}" for slug in self.created]
        lines += [f"nouvelle version : {name}" for name in self.new_versions]
        lines += [f"inchangé : {slug}" for slug in self.unchanged]
        return lines


def _latest_versions(library_key: str, slugs) -> dict[str, Scenario]:
    latest: dict[str, Scenario] = {}
    for scenario in Scenario.objects.filter(library_key=library_key, slug__in=slugs).order_by(
        "slug", "-version"
    ):
        latest.setdefault(scenario.slug, scenario)
    return latest


def _write_version(
    content: dict,
    *,
    version: int,
    sha256: str,
    region: Region | None,
    organisation: Organisation | None,
    actor,
    previous: Scenario | None,
) -> Scenario:
    """A new current row with its injects; the previous current one becomes superseded
    (first, so that the one-current-version constraint holds at every statement)."""
    if previous is not None and previous.status == ScenarioStatus.CURRENT:
        previous.status = ScenarioStatus.SUPERSEDED
        previous.save(update_fields=["status"])
    scenario = Scenario(
        region=region,
        organisation=organisation,
        version=version,
        status=ScenarioStatus.CURRENT,
        source_sha256=sha256,
        created_by=actor,
        **{key: content[key] for key in CONTENT_FIELDS},
    )
    scenario.save()
    ScenarioInject.objects.bulk_create(
        ScenarioInject(scenario=scenario, **{key: inject[key] for key in INJECT_FIELDS})
        for inject in content["injects"]
    )
    return scenario


def load_specs(
    specs: list[ScenarioSpec],
    *,
    region: Region | None = None,
    organisation: Organisation | None = None,
    actor=None,
) -> LoadReport:
    """Write the specs into one library, in one transaction. A file that declares an older
    version than the library holds, with another content, is refused (a stale copy)."""
    key = Scenario.key_for(
        region_id=region.pk if region else None,
        organisation_id=organisation.pk if organisation else None,
    )
    report = LoadReport()
    with transaction.atomic():
        latest = _latest_versions(key, [spec.slug for spec in specs])
        problems = []
        for spec in specs:
            previous = latest.get(spec.slug)
            if previous is None or previous.source_sha256 == spec.sha256:
                continue
            if spec.declared_version < previous.version:
                problems.append(
                    Problem(
                        spec.version_line,
                        f"scénario « {spec.slug} », champ « version »",
                        f"ce texte déclare la version {spec.declared_version} alors que la "
                        f"bibliothèque en est à la version {previous.version} : repartez de la "
                        "version en vigueur (bouton « Télécharger le YAML ») et indiquez "
                        f"« version: {previous.version + 1} »",
                        spec.source,
                    )
                )
        if problems:
            raise ScenarioDataError(problems)
        for spec in specs:
            previous = latest.get(spec.slug)
            if previous is not None and previous.source_sha256 == spec.sha256:
                report.unchanged.append(spec.slug)
                continue
            version = previous.version + 1 if previous else 1
            scenario = _write_version(
                spec.content,
                version=version,
                sha256=spec.sha256,
                region=region,
                organisation=organisation,
                actor=actor,
                previous=previous,
            )
            report.scenarios.append(scenario)
            if previous is None:
                report.created.append(spec.slug)
            else:
                report.new_versions.append(f"{spec.slug} v{version}")
    return report


def load_scenarios(
    text: str,
    *,
    region: Region | None = None,
    organisation: Organisation | None = None,
    actor=None,
    source: str = "",
) -> LoadReport:
    """Parse, check and write a YAML text into a library (national by default): all or
    nothing."""
    return load_specs(
        parse_scenarios(text, source=source), region=region, organisation=organisation, actor=actor
    )


def load_national_library(path: Path | str | None = None, *, actor=None) -> LoadReport:
    """The shipped files (data/scenarios) into the national library; idempotent."""
    return load_specs(parse_files(path), actor=actor)


def content_of(scenario: Scenario) -> dict:
    """A stored version's content, in the shape of the YAML files."""
    content = {key: getattr(scenario, key) for key in CONTENT_FIELDS}
    content["injects"] = [
        {key: getattr(inject, key) for key in INJECT_FIELDS} for inject in scenario.injects.all()
    ]
    return content


def to_yaml(scenario: Scenario) -> str:
    """The YAML text of a version, ready to adapt and upload as the next one."""
    content = content_of(scenario)
    ordered = {"slug": content["slug"], "version": scenario.version + 1}
    ordered.update({key: content[key] for key in CONTENT_FIELDS if key != "slug"})
    ordered["changelog"] = ""
    ordered["injects"] = content["injects"]
    return yaml.safe_dump(ordered, allow_unicode=True, sort_keys=False, width=100)


# --------------------------------------------------------------------------------------------
# Reads (scoped by the acting user)
# --------------------------------------------------------------------------------------------


def readable(user) -> QuerySet[Scenario]:
    q = perms.scenario_q(user)
    return Scenario.objects.filter(q) if q is not None else Scenario.objects.none()


def can_read_library(user) -> bool:
    return perms.scenario_q(user) is not None


def catalogue(user, *, level: str = "", theme: str = "", library: str = "") -> QuerySet:
    """Current versions the user reads, with their number of injects; easiest first."""
    queryset = readable(user).filter(status=ScenarioStatus.CURRENT)
    if level:
        queryset = queryset.filter(level=level)
    if theme:
        queryset = queryset.filter(theme=theme)
    if library == "national":
        queryset = queryset.filter(region__isnull=True, organisation__isnull=True)
    elif library == "region":
        queryset = queryset.filter(region__isnull=False)
    elif library == "own":
        queryset = queryset.filter(organisation__isnull=False)
    return (
        queryset.select_related("region", "organisation")
        .annotate(inject_count=Count("injects"), level_rank=LEVEL_ORDER)
        .order_by("level_rank", "title", "pk")
    )


def get_scenario(user, pk: int) -> Scenario:
    """A version the user reads (any status: runs point at old ones); 404 otherwise."""
    scenario = (
        readable(user).select_related("region", "organisation", "created_by").filter(pk=pk).first()
    )
    if scenario is None:
        raise Http404("Scénario introuvable.")
    return scenario


def versions(scenario: Scenario) -> QuerySet[Scenario]:
    return (
        Scenario.objects.filter(library_key=scenario.library_key, slug=scenario.slug)
        .annotate(run_count=Count("runs"))
        .select_related("created_by")
        .order_by("-version")
    )


def author_organisations(user) -> QuerySet[Organisation]:
    """Establishments whose own scenarios the user writes (those whose exercises they run)."""
    q = org_perms.capability_q(user, Capability.RUN_EXERCISES)
    if q is None:
        return Organisation.objects.none()
    return Organisation.objects.filter(q, is_active=True).order_by("name")


def manage_regions(user) -> QuerySet[Region]:
    regions = perms.library_manage_regions(user)
    return Region.objects.filter(pk__in=regions).order_by("name")


def library_label(scenario: Scenario) -> str:
    if scenario.organisation_id:
        return f"Scénario de {scenario.organisation.name}"
    if scenario.region_id:
        return f"Bibliothèque régionale ({scenario.region.name})"
    return "Bibliothèque nationale"


def can_edit_own(user, scenario: Scenario) -> bool:
    return (
        scenario.organisation_id is not None
        and scenario.status == ScenarioStatus.CURRENT
        and org_perms.can(user, Capability.RUN_EXERCISES, scenario.organisation)
    )


def can_retire(user, scenario: Scenario) -> bool:
    if scenario.status == ScenarioStatus.RETIRED:
        return False
    if scenario.organisation_id is not None:
        return org_perms.can(user, Capability.RUN_EXERCISES, scenario.organisation)
    return perms.can_manage_library(user, scenario.region_id)


# --------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------


def library_upload(*, actor, region: Region, text: str, source: str = "") -> LoadReport:
    """A CRRC publishes scenarios (new ones or new versions) into its region's library."""
    if not perms.can_manage_library(actor, region.pk):
        raise DomainError(perms.NOT_LIBRARIAN, code="forbidden")
    return load_scenarios(text, region=region, actor=actor, source=source)


@transaction.atomic
def scenario_retire(*, actor, scenario: Scenario) -> int:
    """Every version leaves the library; the runs that played one keep it. The number of
    versions retired."""
    if scenario.region_id is None and scenario.organisation_id is None:
        raise DomainError(
            "Les scénarios nationaux sont livrés avec Rempart et ne se retirent pas ici.",
            code="forbidden",
        )
    if scenario.status == ScenarioStatus.RETIRED:
        raise DomainError("Ce scénario est déjà retiré de la bibliothèque.")
    if not can_retire(actor, scenario):
        message = NOT_OWNER if scenario.organisation_id else perms.NOT_LIBRARIAN
        raise DomainError(message, code="forbidden")
    count = 0
    for version in Scenario.objects.select_for_update().filter(
        library_key=scenario.library_key, slug=scenario.slug
    ):
        if version.status != ScenarioStatus.RETIRED:
            version.status = ScenarioStatus.RETIRED
            version.save(update_fields=["status"])
            count += 1
    return count


def _free_slug(library_key: str, base: str) -> str:
    base = (slugify(base) or "scenario")[:70].strip("-") or "scenario"
    taken = set(
        Scenario.objects.filter(library_key=library_key, slug__startswith=base).values_list(
            "slug", flat=True
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _check_author(actor, organisation: Organisation) -> None:
    if not org_perms.can(actor, Capability.RUN_EXERCISES, organisation):
        raise DomainError(NOT_AUTHOR, code="forbidden")


def _check_own_content(content: dict) -> None:
    """The rules of the files, for what a form produced (field names of the form)."""
    if not content["functions"]:
        raise DomainError("Cochez au moins une fonction attendue.", field="functions")
    unknown = [f for f in content["functions"] if f not in FUNCTION_LABELS]
    if unknown:
        raise DomainError("Fonction inconnue : " + ", ".join(unknown), field="functions")
    if content["level"] not in Level.values:
        raise DomainError("Choisissez un niveau dans la liste.", field="level")
    if content["theme"] not in Theme.values:
        raise DomainError("Choisissez un thème dans la liste.", field="theme")
    last = 0
    for inject in content["injects"]:
        if inject["offset_minutes"] > content["duration_minutes"]:
            raise DomainError(
                f"Le stimulus « {inject['title']} » arrive à T+{inject['offset_minutes']} min, "
                f"après la fin de l'exercice : allongez la durée (au moins "
                f"{inject['offset_minutes']} minutes).",
                field="duration_minutes",
            )
        if inject["offset_minutes"] < last:
            raise DomainError("Les décalages doivent croître avec l'ordre des stimuli.")
        last = inject["offset_minutes"]
        missing = [f for f in inject["functions"] if f not in content["functions"]]
        if missing:
            raise DomainError(
                f"Le stimulus « {inject['title']} » s'adresse à "
                + ", ".join(str(FUNCTION_LABELS.get(f, f)) for f in missing)
                + " : gardez ces fonctions cochées ou retirez d'abord ce stimulus.",
                field="functions",
            )


def _save_own(actor, scenario: Scenario, content: dict, changelog: str) -> Scenario:
    """Write an own scenario's new content: in place while no run uses this version,
    otherwise as a new version (the runs keep theirs)."""
    content = {**content, "changelog": changelog}
    _check_own_content(content)
    sha = canonical_sha256(content)
    if sha == scenario.source_sha256:
        return scenario
    if not scenario.runs.exists():
        for key in CONTENT_FIELDS:
            setattr(scenario, key, content[key])
        scenario.source_sha256 = sha
        scenario.save()
        scenario.injects.all().delete()
        ScenarioInject.objects.bulk_create(
            ScenarioInject(scenario=scenario, **{key: inject[key] for key in INJECT_FIELDS})
            for inject in content["injects"]
        )
        return scenario
    locked = Scenario.objects.select_for_update().get(pk=scenario.pk)
    if locked.status != ScenarioStatus.CURRENT:
        raise DomainError(
            "Une version plus récente de ce scénario existe : repartez de la version en vigueur."
        )
    return _write_version(
        content,
        version=(
            Scenario.objects.filter(library_key=scenario.library_key, slug=scenario.slug).aggregate(
                last=Max("version")
            )["last"]
            + 1
        ),
        sha256=sha,
        region=None,
        organisation=scenario.organisation,
        actor=actor,
        previous=locked,
    )


def _own_target(actor, scenario: Scenario) -> None:
    if scenario.organisation_id is None:
        raise DomainError(
            "Seuls les scénarios propres à un établissement se modifient ici : dupliquez ce "
            "scénario pour l'adapter.",
            code="forbidden",
        )
    if not org_perms.can(actor, Capability.RUN_EXERCISES, scenario.organisation):
        raise DomainError(NOT_OWNER, code="forbidden")
    if scenario.status != ScenarioStatus.CURRENT:
        raise DomainError(
            "Cette version n'est plus en vigueur : modifiez la version en vigueur du scénario."
        )


@transaction.atomic
def own_scenario_create(*, actor, organisation: Organisation, data: dict) -> Scenario:
    """« Créer mon propre scénario »: version 1 in the establishment's own library, with the
    standard evaluation grid; the injects are added next, one by one."""
    _check_author(actor, organisation)
    key = Scenario.key_for(organisation_id=organisation.pk)
    content = {
        **{
            key_: data[key_]
            for key_ in CONTENT_FIELDS
            if key_ not in ("slug", "criteria", "changelog")
        },
        "slug": _free_slug(key, data["title"]),
        "criteria": STANDARD_CRITERIA,
        "changelog": "Version initiale.",
        "injects": [],
    }
    _check_own_content(content)
    return _write_version(
        content,
        version=1,
        sha256=canonical_sha256(content),
        region=None,
        organisation=organisation,
        actor=actor,
        previous=None,
    )


@transaction.atomic
def own_scenario_update(*, actor, scenario: Scenario, data: dict) -> Scenario:
    _own_target(actor, scenario)
    content = content_of(scenario)
    content.update({key: data[key] for key in data if key in CONTENT_FIELDS and key != "slug"})
    return _save_own(actor, scenario, content, data.get("changelog") or "Description modifiée.")


@transaction.atomic
def own_inject_add(*, actor, scenario: Scenario, data: dict) -> Scenario:
    """Append an inject (its order follows the last one); a new version when runs use this
    one."""
    _own_target(actor, scenario)
    content = content_of(scenario)
    last = content["injects"][-1] if content["injects"] else None
    if last is not None and data["offset_minutes"] < last["offset_minutes"]:
        raise DomainError(
            f"Ce stimulus arriverait avant le précédent (T+{last['offset_minutes']} min) : "
            f"indiquez un décalage d'au moins {last['offset_minutes']} minutes.",
            field="offset_minutes",
        )
    if data["offset_minutes"] > content["duration_minutes"]:
        raise DomainError(
            f"Ce stimulus arriverait après la fin de l'exercice ({content['duration_minutes']} "
            "min) : réduisez le décalage ou allongez la durée du scénario.",
            field="offset_minutes",
        )
    missing = [f for f in data["functions"] if f not in content["functions"]]
    if missing:
        raise DomainError(
            "Choisissez des destinataires parmi les fonctions attendues du scénario.",
            field="functions",
        )
    content["injects"].append(
        {
            "order": (last["order"] + 1) if last else 1,
            **{key: data[key] for key in INJECT_FIELDS if key != "order"},
        }
    )
    return _save_own(actor, scenario, content, f"Ajout du stimulus « {data['title']} ».")


@transaction.atomic
def own_inject_remove(*, actor, scenario: Scenario, inject_id: int) -> Scenario:
    _own_target(actor, scenario)
    content = content_of(scenario)
    removed = [i for i in scenario.injects.all() if i.pk == inject_id]
    if not removed:
        raise Http404("Stimulus introuvable.")
    content["injects"] = [i for i in content["injects"] if i["order"] != removed[0].order]
    return _save_own(actor, scenario, content, f"Retrait du stimulus « {removed[0].title} ».")


@transaction.atomic
def scenario_duplicate(*, actor, scenario: Scenario, organisation: Organisation) -> Scenario:
    """« Dupliquer pour l'adapter »: a copy of a readable version in the establishment's own
    library (new slug, version 1), which it then edits freely."""
    _check_author(actor, organisation)
    if not perms.can_read_scenario(actor, scenario):
        raise Http404("Scénario introuvable.")
    key = Scenario.key_for(organisation_id=organisation.pk)
    content = content_of(scenario)
    content["slug"] = _free_slug(key, f"{scenario.slug}-adapte")
    content["changelog"] = (
        f"Adapté de « {scenario.title} » (v{scenario.version}, {library_label(scenario)})."
    )
    return _write_version(
        content,
        version=1,
        sha256=canonical_sha256(content),
        region=None,
        organisation=organisation,
        actor=actor,
        previous=None,
    )


CHANNEL_LABELS = dict(Channel.choices)
