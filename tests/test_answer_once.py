"""One answer per request when a cancellation races the result (python-sdk #2416).

A `notifications/cancelled` handled after the handler returned but before its answer left makes the SDK
answer "Request cancelled" and then trip an assertion on the real answer, ending the whole session (seen
in the HTTP soak). The race cannot be timed from outside, so the handler here puts the request in exactly
the state that cancellation leaves it in, then returns its result as a real handler would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import types
from mcp.shared.exceptions import McpError
from mcp.shared.memory import create_connected_server_and_client_session
from mcp.shared.session import RequestResponder

from tables_mcp.backends.store import open_store
from tables_mcp.server import build_server
from tables_mcp.tools import Catalogue, ToolOptions

pytestmark = pytest.mark.anyio


async def test_a_cancellation_that_answered_first_leaves_the_session_running(tmp_path: Path) -> None:
    backend = open_store(str(tmp_path / "race.db"))
    await backend.open()
    catalogue = Catalogue(backend, ToolOptions())
    await catalogue.refresh(force=True)
    server = build_server(catalogue)
    ping = server.request_handlers[types.PingRequest]
    raced: list[Any] = []

    async def ping_cancelled_as_it_finishes(request: Any) -> types.ServerResult:
        if not raced:
            context = server.request_context
            responder: RequestResponder[Any, Any] = context.session._in_flight[context.request_id]
            # What RequestResponder.cancel() leaves behind when its scope's cancellation is not delivered
            # before the handler returns: the request marked complete and "Request cancelled" sent.
            responder._completed = True
            await context.session._send_response(
                request_id=context.request_id, response=types.ErrorData(code=0, message="Request cancelled")
            )
            raced.append(context.request_id)
        result: types.ServerResult = await ping(request)
        return result

    server.request_handlers[types.PingRequest] = ping_cancelled_as_it_finishes
    try:
        async with create_connected_server_and_client_session(server, raise_exceptions=True) as client:
            with pytest.raises(McpError, match="Request cancelled"):
                await client.send_ping()  # the one answer it gets is the cancellation's
            await client.send_ping()  # and the session is still there
            assert (await client.list_tools()).tools
    finally:
        await backend.aclose()
    assert len(raced) == 1
