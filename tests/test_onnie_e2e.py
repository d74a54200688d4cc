"""tables-mcp on Onnie end to end: the installed `tables-mcp --backend onnie` over stdio, against the fake.

The fake Onnie runs in this process on 127.0.0.1; the server is a real child process configured only
through the ONNIE_* variables a user would set, driven by the MCP SDK's stdio client. Covers the tool
catalogue and a round trip, a 250-record create refused part-way (checked against what the fake
stored), a filter answered exactly, one 429 retried transparently, the read-only key, and start-up
with a bad key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from .fakes.onnie import BASE_PATH, FakeOnnie, serve_fake_onnie
from .fakes.onnie.sample import PROJECT_COLUMNS, TASK_COLUMNS

pytestmark = pytest.mark.anyio


def command() -> list[str]:
    """The installed console script (next to this interpreter), else the module."""
    script = Path(sys.executable).with_name("tables-mcp")
    if script.exists():
        return [str(script)]
    found = shutil.which("tables-mcp")
    return [found] if found else [sys.executable, "-m", "tables_mcp"]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeOnnie, str]]:
    state = FakeOnnie()
    with serve_fake_onnie(state) as url:
        yield state, url


@pytest.fixture
def fake(served: tuple[FakeOnnie, str]) -> FakeOnnie:
    state = served[0]
    state.reset()
    state.add_table("Projects", PROJECT_COLUMNS)
    state.add_table("Tasks", TASK_COLUMNS)
    return state


@pytest.fixture
def url(served: tuple[FakeOnnie, str]) -> str:
    return served[1]


def onnie_env(url: str, key: str) -> dict[str, str]:
    """This process's environment without TABLES_MCP_* / ONNIE_* variables, plus the Onnie settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TABLES_MCP_", "ONNIE_"))}
    return {**env, "ONNIE_BASE_URL": url, "ONNIE_API_KEY": key}


@asynccontextmanager
async def stdio_session(url: str, key: str) -> AsyncIterator[ClientSession]:
    exe, *args = command()
    params = StdioServerParameters(command=exe, args=[*args, "--backend", "onnie"], env=onnie_env(url, key))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def ok(session: ClientSession, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.isError and result.structuredContent is not None, result.content
    return result.structuredContent


def statuses(fake: FakeOnnie, method: str) -> list[int | None]:
    return [r.status for r in list(fake.requests) if r.method == method]


async def test_tools_a_round_trip_and_an_exact_filter_over_stdio(fake: FakeOnnie, url: str) -> None:
    async with stdio_session(url, fake.add_key()) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert {"createRecords_Tasks", "createRecords_Projects", "patchRecord", "deleteRecords"} <= set(tools)
        assert not {"createTable", "addColumns"} & set(tools)
        row = tools["createRecords_Tasks"].inputSchema["properties"]["records"]["items"]
        assert row["required"] == ["Title"] and not {"Cost", "Summary", "No", "Attachments"} & set(row["properties"])

        rows = [{"Title": f"t{i:02}", "Estimate": i, "Status": "Done" if i % 3 == 0 else "Doing"} for i in range(30)]
        created = (await ok(session, "createRecords_Tasks", {"records": rows}))["records"]
        assert "Cost" not in created[0]["fields"], "a FORMULA without a value is left out like any empty value"
        where = {
            "and": [{"field": "Status", "op": "eq", "value": "Done"}, {"field": "Estimate", "op": "gte", "value": 10}]
        }
        listed = await ok(
            session,
            "listRecords",
            {"table": "Tasks", "filter": where, "sort": [{"field": "Estimate", "direction": "desc"}]},
        )
        patched = await ok(
            session, "patchRecord", {"table": "Tasks", "recordId": created[0]["id"], "fields": {"Rate": 10}}
        )
    assert [record["fields"]["Title"] for record in listed["records"]] == [f"t{i:02}" for i in (27, 24, 21, 18, 15, 12)]
    assert listed["totalCount"] == 6
    assert patched["record"]["fields"]["Cost"] == 0  # Onnie computed 0 * 10
    methods = {r.method for r in fake.requests}
    assert "PUT" not in methods and "PATCH" in methods


async def test_a_create_refused_part_way_is_reported_exactly_over_stdio(fake: FakeOnnie, url: str) -> None:
    rows = [{"Title": f"row {i:03}"} for i in range(250)]
    rows[120]["Owner"] = "not an address"  # refused by the schema: before any request
    async with stdio_session(url, fake.add_key()) as session:
        refused = await session.call_tool("createRecords_Tasks", {"records": rows})
        assert refused.isError and fake.records("Tasks") == []
        rows[120]["Owner"] = "ok@example.com"
        rows[120]["Link"] = "ftp://example.com/spec"  # only Onnie refuses this: its request of 100-199 fails whole
        fake.clear_log()
        result = await session.call_tool("createRecords_Tasks", {"records": rows})
    assert result.isError and result.structuredContent is not None
    payload = result.structuredContent
    assert payload["error"]["fieldErrors"] == [
        {"field": "Link", "message": "Invalid URL (expected http:// or https://)", "record": 120}
    ]
    assert [item["index"] for item in payload["failed"]] == list(range(100, 200))
    stored = {record["id"]: record["fields"]["Title"] for record in fake.records("Tasks")}
    assert {record["id"]: record["fields"]["Title"] for record in payload["written"]} == stored
    assert sorted(stored.values()) == [f"row {i:03}" for i in [*range(100), *range(200, 250)]]
    assert sorted(statuses(fake, "POST"), key=str) == [201, 201, 400]


async def test_one_429_is_retried_transparently_over_stdio(fake: FakeOnnie, url: str) -> None:
    [record_id] = fake.add_records("Tasks", [{"Title": "first"}])
    async with stdio_session(url, fake.add_key()) as session:
        fake.clear_log()
        fake.fail_next(1, 429, retry_after=1)
        got = await ok(session, "getRecord", {"table": "Tasks", "recordId": record_id})
        fake.fail_next(1, 429, method="POST")
        await ok(session, "createRecords_Tasks", {"records": [{"Title": "second"}]})
    assert got["record"]["fields"]["Title"] == "first"
    assert statuses(fake, "GET") == [429, 200] and statuses(fake, "POST") == [429, 201]
    assert sorted(record["fields"]["Title"] for record in fake.records("Tasks")) == ["first", "second"]


async def test_a_read_only_key_reads_and_is_refused_writes_naming_the_scope(fake: FakeOnnie, url: str) -> None:
    [record_id] = fake.add_records("Tasks", [{"Title": "keep"}])
    async with stdio_session(url, fake.add_key({"tables:read"})) as session:
        listed = await ok(session, "listRecords", {"table": "Tasks"})
        result = await session.call_tool("createRecords_Tasks", {"records": [{"Title": "new"}]})
        patch = await session.call_tool(
            "patchRecord", {"table": "Tasks", "recordId": record_id, "fields": {"Title": "changed"}}
        )
    assert [record["id"] for record in listed["records"]] == [record_id]
    for refused in (result, patch):
        assert refused.isError and refused.structuredContent is not None
        error = refused.structuredContent["error"]
        assert error["code"] == "permission_denied" and "tables:write" in error["message"]
    assert [record["fields"]["Title"] for record in fake.records("Tasks")] == ["keep"]


def test_a_bad_key_at_start_is_one_line_exit_2_and_never_echoed(fake: FakeOnnie, url: str) -> None:
    wrong = "onn_live_" + "cd" * 24
    proc = subprocess.run(
        [*command(), "--backend", "onnie"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=onnie_env(url, wrong),
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tables-mcp: Onnie: ") and "ONNIE_API_KEY" in lines[0], lines
    assert wrong not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert [r.path for r in fake.requests] == [f"{BASE_PATH}/tables"], "the key was tried once, not retried"
