"""The server as a fast client sees it: JSON-RPC lines written to its stdin and read from its stdout by a client
that does nothing else (one `json.dumps` per request, one `json.loads` per answer, no models, no threads).

`bench_local.py`'s main figures come through the MCP SDK's Python `ClientSession`, which spends about as much
CPU on a call as the server does (validating every answer into pydantic models, a worker thread per stdio read
and write); MCP clients in Node (Claude Desktop, Claude Code, the Inspector) spend far less. These figures
show what the server itself costs, so the two together separate the server's share from the client's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


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
