"""Checks of free text given to services: trimmed, required or not, within a length, with
the French message the form or the API shows next to the field."""

from __future__ import annotations

from typing import Any

from .errors import DomainError


def _too_long(label: str, max_length: int, field: str) -> DomainError:
    return DomainError(
        f"{label[:1].upper()}{label[1:]} ne doit pas dépasser {max_length} caractères.",
        code="invalid",
        field=field,
    )


def required_text(
    value: Any, field: str, missing: str, label: str, max_length: int, *, code: str = "invalid"
) -> str:
    """The trimmed text; `missing` (with `code`) when empty, a length message when too long."""
    text = str(value or "").strip()
    if not text:
        raise DomainError(missing, code=code, field=field)
    if len(text) > max_length:
        raise _too_long(label, max_length, field)
    return text


def optional_text(value: Any, field: str, label: str, max_length: int) -> str:
    """The trimmed text, possibly empty; a length message when too long."""
    text = str(value or "").strip()
    if len(text) > max_length:
        raise _too_long(label, max_length, field)
    return text
