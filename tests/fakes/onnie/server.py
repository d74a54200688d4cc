"""The fake Onnie over HTTP: the Starlette app (its fault queue, then the shared random switchboard of
``tests.fakes.serving``; latency, request log) and uvicorn in a daemon thread."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from ..serving import Fault as SwitchboardFault
from ..serving import Voice, catch_all_app, reset_connection, serve_in_thread
from .api import BASE_PATH, handle, route_of
from .errors import OnnieError, not_found, rate_limited, server_error, unauthorized
from .state import FakeOnnie, Fault

_JSON = "application/json"
_TRUNCATED = b'{"records": [{"id": "0b1e'
_PROXY_PAGE = "<html><head><title>{0}</title></head><body><h1>{0} Bad Gateway</h1></body></html>"


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status, headers, _JSON)


def _error_response(state: FakeOnnie, error: OnnieError) -> Response:
    return _json_response(error.status, error.body(state.error_layout), error.headers)


def _fault_response(state: FakeOnnie, fault: Fault) -> Response:
    """The answer of a fault that stops the request before it is applied."""
    if fault.kind == "malformed":
        if fault.malformed == "truncated":
            return Response(_TRUNCATED, fault.status, media_type=_JSON)
        return Response(_PROXY_PAGE.format(fault.status), fault.status, media_type="text/html")
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    error = rate_limited(headers) if fault.status == 429 else server_error(fault.status)
    error.headers = headers
    return _error_response(state, error)


def _voice(state: FakeOnnie) -> Voice:
    """Onnie's own answers to the switchboard's refusals: 500 ``internal_error``, 429 ``rate_limited`` and 401
    ``unauthorized`` (a revoked or expired key)."""

    def refusal(fault: SwitchboardFault) -> Response:
        if fault.kind == "throttle":
            return _error_response(state, rate_limited())
        if fault.kind == "auth_expired":
            return _error_response(state, unauthorized())
        return _error_response(state, server_error(fault.status or 500))

    return refusal


def _applied(state: FakeOnnie, request: Request, route: str, body: bytes) -> Response:
    headers = {key.lower(): value for key, value in request.headers.items()}
    try:
        with state.lock:
            status, payload = handle(state, request.method, route, dict(request.query_params), headers, body)
    except OnnieError as error:
        return _error_response(state, error)
    return _json_response(status, payload)


async def _serve(state: FakeOnnie, request: Request) -> Response:
    """Log, fault queue and latency first; then auth, limit, scope and handler (see ``api.handle``)."""
    body = await request.body()
    entry = state.log(request.method, request.url.path, request.query_params, request.headers, body)
    route = route_of(request.url.path)
    if route is None:
        response = _error_response(state, not_found("Route"))
        entry.status = response.status_code
        return response
    fault = state.take_fault(request.method, route)
    delay = state.latency_s + (fault.seconds if fault is not None and fault.kind == "latency" else 0.0)
    if delay > 0:
        await asyncio.sleep(delay)
    if fault is not None and fault.kind == "reset":
        await reset_connection(request.scope)
        return Response(status_code=500)  # never delivered: the connection is gone
    if fault is not None and fault.kind in ("status", "malformed"):
        response = _fault_response(state, fault)
    elif fault is None:
        response = await state.switchboard.serve(
            request, body, lambda: _applied(state, request, route, body), _voice(state)
        )
    else:
        response = _applied(state, request, route, body)
    if fault is not None and fault.kind == "lose_answer":
        await reset_connection(request.scope)
        return Response(status_code=500)  # never delivered, though the write was applied
    entry.status = response.status_code
    return response


def build_app(state: FakeOnnie) -> Starlette:
    """The ASGI app serving ``state`` under ``/api/public/v1``."""

    async def endpoint(request: Request) -> Response:
        return await _serve(state, request)

    return catch_all_app(endpoint, "/{rest:path}")


def bound_socket(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP; without it
    # every keep-alive request waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def uvicorn_server(state: FakeOnnie) -> uvicorn.Server:
    # http="h11": the reset faults need its transport (see serving.reset_connection).
    return uvicorn.Server(uvicorn.Config(build_app(state), log_level="warning", http="h11", lifespan="off"))


@contextlib.contextmanager
def serve_fake_onnie(state: FakeOnnie, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serves ``state`` with uvicorn in a daemon thread; yields the base URL with its version path.

    e.g. ``http://127.0.0.1:54321/api/public/v1``, the value ``ONNIE_BASE_URL`` takes.
    """
    with serve_in_thread(build_app(state), "onnie", host=host, port=port) as url:
        yield f"{url}{BASE_PATH}"
