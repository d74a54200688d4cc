"""The embedded store on PostgreSQL: the same store as the SQLite file, for when one machine is not enough.

Same metadata tables (`_tm_tables`, `_tm_columns`, `_tm_meta`), same typed per-table tables
(`t_<id>` with columns `c<n>`, in native types: numeric, boolean, jsonb, date, time, timestamptz,
and text in byte order), same records, cursors and errors as `SqliteStore`; the SQL comes from
`sql.py` with the PostgreSQL dialect. Several tables-mcp processes may share one database: schema
changes take a transaction-scoped advisory lock, and SERIAL numbers are taken under a row lock on
the table's metadata row, so concurrent writers never repeat a number.

Driver: psycopg 3 with an async connection pool. Every operation checks out one connection, and
writes run in one transaction. Failures become TablesErrors in `_map_errors`, the one choke point;
no message ever carries the password of the connection string.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ...aggregate import AggregateQuery, AggregateResult
from ...errors import ErrorCode, TablesError, invalid_argument, not_found, version_conflict
from ...model import Column, ColumnSpec, ColumnType, ListQuery, Page, Record, Table, Upserted, WriteProgress
from .grouping import AggregatePlan
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
    POSTGRES,
    ListPlan,
    RowDecoder,
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
    table_sql_name,
    wanted_references,
)

Connection = psycopg.AsyncConnection[Any]

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS _tm_tables (
    id text COLLATE "C" PRIMARY KEY, name text NOT NULL UNIQUE, description text,
    created_at text COLLATE "C" NOT NULL, next_column integer NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS _tm_columns (
    table_id text NOT NULL REFERENCES _tm_tables(id), position integer NOT NULL, name text NOT NULL,
    type text NOT NULL, required integer NOT NULL, options text, description text, reference_table text,
    sql_name text NOT NULL, is_unique integer NOT NULL DEFAULT 0,
    PRIMARY KEY (table_id, position), UNIQUE (table_id, name));
CREATE TABLE IF NOT EXISTS _tm_meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO _tm_meta VALUES ('schema_version', '0') ON CONFLICT DO NOTHING;
"""
METADATA_EXISTS = (
    "SELECT to_regclass('_tm_tables') IS NOT NULL AND to_regclass('_tm_columns') IS NOT NULL "
    "AND to_regclass('_tm_meta') IS NOT NULL"
)
# Serialises schema changes (and the first creation of the metadata tables) per database schema,
# across every process sharing the database; released at commit or rollback.
LOCK_SCHEMA = "SELECT pg_advisory_xact_lock(hashtext('tables-mcp:' || coalesce(current_schema(), '')))"
UNVERSIONED_TABLES = (
    "SELECT id FROM _tm_tables WHERE NOT EXISTS (SELECT 1 FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = 't_' || _tm_tables.id AND column_name = 'version')"
)
LIST_TABLES_HINT = "Call listTables to see current tables."
CONNECT_TIMEOUT = 10
RETRY_AFTER = 1.0
# SQLSTATE classes and codes where the same call may succeed later: connection exceptions,
# insufficient resources, operator intervention (shutdown, cancel), serialization failures and
# deadlocks, lock not available.
RETRYABLE_STATES = ("08", "53", "57", "40001", "40P01", "55P03")


class PostgresStore:
    """PostgreSQL implementation of the Backend protocol: the embedded store in a PostgreSQL database.

    `dsn` is a libpq connection string (`postgresql://user:pw@host:port/db` or `key=value` pairs).
    Tables live in the connection's current schema (the first of its search_path).
    """

    name = "local"
    capabilities = CAPABILITIES

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 8, timeout: float = 10.0) -> None:
        self.dsn = dsn
        self.where = redact_dsn(dsn)
        self._secrets = _secrets_of(dsn)
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._pool: AsyncConnectionPool[Connection] | None = None
        # SQL names of each table's columns, by table id and column name (refreshed with metadata).
        self._sql_names: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r})"

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        kwargs: dict[str, Any] = {"autocommit": True}
        try:
            if "connect_timeout" not in conninfo_to_dict(self.dsn):
                kwargs["connect_timeout"] = CONNECT_TIMEOUT
        except psycopg.ProgrammingError as exc:
            message = _redact(str(exc), self._secrets)
            raise TablesError(
                ErrorCode.INVALID_ARGUMENT,
                f"Not a valid PostgreSQL connection string: {self.where} ({message})",
                hint="Fix TABLES_MCP_DB: postgresql://user:password@host:port/database",
            ) from None
        with self._map_errors(opening=True):
            # One direct connection first: it reports a wrong host or password clearly, and creates
            # the metadata tables before the pool starts.
            conn = await psycopg.AsyncConnection.connect(self.dsn, **kwargs)
            try:
                await _configure(conn)
                cursor = await conn.execute(METADATA_EXISTS)
                row = await cursor.fetchone()
                if not (row and row[0]):  # a role without CREATE on the schema can use an existing store
                    async with conn.transaction():
                        await conn.execute(LOCK_SCHEMA)
                        await conn.execute(SCHEMA_SQL)
                await _migrate(conn)
            finally:
                await conn.close()
            pool = AsyncConnectionPool(
                self.dsn,
                kwargs=kwargs,
                min_size=self._min_size,
                max_size=self._max_size,
                open=False,
                configure=_configure,
                check=AsyncConnectionPool.check_connection,
                timeout=self._timeout,
                name="tables-mcp",
            )
            try:
                await pool.open(wait=True, timeout=self._timeout)
            except BaseException:
                await pool.close()
                raise
        self._pool = pool

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @asynccontextmanager
    async def _connect(self, transaction: bool = False) -> AsyncIterator[Connection]:
        """One pooled connection for one operation (in one transaction if asked); errors mapped."""
        if self._pool is None:
            raise TablesError(ErrorCode.UNAVAILABLE, "The embedded store is not open.")
        with self._map_errors():
            async with self._pool.connection() as conn:
                if transaction:
                    async with conn.transaction():
                        yield conn
                else:
                    yield conn

    @contextmanager
    def _map_errors(self, opening: bool = False) -> Iterator[None]:
        """The one place where PostgreSQL and driver failures become TablesErrors."""
        try:
            yield
        except TablesError:
            raise
        except Exception as exc:
            error = pg_error(exc, self._secrets)
            if opening:
                error.message = f"Cannot open the embedded store at {self.where}: {error.message}"
            raise error from exc

    # -- metadata --------------------------------------------------------------------------------

    async def can_write(self) -> bool | None:
        async with self._connect() as conn:
            cursor = await conn.execute("SELECT has_table_privilege('_tm_tables', 'INSERT')")
            row = await cursor.fetchone()
        return bool(row and row[0])

    async def schema_token(self) -> str:
        async with self._connect() as conn:
            cursor = await conn.execute("SELECT value FROM _tm_meta WHERE key = 'schema_version'")
            row = await cursor.fetchone()
        return str(row[0]) if row else "0"

    async def list_tables(self) -> list[Table]:
        async with self._connect() as conn:
            return await self._list_tables_in(conn)

    async def _list_tables_in(self, conn: Connection) -> list[Table]:
        cursor = await conn.execute(f"SELECT {COLUMN_FIELDS} FROM _tm_columns ORDER BY table_id, position")
        columns = await cursor.fetchall()
        cursor = await conn.execute("SELECT id, name, description FROM _tm_tables ORDER BY created_at, id")
        tables = await cursor.fetchall()
        result, self._sql_names = read_tables(POSTGRES, columns, tables)
        return result

    async def create_table(self, name: str, description: str | None, columns: list[ColumnSpec]) -> Table:
        table_id = "tbl" + secrets.token_hex(4)
        async with self._connect(transaction=True) as conn:
            await conn.execute(LOCK_SCHEMA)
            existing = {t.name.casefold(): t for t in await self._list_tables_in(conn)}
            problems = check_new_table(name, columns, existing)
            if problems:
                raise invalid_argument(f"Cannot create table '{name}'.", problems)
            await conn.execute(
                "INSERT INTO _tm_tables (id, name, description, created_at) VALUES (%s, %s, %s, %s)",
                (table_id, name, description, now_iso()),
            )
            await conn.execute(
                f"CREATE TABLE {table_sql_name(table_id)} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                "created_at text NOT NULL, updated_at text NOT NULL, version bigint NOT NULL DEFAULT 1)"
            )
            await self._add_columns_in(conn, table_id, columns, existing)
        return await self._table_by_id(table_id)

    async def add_columns(self, table: Table, columns: list[ColumnSpec]) -> Table:
        async with self._connect(transaction=True) as conn:
            await conn.execute(LOCK_SCHEMA)
            existing = {t.name.casefold(): t for t in await self._list_tables_in(conn)}
            check_adding_columns(table, columns, existing)
            await self._add_columns_in(conn, table.id, columns, existing)
        return await self._table_by_id(table.id)

    async def _add_columns_in(
        self, conn: Connection, table_id: str, columns: list[ColumnSpec], tables: dict[str, Table]
    ) -> None:
        # The metadata row first, then the table: the order record writes take their locks in.
        cursor = await conn.execute("SELECT next_column FROM _tm_tables WHERE id = %s FOR UPDATE", (table_id,))
        row = await cursor.fetchone()
        if row is None:
            raise not_found(f"Table {table_id} no longer exists.")
        position = int(row[0])
        rows = column_rows(table_id, position, columns, tables)
        additions = ", ".join(
            f'ADD COLUMN "{meta[-2]}" {POSTGRES.column_type(spec.type)}'
            for spec, meta in zip(columns, rows, strict=True)
        )
        await conn.execute(f"ALTER TABLE {table_sql_name(table_id)} {additions}")
        async with conn.cursor() as cursor:
            marks = ", ".join(["%s"] * 10)
            await cursor.executemany(f"INSERT INTO _tm_columns ({INSERT_COLUMN_FIELDS}) VALUES ({marks})", rows)
        for spec, meta in zip(columns, rows, strict=True):
            if spec.unique:
                await conn.execute(unique_index_sql(table_id, meta[-2]))
        await conn.execute("UPDATE _tm_tables SET next_column = %s WHERE id = %s", (position + len(columns), table_id))
        await conn.execute(BUMP_SCHEMA_VERSION)

    async def _table_by_id(self, table_id: str) -> Table:
        for table in await self.list_tables():
            if table.id == table_id:
                return table
        raise not_found(f"Table {table_id} no longer exists.")

    async def _sql(self, table: Table) -> dict[str, str]:
        names = self._sql_names.get(table.id)
        if names is None or len(names) != len(table.columns):
            await self.list_tables()
            names = self._sql_names.get(table.id)
        if names is None:
            raise not_found(f"Table '{table.name}' no longer exists.", hint=LIST_TABLES_HINT)
        return names

    # -- records ---------------------------------------------------------------------------------

    async def create_records(
        self, table: Table, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> list[Record]:
        # One short transaction: once started it completes, so that a cancelled call still knows
        # exactly what was written.
        with anyio.CancelScope(shield=True):
            records = await self._insert(table, rows)
            if progress is not None:
                await progress.wrote([record["id"] for record in records])
        return records

    async def _insert(self, table: Table, rows: list[dict[str, Any]]) -> list[Record]:
        sql_names = await self._sql(table)
        encoded = encode_rows(POSTGRES, table, rows)
        async with self._connect(transaction=True) as conn:
            if any(col.type is ColumnType.SERIAL for col in table.columns):
                await self._lock_table(conn, table)
            await self._check_references(conn, table, rows)
            await self._check_unique(conn, table, sql_names, rows)
            return await self._insert_in(conn, table, sql_names, encoded)

    async def _lock_table(self, conn: Connection, table: Table) -> None:
        """One writer at a time per table (SERIAL numbers, upserts' look-ups); the lock lasts until commit."""
        await conn.execute("SELECT 1 FROM _tm_tables WHERE id = %s FOR UPDATE", (table.id,))

    async def _insert_in(
        self, conn: Connection, table: Table, sql_names: dict[str, str], encoded: list[dict[str, Any]]
    ) -> list[Record]:
        """Insert checked, encoded rows in the open transaction (the table locked if it has SERIAL columns)."""
        if not encoded:
            return []
        writable = [col for col in table.columns if col.writable]
        serials = [col for col in table.columns if col.type is ColumnType.SERIAL]
        targets = ["created_at", "updated_at"] + [f'"{sql_names[c.name]}"' for c in writable + serials]
        arrays: list[list[Any]] = [[row.get(col.name) for row in encoded] for col in writable]
        casts = [POSTGRES.cast(f"u.a{i}", col.type) for i, col in enumerate(writable + serials)]
        returning, _, decode = select_sql(POSTGRES, table, sql_names, None)
        if serials:
            maxima = ", ".join(f'COALESCE(MAX("{sql_names[col.name]}"), 0)' for col in serials)
            cursor = await conn.execute(f"SELECT {maxima} FROM {table_sql_name(table.id)}")
            counters = await cursor.fetchone() or ()
            arrays += [[str(int(count) + n) for n in range(1, len(encoded) + 1)] for count in counters]
        if not arrays:  # no columns at all: still one row per record
            arrays, casts = [[None] * len(encoded)], []
        aliases = ", ".join(f"a{i}" for i in range(len(arrays)))
        sources = ", ".join(["%s::text[]"] * len(arrays))
        stamp = now_iso()
        cursor = await conn.execute(
            f"INSERT INTO {table_sql_name(table.id)} ({', '.join(targets)}) "
            f"SELECT %s, %s{''.join(', ' + cast for cast in casts)} "
            f"FROM unnest({sources}) WITH ORDINALITY AS u({aliases}, ord) ORDER BY u.ord "
            f"RETURNING {returning}",
            (stamp, stamp, *arrays),
        )
        records = [decode(row) for row in await cursor.fetchall()]
        records.sort(key=lambda record: int(record["id"]))
        return records

    async def upsert_records(
        self, table: Table, key: Column, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> Upserted:
        # One transaction, as for creates: once started it completes, and a cancelled call knows what it wrote.
        with anyio.CancelScope(shield=True):
            done = await self._upsert(table, key, rows)
            if progress is not None:
                await progress.wrote([record["id"] for record in done.created + done.updated])
        return done

    async def _upsert(self, table: Table, key: Column, rows: list[dict[str, Any]]) -> Upserted:
        """Find each key's record, then patch the found ones and insert the others, in one transaction under
        the table's lock, so that two upserts of one new key never both insert it."""
        sql_names = await self._sql(table)
        encoded = encode_rows(POSTGRES, table, rows)
        kinds = {col.name: col.type for col in table.columns}
        returning, _, decode = select_sql(POSTGRES, table, sql_names, None)
        async with self._connect(transaction=True) as conn:
            await self._lock_table(conn, table)
            await self._check_references(conn, table, rows)
            cursor = await conn.execute(
                "SELECT u.ord, t.id FROM unnest(%s::text[]) WITH ORDINALITY AS u(v, ord) "
                f'JOIN {table_sql_name(table.id)} AS t ON t."{sql_names[key.name]}" = {POSTGRES.cast("u.v", key.type)}',
                ([row[key.name] for row in encoded],),
            )
            owners = [0] * len(rows)
            for ordinal, owner in await cursor.fetchall():
                owners[ordinal - 1] = owner
            new = [index for index, owner in enumerate(owners) if not owner]
            raise_missing_required(table, rows, new)
            await self._check_unique(conn, table, sql_names, rows, owners)
            stamp = now_iso()
            updated = []
            for row, owner in zip(encoded, owners, strict=True):
                if owner:
                    assignments = ", ".join(f'"{sql_names[name]}" = {POSTGRES.param(kinds[name])}' for name in row)
                    cursor = await conn.execute(
                        f"UPDATE {table_sql_name(table.id)} SET {assignments}, updated_at = %s, {NEXT_VERSION} "
                        f"WHERE id = %s RETURNING {returning}",
                        (*row.values(), stamp, owner),
                    )
                    updated.append(decode(await cursor.fetchone() or ()))
            created = await self._insert_in(conn, table, sql_names, [encoded[index] for index in new])
        return Upserted(created, updated)

    async def get_record(self, table: Table, record_id: str) -> Record:
        _, select, decode = select_sql(POSTGRES, table, await self._sql(table), None)
        key = record_key(record_id)
        row = None
        if isinstance(key, int):
            async with self._connect() as conn:
                cursor = await conn.execute(f"{select} WHERE id = %s", (key,))
                row = await cursor.fetchone()
        if row is None:
            raise record_not_found(table, record_id)
        return decode(row)

    async def patch_record(self, table: Table, record_id: str, fields: dict[str, Any]) -> Record:
        return await self._patch(table, record_id, fields, None)

    async def patch_record_at(
        self, table: Table, record_id: str, fields: dict[str, Any], expected_version: str
    ) -> Record:
        return await self._patch(table, record_id, fields, expected_version)

    async def _patch(
        self, table: Table, record_id: str, fields: dict[str, Any], expected_version: str | None
    ) -> Record:
        sql_names = await self._sql(table)
        encoded = encode_row(POSTGRES, table, fields, None)
        kinds = {col.name: col.type for col in table.columns}
        assignments = ", ".join(f'"{sql_names[name]}" = {POSTGRES.param(kinds[name])}' for name in encoded)
        returning, select, decode = select_sql(POSTGRES, table, sql_names, None)
        key = record_key(record_id)
        row = None
        # A patch without a version, references or unique values is one statement, atomic on its own.
        checked = expected_version is not None or bool(
            wanted_references(table, [fields]) or unique_values(table, [fields])
        )
        async with self._connect(transaction=checked) as conn:
            await self._check_references(conn, table, [fields], in_batch=False)
            if isinstance(key, int):
                if expected_version is not None:
                    await self._check_version(conn, table, record_id, select, decode, expected_version)
                await self._check_unique(conn, table, sql_names, [fields], [key], in_batch=False)
                cursor = await conn.execute(
                    f"UPDATE {table_sql_name(table.id)} SET {assignments}, updated_at = %s, {NEXT_VERSION} "
                    f"WHERE id = %s RETURNING {returning}",
                    (*encoded.values(), now_iso(), key),
                )
                row = await cursor.fetchone()
        if row is None:
            raise record_not_found(table, record_id)
        return decode(row)

    async def _check_version(
        self, conn: Connection, table: Table, record_id: str, select: str, decode: RowDecoder, expected: str
    ) -> None:
        """The record, locked until commit, must be at the expected version; else nothing is written."""
        cursor = await conn.execute(f"{select} WHERE id = %s FOR UPDATE", (record_key(record_id),))
        current = await cursor.fetchone()
        if current is None:
            raise record_not_found(table, record_id)
        if parse_version(expected) != current[3]:
            raise version_conflict(decode(current), expected)

    async def delete_records(self, table: Table, record_ids: list[str]) -> list[str]:
        keys = [record_key(rid) for rid in record_ids]
        numbers = sorted({key for key in keys if isinstance(key, int)})
        async with self._connect(transaction=True) as conn:
            cursor = await conn.execute(
                f"SELECT id FROM {table_sql_name(table.id)} WHERE id = ANY(%s::bigint[]) FOR UPDATE", (numbers,)
            )
            found = {row[0] for row in await cursor.fetchall()}
            missing = [str(rid) for rid, key in zip(record_ids, keys, strict=True) if key not in found]
            if missing:
                raise missing_records(table, missing)
            await conn.execute(f"DELETE FROM {table_sql_name(table.id)} WHERE id = ANY(%s::bigint[])", (numbers,))
        return [str(key) for key in dict.fromkeys(keys)]

    async def list_records(self, table: Table, query: ListQuery) -> Page:
        plan = ListPlan(POSTGRES, table, await self._sql(table), query)
        async with self._connect() as conn:
            cursor = await conn.execute(plan.sql, plan.params)
            rows = await cursor.fetchall()
        return plan.page(rows)

    async def _check_unique(
        self,
        conn: Connection,
        table: Table,
        sql_names: dict[str, str],
        rows: list[dict[str, Any]],
        own_ids: list[int] | None = None,
        in_batch: bool = True,
    ) -> None:
        """A value a unique column already holds (in another record) or that the call sends twice is a conflict
        naming column and value; the unique index stays the last word (a concurrent writer)."""
        problems = []
        for column, values in unique_values(table, rows, own_ids):
            problems += repeated_in_batch(column, values, in_batch)
            col = f'"{sql_names[column.name]}"'
            cursor = await conn.execute(
                "SELECT u.ord, t.id FROM unnest(%s::text[], %s::bigint[]) WITH ORDINALITY AS u(v, own, ord) "
                f"JOIN {table_sql_name(table.id)} AS t ON t.{col} = {POSTGRES.cast('u.v', column.type)} "
                "AND t.id <> u.own ORDER BY u.ord",
                ([POSTGRES.encode(column, value) for _, value, _ in values], [own for _, _, own in values]),
            )
            for ordinal, holder in await cursor.fetchall():
                index, value, _ = values[ordinal - 1]
                problems.append(taken_problem(column, value, index, holder, in_batch))
        raise_unique_problems(problems)

    async def aggregate_records(self, table: Table, query: AggregateQuery) -> AggregateResult:
        plan = AggregatePlan(POSTGRES, table, await self._sql(table), query)
        async with self._connect() as conn:
            cursor = await conn.execute(plan.sql, plan.params)
            rows = await cursor.fetchall()
        return plan.result(rows)

    async def _check_references(
        self, conn: Connection, table: Table, rows: list[dict[str, Any]], in_batch: bool = True
    ) -> None:
        problems = []
        for column, wanted, keys in wanted_references(table, rows):
            found: set[int] = set()
            if keys:
                cursor = await conn.execute(
                    f"SELECT id FROM {table_sql_name(str(column.reference_table))} WHERE id = ANY(%s::bigint[])",
                    (keys,),
                )
                found = {row[0] for row in await cursor.fetchall()}
            problems += reference_problems(column, wanted, found, in_batch)
        raise_reference_problems(problems)


async def _migrate(conn: Connection) -> None:
    """Bring a store made by an older tables-mcp to the current layout (each step runs once, under the schema lock)."""
    if not await _migration_needed(conn):
        return
    async with conn.transaction():
        await conn.execute(LOCK_SCHEMA)
        await conn.execute("ALTER TABLE _tm_columns ADD COLUMN IF NOT EXISTS is_unique integer NOT NULL DEFAULT 0")
        cursor = await conn.execute(UNVERSIONED_TABLES)
        for (table_id,) in await cursor.fetchall():  # records written before versions existed start at version 1
            await conn.execute(
                f"ALTER TABLE {table_sql_name(table_id)} ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1"
            )


async def _migration_needed(conn: Connection) -> bool:
    if await _missing_column(conn, "_tm_columns", "is_unique"):
        return True
    cursor = await conn.execute(UNVERSIONED_TABLES + " LIMIT 1")
    return await cursor.fetchone() is not None


async def _missing_column(conn: Connection, table: str, column: str) -> bool:
    cursor = await conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s AND column_name = %s",
        (table, column),
    )
    return await cursor.fetchone() is None


async def _configure(conn: Connection) -> None:
    """Each new connection: UTC, so that timestamptz values read back as the UTC text SQLite keeps."""
    await conn.execute("SET TIME ZONE 'UTC'")


# -- errors and connection strings ----------------------------------------------------------------


def pg_error(exc: BaseException, secrets_: tuple[str, ...] = ()) -> TablesError:
    """A driver or server failure as a TablesError, its message free of the given secrets."""
    if isinstance(exc, PoolTimeout):
        return TablesError(
            ErrorCode.UNAVAILABLE,
            "No PostgreSQL connection became available in time; the server may be down or overloaded.",
            retry_after=RETRY_AFTER,
        )
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate or ""
        message = _redact(_first_message(exc), secrets_)
        if state.startswith("23"):  # integrity constraint violation: unique, foreign key, not null, check
            return TablesError(ErrorCode.CONFLICT, f"The store refused the change: {message}", backend_code=state)
        if state.startswith(RETRYABLE_STATES) or (isinstance(exc, psycopg.OperationalError) and not state):
            return TablesError(
                ErrorCode.UNAVAILABLE,
                f"PostgreSQL is unavailable: {message}",
                retry_after=RETRY_AFTER,
                backend_code=state or None,
            )
        if state == "42501":
            return TablesError(ErrorCode.PERMISSION_DENIED, f"PostgreSQL refused: {message}", backend_code=state)
        if state.startswith("22") or isinstance(exc, psycopg.DataError):
            return invalid_argument(f"A value cannot be stored: {message}")
        return TablesError(ErrorCode.BACKEND_ERROR, f"The store failed: {message}", backend_code=state or None)
    if isinstance(exc, OverflowError | UnicodeEncodeError):
        return invalid_argument(f"A value cannot be stored: {_redact(str(exc), secrets_)}")
    if isinstance(exc, OSError):
        return TablesError(
            ErrorCode.UNAVAILABLE, f"PostgreSQL is unreachable: {_redact(str(exc), secrets_)}", retry_after=RETRY_AFTER
        )
    return TablesError(ErrorCode.BACKEND_ERROR, f"The store failed: {_redact(str(exc), secrets_)}")


def _first_message(exc: psycopg.Error) -> str:
    """The server's primary message (never its DETAIL/CONTEXT lines, which may quote values)."""
    primary = exc.diag.message_primary if exc.sqlstate else None
    text = primary or str(exc) or type(exc).__name__
    return " ".join(text.split())


def _secrets_of(dsn: str) -> tuple[str, ...]:
    """The password of a connection string, as written and as decoded, to cut out of any message."""
    found: set[str] = set()
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        password = None
    if password:
        found.add(str(password))
    if _is_url(dsn):
        userinfo = dsn.partition("://")[2].split("/", 1)[0].split("?", 1)[0].rpartition("@")[0]
        if ":" in userinfo:
            found.add(userinfo.partition(":")[2])
        query = dsn.partition("?")[2].split("#", 1)[0]
        found.update(value for key, value in _query_pairs(query) if key == "password")
    else:
        found.update(match.group(2).strip("'") for match in _KV_PASSWORD.finditer(dsn))
    return tuple(sorted((item for item in found if item), key=len, reverse=True))


def _redact(text: str, secrets_: tuple[str, ...]) -> str:
    for secret in secrets_:
        text = text.replace(secret, "***")
    return text


_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def _is_url(dsn: str) -> bool:
    return dsn.lower().startswith(("postgresql://", "postgres://"))


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return [(key.lower(), value) for key, _, value in (item.partition("=") for item in query.split("&") if item)]


def redact_dsn(dsn: str) -> str:
    """The connection string as it may be shown: `postgresql://user:***@host:port/db`, never the password."""
    if not _is_url(dsn):
        return _KV_PASSWORD.sub(lambda m: m.group(1) + "***", dsn)
    try:
        parts = urlsplit(dsn)
    except ValueError:  # not even a URL: show no more than its scheme and host part's end
        return _redact(dsn, _secrets_of(dsn))
    userinfo, at, host = parts.netloc.rpartition("@")
    if ":" in userinfo:
        userinfo = userinfo.partition(":")[0] + ":***"
    query = "&".join(
        f"{key}={'***' if key.lower() == 'password' else value}"
        for key, _, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}", query=query))


__all__ = ["PostgresStore", "pg_error", "redact_dsn"]
