"""One MCP session on the server: requests go from the transport's stream to their handler's task in one hop.

The SDK's `ServerSession` keeps what it does well: the initialize handshake, server-to-client requests
(elicitation) and their answers, notifications, cancellation. Two things in its receive loop cost a request
more than our whole getRecord: it validates each request against the union of every request MCP defines
(trying the members one after another: 54 us for a tools/call against a few us for its own type), and it
hands each request through a second in-memory stream to `Server.run`, which then starts the handler's task
(a stream hop is several trips round the event loop). Here the request type is looked up by its method,
and the receive loop starts the handler's task itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, get_args

import anyio
import mcp.types as types
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.shared.session import RequestResponder
from pydantic import BaseModel

log = logging.getLogger("tables_mcp.session")

Responder = RequestResponder[types.ClientRequest, types.ServerResult]


class _RequestByMethod:
    """Validates a request as the one type its method names (what the SDK's union finds, without the search)."""

    def __init__(self) -> None:
        members = get_args(types.ClientRequest.model_fields["root"].annotation)
        self._types: dict[str, type[BaseModel]] = {
            member.model_fields["method"].annotation.__args__[0]: member for member in members
        }

    def model_validate(self, data: dict[str, Any]) -> types.ClientRequest:
        request_type = self._types.get(data.get("method"))  # type: ignore[arg-type]
        if request_type is None:
            raise ValueError(f"Method not found: {str(data.get('method'))[:80]!r}")
        return types.ClientRequest.model_construct(request_type.model_validate(data))  # type: ignore[arg-type]


REQUEST_BY_METHOD = _RequestByMethod()


class DispatchingSession(ServerSession):
    """A server session whose receive loop hands each request straight to `dispatch` (which starts its task)
    and each notification to `notify`; `closed` is set once the client's stream has ended."""

    def __init__(
        self,
        read_stream: Any,
        write_stream: Any,
        init_options: InitializationOptions,
        dispatch: Callable[[Responder], None],
        notify: Callable[[Any], None],
        stateless: bool = False,
    ) -> None:
        super().__init__(read_stream, write_stream, init_options, stateless=stateless)
        self._receive_request_type = REQUEST_BY_METHOD
        self._dispatch = dispatch
        self._notify = notify
        self.closed = anyio.Event()

    async def _receive_loop(self) -> None:
        try:
            await super()._receive_loop()
        finally:
            self.closed.set()

    async def _handle_incoming(self, message: Any) -> None:
        if isinstance(message, RequestResponder):
            self._dispatch(message)
        elif isinstance(message, Exception):
            log.warning("the transport reported: %s", message)
        else:
            self._notify(message.root)
