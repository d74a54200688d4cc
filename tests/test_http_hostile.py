"""The HTTP transports against a hostile client, on the real command on 127.0.0.1: bodies the SDK cannot
take, bodies over the limit, connections that never finish their headers, and answers on their way at SIGTERM.

Every POST carrying a JSON-RPC id gets exactly one JSON-RPC answer, with the stdio transport's codes:
-32700 (not UTF-8 JSON: bytes, truncation, nesting), -32600 (a batch), -32601 (unknown method), -32602
(a lone surrogate); on legacy SSE the answer also goes on the session's stream, where SSE clients read.
"""

from __future__ import annotations

import json
import socket
import time
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
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "hostile", "version": "1"}},
}
MODES = [("http", ()), ("http", ("--stateless",)), ("sse", ())]
MODE_IDS = ["http", "stateless", "sse"]


def call(request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


async def answer_of(response: httpx.Response) -> Any:
    """The JSON-RPC answer a POST carried: a JSON body, or the last message of its SSE stream."""
    body = (await response.aread()).decode()
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ") and line[6:]]
        return messages[-1] if messages else None
    is_json = response.headers.get("content-type", "").startswith("application/json")
    return json.loads(body) if body and is_json else None


class Client:
    """Raw JSON-RPC over one transport, with whatever session it needs."""

    def __init__(self, http: httpx.AsyncClient, post_url: str, headers: dict[str, str]) -> None:
        self.http = http
        self.post_url = post_url
        self.headers = headers
        self.streamed: list[dict[str, Any]] = []  # legacy SSE: what arrived on the session's stream

    async def post(self, content: bytes) -> tuple[httpx.Response, Any]:
        async with self.http.stream("POST", self.post_url, content=content, headers=self.headers) as response:
            return response, await answer_of(response)

    async def streamed_answer(self, request_id: int) -> dict[str, Any]:
        with anyio.fail_after(20):
            while True:
                found = [m for m in self.streamed if m.get("id") == request_id]
                if found:
                    return found[0]
                await anyio.sleep(0.02)


@asynccontextmanager
async def client(server: RunningServer) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(timeout=30) as http:
        if server.transport == "sse":
            async with anyio.create_task_group() as group, http.stream("GET", f"{server.url}/sse") as stream:
                lines = stream.aiter_lines()
                endpoint = ""
                async for line in lines:
                    if line.startswith("data: "):
                        endpoint = line[6:]
                        break
                sse = Client(http, f"{server.url}{endpoint}", ACCEPT)

                async def collect() -> None:
                    async for line in lines:
                        if line.startswith("data: "):
                            sse.streamed.append(json.loads(line[6:]))

                group.start_soon(collect)
                await sse.post(json.dumps(INITIALIZE).encode())
                await sse.streamed_answer(0)
                await sse.post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
                yield sse
                group.cancel_scope.cancel()
            return
        url = f"{server.url}/mcp"
        response, _ = await Client(http, url, ACCEPT).post(json.dumps(INITIALIZE).encode())
        headers = {**ACCEPT, "MCP-Protocol-Version": PROTOCOL}
        if "mcp-session-id" in response.headers:
            headers["mcp-session-id"] = response.headers["mcp-session-id"]
        session = Client(http, url, headers)
        await session.post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        yield session


SURROGATE_TABLE = (
    b'{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"listRecords","arguments":{"table":"\\ud800"}}}'
)
HOSTILE = [
    ("lone surrogate", SURROGATE_TABLE, 200, 11, -32602),
    ("not UTF-8", b'{"jsonrpc":"2.0","id":12,"method":"ping","params":{"x":"\xff\xfe"}}', 400, 12, -32700),
    (
        "5,000 levels",
        b'{"jsonrpc":"2.0","id":13,"method":"ping","params":{"a":' + b"[" * 5000 + b"]" * 5000 + b"}}",
        400,
        13,
        -32700,
    ),
    ("truncated", b'{"jsonrpc":"2.0","id":14,"method":"pi', 400, 14, -32700),
    ("batch", b'[{"jsonrpc":"2.0","id":15,"method":"ping"}]', 400, 15, -32600),
    ("unknown method", b'{"jsonrpc":"2.0","id":16,"method":"tools/nope"}', 200, 16, -32601),
]


@pytest.mark.parametrize(("transport", "extra"), MODES, ids=MODE_IDS)
async def test_every_hostile_post_gets_one_jsonrpc_answer(
    tmp_path: Path, transport: str, extra: tuple[str, ...]
) -> None:
    with running(tmp_path / "h.db", *extra, transport=transport, token=None) as server:
        async with client(server) as session:
            for case, body, status, request_id, code in HOSTILE:
                response, answer = await session.post(body)
                assert "Traceback" not in response.text, case
                assert (response.status_code, answer["id"], answer["error"]["code"]) == (status, request_id, code), case
                if transport == "sse":  # where SSE clients wait for it
                    assert (await session.streamed_answer(request_id))["error"]["code"] == code, case
            # The session goes on: a valid request is answered as usual.
            response, answer = await session.post(json.dumps(call(20, "listTables", {})).encode())
            if transport == "sse":
                answer = await session.streamed_answer(20)
            assert answer["result"]["structuredContent"] == {"tables": []}
        _, stderr = server.stop()
    assert "Traceback" not in stderr


async def test_the_body_limit_is_the_configured_one(tmp_path: Path) -> None:
    with running(tmp_path / "b.db", token=None) as server:
        async with client(server) as session:
            columns = [{"name": "Text", "type": "TEXT"}]
            await session.post(json.dumps(call(1, "createTable", {"name": "Big", "columns": columns})).encode())
            records = [{"Text": f"{i:05d}" + "x" * 4_500} for i in range(1000)]
            body = json.dumps(call(2, "createRecords_Big", {"records": records})).encode()
            assert 4 * 1024 * 1024 < len(body) < 10 * 1024 * 1024  # over the SDK's 4 MiB, under our 10 MiB
            response, answer = await session.post(body)
            assert response.status_code == 200 and not answer["result"]["isError"], str(answer)[:500]
            assert len(answer["result"]["structuredContent"]["records"]) == 1000
            over = b'{"jsonrpc":"2.0","id":3,"method":"ping","params":{"pad":"' + b"x" * (10 * 1024 * 1024) + b'"}}'
            response, answer = await session.post(over)
            assert response.status_code == 413
            assert answer["error"]["code"] == -32600 and answer["error"]["data"] == {"maxBodyBytes": 10 * 1024 * 1024}
    with running(tmp_path / "b.db", "--max-body-bytes", "4096", token=None) as server:
        async with client(server) as session:
            response, answer = await session.post(json.dumps(call(4, "ping", {"pad": "x" * 5000})).encode())
            assert response.status_code == 413
            assert "4096 bytes" in answer["error"]["message"] and answer["error"]["data"] == {"maxBodyBytes": 4096}


def partial_request(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: appl".encode())
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closed the connection (before the socket's own timeout)."""
    try:
        while sock.recv(4096):
            pass
        return True
    except (TimeoutError, OSError):
        return False
    finally:
        sock.close()


async def test_slow_headers_are_cut_off_and_others_served(tmp_path: Path) -> None:
    with running(tmp_path / "s.db", "--header-timeout", "1", "--max-connections", "40", token=None) as server:
        port = int(server.url.rsplit(":", 1)[1])
        lorises = [partial_request(port) for _ in range(20)]
        async with client(server) as session:  # served while the slow ones hang
            _, answer = await session.post(json.dumps(call(1, "listTables", {})).encode())
            assert answer["result"]["structuredContent"] == {"tables": []}
        closed = await anyio.to_thread.run_sync(lambda: [closed_by_server(sock) for sock in lorises])
        assert all(closed)
        assert httpx.get(f"{server.url}/healthz").status_code == 200


async def test_connections_past_the_cap_get_503(tmp_path: Path) -> None:
    with running(tmp_path / "c.db", "--max-connections", "8", token=None) as server:
        port = int(server.url.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        time.sleep(0.3)  # let the server accept them (no timing is asserted)
        extra = socket.create_connection(("127.0.0.1", port), timeout=20)
        assert extra.recv(200).startswith(b"HTTP/1.1 503")
        extra.close()
        for sock in held:
            sock.close()
        with anyio.fail_after(20):
            while True:  # the slots free up as the server sees the closes
                try:
                    if httpx.get(f"{server.url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await anyio.sleep(0.1)


@pytest.mark.parametrize(("transport", "extra"), MODES, ids=MODE_IDS)
async def test_a_request_in_flight_at_sigterm_gets_its_answer(
    tmp_path: Path, transport: str, extra: tuple[str, ...]
) -> None:
    """The request is still sending its body when the signal lands, so no handler has started: the server
    used to wait for handlers only, then end every streamed response (an empty 200, or a silent SSE stream)."""
    server = start_server(tmp_path / "t.db", *extra, transport=transport, token=None)
    async with client(server) as session:
        body = json.dumps(call(7, "listTables", {})).encode()
        target = session.post_url.removeprefix(server.url)
        head = "".join(f"{name}: {value}\r\n" for name, value in session.headers.items())
        port = int(server.url.rsplit(":", 1)[1])
        request = f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}Content-Length: {len(body)}\r\n\r\n"
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(request.encode() + body[:10])
        await anyio.sleep(0.3)
        server.process.send_signal(15)
        await anyio.sleep(1.5)  # past the old drain (no call in flight) and its 0.5 s for answers to leave
        sock.sendall(body[10:])
        raw = await anyio.to_thread.run_sync(read_until_closed, sock)
        if transport == "sse":
            answer = await session.streamed_answer(7)
        else:
            answer = answer_in_raw_response(raw)
        assert answer is not None and answer["id"] == 7, raw[:600]
        # Answered: the call ran, or was refused as retryable because the server is shutting down.
        assert answer["result"]["structuredContent"] in ({"tables": []},) or answer["result"]["isError"]
    code, stderr = await anyio.to_thread.run_sync(server.stop)
    assert code == 0 and "Traceback" not in stderr, (code, stderr[-3000:])


def answer_in_raw_response(raw: bytes) -> Any:
    """The JSON-RPC answer in one raw HTTP/1.1 response: its JSON body, or the last event of its SSE stream."""
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"content-type: application/json" in head.lower():
        return json.loads(body) if body else None
    events = [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: {")]
    return events[-1] if events else None


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        pass
    finally:
        sock.close()
    return data
