"""Reads: records rendered as the API answers them, and the query language (BACKENDS.md §2 "Query";
the emulator's doc/kintone-query-behavior.md)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from .fields import (
    _DATETIME_TYPES,
    _ENTITY_TYPES,
    _FORM_ONLY_TYPES,
    _MULTI_OPTION_TYPES,
    _NUMERIC_TYPES,
    _SINGLE_OPTION_TYPES,
    _empty_value,
    _format_decimal,
    _minute,
    _parse_date,
    _parse_datetime,
    _parse_decimal,
    _parse_time,
)
from .messages import KintoneError, _invalid, msg
from .model import FakeApp, StoredRecord


def _render(app: FakeApp, record: StoredRecord, fields: list[str] | None) -> dict[str, Any]:
    wanted = set(fields) if fields else None
    rendered: dict[str, Any] = {}
    for code, prop in app.properties.items():
        if prop["type"] not in _FORM_ONLY_TYPES and (wanted is None or code in wanted):
            rendered[code] = {"type": prop["type"], "value": _render_value(prop, record)}
    for code, ftype, value in (("$id", "__ID__", record.id), ("$revision", "__REVISION__", record.revision)):
        if wanted is None or code in wanted:
            rendered[code] = {"type": ftype, "value": str(value)}
    return rendered


_SYSTEM_VALUES: dict[str, Callable[[StoredRecord], Any]] = {
    "RECORD_NUMBER": lambda record: str(record.id),
    "CREATOR": lambda record: record.creator,
    "MODIFIER": lambda record: record.modifier,
    "CREATED_TIME": lambda record: record.created_at,
    "UPDATED_TIME": lambda record: record.updated_at,
}


def _render_value(prop: dict[str, Any], record: StoredRecord) -> Any:
    system = _SYSTEM_VALUES.get(prop["type"])
    if system is not None:
        return _json_copy(system(record))
    return _render_stored(prop, record.values.get(prop["code"], _empty_value(prop["type"])))


def _render_stored(prop: dict[str, Any], value: Any) -> Any:
    if prop["type"] == "SUBTABLE":
        return [{"id": str(row["id"]), "value": _render_row(prop["fields"], row["value"])} for row in value]
    if prop["type"] == "DROP_DOWN" and value == "":
        return None
    return _json_copy(value)


def _json_copy(value: Any) -> Any:
    """A copy of a stored JSON value (what `copy.deepcopy` gave, in a fraction of its time: strings and numbers
    are immutable, so only lists and objects are copied)."""
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    return value


def _render_row(fields: dict[str, dict[str, Any]], values: dict[str, Any]) -> dict[str, Any]:
    return {
        code: {"type": prop["type"], "value": _render_stored(prop, values.get(code, _empty_value(prop["type"])))}
        for code, prop in fields.items()
    }


# --------------------------------------------------------------------------------------------
# Query language (BACKENDS.md §2 "Query"; emulator doc/kintone-query-behavior.md)
# --------------------------------------------------------------------------------------------

_QUERY_SPACE = " \t\r\n\u3000"
_WORD_STOP = frozenset(_QUERY_SPACE + '"(),=!<>')
_STRING_ESCAPES = {"t": "\t", "n": "\n", "r": "\r"}
_QUERY_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_MAX_LIMIT = 500
_MAX_OFFSET = 10_000


def _syntax_error() -> KintoneError:
    return _invalid({"query": [msg("query_syntax")]})


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "number", "word", "op", "(", ")", ",", "end"
    text: str


@dataclass(frozen=True)
class _Function:
    name: str
    args: tuple[str, ...]


_Literal = str | Decimal | _Function


@dataclass(frozen=True)
class _Condition:
    field: str
    op: str
    values: tuple[_Literal, ...]


@dataclass(frozen=True)
class _BoolOp:
    op: Literal["and", "or"]
    left: _Condition | _BoolOp
    right: _Condition | _BoolOp


@dataclass(frozen=True)
class _OrderKey:
    field: str
    descending: bool


@dataclass(frozen=True)
class _Query:
    where: _Condition | _BoolOp | None
    order: tuple[_OrderKey, ...]
    limit: int | None
    offset: int | None


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char in _QUERY_SPACE:
            pos += 1
        elif char == '"':
            text, pos = _read_string(source, pos)
            tokens.append(_Token("string", text))
        elif char in "(),":
            tokens.append(_Token(char, char))
            pos += 1
        elif char in "=!<>":
            two = source[pos : pos + 2]
            op = two if two in ("!=", ">=", "<=") else char
            if op == "!":
                raise _syntax_error()
            tokens.append(_Token("op", op))
            pos += len(op)
        else:
            end = pos
            while end < len(source) and source[end] not in _WORD_STOP:
                end += 1
            word = source[pos:end]
            tokens.append(_Token("number" if _QUERY_NUMBER.fullmatch(word) else "word", word))
            pos = end
    tokens.append(_Token("end", ""))
    return tokens


def _read_string(source: str, start: int) -> tuple[str, int]:
    """A double-quoted literal: ``\\"`` ``\\\\`` ``\\t`` ``\\n`` ``\\r`` escapes; raw tab/CR/LF is an error."""
    chars: list[str] = []
    pos = start + 1
    while pos < len(source):
        char = source[pos]
        if char == '"':
            return "".join(chars), pos + 1
        if char in "\t\r\n":
            break
        if char == "\\":
            pos += 1
            if pos == len(source):
                break
            chars.append(_STRING_ESCAPES.get(source[pos], source[pos]))
        else:
            chars.append(char)
        pos += 1
    raise _syntax_error()


class _QueryParser:
    """Recursive descent over the tokens; ``and`` binds tighter than ``or``.

    query := [or_expr] ["order" "by" key ("," key)*] ["limit" N] ["offset" N]  (limit/offset in either order)
    or_expr := and_expr ("or" and_expr)*;  and_expr := term ("and" term)*;  term := "(" or_expr ")" | condition
    """

    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.pos = 0

    def parse(self) -> _Query:
        where = None if self.peek().kind == "end" or self.at_options() else self.or_expr()
        order = self.order_clause()
        options: dict[str, int] = {}
        while self.peek().kind == "word" and self.peek().text.lower() in ("limit", "offset"):
            name = self.take().text.lower()
            if name in options:
                raise _syntax_error()
            options[name] = self.count()
        self.expect("end")
        return _Query(where, order, options.get("limit"), options.get("offset"))

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.pos += 1
        return token

    def expect(self, kind: str) -> _Token:
        if self.peek().kind != kind:
            raise _syntax_error()
        return self.take()

    def is_keyword(self, word: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "word" and token.text.lower() == word

    def keyword(self, word: str) -> bool:
        if self.is_keyword(word):
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise _syntax_error()

    def at_options(self) -> bool:
        if self.is_keyword("order"):
            return self.is_keyword("by", 1)
        return (self.is_keyword("limit") or self.is_keyword("offset")) and self.peek(1).kind == "number"

    def or_expr(self) -> _Condition | _BoolOp:
        left = self.and_expr()
        while self.keyword("or"):
            left = _BoolOp("or", left, self.and_expr())
        return left

    def and_expr(self) -> _Condition | _BoolOp:
        left = self.term()
        while self.keyword("and"):
            left = _BoolOp("and", left, self.term())
        return left

    def term(self) -> _Condition | _BoolOp:
        if self.peek().kind == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.condition()

    def condition(self) -> _Condition:
        code = self.expect("word").text
        if self.peek().kind == "op":
            return _Condition(code, self.take().text, (self.value(),))
        negated = self.keyword("not")
        if self.keyword("in"):
            return _Condition(code, "not in" if negated else "in", self.value_list())
        if self.keyword("like"):
            return _Condition(code, "not like" if negated else "like", (self.value(),))
        if negated:
            raise _syntax_error()
        self.expect_keyword("is")
        op = "is not empty" if self.keyword("not") else "is empty"
        self.expect_keyword("empty")
        return _Condition(code, op, ())

    def value(self) -> _Literal:
        token = self.take()
        if token.kind == "string":
            return token.text
        if token.kind == "number":
            return Decimal(token.text)
        if token.kind == "word" and self.peek().kind == "(":
            return _Function(token.text.upper(), self.arguments())
        raise _syntax_error()

    def arguments(self) -> tuple[str, ...]:
        self.expect("(")
        args: list[str] = []
        while self.peek().kind != ")":
            if args:
                self.expect(",")
            if self.peek().kind not in ("word", "number", "string"):
                raise _syntax_error()
            args.append(self.take().text)
        self.take()
        return tuple(args)

    def value_list(self) -> tuple[_Literal, ...]:
        self.expect("(")
        values = [self.value()]
        while self.peek().kind == ",":
            self.take()
            values.append(self.value())
        self.expect(")")
        return tuple(values)

    def order_clause(self) -> tuple[_OrderKey, ...]:
        if not self.keyword("order"):
            return ()
        self.expect_keyword("by")
        keys = [self.order_key()]
        while self.peek().kind == ",":
            self.take()
            keys.append(self.order_key())
        return tuple(keys)

    def order_key(self) -> _OrderKey:
        code = self.expect("word").text
        if self.keyword("desc"):
            return _OrderKey(code, True)
        self.keyword("asc")
        return _OrderKey(code, False)

    def count(self) -> int:
        token = self.expect("number")
        if not token.text.isdigit():
            raise _syntax_error()
        return int(token.text)


def _parse_query(source: str) -> _Query:
    """Parses a query and enforces limit ≤ 500 (GAIA_QU01) and offset ≤ 10,000 (GAIA_QU02) as the emulator does."""
    query = _QueryParser(source).parse()
    if query.limit is not None and query.limit > _MAX_LIMIT:
        raise KintoneError(400, "GAIA_QU01")
    if query.offset is not None and query.offset > _MAX_OFFSET:
        raise KintoneError(400, "GAIA_QU02")
    return query


# Operators per field type: the kintone.dev query-string table, as encoded by the emulator.
_ORDERED_OPS = frozenset({"=", "!=", "<", ">", "<=", ">="})
_IN_OPS = frozenset({"in", "not in"})
_LIKE_OPS = frozenset({"like", "not like"})
_EMPTY_OPS = frozenset({"is empty", "is not empty"})
_ALLOWED_OPS: dict[str, frozenset[str]] = {
    **dict.fromkeys(_NUMERIC_TYPES, _ORDERED_OPS | _IN_OPS),
    **dict.fromkeys(_ENTITY_TYPES | _SINGLE_OPTION_TYPES | _MULTI_OPTION_TYPES | {"CREATOR", "MODIFIER"}, _IN_OPS),
    **dict.fromkeys(_DATETIME_TYPES | {"DATE", "TIME"}, _ORDERED_OPS),
    **dict.fromkeys(("SINGLE_LINE_TEXT", "LINK"), frozenset({"=", "!="}) | _IN_OPS | _LIKE_OPS),
    **dict.fromkeys(("MULTI_LINE_TEXT", "RICH_TEXT", "FILE"), _LIKE_OPS | _EMPTY_OPS),
}
_NEGATED_OPS = {"not in": "in", "not like": "like", "is not empty": "is empty"}
_WORD_RE = re.compile(r"[0-9a-z]+")


@dataclass(frozen=True)
class _FieldRef:
    code: str
    type: str
    table: str | None  # the SUBTABLE holding the field, if any


@dataclass
class _QueryContext:
    app: FakeApp
    now: datetime
    login_user: str

    def resolve(self, code: str) -> _FieldRef:
        if code == "$id":
            return _FieldRef(code, "__ID__", None)
        prop = self.app.properties.get(code)
        if prop is not None and prop["type"] not in _FORM_ONLY_TYPES | {"SUBTABLE"}:
            return _FieldRef(code, prop["type"], None)
        for table, table_prop in self.app.properties.items():
            if table_prop["type"] == "SUBTABLE" and code in table_prop["fields"]:
                return _FieldRef(code, table_prop["fields"][code]["type"], table)
        raise KintoneError(400, "GAIA_IQ11", msg("GAIA_IQ11", code=code))

    def bounds(self, ftype: str, literal: _Literal) -> tuple[Any, Any]:
        """The literal as an inclusive interval in the field's key space; ``(None, None)`` for ""."""
        if isinstance(literal, _Function):
            return self.function_bounds(ftype, literal)
        text = literal if isinstance(literal, str) else _format_decimal(literal)
        if text == "":
            return None, None
        if ftype in _NUMERIC_TYPES:
            number = _parse_decimal(text)
            if number is None:
                raise _syntax_error()
            return number, number
        if ftype in _DATETIME_TYPES:
            return _datetime_bounds(text)
        parse = {"DATE": _parse_date, "TIME": _parse_time}.get(ftype)
        if parse is None:
            return text, text
        parsed = parse(text)
        if parsed is None:
            raise _syntax_error()
        return parsed, parsed

    def function_bounds(self, ftype: str, function: _Function) -> tuple[Any, Any]:
        """LOGINUSER/NOW/TODAY/YESTERDAY/TOMORROW in UTC; other functions are not implemented."""
        day_offsets = {"TODAY": 0, "YESTERDAY": -1, "TOMORROW": 1}
        if function.args or function.name not in {"LOGINUSER", "NOW", *day_offsets}:
            raise _syntax_error()
        if function.name == "LOGINUSER":
            return self.login_user, self.login_user
        if function.name == "NOW":
            value = {"DATE": self.now.date().isoformat(), "TIME": self.now.strftime("%H:%M")}.get(
                ftype, _minute(self.now)
            )
            return value, value
        day = (self.now + timedelta(days=day_offsets[function.name])).date().isoformat()
        return _datetime_bounds(day) if ftype in _DATETIME_TYPES else (day, day)


def _datetime_bounds(text: str) -> tuple[str, str]:
    """A date-time literal, or a date meaning that whole (UTC) day."""
    moment = _parse_datetime(text)
    if moment is not None:
        return moment, moment
    day = _parse_date(text)
    if day is None:
        raise _syntax_error()
    return f"{day}T00:00:00Z", f"{day}T23:59:00Z"


def _key(ftype: str, atom: Any) -> Any:
    """A stored scalar in comparable form; None when empty."""
    if atom is None or atom == "":
        return None
    if ftype in _NUMERIC_TYPES:
        return _parse_decimal(atom)
    return str(atom)


def _atoms(value: Any) -> list[Any]:
    """The scalars a stored value holds: options of a list, codes of users; [None] when empty."""
    items = value if isinstance(value, list) else [value]
    return [item["code"] if isinstance(item, dict) else item for item in items] or [None]


_INTERVAL_CHECKS: dict[str, Callable[[Any, Any, Any], bool]] = {
    "=": lambda actual, low, high: low <= actual <= high,
    "!=": lambda actual, low, high: not low <= actual <= high,
    "<": lambda actual, low, high: actual < low,
    "<=": lambda actual, low, high: actual <= high,
    ">": lambda actual, low, high: actual > high,
    ">=": lambda actual, low, high: actual >= low,
}


def _compare(op: str, actual: Any, low: Any, high: Any) -> bool:
    """``actual op [low, high]``; an empty field equals only "" and differs from everything else."""
    if low is None:  # compared with ""
        return {"=": actual is None, "!=": actual is not None}.get(op, False)
    if actual is None:
        return op == "!="
    return _INTERVAL_CHECKS[op](actual, low, high)


def _text_of(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(item.get("name", "")) if isinstance(item, dict) else str(item) for item in value)
    return "" if value is None else str(value)


def _word_match(text: str, term: str) -> bool:
    """kintone ``like`` is word search: ASCII terms match whole words in order; other terms are substrings."""
    wanted = _WORD_RE.findall(term.lower())
    if not term.isascii() or not wanted:
        return term.strip().lower() in text.lower()
    words = _WORD_RE.findall(text.lower())
    return any(words[start : start + len(wanted)] == wanted for start in range(len(words) - len(wanted) + 1))


def _is_empty_text(value: Any) -> bool:
    """``is empty``: no value, or only spaces, tabs and line breaks."""
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def _stored_values(record: StoredRecord, ref: _FieldRef) -> list[Any]:
    """One value per row for a SUBTABLE field, else a single value."""
    if ref.table is not None:
        return [row["value"].get(ref.code) for row in record.values.get(ref.table) or []]
    system = {
        "__ID__": record.id,
        "RECORD_NUMBER": record.id,
        "CREATOR": record.creator,
        "MODIFIER": record.modifier,
        "CREATED_TIME": record.created_at,
        "UPDATED_TIME": record.updated_at,
    }
    if ref.type in system:
        return [system[ref.type]]
    return [record.values.get(ref.code)]


def _check_operator(ref: _FieldRef, op: str) -> None:
    if op not in _ALLOWED_OPS.get(ref.type, frozenset()):
        raise KintoneError(400, "GAIA_IQ03", msg("GAIA_IQ03", code=ref.code, op=op))
    if ref.table is not None and op not in _IN_OPS | _LIKE_OPS:
        raise KintoneError(400, "GAIA_IQ07", msg("GAIA_IQ07", code=ref.code, op=op))


def _value_test(ctx: _QueryContext, ref: _FieldRef, condition: _Condition) -> Callable[[Any], bool]:
    op = _NEGATED_OPS.get(condition.op, condition.op)
    if op == "is empty":
        return _is_empty_text
    if op == "like":
        term = condition.values[0]
        if isinstance(term, _Function):
            raise _syntax_error()
        text = term if isinstance(term, str) else _format_decimal(term)
        return lambda value: _word_match(_text_of(value), text)
    bounds = [ctx.bounds(ref.type, literal) for literal in condition.values]
    if op == "in":
        wanted = {low for low, _ in bounds}
        return lambda value: any(_key(ref.type, atom) in wanted for atom in _atoms(value))
    low, high = bounds[0]
    return lambda value: _compare(op, _key(ref.type, value), low, high)


def _compile(ctx: _QueryContext, expr: _Condition | _BoolOp) -> Callable[[StoredRecord], bool]:
    """Checks fields and operators up front (errors even on an empty app) and returns a predicate."""
    if isinstance(expr, _BoolOp):
        left, right = _compile(ctx, expr.left), _compile(ctx, expr.right)
        if expr.op == "and":
            return lambda record: left(record) and right(record)
        return lambda record: left(record) or right(record)
    ref = ctx.resolve(expr.field)
    _check_operator(ref, expr.op)
    test = _value_test(ctx, ref, expr)
    negated = expr.op in _NEGATED_OPS
    return lambda record: any(test(value) for value in _stored_values(record, ref)) != negated


def _sort_key(ref: _FieldRef, record: StoredRecord) -> tuple[int, Any]:
    values = _stored_values(record, ref)
    key = _key(ref.type, _atoms(values[0])[0]) if values else None
    return (0, "") if key is None else (1, key)


def _ids_named(expr: _Condition | _BoolOp) -> set[int] | None:
    """The record ids a condition limits matches to (`$id = n`, `$id in (...)`, either side of an `and`), or None:
    those records are looked up by id instead of testing every record of the app (the predicate still decides)."""
    if isinstance(expr, _BoolOp):
        if expr.op != "and":
            return None
        left, right = _ids_named(expr.left), _ids_named(expr.right)
        return left if right is None else right if left is None else left & right
    if expr.field != "$id" or expr.op not in ("=", "in"):
        return None
    ids: set[int] = set()
    for literal in expr.values:
        if isinstance(literal, _Function):
            return None
        try:
            number = Decimal(literal)
        except ArithmeticError:
            return None
        if number != number.to_integral_value():
            return None
        ids.add(int(number))
    return ids


def _select(ctx: _QueryContext, query: _Query) -> list[StoredRecord]:
    """Matching records in query order; without ``order by`` kintone sorts by ``$id desc``."""
    predicate = _compile(ctx, query.where) if query.where is not None else None
    keys = [(ctx.resolve(key.field), key.descending) for key in query.order or (_OrderKey("$id", True),)]
    ids = _ids_named(query.where) if query.where is not None else None
    stored = ctx.app.records
    candidates = stored.values() if ids is None else [stored[i] for i in ids if i in stored]
    records = [record for record in candidates if predicate is None or predicate(record)]
    for ref, descending in reversed(keys):
        records.sort(key=functools.partial(_sort_key, ref), reverse=descending)
    return records
