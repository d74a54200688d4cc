"""Pressing Stop: `notifications/cancelled` at random moments of running tool calls, over stdio and HTTP.

What Claude Desktop and Claude Code send when the user presses Stop or Esc. Whatever the moment, the
server keeps running, every request gets exactly one answer, the store stays consistent, and the client
is told what a cancelled write had written (a log notification with its ids). Timings are seeded, so a
failure can be replayed.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from .http_server import running
from .test_stdio_cli import command, env_for

SEED = 20261201
CALLS = 24
BATCH_SIZES = (1, 50, 1000)


def plan(seed: int) -> list[tuple[int, float]]:
    """(records in the create, seconds before its cancellation) per call."""
    rng = random.Random(seed)
    return [
        (rng.choice(BATCH_SIZES), rng.choice([0.0, 0.0005, 0.002, 0.01, 0.03, rng.uniform(0, 0.05)]))
        for _ in range(CALLS)
    ]


def create_call(request_id: int, size: int, first: int) -> dict[str, Any]:
    rows = [{"A": f"r{first + i}"} for i in range(size)]
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "createRecords_T", "arguments": {"records": rows}},
    }


def cancel(request_id: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": request_id, "reason": "user"},
    }


class Tally:
    """What the client was told: answers per request id, and the ids a cancelled write reported."""

    def __init__(self) -> None:
        self.answers: dict[int, list[dict[str, Any]]] = {}
        self.reported_written: dict[str, list[str]] = {}

    def take(self, message: dict[str, Any]) -> None:
        if "id" in message and ("result" in message or "error" in message):
            self.answers.setdefault(int(message["id"]), []).append(message)
        elif message.get("method") == "notifications/message":
            data = message["params"]["data"]
            if isinstance(data, dict) and data.get("event") == "cancelled":
                self.reported_written[json.dumps(data["writtenIds"])] = data["writtenIds"]

    def created_ids(self) -> set[str]:
        ids: set[str] = set()
        for answers in self.answers.values():
            result = answers[0].get("result") or {}
            for record in (result.get("structuredContent") or {}).get("records", []):
                ids.add(record["id"])
        return ids


def check(tally: Tally, call_ids: list[int], stored: list[str]) -> None:
    for request_id in call_ids:
        assert len(tally.answers.get(request_id, [])) == 1, f"request {request_id}: {tally.answers.get(request_id)}"
    acknowledged = tally.created_ids()
    reported = {record_id for ids in tally.reported_written.values() for record_id in ids}
    assert len(stored) == len(set(stored)), "no record stored twice"
    # Every stored record was either acknowledged in a result or reported by a cancelled call's log message.
    assert set(stored) == acknowledged | reported, (len(stored), len(acknowledged), len(reported))


def test_cancellations_over_stdio_leave_the_server_running(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    # stderr (the audit log) goes to a file: a pipe nobody reads fills up and blocks the server.
    stderr_path = tmp_path / "stderr.log"
    process = subprocess.Popen(
        command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr_path.open("w"),
        env=env_for(db),
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    tally = Tally()
    lines: list[dict[str, Any]] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            message = json.loads(line)
            lines.append(message)
            tally.take(message)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def send(message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()

    def wait_for(request_id: int, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if request_id in tally.answers:
                return tally.answers[request_id][0]
            time.sleep(0.005)
        raise AssertionError(f"no answer to request {request_id}; stderr: {stderr_path.read_text()[-3000:]}")

    try:
        send(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "stopper", "version": "1"},
                },
            }
        )
        wait_for(0)
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        columns = [{"name": "A", "type": "TEXT"}]
        send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "createTable", "arguments": {"name": "T", "columns": columns}},
            }
        )
        assert "error" not in wait_for(1)
        call_ids, first = [], 0
        for offset, (size, delay) in enumerate(plan(SEED)):
            request_id = 100 + offset
            call_ids.append(request_id)
            send(create_call(request_id, size, first))
            first += size
            time.sleep(delay)
            send(cancel(request_id))
            send({"jsonrpc": "2.0", "id": 10_000 + offset, "method": "ping"})
            assert wait_for(10_000 + offset)["result"] == {}, "the server answers after a cancellation"
        for request_id in call_ids:
            wait_for(request_id)
        send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "listRecords", "arguments": {"table": "T", "limit": 500, "fields": ["A"]}},
            }
        )
        stored = _all_ids(send, wait_for, 2)
        check(tally, call_ids, stored)
    finally:
        process.stdin.close()
        code = process.wait(timeout=30)
    assert code == 0, stderr_path.read_text()[-3000:]
    assert "Traceback" not in stderr_path.read_text()


def _all_ids(send: Any, wait_for: Any, first_id: int) -> list[str]:
    ids: list[str] = []
    request_id = first_id
    answer = wait_for(request_id)
    while True:
        content = answer["result"]["structuredContent"]
        ids += [record["id"] for record in content["records"]]
        if not content.get("nextCursor"):
            return ids
        request_id += 1_000_000
        send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {
                    "name": "listRecords",
                    "arguments": {"table": "T", "limit": 500, "fields": ["A"], "cursor": content["nextCursor"]},
                },
            }
        )
        answer = wait_for(request_id)


@pytest.mark.anyio
async def test_cancellations_over_streamable_http(tmp_path: Path) -> None:
    with running(tmp_path / "h.db", token=None) as server:
        tally = Tally()
        url = f"{server.url}/mcp"
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=60) as http:
            init = await http.post(
                url,
                headers=headers,
                json={
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-06-18",
                        "capabilities": {},
                        "clientInfo": {"name": "s", "version": "1"},
                    },
                },
            )
            session = {**headers, "mcp-session-id": init.headers["mcp-session-id"]}
            await http.post(url, headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"})

            async def post(message: dict[str, Any]) -> None:
                async with http.stream("POST", url, headers=session, json=message) as response:
                    if response.headers.get("content-type", "").startswith("application/json"):
                        tally.take(json.loads(await response.aread()))
                        return
                    async for line in response.aiter_lines():
                        if line.startswith("data: "):
                            tally.take(json.loads(line[6:]))

            await post(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "tools/call",
                    "params": {
                        "name": "createTable",
                        "arguments": {"name": "T", "columns": [{"name": "A", "type": "TEXT"}]},
                    },
                }
            )
            call_ids, first = [], 0
            async with anyio.create_task_group() as group:
                for offset, (size, delay) in enumerate(plan(SEED + 1)[:12]):
                    request_id = 100 + offset
                    call_ids.append(request_id)
                    group.start_soon(post, create_call(request_id, size, first))
                    first += size
                    await anyio.sleep(delay)
                    await http.post(url, headers=session, json=cancel(request_id))
            await post({"jsonrpc": "2.0", "id": 5, "method": "ping"})
            assert tally.answers[5][0]["result"] == {}
            stored: list[str] = []
            cursor = None
            while True:
                arguments = {"table": "T", "limit": 500, "fields": ["A"], **({"cursor": cursor} if cursor else {})}
                request_id = 6 + len(stored)
                await post(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "method": "tools/call",
                        "params": {"name": "listRecords", "arguments": arguments},
                    }
                )
                content = tally.answers[request_id][0]["result"]["structuredContent"]
                stored += [record["id"] for record in content["records"]]
                cursor = content.get("nextCursor")
                if not cursor:
                    break
        check(tally, call_ids, stored)
        code, stderr = server.stop()
    assert code == 0 and "Traceback" not in stderr, stderr
