"""Streamable HTTP (`/mcp`): each POST's message goes straight into its session, and the session's answer
straight back to that POST.

The SDK's transport (its session manager over `StreamableHTTPServerTransport`) made two memory streams per
POST, routed every outgoing message through a router task, and streamed each answer through sse-starlette,
which runs a task group of four per response: a ping cost the server 2.2-2.7 ms of CPU, against 0.75 here. Here
the session's write stream (`_Outbox`) hands each message to the POST waiting for it, and:

- a request is answered with a JSON body when its answer is the first thing the session sends for it, and
  with an SSE stream when a notification (progress, a log message) or a question to the user (elicitation)
  comes first; the specification lets the server choose per request, and clients must take both;
- messages related to no request (tools/list_changed) go on the session's GET stream when the client has one
  open, and nowhere otherwise; the stream carries a comment every 15 s so that proxies keep it open;
- a notification or an answer to one of our questions is taken with 202.

The HTTP contract is the SDK's: POST needs `Accept` with both application/json and text/event-stream (406);
a request without `mcp-session-id` must be initialize (400); an unknown or ended session is 404; an
unsupported `mcp-protocol-version` is 400; one GET stream per session (409); DELETE ends the session; a
session with no request in flight and no open stream for `idle_timeout` seconds is ended.

In stateless mode GET and DELETE are 405, and the requests of every client go through one session that
keeps no client's state: each is given an id of the session's own on the way in (clients' ids collide) and
its own back on the way out. An initialize has a session of its own (its capabilities must reach no other
client's calls). The SDK made a session per POST, which cost each request 2 ms of CPU.
The POST (its Content-Type, Host and Origin, its body) has been checked by http_guard already, which
leaves the message in the scope.
"""

from __future__ import annotations

import itertools
import logging
import math
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import mcp.types as types
from anyio.abc import ObjectSendStream, TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp.shared.version import SUPPORTED_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .http_guard import CHECKED_MESSAGE
from .server import TablesServer
from .stdio import encode_message

log = logging.getLogger("tables_mcp.streamable_http")

SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
KEEPALIVE_SECONDS = 15.0
_JSON = "application/json"
_SSE = "text/event-stream"
_JSON_TYPE = (b"content-type", _JSON.encode())
_SSE_HEADERS = [(b"content-type", _SSE.encode()), (b"cache-control", b"no-cache, no-transform")]

Channel = MemoryObjectSendStream[SessionMessage]


class _Outbox(ObjectSendStream[SessionMessage]):
    """A session's write stream: an answer, and anything sent for a request, goes to the POST waiting for it;
    a message related to no request goes to the GET stream. A message nobody waits for any more (its POST
    was dropped) is dropped too, as the SDK's transport drops it."""

    def __init__(self) -> None:
        self.waiting: dict[types.RequestId, Channel] = {}
        self.standalone: Channel | None = None
        self._closed = False

    async def send(self, item: SessionMessage) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        channel = self._channel_for(item)
        if channel is None:
            log.debug("nobody waits for %s any more: dropped", type(item.message.root).__name__)
            return
        try:
            channel.send_nowait(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            log.debug("the stream for %s has closed: dropped", type(item.message.root).__name__)

    def _channel_for(self, item: SessionMessage) -> Channel | None:
        root = item.message.root
        if isinstance(root, types.JSONRPCResponse | types.JSONRPCError):
            return self.waiting.get(root.id)
        metadata = item.metadata
        if isinstance(metadata, ServerMessageMetadata) and metadata.related_request_id is not None:
            return self.waiting.get(metadata.related_request_id)
        return self.standalone

    async def aclose(self) -> None:
        """The session has ended: whoever still waits gets the end of its stream."""
        self._closed = True
        for channel in [*self.waiting.values(), self.standalone]:
            if channel is not None:
                channel.close()


@dataclass(eq=False)
class _Session:
    id: str | None
    inbox: MemoryObjectSendStream[SessionMessage]
    idle_timeout: float | None
    outbox: _Outbox = field(default_factory=_Outbox)
    busy: int = 0  # POSTs being answered and GET streams open: while any is, the session does not expire
    idle: anyio.CancelScope | None = field(init=False, default=None)
    headers: list[tuple[bytes, bytes]] = field(init=False)  # what every answer of the session carries

    def __post_init__(self) -> None:
        if self.idle_timeout is not None:
            self.idle = anyio.CancelScope(deadline=anyio.current_time() + self.idle_timeout)
        self.headers = [(SESSION_HEADER.encode(), self.id.encode())] if self.id else []

    def start_using(self) -> None:
        self.busy += 1
        if self.idle is not None:
            self.idle.deadline = math.inf

    def stop_using(self) -> None:
        self.busy -= 1
        if not self.busy and self.idle is not None:
            self.idle.deadline = anyio.current_time() + (self.idle_timeout or 0.0)


class _Refused(Exception):
    """An HTTP request answered with an error status and a JSON-RPC error body (no usable request id)."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or []


class StreamableHttpEndpoint:
    """The ASGI app of `/mcp`; `run()` must be entered (the app's lifespan) before it serves."""

    def __init__(
        self,
        server: TablesServer,
        *,
        stateless: bool,
        security: TransportSecuritySettings,
        idle_timeout: float | None,
    ) -> None:
        self._server = server
        self._stateless = stateless
        self._security = TransportSecurityMiddleware(security)
        self._idle_timeout = None if stateless else idle_timeout
        self._sessions: dict[str, _Session] = {}
        self._shared: _Session | None = None  # stateless mode: every request but initialize
        self._wire_ids = itertools.count(1)
        self._group: TaskGroup | None = None

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                yield
            finally:
                group.cancel_scope.cancel()
                self._group = None
                self._sessions.clear()

    def close_streams(self) -> None:
        """At shutdown: every GET stream ends (a POST ends with its answer), so that the server can stop."""
        for session in list(self._sessions.values()):
            if session.outbox.standalone is not None:
                session.outbox.standalone.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["method"] == "POST":
                await self._post(scope, send)
            elif scope["method"] in ("GET", "DELETE"):
                refused = await self._security.validate_request(Request(scope, receive))
                if refused is not None:
                    await refused(scope, receive, send)
                elif scope["method"] == "GET":
                    await self._get(scope, receive, send)
                else:
                    await self._delete(scope, send)
            else:
                raise _Refused(405, "Method Not Allowed", [(b"allow", b"GET, POST, DELETE")])
        except _Refused as refusal:
            await _send_error(send, refusal)

    # -- POST ------------------------------------------------------------------------------------

    async def _post(self, scope: Scope, send: Send) -> None:
        headers = _headers(scope)
        if not _accepts(headers, _JSON) or not _accepts(headers, _SSE):
            raise _Refused(406, "Not Acceptable: Client must accept both application/json and text/event-stream")
        message: SessionMessage = scope[CHECKED_MESSAGE]
        root = message.message.root
        is_request = isinstance(root, types.JSONRPCRequest)
        if isinstance(root, types.JSONRPCRequest) and root.method == "initialize" and SESSION_HEADER not in headers:
            session = self._open(None if self._stateless else uuid.uuid4().hex)  # stateless: its own, ended after
        else:
            _check_version(headers)
            if self._stateless and not is_request:
                await _send_bytes(send, 202, b"", [])  # nothing in a stateless session waits for it
                return
            session = self._shared_session() if self._stateless else self._find(headers)
        try:
            metadata = ServerMessageMetadata(request_context=Request(scope))
            if is_request:
                await self._answer(session, message.message, metadata, send)
            else:
                _deliver(session, SessionMessage(message.message, metadata=metadata))
                await _send_bytes(send, 202, b"", session.headers)
        finally:
            if self._stateless and session is not self._shared:
                self._end(session)

    async def _answer(
        self, session: _Session, message: types.JSONRPCMessage, metadata: ServerMessageMetadata, send: Send
    ) -> None:
        request_id = message.root.id  # type: ignore[union-attr]
        wire_id = request_id
        if session is self._shared:
            wire_id = next(self._wire_ids)
            message = types.JSONRPCMessage(message.root.model_copy(update={"id": wire_id}))
        elif request_id in session.outbox.waiting:
            answer = _jsonrpc_error(request_id, types.INVALID_REQUEST, "A request with this id is being answered.")
            await _send_bytes(send, 409, answer, [_JSON_TYPE, *session.headers])
            return
        channel, replies = anyio.create_memory_object_stream[SessionMessage](math.inf)
        session.outbox.waiting[wire_id] = channel
        session.start_using()
        try:
            _deliver(session, SessionMessage(message, metadata=metadata))
            try:
                first = await replies.receive()
            except anyio.EndOfStream:
                answer = _jsonrpc_error(request_id, types.CONNECTION_CLOSED, "The session ended before the answer.")
                await _send_bytes(send, 200, answer, [_JSON_TYPE, *session.headers])
                return
            if _is_answer(first):
                await _send_bytes(send, 200, _encode(first, request_id), [_JSON_TYPE, *session.headers])
            else:
                await _stream_until_answered(send, first, replies, session.headers, request_id)
        finally:
            session.outbox.waiting.pop(wire_id, None)
            channel.close()
            replies.close()
            session.stop_using()

    # -- GET and DELETE --------------------------------------------------------------------------

    async def _get(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._stateless:
            raise _Refused(405, "Method Not Allowed: stateless mode has no session stream", [(b"allow", b"POST")])
        headers = _headers(scope)
        if not _accepts(headers, _SSE):
            raise _Refused(406, "Not Acceptable: Client must accept text/event-stream")
        session = self._find(headers)
        _check_version(headers)
        if session.outbox.standalone is not None:
            raise _Refused(409, "Conflict: Only one SSE stream is allowed per session", session.headers)
        channel, messages = anyio.create_memory_object_stream[SessionMessage](math.inf)
        session.outbox.standalone = channel
        session.start_using()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, *session.headers]})
            async with anyio.create_task_group() as group:
                group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
                await _relay(send, messages)
                group.cancel_scope.cancel()
            await send({"type": "http.response.body", "body": b""})
        finally:
            if session.outbox.standalone is channel:
                session.outbox.standalone = None
            channel.close()
            messages.close()
            session.stop_using()

    async def _delete(self, scope: Scope, send: Send) -> None:
        if self._stateless:
            raise _Refused(405, "Method Not Allowed: Session termination not supported", [(b"allow", b"POST")])
        headers = _headers(scope)
        session = self._find(headers)
        _check_version(headers)
        self._end(session)
        await _send_bytes(send, 200, b"", [_JSON_TYPE, *session.headers])

    # -- sessions --------------------------------------------------------------------------------

    def _find(self, headers: dict[str, str]) -> _Session:
        session_id = headers.get(SESSION_HEADER)
        if session_id is None:
            raise _Refused(400, "Bad Request: Missing session ID")
        session = self._sessions.get(session_id)
        if session is None:
            raise _Refused(404, "Session not found")
        return session

    def _shared_session(self) -> _Session:
        if self._shared is None:
            self._shared = self._open(None)
        return self._shared

    def _open(self, session_id: str | None) -> _Session:
        if self._group is None:
            raise RuntimeError("the endpoint is not running: enter run() first")
        inbox, messages = anyio.create_memory_object_stream[SessionMessage](math.inf)
        session = _Session(session_id, inbox, self._idle_timeout)
        if session_id is not None:
            self._sessions[session_id] = session
        self._group.start_soon(self._run_session, session, messages)
        return session

    async def _run_session(self, session: _Session, messages: MemoryObjectReceiveStream[SessionMessage]) -> None:
        try:
            async with anyio.create_task_group() as group:
                if session.idle is not None:
                    group.start_soon(self._end_when_idle, session, session.idle)
                options = self._server.create_initialization_options()
                # McpPostGuard (stdio.check_line) refused lone surrogates in every message before it came here.
                await self._server.run(messages, session.outbox, options, stateless=self._stateless, text_checked=True)
                group.cancel_scope.cancel()
        except Exception:
            log.exception("session %s failed", session.id)
        finally:
            self._forget(session)
            if self._shared is session:
                self._shared = None

    async def _end_when_idle(self, session: _Session, idle: anyio.CancelScope) -> None:
        with idle:
            await anyio.sleep_forever()
        log.info("session %s ended after %g s idle", session.id, session.idle_timeout)
        self._end(session)

    def _end(self, session: _Session) -> None:
        """Forgotten at once (404 from now on); its loop ends with its inbox, and the requests still running with it."""
        self._forget(session)
        session.inbox.close()

    def _forget(self, session: _Session) -> None:
        if session.id is not None and self._sessions.get(session.id) is session:
            del self._sessions[session.id]


def _deliver(session: _Session, message: SessionMessage) -> None:
    try:
        session.inbox.send_nowait(message)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        raise _Refused(404, "Session not found") from None


def _is_answer(item: SessionMessage) -> bool:
    return isinstance(item.message.root, types.JSONRPCResponse | types.JSONRPCError)


def _encode(item: SessionMessage, request_id: types.RequestId) -> bytes:
    """An answer carries the id its client gave the request (the shared stateless session gave it another)."""
    root = item.message.root
    if isinstance(root, types.JSONRPCResponse | types.JSONRPCError) and root.id != request_id:
        return encode_message(types.JSONRPCMessage(root.model_copy(update={"id": request_id})))
    return encode_message(item.message)


def _event(encoded: bytes) -> bytes:
    return b"event: message\ndata: " + encoded + b"\n\n"


async def _stream_until_answered(
    send: Send,
    first: SessionMessage,
    replies: MemoryObjectReceiveStream[SessionMessage],
    headers: list[tuple[bytes, bytes]],
    request_id: types.RequestId,
) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, *headers]})
    item = first
    while True:
        await send({"type": "http.response.body", "body": _event(_encode(item, request_id)), "more_body": True})
        if _is_answer(item):
            break
        try:
            item = await replies.receive()
        except anyio.EndOfStream:
            break
    await send({"type": "http.response.body", "body": b""})


async def _relay(send: Send, messages: MemoryObjectReceiveStream[SessionMessage]) -> None:
    """The GET stream: each message as an event, a comment after 15 s of silence, until the stream is closed."""
    while True:
        item: SessionMessage | None = None
        with anyio.move_on_after(KEEPALIVE_SECONDS):
            try:
                item = await messages.receive()
            except anyio.EndOfStream:
                return
        body = _event(encode_message(item.message)) if item is not None else b": keepalive\n\n"
        await send({"type": "http.response.body", "body": body, "more_body": True})


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _accepts(headers: dict[str, str], media_type: str) -> bool:
    return any(part.strip().startswith(media_type) for part in headers.get("accept", "").split(","))


def _check_version(headers: dict[str, str]) -> None:
    version = headers.get(VERSION_HEADER, types.DEFAULT_NEGOTIATED_VERSION)
    if version not in SUPPORTED_PROTOCOL_VERSIONS:
        supported = ", ".join(SUPPORTED_PROTOCOL_VERSIONS)
        message = f"Bad Request: Unsupported protocol version: {version[:40]}. Supported versions: {supported}"
        raise _Refused(400, message)


def _jsonrpc_error(request_id: types.RequestId | None, code: int, message: str) -> bytes:
    # The SDK's id for an error that answers no request; its clients parse it.
    answered = "server-error" if request_id is None else request_id
    error = types.JSONRPCError(jsonrpc="2.0", id=answered, error=types.ErrorData(code=code, message=message))
    return error.model_dump_json(by_alias=True, exclude_none=True).encode()


async def _send_error(send: Send, refusal: _Refused) -> None:
    body = _jsonrpc_error(None, types.INVALID_REQUEST, str(refusal))
    await _send_bytes(send, refusal.status, body, [_JSON_TYPE, *refusal.headers])


async def _send_bytes(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["StreamableHttpEndpoint"]
