"""Cell values between DingTalk's wire shapes and the canonical ones agents see (BACKENDS.md Part 2 §1.5, §3b).

| column (native)            | agents read and write                  | DingTalk writes / reads                   |
|----------------------------|----------------------------------------|-------------------------------------------|
| TEXT, EMAIL, PHONE         | a string                               | the same                                  |
| NUMBER (number, currency)  | a JSON number                          | a number / a decimal string ("123")       |
| SELECT / MULTISELECT       | option name(s)                         | name(s) / `{id, name}` (lists of them)    |
| DATE                       | "YYYY-MM-DD"                           | epoch ms of that day's 00:00 UTC+8        |
| DATETIME                   | "YYYY-MM-DDTHH:MM:SSZ" (UTC)           | epoch ms                                  |
| BOOLEAN (checkbox)         | true / false                           | the same                                  |
| USER (user, department)    | unionId(s) / deptId(s)                 | `[{"unionId"}]` / `[{"deptId"}]`          |
| USER (creator, modifier)   | a unionId (read-only)                  | `{"unionId"}`                             |
| REFERENCE (links)          | record id(s)                           | `{"linkedRecordIds": [...]}`              |
| URL                        | the link                               | `{"text", "link"}` (text = link on write) |
| FILE, FORMULA, UNKNOWN     | as DingTalk sends it (read-only)       |                                           |

A number a double cannot hold exactly comes back as its exact decimal string, so no digit is lost.
Empty cells (absent, null, "", []) are left out of `fields`. Days are those of China Standard Time,
the zone of DingTalk's tenants (assumed: no source says how the server maps a day to an instant).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from ...model import Column, ColumnType, Record, Table
from ..kit.codecs import format_datetime, parse_datetime
from .fields import ENTITY_KEYS

PLATFORM_ZONE = timezone(timedelta(hours=8), "UTC+08:00")
MAX_SAFE_INTEGER = 2**53
_NAIVE_EPOCH = datetime(1970, 1, 1)


# -- writing ----------------------------------------------------------------------------------------------------


def encode_fields(table: Table, row: Mapping[str, Any], *, keep_empty: bool) -> dict[str, Any]:
    """A row of canonical values (already checked against the table's schema) as DingTalk cells.

    `keep_empty` keeps null / "" / [] (a patch clears those cells); a create leaves them out.
    """
    cells: dict[str, Any] = {}
    for name, value in row.items():
        column = table.column(name)
        if column is None:
            continue  # validation refuses unknown columns before this
        if _is_empty(value):
            if keep_empty:
                cells[name] = None
            continue
        cells[name] = encode_value(column, value)
    return cells


def encode_value(column: Column, value: Any) -> Any:
    native = column.native_type
    if column.type is ColumnType.DATE:
        return day_to_ms(date.fromisoformat(value))
    if column.type is ColumnType.DATETIME:
        return moment_to_ms(value)
    if native in ENTITY_KEYS:
        key = ENTITY_KEYS[native]
        return [{key: item} for item in _as_list(value)]
    if column.type is ColumnType.REFERENCE:
        return {"linkedRecordIds": _as_list(value)}
    if column.type is ColumnType.URL:
        return {"text": value, "link": value}
    return value


def day_to_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=PLATFORM_ZONE).timestamp() * 1000)


def moment_to_ms(text: str) -> int:
    return int(parse_datetime(text).timestamp() * 1000)


# -- reading ----------------------------------------------------------------------------------------------------


def decode_record(table: Table, raw: Mapping[str, Any], wanted: Sequence[str] | None = None) -> Record:
    """A DingTalk record (`{id, fields, createdTime, lastModifiedTime, ...}`) in the canonical shape."""
    cells = raw.get("fields") if isinstance(raw.get("fields"), dict) else {}
    assert isinstance(cells, dict)
    names = wanted if wanted is not None else [column.name for column in table.columns]
    fields: dict[str, Any] = {}
    for name in names:
        column = table.column(name)
        if column is None or name not in cells:
            continue
        value = decode_value(column, cells[name])
        if not _is_empty(value):
            fields[name] = value
    return {
        "id": str(raw["id"]),
        "fields": fields,
        "created_at": ms_to_moment(raw.get("createdTime")),
        "updated_at": ms_to_moment(raw.get("lastModifiedTime")),
    }


def decode_value(column: Column, value: Any) -> Any:
    kind, native = column.type, column.native_type
    if kind is ColumnType.NUMBER:
        return exact_number(value)
    if kind is ColumnType.SELECT:
        return _option_name(value)
    if kind is ColumnType.MULTISELECT:
        return [_option_name(item) for item in _as_list(value)]
    if kind is ColumnType.DATE:
        return ms_to_day(value)
    if kind is ColumnType.DATETIME:
        return ms_to_moment(value) or value
    if native in ENTITY_KEYS:
        ids = [item.get(ENTITY_KEYS[native]) if isinstance(item, dict) else item for item in _as_list(value)]
        return ids if column.multiple else (ids[0] if ids else None)
    if kind is ColumnType.REFERENCE:
        linked = value.get("linkedRecordIds") if isinstance(value, dict) else value
        ids = _as_list(linked)
        return ids if column.multiple else (ids[0] if ids else None)
    if kind is ColumnType.URL and isinstance(value, dict):
        return value.get("link") or value.get("text")
    return value


def exact_number(value: Any) -> Any:
    """ "3" -> 3, "1.5" -> 1.5; a value a double would change comes back as its exact decimal string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return value  # not a number after all (a formatted currency, say): shown as sent
    if not number.is_finite():
        return value
    if number == number.to_integral_value():
        whole = int(number)
        return whole if abs(whole) <= MAX_SAFE_INTEGER else str(number)
    as_float = float(number)
    return as_float if Decimal(repr(as_float)) == number else format(number, "f")


def ms_to_day(value: Any) -> Any:
    moment = _from_ms(value, PLATFORM_ZONE)
    return value if moment is None else moment.date().isoformat()


def ms_to_moment(value: Any) -> str | None:
    moment = _from_ms(value, UTC)
    return None if moment is None else format_datetime(moment)


def _from_ms(value: Any, zone: timezone) -> datetime | None:
    """The moment of epoch milliseconds; None for anything else, or a moment outside the years 1 to 9999."""
    if not _is_ms(value):
        return None
    # Arithmetic on the wall clock of `zone`: fromtimestamp goes through UTC first, and 0001-01-01 00:00 at
    # UTC+8 is still year 0 in UTC.
    offset = zone.utcoffset(None)
    try:
        return (_NAIVE_EPOCH + offset + timedelta(milliseconds=value)).replace(tzinfo=zone)
    except (OverflowError, ValueError):
        return None


def _is_ms(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _option_name(value: Any) -> Any:
    return value.get("name") if isinstance(value, dict) else value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []
