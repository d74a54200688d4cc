"""HTTP side of the fake DingTalk API: the Starlette app (:func:`build_app`), the fault switches applied to
each request (its own queue, then the shared random :class:`~tests.fakes.serving.Switchboard`), and
:func:`serve_fake_dingtalk`, which runs the app with uvicorn in a daemon thread.

Every JSON answer carries ``Content-Type: application/json;charset=utf-8`` and the ``x-acs-request-id`` /
``x-acs-trace-id`` headers (§1.6); an error body's ``requestid`` is the same id.
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
from ..serving import Voice, catch_all_app, reset_connection, serve_in_thread
from .api import dispatch
from .errors import QPS_LIMIT_APP_AND_API, SERVER_ERRORS, THROTTLE_MESSAGES, DingTalkError, new_request_id
from .state import FakeDingTalk, Fault

_JSON = "application/json;charset=utf-8"


def _json_response(status: int, payload: Any, request_id: str) -> Response:
    headers = {"x-acs-request-id": request_id, "x-acs-trace-id": request_id.replace("-", "").lower()}
    return Response(json.dumps(payload, ensure_ascii=False), status, headers, _JSON)


def _answer(state: FakeDingTalk, request: Request, body: bytes) -> Response:
    request_id = new_request_id()
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    try:
        with state.lock:
            payload = dispatch(
                state, request.method, raw_path.decode("latin-1"), request.headers, request.query_params, body
            )
    except DingTalkError as error:
        return _json_response(error.status, error.body(request_id), request_id)
    return _json_response(200, payload, request_id)


def _fault_response(fault: Fault) -> Response:
    if fault.kind == "malformed":
        return Response(fault.body, fault.status, media_type=fault.media_type)
    request_id = new_request_id()
    return _json_response(
        fault.status, DingTalkError(fault.status, fault.code, fault.message).body(request_id), request_id
    )


async def _serve(state: FakeDingTalk, request: Request) -> Response:
    """Latency, then a fault or the API; a lost answer applies the request and then drops the connection."""
    body = await request.body()
    entry = state.log(request, body)
    delay, fault = state.take_faults(request.method, request.url.path)
    if delay is not None:
        await asyncio.sleep(delay.seconds)
    if fault is not None and fault.kind in ("reset", "lost_answer"):
        if fault.kind == "lost_answer":
            _answer(state, request, body)  # applied; its answer is never sent
        await reset_connection(request.scope)
        return Response(status_code=500)  # never delivered: the connection is gone
    if fault is not None:
        response = _fault_response(fault)
    else:
        response = await state.switchboard.serve(request, body, lambda: _answer(state, request, body), _voice(state))
    entry.status = response.status_code
    return response


# A refusal's code by its status (seed 002): a document DingTalk cannot open, an internal error, a timeout.
_ERROR_CODES = {400: "invalidRequest.document.broken", 500: "internalError", 504: "service.timeout"}


def _voice(state: FakeDingTalk) -> Voice:
    """DingTalk's own answers to the switchboard's refusals: 500 ``internalError``, 403 ``QpsLimitForAppkeyAndApi``
    (§3b: DingTalk throttles with 403, not 429); an expired credential really expires every access token, so the
    request is answered ``InvalidAuthentication`` as DingTalk would."""

    def refusal(fault: SwitchboardFault) -> Response | None:
        if fault.kind == "auth_expired":
            state.expire_all_tokens()
            return None
        if fault.kind == "throttle":
            code, status, message = QPS_LIMIT_APP_AND_API, 403, THROTTLE_MESSAGES[QPS_LIMIT_APP_AND_API]
        else:
            code = _ERROR_CODES.get(fault.status or 500, "internalError")
            status, message = fault.status or SERVER_ERRORS[code][0], SERVER_ERRORS[code][1]
        request_id = new_request_id()
        return _json_response(status, DingTalkError(status, code, message).body(request_id), request_id)

    return refusal


def build_app(state: FakeDingTalk) -> Starlette:
    """The ASGI app serving ``state`` (every path; unknown ones answer 404 ``InvalidAction.NotFound``)."""

    async def endpoint(request: Request) -> Response:
        return await _serve(state, request)

    return catch_all_app(endpoint, "/{rest:path}")


@contextlib.contextmanager
def serve_fake_dingtalk(state: FakeDingTalk, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serves ``state`` with uvicorn in a daemon thread; yields the base URL (``http://127.0.0.1:<port>``)."""
    with serve_in_thread(build_app(state), "DingTalk", host=host, port=port) as url:
        yield url
