"""Arguments that came through one of our transports are not scanned for lone surrogates a second time: the
transport answered any message holding one itself (`stdio.check_line`; -32602, tested in test_stdio_protocol.py
and test_http_hostile.py). A session no transport checked (in memory) still has every call's strings scanned."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

import tables_mcp.server as server_module
from tables_mcp.backends.store.sqlite import SqliteStore
from tables_mcp.server import in_process_client, serve_stdio
from tables_mcp.stdio import LineReader, LineWriter
from tables_mcp.tools import Catalogue, ToolOptions
from tables_mcp.validation import ArgumentValidator

from .conftest import TASK_COLUMNS

pytestmark = pytest.mark.anyio

INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}


@pytest.fixture
async def catalogue(db_path: Path) -> AsyncIterator[Catalogue]:
    store = SqliteStore(db_path)
    await store.open()
    catalogue = Catalogue(store, ToolOptions())
    await catalogue.refresh(force=True)
    created = await catalogue.call("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
    assert not created.is_error, created.text
    yield catalogue
    await store.aclose()


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """(summary, whether its strings were scanned) for every ArgumentValidator.check call."""
    seen: list[tuple[str, bool]] = []
    real = ArgumentValidator.check

    def noted(
        self: ArgumentValidator, instance: Any, summary: str = "Invalid arguments", *, text_checked: bool = False
    ) -> None:
        seen.append((summary, not text_checked))
        real(self, instance, summary, text_checked=text_checked)

    monkeypatch.setattr(ArgumentValidator, "check", noted)
    return seen


async def test_calls_over_stdio_are_not_scanned_again(
    catalogue: Catalogue, scans: list[tuple[str, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve_stdio` itself, its pipes replaced by lines in memory (the stdio transport's own reader and writer)."""
    inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def write(data: bytes) -> None:
        for line in data.splitlines():
            answers.put_nowait(json.loads(line))

    @asynccontextmanager
    async def lines_in_memory() -> AsyncIterator[tuple[LineReader, LineWriter]]:
        yield LineReader(inbox.get, write), LineWriter(write)

    monkeypatch.setattr(server_module, "stdio_transport", lines_in_memory)
    call = {"name": "createRecords_Tasks", "arguments": {"records": [{"Title": "over stdio"}]}}
    async with anyio.create_task_group() as group:
        group.start_soon(serve_stdio, catalogue)
        for message in (
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call},
        ):
            inbox.put_nowait(json.dumps(message).encode())
        answered = [await answers.get() for _ in range(2)]
        inbox.put_nowait(None)  # end of input: the server returns
    assert answered[1]["id"] == 2 and answered[1]["result"]["isError"] is False, answered[1]
    assert scans == [("Invalid arguments for createRecords_Tasks", False)]


async def test_calls_in_memory_are_scanned_and_a_lone_surrogate_is_named(
    catalogue: Catalogue, scans: list[tuple[str, bool]]
) -> None:
    async with in_process_client(catalogue) as client:
        fine = await client.call("createRecords_Tasks", {"records": [{"Title": "in memory"}]})
        refused = await client.call("createRecords_Tasks", {"records": [{"Title": "a\ud800"}]})
    assert not fine.is_error, fine.text
    assert scans == [("Invalid arguments for createRecords_Tasks", True)] * 2
    assert refused.is_error and refused.payload is not None
    problems = refused.payload["error"]["fieldErrors"]
    assert [(p["record"], p["field"]) for p in problems] == [(0, "Title")] and "surrogate" in problems[0]["message"]
