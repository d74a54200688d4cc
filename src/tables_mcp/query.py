"""Turns listRecords arguments (filter, sort, fields, limit, cursor) into a checked `ListQuery`.

The structural JSON Schema has already run; this module checks meaning against the table: that
each field exists, that the operator suits its type on this backend, and that each compared value
is valid for the column (checked with the column's own JSON Schema). Every problem is reported.
The bounds in `schema` (depth, conditions, values, text length) are enforced here, the same on every
backend, so that no engine or platform limit is ever reached by a filter.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .errors import FieldError, invalid_argument
from .model import BoolGroup, Capabilities, Column, Condition, FilterNode, ListQuery, SortKey, Table
from .schema import (
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_TEXT,
    MAX_FILTER_VALUES,
    filter_value_schema,
    operators_for,
)
from .validation import compiled_validator, describe_error, show_value

DEFAULT_LIMIT = 50
NO_VALUE_OPERATORS = frozenset({"isEmpty", "isNotEmpty"})


def build_list_query(table: Table, caps: Capabilities, args: dict[str, Any]) -> ListQuery:
    problems: list[FieldError] = []
    parser = _FilterParser(table, caps, problems)
    filter_node = parser.parse(args["filter"], "filter", 0) if args.get("filter") is not None else None
    sort = _parse_sort(table, caps, args.get("sort") or [], problems)
    fields = _parse_fields(table, args.get("fields"), problems)
    if problems:
        raise invalid_argument(f"Invalid listRecords arguments: {len(problems)} problem(s).", problems)
    return ListQuery(
        filter=filter_node,
        sort=sort,
        fields=fields,
        limit=int(args.get("limit") or DEFAULT_LIMIT),
        cursor=args.get("cursor"),
    )


class _FilterParser:
    def __init__(self, table: Table, caps: Capabilities, problems: list[FieldError]) -> None:
        self.table = table
        self.caps = caps
        self.problems = problems
        self.conditions = 0
        self.values = 0

    def parse(self, raw: Any, where: str, depth: int) -> FilterNode | None:
        if not isinstance(raw, dict):
            return self._fail(where, f"expected an object, got {show_value(raw)}")
        keys = {key for key in ("field", "and", "or") if key in raw}
        if len(keys) != 1:
            return self._fail(where, 'a filter is either {"field", "op", "value"} or {"and": [...]} or {"or": [...]}')
        if depth >= MAX_FILTER_DEPTH:
            return self._fail(where, f"filters nest at most {MAX_FILTER_DEPTH} levels deep")
        kind = keys.pop()
        if kind == "field":
            return self._condition(raw, where)
        items = raw[kind]
        extra = set(raw) - {kind}
        if extra:
            return self._fail(where, f"unexpected key(s) {sorted(extra)} beside '{kind}'")
        if not isinstance(items, list) or not items:
            return self._fail(f"{where}.{kind}", "expected a non-empty array of filters")
        if len(items) > MAX_FILTER_CONDITIONS:
            return self._fail(f"{where}.{kind}", f"{len(items)} filters in one group; at most {MAX_FILTER_CONDITIONS}")
        parsed = [self.parse(item, f"{where}.{kind}[{i}]", depth + 1) for i, item in enumerate(items)]
        return BoolGroup("and" if kind == "and" else "or", tuple(node for node in parsed if node is not None))

    def _condition(self, raw: dict[str, Any], where: str) -> Condition | None:
        self.conditions += 1
        if self.conditions > MAX_FILTER_CONDITIONS:
            if self.conditions == MAX_FILTER_CONDITIONS + 1:
                self._fail("filter", f"at most {MAX_FILTER_CONDITIONS} conditions per filter")
            return None
        extra = set(raw) - {"field", "op", "value"}
        if extra:
            return self._fail(where, f"unexpected key(s) {sorted(extra)} in a condition")
        name, op = raw.get("field"), raw.get("op")
        column = self.table.column(name) if isinstance(name, str) else None
        if column is None:
            names = [col.name for col in self.table.columns]
            return self._fail(f"{where}.field", f"unknown column {show_value(name)}", allowed=names)
        allowed_ops = operators_for(column, self.caps)
        if op not in allowed_ops:
            message = f"operator {show_value(op)} does not apply to {column.type.value} column '{column.name}'"
            return self._fail(f"{where}.op", message, list(allowed_ops))
        value = raw.get("value")
        if not self._value_ok(column, op, value, where):
            return None
        return Condition(column, op, value)

    def _value_ok(self, column: Column, op: str, value: Any, where: str) -> bool:
        if op in NO_VALUE_OPERATORS:
            if value is not None:
                self._fail(f"{where}.value", f"'{op}' takes no value")
                return False
            return True
        if op == "in":
            if not isinstance(value, list) or not value:
                self._fail(f"{where}.value", "'in' takes a non-empty array of values")
                return False
            if not self._count_values(len(value)):
                return False
            return all(self._scalar_ok(column, item, f"{where}.value[{i}]") for i, item in enumerate(value))
        if not self._count_values(1):
            return False
        if op == "contains" and column.type.value in _TEXT_CONTAINS:
            if not isinstance(value, str) or not value:
                self._fail(f"{where}.value", "'contains' takes a non-empty string")
                return False
            return self._length_ok(value, f"{where}.value")
        return self._scalar_ok(column, value, f"{where}.value")

    def _count_values(self, count: int) -> bool:
        """Count compared values; False (said once) past the filter's bound."""
        before, self.values = self.values, self.values + count
        if self.values <= MAX_FILTER_VALUES:
            return True
        if before <= MAX_FILTER_VALUES:
            self._fail("filter", f"at most {MAX_FILTER_VALUES:,} compared values per filter (each 'in' item counts)")
        return False

    def _length_ok(self, value: Any, where: str) -> bool:
        if isinstance(value, str) and len(value) > MAX_FILTER_TEXT:
            self._fail(where, f"text of {len(value):,} characters; a filter compares at most {MAX_FILTER_TEXT:,}")
            return False
        return True

    def _scalar_ok(self, column: Column, value: Any, where: str) -> bool:
        if not self._length_ok(value, where):
            return False
        validator = _value_validator(column)
        if validator.is_valid(value):
            return True
        message, allowed = describe_error(next(iter(validator.iter_errors(value))))
        self._fail(where, f"{column.type.value} column '{column.name}': {message}", allowed)
        return False

    def _fail(self, where: str, message: str, allowed: Any = None) -> Condition | None:
        """Record a problem; returns None so that callers can `return self._fail(...)`."""
        self.problems.append(FieldError(where, message, allowed=allowed))
        return None


_TEXT_CONTAINS = frozenset({"TEXT", "LONGTEXT", "EMAIL", "PHONE", "URL", "USER", "FORMULA", "AI"})


@lru_cache(maxsize=1024)
def _value_validator(column: Column) -> Any:
    return compiled_validator(filter_value_schema(column))


def _parse_sort(
    table: Table, caps: Capabilities, raw: list[dict[str, Any]], problems: list[FieldError]
) -> tuple[SortKey, ...]:
    keys = []
    sortable = [col.name for col in table.columns if col.type in caps.sortable_types]
    for i, item in enumerate(raw):
        column = table.column(item["field"])
        if column is None or column.type not in caps.sortable_types:
            problems.append(
                FieldError(f"sort[{i}].field", f"cannot sort by {show_value(item['field'])}", allowed=sortable)
            )
            continue
        keys.append(SortKey(column, item.get("direction", "asc") == "desc"))
    return tuple(keys)


def _parse_fields(table: Table, raw: list[str] | None, problems: list[FieldError]) -> tuple[str, ...] | None:
    if raw is None:
        return None
    names: list[str] | None = [col.name for col in table.columns]
    for i, name in enumerate(raw):
        if table.column(name) is None:
            problems.append(FieldError(f"fields[{i}]", f"unknown column {show_value(name)}", allowed=names))
            names = None  # the column names are listed once, not once per unknown name
    return tuple(raw)
