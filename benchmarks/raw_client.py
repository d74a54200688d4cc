"""The server as a fast client sees it: JSON-RPC lines written to its stdin and read from its stdout by a client
that does nothing else (one `json.dumps` per request, one `json.loads` per answer, no models, no threads).

`bench_local.py`'s main figures come through the MCP SDK's Python `ClientSession`, which spends about as much
CPU on a call as the server does (validating every answer into pydantic models, a worker thread per stdio read
and write); MCP clients in Node (Claude Desktop, Claude Code, the Inspector) spend far less. These figures
show what the server itself costs, so the two together separate the server's share from the client's.

`RawHttpSession` is the same over streamable HTTP, for `bench_http.py --client raw`: one httpx connection per
client, one `json.dumps` per request, the answer read from its JSON body or the last event of its SSE stream.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx


class RawStdioClient:
    """One server process, spoken to line by line."""

    def __init__(self, command: list[str], env: dict[str, str], errlog: IO[str]) -> None:
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, env={**os.environ, **env}
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin, self._stdout = self._process.stdin, self._process.stdout
        self._next_id = 0
        self.pid = self._process.pid

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        self._stdin.write(json.dumps(message).encode() + b"\n")
        self._stdin.flush()
        while True:
            line = self._stdout.readline()
            if not line:
                raise RuntimeError(f"the server closed stdout while {method} {self._next_id} was unanswered")
            answer: dict[str, Any] = json.loads(line)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("tools/call", {"name": tool, "arguments": arguments})["result"]
        if result.get("isError"):
            raise RuntimeError(f"{tool}: {result['content'][0]['text'][:300]}")
        structured: dict[str, Any] = result["structuredContent"]
        return structured

    def initialize(self) -> None:
        self.request(
            "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw-bench", "version": "1"}},
        )
        self._stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        self._stdin.flush()

    def close(self) -> None:
        self._stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()


def measure(
    command: list[str],
    env: dict[str, str],
    errlog: IO[str],
    db: Path,
    columns: list[dict[str, Any]],
    make_batch: Callable[[int], list[dict[str, Any]]],
    creates: int,
    rounds: int,
    lists: int,
) -> dict[str, float]:
    """createRecords of `make_batch` records `creates` times, then ping and getRecord interleaved `rounds` times,
    then listRecords of 500 `lists` times; times in seconds (medians and p50s), with the server's CPU."""
    client = RawStdioClient([*command, "--db", str(db)], env, errlog)
    try:
        client.initialize()
        table = client.call("createTable", {"name": "Raw", "columns": columns})["table"]["id"]
        client.call("createRecords", {"table": table, "records": make_batch(0)})  # warm-up
        batches = [make_batch(1 + n) for n in range(creates)]
        cpu_before = server_cpu_seconds(client.pid)
        started = time.perf_counter()
        ids: list[str] = []
        for batch in batches:
            ids += [
                record["id"] for record in client.call("createRecords", {"table": table, "records": batch})["records"]
            ]
        create_seconds = time.perf_counter() - started
        create_cpu = server_cpu_seconds(client.pid) - cpu_before
        pings, gets = [], []
        for n in range(rounds):
            t0 = time.perf_counter()
            client.request("ping")
            t1 = time.perf_counter()
            client.call("getRecord", {"table": table, "recordId": ids[(n * 7919) % len(ids)]})
            t2 = time.perf_counter()
            pings.append(t1 - t0)
            gets.append(t2 - t1)
        listings = []
        for _ in range(lists):
            t0 = time.perf_counter()
            client.call("listRecords", {"table": table, "limit": 500})
            listings.append(time.perf_counter() - t0)
    finally:
        client.close()
    records = sum(len(batch) for batch in batches)
    return {
        "create_records_per_s": records / create_seconds,
        "create_server_cpu_per_call_s": create_cpu / creates,
        "ping_p50_s": statistics.median(pings),
        "get_p50_s": statistics.median(gets),
        "list_500_median_s": statistics.median(listings),
    }


def server_cpu_seconds(pid: int) -> float:
    """utime + stime of the process (Linux), 0 where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class TextBlock:
    text: str


@dataclass
class RawToolResult:
    """The three attributes of the SDK's CallToolResult that the benchmarks read."""

    isError: bool  # the SDK's names
    structuredContent: dict[str, Any] | None
    content: list[TextBlock] = field(default_factory=list)


class RawHttpSession:
    """One MCP session over streamable HTTP, with nothing but httpx and json."""

    def __init__(self, http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self._http = http
        self._url = url
        self._headers = headers
        self._next_id = 0

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, headers: dict[str, str]) -> AsyncIterator[RawHttpSession]:
        """Initialize at `url` (the /mcp endpoint); DELETE the session at the end, as the SDK's client does."""
        base = {**headers, "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=60) as http:
            session = cls(http, url, base)
            client = {"name": "raw", "version": "1"}
            params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client}
            opened = await session._post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
            session._headers = {**base, "mcp-protocol-version": "2025-06-18"}
            if "mcp-session-id" in opened.headers:
                session._headers["mcp-session-id"] = opened.headers["mcp-session-id"]
            await session._post({"jsonrpc": "2.0", "method": "notifications/initialized"})
            try:
                yield session
            finally:
                if "mcp-session-id" in session._headers:
                    await http.delete(url, headers=session._headers)

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> RawToolResult:
        self._next_id += 1
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": "tools/call"}
        message["params"] = {"name": name, "arguments": arguments}
        answer = _answer_of(await self._post(message))
        if "error" in answer:
            raise RuntimeError(f"{name}: {answer['error']}")
        result = answer["result"]
        texts = [TextBlock(block.get("text", "")) for block in result.get("content", [])]
        return RawToolResult(bool(result.get("isError")), result.get("structuredContent"), texts)

    async def _post(self, message: dict[str, Any]) -> httpx.Response:
        response = await self._http.post(self._url, content=json.dumps(message), headers=self._headers)
        if response.status_code not in (200, 202):
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
        return response


def _answer_of(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("application/json"):
        answer: dict[str, Any] = response.json()
        return answer
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    if not events:
        raise RuntimeError(f"an answer without a message: {response.text[:300]}")
    last: dict[str, Any] = json.loads(events[-1])
    return last
