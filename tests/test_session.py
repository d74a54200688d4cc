"""Our session's receive loop (`tables_mcp/session.py`) as a client sees it, message by message.

The loop replaces the SDK's for speed; these are the answers it must keep giving: the initialize handshake,
a request before it, a method MCP does not define, parameters that do not fit the request's type, and a
cancellation that arrives while the request's answer is already being written (which must stay its only
answer). Driven over real memory streams with the SDK's own message types, as every transport delivers them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import mcp.types as types
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.shared.message import SessionMessage

from tables_mcp.backends.base import Backend
from tables_mcp.backends.store import open_store
from tables_mcp.model import ColumnSpec, ColumnType, ListQuery
from tables_mcp.server import CallGate, CallLimits, _hooks, build_server
from tables_mcp.session import REQUEST_BY_METHOD
from tables_mcp.tools import Catalogue, ToolOptions

pytestmark = pytest.mark.anyio

INITIALIZE = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "session-test", "version": "1"},
}


class Wire:
    def __init__(
        self, to_server: MemoryObjectSendStream[SessionMessage], from_server: MemoryObjectReceiveStream[SessionMessage]
    ) -> None:
        self._to_server, self._from_server = to_server, from_server

    async def send(self, message: dict[str, Any]) -> None:
        await self._to_server.send(SessionMessage(types.JSONRPCMessage.model_validate(message)))

    async def next_message(self) -> dict[str, Any]:
        with anyio.fail_after(10):
            message = await self._from_server.receive()
        return message.message.model_dump(by_alias=True, exclude_none=True)

    async def answer(self, request_id: int) -> dict[str, Any]:
        """The next answer to `request_id` (notifications in between are skipped)."""
        with anyio.fail_after(10):
            while True:
                message = (await self._from_server.receive()).message.model_dump(by_alias=True, exclude_none=True)
                if message.get("id") == request_id:
                    return message

    async def request(self, request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return await self.answer(request_id)

    async def start_call(self, request_id: int, tool: str, arguments: dict[str, Any]) -> None:
        """Send a tools/call without waiting for its answer."""
        params = {"name": tool, "arguments": arguments}
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})

    async def initialize(self) -> None:
        assert "result" in await self.request(0, "initialize", INITIALIZE)
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})


@asynccontextmanager
async def served(
    tmp_path: Path,
    answers_buffered: int = 16,
    gate: CallGate | None = None,
    backend: Backend | None = None,
    options: ToolOptions | None = None,
) -> AsyncIterator[Wire]:
    backend = backend or open_store(str(tmp_path / "session.db"))
    await backend.open()
    catalogue = Catalogue(backend, options or ToolOptions())
    await catalogue.refresh(force=True)
    server = build_server(catalogue, gate)
    to_server, server_reads = anyio.create_memory_object_stream[SessionMessage](16)
    server_writes, from_server = anyio.create_memory_object_stream[SessionMessage](answers_buffered)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(server.run, server_reads, server_writes, server.create_initialization_options())
            yield Wire(to_server, from_server)
            await to_server.aclose()  # the client goes away: the session ends
    finally:
        await backend.aclose()


async def test_a_request_before_initialize_is_refused_and_the_handshake_still_works(tmp_path: Path) -> None:
    async with served(tmp_path) as wire:
        early = await wire.request(1, "tools/list")
        assert early["error"]["code"] == types.INVALID_PARAMS
        assert "initialization" in early["error"]["message"]
        assert (await wire.request(2, "ping"))["result"] == {}  # ping is allowed at any time
        await wire.initialize()
        tools = (await wire.request(3, "tools/list"))["result"]["tools"]
        assert "listTables" in {tool["name"] for tool in tools}


async def test_an_unknown_method_is_method_not_found_naming_it(tmp_path: Path) -> None:
    async with served(tmp_path) as wire:
        await wire.initialize()
        answer = await wire.request(5, "tables/explode", {})
        assert answer["error"]["code"] == types.METHOD_NOT_FOUND
        assert "tables/explode" in answer["error"]["message"]
        assert (await wire.request(6, "ping"))["result"] == {}


async def test_params_that_do_not_fit_the_request_name_the_parameter(tmp_path: Path) -> None:
    async with served(tmp_path) as wire:
        await wire.initialize()
        answer = await wire.request(7, "tools/call", {"name": 42})
        assert answer["error"]["code"] == types.INVALID_PARAMS
        assert "params.name" in answer["error"]["message"]
        listed = await wire.request(8, "tools/call", {"name": "listTables", "arguments": {}})
        assert listed["result"]["isError"] is False


async def test_a_cancellation_while_the_answer_is_being_written_adds_no_second_answer(tmp_path: Path) -> None:
    """The server's write stream takes nothing until the client reads (a full pipe): the answer to request 9 is
    on its way when the cancellation is read. The answer stands alone; no "Request cancelled" follows it."""
    async with served(tmp_path, answers_buffered=0) as wire:
        await wire.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INITIALIZE})
        assert "result" in await wire.next_message()
        await wire.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        await wire.send({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "listTables"}})
        await anyio.sleep(0.3)  # the handler has long finished: its answer waits for the client to read
        await wire.send(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9, "reason": "late"}}
        )
        await wire.send({"jsonrpc": "2.0", "id": 10, "method": "ping"})
        first = await wire.next_message()
        assert first["id"] == 9 and "result" in first
        assert await wire.next_message() == {"jsonrpc": "2.0", "id": 10, "result": {}}


async def test_notifications_to_a_client_that_went_away_are_dropped_not_raised() -> None:
    """A write still running when its client's session ends (the soak's dropped connections) reports what it
    wrote as a log message and progress: to a closed stream those are dropped, and the call ends as it would."""
    to_server, server_reads = anyio.create_memory_object_stream[SessionMessage](1)
    server_writes, from_server = anyio.create_memory_object_stream[SessionMessage](1)
    options = InitializationOptions(server_name="t", server_version="1", capabilities=types.ServerCapabilities())
    session = ServerSession(server_reads, server_writes, options)
    await from_server.aclose()  # the client is gone: nothing reads what the server sends
    context = SimpleNamespace(session=session, meta=types.RequestParams.Meta(progressToken="p1"), request_id=3)
    hooks = _hooks(context)
    assert hooks.log is not None and hooks.progress is not None
    await hooks.log("info", {"event": "cancelled", "writtenIds": ["1"]})
    await hooks.progress(1, 2, "1 of 2 records written")
    gone = SessionMessage(types.JSONRPCMessage(types.JSONRPCNotification(jsonrpc="2.0", method="x")))
    with pytest.raises(anyio.BrokenResourceError):  # what the hooks caught
        await server_writes.send(gone)
    await to_server.aclose()


class Stalling:
    """The store, with reads and writes that stall where a slow platform would (the test says how)."""

    def __init__(self, path: Path) -> None:
        self.store = open_store(str(path))
        self.started = anyio.Event()
        self.read_cancelled = False
        self.write_finished = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def get_record(self, table: Any, record_id: str) -> Any:
        self.started.set()
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            self.read_cancelled = True
            raise
        return await self.store.get_record(table, record_id)

    async def create_records(self, table: Any, rows: Any, progress: Any) -> Any:
        self.started.set()
        with anyio.CancelScope(shield=True):  # as the store shields a write that started
            await anyio.sleep(0.3)
            records = await self.store.create_records(table, rows, progress)
        self.write_finished = True
        return records


async def _make_table(wire: Wire) -> str:
    columns = [{"name": "A", "type": "TEXT"}]
    made = await wire.request(1, "tools/call", {"name": "createTable", "arguments": {"name": "T", "columns": columns}})
    table: str = made["result"]["structuredContent"]["table"]["id"]
    return table


async def test_a_read_past_the_request_timeout_is_a_retryable_unavailable_error(tmp_path: Path) -> None:
    stalling = Stalling(tmp_path / "slow.db")
    gate = CallGate(CallLimits(read_timeout=0.2))
    async with served(tmp_path, gate=gate, backend=stalling) as wire:  # type: ignore[arg-type]
        await wire.initialize()
        table = await _make_table(wire)
        answer = await wire.request(
            2, "tools/call", {"name": "getRecord", "arguments": {"table": table, "recordId": "1"}}
        )
        result = answer["result"]
        assert result["isError"] is True
        error = result["structuredContent"]["error"]
        assert error["code"] == "unavailable" and error["retryAfter"] == 1.0
        assert "getRecord took longer than 0.2 s" in error["message"]
        assert stalling.read_cancelled
        await wire.send({"jsonrpc": "2.0", "id": 3, "method": "ping"})
        assert await _messages_until(wire, 3) == [{"jsonrpc": "2.0", "id": 3, "result": {}}]  # one answer for 2
        assert gate.in_flight == 0


async def _messages_until(wire: Wire, request_id: int) -> list[dict[str, Any]]:
    """Every message from the server up to and including the answer to `request_id`."""
    seen = []
    while not seen or seen[-1].get("id") != request_id:
        seen.append(await wire.next_message())
    return seen


async def test_a_read_past_its_deadline_still_tells_of_tables_its_refresh_found(tmp_path: Path) -> None:
    """A table made elsewhere is found by the refresh the read starts with; the read then times out, and the
    client still hears that the tool list changed, before the read's answer, as after any other call."""
    stalling = Stalling(tmp_path / "slow.db")
    gate = CallGate(CallLimits(read_timeout=0.2))
    fresh = ToolOptions(schema_ttl=0)  # every call's refresh looks
    async with served(tmp_path, gate=gate, backend=stalling, options=fresh) as wire:  # type: ignore[arg-type]
        await wire.initialize()
        table = await _make_table(wire)
        await stalling.store.create_table("Elsewhere", None, [ColumnSpec(name="B", type=ColumnType.TEXT)])
        await wire.start_call(2, "getRecord", {"table": table, "recordId": "1"})
        seen = await _messages_until(wire, 2)
        methods = [message.get("method") for message in seen[:-1]]
        assert "notifications/tools/list_changed" in methods, seen
        assert "took longer than 0.2 s" in seen[-1]["result"]["structuredContent"]["error"]["message"]


async def test_a_read_that_ends_before_its_deadline_gets_no_second_answer_when_it_passes(tmp_path: Path) -> None:
    """The deadline is disarmed when the read ends, whether it answered records or an error: nothing else is
    sent for it later, and a client's cancellation of a stalled read is its one answer."""
    stalling = Stalling(tmp_path / "slow.db")
    gate = CallGate(CallLimits(read_timeout=0.3))
    async with served(tmp_path, gate=gate, backend=stalling) as wire:  # type: ignore[arg-type]
        await wire.initialize()
        table = await _make_table(wire)
        listed = await wire.request(2, "tools/call", {"name": "listRecords", "arguments": {"table": table}})
        assert listed["result"]["isError"] is False
        unknown = await wire.request(
            3, "tools/call", {"name": "getRecord", "arguments": {"table": "nope", "recordId": "1"}}
        )
        assert unknown["result"]["isError"] is True
        await wire.start_call(4, "getRecord", {"table": table, "recordId": "1"})
        await stalling.started.wait()
        await wire.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 4}})
        await anyio.sleep(0.5)  # past every deadline above
        await wire.send({"jsonrpc": "2.0", "id": 5, "method": "ping"})
        seen = await _messages_until(wire, 5)
        assert [message.get("id") for message in seen] == [4, 5], seen
        assert seen[0]["error"]["message"] == "Request cancelled"
        assert gate.in_flight == 0


async def test_the_end_of_a_session_cancels_a_running_read(tmp_path: Path) -> None:
    stalling = Stalling(tmp_path / "slow.db")
    with anyio.fail_after(10):
        async with served(tmp_path, backend=stalling) as wire:  # type: ignore[arg-type]
            await wire.initialize()
            table = await _make_table(wire)
            arguments = {"table": table, "recordId": "1"}
            await wire.start_call(2, "getRecord", arguments)
            await stalling.started.wait()
    assert stalling.read_cancelled


async def test_the_end_of_a_session_lets_a_write_that_started_finish(tmp_path: Path) -> None:
    """The client goes away mid-write: the shielded write still commits (and the session waits for it), as the
    tool contract promises; an abandoned half-write would leave records no answer or audit line names."""
    stalling = Stalling(tmp_path / "slow.db")
    with anyio.fail_after(10):
        async with served(tmp_path, backend=stalling) as wire:  # type: ignore[arg-type]
            await wire.initialize()
            table = await _make_table(wire)
            arguments = {"table": table, "records": [{"A": "kept"}]}
            await wire.start_call(2, "createRecords", arguments)
            await stalling.started.wait()
        assert stalling.write_finished
    check = open_store(str(tmp_path / "slow.db"))
    await check.open()
    try:
        tables = await check.list_tables()
        page = await check.list_records(tables[0], ListQuery())
        assert [record["fields"]["A"] for record in page.records] == ["kept"]
    finally:
        await check.aclose()


REQUESTS = [
    {"method": "ping"},
    {"method": "initialize", "params": INITIALIZE},
    {"method": "tools/list", "params": {"cursor": "c1"}},
    {
        "method": "tools/call",
        "params": {"name": "getRecord", "arguments": {"recordId": "1"}, "_meta": {"progressToken": 3}},
    },
    {"method": "resources/list"},
    {"method": "resources/read", "params": {"uri": "tables://t1/schema"}},
    {"method": "logging/setLevel", "params": {"level": "debug"}},
]


@pytest.mark.parametrize("request_data", REQUESTS, ids=[r["method"] for r in REQUESTS])
def test_a_request_by_its_method_is_what_the_sdk_union_gives(request_data: dict[str, Any]) -> None:
    """Whichever way a request is wrapped in ClientRequest (its constructor for the union's first members,
    model_construct after them), it is the SDK's own validation of the same message, type and fields."""
    message = types.JSONRPCRequest(jsonrpc="2.0", id=1, **request_data)
    ours = REQUEST_BY_METHOD.validate(message)
    sdks = types.ClientRequest.model_validate(request_data)
    assert type(ours) is types.ClientRequest and type(ours.root) is type(sdks.root)
    assert ours == sdks and ours.model_dump(by_alias=True) == sdks.model_dump(by_alias=True)
    assert ours.model_fields_set == sdks.model_fields_set
