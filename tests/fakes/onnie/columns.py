"""Onnie columns: the 15 types, column specs given by tests, value checks on write, FORMULA evaluation."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

COLUMN_TYPES: tuple[str, ...] = (
    "TEXT",
    "LONGTEXT",
    "EMAIL",
    "PHONE",
    "URL",
    "NUMBER",
    "BOOLEAN",
    "DATETIME",
    "SELECT",
    "MULTISELECT",
    "REFERENCE",
    "FILE",
    "FORMULA",
    "AI",
    "SERIAL",
)
COMPUTED_TYPES = frozenset({"FORMULA", "AI", "SERIAL"})
READ_ONLY_TYPES = COMPUTED_TYPES | {"FILE"}
STRING_TYPES = frozenset({"TEXT", "LONGTEXT", "EMAIL", "PHONE", "URL"})
OPTION_TYPES = frozenset({"SELECT", "MULTISELECT"})

_SPEC_KEYS = frozenset(
    {
        "name",
        "type",
        "description",
        "required",
        "default_value",
        "is_primary",
        "options",
        "target",
        "multiple",
        "expression",
        "prompt",
        "ai_value",
        "settings",
    }
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.IGNORECASE)


def iso_ms(moment: datetime) -> str:
    """``2026-01-01T00:00:00.000Z``: UTC with milliseconds, as the seeds show every timestamp."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Column:
    """A column as GET /tables/{id} shows it, plus ``ai_value``: what the fake answers for an AI column."""

    id: int
    name: str
    type: str
    order_index: int
    description: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    required: bool = False
    default_value: Any = None
    is_primary: bool = False
    ai_value: str | None = None

    @property
    def option_names(self) -> list[str]:
        return [str(option["name"]) for option in self.settings.get("options", [])]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "settings": self.settings,
            "order_index": self.order_index,
            "required": self.required,
            "default_value": self.default_value,
            "is_primary": self.is_primary,
        }


def build_column(
    spec: Mapping[str, Any], *, column_id: int, order_index: int, target_id: Callable[[str], str]
) -> Column:
    """A column from a test's spec; ``target_id`` turns a REFERENCE ``target`` (table id or name) into an id.

    Spec keys: ``name``, ``type`` (required); ``description``, ``required``, ``default_value``,
    ``is_primary``; ``options`` (SELECT/MULTISELECT, names); ``target`` and ``multiple`` (REFERENCE);
    ``expression`` (FORMULA); ``prompt`` and ``ai_value`` (AI); ``settings`` (merged in as given).
    """
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ValueError(f"unknown column spec keys: {sorted(unknown)}")
    column_type = str(spec["type"]).upper()
    if column_type not in COLUMN_TYPES:
        raise ValueError(f"unknown Onnie column type {spec['type']!r}")
    return Column(
        id=column_id,
        name=str(spec["name"]),
        type=column_type,
        order_index=order_index,
        description=str(spec.get("description", "")),
        settings={**_type_settings(column_type, spec, target_id), **dict(spec.get("settings", {}))},
        required=bool(spec.get("required", False)) and column_type not in READ_ONLY_TYPES,
        default_value=spec.get("default_value"),
        is_primary=bool(spec.get("is_primary", False)),
        ai_value=spec.get("ai_value"),
    )


def _type_settings(column_type: str, spec: Mapping[str, Any], target_id: Callable[[str], str]) -> dict[str, Any]:
    if column_type in OPTION_TYPES:
        return {"options": [{"name": str(name)} for name in spec.get("options", [])]}
    if column_type == "REFERENCE":
        if "target" not in spec:
            raise ValueError(f"REFERENCE column {spec['name']!r} needs a target table")
        return {"target_table_id": target_id(str(spec["target"])), "multiple": bool(spec.get("multiple", False))}
    if column_type == "FORMULA":
        return {"expression": str(spec.get("expression", ""))}
    if column_type == "AI":
        return {"prompt": str(spec.get("prompt", ""))}
    return {}


# --------------------------------------------------------------------------------------------
# Value checks on write
# --------------------------------------------------------------------------------------------


class FieldValueError(ValueError):
    """A value a column refuses; the message goes into ``details.fields``."""


def is_blank(value: Any) -> bool:
    """What a required column refuses: null, "" and []."""
    return value is None or value == "" or value == []


def read_only_message(column: Column) -> str:
    if column.type == "FILE":
        return "FILE columns are read-only in v1"
    return f"{column.type} columns are computed and cannot be written"


def check_value(column: Column, value: Any, record_exists: Callable[[str, str], bool]) -> Any:
    """The value to store for a writable column, or :class:`FieldValueError`; null always clears."""
    if value is None:
        return None
    check = _CHECKS[column.type]
    return check(column, value, record_exists)


def _string(column: Column, value: Any, _: Callable[[str, str], bool]) -> str:
    if not isinstance(value, str):
        raise FieldValueError("Expected a string")
    if value and column.type == "EMAIL" and not _EMAIL.fullmatch(value):
        raise FieldValueError("Invalid email address")
    if value and column.type == "URL" and not _URL.fullmatch(value):
        raise FieldValueError("Invalid URL (expected http:// or https://)")
    return value


def _number(_column: Column, value: Any, _: Callable[[str, str], bool]) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FieldValueError("Expected a number")
    return value


def _boolean(_column: Column, value: Any, _: Callable[[str, str], bool]) -> bool:
    if not isinstance(value, bool):
        raise FieldValueError("Expected a boolean")
    return value


def _datetime(_column: Column, value: Any, _: Callable[[str, str], bool]) -> str:
    if not isinstance(value, str):
        raise FieldValueError("Expected an ISO-8601 datetime string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FieldValueError("Expected an ISO-8601 datetime string") from None
    return iso_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _select(column: Column, value: Any, _: Callable[[str, str], bool]) -> str:
    if not isinstance(value, str):
        raise FieldValueError("Expected a string matching an option name")
    if value not in column.option_names:
        raise FieldValueError(f'"{value}" is not an option of this column')
    return value


def _multiselect(column: Column, value: Any, _: Callable[[str, str], bool]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise FieldValueError("Expected an array of option names")
    for item in value:
        if item not in column.option_names:
            raise FieldValueError(f'"{item}" is not an option of this column')
    return list(value)


def _reference(column: Column, value: Any, record_exists: Callable[[str, str], bool]) -> str | list[str]:
    target = str(column.settings["target_table_id"])
    if column.settings.get("multiple"):
        if not isinstance(value, list):
            raise FieldValueError("Expected an array of record UUIDs")
        return [_record_id(target, item, record_exists) for item in value]
    if not isinstance(value, str):
        raise FieldValueError("Expected a record UUID")
    return _record_id(target, value, record_exists)


def _record_id(target: str, value: Any, record_exists: Callable[[str, str], bool]) -> str:
    try:
        canonical = str(uuid.UUID(str(value)))
    except ValueError:
        raise FieldValueError(f"{value!r} is not a record UUID") from None
    if not record_exists(target, canonical):
        raise FieldValueError(f"No record {canonical} in the referenced table")
    return canonical


_CHECKS: dict[str, Callable[[Column, Any, Callable[[str, str], bool]], Any]] = {
    **dict.fromkeys(STRING_TYPES, _string),
    "NUMBER": _number,
    "BOOLEAN": _boolean,
    "DATETIME": _datetime,
    "SELECT": _select,
    "MULTISELECT": _multiselect,
    "REFERENCE": _reference,
}


# --------------------------------------------------------------------------------------------
# FORMULA: + - * / and parentheses over numbers and {Column} references
# --------------------------------------------------------------------------------------------

_FORMULA_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|\{([^}]*)\}|(\S))")


class _FormulaUndefinedError(Exception):
    """The formula has no value: a null or non-number reference, a division by zero, or bad syntax."""


def evaluate_formula(expression: str, values: Mapping[str, Any]) -> int | float | None:
    """The formula's number (integral results as ints, as JSON from JavaScript shows them) or None."""
    tokens: list[tuple[str, str]] = []
    for number, reference, symbol in _FORMULA_TOKEN.findall(expression):
        tokens.append(("num", number) if number else ("ref", reference) if reference else ("op", symbol))
    if not tokens:
        return None
    try:
        parser = _FormulaParser(tokens, values)
        result = parser.sum()
        if parser.position != len(tokens):
            raise _FormulaUndefinedError
    except _FormulaUndefinedError:
        return None
    return int(result) if result.is_integer() else result


class _FormulaParser:
    def __init__(self, tokens: list[tuple[str, str]], values: Mapping[str, Any]) -> None:
        self.tokens = tokens
        self.values = values
        self.position = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def sum(self) -> float:
        result = self.product()
        while self.peek() in (("op", "+"), ("op", "-")):
            result = result + self.product() if self.take()[1] == "+" else result - self.product()
        return result

    def product(self) -> float:
        result = self.primary()
        while self.peek() in (("op", "*"), ("op", "/")):
            operator = self.take()[1]
            operand = self.primary()
            if operator == "/" and operand == 0:
                raise _FormulaUndefinedError
            result = result * operand if operator == "*" else result / operand
        return result

    def primary(self) -> float:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if kind == "ref":
            value = self.values.get(text)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _FormulaUndefinedError
            return float(value)
        if (kind, text) == ("op", "-"):
            return -self.primary()
        if (kind, text) == ("op", "("):
            inner = self.sum()
            if self.take() != ("op", ")"):
                raise _FormulaUndefinedError
            return inner
        raise _FormulaUndefinedError
