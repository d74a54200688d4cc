"""Network transports: streamable HTTP (`/mcp`) and legacy SSE (`/sse` + `/messages/`) on one app.

Streamable HTTP is ours (streamable_http.py, on session.py's loop); legacy SSE is the MCP SDK's transport.
Both sit behind the SDK's bearer-token middleware and DNS-rebinding protection; this module adds what a
shared server needs around them: a static-token verifier with
constant-time comparison, `/healthz`, the guard of http_guard in front of each POST endpoint (JSON-RPC
answers to bodies the SDK cannot take, the body limit, timeouts for slow clients, a connection cap), and
a shutdown that refuses new calls and waits until every request received has its answer on the way out.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import re
import signal
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import mcp.types as types
import uvicorn
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.sse import SseServerTransport
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.message import SessionMessage
from sse_starlette.sse import AppStatus
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http_guard import McpPostGuard, PendingAnswers, guarded_http_protocol
from .server import CallGate, build_server, initialization_options
from .streamable_http import StreamableHttpEndpoint
from .tools import Catalogue

log = logging.getLogger("tables_mcp.transports")


@dataclass(frozen=True)
class HttpOptions:
    transport: str  # "http" or "sse"
    host: str = "127.0.0.1"
    port: int = 8000
    auth_token: str | None = None
    stateless: bool = False
    max_body_bytes: int = 10 * 1024 * 1024
    shutdown_grace: float = 10.0
    allowed_hosts: tuple[str, ...] = ()
    header_timeout: float = 10.0  # to send a request's headers, and longest silence within its body
    max_connections: int = 1000
    session_idle_timeout: float = 1800.0  # a session its client left without DELETE holds memory until then


def is_loopback(host: str) -> bool:
    if host in ("localhost", "127.0.0.1", "::1"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class StaticTokenVerifier(TokenVerifier):
    """Accepts exactly one bearer token, compared in constant time."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token="***", client_id="bearer", scopes=[])
        return None


class _AsgiEndpoint:
    """Starlette's Route calls a plain function as a request handler, `f(request)`; an object is served
    as the ASGI app it is, which is what the MCP endpoints are, with or without the auth middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _security(options: HttpOptions) -> TransportSecuritySettings:
    """DNS-rebinding protection: only the Host names and browser Origins we expect."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *options.allowed_hosts]
    if not is_loopback(options.host) and options.host not in ("0.0.0.0", "::"):
        hosts.append(f"{options.host}:*")
    origins = [f"http://{host}" for host in hosts] + [f"https://{host}" for host in hosts]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def build_http_app(
    catalogue: Catalogue, gate: CallGate, options: HttpOptions, pending: PendingAnswers | None = None
) -> Starlette:
    server = build_server(catalogue, gate)
    security = _security(options)
    pending = pending or PendingAnswers()
    # The SDK's SSE transport has a body limit of its own (4 MiB by default): set to ours, which the guard applies
    # first with a JSON-RPC answer.
    limit = options.max_body_bytes
    endpoint = StreamableHttpEndpoint(
        server, stateless=options.stateless, security=security, idle_timeout=options.session_idle_timeout
    )
    sse = SseServerTransport("/messages/", security_settings=security, max_request_body_size=limit)
    sse_sessions: set[_SseSession] = set()

    async def sse_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        live = _SseSession()
        sse_sessions.add(live)
        try:
            async with sse.connect_sse(scope, receive, live.noting_session_id(send)) as (read_stream, write_stream):
                live.stream = write_stream
                async with _counted_answers(read_stream, write_stream, pending) as (counted_read, counted_write):
                    # Every POST to /messages/ passed McpPostGuard (stdio.check_line): no lone surrogate in it.
                    options = initialization_options(server)
                    await server.run(counted_read, counted_write, options, text_checked=True)
        finally:
            sse_sessions.discard(live)

    async def answer_on_sse_stream(session_id: str, request_id: int | str, error: dict[str, Any]) -> None:
        stream = next((live.stream for live in sse_sessions if live.session_id == session_id), None)
        if stream is None:
            return
        answer = types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData.model_validate(error))
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await stream.send(SessionMessage(types.JSONRPCMessage(answer)))

    async def healthz(request: Request) -> JSONResponse:
        status = "draining" if gate.draining else "ok"
        return JSONResponse(
            {"status": status, "tables": len(catalogue.tables), "inFlight": gate.in_flight},
            status_code=503 if gate.draining else 200,
        )

    def guard(app: ASGIApp, on_sse: bool = False) -> ASGIApp:
        checked = McpPostGuard(
            app,
            max_body_bytes=limit,
            idle_timeout=options.header_timeout,
            security=security,
            pending=pending,
            stream_answer=answer_on_sse_stream if on_sse else None,
        )
        return RequireAuthMiddleware(checked, required_scopes=[]) if options.auth_token else _AsgiEndpoint(checked)

    routes: list[Route | Mount] = [Route("/healthz", healthz, methods=["GET"])]
    if options.transport == "http":
        routes.append(Route("/mcp", endpoint=guard(endpoint)))  # every method: the endpoint answers 405 itself
    else:
        routes += [
            Route("/sse", endpoint=guard(sse_endpoint), methods=["GET"]),
            Mount("/messages/", app=guard(sse.handle_post_message, on_sse=True)),
        ]
    middleware = []
    if options.auth_token:
        middleware += [
            Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(StaticTokenVerifier(options.auth_token))),
            Middleware(AuthContextMiddleware),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with endpoint.run():
            yield

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.close_streams = endpoint.close_streams
    return app


@dataclass(eq=False)
class _SseSession:
    """A legacy SSE session as the guard needs it: its id (which the client quotes in each POST) and the
    stream to its client, where the answer to a POST the SDK never sees must go."""

    session_id: str | None = None
    stream: MemoryObjectSendStream[SessionMessage] | None = None

    def noting_session_id(self, send: Send) -> Send:
        """`send`, reading the session's id from the endpoint event the SDK sends first on the stream."""

        async def noting(message: Message) -> None:
            if self.session_id is None and message["type"] == "http.response.body":
                match = re.search(rb"session_id=([0-9a-f]{32})", message.get("body", b""))
                if match:
                    self.session_id = match.group(1).decode()
            await send(message)

        return noting


@contextlib.asynccontextmanager
async def _counted_answers(
    read_stream: MemoryObjectReceiveStream[SessionMessage | Exception],
    write_stream: MemoryObjectSendStream[SessionMessage],
    pending: PendingAnswers,
) -> AsyncIterator[
    tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
]:
    """A legacy SSE session's streams, counting its requests as pending from arrival until their answer has
    been handed to the stream (its POSTs are answered 202 at once, so the guard cannot count them)."""
    to_server, server_reads = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    server_writes, from_server = anyio.create_memory_object_stream[SessionMessage](0)
    waiting: set[types.RequestId] = set()

    async def inbound() -> None:
        async with to_server:
            async for item in read_stream:
                if isinstance(item, SessionMessage) and isinstance(item.message.root, types.JSONRPCRequest):
                    if item.message.root.id not in waiting:
                        waiting.add(item.message.root.id)
                        pending.add()
                await to_server.send(item)

    async def outbound() -> None:
        async with from_server:
            async for item in from_server:
                with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                    await write_stream.send(item)  # a client gone: its answers go nowhere, the server goes on
                root = item.message.root
                if isinstance(root, types.JSONRPCResponse | types.JSONRPCError) and root.id in waiting:
                    waiting.discard(root.id)
                    pending.done()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(inbound)
            group.start_soon(outbound)
            yield server_reads, server_writes
            group.cancel_scope.cancel()
    finally:
        for _ in waiting:  # the session is over: those answers can no longer leave
            pending.done()


class _DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT: refuse new tool calls at once, let those in flight finish, then stop."""

    def __init__(self, config: uvicorn.Config, gate: CallGate) -> None:
        super().__init__(config)
        self.gate = gate

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.gate.draining = True
        super().handle_exit(sig, frame)


async def _close_streams_after_answers(
    server: uvicorn.Server, pending: PendingAnswers, grace: float, close_streams: Callable[[], None]
) -> None:
    """Once each request received has its answer on the way out (or the grace is over), the streams that
    would stay open end: sse-starlette's (legacy SSE), once told to exit, and the GET streams of /mcp.
    Waiting for the calls in the gate was not enough: a request still sending its body, or queued before
    the gate, or whose answer was still being written, lost its answer (an empty 200)."""
    while not server.should_exit:
        await anyio.sleep(0.1)
    await pending.wait_until_answered(grace)
    AppStatus.should_exit = True
    close_streams()


async def serve_http(catalogue: Catalogue, gate: CallGate, options: HttpOptions) -> None:
    pending = PendingAnswers()
    app = build_http_app(catalogue, gate, options, pending)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level="warning",
        timeout_graceful_shutdown=int(options.shutdown_grace) + 2,
        lifespan="on",
        http=guarded_http_protocol(options.header_timeout, options.max_connections),
    )
    server = _DrainingServer(config, gate)
    AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises the signal it caught once it has shut down; with this handler in place that
        # re-raise is a no-op, so the store closes before a clean exit.
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
    log.warning(
        "tables-mcp serving %s on http://%s:%d%s",
        options.transport,
        options.host,
        options.port,
        "/mcp" if options.transport == "http" else "/sse",
    )
    async with anyio.create_task_group() as group:
        group.start_soon(_close_streams_after_answers, server, pending, options.shutdown_grace, app.state.close_streams)
        await server.serve()
        group.cancel_scope.cancel()
