"""Values between the canonical model and Ozari's flat rows (`{"fid": 12, "fname": "...", ...}`).

Writes: every name is checked against the platform's `^[A-Za-z0-9_]+$` and the table's known, writable
columns (never `fid`) before any request; values are scalars (text, number, null), sent as given, so text
(Hebrew included) goes out byte for byte. Reads: `id` is the row's `fid` as text; TEXT-like columns show
text, also where the database holds a number (`1200.5` -> "1200.5"), because the platform publishes no
types; NUMBER columns (typed by OZARI_COLUMN_TYPES) show numbers, and a decimal string a double cannot hold
exactly stays the exact string; DATE columns show `YYYY-MM-DD`. Empty values (null, "") are left out of
`fields`. `created_at` is null (Ozari keeps no creation time); `updated_at` is the row's `flastmodify`, in
the platform's own time zone when it gives no offset (converted to UTC when it does).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ...errors import ErrorCode, FieldError, TablesError, invalid_argument
from ...model import Column, ColumnType, Record, Table
from ..kit.codecs import format_datetime
from .fields import MODIFIED_COLUMN, PRIMARY_KEY
from .settings import NAME_PATTERN

MAX_SAFE_INTEGER = 2**53
_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}")
SCALARS = (str, int, float, bool)


# -- writes ---------------------------------------------------------------------------------------


def encode_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every row in Ozari's write shape, or one invalid_argument listing every problem of every row."""
    problems: list[FieldError] = []
    encoded = []
    for index, row in enumerate(rows):
        fields, found = _encode(table, row, index)
        encoded.append(fields)
        problems += found
    if problems:
        raise invalid_argument("Some records cannot be written as they are; nothing was written.", problems)
    return encoded


def encode_fields(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """One patch's fields in Ozari's write shape (invalid_argument before any request otherwise)."""
    fields, problems = _encode(table, values, None)
    if problems:
        raise invalid_argument("Some fields cannot be written as they are; nothing was changed.", problems)
    if not fields:
        raise invalid_argument("Send at least one column to change.", [FieldError("fields", "no columns sent")])
    return fields


def _encode(table: Table, row: Mapping[str, Any], index: int | None) -> tuple[dict[str, Any], list[FieldError]]:
    writable = [column.name for column in table.columns if column.writable]
    problems: list[FieldError] = []
    out: dict[str, Any] = {}
    for name, value in row.items():
        column = table.column(name) if NAME_PATTERN.fullmatch(name) else None
        if column is None or not column.writable:
            problems.append(FieldError(name, _why_not_writable(name, column), record=index, allowed=writable))
        elif value is not None and not isinstance(value, SCALARS):
            problems.append(FieldError(name, "Ozari holds one value per field: text, a number or null", record=index))
        else:
            out[name] = value
    return out, problems


def _why_not_writable(name: str, column: Column | None) -> str:
    if column is not None and column.name == PRIMARY_KEY:
        return f"'{PRIMARY_KEY}' is the primary key: Ozari sets it, it cannot be written"
    if column is not None:
        return f"'{name}' is read-only"
    if not NAME_PATTERN.fullmatch(name):
        return f"{name!r} is not an Ozari field name (letters, digits and _ only)"
    return f"'{name}' is not a column of this table"


# -- reads ----------------------------------------------------------------------------------------


def decode_row(table: Table, row: Mapping[str, Any], wanted: Sequence[str] | None = None) -> Record:
    """One query row as a canonical record; columns not in `wanted` (when given) are left out."""
    chosen = set(wanted) if wanted is not None else None
    fields: dict[str, Any] = {}
    for column in table.columns:
        if chosen is not None and column.name not in chosen:
            continue
        value = decode_value(column, row.get(column.name))
        if value is not None and value != "":
            fields[column.name] = value
    return {"id": record_id(row), "fields": fields, "created_at": None, "updated_at": updated_at(row)}


def decode_value(column: Column, value: Any) -> Any:
    if value is None or value == "":
        return None
    if column.type is ColumnType.SERIAL:
        return value
    if column.type is ColumnType.NUMBER:
        return number(value)
    if column.type is ColumnType.DATE and isinstance(value, str) and _DATE_PREFIX.match(value):
        return value[:10]  # a driver may add a time of day; the date is what the column holds
    return text(value)


def text(value: Any) -> str:
    """A value as the text a TEXT column shows."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER else repr(value)
    return json.dumps(value, ensure_ascii=False)


def number(value: Any) -> int | float | str:
    """A number as JSON shows it best: an exact decimal string where a double would lose digits."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    textual = str(value).strip()
    try:
        exact = Decimal(textual)
    except InvalidOperation:
        return textual
    if not exact.is_finite():
        return textual
    if exact == exact.to_integral_value():
        whole = int(exact)
        return whole if abs(whole) <= MAX_SAFE_INTEGER else textual
    as_float = float(exact)
    return as_float if Decimal(repr(as_float)) == exact else textual


def record_id(row: Mapping[str, Any]) -> str:
    fid = row.get(PRIMARY_KEY)
    key = record_key(fid)
    if key is None:
        raise TablesError(ErrorCode.BACKEND_ERROR, f"Ozari answered a row without a usable fid ({fid!r}).")
    return str(key)


def record_key(value: Any) -> int | None:
    """A record id as Ozari's fid (a positive integer); None when it cannot name a record."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    text_value = str(value).strip()
    if text_value.isascii() and text_value.isdigit() and len(text_value) < 19 and int(text_value) > 0:
        return int(text_value)
    return None


def updated_at(row: Mapping[str, Any]) -> str | None:
    """`flastmodify` as ISO 8601: UTC when Ozari gives an offset, else as the platform's local time."""
    raw = row.get(MODIFIED_COLUMN)
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace(" ", "T", 1))
    except ValueError:
        return raw
    if moment.tzinfo is not None:
        return format_datetime(moment)
    return moment.replace(microsecond=0).isoformat()


def record_from_input(record_id_text: str | None, table: Table, sent: Mapping[str, Any]) -> Record:
    """A written record that could not be read back: the values sent, as a read would show them."""
    fields: dict[str, Any] = {} if record_id_text is None else {PRIMARY_KEY: int(record_id_text)}
    for name, value in sent.items():
        column = table.column(name)
        shown = decode_value(column, value) if column is not None else value
        if shown is not None and shown != "":
            fields[name] = shown
    return {"id": record_id_text, "fields": fields, "created_at": None, "updated_at": None}
