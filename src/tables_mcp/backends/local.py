"""The embedded store: tables kept as real, typed SQLite tables in one file, no account, no network.

Each user table is a SQL table `t_<id>` with one typed SQL column per table column (named `c<n>`,
so user-chosen names never reach SQL text); metadata lives in `_tm_tables` / `_tm_columns`.
All SQL runs on one connection in a worker thread, one operation at a time, each operation in
its own transaction; every value is a bound parameter.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from ..errors import ErrorCode, FieldError, TablesError, invalid_argument, not_found
from ..model import (
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

NATIVE_SQL_TYPES: dict[ColumnType, str] = {
    ColumnType.NUMBER: "NUMERIC",
    ColumnType.SERIAL: "INTEGER",
    ColumnType.BOOLEAN: "INTEGER",
}
JSON_TYPES = frozenset({ColumnType.MULTISELECT, ColumnType.REFERENCE})
CREATABLE_TYPES = tuple(
    t
    for t in ColumnType
    if t not in (ColumnType.FORMULA, ColumnType.AI, ColumnType.FILE, ColumnType.SUBTABLE, ColumnType.UNKNOWN)
)
MAX_NAME_LENGTH = 100
SQLITE_INT_RANGE = (-(2**63), 2**63 - 1)
T = TypeVar("T")

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS _tm_tables (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT,
    created_at TEXT NOT NULL, next_column INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS _tm_columns (
    table_id TEXT NOT NULL REFERENCES _tm_tables(id), position INTEGER NOT NULL, name TEXT NOT NULL,
    type TEXT NOT NULL, required INTEGER NOT NULL, options TEXT, description TEXT, reference_table TEXT,
    sql_name TEXT NOT NULL, PRIMARY KEY (table_id, position), UNIQUE (table_id, name));
CREATE TABLE IF NOT EXISTS _tm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO _tm_meta VALUES ('schema_version', '0');
"""


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class LocalBackend:
    """SQLite implementation of the Backend protocol."""

    name = "local"
    capabilities = Capabilities(
        create_table=True,
        atomic_create=True,
        max_create_batch=1000,
        max_page_size=500,
        notes=("Creates are all-or-nothing.", "'contains' on text is a case-insensitive substring match."),
    )

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = anyio.Lock()
        self._thread_lock = threading.Lock()
        # SQL names of each table's columns, by table id and column name (refreshed with metadata).
        self._sql_names: dict[str, dict[str, str]] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        await anyio.to_thread.run_sync(self._open_sync)

    def _open_sync(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(SCHEMA_SQL)
        except sqlite3.Error as exc:
            raise TablesError(ErrorCode.UNAVAILABLE, f"Cannot open the embedded store at {self.path}: {exc}") from exc
        self._conn = conn

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        """Run one store operation in the worker thread, one at a time."""
        async with self._lock:
            return await anyio.to_thread.run_sync(self._guarded, func, args)

    def _guarded(self, func: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._thread_lock, _map_sqlite_errors():
            return func(*args)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise TablesError(ErrorCode.UNAVAILABLE, "The embedded store is not open.")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- metadata --------------------------------------------------------------------------------

    async def schema_token(self) -> str:
        return await self._run(self._schema_token_sync)

    def _schema_token_sync(self) -> str:
        row = self.conn.execute("SELECT value FROM _tm_meta WHERE key = 'schema_version'").fetchone()
        return str(row[0])

    async def list_tables(self) -> list[Table]:
        return await self._run(self._list_tables_sync)

    def _list_tables_sync(self) -> list[Table]:
        conn = self.conn
        columns: dict[str, list[Column]] = {}
        sql_names: dict[str, dict[str, str]] = {}
        for row in conn.execute(
            "SELECT table_id, name, type, required, options, description, reference_table, sql_name "
            "FROM _tm_columns ORDER BY table_id, position"
        ):
            table_id, name, kind, required, options, description, reference, sql_name = row
            column_type = ColumnType(kind)
            columns.setdefault(table_id, []).append(
                Column(
                    name=name,
                    type=column_type,
                    native_type=f"sqlite:{kind}",
                    required=bool(required),
                    read_only=column_type is ColumnType.SERIAL,
                    options=tuple(json.loads(options)) if options else None,
                    description=description,
                    reference_table=reference,
                )
            )
            sql_names.setdefault(table_id, {})[name] = sql_name
        self._sql_names = sql_names
        return [
            Table(id=table_id, name=name, description=description, columns=tuple(columns.get(table_id, ())))
            for table_id, name, description in conn.execute(
                "SELECT id, name, description FROM _tm_tables ORDER BY created_at, id"
            )
        ]

    async def create_table(self, name: str, description: str | None, columns: list[ColumnSpec]) -> Table:
        table_id = await self._run(self._create_table_sync, name, description, columns)
        return await self._table_by_id(table_id)

    def _create_table_sync(self, name: str, description: str | None, columns: list[ColumnSpec]) -> str:
        problems = _check_table_name(name)
        existing = {t.name.casefold(): t for t in self._list_tables_sync()}
        if name.casefold() in existing:
            problems.append(FieldError("name", f"a table named '{existing[name.casefold()].name}' already exists"))
        problems += self._check_new_columns(columns, [], existing)
        if problems:
            raise invalid_argument(f"Cannot create table '{name}'.", problems)
        table_id = "tbl" + secrets.token_hex(4)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO _tm_tables (id, name, description, created_at) VALUES (?, ?, ?, ?)",
                (table_id, name, description, now_iso()),
            )
            conn.execute(
                f'CREATE TABLE "t_{table_id}" (id INTEGER PRIMARY KEY AUTOINCREMENT, '
                "created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
            )
            self._add_columns_in(conn, table_id, columns, existing)
        return table_id

    async def add_columns(self, table: Table, columns: list[ColumnSpec]) -> Table:
        await self._run(self._add_columns_sync, table, columns)
        return await self._table_by_id(table.id)

    def _add_columns_sync(self, table: Table, columns: list[ColumnSpec]) -> None:
        existing = {t.name.casefold(): t for t in self._list_tables_sync()}
        problems = self._check_new_columns(columns, [col.name for col in table.columns], existing, "columns")
        if problems:
            raise invalid_argument(f"Cannot add columns to '{table.name}'.", problems)
        with self._transaction() as conn:
            self._add_columns_in(conn, table.id, columns, existing)

    def _check_new_columns(
        self, columns: list[ColumnSpec], taken: list[str], tables: dict[str, Table], where: str = "columns"
    ) -> list[FieldError]:
        problems: list[FieldError] = []
        seen = {name.casefold() for name in taken}
        for i, spec in enumerate(columns):
            at = f"{where}[{i}]"
            problems += [FieldError(f"{at}.name", fe.message) for fe in _check_table_name(spec.name)]
            if spec.name.casefold() in seen:
                problems.append(FieldError(f"{at}.name", f"column '{spec.name}' appears twice or already exists"))
            seen.add(spec.name.casefold())
            if spec.type not in CREATABLE_TYPES:
                allowed = [t.value for t in CREATABLE_TYPES]
                problems.append(
                    FieldError(f"{at}.type", f"the embedded store cannot create {spec.type} columns", allowed=allowed)
                )
            problems += _check_options(spec, at)
            if spec.type is ColumnType.REFERENCE:
                target = spec.reference_table
                if not target or not any(target in (t.id, t.name) for t in tables.values()):
                    names = [t.name for t in tables.values()]
                    problems.append(FieldError(f"{at}.referenceTable", f"unknown table {target!r}", allowed=names))
            elif spec.reference_table:
                problems.append(FieldError(f"{at}.referenceTable", "only REFERENCE columns take referenceTable"))
        return problems

    def _add_columns_in(
        self, conn: sqlite3.Connection, table_id: str, columns: list[ColumnSpec], tables: dict[str, Table]
    ) -> None:
        (position,) = conn.execute("SELECT next_column FROM _tm_tables WHERE id = ?", (table_id,)).fetchone()
        for spec in columns:
            sql_name = f"c{position}"
            reference = None
            if spec.reference_table:
                reference = next(t.id for t in tables.values() if spec.reference_table in (t.id, t.name))
            conn.execute(
                f'ALTER TABLE "t_{table_id}" ADD COLUMN "{sql_name}" {NATIVE_SQL_TYPES.get(spec.type, "TEXT")}'
            )
            conn.execute(
                "INSERT INTO _tm_columns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    table_id,
                    position,
                    spec.name,
                    spec.type.value,
                    int(spec.required and spec.type is not ColumnType.SERIAL),
                    json.dumps(list(spec.options), ensure_ascii=False) if spec.options else None,
                    spec.description,
                    reference,
                    sql_name,
                ),
            )
            position += 1
        conn.execute("UPDATE _tm_tables SET next_column = ? WHERE id = ?", (position, table_id))
        conn.execute("UPDATE _tm_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'schema_version'")

    async def _table_by_id(self, table_id: str) -> Table:
        for table in await self.list_tables():
            if table.id == table_id:
                return table
        raise not_found(f"Table {table_id} no longer exists.")

    def _sql(self, table: Table) -> dict[str, str]:
        names = self._sql_names.get(table.id)
        if names is None or len(names) != len(table.columns):
            self._list_tables_sync()
            names = self._sql_names.get(table.id)
        if names is None:
            raise not_found(f"Table '{table.name}' no longer exists.", hint="Call listTables to see current tables.")
        return names

    # -- records ---------------------------------------------------------------------------------

    async def create_records(self, table: Table, rows: list[dict[str, Any]]) -> list[Record]:
        return await self._run(self._create_sync, table, rows)

    def _create_sync(self, table: Table, rows: list[dict[str, Any]]) -> list[Record]:
        sql_names = self._sql(table)
        encoded = [self._encode_row(table, row, index) for index, row in enumerate(rows)]
        self._check_references(table, rows)
        writable = [col for col in table.columns if col.writable]
        serials = [col for col in table.columns if col.type is ColumnType.SERIAL]
        names = ["created_at", "updated_at"] + [sql_names[c.name] for c in writable + serials]
        placeholders = ", ".join("?" * len(names))
        statement = f'INSERT INTO "t_{table.id}" ({", ".join(names)}) VALUES ({placeholders})'
        stamp = now_iso()
        with self._transaction() as conn:
            counters = [self._max_serial(conn, table, sql_names[col.name]) for col in serials]
            params = []
            for offset, row in enumerate(encoded):
                values = [row.get(col.name) for col in writable]
                params.append([stamp, stamp, *values, *(count + offset + 1 for count in counters)])
            first_id = self._next_id(conn, table)
            conn.executemany(statement, params)
            return self._fetch_range(conn, table, first_id, len(params))

    def _next_id(self, conn: sqlite3.Connection, table: Table) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (f"t_{table.id}",)).fetchone()
        return (row[0] if row else 0) + 1

    def _max_serial(self, conn: sqlite3.Connection, table: Table, sql_name: str) -> int:
        (value,) = conn.execute(f'SELECT COALESCE(MAX("{sql_name}"), 0) FROM "t_{table.id}"').fetchone()
        return int(value)

    def _fetch_range(self, conn: sqlite3.Connection, table: Table, first_id: int, count: int) -> list[Record]:
        select, decode = self._select(table, None)
        rows = conn.execute(f"{select} WHERE id >= ? AND id < ? ORDER BY id", (first_id, first_id + count))
        return [decode(row) for row in rows]

    async def get_record(self, table: Table, record_id: str) -> Record:
        return await self._run(self._get_sync, table, record_id)

    def _get_sync(self, table: Table, record_id: str) -> Record:
        select, decode = self._select(table, None)
        row = self.conn.execute(f"{select} WHERE id = ?", (_record_key(record_id),)).fetchone()
        if row is None:
            raise _record_not_found(table, record_id)
        return decode(row)

    async def patch_record(self, table: Table, record_id: str, fields: dict[str, Any]) -> Record:
        return await self._run(self._patch_sync, table, record_id, fields)

    def _patch_sync(self, table: Table, record_id: str, fields: dict[str, Any]) -> Record:
        sql_names = self._sql(table)
        encoded = self._encode_row(table, fields, None)
        self._check_references(table, [fields], in_batch=False)
        assignments = ", ".join(f'"{sql_names[name]}" = ?' for name in encoded)
        select, decode = self._select(table, None)
        returning = select.removeprefix("SELECT ").split(" FROM ")[0]
        with self._transaction() as conn:
            row = conn.execute(
                f'UPDATE "t_{table.id}" SET {assignments}, updated_at = ? WHERE id = ? RETURNING {returning}',
                (*encoded.values(), now_iso(), _record_key(record_id)),
            ).fetchone()
            if row is None:
                raise _record_not_found(table, record_id)
        return decode(row)

    async def delete_records(self, table: Table, record_ids: list[str]) -> list[str]:
        return await self._run(self._delete_sync, table, record_ids)

    def _delete_sync(self, table: Table, record_ids: list[str]) -> list[str]:
        keys = [_record_key(rid) for rid in record_ids]
        marks = ", ".join("?" * len(keys))
        with self._transaction() as conn:
            found = {row[0] for row in conn.execute(f'SELECT id FROM "t_{table.id}" WHERE id IN ({marks})', keys)}
            missing = [str(rid) for rid, key in zip(record_ids, keys, strict=True) if key not in found]
            if missing:
                raise not_found(
                    f"No record with id {', '.join(missing)} in table '{table.name}'; nothing was deleted.",
                    hint="Remove the unknown ids (listRecords shows what exists) and call again.",
                )
            conn.execute(f'DELETE FROM "t_{table.id}" WHERE id IN ({marks})', keys)
        return [str(key) for key in dict.fromkeys(keys)]

    async def list_records(self, table: Table, query: ListQuery) -> Page:
        return await self._run(self._list_sync, table, query)

    def _list_sync(self, table: Table, query: ListQuery) -> Page:
        sql_names = self._sql(table)
        select, decode = self._select(table, query.fields)
        where: list[str] = []
        params: list[Any] = []
        if query.filter is not None:
            clause, clause_params = _filter_sql(query.filter, sql_names)
            where.append(clause)
            params += clause_params
        fingerprint = _fingerprint(query)
        offset, after_id = _decode_cursor(query.cursor, fingerprint)
        keyset = not query.sort
        if keyset and after_id is not None:
            where.append("id > ?")
            params.append(after_id)
        order = [f'"{sql_names[key.column.name]}" {"DESC" if key.descending else "ASC"}' for key in query.sort]
        order.append("id ASC")
        sql = select + (f" WHERE {' AND '.join(where)}" if where else "") + f" ORDER BY {', '.join(order)}"
        sql += " LIMIT ?" + ("" if keyset else " OFFSET ?")
        params.append(query.limit + 1)
        if not keyset:
            params.append(offset)
        rows = self.conn.execute(sql, params).fetchall()
        records = [decode(row) for row in rows[: query.limit]]
        next_cursor = None
        if len(rows) > query.limit:
            last_id = int(records[-1]["id"])
            next_cursor = _encode_cursor(fingerprint, offset + query.limit, last_id if keyset else None)
        return Page(records=records, next_cursor=next_cursor)

    # -- row encoding ----------------------------------------------------------------------------

    def _select(self, table: Table, fields: tuple[str, ...] | None) -> tuple[str, Callable[[Any], Record]]:
        sql_names = self._sql(table)
        columns = [col for col in table.columns if fields is None or col.name in fields]
        sql_columns = ", ".join(["id", "created_at", "updated_at", *(f'"{sql_names[c.name]}"' for c in columns)])
        decoders = [(col.name, _decoder(col.type)) for col in columns]

        def decode(row: tuple[Any, ...]) -> Record:
            values: dict[str, Any] = {}
            for (name, decoder), raw in zip(decoders, row[3:], strict=True):
                if raw is not None:
                    values[name] = decoder(raw)
            return {"id": str(row[0]), "fields": values, "created_at": row[1], "updated_at": row[2]}

        return f'SELECT {sql_columns} FROM "t_{table.id}"', decode

    def _encode_row(self, table: Table, row: dict[str, Any], index: int | None) -> dict[str, Any]:
        encoded: dict[str, Any] = {}
        problems: list[FieldError] = []
        for name, value in row.items():
            column = table.column(name)
            if column is None:  # schema validation ran before; this is a programming error guard
                raise invalid_argument(f"Unknown column '{name}'.")
            try:
                encoded[name] = _encode_value(column, value)
            except ValueError as exc:
                problems.append(FieldError(name, str(exc), record=index))
        if problems:
            raise invalid_argument("Some values cannot be stored; nothing was written.", problems)
        return encoded

    def _check_references(self, table: Table, rows: list[dict[str, Any]], in_batch: bool = True) -> None:
        problems: list[FieldError] = []
        for column in table.columns:
            if column.type is not ColumnType.REFERENCE or not column.reference_table:
                continue
            wanted = {index: _as_id_list(row[column.name]) for index, row in enumerate(rows) if row.get(column.name)}
            ids = sorted({_record_key(i) for ids in wanted.values() for i in ids}, key=str)
            if not ids:
                continue
            marks = ", ".join("?" * len(ids))
            target = f"t_{column.reference_table}"
            found = {row[0] for row in self.conn.execute(f'SELECT id FROM "{target}" WHERE id IN ({marks})', ids)}
            for index, refs in wanted.items():
                missing = [ref for ref in refs if _record_key(ref) not in found]
                if missing:
                    problems.append(
                        FieldError(
                            column.name,
                            f"no record {', '.join(missing)} in the referenced table",
                            record=index if in_batch else None,
                        )
                    )
        if problems:
            raise invalid_argument("Some references point at records that do not exist; nothing was written.", problems)


# -- value conversion -----------------------------------------------------------------------------


def _encode_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    if kind is ColumnType.BOOLEAN:
        return int(value)
    if kind is ColumnType.NUMBER:
        if isinstance(value, int) and not SQLITE_INT_RANGE[0] <= value <= SQLITE_INT_RANGE[1]:
            raise ValueError(f"{value} is outside the range of whole numbers the store keeps exactly")
        return value
    if kind is ColumnType.MULTISELECT:
        return json.dumps(value, ensure_ascii=False)
    if kind is ColumnType.REFERENCE:
        return json.dumps(_as_id_list(value), ensure_ascii=False)
    if kind is ColumnType.DATETIME:
        return normalize_datetime(value)
    if kind is ColumnType.TIME:
        return value if len(value) == 8 else value + ":00"
    if isinstance(value, str):
        _check_encodable(value)
    return value


def _check_encodable(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text contains characters that are not valid Unicode (lone surrogates)") from exc


def normalize_datetime(value: str) -> str:
    """UTC, second precision, fixed width, so that text order is time order."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_id_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _decoder(kind: ColumnType) -> Any:
    if kind is ColumnType.BOOLEAN:
        return bool
    if kind in JSON_TYPES:
        return json.loads
    return _identity


def _identity(value: Any) -> Any:
    return value


def _record_key(record_id: Any) -> int | str:
    """Record ids are integers in the store; anything else matches no record."""
    text = str(record_id)
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else text


def _record_not_found(table: Table, record_id: Any) -> TablesError:
    return not_found(
        f"No record with id {record_id!s} in table '{table.name}'.",
        hint="listRecords shows the ids that exist.",
    )


def _check_table_name(name: str) -> list[FieldError]:
    if not name.strip():
        return [FieldError("name", "a name cannot be empty")]
    if len(name) > MAX_NAME_LENGTH:
        return [FieldError("name", f"a name has at most {MAX_NAME_LENGTH} characters")]
    if any(ord(ch) < 32 for ch in name):
        return [FieldError("name", "a name cannot contain control characters")]
    try:
        _check_encodable(name)
    except ValueError as exc:
        return [FieldError("name", str(exc))]
    return []


def _check_options(spec: ColumnSpec, at: str) -> list[FieldError]:
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


# -- filters and cursors --------------------------------------------------------------------------


def _filter_sql(node: FilterNode, sql_names: dict[str, str]) -> tuple[str, list[Any]]:
    if isinstance(node, BoolGroup):
        parts = [_filter_sql(item, sql_names) for item in node.items]
        joiner = " AND " if node.kind == "and" else " OR "
        return "(" + joiner.join(part for part, _ in parts) + ")", [p for _, params in parts for p in params]
    return _condition_sql(node, f'"{sql_names[node.column.name]}"')


def _condition_sql(cond: Condition, col: str) -> tuple[str, list[Any]]:
    kind, op = cond.column.type, cond.op
    if op in ("isEmpty", "isNotEmpty"):
        empty = f"({col} IS NULL OR {col} = '' OR {col} = '[]')"
        return (empty if op == "isEmpty" else f"NOT {empty}"), []
    if kind in JSON_TYPES:
        values = cond.value if isinstance(cond.value, list) else [cond.value]
        values = [str(v) for v in values]
        marks = ", ".join("?" * len(values))
        return f"EXISTS (SELECT 1 FROM json_each({col}) WHERE value IN ({marks}))", values
    value = _filter_value(cond)
    if op == "contains":
        escaped = str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{col} LIKE ? ESCAPE '\\'", [f"%{escaped}%"]
    if op == "in":
        marks = ", ".join("?" * len(value))
        return f"{col} IN ({marks})", list(value)
    if op == "ne":
        return f"({col} IS NULL OR {col} <> ?)", [value]
    sql_op = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
    return f"{col} {sql_op} ?", [value]


def _filter_value(cond: Condition) -> Any:
    def one(value: Any) -> Any:
        if cond.column.type is ColumnType.BOOLEAN:
            return int(value)
        if cond.column.type is ColumnType.DATETIME:
            return normalize_datetime(value)
        if cond.column.type is ColumnType.TIME:
            return value if len(value) == 8 else value + ":00"
        if isinstance(value, date):
            return value.isoformat()
        return value

    return [one(v) for v in cond.value] if isinstance(cond.value, list) else one(cond.value)


def _fingerprint(query: ListQuery) -> str:
    shape = repr((query.filter, query.sort, query.fields))
    return hashlib.sha256(shape.encode()).hexdigest()[:12]


def _encode_cursor(fingerprint: str, offset: int, after_id: int | None) -> str:
    raw = json.dumps({"q": fingerprint, "o": offset, "a": after_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, fingerprint: str) -> tuple[int, int | None]:
    if cursor is None:
        return 0, None
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset, after_id, owner = int(raw["o"]), raw["a"], raw["q"]
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid_argument(
            "The cursor is not one this server issued.",
            [FieldError("cursor", "pass nextCursor from the previous listRecords result unchanged")],
        ) from exc
    if owner != fingerprint:
        raise invalid_argument(
            "The cursor belongs to a listRecords call with another filter, sort or fields.",
            [FieldError("cursor", "repeat the same filter, sort and fields when paging, or drop the cursor")],
        )
    return offset, after_id


@contextmanager
def _map_sqlite_errors() -> Iterator[None]:
    """The one place where SQLite failures become TablesErrors."""
    try:
        yield
    except TablesError:
        raise
    except sqlite3.IntegrityError as exc:
        raise TablesError(ErrorCode.CONFLICT, f"The store refused the change: {exc}") from exc
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise TablesError(
                ErrorCode.UNAVAILABLE, "The store is busy with another writer; retry shortly.", retry_after=1.0
            ) from exc
        raise TablesError(ErrorCode.BACKEND_ERROR, f"The store failed: {exc}") from exc
    except sqlite3.Error as exc:
        raise TablesError(ErrorCode.BACKEND_ERROR, f"The store failed: {exc}") from exc
    except (OverflowError, UnicodeEncodeError) as exc:
        raise invalid_argument(f"A value cannot be stored: {exc}") from exc
