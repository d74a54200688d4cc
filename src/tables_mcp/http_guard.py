"""What stands between the network and the MCP endpoints: hostile bodies, slow clients, shutdown.

- `McpPostGuard` reads every POST to an MCP endpoint before the endpoint does, within the body limit and an
  idle timeout, and answers what the SDK would answer badly (an empty 200, a 500 with a traceback, a
  plain-text 413) as JSON-RPC, with the same checks and codes as the stdio transport (`stdio.check_line`):
  -32700 for bytes that are not UTF-8 JSON, -32600 for a batch or a non-message, -32601 for a method MCP
  does not define, -32602 for a string holding a lone surrogate. Bodies that pass go on as sent, and the
  message they carry, parsed and validated, goes with them in the scope (`CHECKED_MESSAGE`).
- `PendingAnswers` counts the requests whose answer has not left yet, so that a shutdown waits for
  answers rather than for handlers.
- `guarded_http_protocol` is uvicorn's httptools protocol with a deadline for request headers (uvicorn has
  none: a connection that never finishes its headers is kept for ever) and a cap on open connections.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.message import SessionMessage
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .stdio import INVALID_REQUEST, PARSE_ERROR, check_line

# The scope key under which a POST's checked message goes on (streamable_http reads it instead of parsing again).
CHECKED_MESSAGE = "tables_mcp.checked_message"

# What a rejected request with an id is also told on its session's stream (legacy SSE clients read
# their answers there, not from the POST's response): (session id, request id, error object).
StreamAnswer = Callable[[str, int | str, dict[str, Any]], Awaitable[None]]


class PendingAnswers:
    """Requests received whose answer has not been handed to the connection yet."""

    def __init__(self) -> None:
        self.count = 0

    def add(self) -> None:
        self.count += 1

    def done(self) -> None:
        self.count -= 1

    async def wait_until_answered(self, timeout: float, settle: float = 0.3) -> None:
        """Bounded: until nothing is pending, twice `settle` apart (a request whose headers arrived with the
        signal may not have reached the guard yet)."""
        with anyio.move_on_after(timeout):
            while True:
                while self.count:
                    await anyio.sleep(0.05)
                await anyio.sleep(settle)
                if not self.count:
                    return


@dataclass(frozen=True)
class Rejection:
    status: int
    answers: list[dict[str, Any]]

    @property
    def body(self) -> bytes:
        payload: Any = self.answers[0] if len(self.answers) == 1 else self.answers
        return json.dumps(payload, separators=(",", ":")).encode()


def check_body(body: bytes) -> tuple[SessionMessage | None, Rejection | None]:
    """The message a POST body carries, or what it is answered instead of being handed on."""
    if not body.strip():
        empty = _error(None, PARSE_ERROR, "Parse error: the body is empty; send one JSON-RPC message.")
        return None, Rejection(400, [empty])
    message, answer = check_line(body)
    if answer is None:
        return message, None
    answers = [json.loads(line) for line in answer.splitlines() if line.strip()]
    # No request to answer (bytes that do not parse, not a message): 400. A request that is answered
    # with an error (unknown method, unusable params) is a JSON-RPC answer like any other: 200.
    unusable = any(a["error"]["code"] in (PARSE_ERROR, INVALID_REQUEST) for a in answers)
    return None, Rejection(400 if unusable else 200, answers)


def _error(request_id: int | str | None, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


class _BodyRefused(Exception):
    def __init__(self, status: int, answer: dict[str, Any]) -> None:
        self.rejection = Rejection(status, [answer])


_SESSION_ID = re.compile(r"(?:^|&)session_id=([0-9a-fA-F-]{32,36})(?:&|$)")


class McpPostGuard:
    """ASGI wrapper of one SDK endpoint: POST bodies are read and checked here first (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        idle_timeout: float,
        security: TransportSecuritySettings,
        pending: PendingAnswers,
        stream_answer: StreamAnswer | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.idle_timeout = idle_timeout
        self.security = TransportSecurityMiddleware(security)
        self.pending = pending
        self.stream_answer = stream_answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        self.pending.add()
        try:
            await self._post(scope, receive, send)
        finally:
            self.pending.done()

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        # DNS-rebinding protection first, as the SDK would: a foreign Origin learns nothing about its body.
        refused = await self.security.validate_request(Request(scope, receive), is_post=True)
        if refused is not None:
            await refused(scope, receive, send)
            return
        try:
            body = await self._read_body(scope, receive)
        except _BodyRefused as exc:
            await _send_json(send, exc.rejection)
            return
        message, rejection = check_body(body)
        if rejection is None:
            await self.app({**scope, CHECKED_MESSAGE: message}, _replay(body, receive), send)
            return
        await self._tell_stream(scope, rejection)
        await _send_json(send, rejection)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _BodyRefused(413, self._too_large())
        chunks: list[bytes] = []
        size = 0
        while True:
            with anyio.move_on_after(self.idle_timeout) as idle:
                message = await receive()
            if idle.cancelled_caught:
                message_text = f"Request body stalled for {self.idle_timeout:g} s; send it at once."
                raise _BodyRefused(408, _error(None, INVALID_REQUEST, message_text))
            if message["type"] != "http.request":
                raise _BodyRefused(400, _error(None, INVALID_REQUEST, "The client went away mid-body."))
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyRefused(413, self._too_large())
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self) -> dict[str, Any]:
        limit = self.max_body_bytes
        message = f"Request body over the server's limit of {limit} bytes (--max-body-bytes); send smaller batches."
        return _error(None, INVALID_REQUEST, message, {"maxBodyBytes": limit})

    async def _tell_stream(self, scope: Scope, rejection: Rejection) -> None:
        if self.stream_answer is None:
            return
        found = _SESSION_ID.search(scope.get("query_string", b"").decode("latin-1"))
        if found is None:
            return
        for answer in rejection.answers:
            if answer["id"] is not None:
                await self.stream_answer(found.group(1).replace("-", "").lower(), answer["id"], answer["error"])


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, then the connection's own messages (a disconnect, for streamed answers)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _send_json(send: Send, rejection: Rejection) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(rejection.body)).encode())]
    await send({"type": "http.response.start", "status": rejection.status, "headers": headers})
    await send({"type": "http.response.body", "body": rejection.body})


_OVER_CAPACITY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\nRetry-After: 1\r\n\r\n"


def guarded_http_protocol(header_timeout: float, max_connections: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol (a C parser: h11's pure-Python one cost a ping a fifth of its server CPU),
    closing a connection that has not sent complete request headers within `header_timeout` seconds (from
    its opening, or from the first byte of a later request on it), and refusing connections past
    `max_connections` with a 503."""

    class GuardedHttpProtocol(HttpToolsProtocol):
        header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                self.transport.write(_OVER_CAPACITY)
                self.transport.close()
                return
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self.header_deadline is None:
                self.header_deadline = self.loop.call_later(header_timeout, self._on_deadline)

        def _disarm(self) -> None:
            if self.header_deadline is not None:
                self.header_deadline.cancel()
                self.header_deadline = None

        def _on_deadline(self) -> None:
            self.header_deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedHttpProtocol
