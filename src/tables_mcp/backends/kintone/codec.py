"""Kintone values both ways: `{"code": {"type", "value"}}` records read as plain canonical values, and
canonical values written in Kintone's shape (refusing what no writable column takes).

Numbers keep every digit (a value a double cannot hold exactly stays a decimal string); DATETIME is
sent in UTC and TIME to the minute, as Kintone keeps them. See the package docstring for every shape.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from ...errors import FieldError, TablesError, invalid_argument
from ...model import Column, Record, Table
from ..kit.codecs import utc_datetime
from .fields import ENTITY_LIST_TYPES, LIST_TYPES, NUMERIC_TYPES, as_mapping

MAX_SAFE_INTEGER = 2**53
_SAFE_DIGITS = len(str(MAX_SAFE_INTEGER)) - 1  # every whole number of this many digits is safe


def decode_record(table: Table, raw: Mapping[str, Any], wanted: Sequence[str] | None) -> Record:
    """A Kintone record (`{code: {type, value}}`) in the canonical shape."""
    plan = _record_plan(table)
    record_id = _value_of(raw.get("$id"), "__ID__")
    revision = _value_of(raw.get("$revision"), "__REVISION__")
    created = _value_of(raw.get(plan.created), "CREATED_TIME") if plan.created else None
    updated = _value_of(raw.get(plan.updated), "UPDATED_TIME") if plan.updated else None
    if record_id is None or revision is None or (plan.created is None and plan.updated is None):
        record_id, revision, created, updated = _system_values(raw, record_id, revision, created, updated)
    chosen = set(wanted) if wanted is not None else None
    fields: dict[str, Any] = {}
    for name, decode in plan.columns:
        entry = raw.get(name)
        if not isinstance(entry, dict) or (chosen is not None and name not in chosen):
            continue
        value = entry.get("value")
        if value is not None and decode is not None:
            value = decode(value)
        if not (value is None or value == "" or value == []):
            fields[name] = value
    record: Record = {
        "id": None if record_id is None else str(record_id),
        "fields": fields,
        "created_at": created or None,
        "updated_at": updated or None,
    }
    if revision is not None:
        record["version"] = str(revision)  # Kintone's $revision: one more at every write
    return record


def _value_of(entry: Any, kind: str) -> Any:
    if isinstance(entry, dict) and entry.get("type") == kind:
        return entry.get("value")
    return None


def _system_values(
    raw: Mapping[str, Any], record_id: Any, revision: Any, created: Any, updated: Any
) -> tuple[Any, ...]:
    """The id, revision and times found by their types, wherever they are (a record whose system fields do not
    have their usual codes); what was found by its code stands."""
    for entry in raw.values():
        if not isinstance(entry, dict):
            continue
        kind, value = entry.get("type"), entry.get("value")
        if kind == "__ID__" and record_id is None:
            record_id = value
        elif kind == "__REVISION__" and revision is None:
            revision = value
        elif kind == "CREATED_TIME" and created is None:
            created = value
        elif kind == "UPDATED_TIME" and updated is None:
            updated = value
    return record_id, revision, created, updated


class _RecordPlan:
    """How one table's records decode: each column's decoder (None: the value as Kintone sent it) and the codes
    of its CREATED_TIME and UPDATED_TIME fields; built once per table as loaded, not for every record."""

    __slots__ = ("columns", "created", "table", "updated")

    def __init__(self, table: Table) -> None:
        self.table = table
        self.columns = [(column.name, column_decoder(column)) for column in table.columns]
        self.created = next((c.name for c in table.columns if c.native_type == "CREATED_TIME"), None)
        self.updated = next((c.name for c in table.columns if c.native_type == "UPDATED_TIME"), None)


_PLANS_KEPT = 256
_plans: dict[str, _RecordPlan] = {}


def _record_plan(table: Table) -> _RecordPlan:
    plan = _plans.get(table.id)
    if plan is None or plan.table is not table:  # a reload makes a new Table: its plan is made again
        if len(_plans) >= _PLANS_KEPT:
            _plans.clear()
        plan = _plans[table.id] = _RecordPlan(table)
    return plan


def decode_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    decode = column_decoder(column)
    return value if decode is None else decode(value)


def column_decoder(column: Column) -> Callable[[Any], Any] | None:
    """How a column's Kintone value (never None) becomes its canonical value; None where it is the value."""
    native = column.native_type
    if native in NUMERIC_TYPES:
        return kintone_number
    if native == "CALC":
        return _calc_value
    if native in ENTITY_LIST_TYPES:
        return _entity_codes
    if native in ("CREATOR", "MODIFIER"):
        return _entity_code
    if native == "FILE":
        return _file_infos
    if native == "SUBTABLE":
        return partial(_decode_rows, column)
    return None


def _calc_value(value: Any) -> Any:
    return kintone_number(str(value).replace(",", "")) if _is_number_text(value) else value


def _entity_codes(value: Any) -> list[Any]:
    return [entity.get("code") for entity in value if isinstance(entity, dict)]


def _entity_code(value: Any) -> Any:
    return value.get("code") if isinstance(value, dict) else value


def _file_infos(value: Any) -> list[dict[str, Any]]:
    return [_file_info(item) for item in value if isinstance(item, dict)]


def _decode_rows(column: Column, value: Any) -> list[dict[str, Any]]:
    return [_decode_row(column, row) for row in value if isinstance(row, dict)]


def _decode_row(column: Column, row: Mapping[str, Any]) -> dict[str, Any]:
    cells = as_mapping(row.get("value"))
    out: dict[str, Any] = {}
    for sub in column.subcolumns or ():
        entry = cells.get(sub.name)
        if isinstance(entry, dict):
            value = decode_value(sub, entry.get("value"))
            if not is_empty(value):
                out[sub.name] = value
    return out


def _file_info(item: Mapping[str, Any]) -> dict[str, Any]:
    size = kintone_number(item.get("size")) if item.get("size") not in (None, "") else None
    return {
        "name": item.get("name"),
        "contentType": item.get("contentType"),
        "size": size,
        "fileKey": item.get("fileKey"),
    }


def _is_number_text(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"-?[\d,]+(\.\d+)?", value.strip()) is not None


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def kintone_number(text: Any) -> int | float | str | None:
    """Kintone's numeric string as a JSON number, or the exact string when a double would lose digits."""
    if text is None or text == "":
        return None
    if type(text) is str:  # the common cases without a Decimal: what they give is what the Decimal way gives
        if len(text) <= _SAFE_DIGITS and text.isascii() and text.isdigit():
            return int(text)  # a plain whole number a double holds
        as_float = _float_or_none(text)
        if as_float is not None and repr(as_float) == text and not as_float.is_integer() and math.isfinite(as_float):
            return as_float  # a fraction written as its double is written
    try:
        number = Decimal(str(text).strip())
    except InvalidOperation:
        return str(text)
    if not number.is_finite():
        return str(text)
    if number == number.to_integral_value():
        whole = int(number)
        return whole if abs(whole) <= MAX_SAFE_INTEGER else str(text)
    as_float = float(number)
    return as_float if Decimal(repr(as_float)) == number else str(text)


def encode_rows(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    problems: list[FieldError] = []
    encoded = []
    for index, row in enumerate(rows):
        try:
            encoded.append(encode_row(table, row, index))
        except TablesError as exc:
            problems += exc.field_errors
    if problems:
        raise invalid_argument("Some records name columns that cannot be written; nothing was written.", problems)
    return encoded


def encode_upserts(table: Table, key: Column, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as items of an upsert PUT records.json: `updateKey` names the record by its key value, `record`
    carries the other values (Kintone adds the key itself to a record it creates)."""
    problems: list[FieldError] = []
    items = []
    for index, row in enumerate(rows):
        others = {name: value for name, value in row.items() if name != key.name}
        try:
            record = encode_row(table, others, index)
        except TablesError as exc:
            problems += exc.field_errors
            continue
        items.append({"updateKey": {"field": key.name, "value": encode_value(key, row[key.name])}, "record": record})
    if problems:
        raise invalid_argument("Some records name columns that cannot be written; nothing was written.", problems)
    return items


def encode_row(table: Table, row: Mapping[str, Any], index: int | None) -> dict[str, Any]:
    """Canonical values in Kintone's write shape; refuses anything that is not a writable column.

    Kintone silently ignores unknown field codes, so sending one would lose data without a word.
    """
    return _encode_cells(table.columns, row, index, prefix="")


def _encode_cells(columns: Sequence[Column], row: Mapping[str, Any], index: int | None, prefix: str) -> dict[str, Any]:
    by_name = {col.name: col for col in columns}
    problems: list[FieldError] = []
    out: dict[str, Any] = {}
    for name, value in row.items():
        column = by_name.get(name)
        if column is None or not column.writable:
            allowed = [col.name for col in columns if col.writable]
            why = "is read-only" if column is not None else "is not a column"
            problems.append(FieldError(f"{prefix}{name}", f"'{name}' {why}", record=index, allowed=allowed))
            continue
        try:
            out[name] = {"value": encode_value(column, value, index, f"{prefix}{name}")}
        except TablesError as exc:
            problems += exc.field_errors
        except (TypeError, ValueError) as exc:
            problems.append(FieldError(f"{prefix}{name}", str(exc), record=index))
    if problems:
        raise invalid_argument("Some values cannot be written.", problems)
    return out


def encode_value(column: Column, value: Any, index: int | None = None, where: str = "") -> Any:
    native = column.native_type
    if value is None:
        return [] if native in LIST_TYPES else ""
    if native == "NUMBER":
        return number_text(value)
    if native == "DATETIME":
        return utc_datetime(str(value))
    if native == "TIME":
        return str(value)[:5]
    if native in ENTITY_LIST_TYPES:
        codes = value if isinstance(value, list) else [value]
        return [{"code": str(code)} for code in codes]
    if native == "SUBTABLE":
        if not isinstance(value, list):
            raise ValueError("a SUBTABLE value is a list of rows")
        return [
            {"value": _encode_cells(column.subcolumns or (), row, index, f"{where}[{position}].")}
            for position, row in enumerate(value)
        ]
    if native in ("CHECK_BOX", "MULTI_SELECT"):
        return [str(item) for item in value]
    return value


def number_text(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Plain notation: "1e-07" would be normalised by Kintone, but plain text never surprises.
        return format(Decimal(repr(value)), "f")
    text = str(value).strip()
    Decimal(text)  # raises on non-numbers
    return text


def record_from_input(record_id: str, row: Mapping[str, Any]) -> Record:
    """A written record when it could not be read back: the sent values and its new id."""
    fields = {name: value for name, value in row.items() if not is_empty(value)}
    return {"id": record_id, "fields": fields, "created_at": None, "updated_at": None}
