"""tables-mcp on Kintone end to end: the installed `tables-mcp --backend kintone` over stdio, against the fake.

The fake Kintone runs in this process on 127.0.0.1; the server is a real child process configured
only through the KINTONE_* variables a user would set, driven by the MCP SDK's stdio client. Covers
the tool catalogue built from the fake's apps, a 250-record create that Kintone rejects part-way
(checked against what the fake stored), start-up with bad credentials, and 429 + Retry-After.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from .fakes.kintone import FakeKintone

TASK_FIELDS: dict[str, dict[str, Any]] = {
    "Title": {"type": "SINGLE_LINE_TEXT", "required": True},
    "Code": {"type": "SINGLE_LINE_TEXT", "unique": True},
    "Status": {"type": "DROP_DOWN", "options": ["Todo", "Doing", "Done"]},
    "Estimate": {"type": "NUMBER"},
    "Double": {"type": "CALC", "expression": "Estimate * 2"},
    "Due": {"type": "DATE"},
    "Tags": {"type": "CHECK_BOX", "options": ["bug", "feature", "docs"]},
    "Process_status": {"type": "STATUS"},  # keeps the fake from replacing "Status" with the process field
}
DEAL_FIELDS: dict[str, dict[str, Any]] = {
    "案件名": {"type": "SINGLE_LINE_TEXT", "required": True},
    "確度": {"type": "RADIO_BUTTON", "options": ["A", "B", "C"], "defaultValue": "B"},
    "金額": {"type": "NUMBER", "unit": "円"},
}
TASKS_TOKEN = "tasksToken0123456789"
DEALS_TOKEN = "dealsToken0123456789"


def command() -> list[str]:
    """The installed console script (next to this interpreter), else the module."""
    script = Path(sys.executable).with_name("tables-mcp")
    if script.exists():
        return [str(script)]
    found = shutil.which("tables-mcp")
    return [found] if found else [sys.executable, "-m", "tables_mcp"]


@pytest.fixture
def fake(fake_kintone: tuple[FakeKintone, str]) -> FakeKintone:
    state = fake_kintone[0]
    state.reset()
    tasks = state.add_app("Tasks", TASK_FIELDS, description="<p>Team tasks</p>")
    deals = state.add_app("案件管理", DEAL_FIELDS)
    state.add_token(tasks, token=TASKS_TOKEN)
    state.add_token(deals, token=DEALS_TOKEN)
    return state


@pytest.fixture
def url(fake_kintone: tuple[FakeKintone, str]) -> str:
    return fake_kintone[1]


def kintone_env(url: str, **settings: str) -> dict[str, str]:
    """This process's environment without any TABLES_MCP_* / KINTONE_* variable, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TABLES_MCP_", "KINTONE_"))}
    defaults = {
        "KINTONE_BASE_URL": url,
        "KINTONE_API_TOKEN": f"{TASKS_TOKEN},{DEALS_TOKEN}",
        "KINTONE_APP_IDS": "1,2",
    }
    return {**env, **defaults, **settings}


@asynccontextmanager
async def stdio_session(url: str) -> AsyncIterator[ClientSession]:
    exe, *args = command()
    params = StdioServerParameters(command=exe, args=[*args, "--backend", "kintone"], env=kintone_env(url))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def logged(fake: FakeKintone, method: str, endpoint: str) -> list[Any]:
    return [r for r in list(fake.requests) if r.method == method and r.path.endswith(f"/{endpoint}.json")]


@pytest.mark.anyio
async def test_tools_list_shows_a_typed_create_per_app(fake: FakeKintone, url: str) -> None:
    async with stdio_session(url) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        tables = (await session.call_tool("listTables", {})).structuredContent
    assert tables is not None
    assert [(t["id"], t["name"], t["description"]) for t in tables["tables"]] == [
        ("1", "Tasks", "Team tasks"),
        ("2", "案件管理", None),
    ]
    creates = sorted(name for name in tools if name.startswith("createRecords_"))
    assert len(creates) == 2 and "createRecords_Tasks" in creates
    assert not {"createTable", "addColumns"} & set(tools)  # Kintone apps are made in Kintone
    generic = {
        "listTables",
        "describeTable",
        "listRecords",
        "getRecord",
        "createRecords",
        "patchRecord",
        "deleteRecords",
    }
    assert generic <= set(tools)

    tasks = tools["createRecords_Tasks"].inputSchema["properties"]["records"]
    row = tasks["items"]
    assert tasks["maxItems"] == 1000
    assert row["required"] == ["Title"] and row["additionalProperties"] is False
    assert row["properties"]["Status"] == {"enum": ["Todo", "Doing", "Done"]}
    assert row["properties"]["Tags"] == {
        "type": "array",
        "items": {"enum": ["bug", "feature", "docs"]},
        "uniqueItems": True,
    }
    assert row["properties"]["Estimate"] == {"type": "number"}
    assert row["properties"]["Due"] == {"type": "string", "format": "date"}
    # Computed and system fields are not writable, so they are not in the create schema.
    assert not {"Double", "Record_number", "Created_by", "Created_datetime", "Process_status"} & set(row["properties"])
    assert "All-or-nothing" in (tools["createRecords_Tasks"].description or "")  # one bulkRequest

    [deals_name] = [name for name in creates if name != "createRecords_Tasks"]
    assert deals_name.isascii() and len(deals_name) <= 40
    deals = tools[deals_name]
    assert "'案件管理'" in (deals.description or "")
    deal_row = deals.inputSchema["properties"]["records"]["items"]
    assert deal_row["required"] == ["案件名"]
    assert deal_row["properties"]["確度"] == {"enum": ["A", "B", "C"]}
    assert deal_row["properties"]["金額"] == {"type": "number", "description": "unit: 円"}


@pytest.mark.anyio
async def test_a_create_kintone_rejects_writes_nothing_and_names_the_record(fake: FakeKintone, url: str) -> None:
    """250 records are one bulkRequest of three writes, one transaction: the duplicate Code in the second write
    rolls all three back, and the agent is told which record and why, with nothing to clean up."""
    fake.add_records(1, [{"Title": {"value": "existing"}, "Code": {"value": "DUP"}}])
    rows = [{"Title": f"row {i}", "Code": f"C{i}", "Estimate": i % 10} for i in range(250)]
    rows[150]["Code"] = "DUP"  # only Kintone knows Code is taken
    async with stdio_session(url) as session:
        fake.clear_log()
        result = await session.call_tool("createRecords_Tasks", {"records": rows})
    assert result.isError and result.structuredContent is not None
    payload = result.structuredContent
    error = payload["error"]
    assert error["code"] == "conflict" and error["retryable"] is False and error["backendCode"] == "CB_VA01"
    assert error["fieldErrors"] == [
        {"field": "Code", "message": "This value already exists in another record.", "record": 150}
    ]
    assert "written" not in payload and "failed" not in payload
    [bulk] = logged(fake, "POST", "bulkRequest")
    assert [len(item["payload"]["records"]) for item in bulk.body["requests"]] == [100, 100, 50]
    assert bulk.status == 400 and logged(fake, "POST", "records") == []
    assert [rec.values["Code"] for rec in fake.apps[1].records.values()] == ["DUP"], "nothing else was stored"
    text = result.content[0].text  # type: ignore[union-attr]
    assert "record 150" in text or "150" in text


@pytest.mark.parametrize(
    ("settings", "secret"),
    [
        ({"KINTONE_API_TOKEN": "wrongToken0123456789"}, "wrongToken0123456789"),
        (
            {"KINTONE_API_TOKEN": "", "KINTONE_USERNAME": "alice", "KINTONE_PASSWORD": "not-her-passw0rd"},
            "not-her-passw0rd",
        ),
    ],
    ids=["wrong-token", "wrong-password"],
)
def test_bad_credentials_at_start_are_one_line_and_exit_2(
    fake: FakeKintone, url: str, settings: dict[str, str], secret: str
) -> None:
    fake.add_user("alice", "alice-password")
    started = time.monotonic()
    proc = subprocess.run(
        [*command(), "--backend", "kintone"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=kintone_env(url, **settings),
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert time.monotonic() - started < 20, "credentials rejected by Kintone are not retried"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tables-mcp: Kintone: ") and "KINTONE_" in lines[0]
    assert "Traceback" not in proc.stderr and secret not in proc.stderr + proc.stdout
    assert proc.stdout == ""
    assert fake.requests, "the server did try the credentials against Kintone"


@pytest.mark.anyio
async def test_429_with_retry_after_is_retried_transparently(fake: FakeKintone, url: str) -> None:
    fake.add_records(1, [{"Title": {"value": "first"}}])
    async with stdio_session(url) as session:
        fake.clear_log()
        fake.fail_next(1, 429, retry_after=1)
        started = time.monotonic()
        got = await session.call_tool("getRecord", {"table": "Tasks", "recordId": "1"})
        waited = time.monotonic() - started
        assert not got.isError and got.structuredContent is not None
        assert got.structuredContent["record"]["fields"]["Title"] == "first"
        assert [r.status for r in logged(fake, "GET", "record")] == [429, 200]
        assert waited >= 0.95, "the server waited Retry-After seconds before trying again"

        # A 429 is refused before processing, so even a create (a POST) is sent again, and written once.
        fake.clear_log()
        fake.fail_next(1, 429, retry_after=1)
        created = await session.call_tool("createRecords_Tasks", {"records": [{"Title": "second", "Code": "S"}]})
        assert not created.isError, created.content
        assert [r.status for r in logged(fake, "POST", "records")] == [429, 200]
    assert sorted(rec.values["Title"] for rec in fake.apps[1].records.values()) == ["first", "second"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("flags", "replicated"),
    [
        (["--transport", "http", "--stateless"], True),
        (["--transport", "http"], False),
        (["--transport", "sse"], False),
        ([], False),
    ],
)
async def test_only_stateless_http_makes_kintone_page_without_cursors(
    fake: FakeKintone, url: str, flags: list[str], replicated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start-up path a user takes (flags -> Settings -> open_catalogue) tells the backend it is a replica."""
    from tables_mcp.cli import build_parser, open_catalogue
    from tables_mcp.config import Settings, load_settings

    for key, value in kintone_env(url).items():
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith("TABLES_MCP_")]:
        monkeypatch.delenv(key)
    args = build_parser().parse_args(["--backend", "kintone", *flags])
    settings = load_settings({name: getattr(args, name, None) for name in Settings.model_fields})
    async with open_catalogue(settings) as catalogue:
        assert catalogue.backend._pager.live_cursors is not replicated  # type: ignore[attr-defined]
