"""Progress notifications and cancellation of long writes, through a real MCP ClientSession.

On Kintone a 1,000-record upsert is ten requests: the client sees progress per request, and a
cancelled call finishes the requests already sent, starts no other, and reports exactly what it wrote.
A 1,000-record create is one bulkRequest (one transaction): one step of progress.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp.shared.exceptions import McpError

from tables_mcp.backends.kintone import KintoneBackend
from tables_mcp.tools import ToolOptions

from .conftest import Agent, open_agent
from .fakes.kintone import FakeKintone

pytestmark = pytest.mark.anyio

TOKEN = "progresstoken0123456789"


@pytest.fixture
async def kintone_agent(fake_kintone: tuple[FakeKintone, str]) -> AsyncIterator[tuple[Agent, FakeKintone, int]]:
    state, url = fake_kintone
    state.reset()
    app = state.add_app(
        "Imports",
        {"title": {"type": "SINGLE_LINE_TEXT", "required": True}, "key": {"type": "SINGLE_LINE_TEXT", "unique": True}},
    )
    state.add_token(app, token=TOKEN)
    backend = KintoneBackend(url, api_tokens=[TOKEN], app_ids=[str(app)], create_concurrency=2)
    await backend.open()
    async for agent in open_agent(backend, ToolOptions(mode="per-table")):
        yield agent, state, app
    await backend.aclose()


def rows(count: int) -> list[dict[str, Any]]:
    return [{"title": f"row {i}", "key": f"k{i}"} for i in range(count)]


def upsert(count: int) -> dict[str, Any]:
    return {"table": "Imports", "keyField": "key", "records": rows(count)}


async def test_progress_per_request_on_kintone(kintone_agent: tuple[Agent, FakeKintone, int]) -> None:
    agent, _, _ = kintone_agent
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    result = await agent.session.call_tool("upsertRecords", upsert(1000), progress_callback=on_progress)
    assert not result.isError
    assert [done for done, _, _ in seen] == [100.0 * n for n in range(1, 11)]
    assert all(total == 1000 for _, total, _ in seen)
    assert seen[-1][2] == "1000 of 1000 records written"
    seen.clear()
    result = await agent.session.call_tool(
        "createRecords_Imports",
        {"records": [{"title": f"new {i}"} for i in range(1000)]},
        progress_callback=on_progress,
    )
    assert not result.isError and [done for done, _, _ in seen] == [1000.0], "one bulkRequest: one step"


async def test_progress_on_the_embedded_store(tasks: Agent) -> None:
    seen: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(done)

    records = [{"Title": f"t{i}", "Status": "Todo"} for i in range(1000)]
    result = await tasks.session.call_tool("createRecords_Tasks", {"records": records}, progress_callback=on_progress)
    assert not result.isError and seen == [1000.0]


async def test_cancelled_batch_reports_exactly_what_was_written(kintone_agent: tuple[Agent, FakeKintone, int]) -> None:
    agent, state, app = kintone_agent
    state.latency_s = 0.15
    first_progress = anyio.Event()

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        first_progress.set()

    request_id = agent.session._request_id  # the id the next request will carry
    outcome: list[Any] = []

    async def create() -> None:
        try:
            outcome.append(await agent.session.call_tool("upsertRecords", upsert(1000), progress_callback=on_progress))
        except McpError as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(create)
        with anyio.fail_after(10):
            await first_progress.wait()
        await agent.session.send_notification(
            types.ClientNotification(
                types.CancelledNotification(
                    params=types.CancelledNotificationParams(requestId=request_id, reason="user changed their mind")
                )
            )
        )
    state.latency_s = 0.0
    assert isinstance(outcome[0], McpError), outcome
    with anyio.fail_after(5):
        while not any(_cancel_report(m) for m in agent.notifications):
            await anyio.sleep(0.02)
    report = next(_cancel_report(m) for m in agent.notifications if _cancel_report(m))
    stored = await agent.ok("listRecords_Imports", {"limit": 500, "fields": ["title"]})
    stored_ids = sorted(int(r["id"]) for r in stored["records"])
    while stored["nextCursor"]:
        stored = await agent.ok(
            "listRecords_Imports", {"limit": 500, "fields": ["title"], "cursor": stored["nextCursor"]}
        )
        stored_ids += sorted(int(r["id"]) for r in stored["records"])
    assert sorted(int(i) for i in report["writtenIds"]) == sorted(stored_ids)
    assert 0 < len(stored_ids) < 1000 and len(stored_ids) % 100 == 0, "whole requests only, and not all of them"


def _cancel_report(message: Any) -> dict[str, Any] | None:
    if isinstance(message, types.ServerNotification) and isinstance(message.root, types.LoggingMessageNotification):
        data = message.root.params.data
        if isinstance(data, dict) and data.get("event") == "cancelled":
            return data
    return None
