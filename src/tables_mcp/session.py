"""One MCP session on the server: requests go from the transport's stream to their handler's task in one hop.

The SDK's `ServerSession` keeps what it does well: the initialize handshake, server-to-client requests
(elicitation) and their answers, notifications, cancellation. Its receive loop is replaced: it dumps each
request's params and validates them against the union of every request MCP defines, trying the members
one after another (54 us for a tools/call, against a few for its own type; 2 ms more for the params of a
1,000-record create), and hands each request through a second in-memory stream to `Server.run`, which then
starts the handler's task (a stream hop is several trips round the event loop). Here the request type is
looked up by its method and the receive loop starts the handler's task itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, get_args

import anyio
import mcp.types as types
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.shared.message import SessionMessage
from mcp.shared.session import RequestResponder
from pydantic import BaseModel, ValidationError

from .stdio import LineWriter

log = logging.getLogger("tables_mcp.session")


class WireResult:
    """A result as the dict that goes on the wire, built by its handler: sent without a pydantic model around it
    (building and dumping a `CallToolResult` cost a call some 17 us; its records are JSON data already), and over
    stdio without the JSON-RPC message models either (`LineWriter.send_result`)."""

    __slots__ = ("wire",)

    def __init__(self, wire: dict[str, Any]) -> None:
        self.wire = wire


class Responder(RequestResponder[types.ClientRequest, types.ServerResult]):
    """The SDK's responder with one cancel scope, made with it and entered by `with`: the SDK's makes a second
    one at `with` (5 us), and a cancellation of the first before the request's task has started was lost."""

    def __enter__(self) -> Responder:
        self._entered = True
        self._cancel_scope.__enter__()
        return self


class RequestTasks:
    """The tasks of one session's requests, started straight on the event loop: anyio's `start_soon` costs a
    request some 25 us more (its task handle and task-group bookkeeping). At the session's end each request is
    cancelled through its responder's cancel scope, which honours shields (a write that started finishes), and
    waited for."""

    def __init__(self) -> None:
        self._tasks: dict[asyncio.Task[None], Responder | None] = {}
        self.first_failure: BaseException | None = None  # kept for raise_exceptions; every one is logged

    def start(self, work: Coroutine[Any, Any, None], responder: Responder | None) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks[task] = responder
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and (failure := task.exception()) is not None:
            log.error("a request's task failed", exc_info=failure)
            self.first_failure = self.first_failure or failure

    async def end(self) -> None:
        with anyio.CancelScope(shield=True):
            for task, responder in list(self._tasks.items()):
                if responder is not None:
                    responder._cancel_scope.cancel()
                else:
                    task.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks))


class UnknownMethod(Exception):
    pass


class _RequestByMethod:
    """Validates a request as the one type its method names (what the SDK's union finds, without the search)."""

    # Wrapping a validated request in ClientRequest by its constructor has the union try each member before the
    # request's own (0.4 us apiece: tools/call is the twelfth, 5.9 us); `model_construct` skips that (1.4 us).
    # For the first two (ping, initialize) the constructor is still the cheaper.
    MODEL_CONSTRUCT_FROM_INDEX = 2

    def __init__(self) -> None:
        members = get_args(types.ClientRequest.model_fields["root"].annotation)
        self._types: dict[str, tuple[type[BaseModel], Callable[[Any], types.ClientRequest]]] = {
            member.model_fields["method"].annotation.__args__[0]: (
                member,
                types.ClientRequest if index < self.MODEL_CONSTRUCT_FROM_INDEX else types.ClientRequest.model_construct,
            )
            for index, member in enumerate(members)
        }

    def validate(self, request: types.JSONRPCRequest) -> types.ClientRequest:
        found = self._types.get(request.method)
        if found is None:
            raise UnknownMethod(request.method)
        request_type, wrap = found
        data: dict[str, Any] = {"method": request.method}
        if request.params is not None:
            data["params"] = request.params  # the client's own JSON: nothing to dump first, as the SDK does
        return wrap(request_type.model_validate(data))


REQUEST_BY_METHOD = _RequestByMethod()


class DispatchingSession(ServerSession):
    """A server session whose receive loop hands each request straight to `dispatch` (which starts its task)
    and each notification to `notify`; `closed` is set once the client's stream has ended. `text_checked`: the
    transport refused every message holding a lone surrogate before it got here (ours do: `stdio.check_line`).

    The loop is BaseSession's, less the union search, the dump of every request's params before it is
    validated (2 ms for a 1,000-record createRecords) and the second stream: a request is validated as the
    type its method names; a method MCP does not define is -32601 (the SDK answers -32602), as the stdio
    and HTTP guards answer it before a request gets here."""

    def __init__(
        self,
        read_stream: Any,
        write_stream: Any,
        init_options: InitializationOptions,
        dispatch: Callable[[Responder], None],
        notify: Callable[[Any], None],
        stateless: bool = False,
        text_checked: bool = False,
    ) -> None:
        super().__init__(read_stream, write_stream, init_options, stateless=stateless)
        self.text_checked = text_checked
        self._dispatch = dispatch
        self._notify = notify
        self.closed = anyio.Event()

    async def _receive_loop(self) -> None:
        try:
            async with self._read_stream, self._write_stream:
                try:
                    async for message in self._read_stream:
                        await self._receive(message)
                except anyio.ClosedResourceError:
                    log.debug("the client's stream was closed")
                except Exception:
                    log.exception("the session's receive loop failed")
                finally:
                    await self._end_requests_to_the_client()
        finally:
            self.closed.set()

    async def _receive(self, message: SessionMessage | Exception) -> None:
        if isinstance(message, Exception):
            log.warning("the transport reported: %s", message)
            return
        root = message.message.root
        if isinstance(root, types.JSONRPCRequest):
            await self._receive_request(root, message.metadata)
        elif isinstance(root, types.JSONRPCNotification):
            await self._receive_notification(root)
        else:
            await self._handle_response(message)  # the answer to one of our requests (elicitation)

    async def _receive_request(self, request: types.JSONRPCRequest, metadata: Any) -> None:
        try:
            validated = REQUEST_BY_METHOD.validate(request)
        except UnknownMethod:
            await self._send_error(request.id, types.METHOD_NOT_FOUND, f"Method not found: {request.method[:80]!r}.")
            return
        except ValidationError as exc:
            await self._send_error(request.id, types.INVALID_PARAMS, f"Invalid request parameters: {_first(exc)}")
            return
        params = validated.root.params
        responder = Responder(
            request_id=request.id,
            request_meta=params.meta if params is not None else None,
            request=validated,
            session=self,
            on_complete=lambda done: self._in_flight.pop(done.request_id, None),
            message_metadata=metadata,
        )
        self._in_flight[request.id] = responder
        try:
            await self._received_request(responder)  # the SDK's: the initialize handshake, and its state
        except RuntimeError as exc:  # a request before initialization
            self._in_flight.pop(request.id, None)
            await self._send_error(request.id, types.INVALID_PARAMS, str(exc))
            return
        if not responder._completed:
            self._dispatch(responder)

    async def _receive_notification(self, notification: types.JSONRPCNotification) -> None:
        try:
            validated = types.ClientNotification.model_validate(
                notification.model_dump(by_alias=True, mode="json", exclude_none=True)
            )
            root = validated.root
            if isinstance(root, types.CancelledNotification):
                cancelled = root.params.requestId
                responder = self._in_flight.get(cancelled) if cancelled is not None else None
                if responder is not None and not responder._completed:  # an answer on its way is the answer
                    await responder.cancel()
                return
            await self._received_notification(validated)
            self._notify(root)
        except Exception as exc:  # a notification has no answer: a bad one is only worth a line in the log
            log.warning("notification %s ignored: %s", notification.method[:80], exc)

    async def _send_response(
        self, request_id: types.RequestId, response: types.ServerResult | types.ErrorData | WireResult
    ) -> None:
        """A result already in its wire form goes out as it is; any other goes the SDK's way (dumped first)."""
        if not isinstance(response, WireResult):
            await super()._send_response(request_id, response)
            return
        if isinstance(self._write_stream, LineWriter):  # stdio: straight to the line
            await self._write_stream.send_result(request_id, response.wire)
            return
        answer = types.JSONRPCResponse(jsonrpc="2.0", id=request_id, result=response.wire)
        await self._write_stream.send(SessionMessage(message=types.JSONRPCMessage(answer)))

    async def _send_error(self, request_id: types.RequestId, code: int, message: str) -> None:
        error = types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message))
        await self._write_stream.send(SessionMessage(types.JSONRPCMessage(error)))

    async def _end_requests_to_the_client(self) -> None:
        """Our requests still waiting for the client's answer (elicitation) get "Connection closed", as in the SDK."""
        for request_id, stream in list(self._response_streams.items()):
            error = types.ErrorData(code=types.CONNECTION_CLOSED, message="Connection closed")
            try:
                await stream.send(types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error))
                await stream.aclose()
            except Exception:
                log.debug("a request to the client was ended already", exc_info=True)
        self._response_streams.clear()

    async def _handle_incoming(self, message: Any) -> None:
        """What the SDK's response routing reports (an answer to no request of ours) goes to the log."""
        log.warning("ignored from the client: %s", message)


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(step) for step in error["loc"])
    return f"{where}: {error['msg']}"[:200]
