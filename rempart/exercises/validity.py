"""The validity rule of crisis exercises, as data (data/validity.yaml), and its verdict.

The rule says who must take part (functions), what must be documented (evaluation, debrief),
that the scenario must be a cyber one and the exercise played, how long it counts (months) and
which organisations the indicator counts. It is checked when first read; a broken file fails
loudly with every problem listed. `verdict` is pure: the services feed it the run's records and
store what it says in CoverageRecord.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from pathlib import Path

import yaml
from dateutil.relativedelta import relativedelta
from jsonschema import Draft202012Validator

from rempart.core.roles import OrgKind

from .models import FUNCTION_LABELS, Function

RULE_PATH = Path(__file__).resolve().parent / "data" / "validity.yaml"

_FUNCTION_LIST = {
    "type": "array",
    "items": {"enum": Function.values},
    "uniqueItems": True,
}
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "version",
        "title",
        "window_months",
        "target_percent",
        "population",
        "require_cyber_scenario",
        "require_played",
        "functions",
        "documents",
    ],
    "properties": {
        "version": {"type": "string", "minLength": 1, "maxLength": 40},
        "title": {"type": "string", "minLength": 1},
        "window_months": {"type": "integer", "minimum": 1, "maximum": 60},
        "target_percent": {"type": "number", "minimum": 0, "maximum": 100},
        "population": {
            "type": "array",
            "minItems": 1,
            "items": {"enum": [kind.value for kind in OrgKind]},
        },
        "require_cyber_scenario": {"type": "boolean"},
        "require_played": {"type": "boolean"},
        "functions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["all_of", "any_of"],
            "properties": {
                "all_of": _FUNCTION_LIST,
                "any_of": _FUNCTION_LIST,
                "any_of_label": {"type": "string"},
            },
        },
        "documents": {
            "type": "object",
            "additionalProperties": False,
            "required": ["evaluation", "debrief"],
            "properties": {"evaluation": {"type": "boolean"}, "debrief": {"type": "boolean"}},
        },
    },
}


class ValidityRuleError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__(
            "La règle de validité des exercices est invalide :\n"
            + "\n".join(f"- {e}" for e in errors)
        )
        self.errors = errors


@dataclass(frozen=True)
class ValidityRule:
    version: str
    title: str
    window_months: int
    target_percent: float
    population: tuple[str, ...]
    require_cyber_scenario: bool
    require_played: bool
    all_of: tuple[str, ...]
    any_of: tuple[str, ...]
    any_of_label: str
    require_evaluation: bool
    require_debrief: bool

    def cutoff(self, today: datetime.date) -> datetime.date:
        """The first day an exercise must have been played on to count today."""
        return today - relativedelta(months=self.window_months) + datetime.timedelta(days=1)

    def valid_until(self, held_on: datetime.date) -> datetime.date:
        return held_on + relativedelta(months=self.window_months) - datetime.timedelta(days=1)

    def requirements(self) -> list[str]:
        """The rule in plain French, for the pages that show it."""
        lines = []
        if self.require_cyber_scenario:
            lines.append("un scénario déclencheur cyber (pas un simple test de restauration)")
        if self.require_played:
            lines.append("l'exercice a été joué")
        for code in self.all_of:
            lines.append(f"participation de : {FUNCTION_LABELS[code]}")
        if self.any_of:
            lines.append(f"participation d'{self.any_of_label or 'une direction métier'}")
        if self.require_evaluation:
            lines.append("une évaluation renseignée")
        if self.require_debrief:
            lines.append("un retour d'expérience (RETEX) formalisé")
        lines.append(f"valable {self.window_months} mois après la date de l'exercice")
        return lines


def parse(text: str) -> ValidityRule:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidityRuleError([f"YAML illisible : {exc}"]) from exc
    validator = Draft202012Validator(SCHEMA)
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(racine)'} : {error.message}"
        for error in validator.iter_errors(document)
    ]
    if problems:
        raise ValidityRuleError(problems)
    functions, documents = document["functions"], document["documents"]
    return ValidityRule(
        version=document["version"],
        title=document["title"],
        window_months=document["window_months"],
        target_percent=float(document["target_percent"]),
        population=tuple(document["population"]),
        require_cyber_scenario=document["require_cyber_scenario"],
        require_played=document["require_played"],
        all_of=tuple(functions["all_of"]),
        any_of=tuple(functions["any_of"]),
        any_of_label=functions.get("any_of_label", ""),
        require_evaluation=documents["evaluation"],
        require_debrief=documents["debrief"],
    )


@functools.cache
def rule() -> ValidityRule:
    return parse(RULE_PATH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Verdict:
    counts: bool
    reasons: list[str]  # why it does not count yet (empty when it counts)


def verdict(
    the_rule: ValidityRule,
    *,
    is_cyber: bool,
    played: bool,
    functions_present: set[str],
    has_evaluation: bool,
    has_debrief: bool,
) -> Verdict:
    """Whether one organisation's part in an exercise counts, and every reason it does not."""
    reasons = []
    if the_rule.require_cyber_scenario and not is_cyber:
        reasons.append("Le scénario n'est pas un scénario cyber.")
    if the_rule.require_played and not played:
        reasons.append("L'exercice n'a pas encore été joué.")
    for code in the_rule.all_of:
        if code not in functions_present:
            reasons.append(f"Fonction absente : {FUNCTION_LABELS[code]}.")
    if the_rule.any_of and not functions_present.intersection(the_rule.any_of):
        label = the_rule.any_of_label or "une direction métier"
        if functions_present and functions_present <= {Function.IT.value}:
            reasons.append(f"Seule l'équipe informatique participe : il faut {label}.")
        else:
            reasons.append(f"Il manque {label}.")
    if the_rule.require_evaluation and not has_evaluation:
        reasons.append("L'évaluation n'est pas renseignée.")
    if the_rule.require_debrief and not has_debrief:
        reasons.append("Le retour d'expérience (RETEX) n'est pas formalisé.")
    return Verdict(counts=not reasons, reasons=reasons)
