"""The stdio transport: newline-delimited JSON-RPC on stdin/stdout, where every request gets an answer.

The SDK's own stdio reader hands a line it cannot parse to the server as an exception, which answers
nothing: the client then waits for its own timeout. Here each line is checked before the SDK sees it
and whatever is wrong is answered at once, as JSON-RPC says: bytes that are not UTF-8 JSON (truncated,
nested past the parser's depth, integers past its digit limit) are -32700 with id null; a batch (no
longer part of MCP) is -32600 for each request in it; a method MCP does not define is -32601 with the
request's id; a string holding a lone surrogate (valid JSON, but no UTF-8 can carry it back) is -32602
with the request's id. Messages that pass go to the server as the SDK's own message types.

On asyncio, where stdin and stdout are pipes or sockets (as an MCP client starts us), lines
are read and written on the event loop's own pipe transports: the SDK's way (a worker thread per
read, write and flush) costs two thread hops per message, most of a ping's time. Anything else
(regular files, terminals, another event loop) falls back to worker-thread file I/O: the pipe transports
set the file non-blocking, a flag a terminal shares with the shell that started us.

There is no reader or writer task between the pipes and the session: the session's receive loop reads
and checks the next line itself, and a message sent is written before `send` returns. Each task in
between cost a request two trips round the event loop, most of what a ping cost.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, BinaryIO, get_args

import anyio
import mcp.types as types
import pydantic_core
import sniffio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
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
        parsed = _parse(line)
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
    if _MAY_HOLD_SURROGATE.search(line) is not None:
        try:
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return None, _error(request_id, INVALID_PARAMS, "Invalid params: a string holds a lone UTF-16 surrogate.")
    try:
        if request_id is not None and isinstance(method, str):  # a request: its own type, not the union's search
            try:
                return SessionMessage(types.JSONRPCMessage(types.JSONRPCRequest.model_validate(parsed))), None
            except ValueError:
                pass  # the union says what else it may be
        return SessionMessage(types.JSONRPCMessage.model_validate(parsed)), None
    except ValueError:
        return None, _error(request_id, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message.")


def _parse(line: bytes) -> Any:
    """pydantic_core's parser first (faster on a large request); what it refuses goes to `json`, whose verdict
    and error stand: it takes a lone surrogate escape (answered -32602 below), the faster one does not."""
    try:
        return pydantic_core.from_json(line)
    except ValueError:
        return json.loads(line.decode("utf-8"))


# Strict UTF-8 decoding refuses encoded surrogates, so a decoded line can hold one only through a `\\uD800`-`\\uDFFF`
# escape: only a line with such an escape is worth encoding again to find out (a whole request's worth of work).
_MAY_HOLD_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")

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


class EncodedJSON(dict[str, Any]):
    """A tool result's structured content that carries its own compact JSON (encoded once already, for the text
    block): `encode_message` splices those bytes in instead of encoding every record a second time."""

    __slots__ = ("encoded",)

    def __init__(self, value: dict[str, Any], encoded: bytes) -> None:
        super().__init__(value)
        self.encoded = encoded


_TOOL_RESULT_KEYS = ["content", "structuredContent", "isError"]


def encode_message(message: types.JSONRPCMessage) -> bytes:
    """A message as one line of JSON. A response's result is a plain dict already (the SDK dumped it), and
    pydantic_core encodes that dict in half the time the model's own `model_dump_json` takes, to the same bytes."""
    root = message.root
    if isinstance(root, types.JSONRPCResponse):
        if root.model_extra:
            extra = root.model_extra
            return pydantic_core.to_json({"jsonrpc": root.jsonrpc, "id": root.id, "result": root.result, **extra})
        return encode_result(root.id, root.result)
    return message.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")


def encode_result(request_id: types.RequestId, result: dict[str, Any]) -> bytes:
    """The response carrying `result`, as `encode_message` writes a JSONRPCResponse (without the newline)."""
    structured = result.get("structuredContent")
    if type(structured) is EncodedJSON and list(result) == _TOOL_RESULT_KEYS:
        head = pydantic_core.to_json({"jsonrpc": "2.0", "id": request_id, "result": {"content": result["content"]}})
        is_error = b"true" if result["isError"] else b"false"
        return b"".join((head[:-2], b',"structuredContent":', structured.encoded, b',"isError":', is_error, b"}}"))
    return pydantic_core.to_json({"jsonrpc": "2.0", "id": request_id, "result": result})


LineSource = Callable[[], Awaitable[bytes | None]]  # the next line, None at the end
LineSink = Callable[[bytes], Awaitable[None]]  # write and flush; whole lines never interleave


class LineReader(ObjectReceiveStream[SessionMessage | Exception]):
    """The server's read stream: the next line is read and checked when the session asks for its next message,
    on the session's own task. A reader task handing messages on would cost each request a trip or two round
    the event loop; a line that gets an answer instead (see `check_line`) is answered here and skipped."""

    def __init__(self, read_line: LineSource, write: LineSink) -> None:
        self._read_line = read_line
        self._write = write
        self._closed = False

    async def receive(self) -> SessionMessage | Exception:
        while not self._closed:
            line = await self._read_line()
            if line is None:
                break
            message, answer = check_line(line)
            if answer is not None:
                await self._write(answer)
            elif message is not None:
                return message
        raise anyio.EndOfStream

    async def aclose(self) -> None:
        self._closed = True


class LineWriter(ObjectSendStream[SessionMessage]):
    """The server's write stream: a message is one line, written (and flushed) before `send` returns."""

    def __init__(self, write: LineSink) -> None:
        self._write = write
        self._closed = False

    async def send(self, item: SessionMessage) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        await self._write(encode_message(item.message) + b"\n")

    async def send_result(self, request_id: types.RequestId, result: dict[str, Any]) -> None:
        """The answer to a request whose result is in its wire form already (a tool call's, `session.WireResult`):
        the same line as `send` writes for it, without the SDK's three message models built around it first."""
        if self._closed:
            raise anyio.ClosedResourceError
        await self._write(encode_result(request_id, result) + b"\n")

    async def aclose(self) -> None:
        self._closed = True


@asynccontextmanager
async def stdio_transport(
    stdin: BinaryIO | None = None, stdout: BinaryIO | None = None
) -> AsyncIterator[tuple[LineReader, LineWriter]]:
    """The server's pair of message streams over stdin/stdout (binary; the process's own by default)."""
    async with _line_io(stdin or sys.stdin.buffer, stdout or sys.stdout.buffer) as (read_line, write_bytes):
        yield LineReader(read_line, write_bytes), LineWriter(write_bytes)


@asynccontextmanager
async def _line_io(stdin: BinaryIO, stdout: BinaryIO) -> AsyncIterator[tuple[LineSource, LineSink]]:
    """Line reads and writes on the event loop's pipes where it can, else through worker threads."""
    if _loop_can_serve(stdin) and _loop_can_serve(stdout):
        async with _loop_pipes(stdin, stdout) as io:
            yield io
        return
    reader, writer = anyio.wrap_file(stdin), anyio.wrap_file(stdout)
    write_lock = anyio.Lock()

    async def read_line() -> bytes | None:
        return await reader.readline() or None

    async def write_bytes(data: bytes) -> None:
        async with write_lock:  # a write in a worker thread may be cut into parts: lines must not interleave
            await writer.write(data)
            await writer.flush()

    yield read_line, write_bytes


def _loop_can_serve(file: BinaryIO) -> bool:
    """Pipes and sockets, on asyncio's own event loop (terminals stay blocking: see the module docstring)."""
    try:
        mode = os.fstat(file.fileno()).st_mode
        library = sniffio.current_async_library()
    except (OSError, ValueError, sniffio.AsyncLibraryNotFoundError):
        return False
    serviceable = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
    return library == "asyncio" and serviceable and os.name == "posix"


@asynccontextmanager
async def _loop_pipes(stdin: BinaryIO, stdout: BinaryIO) -> AsyncIterator[tuple[LineSource, LineSink]]:
    """Reads and writes on duplicates of the two descriptors, so that closing the transports leaves the
    process's own stdin and stdout open; they are put back to blocking mode at the end."""
    loop = asyncio.get_running_loop()
    fds = (stdin.fileno(), stdout.fileno())
    lines = _LineProtocol()
    writing = _WriteProtocol()
    read_transport, _ = await loop.connect_read_pipe(lambda: lines, os.fdopen(os.dup(fds[0]), "rb", buffering=0))
    write_transport, _ = await loop.connect_write_pipe(lambda: writing, os.fdopen(os.dup(fds[1]), "wb", buffering=0))

    async def write_bytes(data: bytes) -> None:
        if writing.lost is not None:
            raise anyio.BrokenResourceError from writing.lost
        write_transport.write(data)
        await writing.drained()

    try:
        yield lines.readline, write_bytes
    finally:
        read_transport.close()
        write_transport.close()
        for fd in fds:
            try:
                os.set_blocking(fd, True)  # the flag belongs to the open file, shared with the duplicates
            except OSError:
                pass


class _LineProtocol(asyncio.Protocol):
    """Splits what arrives into lines; stops reading while many lines wait (backpressure on the client)."""

    HIGH_WATER = 64

    def __init__(self) -> None:
        self._lines: deque[bytes] = deque()
        self._partial = bytearray()
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        self._transport: asyncio.ReadTransport | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        last = data.rfind(b"\n")
        if last < 0:
            self._partial += data
            return
        self._partial += data[:last]
        self._lines.extend(bytes(self._partial).split(b"\n"))  # only "\n" ends a line, as in the SDK's reader
        self._partial = bytearray(data[last + 1 :])
        if len(self._lines) >= self.HIGH_WATER and self._transport is not None and not self._paused:
            self._transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool | None:
        self._end()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        if self._partial:
            self._lines.append(bytes(self._partial))  # a last line without its newline is still a line
            self._partial = bytearray()
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def readline(self) -> bytes | None:
        while not self._lines:
            if self._ended:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._paused and len(self._lines) <= self.HIGH_WATER // 2 and self._transport is not None:
            self._transport.resume_reading()
            self._paused = False
        return self._lines.popleft()


class _WriteProtocol(asyncio.Protocol):
    """Write flow control: `drained` waits while the pipe's buffer is above its high-water mark."""

    def __init__(self) -> None:
        self._resumed: asyncio.Future[None] | None = None
        self.lost: Exception | None = None

    def pause_writing(self) -> None:
        self._resumed = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)
        self._resumed = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or BrokenPipeError("stdout closed")
        self.resume_writing()

    async def drained(self) -> None:
        if self._resumed is not None:
            await asyncio.shield(self._resumed)
        if self.lost is not None:
            raise anyio.BrokenResourceError from self.lost
