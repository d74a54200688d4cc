"""The embedded store on SQLite (`SqliteStore`): tables kept as real, typed SQL tables in one file,
no account, no network.

The same store also runs on PostgreSQL (`postgres.PostgresStore`): same metadata tables, same typed
per-table tables, same behaviour and errors; `open_store` in this package picks the engine. SQL text
comes from `sql.py`, shared by both engines.

All SQL that writes, and every scan, runs on one connection in a worker thread, one operation at a time,
each operation in its own transaction; every value is a bound parameter. A read of one record by its key
runs on the event loop instead, on a second, read-only connection that never waits for a lock: in WAL mode
a reader does not wait for writers, and when SQLite says busy all the same, the read goes to the worker
thread, which waits as every other operation does.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import stamina

from ...aggregate import AggregateQuery, AggregateResult
from ...errors import ErrorCode, TablesError, invalid_argument, not_found, version_conflict
from ...model import Column, ColumnSpec, ColumnType, ListQuery, Page, Record, Table, Upserted, WriteProgress
from .grouping import EXACT_SUM_FUNCTION, AggregatePlan, ExactSum
from .keys import (
    raise_missing_required,
    raise_unique_problems,
    repeated_in_batch,
    taken_problem,
    unique_index_sql,
    unique_values,
)
from .sql import (
    BUMP_SCHEMA_VERSION,
    CAPABILITIES,
    COLUMN_FIELDS,
    INSERT_COLUMN_FIELDS,
    NEXT_VERSION,
    SQLITE,
    ListPlan,
    check_adding_columns,
    check_new_table,
    column_rows,
    encode_row,
    encode_rows,
    missing_records,
    now_iso,
    parse_version,
    raise_reference_problems,
    read_tables,
    record_key,
    record_not_found,
    reference_problems,
    select_sql,
    value_decoder,
    wanted_references,
)

T = TypeVar("T")
OPEN_TIMEOUT = 10.0  # seconds another server opening the same file may hold us up

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS _tm_tables (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT,
    created_at TEXT NOT NULL, next_column INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS _tm_columns (
    table_id TEXT NOT NULL REFERENCES _tm_tables(id), position INTEGER NOT NULL, name TEXT NOT NULL,
    type TEXT NOT NULL, required INTEGER NOT NULL, options TEXT, description TEXT, reference_table TEXT,
    sql_name TEXT NOT NULL, is_unique INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (table_id, position), UNIQUE (table_id, name));
CREATE TABLE IF NOT EXISTS _tm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO _tm_meta VALUES ('schema_version', '0');
"""


class SqliteStore:
    """SQLite implementation of the Backend protocol."""

    name = "local"
    capabilities = CAPABILITIES

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None  # point reads on the event loop (None: in memory)
        # fast_acquire: a free lock is taken without a trip round the event loop.
        self._lock = anyio.Lock(fast_acquire=True)
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
            # Two servers opening a new file at once both try to switch it to WAL; SQLite refuses one of them
            # at once (its busy handler is not called where waiting could deadlock), so the open is tried again.
            for attempt in stamina.retry_context(
                on=_is_locked, attempts=None, timeout=OPEN_TIMEOUT, wait_initial=0.02, wait_max=0.5
            ):
                with attempt:
                    conn = self._connect_and_prepare()
            reader = None if self.path == ":memory:" else _open_reader(self.path)
        except sqlite3.Error as exc:
            raise TablesError(ErrorCode.UNAVAILABLE, f"Cannot open the embedded store at {self.path}: {exc}") from exc
        self._conn, self._reader = conn, reader

    def _connect_and_prepare(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(SCHEMA_SQL)
            _migrate(conn)
            conn.create_aggregate(EXACT_SUM_FUNCTION, 1, ExactSum)
        except BaseException:
            conn.close()
            raise
        return conn

    async def aclose(self) -> None:
        for conn in (self._conn, self._reader):
            if conn is not None:
                conn.close()
        self._conn = self._reader = None

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        """Run one store operation in the worker thread, one at a time."""
        async with self._lock:
            return await anyio.to_thread.run_sync(self._guarded, func, args)

    async def _run_inline(self, func: Callable[..., T], *args: Any) -> T:
        """Run a primary-key read on the event loop: it takes microseconds, less than a thread hop,
        and in WAL mode a reader never waits for a writer."""
        async with self._lock:
            return self._guarded(func, args)

    def _guarded(self, func: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._thread_lock, SQLITE_ERRORS_MAPPED:
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

    async def can_write(self) -> bool | None:
        return await self._run(self._can_write_sync)

    def _can_write_sync(self) -> bool:
        try:
            self.conn.execute("BEGIN IMMEDIATE")  # takes the write lock, writes nothing
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc):
                return False
            raise
        self.conn.execute("ROLLBACK")
        return True

    def _schema_token_sync(self) -> str:
        row = self.conn.execute("SELECT value FROM _tm_meta WHERE key = 'schema_version'").fetchone()
        return str(row[0])

    async def list_tables(self) -> list[Table]:
        return await self._run(self._list_tables_sync)

    def _list_tables_sync(self, conn: sqlite3.Connection | None = None) -> list[Table]:
        conn = conn if conn is not None else self.conn
        columns = conn.execute(f"SELECT {COLUMN_FIELDS} FROM _tm_columns ORDER BY table_id, position").fetchall()
        tables = conn.execute("SELECT id, name, description FROM _tm_tables ORDER BY created_at, id").fetchall()
        result, self._sql_names = read_tables(SQLITE, columns, tables)
        return result

    async def create_table(self, name: str, description: str | None, columns: list[ColumnSpec]) -> Table:
        table_id = await self._run(self._create_table_sync, name, description, columns)
        return await self._table_by_id(table_id)

    def _create_table_sync(self, name: str, description: str | None, columns: list[ColumnSpec]) -> str:
        table_id = "tbl" + secrets.token_hex(4)
        # Checked under the write lock: another server on the same file may have just created the same name.
        with self._transaction() as conn:
            existing = {t.name.casefold(): t for t in self._list_tables_sync()}
            problems = check_new_table(name, columns, existing)
            if problems:
                raise invalid_argument(f"Cannot create table '{name}'.", problems)
            conn.execute(
                "INSERT INTO _tm_tables (id, name, description, created_at) VALUES (?, ?, ?, ?)",
                (table_id, name, description, now_iso()),
            )
            conn.execute(
                f'CREATE TABLE "t_{table_id}" (id INTEGER PRIMARY KEY AUTOINCREMENT, '
                "created_at TEXT NOT NULL, updated_at TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 1)"
            )
            self._add_columns_in(conn, table_id, columns, existing)
        return table_id

    async def add_columns(self, table: Table, columns: list[ColumnSpec]) -> Table:
        await self._run(self._add_columns_sync, table, columns)
        return await self._table_by_id(table.id)

    def _add_columns_sync(self, table: Table, columns: list[ColumnSpec]) -> None:
        # Checked under the write lock against the columns the file holds now, not those `table` was read with:
        # another server may have just added the same name.
        with self._transaction() as conn:
            existing = {t.name.casefold(): t for t in self._list_tables_sync()}
            check_adding_columns(table, columns, existing)
            self._add_columns_in(conn, table.id, columns, existing)

    def _add_columns_in(
        self, conn: sqlite3.Connection, table_id: str, columns: list[ColumnSpec], tables: dict[str, Table]
    ) -> None:
        (position,) = conn.execute("SELECT next_column FROM _tm_tables WHERE id = ?", (table_id,)).fetchone()
        rows = column_rows(table_id, position, columns, tables)
        for spec, row in zip(columns, rows, strict=True):
            conn.execute(f'ALTER TABLE "t_{table_id}" ADD COLUMN "{row[-2]}" {SQLITE.column_type(spec.type)}')
        conn.executemany(f"INSERT INTO _tm_columns ({INSERT_COLUMN_FIELDS}) VALUES ({', '.join('?' * 10)})", rows)
        for spec, row in zip(columns, rows, strict=True):
            if spec.unique:
                conn.execute(unique_index_sql(table_id, row[-2]))
        conn.execute("UPDATE _tm_tables SET next_column = ? WHERE id = ?", (position + len(columns), table_id))
        conn.execute(BUMP_SCHEMA_VERSION)

    async def _table_by_id(self, table_id: str) -> Table:
        for table in await self.list_tables():
            if table.id == table_id:
                return table
        raise not_found(f"Table {table_id} no longer exists.")

    def _sql(self, table: Table, conn: sqlite3.Connection | None = None) -> dict[str, str]:
        names = self._sql_names.get(table.id)
        if names is None or len(names) != len(table.columns):
            self._list_tables_sync(conn)
            names = self._sql_names.get(table.id)
        if names is None:
            raise not_found(f"Table '{table.name}' no longer exists.", hint="Call listTables to see current tables.")
        return names

    # -- records ---------------------------------------------------------------------------------

    async def create_records(
        self, table: Table, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> list[Record]:
        # One short transaction: once started it completes, so that a cancelled call still knows
        # exactly what was written.
        with anyio.CancelScope(shield=True):
            records = await self._run(self._create_sync, table, rows)
            if progress is not None:
                await progress.wrote([record["id"] for record in records])
        return records

    def _create_sync(self, table: Table, rows: list[dict[str, Any]]) -> list[Record]:
        sql_names = self._sql(table)
        encoded = encode_rows(SQLITE, table, rows)
        self._check_references(table, rows)
        with self._transaction() as conn:
            self._check_unique(conn, table, sql_names, rows)
            return self._insert_in(conn, table, sql_names, encoded)

    def _insert_in(
        self, conn: sqlite3.Connection, table: Table, sql_names: dict[str, str], encoded: list[dict[str, Any]]
    ) -> list[Record]:
        """Insert checked, encoded rows in the open transaction; the new records in input order."""
        if not encoded:
            return []
        writable = [col for col in table.columns if col.writable]
        serials = [col for col in table.columns if col.type is ColumnType.SERIAL]
        names = ["created_at", "updated_at"] + [f'"{sql_names[c.name]}"' for c in writable + serials]
        placeholders = ", ".join("?" * len(names))
        statement = f'INSERT INTO "t_{table.id}" ({", ".join(names)}) VALUES ({placeholders})'
        stamp = now_iso()
        counters = [self._max_serial(conn, table, sql_names[col.name]) for col in serials]
        written = [col.name for col in writable]
        if counters:
            params = [
                [stamp, stamp, *map(row.get, written), *(count + offset + 1 for count in counters)]
                for offset, row in enumerate(encoded)
            ]
        else:  # most tables: no SERIAL column to count on
            params = [[stamp, stamp, *map(row.get, written)] for row in encoded]
        first_id = self._next_id(conn, table)
        conn.executemany(statement, params)
        return _inserted_records(table, sql_names, [*writable, *serials], first_id, params)

    async def upsert_records(
        self, table: Table, key: Column, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> Upserted:
        # One transaction, as for creates: once started it completes, and a cancelled call knows what it wrote.
        with anyio.CancelScope(shield=True):
            done = await self._run(self._upsert_sync, table, key, rows)
            if progress is not None:
                await progress.wrote([record["id"] for record in done.created + done.updated])
        return done

    def _upsert_sync(self, table: Table, key: Column, rows: list[dict[str, Any]]) -> Upserted:
        """Find each key's record, then patch the found ones and insert the others, in one write transaction
        (SQLite's write lock: no other writer sees the keys between the look-up and the writes)."""
        sql_names = self._sql(table)
        encoded = encode_rows(SQLITE, table, rows)
        self._check_references(table, rows)
        returning, _, decode = select_sql(SQLITE, table, sql_names, None)
        find = f'SELECT id FROM "t_{table.id}" WHERE "{sql_names[key.name]}" = ?'
        with self._transaction() as conn:
            holders = [conn.execute(find, (row[key.name],)).fetchone() for row in encoded]
            owners = [holder[0] if holder else 0 for holder in holders]
            new = [index for index, owner in enumerate(owners) if not owner]
            raise_missing_required(table, rows, new)
            self._check_unique(conn, table, sql_names, rows, owners)
            stamp = now_iso()
            updated = []
            for row, owner in zip(encoded, owners, strict=True):
                if owner:
                    assignments = ", ".join(f'"{sql_names[name]}" = ?' for name in row)
                    statement = (
                        f'UPDATE "t_{table.id}" SET {assignments}, updated_at = ?, {NEXT_VERSION} WHERE id = ? '
                        f"RETURNING {returning}"
                    )
                    updated.append(decode(conn.execute(statement, (*row.values(), stamp, owner)).fetchone()))
            created = self._insert_in(conn, table, sql_names, [encoded[index] for index in new])
        return Upserted(created, updated)

    def _next_id(self, conn: sqlite3.Connection, table: Table) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (f"t_{table.id}",)).fetchone()
        return (row[0] if row else 0) + 1

    def _max_serial(self, conn: sqlite3.Connection, table: Table, sql_name: str) -> int:
        (value,) = conn.execute(f'SELECT COALESCE(MAX("{sql_name}"), 0) FROM "t_{table.id}"').fetchone()
        return int(value)

    async def get_record(self, table: Table, record_id: str) -> Record:
        return await self._bounded_read(self._get_sync, table, record_id)

    async def _bounded_read(self, read: Callable[..., T], *args: Any) -> T:
        """A read whose work its answer bounds (one record; a page down the primary key) on the event loop, through
        the read-only connection: it takes less than the worker thread's hop, whose wake-up alone cost a page of
        500 records 0.8 ms, and in WAL mode a reader does not wait for a writer. `read` takes the connection last."""
        reader = self._reader
        if reader is None:
            return await self._run_inline(read, *args)
        try:
            with SQLITE_ERRORS_MAPPED:
                return read(*args, reader)
        except TablesError as exc:
            if exc.code is not ErrorCode.UNAVAILABLE:
                raise
        # SQLite said busy (a WAL being recovered, a file another program keeps out of WAL mode): the worker
        # thread waits for the lock as every other operation does, and answers unavailable after its timeout.
        return await self._run(read, *args)

    def _get_sync(self, table: Table, record_id: str, conn: sqlite3.Connection | None = None) -> Record:
        conn = conn if conn is not None else self.conn
        _, select, decode = select_sql(SQLITE, table, self._sql(table, conn), None)
        # fetchall steps the statement to its end: the read transaction ends here, not when the cursor goes.
        rows = conn.execute(f"{select} WHERE id = ?", (record_key(record_id),)).fetchall()
        if not rows:
            raise record_not_found(table, record_id)
        return decode(rows[0])

    async def patch_record(self, table: Table, record_id: str, fields: dict[str, Any]) -> Record:
        return await self._run(self._patch_sync, table, record_id, fields, None)

    async def patch_record_at(
        self, table: Table, record_id: str, fields: dict[str, Any], expected_version: str
    ) -> Record:
        return await self._run(self._patch_sync, table, record_id, fields, expected_version)

    def _patch_sync(self, table: Table, record_id: str, fields: dict[str, Any], expected_version: str | None) -> Record:
        sql_names = self._sql(table)
        encoded = encode_row(SQLITE, table, fields, None)
        self._check_references(table, [fields], in_batch=False)
        assignments = ", ".join(f'"{sql_names[name]}" = ?' for name in encoded)
        returning, select, decode = select_sql(SQLITE, table, sql_names, None)
        key = record_key(record_id)
        with self._transaction() as conn:
            if expected_version is not None:
                current = conn.execute(f"{select} WHERE id = ?", (key,)).fetchone()
                if current is None:
                    raise record_not_found(table, record_id)
                if parse_version(expected_version) != current[3]:
                    raise version_conflict(decode(current), expected_version)
            self._check_unique(conn, table, sql_names, [fields], [key], in_batch=False)
            row = conn.execute(
                f'UPDATE "t_{table.id}" SET {assignments}, updated_at = ?, {NEXT_VERSION} WHERE id = ? '
                f"RETURNING {returning}",
                (*encoded.values(), now_iso(), key),
            ).fetchone()
            if row is None:
                raise record_not_found(table, record_id)
        return decode(row)

    async def delete_records(self, table: Table, record_ids: list[str]) -> list[str]:
        return await self._run(self._delete_sync, table, record_ids)

    def _delete_sync(self, table: Table, record_ids: list[str]) -> list[str]:
        keys = [record_key(rid) for rid in record_ids]
        marks = ", ".join("?" * len(keys))
        with self._transaction() as conn:
            found = {row[0] for row in conn.execute(f'SELECT id FROM "t_{table.id}" WHERE id IN ({marks})', keys)}
            missing = [str(rid) for rid, key in zip(record_ids, keys, strict=True) if key not in found]
            if missing:
                raise missing_records(table, missing)
            conn.execute(f'DELETE FROM "t_{table.id}" WHERE id IN ({marks})', keys)
        return [str(key) for key in dict.fromkeys(keys)]

    async def list_records(self, table: Table, query: ListQuery) -> Page:
        if query.filter is None and not query.sort:  # ids after the cursor's, at most a page of them
            return await self._bounded_read(self._list_sync, table, query)
        # A filter or a sort may read the whole table: in the worker thread, where SQLite lets the loop run.
        return await self._run(self._list_sync, table, query)

    def _list_sync(self, table: Table, query: ListQuery, conn: sqlite3.Connection | None = None) -> Page:
        conn = conn if conn is not None else self.conn
        plan = ListPlan(SQLITE, table, self._sql(table, conn), query)
        # fetchall steps the statement to its end: the read transaction ends here, not when the cursor goes.
        return plan.page(conn.execute(plan.sql, plan.params).fetchall())

    def _check_unique(
        self,
        conn: sqlite3.Connection,
        table: Table,
        sql_names: dict[str, str],
        rows: list[dict[str, Any]],
        own_ids: list[int] | None = None,
        in_batch: bool = True,
    ) -> None:
        """A value a unique column already holds (in another record) or that the call sends twice is a conflict
        naming column and value; the unique index stays the last word."""
        problems = []
        for column, values in unique_values(table, rows, own_ids):
            problems += repeated_in_batch(column, values, in_batch)
            taken = f'SELECT id FROM "t_{table.id}" WHERE "{sql_names[column.name]}" = ? AND id <> ? LIMIT 1'
            for index, value, own in values:
                holder = conn.execute(taken, (SQLITE.encode(column, value), own)).fetchone()
                if holder is not None:
                    problems.append(taken_problem(column, value, index, holder[0], in_batch))
        raise_unique_problems(problems)

    async def aggregate_records(self, table: Table, query: AggregateQuery) -> AggregateResult:
        return await self._run(self._aggregate_sync, table, query)

    def _aggregate_sync(self, table: Table, query: AggregateQuery) -> AggregateResult:
        plan = AggregatePlan(SQLITE, table, self._sql(table), query)
        return plan.result(self.conn.execute(plan.sql, plan.params).fetchall())

    def _check_references(self, table: Table, rows: list[dict[str, Any]], in_batch: bool = True) -> None:
        problems = []
        for column, wanted, keys in wanted_references(table, rows):
            found: set[int] = set()
            if keys:
                marks = ", ".join("?" * len(keys))
                target = f'"t_{column.reference_table}"'
                found = {row[0] for row in self.conn.execute(f"SELECT id FROM {target} WHERE id IN ({marks})", keys)}
            problems += reference_problems(column, wanted, found, in_batch)
        raise_reference_problems(problems)


def _inserted_records(
    table: Table, sql_names: dict[str, str], bound: list[Column], first_id: int, params: list[list[Any]]
) -> list[Record]:
    """The records an insert stored, from the values it bound, without reading them back (a SELECT of every
    row just written: a fifth of a 1,000-record create). The ids are the transaction's next ones, as
    AUTOINCREMENT hands them out to one writer; each value is what a SELECT would give, decoded by the read's
    decoder, once SQLite's NUMERIC affinity has done to a bound value what it does when storing it (an
    integral REAL becomes an INTEGER); columns nothing was bound to are NULL, left out; the version starts at 1.
    The record has the shape `select_sql`'s decoder gives, built straight from the bound values."""
    position = {col.name: 2 + index for index, col in enumerate(bound)}
    plan = [
        (col.name, position[col.name], _stored_value_decoder(col.type)) for col in table.columns if col.name in position
    ]
    records: list[Record] = []
    for offset, values in enumerate(params):
        fields: dict[str, Any] = {}
        for name, slot, decoder in plan:
            raw = values[slot]
            if raw is not None:
                fields[name] = raw if decoder is None else decoder(raw)
        created, updated = values[0], values[1]
        records.append(
            {
                "id": str(first_id + offset),
                "fields": fields,
                "created_at": created,
                "updated_at": updated,
                "version": "1",
            }
        )
    return records


def _stored_value_decoder(kind: ColumnType) -> Callable[[Any], Any] | None:
    """How a bound value of this type reads back: SQLite's affinity, then the read's decoder (None: as bound)."""
    if kind is ColumnType.NUMBER:
        return _numeric_affinity
    return value_decoder(SQLITE, kind)


def _numeric_affinity(value: Any) -> Any:
    """What SQLite stores for a value bound to a NUMERIC column: a REAL that is a whole number strictly inside
    the 64-bit range becomes an INTEGER (https://sqlite.org/datatype3.html, "Type Affinity"; the bounds are
    `sqlite3VdbeIntegerAffinity`'s)."""
    if type(value) is float and value.is_integer() and -(2.0**63) < value < 2.0**63:
        return int(value)
    return value


def _is_locked(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def _open_reader(path: str) -> sqlite3.Connection:
    """The connection of point reads on the event loop: read-only, and busy at once rather than waiting for a lock
    (a wait there would stop every session)."""
    reader = sqlite3.connect(path, timeout=0, check_same_thread=False, isolation_level=None)
    reader.execute("PRAGMA query_only = 1")
    return reader


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a store made by an older tables-mcp to the current layout; a no-op (two reads) when it is current.

    The steps run under the write lock and check again there, so that two servers opening the same old file
    at once migrate it once.
    """
    if not _migration_steps(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in _migration_steps(conn):
            conn.execute(step)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _migration_steps(conn: sqlite3.Connection) -> list[str]:
    steps = []
    known = {row[1] for row in conn.execute("PRAGMA table_info(_tm_columns)")}
    if "is_unique" not in known:
        steps.append("ALTER TABLE _tm_columns ADD COLUMN is_unique INTEGER NOT NULL DEFAULT 0")
    unversioned = conn.execute(
        "SELECT id FROM _tm_tables WHERE NOT EXISTS "
        "(SELECT 1 FROM pragma_table_info('t_' || _tm_tables.id) WHERE name = 'version')"
    ).fetchall()
    # Records written before versions existed start at version 1.
    steps += [
        f'ALTER TABLE "t_{table_id}" ADD COLUMN version INTEGER NOT NULL DEFAULT 1' for (table_id,) in unversioned
    ]
    return steps


class _SqliteErrorsMapped:
    """The one place where SQLite failures become TablesErrors. A class rather than a generator's context manager,
    which cost every point read 1.2 us; it holds no state, so one serves every `with`."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, trace: Any) -> None:
        if exc is None or isinstance(exc, TablesError):
            return
        mapped = _store_error(exc)
        if mapped is not None:
            raise mapped from exc


SQLITE_ERRORS_MAPPED = _SqliteErrorsMapped()


def _store_error(exc: BaseException) -> TablesError | None:
    """The TablesError a failure inside the store stands for; None for one that is not SQLite's (it goes on)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return TablesError(ErrorCode.CONFLICT, f"The store refused the change: {exc}")
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        return TablesError(
            ErrorCode.UNAVAILABLE, "The store is busy with another writer; retry shortly.", retry_after=1.0
        )
    if isinstance(exc, sqlite3.Error):
        return TablesError(ErrorCode.BACKEND_ERROR, f"The store failed: {exc}")
    if isinstance(exc, OverflowError | UnicodeEncodeError):
        return invalid_argument(f"A value cannot be stored: {exc}")
    return None
