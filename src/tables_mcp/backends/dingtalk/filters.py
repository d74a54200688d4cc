"""Contract filters as DingTalk's ListRecords filter `{"combination": "and"|"or", "conditions": [...]}`.

DingTalk's filter is one level deep: every condition joined by `and`, or every one by `or`; each
condition is `{"field", "operator", "value": [...]}` with the operators of BACKENDS.md Part 2 §1.4/§1.5
(equal, notEqual, greater, greaterEqual, less, lessEqual, contain, notContain, empty, notEmpty).

A contract condition becomes one DingTalk condition, or several joined by `or` (`in` on text and
numbers: one `equal` per value; `ne` on a DATE: before, after or empty). Groups of the same kind
are merged, one-item groups unwrapped. What still does not fit one level (an `or` group inside an
`and` group, an `in` list inside an `and` group ...) is refused with an error naming the column and
operator: never dropped, never widened.

Dates compare by day (S4 lists only equal/greater/less for them): `lte d` is sent as `less d+1`,
`gte d` as `greater d-1`. DATETIME columns cannot be compared to an instant that way, so they offer
only isEmpty / isNotEmpty. Links, URLs, attachments and formulas have no documented comparisons.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ...errors import FieldError, TablesError, invalid_argument
from ...model import BoolGroup, ColumnType, Condition, FilterNode
from .fields import ENTITY_KEYS

_TEXT = ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty")
_PRESENCE = ("isEmpty", "isNotEmpty")
OPERATORS: dict[ColumnType, tuple[str, ...]] = {
    ColumnType.TEXT: _TEXT,
    ColumnType.LONGTEXT: _TEXT,
    ColumnType.EMAIL: _TEXT,
    ColumnType.PHONE: _TEXT,
    ColumnType.NUMBER: ("eq", "ne", "lt", "lte", "gt", "gte", "in", "isEmpty", "isNotEmpty"),
    ColumnType.DATE: ("eq", "ne", "lt", "lte", "gt", "gte", "in", "isEmpty", "isNotEmpty"),
    ColumnType.DATETIME: _PRESENCE,
    ColumnType.SELECT: ("eq", "ne", "in", "isEmpty", "isNotEmpty"),
    ColumnType.MULTISELECT: ("contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.BOOLEAN: ("eq", "ne"),
    ColumnType.USER: ("eq", "ne", "in", "isEmpty", "isNotEmpty"),
    ColumnType.REFERENCE: _PRESENCE,
    ColumnType.URL: _PRESENCE,
    ColumnType.FILE: _PRESENCE,
    ColumnType.FORMULA: _PRESENCE,
    ColumnType.UNKNOWN: _PRESENCE,
}
_COMPARE = {"eq": "equal", "ne": "notEqual", "lt": "less", "lte": "lessEqual", "gt": "greater", "gte": "greaterEqual"}
_ONE_LEVEL = "DingTalk filters are one level deep: conditions joined all by 'and' or all by 'or'"

Atom = dict[str, Any]


def platform_filter(node: FilterNode) -> dict[str, Any]:
    """The DingTalk filter selecting exactly what `node` selects; invalid_argument if none can."""
    node = _unwrap(node)
    if isinstance(node, Condition):
        atoms = expand(node)
        return {"combination": "or" if len(atoms) > 1 else "and", "conditions": atoms}
    conditions: list[Atom] = []
    for item in _members(node):
        if isinstance(item, BoolGroup):
            raise _refused(item, f"{_ONE_LEVEL}; an '{item.kind}' group cannot sit inside an '{node.kind}' group")
        atoms = expand(item)
        if len(atoms) > 1 and node.kind == "and":
            raise _refused(item, "on DingTalk it becomes conditions joined by 'or', which cannot sit in an 'and' group")
        conditions += atoms
    return {"combination": node.kind, "conditions": conditions}


def _unwrap(node: FilterNode) -> FilterNode:
    while isinstance(node, BoolGroup) and len(node.items) == 1:
        node = node.items[0]
    return node


def _members(group: BoolGroup) -> Iterator[FilterNode]:
    """The group's items, groups of the same kind merged in."""
    for item in group.items:
        item = _unwrap(item)
        if isinstance(item, BoolGroup) and item.kind == group.kind:
            yield from _members(item)
        else:
            yield item


def _first_condition(node: FilterNode) -> Condition:
    while isinstance(node, BoolGroup):
        node = node.items[0]
    return node


def _refused(node: FilterNode, why: str) -> TablesError:
    cond = _first_condition(node)
    message = f"DingTalk cannot express the filter on '{cond.column.name}' with '{cond.op}': {why}."
    return invalid_argument(
        message,
        [FieldError("filter", message)],
        hint="Split the query into calls DingTalk can answer (e.g. one listRecords per 'or' branch), or filter "
        "fewer columns.",
    )


def expand(cond: Condition) -> list[Atom]:
    """One contract condition as DingTalk conditions, joined by 'or' when there are several."""
    name, op, kind = cond.column.name, cond.op, cond.column.type
    if op in ("isEmpty", "isNotEmpty"):
        return [{"field": name, "operator": "empty" if op == "isEmpty" else "notEmpty"}]
    if kind is ColumnType.DATE:
        return _date_atoms(name, op, cond.value)
    if kind in (ColumnType.SELECT, ColumnType.MULTISELECT, ColumnType.USER) and op in ("in", "contains"):
        values = cond.value if isinstance(cond.value, list) else [cond.value]
        return [_atom(name, "contain", [_wire(cond, value) for value in values])]
    if op == "contains":
        return [_atom(name, "contain", [cond.value])]
    if op == "in":
        return [_atom(name, "equal", [_wire(cond, value)]) for value in cond.value]
    return [_atom(name, _COMPARE[op], [_wire(cond, cond.value)])]


def _atom(name: str, operator: str, values: list[Any]) -> Atom:
    return {"field": name, "operator": operator, "value": values}


def _wire(cond: Condition, value: Any) -> Any:
    """A compared value as DingTalk's filters take it: numbers as decimal text (S4), users as objects."""
    if cond.column.type is ColumnType.NUMBER:
        return format(Decimal(str(value)), "f")
    key = ENTITY_KEYS.get(cond.column.native_type)
    return {key: value} if key is not None else value


def _date_atoms(name: str, op: str, value: Any) -> list[Atom]:
    if op == "in":
        return [_atom(name, "equal", [day]) for day in value]
    day = date.fromisoformat(value)
    if op == "ne":
        return [_atom(name, "less", [value]), _atom(name, "greater", [value]), {"field": name, "operator": "empty"}]
    if op in ("eq", "lt", "gt"):
        return [_atom(name, _COMPARE[op], [value])]
    step = timedelta(days=1 if op == "lte" else -1)
    try:
        bound = (day + step).isoformat()
    except OverflowError:  # lte 9999-12-31 / gte 0001-01-01: every day there is
        return [{"field": name, "operator": "notEmpty"}]
    return [_atom(name, "less" if op == "lte" else "greater", [bound])]
