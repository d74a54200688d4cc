"""Streamable HTTP and SSE, end to end with the SDK's clients against the real command on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp.types as types
import pytest
from mcp.shared.exceptions import McpError

from .conftest import TASK_COLUMNS
from .http_server import TOKEN, command, running

pytestmark = pytest.mark.anyio


def is_list_changed(message: Any) -> bool:
    return isinstance(message, types.ServerNotification) and isinstance(message.root, types.ToolListChangedNotification)


@pytest.mark.parametrize("token", [TOKEN, None], ids=["token", "no-token"])
@pytest.mark.parametrize(("transport", "extra"), [("http", ()), ("http", ("--stateless",)), ("sse", ())])
async def test_tools_over_the_network(
    tmp_path: Path, transport: str, extra: tuple[str, ...], token: str | None
) -> None:
    with running(tmp_path / "n.db", *extra, transport=transport, token=token) as server:
        seen: list[Any] = []

        async def on_message(message: Any) -> None:
            seen.append(message)

        async with server.session(on_message) as session:
            capabilities = session.get_server_capabilities()
            assert capabilities is not None and capabilities.tools is not None
            assert capabilities.tools.listChanged is True  # the server does send tools/list_changed
            names = {tool.name for tool in (await session.list_tools()).tools}
            assert {"createTable", "createRecords", "patchRecord", "deleteRecords", "listRecords"} <= names
            with pytest.raises(McpError) as unknown:
                await session.call_tool("createRecords_Nope", {})
            assert unknown.value.error.code == types.INVALID_PARAMS
            assert "Unknown tool: 'createRecords_Nope'" in unknown.value.error.message
            created = await session.call_tool("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
            assert not created.isError
            if "--stateless" not in extra:
                with anyio.fail_after(5):
                    while not any(is_list_changed(m) for m in seen):
                        await anyio.sleep(0.02)
            assert "createRecords_Tasks" in {tool.name for tool in (await session.list_tools()).tools}
            ok = await session.call_tool("createRecords_Tasks", {"records": [{"Title": "net", "Status": "Todo"}]})
            assert ok.structuredContent["records"][0]["fields"]["Title"] == "net"  # type: ignore[index]
            bad = await session.call_tool("createRecords_Tasks", {"records": [{"Status": "Nope"}]})
            assert bad.isError
            assert {fe["field"] for fe in bad.structuredContent["error"]["fieldErrors"]} == {  # type: ignore[index]
                "Title",
                "Status",
            }


async def test_list_changed_reaches_other_sessions(tmp_path: Path) -> None:
    with running(tmp_path / "n.db") as server:
        seen: list[Any] = []

        async def on_message(message: Any) -> None:
            seen.append(message)

        async with server.session(on_message) as watcher, server.session() as writer:
            await watcher.list_tools()
            await writer.call_tool("createTable", {"name": "Notes", "columns": [{"name": "Text", "type": "TEXT"}]})
            with anyio.fail_after(5):
                while not any(is_list_changed(m) for m in seen):
                    await anyio.sleep(0.02)


async def test_authentication_and_rebinding_protection(tmp_path: Path) -> None:
    with running(tmp_path / "a.db") as server:
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        async with httpx.AsyncClient() as http:
            missing = await http.post(f"{server.url}/mcp", json=body, headers=accept)
            assert missing.status_code == 401 and "Bearer" in missing.headers["www-authenticate"]
            wrong = await http.post(f"{server.url}/mcp", json=body, headers={**accept, "Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            auth = {**accept, "Authorization": f"Bearer {TOKEN}"}
            origin = await http.post(f"{server.url}/mcp", json=body, headers={**auth, "Origin": "http://evil.example"})
            assert origin.status_code == 403
            host = await http.post(f"{server.url}/mcp", json=body, headers={**auth, "Host": "evil.example"})
            assert host.status_code == 421
            for method in ("GET", "DELETE"):  # checked before the session is looked up
                foreign = await http.request(
                    method, f"{server.url}/mcp", headers={**auth, "Origin": "http://evil.example"}
                )
                assert foreign.status_code == 403, method
                unauthenticated = await http.request(method, f"{server.url}/mcp", headers=accept)
                assert unauthenticated.status_code == 401, method
            health = await http.get(f"{server.url}/healthz")
            assert health.json()["status"] == "ok"
        async with server.session() as session:
            assert (await session.call_tool("listTables", {})).structuredContent == {"tables": []}
        code, stderr = server.stop()
    assert code == 0
    assert TOKEN not in stderr


def test_refuses_to_listen_on_all_interfaces_without_a_token(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*command(), "--transport", "http", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env={"TABLES_MCP_DB": str(tmp_path / "x.db"), "PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_oversized_bodies_are_refused(tmp_path: Path) -> None:
    with running(tmp_path / "b.db", "--max-body-bytes", "4096") as server:
        async with httpx.AsyncClient(headers=server.headers) as http:
            big = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 10_000}}
            response = await http.post(
                f"{server.url}/mcp",
                content=json.dumps(big),
                headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
            )
            assert response.status_code == 413
            assert response.json()["error"]["data"] == {"maxBodyBytes": 4096}  # a JSON-RPC error naming the limit


async def test_read_only_and_allow_list_hold_over_http(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with running(db) as server:
        async with server.session() as session:
            for name in ["Open", "Secret"]:
                await session.call_tool("createTable", {"name": name, "columns": [{"name": "x", "type": "TEXT"}]})
                await session.call_tool(f"createRecords_{name}", {"records": [{"x": "1"}]})
    with running(db, "--read-only", "--tables", "Open") as server:
        async with server.session() as session:
            tools = (await session.list_tools()).tools
            assert all(tool.annotations and tool.annotations.readOnlyHint for tool in tools)
            secret = await session.call_tool("getRecord", {"table": "Secret", "recordId": "1"})
            assert secret.isError and secret.structuredContent["error"]["code"] == "not_found"  # type: ignore[index]
            with pytest.raises(McpError) as refused:
                await session.call_tool("deleteRecords", {"table": "Open", "recordIds": ["1"]})
            assert refused.value.error.code == types.INVALID_PARAMS
            opened = await session.call_tool("getRecord", {"table": "Open", "recordId": "1"})
            assert not opened.isError


async def test_audit_log_records_writes_without_values(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    with running(tmp_path / "d.db", "--audit-log", str(audit)) as server:
        async with server.session() as session:
            await session.call_tool("createTable", {"name": "Notes", "columns": [{"name": "Text", "type": "TEXT"}]})
            await session.call_tool("createRecords_Notes", {"records": [{"Text": "top secret value"}]})
            await session.call_tool("deleteRecords", {"table": "Notes", "recordIds": ["1", "7"]})
            await session.call_tool("listTables", {})
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["tool"], e["outcome"], e["recordIds"]) for e in lines] == [
        ("createTable", "ok", []),
        ("createRecords_Notes", "ok", ["1"]),
        ("deleteRecords", "not_found", ["1", "7"]),
    ]
    assert lines[1]["client"].startswith("mcp/")
    assert "top secret value" not in audit.read_text()
    assert TOKEN not in audit.read_text()


def test_unknown_disabled_tool_fails_at_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*command(), "tools", "--disable-tools", "deleteRecord"],
        capture_output=True,
        text=True,
        env={"TABLES_MCP_DB": str(tmp_path / "x.db"), "PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    assert proc.returncode == 2 and "no tool matches 'deleteRecord'" in proc.stderr
    proc = subprocess.run(
        [*command(), "tools", "--disable-tools", "deleteRecords,create*"],
        capture_output=True,
        text=True,
        env={"TABLES_MCP_DB": str(tmp_path / "x.db"), "PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    assert proc.returncode == 0
    assert "## deleteRecords" not in proc.stdout and "## createTable" not in proc.stdout
    assert "## listTables" in proc.stdout
