"""Onnie record values to and from the canonical shape (which Onnie's records nearly are already).

Reads: `{"id", "fields", "created_at", "updated_at"}` passes through, keyed by column name as Onnie
keys it; only empty values (null, "", [], which Onnie shows for every unset column) are left out, as
on every backend, and DATETIME values are given in UTC as `YYYY-MM-DDTHH:MM:SSZ` (milliseconds kept,
`.mmmZ`, only when they are not zero, so no instant is ever rounded). `created_at` / `updated_at`
are Onnie's own text (UTC with milliseconds), unchanged.

Writes: values pass through, except that "" and [] are sent as null (an empty value is no value),
DATETIME is sent in UTC, and a REFERENCE value must fit the column: one record id for a single
reference, a list (or one id, sent as a list of one) for a multiple one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ...errors import ErrorCode, FieldError, TablesError, invalid_argument
from ...model import Column, ColumnType, Record, Table
from ..kit.codecs import format_datetime, parse_datetime
from ..kit.record_filter import is_empty


def decode_record(table: Table, raw: Any, wanted: Sequence[str] | None = None) -> Record:
    """An Onnie record as agents see it; `wanted` keeps only the named columns."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("fields"), Mapping) or not raw.get("id"):
        raise TablesError(ErrorCode.BACKEND_ERROR, "Onnie returned a record without the documented id and fields.")
    fields: dict[str, Any] = {}
    for name, value in raw["fields"].items():
        if is_empty(value) or (wanted is not None and name not in wanted):
            continue
        column = table.column(name)
        fields[name] = decode_datetime(value) if column is not None and column.type is ColumnType.DATETIME else value
    return {
        "id": str(raw["id"]),
        "fields": fields,
        "created_at": raw.get("created_at"),
        "updated_at": raw.get("updated_at"),
    }


def decode_datetime(value: Any) -> Any:
    """Onnie's `2026-03-01T01:15:00.000Z` as `2026-03-01T01:15:00Z`; text that is no date-time unchanged."""
    if not isinstance(value, str):
        return value
    try:
        return utc_text(parse_datetime(value))
    except ValueError:
        return value


def utc_text(moment: datetime) -> str:
    """UTC to the second, with milliseconds only when the moment has some (Onnie keeps milliseconds)."""
    text = format_datetime(moment)
    millis = moment.microsecond // 1000
    return f"{text[:-1]}.{millis:03d}Z" if millis else text


def encode_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validated rows as Onnie `fields` objects; every problem of every row in one error."""
    problems: list[FieldError] = []
    encoded = [encode_fields(table, row, index, problems) for index, row in enumerate(rows)]
    if problems:
        raise invalid_argument(f"Invalid records for '{table.name}': {len(problems)} problem(s).", problems)
    return encoded


def encode_patch(table: Table, fields: Mapping[str, Any]) -> dict[str, Any]:
    problems: list[FieldError] = []
    encoded = encode_fields(table, fields, None, problems)
    if problems:
        raise invalid_argument(f"Invalid fields for '{table.name}': {len(problems)} problem(s).", problems)
    return encoded


def encode_fields(
    table: Table, row: Mapping[str, Any], index: int | None, problems: list[FieldError]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        column = table.column(name)
        if column is None:  # the tools' schemas refuse unknown names first; this guards direct callers
            problems.append(FieldError(name, "unknown column", record=index))
            continue
        try:
            out[name] = encode_value(column, value)
        except ValueError as exc:
            problems.append(FieldError(name, str(exc), record=index))
    return out


def encode_value(column: Column, value: Any) -> Any:
    if is_empty(value):
        return None
    if column.type is ColumnType.DATETIME and isinstance(value, str):
        return utc_text(parse_datetime(value))
    if column.type is ColumnType.REFERENCE:
        return _reference(column, value)
    return value


def _reference(column: Column, value: Any) -> Any:
    if column.multiple:
        return value if isinstance(value, list) else [value]
    if isinstance(value, list):
        if len(value) == 1:
            return value[0]
        raise ValueError(f"'{column.name}' references one record: send one record id, not a list of {len(value)}")
    return value
