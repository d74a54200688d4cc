"""listRecords as the body of Ozari's query endpoint: the filter tree, the sort, the page.

Canonical operators map to Ozari's as follows (`ne` and `isEmpty` keep the canonical meaning that an empty
value is "not X" and "empty", which SQL's NULL logic alone would not give):

    eq -> eq          ne -> or(neq, is_null) (fid: neq)     lt/lte/gt/gte -> the same
    contains -> like "%text%" with %, _ and backslash escaped (LIKE's own escape character)
    in -> in (at most 200 values)
    isEmpty -> text: or(is_null, like "") / other types: is_null
    isNotEmpty -> text: not_like "" / other types: is_not_null

An empty text is tested with LIKE rather than `= ''`, because the columns are untyped: a number column
compared with '' would match 0 in MySQL, while LIKE always compares text. Groups of the same kind are merged
and one-item groups unwrapped, then Ozari's limits (5 levels of groups, 50 conditions, 200 values per `in`)
are checked on what will be sent, with errors naming the agent's filter. Every query is sorted, with `fid`
last, so that page N is the same page on every call (without a sort the order is the database's).
"""

from __future__ import annotations

from typing import Any

from ...errors import FieldError, invalid_argument
from ...model import BoolGroup, ColumnType, Condition, FilterNode, SortKey
from .codec import text
from .fields import PRIMARY_KEY

MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_IN_VALUES = 200
TEXT_TYPES = frozenset({ColumnType.TEXT, ColumnType.LONGTEXT, ColumnType.EMAIL, ColumnType.PHONE, ColumnType.URL})
_SAME = ("lt", "lte", "gt", "gte")
GROWTH = "'ne', and 'isEmpty' on text, each become a group of two conditions"

Node = dict[str, Any]


def filter_tree(node: FilterNode) -> Node:
    """The `filters` group for a validated canonical filter; invalid_argument if Ozari could not take it."""
    problems: list[FieldError] = []
    translated = _translate(node, "filter", problems)
    if problems:
        raise invalid_argument("The filter does not fit Ozari's query limits.", problems)
    root = _unwrap(_flatten(translated if _is_group(translated) else {"and": [translated]}))
    if not _is_group(root):
        root = {"and": [root]}
    depth, conditions = _measure(root)
    if depth > MAX_DEPTH:
        message = f"Ozari takes filters nested at most {MAX_DEPTH} groups deep; this one needs {depth} ({GROWTH})"
        raise invalid_argument("The filter is nested too deeply for Ozari.", [FieldError("filter", message)])
    if conditions > MAX_CONDITIONS:
        message = (
            f"Ozari takes at most {MAX_CONDITIONS} conditions per query; this filter needs {conditions} ({GROWTH})"
        )
        raise invalid_argument("The filter has too many conditions for Ozari.", [FieldError("filter", message)])
    return root


def _translate(node: FilterNode, where: str, problems: list[FieldError]) -> Node:
    if isinstance(node, BoolGroup):
        return {
            node.kind: [_translate(item, f"{where}.{node.kind}[{i}]", problems) for i, item in enumerate(node.items)]
        }
    return _condition(node, where, problems)


def _condition(cond: Condition, where: str, problems: list[FieldError]) -> Node:
    name, op, value = cond.column.name, cond.op, cond.value
    textual = cond.column.type in TEXT_TYPES
    if op == "eq" or op in _SAME:
        return _cond(name, op, value)
    if op == "ne":
        unequal = _cond(name, "neq", value)
        return unequal if name == PRIMARY_KEY else {"or": [unequal, _cond(name, "is_null")]}
    if op == "contains":
        return _cond(name, "like", f"%{escape_like(text(value))}%")
    if op == "in":
        values = list(value)
        if len(values) > MAX_IN_VALUES:
            problems.append(
                FieldError(f"{where}.value", f"Ozari compares with at most {MAX_IN_VALUES} values; {len(values)} sent")
            )
        return _cond(name, "in", values)
    if op == "isEmpty":
        return {"or": [_cond(name, "is_null"), _cond(name, "like", "")]} if textual else _cond(name, "is_null")
    if op == "isNotEmpty":
        return _cond(name, "not_like", "") if textual else _cond(name, "is_not_null")
    problems.append(FieldError(f"{where}.op", f"Ozari has no translation for {op!r}"))
    return _cond(name, "is_null")


def _cond(field: str, op: str, value: Any = None) -> Node:
    if op in ("is_null", "is_not_null"):
        return {"field": field, "op": op}
    return {"field": field, "op": op, "value": value}


def escape_like(value: str) -> str:
    """Text matched literally inside a LIKE pattern: backslash, % and _ escaped with a backslash."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _is_group(node: Node) -> bool:
    return "and" in node or "or" in node


def _flatten(group: Node) -> Node:
    """The same group with nested groups of its kind merged into it and one-item groups unwrapped."""
    kind, items = next(iter(group.items()))
    flat: list[Node] = []
    for raw in items:
        item = _unwrap(raw)
        if not _is_group(item):
            flat.append(item)
            continue
        inner = _flatten(item)
        inner_kind, inner_items = next(iter(inner.items()))
        flat += inner_items if inner_kind == kind else [inner]
    return {kind: flat}


def _unwrap(node: Node) -> Node:
    """A one-item group is its item."""
    while _is_group(node) and len(next(iter(node.values()))) == 1:
        node = next(iter(node.values()))[0]
    return node


def _measure(group: Node, depth: int = 1) -> tuple[int, int]:
    """(deepest group level, conditions) of a group at level `depth`."""
    deepest, conditions = depth, 0
    for item in next(iter(group.values())):
        if _is_group(item):
            inner_depth, inner_conditions = _measure(item, depth + 1)
            deepest, conditions = max(deepest, inner_depth), conditions + inner_conditions
        else:
            conditions += 1
    return deepest, conditions


def sort_list(keys: tuple[SortKey, ...]) -> list[Node]:
    """The requested order, then `fid` (the unique key that makes pages stable)."""
    out = [{"field": key.column.name, "direction": "desc" if key.descending else "asc"} for key in keys]
    if not any(key.column.name == PRIMARY_KEY for key in keys):
        out.append({"field": PRIMARY_KEY, "direction": "asc"})
    return out
