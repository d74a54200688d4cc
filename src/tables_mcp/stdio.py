"""The stdio transport: newline-delimited JSON-RPC on stdin/stdout, where every request gets an answer.

The SDK's own stdio reader hands a line it cannot parse to the server as an exception, which answers
nothing: the client then waits for its own timeout. Here each line is checked before the SDK sees it
and whatever is wrong is answered at once, as JSON-RPC says: bytes that are not UTF-8 JSON (truncated,
nested past the parser's depth, integers past its digit limit) are -32700 with id null; a batch (no
longer part of MCP) is -32600 for each request in it; a method MCP does not define is -32601 with the
request's id; a string holding a lone surrogate (valid JSON, but no UTF-8 can carry it back) is -32602
with the request's id. Messages that pass go to the server as the SDK's own message types.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, BinaryIO, get_args

import anyio
import mcp.types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


def _known_methods() -> frozenset[str]:
    methods = set()
    for request_type in get_args(types.ClientRequest.model_fields["root"].annotation):
        methods.add(request_type.model_fields["method"].annotation.__args__[0])
    for notification_type in get_args(types.ClientNotification.model_fields["root"].annotation):
        methods.add(notification_type.model_fields["method"].annotation.__args__[0])
    return frozenset(methods)


KNOWN_METHODS = _known_methods()


def _error(request_id: Any, code: int, message: str) -> bytes:
    answer = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return json.dumps(answer, separators=(",", ":")).encode() + b"\n"


def check_line(line: bytes) -> tuple[SessionMessage | None, bytes | None]:
    """The message a line carries, or the answer it gets instead (None for a line to ignore)."""
    if not line.strip():
        return None, None
    try:
        parsed = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        message = f"Parse error: {type(exc).__name__}; send one JSON object per line."
        return None, _error(_leading_id(line), PARSE_ERROR, message)
    if isinstance(parsed, list):
        ids = [item["id"] for item in parsed if isinstance(item, dict) and _is_id(item.get("id"))]
        answers = [
            _error(i, INVALID_REQUEST, "JSON-RPC batches are not part of MCP; send one message per line.") for i in ids
        ]
        return None, b"".join(answers) or _error(None, INVALID_REQUEST, "JSON-RPC batches are not part of MCP.")
    if not isinstance(parsed, dict):
        return None, _error(None, INVALID_REQUEST, "Invalid Request: a JSON-RPC message is an object.")
    request_id = parsed.get("id") if _is_id(parsed.get("id")) else None
    method = parsed.get("method")
    if isinstance(method, str) and method not in KNOWN_METHODS:
        return None, _error(request_id, METHOD_NOT_FOUND, f"Method not found: {method[:80]!r}.")
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return None, _error(request_id, INVALID_PARAMS, "Invalid params: a string holds a lone UTF-16 surrogate.")
    try:
        return SessionMessage(types.JSONRPCMessage.model_validate(parsed)), None
    except ValueError:
        return None, _error(request_id, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message.")


# The id of a line that does not parse, where it leads the object as SDK clients write it
# (`{"jsonrpc": "2.0", "id": 7, ...}`): an id found anywhere else might belong to something nested.
_LEADING_ID = re.compile(
    rb'^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d{1,15}|"[A-Za-z0-9_.:-]{1,100}")\s*[,}]'
)


def _leading_id(line: bytes) -> int | str | None:
    found = _LEADING_ID.match(line)
    if found is None:
        return None
    value: int | str = json.loads(found.group(1))
    return value


def _is_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


@asynccontextmanager
async def stdio_transport(
    stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> AsyncIterator[
    tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
]:
    """The server's pair of message streams over stdin/stdout (binary; the process's own by default)."""
    reader = anyio.wrap_file(stdin or sys.stdin.buffer)
    writer = anyio.wrap_file(stdout or sys.stdout.buffer)
    to_server, from_client = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    to_client, from_server = anyio.create_memory_object_stream[SessionMessage](0)
    write_lock = anyio.Lock()

    async def write(data: bytes) -> None:
        async with write_lock:  # direct answers and the server's messages never interleave mid-line
            await writer.write(data)
            await writer.flush()

    async def read_stdin() -> None:
        async with to_server:
            async for line in reader:
                message, answer = check_line(line)
                if answer is not None:
                    await write(answer)
                elif message is not None:
                    await to_server.send(message)

    server_done = anyio.Event()

    async def write_stdout() -> None:
        async with from_server:
            async for message in from_server:
                text = message.message.model_dump_json(by_alias=True, exclude_none=True)
                await write(text.encode("utf-8") + b"\n")
        server_done.set()  # the server closed its stream: every answer it had is written

    async with anyio.create_task_group() as group:
        group.start_soon(read_stdin)
        group.start_soon(write_stdout)
        yield from_client, to_client
        await server_done.wait()
        group.cancel_scope.cancel()  # stop waiting on stdin once the server is gone
