"""Kintone values both ways: `{"code": {"type", "value"}}` records read as plain canonical values, and
canonical values written in Kintone's shape (refusing what no writable column takes).

Numbers keep every digit (a value a double cannot hold exactly stays a decimal string); DATETIME is
sent in UTC and TIME to the minute, as Kintone keeps them. See the package docstring for every shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from ...errors import FieldError, TablesError, invalid_argument
from ...model import Column, Record, Table
from ..kit.codecs import utc_datetime
from .fields import ENTITY_LIST_TYPES, LIST_TYPES, NUMERIC_TYPES, as_mapping

MAX_SAFE_INTEGER = 2**53


def decode_record(table: Table, raw: Mapping[str, Any], wanted: Sequence[str] | None) -> Record:
    """A Kintone record (`{code: {type, value}}`) in the canonical shape."""
    record_id = created = updated = revision = None
    for entry in raw.values():
        if not isinstance(entry, dict):
            continue
        kind, value = entry.get("type"), entry.get("value")
        if kind == "__ID__":
            record_id = str(value)
        elif kind == "__REVISION__":
            revision = str(value)
        elif kind == "CREATED_TIME" and created is None:
            created = value or None
        elif kind == "UPDATED_TIME" and updated is None:
            updated = value or None
    if record_id is None and isinstance(raw.get("$id"), dict):
        record_id = str(raw["$id"].get("value"))
    chosen = set(wanted) if wanted is not None else None
    fields: dict[str, Any] = {}
    for column in table.columns:
        entry = raw.get(column.name)
        if not isinstance(entry, dict) or (chosen is not None and column.name not in chosen):
            continue
        value = decode_value(column, entry.get("value"))
        if not is_empty(value):
            fields[column.name] = value
    record: Record = {"id": record_id, "fields": fields, "created_at": created, "updated_at": updated}
    if revision is not None:
        record["version"] = revision  # Kintone's $revision: one more at every write
    return record


def decode_value(column: Column, value: Any) -> Any:
    native = column.native_type
    if value is None:
        return None
    if native in NUMERIC_TYPES:
        return kintone_number(value)
    if native == "CALC":
        return kintone_number(str(value).replace(",", "")) if _is_number_text(value) else value
    if native in ENTITY_LIST_TYPES:
        return [entity.get("code") for entity in value if isinstance(entity, dict)]
    if native in ("CREATOR", "MODIFIER"):
        return value.get("code") if isinstance(value, dict) else value
    if native == "FILE":
        return [_file_info(item) for item in value if isinstance(item, dict)]
    if native == "SUBTABLE":
        return [_decode_row(column, row) for row in value if isinstance(row, dict)]
    return value


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


def kintone_number(text: Any) -> int | float | str | None:
    """Kintone's numeric string as a JSON number, or the exact string when a double would lose digits."""
    if text is None or text == "":
        return None
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
