"""Filters and sorts evaluated by tables-mcp itself over canonical records, for platforms whose own query
syntax cannot be relied on.

The semantics are the embedded store's, so that a filter selects the same records on every backend:
- an empty value is null, "" or [] (a missing column is null); `isEmpty` finds exactly those, and 0 or
  false are values;
- `ne` also selects empty values ("not Done" includes "no status"); every other comparison never does;
- text `eq` / `in` are exact; `contains` on text is a case-insensitive substring match;
- on a list value (MULTISELECT, REFERENCE) `contains x` means "holds x" and `in [...]` "holds any of";
- DATETIME values compare as moments (any offset; no offset means UTC), numbers as numbers, and a
  boolean never equals a number;
- sorting puts empty values first ascending and last descending, and keeps the records' own order
  between equal keys (the sort is stable).

A value that cannot be compared with the filter's (a date-time column holding text that is not a
date-time) matches no comparison and sorts after the comparable values of its column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ...model import BoolGroup, Column, ColumnType, Condition, FilterNode, Record, SortKey
from .codecs import parse_datetime

# Key rank of a value that cannot be compared with its column's values.
_ODD = 3


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def matches(node: FilterNode, fields: Mapping[str, Any]) -> bool:
    """Whether a record's fields satisfy the filter tree."""
    if isinstance(node, BoolGroup):
        results = (matches(item, fields) for item in node.items)
        return all(results) if node.kind == "and" else any(results)
    return _condition(node, fields.get(node.column.name))


def _condition(cond: Condition, value: Any) -> bool:
    op = cond.op
    if op == "isEmpty":
        return is_empty(value)
    if op == "isNotEmpty":
        return not is_empty(value)
    if op == "ne":
        return is_empty(value) or not _equal(cond.column, value, cond.value)
    if is_empty(value):
        return False
    if isinstance(value, list):
        wanted = cond.value if op == "in" else [cond.value]
        return op in ("contains", "in", "eq") and any(_same(item, other) for item in value for other in wanted)
    if op == "contains":
        return isinstance(value, str) and str(cond.value).lower() in value.lower()
    if op == "in":
        return any(_equal(cond.column, value, other) for other in cond.value)
    if op == "eq":
        return _equal(cond.column, value, cond.value)
    return _ordered(cond.column, op, value, cond.value)


def _equal(column: Column, value: Any, other: Any) -> bool:
    if is_empty(value):
        return False
    left, right = comparable(column, value), comparable(column, other)
    return left is not None and left == right


def _ordered(column: Column, op: str, value: Any, bound: Any) -> bool:
    left, right = comparable(column, value), comparable(column, bound)
    if left is None or right is None or left[0] != right[0]:
        return False
    if op == "lt":
        return bool(left[1] < right[1])
    if op == "lte":
        return bool(left[1] <= right[1])
    if op == "gt":
        return bool(left[1] > right[1])
    return bool(left[1] >= right[1])


def _same(item: Any, other: Any) -> bool:
    """List elements (option names, record ids) are equal when they are the same JSON value."""
    return isinstance(item, bool) == isinstance(other, bool) and item == other


def comparable(column: Column, value: Any) -> tuple[int, Any] | None:
    """`(rank, key)` with keys of one rank comparable with each other; None when the value has no key."""
    if column.type is ColumnType.DATETIME:
        moment = _moment(value)
        return None if moment is None else (2, moment)
    if isinstance(value, bool):
        return 0, value
    if isinstance(value, int | float):
        return 1, value
    if isinstance(value, str):
        return 2, value
    return None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def sort_records(records: Sequence[Record], keys: Sequence[SortKey]) -> list[Record]:
    """The records ordered by `keys` (empty values first ascending, last descending), stable."""
    ordered = list(records)
    for key in reversed(keys):  # least significant key first; each pass keeps the previous order on ties
        present = [r for r in ordered if not is_empty(r["fields"].get(key.column.name))]
        empty = [r for r in ordered if is_empty(r["fields"].get(key.column.name))]
        present.sort(key=_record_key(key.column), reverse=key.descending)
        ordered = present + empty if key.descending else empty + present
    return ordered


def _record_key(column: Column) -> Callable[[Record], tuple[int, Any]]:
    return lambda record: _sort_key(column, record["fields"][column.name])


def _sort_key(column: Column, value: Any) -> tuple[int, Any]:
    found = comparable(column, value)
    if found is None:
        return _ODD, str(value)
    return found


__all__ = ["comparable", "is_empty", "matches", "sort_records"]
