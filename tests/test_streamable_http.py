"""Our streamable HTTP transport as a raw HTTP client sees it, on the real command on 127.0.0.1.

The answer to a request is one JSON body, unless the session sends something for it first (progress, a
question to the user), which makes it an SSE stream; sessions, their GET stream, DELETE, the idle timeout and
stateless mode answer as the SDK's transport did, with the same statuses.
"""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from .http_server import RunningServer, running, start_server

pytestmark = pytest.mark.anyio

ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PROTOCOL = "2025-06-18"


def initialize(capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
    params = {
        "protocolVersion": PROTOCOL,
        "capabilities": capabilities or {},
        "clientInfo": {"name": "raw", "version": "1"},
    }
    return {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}


def call(
    request_id: int | str, name: str, arguments: dict[str, Any], meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def messages_of(response: httpx.Response) -> list[dict[str, Any]]:
    """What one POST answered, in order: its JSON body, or each event of its SSE stream."""
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        return [response.json()]
    assert kind.startswith("text/event-stream"), kind
    return [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]


@asynccontextmanager
async def session_of(server: RunningServer, capabilities: dict[str, Any] | None = None) -> AsyncIterator[Session]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        opened = await http.post("/mcp", headers=ACCEPT, json=initialize(capabilities))
        assert opened.status_code == 200 and opened.headers["content-type"] == "application/json", opened.text
        headers = {**ACCEPT, "mcp-protocol-version": PROTOCOL, "mcp-session-id": opened.headers["mcp-session-id"]}
        answered = await http.post(
            "/mcp", headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
        )
        assert answered.status_code == 202 and answered.content == b""
        yield Session(http, headers)


class Session:
    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.http = http
        self.headers = headers

    async def post(self, message: dict[str, Any], **changed: str) -> httpx.Response:
        return await self.http.post("/mcp", headers={**self.headers, **changed}, json=message)


async def test_an_answer_is_one_json_body_unless_progress_comes_first(tmp_path: Path) -> None:
    with running(tmp_path / "t.db", token=None) as server:
        async with session_of(server) as session:
            columns = [{"name": "A", "type": "TEXT"}]
            created = await session.post(call(1, "createTable", {"name": "P", "columns": columns}))
            assert created.headers["content-type"] == "application/json"
            assert created.headers["mcp-session-id"] == session.headers["mcp-session-id"]
            assert created.json()["result"]["structuredContent"]["table"]["name"] == "P"

            records = [{"A": str(i)} for i in range(300)]
            quiet = await session.post(call(2, "createRecords", {"table": "P", "records": records}))
            assert [m["id"] for m in messages_of(quiet)] == [2] and quiet.headers["content-type"] == "application/json"

            meta = {"progressToken": "p-1"}
            streamed = await session.post(call(3, "createRecords", {"table": "P", "records": records}, meta))
            assert streamed.headers["content-type"].startswith("text/event-stream")
            *notes, answer = messages_of(streamed)
            assert notes and all(n["method"] == "notifications/progress" for n in notes)
            assert notes[-1]["params"] == {
                "progressToken": "p-1",
                "progress": 300.0,
                "total": 300.0,
                "message": "300 of 300 records written",
            }
            assert answer["id"] == 3 and len(answer["result"]["structuredContent"]["records"]) == 300


async def test_what_a_session_refuses_and_how(tmp_path: Path) -> None:
    with running(tmp_path / "t.db", token=None) as server:
        async with session_of(server) as session:
            ping = {"jsonrpc": "2.0", "id": 5, "method": "ping"}
            assert (await session.post(ping)).json() == {"jsonrpc": "2.0", "id": 5, "result": {}}
            only_json = await session.post(ping, Accept="application/json")
            assert only_json.status_code == 406 and "text/event-stream" in only_json.json()["error"]["message"]
            version = await session.post(ping, **{"mcp-protocol-version": "1999-01-01"})
            assert version.status_code == 400 and "1999-01-01" in version.json()["error"]["message"]
            unknown = await session.post(ping, **{"mcp-session-id": "f" * 32})
            assert unknown.status_code == 404
            anonymous = await session.http.post("/mcp", headers=ACCEPT, json=ping)
            assert anonymous.status_code == 400 and "Missing session ID" in anonymous.json()["error"]["message"]
            put = await session.http.put("/mcp", headers=session.headers)
            assert put.status_code == 405 and put.headers["allow"] == "GET, POST, DELETE" and put.json()["error"]

            no_sse = {**session.headers, "Accept": "application/json"}
            assert (await session.http.get("/mcp", headers=no_sse)).status_code == 406
            async with session.http.stream("GET", "/mcp", headers=session.headers) as stream:
                assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
                second = await session.http.get("/mcp", headers=session.headers)
                assert second.status_code == 409
            ended = await session.http.delete("/mcp", headers=session.headers)
            assert ended.status_code == 200
            assert (await session.post(ping)).status_code == 404
            assert (await session.http.get("/mcp", headers=session.headers)).status_code == 404


async def test_the_get_stream_carries_what_no_request_asked_for(tmp_path: Path) -> None:
    """Another session's new table changes the tools this one listed: it hears so on its GET stream."""
    with running(tmp_path / "t.db", token=None) as server:
        async with session_of(server) as watcher, session_of(server) as writer:
            seen: list[dict[str, Any]] = []
            await watcher.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})  # what it is told of changes to
            async with watcher.http.stream("GET", "/mcp", headers=watcher.headers) as stream:
                lines = stream.aiter_lines()
                columns = [{"name": "A", "type": "TEXT"}]
                await writer.post(call(1, "createTable", {"name": "Seen", "columns": columns}))
                with anyio.fail_after(10):
                    async for line in lines:
                        if line.startswith("data: "):
                            seen.append(json.loads(line[6:]))
                        if {"notifications/tools/list_changed", "notifications/resources/list_changed"} <= {
                            m["method"] for m in seen
                        }:
                            break


async def test_an_idle_session_ends_unless_its_stream_is_open(tmp_path: Path) -> None:
    ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
    with running(tmp_path / "t.db", "--session-idle-timeout", "1", token=None) as server:
        async with session_of(server) as idle, session_of(server) as watching:
            async with watching.http.stream("GET", "/mcp", headers=watching.headers):
                await anyio.sleep(2.0)
                assert (await idle.post(ping)).status_code == 404
                assert (await watching.post(ping)).json()["result"] == {}


async def test_stateless_mode_answers_each_post_on_its_own(tmp_path: Path) -> None:
    """No session ids, GET and DELETE refused; clients' requests with the same id at once each get their own answer."""
    with running(tmp_path / "t.db", "--stateless", token=None) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            opened = await http.post("/mcp", headers=ACCEPT, json=initialize())
            assert opened.status_code == 200 and "mcp-session-id" not in opened.headers
            headers = {**ACCEPT, "mcp-protocol-version": PROTOCOL}
            listed = await http.post("/mcp", headers=headers, json=call(1, "listTables", {}))
            assert listed.json()["result"]["structuredContent"] == {"tables": []}
            note = await http.post(
                "/mcp", headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
            )
            assert note.status_code == 202
            assert (await http.get("/mcp", headers=headers)).status_code == 405
            assert (await http.delete("/mcp", headers=headers)).status_code == 405

            columns = [{"name": "A", "type": "TEXT"}]
            await http.post("/mcp", headers=headers, json=call(1, "createTable", {"name": "S", "columns": columns}))
            answers: dict[str, Any] = {}

            async def create(value: str) -> None:  # every client calls its request 7
                created = await http.post(
                    "/mcp", headers=headers, json=call(7, "createRecords", {"table": "S", "records": [{"A": value}]})
                )
                answers[value] = created.json()

            async with anyio.create_task_group() as group:
                for n in range(20):
                    group.start_soon(create, f"v{n}")
            assert len(answers) == 20
            for value, answer in answers.items():
                assert answer["id"] == 7 and answer["result"]["structuredContent"]["records"][0]["fields"] == {
                    "A": value
                }

            meta = {"progressToken": 99}
            streamed = await http.post(
                "/mcp", headers=headers, json=call("x", "createRecords", {"table": "S", "records": [{"A": "p"}]}, meta)
            )
            *notes, answer = messages_of(streamed)
            assert (
                notes[-1]["params"]["progressToken"] == 99 and answer["id"] == "x" and not answer["result"]["isError"]
            )


async def test_a_question_rides_its_calls_stream_and_its_answer_comes_back_by_post(tmp_path: Path) -> None:
    """A confirmed delete: the question is the first event of the call's stream; the same id again while it is
    open is refused (409); the user's answer is a POST of its own (202), after which the call answers."""
    with running(tmp_path / "t.db", "--confirm-deletes", "auto", token=None) as server:
        async with session_of(server, {"elicitation": {}}) as session:
            await session.post(call(1, "createTable", {"name": "D", "columns": [{"name": "A", "type": "TEXT"}]}))
            created = await session.post(call(2, "createRecords", {"table": "D", "records": [{"A": "x"}]}))
            record_id = created.json()["result"]["structuredContent"]["records"][0]["id"]
            delete = call(3, "deleteRecords", {"table": "D", "recordIds": [record_id]})
            async with session.http.stream("POST", "/mcp", headers=session.headers, json=delete) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.aiter_lines()
                question = await next_message(lines)
                assert question["method"] == "elicitation/create"
                again = await session.post(delete)
                assert again.status_code == 409 and again.json()["id"] == 3
                answer = {"jsonrpc": "2.0", "id": question["id"], "result": {"action": "decline"}}
                assert (await session.post(answer)).status_code == 202
                result = await next_message(lines)
            assert result["id"] == 3 and result["result"]["isError"] is True
            assert result["result"]["structuredContent"]["error"]["code"] == "declined"
            listed = await session.post(call(4, "listRecords", {"table": "D"}))
            assert len(listed.json()["result"]["structuredContent"]["records"]) == 1


async def next_message(lines: AsyncIterator[str]) -> dict[str, Any]:
    with anyio.fail_after(20):
        async for line in lines:
            if line.startswith("data: "):
                message: dict[str, Any] = json.loads(line[6:])
                return message
    raise AssertionError("the stream ended without another message")


async def test_sigterm_ends_open_get_streams_and_the_server_exits_at_once(tmp_path: Path) -> None:
    """A client's GET stream stays open for as long as the client likes; at SIGTERM the server ends it (after
    every answer has left) instead of waiting out uvicorn's graceful-shutdown timeout."""
    server = start_server(tmp_path / "t.db", token=None)
    async with session_of(server) as session:
        async with session.http.stream("GET", "/mcp", headers=session.headers) as stream:
            assert stream.status_code == 200
            started = anyio.current_time()
            server.process.send_signal(signal.SIGTERM)
            with anyio.fail_after(5):
                async for _ in stream.aiter_lines():
                    pass
            code, stderr = await anyio.to_thread.run_sync(server.stop)
    assert code == 0 and "Traceback" not in stderr, stderr[-2000:]
    assert anyio.current_time() - started < 5
