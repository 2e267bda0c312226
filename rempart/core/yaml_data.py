"""YAML data texts read with their line numbers, so that every problem of an uploaded file
(a questionnaire, a scenario…) is reported with its line and field, in French.

The text is composed into a node tree (which knows the line of every value) and constructed
into plain data from that same tree; the helpers below find the node of a path in the data,
keys written twice (YAML keeps the last one silently), and the line of a node.
"""

from __future__ import annotations

import datetime
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from .errors import DataFilesError


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a data text: where (line, field) and what to do."""

    line: int | None
    where: str
    message: str
    source: str = ""

    def __str__(self) -> str:
        parts = [self.source] if self.source else []
        if self.line:
            parts.append(f"ligne {self.line}")
        if self.where:
            parts.append(self.where)
        prefix = ", ".join(parts)
        return f"{prefix} : {self.message}" if prefix else self.message


class ProblemsError(DataFilesError):
    """A data text that cannot be loaded; nothing was written. `problems` keeps the line and
    field of each error for the upload page; subclasses name the texts in `subject`."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__([str(p) for p in problems])
        self.field = "file"


@functools.cache
def json_schema(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def schema_validator(path: Path) -> Draft202012Validator:
    """The validator of the JSON schema at `path`, the schema itself checked first."""
    schema = json_schema(path)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def compose(text: str, *, json_safe: bool = False) -> tuple[Any, Any]:
    """The data and its node tree. With `json_safe`, dates (YAML reads `2025-01-22` as a date)
    become ISO strings and keys strings, so that the data can be stored as JSON."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return (_json_safe(data) if json_safe else data), node


def _json_safe(value):
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return value


def line(node) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def child(node, key):
    """The node of `key` (a mapping key or a list index) under `node`, or None."""
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for key_node_, value_node in node.value:
            if isinstance(key_node_, yaml.ScalarNode) and key_node_.value == key:
                return value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]
    return None


def key_node(node, key: str):
    """The node of the key itself (its line is the key's, where the value may be elsewhere)."""
    if isinstance(node, yaml.MappingNode):
        for key_node_, _value in node.value:
            if isinstance(key_node_, yaml.ScalarNode) and key_node_.value == key:
                return key_node_
    return None


def node_at(node, path) -> Any:
    """The deepest node along `path` (so a missing field points at its parent)."""
    for key in path:
        found = child(node, key)
        if found is None:
            break
        node = found
    return node


def duplicate_keys(node, path=()) -> list[tuple[int | None, tuple, str]]:
    """Keys written twice in one mapping, as (line, path of the mapping, key)."""
    found = []
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node_, value_node in node.value:
            key = key_node_.value if isinstance(key_node_, yaml.ScalarNode) else None
            if key in seen:
                found.append((line(key_node_), path, key))
            seen.add(key)
            found += duplicate_keys(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += duplicate_keys(item, (*path, index))
    return found
