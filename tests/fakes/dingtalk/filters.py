"""The ListRecords ``filter`` of the fake DingTalk Notable: ``{"combination": "and"|"or", "conditions": [{"field",
"operator", "value": [...]}]}`` with the operators of BACKENDS.md Part 2 §1.5 per field type.

Where the sources are silent (assumptions):

* ``equal``/``notEqual`` on text are exact; ``contain``/``notContain`` are case-insensitive substring tests.
* On selects, users and departments the value lists option names or ids (unionIds, deptIds): ``equal`` is set
  equality, ``contain`` any-of, ``notContain`` none-of; an unknown option matches nothing.
* Dates compare by day in China Standard Time: ``equal`` is "on that day", ``greater`` after it, ``less`` before
  it; the value is a "YYYY-MM-DD" string or epoch ms (the day containing it). S4 lists no greaterEqual/lessEqual.
* Checkbox (no source): ``equal``/``notEqual`` with ``[true]`` or ``["true"]``; an unset checkbox is false.
* ``empty``/``notEmpty`` work on every type and take no value; any other operator not listed for a type is
  refused with ``invalidRequest.inputArgs.invalid``, as is a condition whose value is not an array.
"""

from __future__ import annotations

import operator as ops
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from .errors import invalid_args, resource_not_found
from .model import FakeBase, FakeField, FakeSheet, StoredRecord
from .values import CHINA, parse_date, parse_number, render_fields, stored_value

Predicate = Callable[[StoredRecord], bool]

_TEXT_OPS = frozenset({"equal", "notEqual", "contain", "notContain"})
_NUMBER_OPS = frozenset({"equal", "notEqual", "greater", "greaterEqual", "less", "lessEqual"})
_DATE_OPS = frozenset({"equal", "greater", "less"})
_CHECKBOX_OPS = frozenset({"equal", "notEqual"})
_SET_OPS = _TEXT_OPS  # selects, users and departments: equal, notEqual, contain (any-of), notContain (none-of)
_FAMILY_OPS = {"text": _TEXT_OPS, "number": _NUMBER_OPS, "date": _DATE_OPS, "checkbox": _CHECKBOX_OPS, "set": _SET_OPS}
_FAMILIES = {
    "text": "text",
    "number": "number",
    "currency": "number",
    "date": "date",
    "createdTime": "date",
    "lastModifiedTime": "date",
    "checkbox": "checkbox",
    "singleSelect": "set",
    "multipleSelect": "set",
    "user": "set",
    "creator": "set",
    "lastModifier": "set",
    "department": "set",
}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "equal": ops.eq,
    "notEqual": ops.ne,
    "greater": ops.gt,
    "greaterEqual": ops.ge,
    "less": ops.lt,
    "lessEqual": ops.le,
}


def compile_filter(base: FakeBase, sheet: FakeSheet, raw: Any) -> Predicate:
    """A record predicate for a ``filter`` object (None: every record)."""
    if raw is None:
        return lambda record: True
    if not isinstance(raw, Mapping) or not isinstance(raw.get("conditions"), list):
        raise invalid_args("filter.conditions is required and must be an array")
    combination = raw.get("combination", "and")
    if combination not in ("and", "or"):
        raise invalid_args(f"filter.combination must be 'and' or 'or', got {combination!r}")
    tests = [_condition(base, sheet, condition) for condition in raw["conditions"]]
    if combination == "and":
        return lambda record: all(test(record) for test in tests)
    return lambda record: not tests or any(test(record) for test in tests)


def _condition(base: FakeBase, sheet: FakeSheet, raw: Any) -> Predicate:
    if (
        not isinstance(raw, Mapping)
        or not isinstance(raw.get("field"), str)
        or not isinstance(raw.get("operator"), str)
    ):
        raise invalid_args("each filter condition needs a field and an operator")
    field = sheet.field(raw["field"])
    if field is None:
        raise resource_not_found(f"field {raw['field']} not found")
    operator = raw["operator"]
    if operator in ("empty", "notEmpty"):
        return _emptiness(base, sheet, field, operator == "empty")
    family = _FAMILIES.get(field.type)
    if family is None or operator not in _FAMILY_OPS[family]:
        raise invalid_args(f"operator '{operator}' is not supported on field '{field.name}' of type {field.type}")
    values = raw.get("value")
    if not isinstance(values, list) or not values:
        raise invalid_args(f"filter on '{field.name}': value must be a non-empty array")
    return _BUILDERS[family](field, operator, values)


def _emptiness(base: FakeBase, sheet: FakeSheet, field: FakeField, want_empty: bool) -> Predicate:
    if field.type == "formula":
        return lambda record: (field.name not in render_fields(base, sheet, record)) == want_empty
    return lambda record: _is_empty(stored_value(field, record)) == want_empty


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def _single(field: FakeField, values: list[Any]) -> Any:
    if len(values) != 1:
        raise invalid_args(f"filter on '{field.name}': value takes exactly one element")
    return values[0]


def _text_test(field: FakeField, operator: str, values: list[Any]) -> Predicate:
    wanted = _single(field, values)
    if not isinstance(wanted, str):
        raise invalid_args(f"filter on '{field.name}': value must be [\"text\"]")
    needle = wanted.casefold()
    tests: dict[str, Callable[[str], bool]] = {
        "equal": lambda text: text == wanted,
        "notEqual": lambda text: text != wanted,
        "contain": lambda text: needle in text.casefold(),
        "notContain": lambda text: needle not in text.casefold(),
    }
    test = tests[operator]
    return lambda record: test(record.values.get(field.id) or "")


def _number_test(field: FakeField, operator: str, values: list[Any]) -> Predicate:
    wanted = parse_number(_single(field, values))
    if wanted is None:
        raise invalid_args(f"filter on '{field.name}': value must be a number")
    compare = _COMPARISONS[operator]

    def matches(record: StoredRecord) -> bool:
        number = record.values.get(field.id)
        return operator == "notEqual" if number is None else compare(number, wanted)

    return matches


def _day_bounds(field: FakeField, raw: Any) -> tuple[int, int]:
    moment = parse_date(raw)
    if moment is None:
        raise invalid_args(f"filter on '{field.name}': value must be a date ('YYYY-MM-DD') or epoch ms")
    day = datetime.fromtimestamp(moment / 1000, CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    start = int(day.timestamp() * 1000)
    return start, int((day + timedelta(days=1)).timestamp() * 1000)


def _date_test(field: FakeField, operator: str, values: list[Any]) -> Predicate:
    start, end = _day_bounds(field, _single(field, values))
    tests: dict[str, Callable[[int], bool]] = {
        "equal": lambda ms: start <= ms < end,
        "greater": lambda ms: ms >= end,
        "less": lambda ms: ms < start,
    }
    test = tests[operator]

    def matches(record: StoredRecord) -> bool:
        moment = stored_value(field, record)
        return moment is not None and test(moment)

    return matches


def _checkbox_test(field: FakeField, operator: str, values: list[Any]) -> Predicate:
    wanted = _single(field, values)
    flags = {True: True, False: False, "true": True, "false": False}
    if not isinstance(wanted, bool | str) or wanted not in flags:
        raise invalid_args(f"filter on '{field.name}': value must be [true] or [false]")
    flag = flags[wanted]
    return lambda record: (bool(record.values.get(field.id)) == flag) == (operator == "equal")


def _set_member(field: FakeField, raw: Any) -> str:
    key = {"user": "unionId", "creator": "unionId", "lastModifier": "unionId", "department": "deptId"}.get(field.type)
    if key is not None and isinstance(raw, Mapping):
        raw = raw.get(key)
    if not isinstance(raw, str):
        raise invalid_args(f"filter on '{field.name}': unexpected value {raw!r}")
    return (field.option_id(raw) or f"unknown:{raw}") if key is None else raw


def _set_test(field: FakeField, operator: str, values: list[Any]) -> Predicate:
    wanted = {_set_member(field, raw) for raw in values}
    tests: dict[str, Callable[[set[str]], bool]] = {
        "equal": lambda cell: cell == wanted,
        "notEqual": lambda cell: cell != wanted,
        "contain": lambda cell: bool(cell & wanted),
        "notContain": lambda cell: not cell & wanted,
    }
    test = tests[operator]

    def matches(record: StoredRecord) -> bool:
        value = stored_value(field, record)
        cell = set() if value is None else {value} if isinstance(value, str) else set(value)
        return test(cell)

    return matches


_BUILDERS: dict[str, Callable[[FakeField, str, list[Any]], Predicate]] = {
    "text": _text_test,
    "number": _number_test,
    "date": _date_test,
    "checkbox": _checkbox_test,
    "set": _set_test,
}
