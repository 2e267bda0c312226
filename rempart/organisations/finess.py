"""FINESS numbers: 9 characters, two for the département (2A/2B in Corsica), a Luhn key last."""

import re

FINESS_PATTERN = r"^(\d{2}|2A|2B)\d{7}$"
_FINESS_RE = re.compile(FINESS_PATTERN)


def luhn_is_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_key(first_eight: str) -> str:
    """The check digit that makes `first_eight + key` pass the Luhn test."""
    for key in "0123456789":
        if luhn_is_valid(first_eight + key):
            return key
    raise ValueError(first_eight)


def finess_error(value: str) -> str | None:
    """Return a French reason if `value` is not a valid FINESS number, else None.

    The Luhn key is checked on all-digit numbers; Corsican numbers (2A, 2B) are checked
    for format only, as their key is not computed on digits.
    """
    if not value:
        return "Le numéro FINESS est vide."
    if len(value) != 9:
        return f"Le numéro FINESS « {value} » doit comporter 9 caractères (il en a {len(value)})."
    if not _FINESS_RE.match(value):
        return (
            f"Le numéro FINESS « {value} » n'a pas le bon format : 2 caractères de département "
            "(chiffres, ou 2A / 2B) suivis de 7 chiffres."
        )
    if value.isdigit() and not luhn_is_valid(value):
        return f"La clé de contrôle du numéro FINESS « {value} » est incorrecte."
    return None
