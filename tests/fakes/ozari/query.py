"""The body of ``POST /integration/tables/:table/query``: validation with path-naming messages, then evaluation.

Owns the filter tree (groups ``{"and"|"or": [...]}`` nested at most 5 deep, at most 50 conditions, the 14
operators), ``select``, ``sort``, ``page`` and ``per_page``. Documented messages are copied from the vendor's
query-records page; the others follow their pattern (see the package docstring, "Query").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .values import FieldKind, filter_key, is_scalar, like_regex, like_text, stored_key

NAME_PATTERN = re.compile(r"[A-Za-z0-9_]+")
MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_IN_VALUES = 200
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200

_COMPARISONS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte"})
_LIKES = frozenset({"like", "not_like"})
_LISTS = frozenset({"in", "not_in"})
_NULLS = frozenset({"is_null", "is_not_null"})
OPERATORS = _COMPARISONS | _LIKES | _LISTS | _NULLS | {"between"}
_QUERY_KEYS = ("filters", "select", "sort", "page", "per_page")

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


@dataclass(frozen=True)
class Query:
    predicate: Predicate | None
    select: list[str] | None
    sort: list[SortKey]
    page: int
    per_page: int


def _shown(value: Any) -> str:
    """A name as the messages print it (strings raw, anything else as JSON would show it)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    return repr(value) if not isinstance(value, bool) else str(value).lower()


class _FilterCompiler:
    """Walks the tree once: validates every node in order and builds the row predicate."""

    def __init__(self, columns: Mapping[str, FieldKind]) -> None:
        self.columns = columns
        self.conditions = 0

    def group(self, raw: Any, path: str, depth: int) -> Predicate:
        if depth > MAX_DEPTH:
            raise bad_request(f"{path}: filters nest deeper than {MAX_DEPTH} groups")
        if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("and", "or"):
            raise bad_request(f'{path}: a group must be an object with exactly one key, "and" or "or"')
        joiner, items = next(iter(raw.items()))
        if not isinstance(items, list) or not items:
            raise bad_request(f"{path}.{joiner}: must be a non-empty array")
        parts = [self.item(item, f"{path}.{joiner}[{index}]", depth) for index, item in enumerate(items)]
        if joiner == "and":
            return lambda row: all(part(row) for part in parts)
        return lambda row: any(part(row) for part in parts)

    def item(self, raw: Any, path: str, depth: int) -> Predicate:
        if isinstance(raw, dict) and ("and" in raw or "or" in raw):
            return self.group(raw, path, depth + 1)
        if not isinstance(raw, dict):
            raise bad_request(f"{path}: must be a condition or a group")
        return self.condition(raw, path)

    def condition(self, raw: dict[str, Any], path: str) -> Predicate:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise bad_request(f"Too many conditions in filters: at most {MAX_CONDITIONS}")
        extra = sorted(set(raw) - {"field", "op", "value"})
        if extra:
            raise bad_request(f'{path}: unknown key "{extra[0]}"')
        field, op = raw.get("field"), raw.get("op")
        if not isinstance(field, str) or not NAME_PATTERN.fullmatch(field):
            raise bad_request(f"Invalid field name in {path}: {_shown(field)}")
        if not isinstance(op, str) or op not in OPERATORS:
            raise bad_request(f"Unsupported operator in {path}: {_shown(op)}")
        kind = self.columns.get(field)
        if kind is None:
            raise bad_request(f"Unknown field in {path}: {field}")
        return _condition_predicate(field, kind, op, _checked_value(raw, op, path))


def _checked_value(raw: Mapping[str, Any], op: str, path: str) -> Any:
    has_value, value = "value" in raw, raw.get("value")
    if op in _NULLS:
        if has_value:
            raise bad_request(f'{path}: "{op}" takes no "value"')
        return None
    if op in _COMPARISONS and not (has_value and is_scalar(value)):
        raise bad_request(f'{path}: "{op}" needs a scalar "value"')
    if op in _LIKES and not isinstance(value, str):
        raise bad_request(f'{path}: "{op}" needs a string "value"')
    if op in _LISTS and not _scalar_list(value, 1, MAX_IN_VALUES):
        raise bad_request(f'{path}: "{op}" needs a "value" array of 1 to {MAX_IN_VALUES} scalars')
    if op == "between" and not _scalar_list(value, 2, 2):
        raise bad_request(f'{path}: "between" needs a "value" array of exactly 2 scalars')
    return value


def _scalar_list(value: Any, low: int, high: int) -> bool:
    return isinstance(value, list) and low <= len(value) <= high and all(is_scalar(item) for item in value)


def _compare(op: str, actual: Any, wanted: Any) -> bool:
    if op == "eq":
        return bool(actual == wanted)
    if op == "neq":
        return bool(actual != wanted)
    if op == "gt":
        return bool(actual > wanted)
    if op == "gte":
        return bool(actual >= wanted)
    if op == "lt":
        return bool(actual < wanted)
    return bool(actual <= wanted)


def _condition_predicate(field: str, kind: FieldKind, op: str, value: Any) -> Predicate:
    """SQL three-valued logic folded to "matches": a NULL column or NULL operand never matches (but is_null)."""
    if op in _NULLS:
        wants_null = op == "is_null"
        return lambda row: (row.get(field) is None) == wants_null
    if op in _LIKES:
        pattern, negate = like_regex(value), op == "not_like"
        return lambda row: row.get(field) is not None and (pattern.fullmatch(like_text(row[field])) is None) == negate
    if op in _LISTS:
        keys = [filter_key(kind, item) for item in value]
        return _list_predicate(field, kind, keys, negate=op == "not_in")
    if op == "between":
        low, high = (filter_key(kind, item) for item in value)
        if low is None or high is None:
            return lambda row: False
        return lambda row: row.get(field) is not None and low <= stored_key(kind, row[field]) <= high
    wanted = filter_key(kind, value)
    if wanted is None:
        return lambda row: False
    return lambda row: row.get(field) is not None and _compare(op, stored_key(kind, row[field]), wanted)


def _list_predicate(field: str, kind: FieldKind, keys: list[Any], *, negate: bool) -> Predicate:
    known = [key for key in keys if key is not None]
    if negate and len(known) < len(keys):
        return lambda row: False  # NOT IN (.., NULL) is never true in SQL
    if negate:
        return lambda row: row.get(field) is not None and stored_key(kind, row[field]) not in known
    return lambda row: row.get(field) is not None and stored_key(kind, row[field]) in known


def _column_list(raw: Any, key: str, columns: Mapping[str, FieldKind]) -> list[str]:
    if not isinstance(raw, list):
        raise bad_request(f'"{key}" must be an array')
    if not raw:
        raise bad_request(f'"{key}" must contain at least 1 items')
    names: list[str] = []
    for index, name in enumerate(raw):
        _check_column(name, f"{key}[{index}]", columns)
        if name not in names:
            names.append(name)
    return names


def _check_column(name: Any, path: str, columns: Mapping[str, FieldKind]) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise bad_request(f"Invalid field name in {path}: {_shown(name)}")
    if name not in columns:
        raise bad_request(f"Unknown field in {path}: {name}")


def _sort_keys(raw: Any, columns: Mapping[str, FieldKind]) -> list[SortKey]:
    if not isinstance(raw, list):
        raise bad_request('"sort" must be an array')
    keys: list[SortKey] = []
    for index, item in enumerate(raw):
        path = f"sort[{index}]"
        if not isinstance(item, dict):
            raise bad_request(f'"{path}" must be of type object')
        extra = sorted(set(item) - {"field", "direction"})
        if extra:
            raise bad_request(f'"{path}.{extra[0]}" is not allowed')
        if "field" not in item:
            raise bad_request(f'"{path}.field" is required')
        _check_column(item["field"], path, columns)
        direction = item.get("direction", "asc")
        if direction not in ("asc", "desc"):
            raise bad_request(f"Invalid sort direction in {path}: {_shown(direction)}")
        keys.append(SortKey(item["field"], direction == "desc"))
    return keys


def _bounded_int(body: Mapping[str, Any], key: str, default: int, high: int | None) -> int:
    """Joi's ``number().integer().min(1).max(high)`` with conversion of numeric strings."""
    raw = body.get(key, default)
    if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d+(\.\d+)?\s*", raw):
        raw = float(raw) if "." in raw else int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise bad_request(f'"{key}" must be a number')
    if isinstance(raw, float) and not raw.is_integer():
        raise bad_request(f'"{key}" must be an integer')
    if raw < 1:
        raise bad_request(f'"{key}" must be greater than or equal to 1')
    if high is not None and raw > high:
        raise bad_request(f'"{key}" must be less than or equal to {high}')
    return int(raw)


def parse_query(body: Any, columns: Mapping[str, FieldKind], *, clamp_per_page: bool) -> Query:
    """Validates the whole body in key order (Joi reports the first problem) and returns it compiled."""
    if not isinstance(body, dict):
        raise bad_request('"value" must be of type object')
    predicate = None
    if "filters" in body:
        predicate = _FilterCompiler(columns).group(body["filters"], "filters", 1)
    select = _column_list(body["select"], "select", columns) if "select" in body else None
    sort = _sort_keys(body["sort"], columns) if "sort" in body else []
    page = _bounded_int(body, "page", 1, None)
    per_page = _bounded_int(body, "per_page", DEFAULT_PER_PAGE, None if clamp_per_page else MAX_PER_PAGE)
    unknown = [key for key in body if key not in _QUERY_KEYS]
    if unknown:
        raise bad_request(f'"{unknown[0]}" is not allowed')
    return Query(predicate, select, sort, page, min(per_page, MAX_PER_PAGE))


def sort_rows(rows: list[Row], keys: list[SortKey], columns: Mapping[str, FieldKind]) -> list[Row]:
    """Stable multi-key sort; NULL sorts first ascending and last descending, as in MySQL."""
    ordered = list(rows)
    for key in reversed(keys):
        kind = columns[key.field]
        ordered.sort(
            key=lambda row, field=key.field, kind=kind: (
                row.get(field) is not None,
                stored_key(kind, row[field]) if row.get(field) is not None else 0,
            ),
            reverse=key.descending,
        )
    return ordered


def equals_all(filters: Mapping[str, Any], columns: Mapping[str, FieldKind]) -> Predicate:
    """The flat equality map of ``/records/single`` and ``/records/bulk``: every ``column = value``, ANDed."""
    parts = [_condition_predicate(name, columns[name], "eq", value) for name, value in filters.items()]
    return lambda row: all(part(row) for part in parts)
