"""Checks arguments against JSON Schemas and turns every violation into a field error.

The JSON Schema library (jsonschema-rs) finds the problems; this module words them for an agent:
which record, which field, what was sent, what is allowed. All problems of a call come back in
one `TablesError`, so an agent fixes everything in one round trip.

Before the schema runs, every string of the arguments (names and values) must be Unicode text: a lone
UTF-16 surrogate (`"\\ud800"` is valid JSON) is refused here, naming where it was, since no backend, no
schema library and no answer could carry it. The `date-time` and `date` formats are checked as the
adapters convert them (`FORMAT_CHECKS`), so a value that passes is one every backend can store.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import jsonschema_rs
import pydantic_core

from .backends.kit.codecs import is_date_argument, is_datetime_argument
from .errors import MAX_ECHO_CHARS, FieldError, invalid_argument
from .model import Column, Table
from .schema import FORMAT_WORDS, TIME_PATTERN, Schema

MAX_SHOWN_VALUE = 80
MAX_COMPILED = 512  # distinct schemas kept compiled: every tool of a few hundred tables
# The library's own checks accept year 0000 and moments that leave the years 1 to 9999 once in UTC.
FORMAT_CHECKS = {"date-time": is_datetime_argument, "date": is_date_argument}
LONE_SURROGATE = "holds a lone UTF-16 surrogate (an unpaired escape such as \\ud800), which is not text"
MAX_SURROGATE_PROBLEMS = 20


_compiled: OrderedDict[str, Any] = OrderedDict()


def compiled_validator(schema: Schema) -> Any:
    """The jsonschema-rs validator of `schema`, compiled once per distinct schema: a catalogue reload rebuilds
    every tool's spec, but most schemas (the generic tools', unchanged tables') are the same as before.
    Formats are checked as the adapters read them (`FORMAT_CHECKS`)."""
    key = json.dumps(schema, sort_keys=True, separators=(",", ":"), default=str)
    validator = _compiled.get(key)
    if validator is None:
        validator = jsonschema_rs.validator_for(schema, validate_formats=True, formats=FORMAT_CHECKS)
        _compiled[key] = validator
        if len(_compiled) > MAX_COMPILED:
            _compiled.popitem(last=False)
    else:
        _compiled.move_to_end(key)
    return validator


class ArgumentValidator:
    """A compiled schema plus the table (if any) whose columns its records hold."""

    def __init__(self, schema: Schema, table: Table | None = None, rows_at: tuple[str, ...] = ("records",)) -> None:
        self._validator = compiled_validator(schema)
        self._table = table
        self._schema = schema
        self._rows_at = rows_at

    def check(self, instance: Any, summary: str = "Invalid arguments", *, text_checked: bool = False) -> None:
        """Raise one invalid_argument error listing every problem, or return if there are none.

        `text_checked`: the instance is known to hold no lone surrogate, so none is looked for (a scan of every
        string, 1.2 ms for 1,000 records): the transport refused those (`stdio.check_line`), or the instance is
        part of a call's arguments that passed this check already (a handler checking records against their
        table's schema)."""
        if not text_checked:
            unreadable = [self._surrogate_error(path, is_name) for path, is_name in lone_surrogates(instance)]
            if unreadable:
                raise invalid_argument(f"{summary}: {len(unreadable)} string(s) are not Unicode text.", unreadable)
        if self._validator.is_valid(instance):
            return
        problems = [p for err in self._validator.iter_errors(instance) for p in self._field_error(err)]
        problems.sort(key=lambda fe: (fe.record if fe.record is not None else -1, fe.field))
        raise invalid_argument(f"{summary}: {len(problems)} problem(s).", _dedupe(problems))

    def _field_error(self, err: Any) -> list[FieldError]:
        path = list(err.instance_path)
        record, field_path = self._locate(path)
        kind = type(err.kind).__name__
        if path == ["fields"] and kind in ("AdditionalProperties", "Required"):
            field_path = []  # columns in patchRecord's fields are named as columns, like every other problem
        details = err.kind.as_dict()
        sent = err.instance
        if kind == "AdditionalProperties":
            return [self._unexpected(name, path, record, field_path) for name in details["unexpected"]]
        if kind == "Required":
            name = details["property"]
            where = ".".join([*field_path, name]) if field_path else name
            what = "required column is missing" if record is not None else "required argument is missing"
            return [FieldError(where, what, record=record)]
        where = ".".join(field_path) if field_path else "(arguments)"
        message, allowed = _describe(kind, details, sent)
        return [FieldError(where, message, record=record, allowed=allowed)]

    def _surrogate_error(self, path: list[Any], is_name: bool) -> FieldError:
        record, parts = self._locate(path)
        where = ".".join(parts) if parts else "(arguments)"
        return FieldError(where, ("a name " if is_name else "text ") + LONE_SURROGATE, record=record)

    def _locate(self, path: list[Any]) -> tuple[int | None, list[str]]:
        """Split an instance path into a record index and a readable field path."""
        record: int | None = None
        rest = path
        if len(path) >= 2 and path[0] in self._rows_at and isinstance(path[1], int):
            record, rest = path[1], path[2:]
        elif len(path) > 1 and path[0] == "fields":
            rest = path[1:]
        parts: list[str] = []
        for step in rest:
            if isinstance(step, int) and parts:
                parts[-1] = f"{parts[-1]}[{step}]"
            else:
                parts.append(str(step))
        return record, parts

    def _unexpected(self, name: str, path: list[Any], record: int | None, field_path: list[str]) -> FieldError:
        where = ".".join([*field_path, name]) if field_path else name
        columns = self._columns_at(path)
        if columns is None:
            allowed_args = sorted(self._schema.get("properties", {})) if not path else None
            return FieldError(where, f"unknown argument '{name}'", record=record, allowed=allowed_args)
        allowed = [col.name for col in columns if col.writable]
        column = next((col for col in columns if col.name == name), None)
        if column is not None:
            why = f"column '{name}' is {column.type.value} and read-only; it cannot be written"
            return FieldError(where, why, record=record, allowed=allowed)
        return FieldError(where, f"unknown column '{name}'", record=record, allowed=allowed)

    def _columns_at(self, path: list[Any]) -> tuple[Column, ...] | None:
        """The columns of the row object at `path`, if the path points at a row."""
        if self._table is None:
            return None
        if path[:1] == ["fields"]:
            rest = path[1:]
        elif len(path) >= 2 and path[0] in self._rows_at and isinstance(path[1], int):
            rest = path[2:]
        else:
            return None
        columns: tuple[Column, ...] | None = self._table.columns
        # Walk into subtable rows: [<subtable column>, <row index>] pairs.
        while rest and columns is not None:
            if len(rest) < 2 or not isinstance(rest[1], int):
                return None
            column = next((col for col in columns if col.name == rest[0]), None)
            columns = column.subcolumns if column is not None else None
            rest = rest[2:]
        return columns


def lone_surrogates(instance: Any) -> list[tuple[list[Any], bool]]:
    """Where strings holding a lone surrogate are: (path, whether the string is an object key), at most
    `MAX_SURROGATE_PROBLEMS`; a key is named by its escaped, shortened text. Fast when there are none."""
    try:
        pydantic_core.to_json(instance)  # strict UTF-8: fails on a lone surrogate, in a quarter of json's time
        return []
    except pydantic_core.PydanticSerializationError as exc:
        if "surrogates not allowed" not in str(exc):  # too deep, or not JSON: the schema check reports it
            return []
    found: list[tuple[list[Any], bool]] = []
    stack: list[tuple[list[Any], Any]] = [([], instance)]
    while stack and len(found) < MAX_SURROGATE_PROBLEMS:
        path, value = stack.pop()
        if isinstance(value, str) and not _is_text(value):
            found.append((path, False))
        elif isinstance(value, dict):
            for key, item in value.items():
                if _is_text(key):
                    stack.append(([*path, key], item))
                else:
                    found.append(([*path, _escaped(key)], True))
        elif isinstance(value, list):
            stack.extend(([*path, i], item) for i, item in enumerate(value))
    return sorted(found, key=lambda hit: [str(step) for step in hit[0]])


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _escaped(text: str) -> str:
    shown = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return shown if len(shown) <= MAX_ECHO_CHARS else shown[:MAX_ECHO_CHARS] + "..."


def describe_error(err: Any) -> tuple[str, Any]:
    """A jsonschema-rs error as (message, allowed) in the words field errors use."""
    return _describe(type(err.kind).__name__, err.kind.as_dict(), err.instance)


def _describe(kind: str, details: dict[str, Any], sent: Any) -> tuple[str, Any]:
    shown = show_value(sent)
    if kind == "Enum":
        return f"{shown} is not an option", details.get("options")
    if kind == "Type":
        types = details.get("types") or [details.get("type")]
        return f"expected {' or '.join(str(t) for t in types)}, got {json_type(sent)} {shown}", None
    if kind == "Format":
        fmt = details.get("format", "")
        return f"{shown} is not {FORMAT_WORDS.get(fmt, fmt)}", None
    if kind == "Pattern":
        if details.get("pattern") == TIME_PATTERN:
            return f"{shown} is not a time HH:MM or HH:MM:SS", None
        return f"{shown} does not match {details.get('pattern')}", None
    if kind in ("Minimum", "ExclusiveMinimum"):
        return f"{shown} is below the minimum", _plain_number(details.get("limit"))
    if kind in ("Maximum", "ExclusiveMaximum"):
        return f"{shown} is above the maximum", _plain_number(details.get("limit"))
    if kind == "MinItems":
        return f"{len(sent)} item(s) sent; at least {details.get('limit')} required", None
    if kind == "MaxItems":
        return f"{len(sent)} items sent; at most {details.get('limit')} per call", None
    if kind == "MinLength":
        return "a required column cannot be empty", None
    if kind == "MaxLength":
        return f"text of {len(sent)} characters is longer than the limit", details.get("limit")
    if kind == "MinProperties":
        return "send at least one column to change", None
    if kind == "UniqueItems":
        return f"{shown} contains duplicates", None
    return f"{shown} is invalid", None


def _plain_number(value: Any) -> Any:
    """1000.0 -> 1000, so that a limit reads as the user wrote it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _dedupe(problems: Iterable[FieldError]) -> list[FieldError]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for fe in problems:
        key = (fe.record, fe.field, fe.message)
        if key not in seen:
            seen.add(key)
            out.append(fe)
    return out


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def show_value(value: Any) -> str:
    # backslashreplace: text that is no Unicode (a lone surrogate) is shown escaped, never sent raw.
    text = json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= MAX_SHOWN_VALUE else text[: MAX_SHOWN_VALUE - 3] + "..."
