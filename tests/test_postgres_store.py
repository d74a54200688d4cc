"""The embedded store on PostgreSQL: what the shared suite (conftest's `backend` runs every e2e and filter
test on both engines) does not show — same JSON as SQLite for the same calls, native column types,
several processes on one database, SERIAL under concurrent writers, the random-call property, error
mapping without secrets, and how the engine is chosen from TABLES_MCP_DB.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from tables_mcp.backends.base import Backend
from tables_mcp.backends.store import describe_store, open_store
from tables_mcp.backends.store.postgres import PostgresStore, pg_error, redact_dsn
from tables_mcp.backends.store.sqlite import SqliteStore
from tables_mcp.errors import ErrorCode, TablesError
from tables_mcp.model import ListQuery
from tables_mcp.tools import Catalogue, ToolOptions

from . import pg
from .conftest import TASK_COLUMNS

pytestmark = pytest.mark.anyio
needs_pg = pytest.mark.postgres

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MIXED_COLUMNS = [
    {"name": "Title", "type": "TEXT"},
    {"name": "N", "type": "NUMBER"},
    {"name": "B", "type": "BOOLEAN"},
    {"name": "D", "type": "DATE"},
    {"name": "DT", "type": "DATETIME"},
    {"name": "T", "type": "TIME"},
    {"name": "S", "type": "SELECT", "options": ["x", "y", "z"]},
    {"name": "M", "type": "MULTISELECT", "options": ["p", "q", "r"]},
    {"name": "Mail", "type": "EMAIL"},
    {"name": "No", "type": "SERIAL"},
]
MIXED_ROWS: list[dict[str, Any]] = [
    {"Title": "B", "N": 1, "B": True, "D": "2026-01-31", "DT": "2026-01-31T09:30:00+09:00", "T": "09:30", "S": "x"},
    {"Title": "a", "N": 2.5, "B": False, "D": "2025-12-31", "DT": "2026-01-31T00:30:00Z", "T": "23:59:59"},
    {"Title": "Ä", "N": 0.1 + 0.2, "M": ["p", "q"], "Mail": "a@b.io", "S": "y"},
    {"Title": "", "N": 1e17, "M": []},
    {"Title": "日本", "N": -3, "DT": "2026-01-31T09:30:00.123456+00:00", "S": "z", "M": ["r"]},
    {"Title": "zz", "N": 2**62, "D": "0001-01-01", "T": "00:00"},
    {"N": 1e300, "B": True},
    {"Title": "x'; DROP TABLE _tm_tables; --", "N": -0.0, "M": ["q"]},
    {"Title": "50%_off", "N": 2.5e-7, "D": "9999-12-31", "DT": "0001-01-01T00:00:00Z"},
    {"Title": "Big", "N": 123456789.123456789, "B": False},
]


def mixed_calls(table: str) -> list[tuple[str, dict[str, Any]]]:
    """A script of tool calls whose results must be the same JSON on both engines."""
    create, listing, patch = f"createRecords_{table}", f"listRecords_{table}", f"patchRecord_{table}"
    script: list[tuple[str, dict[str, Any]]] = [(create, {"records": MIXED_ROWS}), (listing, {"limit": 500})]
    script += [
        (listing, {"sort": [{"field": field, "direction": direction}], "fields": ["Title"]})
        for field in ("Title", "N", "B", "D", "DT", "T", "S", "No")
        for direction in ("asc", "desc")
    ]
    filters: list[dict[str, Any]] = [
        {"field": "N", "op": "gt", "value": 1},
        {"field": "N", "op": "lte", "value": 2.5},
        {"field": "N", "op": "eq", "value": 0.30000000000000004},
        {"field": "N", "op": "in", "value": [1, -3, 2**62]},
        {"field": "N", "op": "ne", "value": 1},
        {"field": "B", "op": "eq", "value": True},
        {"field": "B", "op": "ne", "value": True},
        {"field": "D", "op": "gte", "value": "2026-01-01"},
        {"field": "D", "op": "in", "value": ["0001-01-01", "9999-12-31"]},
        {"field": "DT", "op": "eq", "value": "2026-01-31T00:30:00Z"},
        {"field": "DT", "op": "lt", "value": "2026-01-31T10:00:00+09:00"},
        {"field": "T", "op": "lt", "value": "10:00"},
        {"field": "T", "op": "eq", "value": "09:30:00"},
        {"field": "Title", "op": "contains", "value": "A"},
        {"field": "Title", "op": "contains", "value": "%_"},
        {"field": "Title", "op": "contains", "value": "'"},
        {"field": "Title", "op": "isEmpty"},
        {"field": "Title", "op": "in", "value": ["B", "a", "nope"]},
        {"field": "S", "op": "ne", "value": "x"},
        {"field": "S", "op": "isNotEmpty"},
        {"field": "M", "op": "contains", "value": "q"},
        {"field": "M", "op": "in", "value": ["p", "r"]},
        {"field": "M", "op": "isEmpty"},
        {"field": "Mail", "op": "isEmpty"},
        {"field": "No", "op": "gte", "value": 5.5},
        {"field": "DT", "op": "isNotEmpty"},
        {"or": [{"field": "B", "op": "eq", "value": False}, {"field": "T", "op": "isNotEmpty"}]},
    ]
    script += [(listing, {"filter": f, "fields": ["Title", "No"]}) for f in filters]
    script += [
        (listing, {"sort": [{"field": "N"}], "limit": 3}),
        (listing, {"limit": 4}),
        ("getRecord", {"table": table, "recordId": "3"}),
        ("getRecord", {"table": table, "recordId": "007"}),
        ("getRecord", {"table": table, "recordId": "abc"}),
        ("getRecord", {"table": table, "recordId": "99999999999999999999"}),
        (patch, {"recordId": "2", "fields": {"N": 7, "M": ["r"], "DT": None, "T": "12:00"}}),
        (patch, {"recordId": "x", "fields": {"N": 1}}),
        (patch, {"recordId": "2", "fields": {"N": 2**64}}),
        (create, {"records": [{"N": 2**63}, {"N": 1, "S": "nope"}]}),
        ("deleteRecords", {"table": table, "recordIds": ["1", "abc", "42"]}),
        ("deleteRecords", {"table": table, "recordIds": ["1", "0004"]}),
        (listing, {"limit": 500, "fields": ["Title", "No"]}),
        ("addColumns", {"table": table, "columns": [{"name": "Extra", "type": "NUMBER"}]}),
        (create, {"records": [{"Title": "after", "Extra": 1.25}]}),
        (listing, {"filter": {"field": "Extra", "op": "isEmpty"}, "fields": ["Title"]}),
    ]
    return script


def normalized(payload: Any) -> Any:
    """A payload with what legitimately differs (timestamps, table ids and the cursors bound to them,
    native type names) blanked out."""
    if isinstance(payload, dict):
        out = {}
        for key, value in payload.items():
            if key in ("created_at", "updated_at"):
                assert isinstance(value, str) and STAMP.match(value), value
                out[key] = "<stamp>"
            elif key in ("id", "table") and isinstance(value, str) and value.startswith("tbl"):
                out[key] = "<table>"
            elif key == "nextCursor" and isinstance(value, str):
                out[key] = "<cursor>"
            elif key == "nativeType":
                out[key] = value.split(":", 1)[1]
            else:
                out[key] = normalized(value)
        return out
    if isinstance(payload, list):
        return [normalized(item) for item in payload]
    return payload


def first_difference(expected: Any, actual: Any, where: str = "") -> str:
    if isinstance(expected, dict) and isinstance(actual, dict) and expected.keys() == actual.keys():
        for key in expected:
            if expected[key] != actual[key]:
                return first_difference(expected[key], actual[key], f"{where}.{key}")
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            if e != a:
                return first_difference(e, a, f"{where}[{i}]")
    return f"at {where or 'top'}: SQLite {expected!r}, PostgreSQL {actual!r}"


async def catalogue_for(backend: Backend) -> Catalogue:
    catalogue = Catalogue(backend, ToolOptions(mode="per-table"))
    await catalogue.refresh(force=True)
    return catalogue


@pytest.fixture
async def both(db_path: Path, pg_schema_dsn: str) -> AsyncIterator[tuple[Backend, Backend]]:
    sqlite, postgres = SqliteStore(db_path), open_store(pg_schema_dsn)
    await sqlite.open()
    await postgres.open()
    yield sqlite, postgres
    await sqlite.aclose()
    await postgres.aclose()


@pytest.fixture
async def store(pg_schema_dsn: str) -> AsyncIterator[PostgresStore]:
    backend = PostgresStore(pg_schema_dsn)
    await backend.open()
    yield backend
    await backend.aclose()


# -- the same JSON as SQLite ------------------------------------------------------------------------


@needs_pg
async def test_same_calls_give_the_same_json_on_both_engines(both: tuple[Backend, Backend]) -> None:
    outcomes: list[list[Any]] = []
    for backend in both:
        catalogue = await catalogue_for(backend)
        created = await catalogue.call("createTable", {"name": "Mixed", "columns": MIXED_COLUMNS})
        assert not created.is_error, created.text
        results = [normalized(created.payload)]
        for name, arguments in mixed_calls("Mixed"):
            outcome = await catalogue.call(name, arguments)
            results.append([name, outcome.is_error, normalized(outcome.payload)])
        outcomes.append(results)
    sqlite, postgres = outcomes
    for step, (expected, actual) in enumerate(zip(sqlite, postgres, strict=True)):
        assert actual == expected, f"step {step}: {first_difference(expected, actual)}"
    listed = sqlite[2][2]["records"]  # listRecords_Mixed, limit 500, right after the insert
    numbers = {r["fields"].get("Title"): r["fields"]["N"] for r in listed}
    assert numbers["Ä"] == 0.30000000000000004 and numbers["Big"] == 123456789.12345679
    assert numbers["B"] == 1 and isinstance(numbers["B"], int) and 10**17 in [r["fields"]["N"] for r in listed]
    assert next(r for r in listed if r["fields"].get("Title") == "B")["fields"]["DT"] == "2026-01-31T00:30:00Z"


@needs_pg
async def test_text_sorts_in_byte_order_whatever_the_database_collation(store: PostgresStore) -> None:
    catalogue = await catalogue_for(store)
    await catalogue.call("createTable", {"name": "T", "columns": [{"name": "Name", "type": "TEXT"}]})
    names = ["b", "B", "a", "A", "é", "Z", "_", "10", "9"]
    await catalogue.call("createRecords_T", {"records": [{"Name": n} for n in names]})
    listed = await catalogue.call("listRecords_T", {"sort": [{"field": "Name"}]})
    assert [r["fields"]["Name"] for r in listed.payload["records"]] == sorted(names)  # code point order


# -- native types, metadata, schema version --------------------------------------------------------


@needs_pg
async def test_tables_are_typed_postgresql_tables(store: PostgresStore, pg_schema_dsn: str) -> None:
    catalogue = await catalogue_for(store)
    token = await store.schema_token()
    created = await catalogue.call("createTable", {"name": "Mixed", "columns": MIXED_COLUMNS})
    table_id = created.payload["table"]["id"]
    assert await store.schema_token() != token
    token = await store.schema_token()
    await catalogue.call("addColumns", {"table": "Mixed", "columns": [{"name": "Ref", "type": "TEXT"}]})
    assert await store.schema_token() != token
    with psycopg.connect(pg_schema_dsn) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type, collation_name, is_identity FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            (f"t_{table_id}",),
        ).fetchall()
        metadata = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            ).fetchall()
        }
    types = {name: (kind, collation) for name, kind, collation, _ in rows}
    assert rows[0][:2] == ("id", "bigint") and rows[0][3] == "YES"
    assert types["created_at"][0] == types["updated_at"][0] == "text"
    assert [types[f"c{i}"] for i in range(11)] == [
        ("text", "C"),
        ("numeric", None),
        ("boolean", None),
        ("date", None),
        ("timestamp with time zone", None),
        ("time without time zone", None),
        ("text", "C"),
        ("jsonb", None),
        ("text", "C"),
        ("bigint", None),
        ("text", "C"),
    ]
    assert {"_tm_tables", "_tm_columns", "_tm_meta", f"t_{table_id}"} <= metadata
    described = await catalogue.call("describeTable", {"table": "Mixed"})
    assert described.payload["table"]["columns"][1]["nativeType"] == "postgresql:NUMBER"


@needs_pg
async def test_store_persists_across_servers_and_processes_share_it(pg_schema_dsn: str) -> None:
    first, second = open_store(pg_schema_dsn), open_store(pg_schema_dsn)
    await first.open()
    await second.open()
    try:
        one, two = await catalogue_for(first), await catalogue_for(second)
        await one.call("createTable", {"name": "Notes", "columns": [{"name": "Text", "type": "LONGTEXT"}]})
        await two.refresh(force=True)
        written = await two.call("createRecords_Notes", {"records": [{"Text": "from the second server"}]})
        assert not written.is_error, written.text
        got = await one.call("getRecord", {"table": "Notes", "recordId": written.payload["records"][0]["id"]})
        assert got.payload["record"]["fields"] == {"Text": "from the second server"}
    finally:
        await first.aclose()
        await second.aclose()
    again = open_store(pg_schema_dsn)
    await again.open()
    try:
        table = (await again.list_tables())[0]
        assert len((await again.list_records(table, ListQuery())).records) == 1
    finally:
        await again.aclose()


@needs_pg
async def test_concurrent_opens_and_schema_changes_from_several_servers(pg_schema_dsn: str) -> None:
    servers = [PostgresStore(pg_schema_dsn) for _ in range(4)]
    async with anyio.create_task_group() as group:
        for server in servers:
            group.start_soon(server.open)
    outcomes: list[bool] = []

    async def create(server: PostgresStore, name: str) -> None:
        catalogue = await catalogue_for(server)
        outcome = await catalogue.call("createTable", {"name": name, "columns": [{"name": "x", "type": "TEXT"}]})
        outcomes.append(outcome.is_error)
        if outcome.is_error:
            assert outcome.payload["error"]["code"] == "invalid_argument", outcome.text

    try:
        async with anyio.create_task_group() as group:
            for i, server in enumerate(servers):
                group.start_soon(create, server, "Shared" if i % 2 else "shared")
        assert sorted(outcomes) == [False, True, True, True], "names are unique, case-insensitively"
        assert [t.name for t in await servers[0].list_tables()] in (["Shared"], ["shared"])
    finally:
        for server in servers:
            await server.aclose()


@needs_pg
async def test_serial_has_no_gaps_or_repeats_with_writers_in_several_servers(pg_schema_dsn: str) -> None:
    servers = [PostgresStore(pg_schema_dsn, max_size=4) for _ in range(3)]
    for server in servers:
        await server.open()
    try:
        setup = await catalogue_for(servers[0])
        await setup.call("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
        catalogues = [await catalogue_for(server) for server in servers]

        async def writer(catalogue: Catalogue, n: int) -> None:
            rows = [{"Title": f"w{n}-{i}", "Status": "Todo"} for i in range(25)]
            outcome = await catalogue.call("createRecords_Tasks", {"records": rows})
            assert not outcome.is_error, outcome.text

        async with anyio.create_task_group() as group:
            for n in range(12):
                group.start_soon(writer, catalogues[n % 3], n)
        listed = await catalogues[1].call("listRecords_Tasks", {"limit": 500, "fields": ["No"]})
        numbers = sorted(r["fields"]["No"] for r in listed.payload["records"])
        assert numbers == list(range(1, 301))
        ids = [int(r["id"]) for r in listed.payload["records"]]
        assert len(set(ids)) == 300
    finally:
        for server in servers:
            await server.aclose()


@needs_pg
async def test_pool_recovers_when_the_server_drops_its_connections(store: PostgresStore, pg_dsn: str) -> None:
    catalogue = await catalogue_for(store)
    await catalogue.call("createTable", {"name": "T", "columns": [{"name": "x", "type": "TEXT"}]})
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ''"
        )
    outcome = await catalogue.call("createRecords_T", {"records": [{"x": "still here"}]})
    assert not outcome.is_error, outcome.text


# -- what PostgreSQL cannot store, errors, secrets -------------------------------------------------


@needs_pg
async def test_nul_characters_are_refused_with_a_field_error(store: PostgresStore) -> None:
    catalogue = await catalogue_for(store)
    await catalogue.call("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
    outcome = await catalogue.call(
        "createRecords_Tasks", {"records": [{"Title": "ok", "Status": "Todo"}, {"Title": "a\x00b", "Status": "Todo"}]}
    )
    assert outcome.is_error
    error = outcome.payload["error"]
    assert error["code"] == "invalid_argument"
    assert error["fieldErrors"][-1]["field"] == "Title" and "NUL" in error["fieldErrors"][-1]["message"]
    filtered = await catalogue.call("listRecords_Tasks", {"filter": {"field": "Title", "op": "eq", "value": "\x00"}})
    assert filtered.payload["error"]["code"] == "invalid_argument"
    assert (await catalogue.call("listRecords_Tasks", {})).payload["records"] == []


@pytest.mark.parametrize(
    ("exception", "code", "retryable"),
    [
        (psycopg.errors.UniqueViolation("duplicate key value violates unique constraint"), "conflict", False),
        (psycopg.errors.ForeignKeyViolation("no"), "conflict", False),
        (psycopg.OperationalError("connection failed: server closed the connection"), "unavailable", True),
        (psycopg.errors.AdminShutdown("terminating connection"), "unavailable", True),
        (psycopg.errors.DeadlockDetected("deadlock"), "unavailable", True),
        (psycopg.errors.TooManyConnections("too many"), "unavailable", True),
        (psycopg.errors.InsufficientPrivilege("permission denied for schema public"), "permission_denied", False),
        (psycopg.errors.NumericValueOutOfRange("value overflows numeric format"), "invalid_argument", False),
        (psycopg.errors.UndefinedTable("relation does not exist"), "backend_error", False),
        (OSError("network is unreachable"), "unavailable", True),
    ],
)
def test_errors_are_mapped_at_one_choke_point(exception: Exception, code: str, retryable: bool) -> None:
    error = pg_error(exception)
    assert isinstance(error, TablesError)
    assert error.code.value == code and error.retryable is retryable
    assert error.to_payload()["error"]["hint"]


def test_no_password_in_any_message() -> None:
    dsn = "postgresql://ana:s3cr%40t-pw@db.example:5432/tables?sslmode=require"
    error = pg_error(
        psycopg.OperationalError("auth failed for s3cr@t-pw and s3cr%40t-pw"), ("s3cr@t-pw", "s3cr%40t-pw")
    )
    assert "s3cr" not in error.message
    backend = PostgresStore(dsn)
    assert "s3cr" not in repr(backend) and "s3cr" not in backend.where
    assert redact_dsn(dsn) == "postgresql://ana:***@db.example:5432/tables?sslmode=require"
    assert redact_dsn("host=h user=u password='a b' dbname=d") == "host=h user=u password=*** dbname=d"
    assert redact_dsn("postgresql://h/db?user=u&password=pw&sslmode=disable") == (
        "postgresql://h/db?user=u&password=***&sslmode=disable"
    )


async def test_unreachable_server_is_unavailable_and_retryable_without_the_password() -> None:
    port = pg.free_port()
    backend = open_store(f"postgresql://ana:Sup3rSecret@127.0.0.1:{port}/nowhere?connect_timeout=2")
    with pytest.raises(TablesError) as caught:
        await backend.open()
    error = caught.value
    assert error.code is ErrorCode.UNAVAILABLE and error.retryable
    assert "Sup3rSecret" not in error.message and "Sup3rSecret" not in error.to_text()
    assert "postgresql://ana:***@127.0.0.1" in error.message
    for malformed in ("postgresql://u:Sup3rSecret@[::1/x", "postgresql://u:Sup3rSecret@h/x?bogus=1"):
        with pytest.raises(TablesError) as bad:
            await PostgresStore(malformed).open()
        assert bad.value.code is ErrorCode.INVALID_ARGUMENT and "Sup3rSecret" not in bad.value.to_text()
        assert "Sup3rSecret" not in redact_dsn(malformed)
    closed = PostgresStore("postgresql://u:pw@127.0.0.1:1/x")
    with pytest.raises(TablesError) as not_open:
        await closed.list_tables()
    assert not_open.value.code is ErrorCode.UNAVAILABLE


@needs_pg
async def test_unknown_role_is_reported_without_the_password(pg_dsn: str) -> None:
    dsn = re.sub(r"//[^@/]*@", "//nobody_here:Secret123@", pg_dsn)
    if dsn == pg_dsn:
        pytest.skip("the test DSN has no user part to replace")
    with pytest.raises(TablesError) as caught:
        await PostgresStore(dsn).open()
    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert "Secret123" not in caught.value.message and "nobody_here" in caught.value.message


@needs_pg
async def test_unique_violation_from_the_database_is_a_conflict(store: PostgresStore, pg_schema_dsn: str) -> None:
    catalogue = await catalogue_for(store)
    created = await catalogue.call("createTable", {"name": "U", "columns": [{"name": "Code", "type": "TEXT"}]})
    table_id = created.payload["table"]["id"]
    with psycopg.connect(pg_schema_dsn, autocommit=True) as conn:  # a constraint added by a DBA
        conn.execute(f'CREATE UNIQUE INDEX ON "t_{table_id}" ("c0")')
    assert not (await catalogue.call("createRecords_U", {"records": [{"Code": "A"}]})).is_error
    outcome = await catalogue.call("createRecords_U", {"records": [{"Code": "B"}, {"Code": "A"}]})
    assert outcome.payload["error"]["code"] == "conflict", outcome.text
    listed = await catalogue.call("listRecords_U", {})
    assert [r["fields"]["Code"] for r in listed.payload["records"]] == ["A"], "nothing of the batch was written"


# -- choosing the engine ---------------------------------------------------------------------------


def test_tables_mcp_db_selects_the_engine(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path / "x.db"), SqliteStore)
    assert isinstance(open_store(str(tmp_path / "x.db")), SqliteStore)
    assert isinstance(open_store(":memory:"), SqliteStore)
    for url in ("postgresql://u:p@h:5432/db", "postgres://h/db", "POSTGRESQL://h/db"):
        backend = open_store(url)
        assert isinstance(backend, PostgresStore) and backend.name == "local"
        assert backend.capabilities == SqliteStore.capabilities


def test_a_url_that_went_through_path_still_selects_postgresql_and_is_shown_without_password() -> None:
    mangled = Path("postgresql://ana:pw@db.example:5432/tables")  # Path() folds "//" into "/"
    backend = open_store(mangled)
    assert isinstance(backend, PostgresStore)
    assert backend.where == "postgresql://ana:***@db.example:5432/tables"
    assert describe_store("postgresql://ana:pw@h/db") == "postgresql://ana:***@h/db"
    assert describe_store(Path("/data/tables.db")) == "/data/tables.db"


@needs_pg
async def test_a_role_without_create_uses_an_existing_store_and_gets_permission_denied_for_ddl(
    store: PostgresStore, pg_schema_dsn: str
) -> None:
    catalogue = await catalogue_for(store)
    await catalogue.call("createTable", {"name": "T", "columns": [{"name": "x", "type": "TEXT"}]})
    await catalogue.call("createRecords_T", {"records": [{"x": "a"}]})
    role = "reader_" + pg_schema_dsn.rsplit("tm_", 1)[1][:12]
    schema = "tm_" + pg_schema_dsn.rsplit("tm_", 1)[1][:12]
    with psycopg.connect(pg_schema_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    reader = PostgresStore(re.sub(r"//[^@/]*@", f"//{role}@", pg_schema_dsn))
    try:
        await reader.open()
        listed = await catalogue_for(reader)
        assert (await listed.call("listRecords_T", {})).payload["records"][0]["fields"] == {"x": "a"}
        refused = await listed.call("createTable", {"name": "U", "columns": [{"name": "x", "type": "TEXT"}]})
        assert refused.payload["error"]["code"] == "permission_denied", refused.text
        refused = await listed.call("createRecords_T", {"records": [{"x": "b"}]})
        assert refused.payload["error"]["code"] == "permission_denied", refused.text
    finally:
        await reader.aclose()
        with psycopg.connect(pg_schema_dsn, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def test_postgres_tests_fail_instead_of_skipping_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run in CI"):
        pg.unavailable("no PostgreSQL")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        pg.unavailable("no PostgreSQL")


# -- the random-call property on PostgreSQL --------------------------------------------------------
