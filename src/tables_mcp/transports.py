"""Network transports: streamable HTTP (`/mcp`) and legacy SSE (`/sse` + `/messages/`) on one app.

Built only from the MCP SDK's own transports, its bearer-token middleware and its DNS-rebinding
protection; this module adds what a shared server needs around them: a static-token verifier with
constant-time comparison, a request body limit, `/healthz`, and a shutdown that lets calls in
flight finish while refusing new ones.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import signal
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from sse_starlette.sse import AppStatus
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .server import CallGate, build_server, initialization_options
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


class BodyLimit:
    """Refuses request bodies over a size with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "invalid_argument",
                    "retryable": False,
                    "message": f"Request body over {self.max_bytes} bytes; send smaller batches.",
                }
            }
        )
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})


class _AsgiEndpoint:
    """Starlette's Route calls a plain function as a request handler, `f(request)`; an object is served
    as the ASGI app it is, which is what the MCP endpoints are, with or without the auth middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class _QuietClosedStreams(logging.Filter):
    """The SDK logs a traceback at ERROR each time a client ends a session (its GET stream closes);
    that is normal operation, and at 50 clients it buries real errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, anyio.ClosedResourceError)


def _security(options: HttpOptions) -> TransportSecuritySettings:
    """DNS-rebinding protection: only the Host names and browser Origins we expect."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", *options.allowed_hosts]
    if not is_loopback(options.host) and options.host not in ("0.0.0.0", "::"):
        hosts.append(f"{options.host}:*")
    origins = [f"http://{host}" for host in hosts] + [f"https://{host}" for host in hosts]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def build_http_app(catalogue: Catalogue, gate: CallGate, options: HttpOptions) -> Starlette:
    logging.getLogger("mcp.server.streamable_http").addFilter(_QuietClosedStreams())
    server = build_server(catalogue, gate)
    security = _security(options)
    manager = StreamableHTTPSessionManager(app=server, stateless=options.stateless, security_settings=security)
    sse = SseServerTransport("/messages/", security_settings=security)

    async def sse_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        async with sse.connect_sse(scope, receive, send) as (read_stream, write_stream):
            await server.run(read_stream, write_stream, initialization_options(server))

    async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        await manager.handle_request(scope, receive, send)

    async def healthz(request: Request) -> JSONResponse:
        status = "draining" if gate.draining else "ok"
        return JSONResponse(
            {"status": status, "tables": len(catalogue.tables), "inFlight": gate.in_flight},
            status_code=503 if gate.draining else 200,
        )

    def guard(app: ASGIApp) -> ASGIApp:
        return RequireAuthMiddleware(app, required_scopes=[]) if options.auth_token else _AsgiEndpoint(app)

    routes: list[Route | Mount] = [Route("/healthz", healthz, methods=["GET"])]
    if options.transport == "http":
        routes.append(Route("/mcp", endpoint=guard(mcp_endpoint), methods=["GET", "POST", "DELETE"]))
    else:
        routes += [
            Route("/sse", endpoint=guard(sse_endpoint), methods=["GET"]),
            Mount("/messages/", app=guard(sse.handle_post_message)),
        ]
    middleware = [Middleware(BodyLimit, max_bytes=options.max_body_bytes)]
    if options.auth_token:
        middleware += [
            Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(StaticTokenVerifier(options.auth_token))),
            Middleware(AuthContextMiddleware),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


class _DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT: refuse new tool calls at once, let those in flight finish, then stop."""

    def __init__(self, config: uvicorn.Config, gate: CallGate) -> None:
        super().__init__(config)
        self.gate = gate

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.gate.draining = True
        super().handle_exit(sig, frame)


async def _close_streams_after_drain(server: uvicorn.Server, gate: CallGate, grace: float) -> None:
    """Streamed responses (SSE) would end the moment uvicorn starts shutting down, cutting off the
    answers of calls in flight; they end only once those calls have answered (or the grace is over)."""
    while not server.should_exit:
        await anyio.sleep(0.1)
    await gate.drain(grace)
    await anyio.sleep(0.5)  # let the last answers leave before their streams close
    AppStatus.should_exit = True


async def serve_http(catalogue: Catalogue, gate: CallGate, options: HttpOptions) -> None:
    app = build_http_app(catalogue, gate, options)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level="warning",
        timeout_graceful_shutdown=int(options.shutdown_grace) + 2,
        lifespan="on",
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
        group.start_soon(_close_streams_after_drain, server, gate, options.shutdown_grace)
        await server.serve()
        group.cancel_scope.cancel()
