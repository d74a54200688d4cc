"""tables-mcp on DingTalk end to end: the installed `tables-mcp --backend dingtalk` over stdio, against the fake.

The fake DingTalk (its sample base: "Contacts" and the Chinese-named "任务") runs in this process on
127.0.0.1; the server is a child process configured only through the DINGTALK_* variables a user
would set, driven by the MCP SDK's stdio client. Covers the catalogue built from the sheets, a
create / read / patch / delete round trip checked against what the fake holds, a throttled call
retried after DingTalk's advised second, `doctor`, and start-up with a wrong secret.
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

from .fakes.dingtalk import SampleTenant, sample_tenant, serve_fake_dingtalk

TASKS = "任务"


def command() -> list[str]:
    """The installed console script (next to this interpreter), else the module."""
    script = Path(sys.executable).with_name("tables-mcp")
    if script.exists():
        return [str(script)]
    found = shutil.which("tables-mcp")
    return [found] if found else [sys.executable, "-m", "tables_mcp"]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SampleTenant, str]]:
    tenant = sample_tenant()
    with serve_fake_dingtalk(tenant.state) as url:
        yield tenant, url


@pytest.fixture
def tenant(served: tuple[SampleTenant, str]) -> SampleTenant:
    served[0].state.clear_faults()
    return served[0]


def dingtalk_env(tenant: SampleTenant, url: str, **settings: str) -> dict[str, str]:
    """This process's environment without any TABLES_MCP_* / DINGTALK_* variable, plus the sample's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TABLES_MCP_", "DINGTALK_"))}
    return {**env, **tenant.settings(url), **settings}


@asynccontextmanager
async def stdio_session(tenant: SampleTenant, url: str) -> AsyncIterator[ClientSession]:
    exe, *args = command()
    params = StdioServerParameters(command=exe, args=[*args, "--backend", "dingtalk"], env=dingtalk_env(tenant, url))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def ok(session: ClientSession, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.isError, result.content
    assert result.structuredContent is not None
    return result.structuredContent


@pytest.mark.anyio
async def test_a_session_over_stdio_reads_and_writes_the_sheets(served: tuple[SampleTenant, str]) -> None:
    tenant, url = served
    state = tenant.state
    async with stdio_session(tenant, url) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        tables = (await ok(session, "listTables", {}))["tables"]
        assert [t["name"] for t in tables] == ["Contacts", TASKS]
        [tasks_tool] = [name for name, tool in tools.items() if f"'{TASKS}'" in (tool.description or "")]
        assert tasks_tool.startswith("createRecords_") and tasks_tool.isascii()
        row = tools[tasks_tool].inputSchema["properties"]["records"]["items"]
        assert row["properties"]["状态"] == {"enum": ["待办", "进行中", "完成"]}
        assert not {"附件", "摘要"} & set(row["properties"]), "attachments and formulas are read-only"

        created = (await ok(session, tasks_tool, {"records": [{"标题": "新任务", "数量": 7, "状态": "待办"}]}))[
            "records"
        ]
        [record] = created
        assert record["fields"]["摘要"] == "新任务 ×7", "read back: the formula DingTalk computed"
        found = await ok(
            session, "listRecords", {"table": TASKS, "filter": {"field": "状态", "op": "eq", "value": "待办"}}
        )
        assert [r["fields"]["标题"] for r in found["records"]] == ["Review contract", "新任务"]
        patched = await ok(
            session, "patchRecord", {"table": TASKS, "recordId": record["id"], "fields": {"已完成": True, "数量": 8}}
        )
        assert patched["record"]["fields"]["已完成"] is True and patched["record"]["fields"]["数量"] == 8
        stored = state.record(tenant.base_id, tenant.tasks_sheet, record["id"])["fields"]
        assert (stored["标题"], stored["数量"], stored["已完成"]) == ("新任务", "8", True)
        assert await ok(session, "deleteRecords", {"table": TASKS, "recordIds": [record["id"]]}) == {
            "deleted": [record["id"]]
        }
    assert record["id"] not in {r["id"] for r in state.records(tenant.base_id, tenant.tasks_sheet)}


@pytest.mark.anyio
async def test_a_throttled_call_is_retried_after_a_second(
    tenant: SampleTenant, served: tuple[SampleTenant, str]
) -> None:
    state = tenant.state
    async with stdio_session(tenant, served[1]) as session:
        state.clear_log()
        state.throttle_next(1, path="/records/list")
        listed = await ok(session, "listRecords", {"table": "Contacts"})
        assert [r["fields"]["Name"] for r in listed["records"]] == ["Ada Wong", "王小明"]
        assert [r.status for r in state.requests if r.path.endswith("/records/list")] == [403, 200]


def test_doctor_checks_the_base(tenant: SampleTenant, served: tuple[SampleTenant, str]) -> None:
    proc = subprocess.run(
        [*command(), "doctor", "--backend", "dingtalk"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=dingtalk_env(tenant, served[1]),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "connected to dingtalk; credentials accepted" in proc.stdout
    assert f"read '{TASKS}'" in proc.stdout and "DINGTALK_APP_SECRET=***" in proc.stdout
    assert tenant.app_secret not in proc.stdout + proc.stderr


def test_a_wrong_secret_at_start_is_one_line_and_exit_2(tenant: SampleTenant, served: tuple[SampleTenant, str]) -> None:
    wrong = "not-the-app-secret-0123456789"
    proc = subprocess.run(
        [*command(), "--backend", "dingtalk"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=dingtalk_env(tenant, served[1], DINGTALK_APP_SECRET=wrong),
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tables-mcp: DingTalk: ") and "DINGTALK_APP_SECRET" in lines[0]
    assert "Traceback" not in proc.stderr and wrong not in proc.stderr + proc.stdout and proc.stdout == ""
