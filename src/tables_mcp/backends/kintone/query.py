"""Kintone's query language: validated filters rendered with every value quoted and escaped, the
operators and sorts each column type allows, field codes checked to hold no query syntax, the
`fields[]` a projection asks for, and record ids checked before they enter a query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ...errors import ErrorCode, FieldError, TablesError, invalid_argument, unsupported
from ...model import BoolGroup, Column, ColumnType, Condition, FilterNode, Table
from ..kit.codecs import datetime_minute_bound, time_minute_bound, utc_datetime
from .codec import number_text

MAX_QUERY_FIELDS = 100  # `fields[i]` indices accepted in a query string
# Field codes may hold letters, digits, _, Japanese and a few full-width symbols: never query syntax.
SAFE_CODE = re.compile(r"[^\s\"'()=!<>,\\]+")

# Filter operators Kintone accepts per column type (kintone.dev query operator table). Where the
# canonical operator has no Kintone twin it is translated: eq on options -> in ("x"), isEmpty on
# one-line text, numbers and dates -> = "", isEmpty on options -> in ("").
OPERATORS: dict[ColumnType, tuple[str, ...]] = {
    ColumnType.TEXT: ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.EMAIL: ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.PHONE: ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.URL: ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.LONGTEXT: ("contains", "isEmpty", "isNotEmpty"),
    ColumnType.NUMBER: ("eq", "ne", "lt", "lte", "gt", "gte", "in", "isEmpty", "isNotEmpty"),
    ColumnType.SERIAL: ("eq", "ne", "lt", "lte", "gt", "gte", "in"),
    ColumnType.DATE: ("eq", "ne", "lt", "lte", "gt", "gte", "isEmpty", "isNotEmpty"),
    ColumnType.DATETIME: ("eq", "ne", "lt", "lte", "gt", "gte", "isEmpty", "isNotEmpty"),
    ColumnType.TIME: ("eq", "ne", "lt", "lte", "gt", "gte", "isEmpty", "isNotEmpty"),
    ColumnType.SELECT: ("eq", "ne", "in", "isEmpty", "isNotEmpty"),
    ColumnType.MULTISELECT: ("contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.USER: ("eq", "ne", "in"),
    ColumnType.FORMULA: ("eq", "ne", "in"),
    ColumnType.FILE: ("isEmpty", "isNotEmpty"),
}
SORTABLE = frozenset(
    {
        ColumnType.TEXT,
        ColumnType.EMAIL,
        ColumnType.PHONE,
        ColumnType.URL,
        ColumnType.NUMBER,
        ColumnType.SERIAL,
        ColumnType.DATE,
        ColumnType.DATETIME,
        ColumnType.TIME,
        ColumnType.SELECT,
        ColumnType.FORMULA,
    }
)
_COMPARISONS = {"eq": "=", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_IN_ONLY = frozenset({ColumnType.SELECT, ColumnType.MULTISELECT, ColumnType.USER})
_IS_EMPTY_TYPES = frozenset({ColumnType.LONGTEXT, ColumnType.FILE})


def render_filter(node: FilterNode) -> str:
    """A validated filter in Kintone's query language; values are always quoted and escaped."""
    if isinstance(node, BoolGroup):
        parts = [render_filter(item) for item in node.items]
        return "(" + f" {node.kind} ".join(parts) + ")"
    return render_condition(node)


def render_condition(cond: Condition) -> str:
    column, op, kind = cond.column, cond.op, cond.column.type
    code = query_code(column)
    if op in ("isEmpty", "isNotEmpty"):
        negate = op == "isNotEmpty"
        if kind in _IS_EMPTY_TYPES:
            return f"{code} {'is not empty' if negate else 'is empty'}"
        if kind in _IN_ONLY:
            return f'{code} {"not in" if negate else "in"} ("")'
        return f'{code} {"!=" if negate else "="} ""'
    if op == "in":
        return f"{code} in ({_literal_list(column, cond.value)})"
    if kind in _IN_ONLY and op in ("eq", "ne", "contains"):
        return f"{code} {'not in' if op == 'ne' else 'in'} ({_literal(column, cond.value)})"
    if op == "contains":
        return f"{code} like {_literal(column, cond.value)}"
    if kind in (ColumnType.TIME, ColumnType.DATETIME):
        op, bound = _minute_bound(column, op, str(cond.value))
        return f"{code} {_COMPARISONS[op]} {quote(bound)}"
    return f"{code} {_COMPARISONS[op]} {_literal(column, cond.value)}"


def _minute_bound(column: Column, op: str, value: str) -> tuple[str, str]:
    """Kintone keeps TIME and DATETIME to the minute, so a bound with seconds is moved to the minute that
    gives the same answer: `< 09:30:30` means `< 09:31`, `<= 09:30:30` means `<= 09:30`."""
    bound = time_minute_bound(op, value) if column.type is ColumnType.TIME else datetime_minute_bound(op, value)
    if bound is None:
        raise invalid_argument(
            f"Kintone keeps {column.name} to the minute, so no value equals {value!r}.",
            [FieldError("filter.value", "use a whole minute (seconds 00)", allowed="HH:MM")],
        )
    return bound


def _literal_list(column: Column, values: Any) -> str:
    items = values if isinstance(values, list) else [values]
    return ", ".join(_literal(column, item) for item in items)


def _literal(column: Column, value: Any) -> str:
    # Numbers go bare, as Kintone's own SDK writes them (`$id > 100`); everything else is quoted.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number_text(value)
    return quote(_literal_text(column, value))


def _literal_text(column: Column, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_text(value)
    text = str(value)
    if column.type is ColumnType.DATETIME:
        return utc_datetime(text)
    if column.type is ColumnType.TIME:
        return text[:5]
    return text


def quote(text: str) -> str:
    """A Kintone query string literal: backslash and double quote escaped, then double-quoted."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def query_code(column: Column) -> str:
    if not SAFE_CODE.fullmatch(column.name):
        raise unsupported(f"Field code {column.name!r} cannot be used in a Kintone query.")
    return column.name


def request_fields(table: Table, wanted: Sequence[str] | None) -> list[str] | None:
    """The `fields[]` to ask for: the projection plus what the record envelope needs."""
    if wanted is None:
        return None
    stamps = [col.name for col in table.columns if col.native_type in ("CREATED_TIME", "UPDATED_TIME")]
    codes = list(dict.fromkeys([*wanted, "$id", "$revision", *stamps]))
    return codes if len(codes) <= MAX_QUERY_FIELDS else None


def record_key(record_id: Any) -> str | None:
    """Kintone record ids are positive integers; anything else names no record."""
    text = str(record_id).strip()
    if text.isascii() and text.isdigit() and 0 < len(text) < 19 and int(text) > 0:
        return str(int(text))
    return None


def id_list(ids: Sequence[str]) -> str:
    """Record ids for a query, each checked to be a plain number (ids never carry query syntax)."""
    keys = [record_key(record_id) for record_id in ids]
    if any(key is None for key in keys):
        raise TablesError(ErrorCode.BACKEND_ERROR, "Kintone returned a record id that is not a number.")
    return ", ".join(key for key in keys if key is not None)
