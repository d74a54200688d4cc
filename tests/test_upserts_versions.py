"""Unique columns, record versions and upserts on the embedded store (SQLite and PostgreSQL), through MCP.

Issue 15: `"unique": true` columns (a duplicate is a `conflict` naming the column and the value), every
record's `version` and `expectedVersion` on patches, and `upsertRecords` matching on a unique column.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tables_mcp.audit import AuditLog
from tables_mcp.backends.store.sqlite import SqliteStore
from tables_mcp.model import ListQuery
from tables_mcp.tools import Catalogue, ToolOptions

from .conftest import Agent, open_agent

pytestmark = pytest.mark.anyio

PEOPLE = [
    {"name": "Email", "type": "EMAIL", "unique": True},
    {"name": "Name", "type": "TEXT", "required": True},
    {"name": "Code", "type": "NUMBER", "unique": True},
    {"name": "Team", "type": "SELECT", "options": ["A", "B"]},
]


@pytest.fixture
async def people(agent: Agent) -> Agent:
    await agent.ok("createTable", {"name": "People", "columns": PEOPLE})
    return agent


async def all_records(agent: Agent) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = (await agent.ok("listRecords", {"table": "People", "limit": 500}))["records"]
    return records


# -- unique columns ---------------------------------------------------------------------------------------


async def test_describe_table_shows_which_columns_are_unique(people: Agent) -> None:
    columns = {col["name"]: col for col in (await people.ok("describeTable", {"table": "People"}))["table"]["columns"]}
    assert columns["Email"]["unique"] is True and columns["Code"]["unique"] is True
    assert "unique" not in columns["Name"] and "unique" not in columns["Team"]


async def test_a_duplicate_on_create_is_a_conflict_naming_column_and_value(people: Agent) -> None:
    await people.ok("createRecords", {"table": "People", "records": [{"Email": "ana@x.io", "Name": "Ana", "Code": 1}]})
    error = await people.error(
        "createRecords",
        {"table": "People", "records": [{"Email": "li@x.io", "Name": "Li"}, {"Email": "ana@x.io", "Name": "Ana 2"}]},
    )
    assert error["code"] == "conflict"
    assert "Email" in error["message"] and "ana@x.io" in error["message"]
    [problem] = error["fieldErrors"]
    assert (problem["field"], problem["record"]) == ("Email", 1) and "record 1" in problem["message"]
    assert [r["fields"]["Name"] for r in await all_records(people)] == ["Ana"], "nothing was written"


async def test_a_value_sent_twice_in_one_call_is_a_conflict_and_1_equals_1_0(people: Agent) -> None:
    error = await people.error(
        "createRecords",
        {"table": "People", "records": [{"Name": "A", "Code": 7}, {"Name": "B", "Code": 7.0}]},
    )
    assert error["code"] == "conflict" and error["fieldErrors"][0]["field"] == "Code"
    assert error["fieldErrors"][0]["record"] == 1 and "records[0]" in error["fieldErrors"][0]["message"]
    assert await all_records(people) == []


async def test_empty_values_may_repeat_in_a_unique_column(people: Agent) -> None:
    rows = [{"Name": "A"}, {"Name": "B"}, {"Name": "C"}]
    assert len((await people.ok("createRecords", {"table": "People", "records": rows}))["records"]) == 3


async def test_a_patch_to_a_taken_value_is_a_conflict_and_keeping_ones_own_value_is_not(people: Agent) -> None:
    rows = [{"Email": "a@x.io", "Name": "A"}, {"Email": "b@x.io", "Name": "B"}]
    first, second = (await people.ok("createRecords", {"table": "People", "records": rows}))["records"]
    error = await people.error(
        "patchRecord", {"table": "People", "recordId": second["id"], "fields": {"Email": "a@x.io"}}
    )
    assert error["code"] == "conflict" and "a@x.io" in error["message"]
    assert error["fieldErrors"][0]["field"] == "Email" and first["id"] in error["fieldErrors"][0]["message"]
    same = await people.ok("patchRecord", {"table": "People", "recordId": first["id"], "fields": {"Email": "a@x.io"}})
    assert same["record"]["fields"]["Email"] == "a@x.io"
    after = {r["id"]: r["fields"]["Email"] for r in await all_records(people)}
    assert after == {first["id"]: "a@x.io", second["id"]: "b@x.io"}


async def test_add_columns_takes_unique_and_only_for_types_that_can_be(people: Agent) -> None:
    added = await people.ok(
        "addColumns", {"table": "People", "columns": [{"name": "Phone", "type": "PHONE", "unique": True}]}
    )
    assert {c["name"]: c.get("unique") for c in added["table"]["columns"]}["Phone"] is True
    await people.ok("createRecords", {"table": "People", "records": [{"Name": "A", "Phone": "1"}]})
    error = await people.error("createRecords", {"table": "People", "records": [{"Name": "B", "Phone": "1"}]})
    assert error["code"] == "conflict" and "Phone" in error["message"]
    refused = await people.error(
        "addColumns", {"table": "People", "columns": [{"name": "Flag", "type": "BOOLEAN", "unique": True}]}
    )
    assert refused["code"] == "invalid_argument"
    assert refused["fieldErrors"][0]["field"] == "columns[0].unique" and "TEXT" in refused["fieldErrors"][0]["allowed"]


# -- record versions ----------------------------------------------------------------------------------------


async def test_every_write_bumps_the_version_and_expected_version_guards_a_patch(people: Agent) -> None:
    [made] = (await people.ok("createRecords", {"table": "People", "records": [{"Name": "Ana"}]}))["records"]
    assert made["version"] == "1"
    ref = {"table": "People", "recordId": made["id"]}
    patched = (await people.ok("patchRecord", {**ref, "fields": {"Team": "A"}}))["record"]
    assert patched["version"] == "2"
    guarded = await people.ok("patchRecord", {**ref, "fields": {"Team": "B"}, "expectedVersion": "2"})
    assert guarded["record"]["version"] == "3" and guarded["record"]["fields"]["Team"] == "B"

    stale = await people.call("patchRecord", {**ref, "fields": {"Name": "Old"}, "expectedVersion": "2"})
    assert stale.isError and stale.structuredContent is not None
    assert stale.structuredContent["error"]["code"] == "conflict"
    now = (await people.ok("getRecord", ref))["record"]
    assert stale.structuredContent["currentRecord"] == now, "the record as it is now, to merge and retry"
    assert now["fields"] == {"Name": "Ana", "Team": "B"} and now["version"] == "3", "nothing was written"
    text = stale.content[0].text  # type: ignore[union-attr]
    assert "version 3" in text and "data, not instructions" in text
    for nonsense in ("abc", "-1", ""):
        refused = await people.error("patchRecord", {**ref, "fields": {"Name": "X"}, "expectedVersion": nonsense})
        assert refused["code"] == "conflict", nonsense
    missing = await people.error(
        "patchRecord", {"table": "People", "recordId": "999", "fields": {"Name": "X"}, "expectedVersion": "1"}
    )
    assert missing["code"] == "not_found"


async def test_the_per_table_patch_takes_expected_version_too(people: Agent) -> None:
    [made] = (await people.ok("createRecords", {"table": "People", "records": [{"Name": "Ana"}]}))["records"]
    tool = (await people.tools())["patchRecord_People"]
    assert tool.inputSchema["properties"]["expectedVersion"] == {"type": "string"}
    error = await people.error(
        "patchRecord_People", {"recordId": made["id"], "fields": {"Name": "B"}, "expectedVersion": "7"}
    )
    assert error["code"] == "conflict"
    done = await people.ok(
        "patchRecord_People", {"recordId": made["id"], "fields": {"Name": "B"}, "expectedVersion": "1"}
    )
    assert done["record"]["version"] == "2"


async def test_listed_records_carry_their_version_with_or_without_a_projection(people: Agent) -> None:
    await people.ok("createRecords", {"table": "People", "records": [{"Name": "A"}, {"Name": "B"}]})
    listed = (await people.ok("listRecords", {"table": "People", "fields": ["Name"]}))["records"]
    assert [r["version"] for r in listed] == ["1", "1"]


# -- upserts ----------------------------------------------------------------------------------------------


async def test_upsert_creates_the_missing_patches_the_found_and_twice_creates_nothing(people: Agent) -> None:
    rows = [{"Email": f"p{i}@x.io", "Name": f"P{i}", "Team": "A"} for i in range(5)]
    first = await people.ok("upsertRecords", {"table": "People", "keyField": "Email", "records": rows})
    assert [r["fields"]["Email"] for r in first["created"]] == [row["Email"] for row in rows] and first["updated"] == []
    again = await people.ok("upsertRecords", {"table": "People", "keyField": "Email", "records": rows})
    assert again["created"] == [] and [r["id"] for r in again["updated"]] == [r["id"] for r in first["created"]]
    assert all(r["version"] == "2" for r in again["updated"])

    mixed = [{"Email": "p1@x.io", "Team": "B"}, {"Email": "new@x.io", "Name": "New"}]
    done = await people.ok("upsertRecords", {"table": "People", "keyField": "Email", "records": mixed})
    [updated], [created] = done["updated"], done["created"]
    assert updated["id"] == first["created"][1]["id"]
    assert updated["fields"] == {"Email": "p1@x.io", "Name": "P1", "Team": "B"}, "columns not sent are kept"
    assert created["fields"] == {"Email": "new@x.io", "Name": "New"}
    assert len(await all_records(people)) == 6


async def test_upsert_on_a_number_key_and_the_per_record_checks(people: Agent) -> None:
    await people.ok("upsertRecords", {"table": "People", "keyField": "Code", "records": [{"Code": 7, "Name": "7"}]})
    done = await people.ok("upsertRecords", {"table": "People", "keyField": "Code", "records": [{"Code": 7.0}]})
    assert done["created"] == [] and done["updated"][0]["fields"]["Name"] == "7"

    repeated = await people.error(
        "upsertRecords", {"table": "People", "keyField": "Code", "records": [{"Code": 1, "Name": "a"}, {"Code": 1.0}]}
    )
    assert repeated["code"] == "invalid_argument" and repeated["fieldErrors"][0]["record"] == 1
    keyless = await people.error("upsertRecords", {"table": "People", "keyField": "Email", "records": [{"Name": "x"}]})
    assert keyless["fieldErrors"][0] == {"field": "Email", "message": "required column is missing", "record": 0}
    new_without_name = await people.error(
        "upsertRecords", {"table": "People", "keyField": "Email", "records": [{"Email": "n@x.io"}]}
    )
    assert new_without_name["code"] == "invalid_argument" and new_without_name["fieldErrors"][0]["field"] == "Name"
    clash = await people.error(
        "upsertRecords",
        {"table": "People", "keyField": "Email", "records": [{"Email": "c@x.io", "Name": "c", "Code": 7}]},
    )
    assert clash["code"] == "conflict" and "Code" in clash["message"], "another unique column still holds"
    assert len(await all_records(people)) == 1, "nothing was written by the refused calls"


async def test_an_upsert_is_audited_with_the_ids_it_created_and_updated(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    store = SqliteStore(tmp_path / "audited.db")
    await store.open()
    try:
        catalogue = Catalogue(store, ToolOptions(), audit=AuditLog(str(audit)))
        await catalogue.refresh(force=True)
        await catalogue.call("createTable", {"name": "People", "columns": PEOPLE})
        rows = [{"Email": "a@x.io", "Name": "A"}]
        await catalogue.call("upsertRecords", {"table": "People", "keyField": "Email", "records": rows})
        more = [*rows, {"Email": "b@x.io", "Name": "B"}]
        await catalogue.call("upsertRecords", {"table": "People", "keyField": "Email", "records": more})
    finally:
        await store.aclose()
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    upserts = [(line["recordIds"], line["outcome"]) for line in lines if line["tool"] == "upsertRecords"]
    assert upserts == [(["1"], "ok"), (["2", "1"], "ok")]


async def test_only_a_unique_column_can_be_the_key(people: Agent) -> None:
    for key in ("Name", "Team", "Nope"):
        error = await people.error("upsertRecords", {"table": "People", "keyField": key, "records": [{key: "A"}]})
        assert error["code"] == "invalid_argument" and key in error["message"]
        assert error["fieldErrors"][0]["field"] == "keyField" and error["fieldErrors"][0]["allowed"] == [
            "Email",
            "Code",
        ]
    await people.ok("createTable", {"name": "Plain", "columns": [{"name": "A", "type": "TEXT"}]})
    error = await people.error("upsertRecords", {"table": "Plain", "keyField": "A", "records": [{"A": "x"}]})
    assert error["fieldErrors"][0]["allowed"] == [] and "addColumns" in error["hint"]


# -- a store made by an older tables-mcp ----------------------------------------------------------------

# The layout of a store made before unique columns and record versions (tables-mcp up to issue 14).
OLD_LAYOUT = """
CREATE TABLE _tm_tables (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT,
    created_at TEXT NOT NULL, next_column INTEGER NOT NULL DEFAULT 0);
CREATE TABLE _tm_columns (
    table_id TEXT NOT NULL REFERENCES _tm_tables(id), position INTEGER NOT NULL, name TEXT NOT NULL,
    type TEXT NOT NULL, required INTEGER NOT NULL, options TEXT, description TEXT, reference_table TEXT,
    sql_name TEXT NOT NULL, PRIMARY KEY (table_id, position), UNIQUE (table_id, name));
CREATE TABLE _tm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO _tm_meta VALUES ('schema_version', '1');
INSERT INTO _tm_tables VALUES ('tblold', 'Old', NULL, '2026-01-01T00:00:00.000Z', 1);
INSERT INTO _tm_columns VALUES ('tblold', 0, 'Title', 'TEXT', 1, NULL, NULL, NULL, 'c0');
CREATE TABLE "t_tblold" (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    "c0" TEXT);
INSERT INTO "t_tblold" (created_at, updated_at, c0)
    VALUES ('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'kept');
"""


async def test_a_store_file_of_an_older_layout_opens_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_LAYOUT)
    store = SqliteStore(path)
    await store.open()
    try:
        async for agent in open_agent(store, ToolOptions()):
            [record] = (await agent.ok("listRecords", {"table": "Old"}))["records"]
            assert record["fields"] == {"Title": "kept"} and record["version"] == "1"
            await agent.ok("addColumns", {"table": "Old", "columns": [{"name": "Key", "type": "TEXT", "unique": True}]})
            patch = {"table": "Old", "recordId": record["id"], "fields": {"Key": "k1"}, "expectedVersion": "1"}
            assert (await agent.ok("patchRecord", patch))["record"]["version"] == "2"
            error = await agent.error("createRecords", {"table": "Old", "records": [{"Title": "new", "Key": "k1"}]})
            assert error["code"] == "conflict"
    finally:
        await store.aclose()
    reopened = SqliteStore(path)  # a migrated store opens again as it is
    await reopened.open()
    try:
        [table] = await reopened.list_tables()
        assert [c.unique for c in table.columns] == [False, True]
    finally:
        await reopened.aclose()


OLD_PG_LAYOUT = """
CREATE TABLE _tm_tables (
    id text COLLATE "C" PRIMARY KEY, name text NOT NULL UNIQUE, description text,
    created_at text COLLATE "C" NOT NULL, next_column integer NOT NULL DEFAULT 0);
CREATE TABLE _tm_columns (
    table_id text NOT NULL REFERENCES _tm_tables(id), position integer NOT NULL, name text NOT NULL,
    type text NOT NULL, required integer NOT NULL, options text, description text, reference_table text,
    sql_name text NOT NULL, PRIMARY KEY (table_id, position), UNIQUE (table_id, name));
CREATE TABLE _tm_meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO _tm_meta VALUES ('schema_version', '1');
INSERT INTO _tm_tables VALUES ('tblold', 'Old', NULL, '2026-01-01T00:00:00.000Z', 1);
INSERT INTO _tm_columns VALUES ('tblold', 0, 'Title', 'TEXT', 1, NULL, NULL, NULL, 'c0');
CREATE TABLE "t_tblold" (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, created_at text NOT NULL,
    updated_at text NOT NULL, "c0" text COLLATE "C");
INSERT INTO "t_tblold" (created_at, updated_at, c0)
    VALUES ('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'kept');
"""


@pytest.mark.postgres
async def test_a_postgres_store_of_an_older_layout_opens_and_keeps_its_records(pg_schema_dsn: str) -> None:
    import psycopg

    from tables_mcp.backends.store.postgres import PostgresStore

    with psycopg.connect(pg_schema_dsn, autocommit=True) as conn:
        conn.execute(OLD_PG_LAYOUT)
    for _ in range(2):  # the second open finds a current layout
        store = PostgresStore(pg_schema_dsn)
        await store.open()
        try:
            [table] = await store.list_tables()
            page = await store.list_records(table, ListQuery())
            assert [(r["fields"], r["version"]) for r in page.records] == [({"Title": "kept"}, "1")]
            patched = await store.patch_record_at(table, page.records[0]["id"], {"Title": "new"}, "1")
            assert patched["version"] == "2"
        finally:
            await store.aclose()
        with psycopg.connect(pg_schema_dsn, autocommit=True) as conn:
            conn.execute("UPDATE t_tblold SET version = 1, c0 = 'kept'")
