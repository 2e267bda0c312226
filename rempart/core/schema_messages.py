"""French messages for JSON Schema errors in the data files people write (learning modules,
exercise scenarios): each says what to write instead, never jsonschema's English."""

from __future__ import annotations

import json
from typing import Any

from jsonschema.exceptions import ValidationError as SchemaError

_TYPE_NAMES = {
    "string": "un texte",
    "boolean": "true ou false",
    "array": "une liste",
    "object": "un dictionnaire (clé : valeur)",
    "integer": "un nombre entier",
    "number": "un nombre",
}


def show_value(value: Any) -> str:
    """A value as the person wrote it in YAML, cut to 80 characters."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def french_schema_error(error: SchemaError) -> str:
    """A French sentence for one schema error. A schema may carry its own hint for a pattern
    in `x-message`."""
    kind, schema, instance = error.validator, error.schema, error.instance
    hint = schema.get("x-message") if isinstance(schema, dict) else None
    shown = show_value(instance)
    if kind == "required":
        missing = [name for name in error.validator_value if name not in instance]
        return "champ obligatoire manquant : " + ", ".join(f"« {n} »" for n in missing)
    if kind == "additionalProperties":
        known = schema.get("properties", {})
        extra = ", ".join(f"« {name} »" for name in instance if name not in known)
        return f"champ inconnu : {extra} (champs possibles : {', '.join(known)})"
    if kind == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"valeur « {shown} » non autorisée (valeurs possibles : {allowed})"
    if kind == "type":
        expected = _TYPE_NAMES.get(error.validator_value, error.validator_value)
        return f"la valeur « {shown} » devrait être {expected}"
    if kind == "pattern":
        return f"« {shown} » n'a pas le format attendu" + (f" : {hint}" if hint else "")
    if kind == "minLength":
        return "ce texte ne doit pas être vide"
    if kind == "maxLength":
        return f"texte trop long ({len(instance)} caractères, {error.validator_value} au plus)"
    if kind == "minItems":
        return f"la liste doit contenir au moins {error.validator_value} élément(s)"
    if kind == "maxItems":
        return f"la liste contient trop d'éléments ({error.validator_value} au plus)"
    if kind == "uniqueItems":
        return "la liste contient deux fois la même valeur"
    if kind == "minimum":
        return f"la valeur {shown} est trop petite (au moins {error.validator_value})"
    if kind == "maximum":
        return f"la valeur {shown} est trop grande (au plus {error.validator_value})"
    return f"valeur « {shown} » refusée ({error.message})"
