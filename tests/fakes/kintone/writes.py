"""Writes: coercion and validation of field values, defaults, unique checks and CALC fields (BACKENDS.md §2
semantics, §3 shapes, §4 keys)."""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from .fields import (
    _ENTITY_TYPES,
    _LENGTH_TYPES,
    _MULTI_OPTION_TYPES,
    _SINGLE_OPTION_TYPES,
    _TEXT_TYPES,
    _UNIQUE_TYPES,
    _WRITABLE_TYPES,
    _format_decimal,
    _is_blank,
    _loose_int,
    _minute,
    _parse_date,
    _parse_datetime,
    _parse_decimal,
    _parse_time,
)
from .messages import FieldErrors, KintoneError, _add_error, _invalid, msg
from .model import FakeApp, StoredRecord

if TYPE_CHECKING:
    from .state import FakeKintone


@dataclass
class _WriteContext:
    state: FakeKintone
    app: FakeApp
    errors: FieldErrors
    now: datetime
    actor: dict[str, str]


@dataclass(frozen=True)
class _Slot:
    """Where a value goes: its property, its error key base and the value it replaces."""

    prop: dict[str, Any]
    base: str  # "record.title", "records[2].title", "record.items.value[0].value.qty"
    nan_key: str | None  # "record[qty].value"; None inside a SUBTABLE, where non-numbers become ""
    old: Any = None


@dataclass(frozen=True)
class _WriteItem:
    prefix: str  # "record" or "records[<i>]"
    payload: Any
    target: StoredRecord | None  # None: insert


def _coerce_text(ctx: _WriteContext, slot: _Slot, raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        _add_error(ctx.errors, f"{slot.base}.value", msg("invalid_value"))
        return ""
    text = str(raw)
    if text and slot.prop["type"] in _LENGTH_TYPES:
        _check_length(ctx, slot, text)
    return text


def _check_length(ctx: _WriteContext, slot: _Slot, text: str) -> None:
    max_length, min_length = slot.prop.get("maxLength", ""), slot.prop.get("minLength", "")
    if max_length != "" and len(text) > int(max_length):
        _add_error(ctx.errors, f"{slot.base}.value", msg("max_length", n=int(max_length) + 1))
    if min_length != "" and len(text) < int(min_length):
        _add_error(ctx.errors, f"{slot.base}.value", msg("min_length", n=int(min_length) - 1))


def _coerce_number(ctx: _WriteContext, slot: _Slot, raw: Any) -> str:
    """Non-numbers: ``record[<code>].value`` "Only numbers are allowed." at top level (plus "Required." when
    the field is required, since the value counts as empty); silently "" inside a SUBTABLE (§4 quirks)."""
    if raw is None or raw == "":
        return ""
    number = _parse_decimal(raw)
    if number is None:
        if slot.nan_key is not None:
            _add_error(ctx.errors, slot.nan_key, msg("nan"))
        return ""
    max_value, min_value = slot.prop.get("maxValue", ""), slot.prop.get("minValue", "")
    if max_value != "" and number > Decimal(max_value):
        _add_error(ctx.errors, f"{slot.base}.value", msg("max_value", v=max_value))
    if min_value != "" and number < Decimal(min_value):
        _add_error(ctx.errors, f"{slot.base}.value", msg("min_value", v=min_value))
    return _format_decimal(number)


def _coerce_option(ctx: _WriteContext, slot: _Slot, raw: Any) -> str:
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str) or raw not in slot.prop["options"]:
        _add_error(ctx.errors, f"{slot.base}.value", msg("not_in_options", v=raw))
        return ""
    return raw


def _coerce_options(ctx: _WriteContext, slot: _Slot, raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        _add_error(ctx.errors, f"{slot.base}.values", msg("invalid_value"))
        return []
    chosen: list[str] = []
    for index, item in enumerate(raw):
        if isinstance(item, str) and item in slot.prop["options"]:
            chosen.append(item)
        else:
            _add_error(ctx.errors, f"{slot.base}.values[{index}].value", msg("not_in_options", v=item))
    return chosen


def _parsed_or_error(ctx: _WriteContext, slot: _Slot, raw: Any, parse: Callable[[Any], str | None]) -> str | None:
    if raw is None or raw == "":
        return None
    parsed = parse(raw)
    if parsed is None:
        _add_error(ctx.errors, f"{slot.base}.value", msg("invalid_value"))
    return parsed


def _coerce_date(ctx: _WriteContext, slot: _Slot, raw: Any) -> str | None:
    return _parsed_or_error(ctx, slot, raw, _parse_date)


def _coerce_time(ctx: _WriteContext, slot: _Slot, raw: Any) -> str | None:
    return _parsed_or_error(ctx, slot, raw, _parse_time)


def _coerce_datetime(ctx: _WriteContext, slot: _Slot, raw: Any) -> str:
    return _parsed_or_error(ctx, slot, raw, _parse_datetime) or ""


def _coerce_entities(ctx: _WriteContext, slot: _Slot, raw: Any) -> list[dict[str, str]]:
    """``[{code}]`` -> ``[{code, name}]``; an unknown user is 400 GAIA_IL26 (organisations/groups unchecked)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(
        isinstance(item, dict) and isinstance(item.get("code"), str) for item in raw
    ):
        _add_error(ctx.errors, f"{slot.base}.values.value", msg("invalid_value"))
        return []
    if slot.prop["type"] == "USER_SELECT":
        return [ctx.state.user_entity(item["code"]) for item in raw]
    return [{"code": item["code"], "name": item["code"]} for item in raw]


def _coerce_file(ctx: _WriteContext, slot: _Slot, raw: Any) -> list[Any]:
    """The fake has no file upload API, so no fileKey exists: a non-empty value is GAIA_BL01."""
    if raw is None or raw == []:
        return []
    first = raw[0] if isinstance(raw, list) else raw
    file_key = first.get("fileKey", "") if isinstance(first, dict) else first
    raise KintoneError(404, "GAIA_BL01", msg("GAIA_BL01", id=file_key))


def _coerce_subtable(ctx: _WriteContext, slot: _Slot, raw: Any) -> list[dict[str, Any]]:
    """Replaces the row list: rows whose ``id`` matches are merged, other rows are new, absent rows go."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(row, dict) for row in raw):
        _add_error(ctx.errors, f"{slot.base}.value", msg("invalid_value"))
        return copy.deepcopy(slot.old or [])
    old_rows = {row["id"]: row for row in slot.old or []}
    return [_coerce_row(ctx, slot, index, row, old_rows) for index, row in enumerate(raw)]


def _coerce_row(
    ctx: _WriteContext, slot: _Slot, index: int, row: dict[str, Any], old_rows: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    row_id = _loose_int(row.get("id"))
    old = old_rows.get(row_id) if row_id is not None else None
    sent = row.get("value")
    if not isinstance(sent, dict):
        sent = {}
    values = copy.deepcopy(old["value"]) if old else {}
    row_base = f"{slot.base}.value[{index}].value"
    for code, prop in slot.prop["fields"].items():
        if prop["type"] not in _WRITABLE_TYPES:
            continue
        entry = sent.get(code)
        if isinstance(entry, dict):
            values[code] = _coerce(ctx, _Slot(prop, f"{row_base}.{code}", None), entry.get("value"))
        elif old is None:
            values[code] = _default(ctx, prop)
    _check_required(ctx, slot.prop["fields"], values, row_base)
    return {"id": old["id"] if old else ctx.state.new_row_id(), "value": values}


_COERCERS: dict[str, Callable[[_WriteContext, _Slot, Any], Any]] = {
    **dict.fromkeys(_TEXT_TYPES, _coerce_text),
    **dict.fromkeys(_SINGLE_OPTION_TYPES, _coerce_option),
    **dict.fromkeys(_MULTI_OPTION_TYPES, _coerce_options),
    **dict.fromkeys(_ENTITY_TYPES, _coerce_entities),
    "NUMBER": _coerce_number,
    "DATE": _coerce_date,
    "TIME": _coerce_time,
    "DATETIME": _coerce_datetime,
    "FILE": _coerce_file,
    "SUBTABLE": _coerce_subtable,
}


def _coerce(ctx: _WriteContext, slot: _Slot, raw: Any) -> Any:
    return _COERCERS[slot.prop["type"]](ctx, slot, raw)


def _default(ctx: _WriteContext, prop: dict[str, Any]) -> Any:
    """The value of a field whose key is absent from a POST (BACKENDS.md §4 quirks)."""
    ftype, value = prop["type"], prop.get("defaultValue", "")
    if prop.get("defaultNowValue"):
        return {"DATE": ctx.now.date().isoformat(), "TIME": ctx.now.strftime("%H:%M"), "DATETIME": _minute(ctx.now)}[
            ftype
        ]
    if ftype == "NUMBER":
        number = _parse_decimal(value)
        return "" if number is None else _format_decimal(number)
    if ftype in ("DATE", "TIME"):
        return value or None
    if ftype == "DATETIME":
        return _parse_datetime(value) or ""
    if ftype in _ENTITY_TYPES:
        return [ctx.actor if entity.get("type") == "FUNCTION" else _entity(entity) for entity in value]
    if ftype in _MULTI_OPTION_TYPES:
        return list(value)
    return value if ftype not in ("FILE", "SUBTABLE") else []


def _entity(entity: Mapping[str, Any]) -> dict[str, str]:
    return {"code": entity["code"], "name": entity.get("name", entity["code"])}


def _required_suffix(ftype: str) -> str:
    if ftype in _MULTI_OPTION_TYPES or ftype == "FILE":
        return ".values"
    if ftype in _ENTITY_TYPES:
        return ".values.value"
    return ".value"


def _check_required(
    ctx: _WriteContext, properties: dict[str, dict[str, Any]], values: dict[str, Any], prefix: str
) -> None:
    """Required is checked on the merged record; RADIO_BUTTON and CALC are not enforced (§4 quirks)."""
    for code, prop in properties.items():
        ftype = prop["type"]
        checked = ftype in _WRITABLE_TYPES and ftype not in ("SUBTABLE", "RADIO_BUTTON")
        if checked and prop.get("required") and _is_blank(values.get(code)):
            _add_error(ctx.errors, f"{prefix}.{code}{_required_suffix(ftype)}", msg("required"))


def _build_values(ctx: _WriteContext, item: _WriteItem) -> dict[str, Any]:
    """The record's new values: sent fields coerced, others kept (PUT) or defaulted (POST)."""
    payload = item.payload if item.payload is not None else {}
    if not isinstance(payload, dict):
        _add_error(ctx.errors, item.prefix, msg("invalid_value"))
        payload = {}
    values = copy.deepcopy(item.target.values) if item.target else {}
    for code, prop in ctx.app.properties.items():
        if prop["type"] not in _WRITABLE_TYPES:
            continue
        base = f"{item.prefix}.{code}"
        if code in payload:
            entry = payload[code]
            if not isinstance(entry, dict):
                _add_error(ctx.errors, f"{base}.value", msg("invalid_value"))
                continue
            slot = _Slot(prop, base, f"{item.prefix}[{code}].value", values.get(code))
            values[code] = _coerce(ctx, slot, entry.get("value"))
        elif item.target is None:
            values[code] = _default(ctx, prop)
    _check_required(ctx, ctx.app.properties, values, item.prefix)
    _compute_calcs(_CalcScope(ctx.app.properties, values, None))
    return values


def _stamps(ctx: _WriteContext, payload: Any) -> dict[str, Any]:
    """Creator/created/modifier/updated of a new record; POST may set them (import), PUT may not."""
    stamps: dict[str, Any] = {"creator": ctx.actor, "created_at": _minute(ctx.now), "modifier": ctx.actor}
    sent = payload if isinstance(payload, dict) else {}
    for code, prop in ctx.app.properties.items():
        entry = sent.get(code)
        value = entry.get("value") if isinstance(entry, dict) else None
        if value is None:
            continue
        if prop["type"] in ("CREATOR", "MODIFIER") and isinstance(value, dict) and "code" in value:
            stamps["creator" if prop["type"] == "CREATOR" else "modifier"] = ctx.state.user_entity(value["code"])
        elif prop["type"] in ("CREATED_TIME", "UPDATED_TIME") and _parse_datetime(value):
            stamps["created_at" if prop["type"] == "CREATED_TIME" else "updated_at"] = _parse_datetime(value)
    stamps.setdefault("updated_at", stamps["created_at"])
    return stamps


def _check_unique(ctx: _WriteContext, items: list[_WriteItem], new_values: list[dict[str, Any]]) -> None:
    """Unique fields must differ from every other record, including the others in this batch; "" may repeat."""
    codes = [code for code, prop in ctx.app.properties.items() if prop.get("unique") and prop["type"] in _UNIQUE_TYPES]
    replaced = {item.target.id for item in items if item.target is not None}
    final = [rec.values for rec in ctx.app.records.values() if rec.id not in replaced] + new_values
    for code in codes:
        counts = Counter(str(values.get(code)) for values in final if not _is_blank(values.get(code)))
        for item, values in zip(items, new_values, strict=True):
            if not _is_blank(values.get(code)) and counts[str(values[code])] > 1:
                _add_error(ctx.errors, f"{item.prefix}.{code}.value", msg("unique"))


def _write(
    state: FakeKintone, app: FakeApp, items: list[_WriteItem], actor: dict[str, str], *, check: bool = True
) -> list[StoredRecord]:
    """Validates every item first and writes all of them or none (records.json is all-or-nothing)."""
    ctx = _WriteContext(state, app, {}, state.now(), actor)
    new_values = [_build_values(ctx, item) for item in items]
    stamps = [_stamps(ctx, item.payload) if item.target is None else {} for item in items]
    _check_unique(ctx, items, new_values)
    if ctx.errors and check:
        raise _invalid(ctx.errors)
    return [_apply(ctx, item, values, stamp) for item, values, stamp in zip(items, new_values, stamps, strict=True)]


def _apply(ctx: _WriteContext, item: _WriteItem, values: dict[str, Any], stamps: dict[str, Any]) -> StoredRecord:
    if item.target is not None:
        item.target.values = values
        item.target.revision += 1
        item.target.modifier = ctx.actor
        item.target.updated_at = _minute(ctx.now)
        return item.target
    record = StoredRecord(ctx.app.next_record_id, 1, values, **stamps)
    ctx.app.records[record.id] = record
    ctx.app.next_record_id += 1
    return record


# -- CALC -------------------------------------------------------------------------------------

_CALC_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([-+*/()])|([^\s\-+*/()]+))")
_CALC_MAX_DEPTH = 20
_QUOTIENT = Decimal("0.0001")  # kintone rounds quotients to 4 decimal places


class _CalcUnsupportedError(Exception):
    """The expression uses something the fake's CALC subset does not evaluate."""


@dataclass
class _CalcScope:
    """Field values a CALC expression can see: its own level, then the enclosing record."""

    properties: dict[str, dict[str, Any]]
    values: dict[str, Any]
    parent: _CalcScope | None

    def number(self, code: str, depth: int) -> Decimal:
        prop = self.properties.get(code)
        if prop is None:
            if self.parent is None:
                raise _CalcUnsupportedError(code)
            return self.parent.number(code, depth)
        if prop["type"] == "CALC":
            return _evaluate_calc(prop["expression"], self, depth + 1)
        raw = self.values.get(code)
        if prop["type"] != "NUMBER":
            raise _CalcUnsupportedError(code)
        if _is_blank(raw):
            return Decimal(0)
        number = _parse_decimal(raw)
        if number is None:
            raise _CalcUnsupportedError(code)
        return number


def _compute_calcs(scope: _CalcScope) -> None:
    for code, prop in scope.properties.items():
        if prop["type"] == "CALC":
            scope.values[code] = _calc_text(prop["expression"], scope)
        elif prop["type"] == "SUBTABLE":
            for row in scope.values.get(code) or []:
                _compute_calcs(_CalcScope(prop["fields"], row["value"], scope))


def _calc_text(expression: str, scope: _CalcScope) -> str:
    try:
        return _format_decimal(_evaluate_calc(expression, scope, 0))
    except (_CalcUnsupportedError, ArithmeticError):  # decimal's DivisionByZero/InvalidOperation included
        return ""


def _evaluate_calc(expression: str, scope: _CalcScope, depth: int) -> Decimal:
    if depth > _CALC_MAX_DEPTH:
        raise _CalcUnsupportedError("circular reference")
    tokens = _CALC_TOKEN.findall(expression)
    parser = _CalcParser(tokens, scope, depth)
    value = parser.sum()
    if parser.pos != len(tokens):
        raise _CalcUnsupportedError(expression)
    return value


class _CalcParser:
    """``sum := product (('+'|'-') product)*``, ``product := unary (('*'|'/') unary)*``."""

    def __init__(self, tokens: list[tuple[str, str, str]], scope: _CalcScope, depth: int) -> None:
        self.tokens, self.scope, self.depth, self.pos = tokens, scope, depth, 0

    def peek(self) -> str:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else ""

    def take(self) -> str:
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def sum(self) -> Decimal:
        value = self.product()
        while self.peek() in ("+", "-"):
            operator = self.take()
            operand = self.product()
            value = value + operand if operator == "+" else value - operand
        return value

    def product(self) -> Decimal:
        value = self.unary()
        while self.peek() in ("*", "/"):
            operator = self.take()
            operand = self.unary()
            value = value * operand if operator == "*" else (value / operand).quantize(_QUOTIENT, ROUND_HALF_UP)
        return value

    def unary(self) -> Decimal:
        if self.peek() in ("+", "-"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.primary()

    def primary(self) -> Decimal:
        if self.pos >= len(self.tokens):
            raise _CalcUnsupportedError("unexpected end")
        number, symbol, name = self.tokens[self.pos]
        self.pos += 1
        if number:
            return Decimal(number)
        if name:
            return self.scope.number(name, self.depth)
        if symbol == "(":
            value = self.sum()
            if self.peek() != ")":
                raise _CalcUnsupportedError("missing )")
            self.pos += 1
            return value
        raise _CalcUnsupportedError(symbol)
