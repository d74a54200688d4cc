"""SQL building shared by the embedded store's engines (SQLite and PostgreSQL), with no driver in it.

Both engines keep the same layout: metadata in `_tm_tables` / `_tm_columns` / `_tm_meta`, and one
typed SQL table `t_<id>` per user table with one SQL column `c<n>` per table column, so that
user-chosen names never reach SQL text. A `Dialect` says how each engine spells what differs
(placeholders, column types, value encoding, JSON membership, NULL ordering); the builders here
turn the canonical model (rows, filters, sorts, cursors) into SQL text plus bound parameters.
Everything a user sends is a bound parameter; identifiers are generated and always quoted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import partial
from json.encoder import encode_basestring
from typing import Any, ClassVar

import pydantic_core

from ...errors import FieldError, TablesError, invalid_argument, not_found
from ...model import (
    BoolGroup,
    Capabilities,
    Column,
    ColumnSpec,
    ColumnType,
    Condition,
    FilterNode,
    ListQuery,
    Page,
    Record,
    Table,
)
from ..kit.codecs import format_datetime, utc_datetime
from ..kit.cursors import CursorCodec, not_ours, query_scope, store_key

JSON_TYPES = frozenset({ColumnType.MULTISELECT, ColumnType.REFERENCE})
CREATABLE_TYPES = tuple(
    t
    for t in ColumnType
    if t not in (ColumnType.FORMULA, ColumnType.AI, ColumnType.FILE, ColumnType.SUBTABLE, ColumnType.UNKNOWN)
)
# Types whose values a unique index compares as the agent means them (single scalar values).
UNIQUE_TYPES = (
    ColumnType.TEXT,
    ColumnType.EMAIL,
    ColumnType.PHONE,
    ColumnType.URL,
    ColumnType.USER,
    ColumnType.NUMBER,
    ColumnType.DATE,
    ColumnType.DATETIME,
    ColumnType.TIME,
)
MAX_NAME_LENGTH = 100
# Whole numbers the store keeps exactly (SQLite's 64-bit integers; PostgreSQL follows the same rule).
INT64_RANGE = (-(2**63), 2**63 - 1)

Decoder = Callable[[Any], Any]
RowDecoder = Callable[[Sequence[Any]], Record]


def now_iso() -> str:
    """created_at / updated_at: UTC, milliseconds, `YYYY-MM-DDTHH:MM:SS.mmmZ` on every engine."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def normalize_time(value: str) -> str:
    return value if len(value) == 8 else value + ":00"


def table_sql_name(table_id: str) -> str:
    return f'"t_{table_id}"'


# What the embedded store can do, on either engine.
CAPABILITIES = Capabilities(
    create_table=True,
    versions=True,
    aggregate=True,
    upsert=True,
    upsert_key_types=frozenset(UNIQUE_TYPES),
    atomic_create=True,
    max_create_batch=1000,
    max_page_size=500,
    notes=("Creates are all-or-nothing.", "'contains' on text is a case-insensitive substring match."),
)

# Every record carries a version: 1 when created, one more at every write (the agent sees it as an opaque string).
NEXT_VERSION = "version = version + 1"


def parse_version(expected: str) -> int | None:
    """An expectedVersion as the store's counter; None when it is no version the store ever gave."""
    text = expected.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


BUMP_SCHEMA_VERSION = (
    "UPDATE _tm_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'schema_version'"
)


# -- dialects -------------------------------------------------------------------------------------


class Dialect:
    """How one SQL engine spells the parts of the store that differ between engines."""

    name: ClassVar[str]
    native_prefix: ClassVar[str]

    def param(self, kind: ColumnType) -> str:
        """Placeholder for a value written to a column of this type."""
        raise NotImplementedError

    def filter_param(self, kind: ColumnType) -> str:
        """Placeholder for a value a filter compares a column of this type with."""
        return self.param(kind)

    def column_type(self, kind: ColumnType) -> str:
        raise NotImplementedError

    def encode(self, column: Column, value: Any) -> Any:
        """A validated value, as bound for a write."""
        raise NotImplementedError

    def value_encoder(self, column: Column) -> Callable[[Any], Any]:
        """`encode` for one column's non-empty values, looked up once per write rather than once per value."""
        return partial(self.encode, column)

    def filter_value(self, column: Column, value: Any) -> Any:
        raise NotImplementedError

    def decoder(self, kind: ColumnType) -> Decoder:
        raise NotImplementedError

    def order(self, col: str, descending: bool) -> str:
        raise NotImplementedError

    def is_empty(self, col: str, kind: ColumnType) -> str:
        raise NotImplementedError

    def json_any(self, col: str, values: list[str]) -> tuple[str, list[Any]]:
        """True when the JSON array in `col` holds any of `values`."""
        raise NotImplementedError

    def contains(self, col: str) -> str:
        """Case-insensitive substring match against one bound `%...%` pattern with `\\` escapes."""
        raise NotImplementedError


class SqliteDialect(Dialect):
    name = "sqlite"
    native_prefix = "sqlite"
    TYPES: ClassVar[dict[ColumnType, str]] = {
        ColumnType.NUMBER: "NUMERIC",
        ColumnType.SERIAL: "INTEGER",
        ColumnType.BOOLEAN: "INTEGER",
    }

    def param(self, kind: ColumnType) -> str:
        return "?"

    def column_type(self, kind: ColumnType) -> str:
        return self.TYPES.get(kind, "TEXT")

    def encode(self, column: Column, value: Any) -> Any:
        return encode_value(column, value)

    def value_encoder(self, column: Column) -> Callable[[Any], Any]:
        return _ENCODERS.get(column.type, _plain)

    def filter_value(self, column: Column, value: Any) -> Any:
        if column.type is ColumnType.BOOLEAN:
            return int(value)
        return comparable_value(column.type, value)

    def decoder(self, kind: ColumnType) -> Decoder:
        if kind is ColumnType.BOOLEAN:
            return bool
        if kind in JSON_TYPES:
            return pydantic_core.from_json  # the JSON this module wrote, read in a sixth of json.loads' time
        return _identity

    def order(self, col: str, descending: bool) -> str:
        return f"{col} {'DESC' if descending else 'ASC'}"

    def is_empty(self, col: str, kind: ColumnType) -> str:
        return f"({col} IS NULL OR {col} = '' OR {col} = '[]')"

    def json_any(self, col: str, values: list[str]) -> tuple[str, list[Any]]:
        marks = ", ".join("?" * len(values))
        return f"EXISTS (SELECT 1 FROM json_each({col}) WHERE value IN ({marks}))", list(values)

    def contains(self, col: str) -> str:
        return f"{col} LIKE ? ESCAPE '\\'"


class PostgresDialect(Dialect):
    """PostgreSQL: native types (numeric, boolean, jsonb, date, time, timestamptz), text in byte order.

    Text columns use the "C" collation so that sorting and comparisons are byte order, as in SQLite.
    Values are bound as text and cast in SQL, so that numbers keep every digit (a float bound as
    float8 would be cut to 15 significant digits by the numeric cast).
    """

    name = "postgresql"
    native_prefix = "postgresql"
    TYPES: ClassVar[dict[ColumnType, str]] = {
        ColumnType.NUMBER: "numeric",
        ColumnType.SERIAL: "bigint",
        ColumnType.BOOLEAN: "boolean",
        ColumnType.MULTISELECT: "jsonb",
        ColumnType.REFERENCE: "jsonb",
        ColumnType.DATE: "date",
        ColumnType.TIME: "time",
        ColumnType.DATETIME: "timestamptz",
    }
    TEXT_TYPE = 'text COLLATE "C"'

    def param(self, kind: ColumnType) -> str:
        return self.cast("%s", kind)

    def cast(self, expr: str, kind: ColumnType) -> str:
        """`expr` (text) as the SQL type of a column of this type."""
        cast = self.TYPES.get(kind)
        return f"{expr}::{cast}" if cast else expr

    def filter_param(self, kind: ColumnType) -> str:
        # A filter may compare a SERIAL with 1.5 or with a whole number beyond bigint.
        return "%s::numeric" if kind is ColumnType.SERIAL else self.param(kind)

    def column_type(self, kind: ColumnType) -> str:
        return self.TYPES.get(kind, self.TEXT_TYPE)

    def encode(self, column: Column, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError(NUL_MESSAGE)
        return pg_text(column, encode_value(column, value))

    def filter_value(self, column: Column, value: Any) -> Any:
        kind = column.type
        if kind is ColumnType.BOOLEAN:
            return "true" if value else "false"
        if kind in (ColumnType.NUMBER, ColumnType.SERIAL):
            return number_text(value)
        return comparable_value(kind, value)

    def decoder(self, kind: ColumnType) -> Decoder:
        return _PG_DECODERS.get(kind, _identity)

    def order(self, col: str, descending: bool) -> str:
        # SQLite puts NULLs first in ascending order and last in descending order.
        return f"{col} DESC NULLS LAST" if descending else f"{col} ASC NULLS FIRST"

    def is_empty(self, col: str, kind: ColumnType) -> str:
        if kind in JSON_TYPES:
            return f"({col} IS NULL OR {col} = '[]'::jsonb)"
        if kind in self.TYPES:
            return f"({col} IS NULL)"
        return f"({col} IS NULL OR {col} = '')"

    def json_any(self, col: str, values: list[str]) -> tuple[str, list[Any]]:
        return f"{col} ?| %s::text[]", [list(values)]

    def contains(self, col: str) -> str:
        return f"{col} ILIKE %s ESCAPE '\\'"


def pg_text(column: Column, value: Any) -> str | None:
    """A value in the form `encode_value` gives, as the text PostgreSQL casts to the column's type."""
    if value is None:
        return None
    kind = column.type
    if kind is ColumnType.BOOLEAN:
        return "true" if value else "false"
    if kind in (ColumnType.NUMBER, ColumnType.SERIAL):
        return number_text(value)
    return str(value)


NUL_MESSAGE = "text contains the NUL character (\\u0000), which PostgreSQL cannot store"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(isinstance(item, str) and "\x00" in item for item in value)
    return False


def number_text(value: Any) -> str:
    """Exact decimal text of a JSON number: repr of a float is the shortest text that reads back the same."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _pg_number(value: Decimal) -> int | float:
    """numeric as the JSON SQLite gives: an int when whole and within 64 bits, a float otherwise."""
    if value == value.to_integral_value() and INT64_RANGE[0] <= value <= INT64_RANGE[1]:
        return int(value)
    return float(value)


def _pg_time(value: time) -> str:
    return value.strftime("%H:%M:%S")


def _pg_date(value: date) -> str:
    return value.isoformat()


_PG_DECODERS: dict[ColumnType, Decoder] = {
    ColumnType.NUMBER: _pg_number,
    ColumnType.DATE: _pg_date,
    ColumnType.TIME: _pg_time,
    ColumnType.DATETIME: format_datetime,
}

SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()


# -- value conversion -----------------------------------------------------------------------------


def encode_value(column: Column, value: Any) -> Any:
    """A validated value as the store keeps it (SQLite's form; PostgreSQL turns it into cast text)."""
    return None if value is None else _ENCODERS.get(column.type, _plain)(value)


def _number(value: Any) -> Any:
    if isinstance(value, int) and not INT64_RANGE[0] <= value <= INT64_RANGE[1]:
        raise ValueError(f"{value} is outside the range of whole numbers the store keeps exactly")
    return value


def _reference(value: Any) -> str:
    return json_list_text(as_id_list(value))


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        check_encodable(value)
    return value


# json.dumps(value, ensure_ascii=False) without building a JSON encoder on every call.
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False).encode


def json_list_text(value: Any) -> str:
    """A JSON array as the store keeps it: json.dumps(value, ensure_ascii=False), byte for byte (", " between
    items), which stores written by every earlier version hold. A list of strings (every MULTISELECT and
    REFERENCE value) is joined directly, about ten times faster than json.dumps."""
    if type(value) is list and all(type(item) is str for item in value):
        return "[" + ", ".join(map(encode_basestring, value)) + "]"
    return _JSON_TEXT(value)


def check_encodable(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text contains characters that are not valid Unicode (lone surrogates)") from exc


def as_id_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# Each type's conversion, looked up once per value rather than tested branch by branch (encode_row runs it for
# every value of every record written).
_ENCODERS: dict[ColumnType, Callable[[Any], Any]] = {
    ColumnType.BOOLEAN: int,
    ColumnType.NUMBER: _number,
    ColumnType.MULTISELECT: json_list_text,
    ColumnType.REFERENCE: _reference,
    ColumnType.DATETIME: utc_datetime,
    ColumnType.TIME: normalize_time,
}


def _identity(value: Any) -> Any:
    return value


def comparable_value(kind: ColumnType, value: Any) -> Any:
    """A filter value in the form the store keeps (UTC date-times, HH:MM:SS times), on either engine."""
    if kind is ColumnType.DATETIME:
        return utc_datetime(value)
    if kind is ColumnType.TIME:
        return normalize_time(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def record_key(record_id: Any) -> int:
    """Record ids are integers in the store, written canonically ("7", not " 7", "07" or "7.0");
    anything else becomes 0, which no record has."""
    text = str(record_id)
    canonical = text.isascii() and text.isdigit() and not text.startswith("0") and len(text) < 19
    return int(text) if canonical else 0


def record_not_found(table: Table, record_id: Any) -> TablesError:
    return not_found(
        f"No record with id {record_id!s} in table '{table.name}'.",
        hint="listRecords shows the ids that exist.",
    )


def missing_records(table: Table, missing: list[str]) -> TablesError:
    return not_found(
        f"No record with id {', '.join(missing)} in table '{table.name}'; nothing was deleted.",
        hint="Remove the unknown ids (listRecords shows what exists) and call again.",
    )


def encode_rows(dialect: Dialect, table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows' values as bound for a write (see `encode_row`), each column's encoder looked up once for them all."""
    encoders = _row_encoders(dialect, table)
    return [_encode_with(encoders, row, index) for index, row in enumerate(rows)]


def encode_row(dialect: Dialect, table: Table, row: dict[str, Any], index: int | None) -> dict[str, Any]:
    """A row's values as bound for a write; every value that cannot be stored is one field error."""
    return _encode_with(_row_encoders(dialect, table), row, index)


def _row_encoders(dialect: Dialect, table: Table) -> dict[str, Callable[[Any], Any]]:
    return {column.name: dialect.value_encoder(column) for column in table.columns}


def _encode_with(encoders: dict[str, Callable[[Any], Any]], row: dict[str, Any], index: int | None) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    problems: list[FieldError] = []
    for name, value in row.items():
        encoder = encoders.get(name)
        if encoder is None:  # schema validation ran before; this is a programming error guard
            raise invalid_argument(f"Unknown column '{name}'.")
        if value is None or value == "" or value == []:
            encoded[name] = None  # an empty value is no value: stored as NULL, left out of records, found by isEmpty
            continue
        try:
            encoded[name] = encoder(value)
        except ValueError as exc:
            problems.append(FieldError(name, str(exc), record=index))
    if problems:
        raise invalid_argument("Some values cannot be stored; nothing was written.", problems)
    return encoded


# -- references -----------------------------------------------------------------------------------


def wanted_references(table: Table, rows: list[dict[str, Any]]) -> list[tuple[Column, dict[int, list[str]], list[int]]]:
    """For each REFERENCE column: the ids each row points at, and the integer keys to look up."""
    out = []
    for column in table.columns:
        if column.type is not ColumnType.REFERENCE or not column.reference_table:
            continue
        wanted = {index: as_id_list(row[column.name]) for index, row in enumerate(rows) if row.get(column.name)}
        keys: set[int] = set()
        for ids in wanted.values():
            keys.update(key for key in map(record_key, ids) if isinstance(key, int))
        if wanted:
            out.append((column, wanted, sorted(keys)))
    return out


def reference_problems(
    column: Column, wanted: dict[int, list[str]], found: set[int], in_batch: bool
) -> list[FieldError]:
    problems = []
    for index, refs in wanted.items():
        missing = [ref for ref in refs if record_key(ref) not in found]
        if missing:
            problems.append(
                FieldError(
                    column.name,
                    f"no record {', '.join(missing)} in the referenced table",
                    record=index if in_batch else None,
                )
            )
    return problems


def raise_reference_problems(problems: list[FieldError]) -> None:
    if problems:
        raise invalid_argument("Some references point at records that do not exist; nothing was written.", problems)


# -- names and columns ----------------------------------------------------------------------------


def check_table_name(name: str) -> list[FieldError]:
    if not name.strip():
        return [FieldError("name", "a name cannot be empty")]
    if len(name) > MAX_NAME_LENGTH:
        return [FieldError("name", f"a name has at most {MAX_NAME_LENGTH} characters")]
    if any(ord(ch) < 32 for ch in name):
        return [FieldError("name", "a name cannot contain control characters")]
    try:
        check_encodable(name)
    except ValueError as exc:
        return [FieldError("name", str(exc))]
    return []


def check_options(spec: ColumnSpec, at: str) -> list[FieldError]:
    if spec.type in (ColumnType.SELECT, ColumnType.MULTISELECT):
        options = spec.options or ()
        if not options:
            return [FieldError(f"{at}.options", f"{spec.type} columns need a non-empty list of options")]
        if len(set(options)) != len(options):
            return [FieldError(f"{at}.options", "options must be unique")]
        return []
    if spec.options:
        return [FieldError(f"{at}.options", "only SELECT and MULTISELECT columns take options")]
    return []


def check_new_table(name: str, columns: list[ColumnSpec], tables: dict[str, Table]) -> list[FieldError]:
    """Problems with a createTable request; `tables` maps casefolded names to the existing tables."""
    problems = check_table_name(name)
    if name.casefold() in tables:
        problems.append(FieldError("name", f"a table named '{tables[name.casefold()].name}' already exists"))
    return problems + check_new_columns(columns, [], tables)


def check_adding_columns(table: Table, columns: list[ColumnSpec], tables: dict[str, Table]) -> None:
    """Refuse adding `columns` to `table` given every table the store holds now (by casefolded name), read under
    the write lock: another server may have just dropped the table or added the same name."""
    current = next((t for t in tables.values() if t.id == table.id), None)
    if current is None:
        raise not_found(f"Table '{table.name}' no longer exists.", hint="Call listTables to see current tables.")
    problems = check_new_columns(columns, [col.name for col in current.columns], tables, "columns")
    if problems:
        raise invalid_argument(f"Cannot add columns to '{table.name}'.", problems)


def check_new_columns(
    columns: list[ColumnSpec], taken: list[str], tables: dict[str, Table], where: str = "columns"
) -> list[FieldError]:
    problems: list[FieldError] = []
    seen = {name.casefold() for name in taken}
    for i, spec in enumerate(columns):
        at = f"{where}[{i}]"
        problems += [FieldError(f"{at}.name", fe.message) for fe in check_table_name(spec.name)]
        if spec.name.casefold() in seen:
            problems.append(FieldError(f"{at}.name", f"column '{spec.name}' appears twice or already exists"))
        seen.add(spec.name.casefold())
        if spec.type not in CREATABLE_TYPES:
            allowed = [t.value for t in CREATABLE_TYPES]
            problems.append(
                FieldError(f"{at}.type", f"the embedded store cannot create {spec.type} columns", allowed=allowed)
            )
        problems += check_options(spec, at)
        if spec.unique and spec.type not in UNIQUE_TYPES:
            allowed = [t.value for t in UNIQUE_TYPES]
            problems.append(FieldError(f"{at}.unique", f"a {spec.type} column cannot be unique", allowed=allowed))
        if spec.type is ColumnType.REFERENCE:
            target = spec.reference_table
            if not target or not any(target in (t.id, t.name) for t in tables.values()):
                names = [t.name for t in tables.values()]
                problems.append(FieldError(f"{at}.referenceTable", f"unknown table {target!r}", allowed=names))
        elif spec.reference_table:
            problems.append(FieldError(f"{at}.referenceTable", "only REFERENCE columns take referenceTable"))
    return problems


def column_rows(
    table_id: str, first_position: int, columns: list[ColumnSpec], tables: dict[str, Table]
) -> list[tuple[Any, ...]]:
    """The `_tm_columns` rows of new columns, numbered from `first_position`."""
    rows = []
    for position, spec in enumerate(columns, start=first_position):
        reference = None
        if spec.reference_table:
            reference = next(t.id for t in tables.values() if spec.reference_table in (t.id, t.name))
        rows.append(
            (
                table_id,
                position,
                spec.name,
                spec.type.value,
                int(spec.required and spec.type is not ColumnType.SERIAL),
                json.dumps(list(spec.options), ensure_ascii=False) if spec.options else None,
                spec.description,
                reference,
                f"c{position}",
                int(spec.unique),
            )
        )
    return rows


# `_tm_columns` in the order `column_rows` gives (is_unique came later: stores made before it gain it on open).
INSERT_COLUMN_FIELDS = (
    "table_id, position, name, type, required, options, description, reference_table, sql_name, is_unique"
)
COLUMN_FIELDS = "table_id, name, type, required, options, description, reference_table, sql_name, is_unique"


def read_tables(
    dialect: Dialect, column_list: Sequence[Sequence[Any]], table_list: Sequence[Sequence[Any]]
) -> tuple[list[Table], dict[str, dict[str, str]]]:
    """Tables from `SELECT COLUMN_FIELDS FROM _tm_columns` and `SELECT id, name, description FROM _tm_tables`."""
    columns: dict[str, list[Column]] = {}
    sql_names: dict[str, dict[str, str]] = {}
    for row in column_list:
        table_id, name, kind, required, options, description, reference, sql_name, unique = row
        column_type = ColumnType(kind)
        columns.setdefault(table_id, []).append(
            Column(
                name=name,
                type=column_type,
                native_type=f"{dialect.native_prefix}:{kind}",
                required=bool(required),
                read_only=column_type is ColumnType.SERIAL,
                options=tuple(json.loads(options)) if options else None,
                description=description,
                reference_table=reference,
                unique=bool(unique),
            )
        )
        sql_names.setdefault(table_id, {})[name] = sql_name
    tables = [
        Table(id=table_id, name=name, description=description, columns=tuple(columns.get(table_id, ())))
        for table_id, name, description in table_list
    ]
    return tables, sql_names


# -- reads ----------------------------------------------------------------------------------------


_SELECTS_KEPT = 256
_selects: dict[tuple[str, str, tuple[str, ...] | None], tuple[Table, dict[str, str], tuple[str, str, RowDecoder]]] = {}


def select_sql(
    dialect: Dialect, table: Table, sql_names: dict[str, str], fields: tuple[str, ...] | None
) -> tuple[str, str, RowDecoder]:
    """(column list, `SELECT ... FROM "t_<id>"`, row decoder) for a table's records, built once per table as
    loaded (a reload makes new Table and name objects) and fields: every getRecord asks for it."""
    key = (dialect.name, table.id, fields)
    kept = _selects.get(key)
    if kept is not None and kept[0] is table and kept[1] is sql_names:
        return kept[2]
    built = _build_select(dialect, table, sql_names, fields)
    if len(_selects) >= _SELECTS_KEPT:
        _selects.clear()
    _selects[key] = (table, sql_names, built)
    return built


def value_decoder(dialect: Dialect, kind: ColumnType) -> Decoder | None:
    """The read's decoder of a column type; None where the stored value is the value (no call per value)."""
    decoder = dialect.decoder(kind)
    return None if decoder is _identity else decoder


def _build_select(
    dialect: Dialect, table: Table, sql_names: dict[str, str], fields: tuple[str, ...] | None
) -> tuple[str, str, RowDecoder]:
    columns = [col for col in table.columns if fields is None or col.name in fields]
    sql_columns = ", ".join(["id", "created_at", "updated_at", "version", *(f'"{sql_names[c.name]}"' for c in columns)])
    names = [col.name for col in columns]
    decoders = [value_decoder(dialect, c.type) for c in columns]

    def decode(row: Sequence[Any]) -> Record:
        values: dict[str, Any] = {}
        for name, decoder, raw in zip(names, decoders, row[4:], strict=True):
            if raw is not None:
                values[name] = raw if decoder is None else decoder(raw)
        return {"id": str(row[0]), "fields": values, "created_at": row[1], "updated_at": row[2], "version": str(row[3])}

    return sql_columns, f"SELECT {sql_columns} FROM {table_sql_name(table.id)}", decode


def filter_sql(dialect: Dialect, node: FilterNode, sql_names: dict[str, str]) -> tuple[str, list[Any]]:
    if isinstance(node, BoolGroup):
        parts = [filter_sql(dialect, item, sql_names) for item in node.items]
        joiner = " AND " if node.kind == "and" else " OR "
        return "(" + joiner.join(part for part, _ in parts) + ")", [p for _, params in parts for p in params]
    return _condition_sql(dialect, node, f'"{sql_names[node.column.name]}"')


def _condition_sql(dialect: Dialect, cond: Condition, col: str) -> tuple[str, list[Any]]:
    kind, op = cond.column.type, cond.op
    if op in ("isEmpty", "isNotEmpty"):
        empty = dialect.is_empty(col, kind)
        return (empty if op == "isEmpty" else f"NOT {empty}"), []
    if kind in JSON_TYPES:
        values = cond.value if isinstance(cond.value, list) else [cond.value]
        return dialect.json_any(col, [str(v) for v in values])
    if op == "contains":
        escaped = str(cond.value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return dialect.contains(col), [f"%{escaped}%"]
    mark = dialect.filter_param(kind)
    if op == "in":
        values = [dialect.filter_value(cond.column, v) for v in cond.value]
        return f"{col} IN ({', '.join([mark] * len(values))})", values
    value = dialect.filter_value(cond.column, cond.value)
    if op == "ne":
        return f"({col} IS NULL OR {col} <> {mark})", [value]
    sql_op = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
    return f"{col} {sql_op} {mark}", [value]


class ListPlan:
    """One listRecords page: the SQL, its parameters, and how to turn the rows into a Page."""

    __slots__ = ("decode", "keyset", "limit", "offset", "params", "scope", "sql")

    def __init__(self, dialect: Dialect, table: Table, sql_names: dict[str, str], query: ListQuery) -> None:
        _, select, self.decode = select_sql(dialect, table, sql_names, query.fields)
        ph = dialect.param(ColumnType.TEXT)
        where: list[str] = []
        params: list[Any] = []
        if query.filter is not None:
            clause, clause_params = filter_sql(dialect, query.filter, sql_names)
            where.append(clause)
            params += clause_params
        self.scope = query_scope(table.id, query)
        self.offset, after_id = read_positions(query.cursor, self.scope)
        self.keyset = not query.sort
        if self.keyset and after_id is not None:
            where.append(f"id > {ph}")
            params.append(after_id)
        order = [dialect.order(f'"{sql_names[key.column.name]}"', key.descending) for key in query.sort]
        order.append("id ASC")
        sql = select + (f" WHERE {' AND '.join(where)}" if where else "") + f" ORDER BY {', '.join(order)}"
        sql += f" LIMIT {ph}" + ("" if self.keyset else f" OFFSET {ph}")
        params.append(query.limit + 1)
        if not self.keyset:
            params.append(self.offset)
        self.sql, self.params, self.limit = sql, params, query.limit

    def page(self, rows: Sequence[Sequence[Any]]) -> Page:
        records = [self.decode(row) for row in rows[: self.limit]]
        next_cursor = None
        if len(rows) > self.limit:
            last_id = int(records[-1]["id"])
            positions = {"o": self.offset + self.limit, "a": last_id if self.keyset else None}
            next_cursor = CURSORS.encode(self.scope, positions)
        return Page(records=records, next_cursor=next_cursor)


# -- cursors --------------------------------------------------------------------------------------


# One key for every embedded store, on either engine and in every process, so that cursors survive
# restarts, replicas and differently spelled connection strings; table ids are random per store, so
# the scope already keeps one store's cursors off another's tables.
CURSORS = CursorCodec(store_key("embedded store"))


def read_positions(cursor: str | None, scope: str) -> tuple[int, int | None]:
    """The offset and last id a cursor carries (0 and None without a cursor)."""
    if cursor is None:
        return 0, None
    positions = CURSORS.decode(cursor, scope)
    offset, after_id = positions.get("o"), positions.get("a")
    if isinstance(offset, int) and _is_int(offset) and offset >= 0 and (after_id is None or _is_int(after_id)):
        return offset, after_id
    raise not_ours()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and INT64_RANGE[0] <= value <= INT64_RANGE[1]
