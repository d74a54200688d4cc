"""tables-mcp on Ozari end to end: the installed `tables-mcp --backend ozari` over stdio, against the fake Ozari.

The fake runs in this process on 127.0.0.1; the server is a real child process configured only through the
OZARI_* variables a user would set, driven by the MCP SDK's stdio client. Covers the tool catalogue (no
deleteRecords: Ozari cannot delete), Hebrew values through create, get, filter and patch as the fake stores
them, and start-up with a bad token.
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
from mcp.shared.exceptions import McpError

from .fakes.ozari import FakeOzari, serve_fake_ozari
from .fakes.ozari.sample import CUSTOMER_FIELDS, CUSTOMERS

TOKEN = "e2e-ozari-token-9876543210"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeOzari, str]]:
    state = FakeOzari()
    with serve_fake_ozari(state) as url:
        yield state, url


@pytest.fixture
def fake(served: tuple[FakeOzari, str]) -> FakeOzari:
    state = served[0]
    state.reset()
    state.add_table("tcust", {"he": "לקוחות", "en": "Customers"}, CUSTOMER_FIELDS)
    state.add_table("tusers", "משתמשים", {"fname": "שם משתמש"}, credential=True)
    state.add_rows("tcust", CUSTOMERS)
    state.add_token(TOKEN)
    return state


def command() -> list[str]:
    """The installed console script (next to this interpreter), else the module."""
    script = Path(sys.executable).with_name("tables-mcp")
    if script.exists():
        return [str(script)]
    found = shutil.which("tables-mcp")
    return [found] if found else [sys.executable, "-m", "tables_mcp"]


def ozari_env(url: str, **settings: str) -> dict[str, str]:
    """This process's environment without any TABLES_MCP_* / OZARI_* variable, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TABLES_MCP_", "OZARI_"))}
    return {**env, "OZARI_API_TOKEN": TOKEN, "OZARI_BASE_URL": url, **settings}


@asynccontextmanager
async def stdio_session(url: str) -> AsyncIterator[ClientSession]:
    exe, *args = command()
    params = StdioServerParameters(command=exe, args=[*args, "--backend", "ozari"], env=ozari_env(url))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.isError, result.content[0].text  # type: ignore[union-attr]
    assert result.structuredContent is not None
    return result.structuredContent


@pytest.mark.anyio
async def test_an_agent_works_in_hebrew_and_is_never_offered_a_delete(
    fake: FakeOzari, served: tuple[FakeOzari, str]
) -> None:
    url = served[1]
    async with stdio_session(url) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert {"listTables", "describeTable", "listRecords", "getRecord", "createRecords", "patchRecord"} <= set(tools)
        assert "createRecords_tcust" in tools and "'tcust' (לקוחות)" in (tools["createRecords_tcust"].description or "")
        assert not {"deleteRecords", "createTable", "addColumns"} & set(tools)
        with pytest.raises(McpError) as unknown:  # a tool that is not offered is a JSON-RPC error (-32602)
            await session.call_tool("deleteRecords", {"table": "tcust", "recordIds": ["1"]})
        assert "Unknown tool: 'deleteRecords'" in unknown.value.error.message

        tables = (await call(session, "listTables", {}))["tables"]
        assert [(t["id"], t["description"]) for t in tables] == [("tcust", "לקוחות")]

        fake.clear_log()
        row = {"fname": "רחל אברהם", "fcity": "נתניה", "fnotes": "לקוחה חדשה; מחיר: 5%"}
        [created] = (await call(session, "createRecords_tcust", {"records": [row]}))["records"]
        stored = fake.rows("tcust")[-1]
        assert {name: stored[name] for name in row} == row, "stored byte for byte"
        assert created["id"] == str(stored["fid"]) and created["fields"]["fname"] == row["fname"]

        got = (await call(session, "getRecord", {"table": "tcust", "recordId": created["id"]}))["record"]
        assert got == created
        found = await call(
            session, "listRecords", {"table": "tcust", "filter": {"field": "fnotes", "op": "contains", "value": "5%"}}
        )
        assert [r["id"] for r in found["records"]] == [created["id"]]
        by_city = await call(
            session,
            "listRecords",
            {
                "table": "tcust",
                "filter": {"field": "fcity", "op": "in", "value": ["נתניה", "חיפה"]},
                "fields": ["fname"],
            },
        )
        assert [r["fields"] for r in by_city["records"]] == [
            {"fname": "אבי כהן"},
            {"fname": "בני לוי"},
            {"fname": "רחל אברהם"},
        ]

        patched = await call(
            session, "patchRecord", {"table": "tcust", "recordId": created["id"], "fields": {"fcity": "רמת גן"}}
        )
        assert patched["record"]["fields"]["fcity"] == "רמת גן"
        assert fake.row("tcust", stored["fid"])["fcity"] == "רמת גן"
        writes = [(r.method, r.path) for r in fake.requests if r.method in ("POST", "PATCH") and "query" not in r.path]
        assert writes == [
            ("POST", "/integration/tables/tcust/records"),
            ("PATCH", "/integration/tables/tcust/records/single"),
        ]


def test_a_bad_token_at_start_is_one_line_and_exit_2(fake: FakeOzari, served: tuple[FakeOzari, str]) -> None:
    secret = "not-the-token-4242"
    proc = subprocess.run(
        [*command(), "--backend", "ozari"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=ozari_env(served[1], OZARI_API_TOKEN=secret),
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tables-mcp: Ozari: Invalid token") and "OZARI_API_TOKEN" in lines[0]
    assert secret not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert [r.status for r in fake.requests] == [403], "tried once: a refused token is not retried"
