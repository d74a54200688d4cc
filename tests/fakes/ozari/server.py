"""HTTP side of the fake Ozari API: the Starlette app, fault injection (its own queue, then the shared random
switchboard of ``tests.fakes.serving``), the request log and the uvicorn thread.

:func:`serve_fake_ozari` runs :func:`build_app` on 127.0.0.1 in a daemon thread and yields the base URL (the
equivalent of ``https://api.ozari.co.il``; every endpoint sits under ``/integration/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from ..serving import Fault as SwitchboardFault
from ..serving import catch_all_app, reset_connection, serve_in_thread
from .errors import OzariError
from .handlers import dispatch
from .state import FakeOzari, Fault, LoggedRequest

_JSON_MEDIA_TYPE = "application/json; charset=utf-8"
_SERVER_HEADERS = {"X-Powered-By": "Express"}
_MALFORMED_BODY = b'{"success":true,"table":"tcust","records":[{"fid":'
_SECRET_HEADERS = frozenset({"authorization", "cookie"})


def _json_response(status: int, payload: Any) -> Response:
    body = json.dumps(payload, ensure_ascii=False)
    return Response(body, status_code=status, media_type=_JSON_MEDIA_TYPE, headers=_SERVER_HEADERS)


def _loggable(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _log_entry(request: Request, body: bytes) -> LoggedRequest:
    headers = {key: "REDACTED" if key in _SECRET_HEADERS else value for key, value in request.headers.items()}
    return LoggedRequest(request.method, request.url.path, dict(request.query_params), _loggable(body), headers)


# What an ``error`` fault with a 4xx status answers: the API's envelope with the documented message (errors.md).
_DOCUMENTED_REFUSALS = {
    400: {"success": False, "error": "Invalid field name: my-field"},
    401: {"success": False, "error": "Missing or invalid Authorization header"},
    403: {"success": False, "error": "Invalid token"},
    404: {"success": False, "error": "Table not found"},
    409: {
        "success": False,
        "error": "Multiple records match the given filters. Use /records/bulk for multi-update.",
        "matched": 2,
    },
}


def _fault_answer(fault: Fault) -> Response:
    """What an ``error`` or ``malformed`` fault answers instead of the API."""
    if fault.kind == "malformed":
        return Response(_MALFORMED_BODY, fault.status, _SERVER_HEADERS, _JSON_MEDIA_TYPE)
    if fault.status == 500:
        return _json_response(500, {"success": False, "error": "Internal server error"})
    if fault.status in _DOCUMENTED_REFUSALS:
        return _json_response(fault.status, _DOCUMENTED_REFUSALS[fault.status])
    page = f"<html><head><title>{fault.status}</title></head><body><center><h1>{fault.status}</h1></center>"
    return Response(page + "<hr><center>nginx</center></body></html>", fault.status, media_type="text/html")


def _voice(fault: SwitchboardFault) -> Response:
    """Ozari's own answers to the switchboard's refusals: 500 with its envelope, and 403 "Invalid token" for a
    token that is no longer valid (errors.md: 401 is a missing or malformed header). Ozari documents no rate
    limit, so the fault suite never asks it to throttle; a 429 would come as a proxy's page."""
    if fault.kind == "auth_expired":
        return _json_response(403, _DOCUMENTED_REFUSALS[403])
    if fault.kind == "throttle":
        return Response("<html><body><h1>429 Too Many Requests</h1></body></html>", 429, media_type="text/html")
    status = fault.status or 500
    if status != 500:
        return _fault_answer(Fault("error", None, None, status, 0.0))
    return _json_response(500, {"success": False, "error": "Internal server error"})


def _api_answer(state: FakeOzari, request: Request, body: bytes) -> Response:
    try:
        status, payload = dispatch(state, request.method, request.url.path, request.query_params, request.headers, body)
    except OzariError as error:
        return _json_response(error.status, error.body())
    return _json_response(status, payload)


async def _serve(state: FakeOzari, request: Request) -> Response:
    """Log, then the first matching queued fault (if any), then the API."""
    body = await request.body()
    entry = _log_entry(request, body)
    state.log(entry)
    fault = state.take_fault(request.method, request.url.path)
    entry.fault = fault.kind if fault else None
    if fault is not None and fault.kind == "latency":
        await asyncio.sleep(fault.delay_s)
    if fault is not None and fault.kind == "reset":
        await reset_connection(request.scope)
        return Response(status_code=500)  # never delivered: the connection is gone
    if fault is not None and fault.kind in ("error", "malformed"):
        response = _fault_answer(fault)
    elif fault is None:
        response = await state.switchboard.serve(request, body, lambda: _api_answer(state, request, body), _voice)
    else:
        response = _api_answer(state, request, body)
    entry.status = response.status_code
    if fault is not None and fault.kind == "lost":
        await reset_connection(request.scope)
    return response


def build_app(state: FakeOzari) -> Starlette:
    """The ASGI app serving ``state`` (every path and method reaches :func:`dispatch`)."""

    async def endpoint(request: Request) -> Response:
        return await _serve(state, request)

    return catch_all_app(endpoint, "/{rest:path}")


@contextlib.contextmanager
def serve_fake_ozari(state: FakeOzari, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serves ``state`` with uvicorn in a daemon thread; yields the base URL (``http://127.0.0.1:<port>``)."""
    with serve_in_thread(build_app(state), "ozari", host=host, port=port) as url:
        yield url
