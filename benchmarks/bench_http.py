#!/usr/bin/env python
"""Benchmark of the remote transports: many concurrent MCP clients against the real `tables-mcp` server.

Starts the installed `tables-mcp --transport http` (or `sse`) on 127.0.0.1 with a bearer token through
tests/http_server.py, the helper the HTTP tests use, creates a table, and runs a mixed load from real MCP
ClientSessions (one session per client, all in this process), as tests/test_load.py does:

  * 50% createRecords of 1-5 records, 20% patchRecord, 15% getRecord, 15% listRecords with a `contains`
    filter (limit 20); each client reads and patches only the records it created
  * N clients (default 50) for D seconds (default 30), and the same mix with 1 client as a baseline, each on
    a fresh server and store, so that scaling shows as a ratio

and prints calls/s overall and per operation, p50/p95/p99 latency per operation (answered calls without an
error), retryable errors by code (rate_limited, unavailable) and any other error (should be 0), the CPU used
by the server, by this client and by everything else on the machine, and a consistency check after each
phase: every acknowledged write is in the store exactly once, nothing unacknowledged was written, every
patched record holds the value of its last acknowledged patch.

With `--client raw` the clients are `raw_client.RawHttpSession`s (httpx and json, nothing else) instead of the
SDK's ClientSession, whose CPU per call is about the server's: with both in this process on 2 cores, the SDK
client alone caps the figure, and the raw one shows what the server can serve.

With `--replicas` the two phases are N clients against one and against two stateless server processes sharing
one PostgreSQL database (TABLES_MCP_TEST_PG_DSN, else a private server as tests/pg.py starts one), the clients
spread over the processes round-robin, and the consistency check reads through one of them.

No asserts on timings. The exit status is non-zero only when a consistency check fails, an error other than
rate_limited/unavailable was answered, or a phase crashed.

    .venv/bin/python benchmarks/bench_http.py [--quick] [--clients N] [--seconds D] [--max-concurrency M]
                                             [--transport http|sse] [--stateless] [--replicas] [--client sdk|raw]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession

BENCHMARKS = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCHMARKS.parent), str(BENCHMARKS)]  # the repo root (for tests/) and this folder

from bench_local import load_average, pct, pick_tool, progress, source_revision  # noqa: E402
from raw_client import RawHttpSession  # noqa: E402
from tests.http_server import RunningServer, command, start_server  # noqa: E402
from tests.pg import PG_DSN_ENV, PgServer, create_schema, find_bin_dir, with_schema  # noqa: E402

OPERATIONS = ("createRecords", "patchRecord", "getRecord", "listRecords")
RETRYABLE = ("rate_limited", "unavailable")
TABLE = "Load"
COLUMNS = [{"name": "Title", "type": "TEXT", "required": True}, {"name": "Count", "type": "NUMBER"}]


# -- one phase: a server, a table, N clients ---------------------------------------------------------


@dataclass
class Check:
    acknowledged: int = 0
    exactly_once: int = 0
    missing: int = 0
    duplicated: int = 0
    wrong_id: int = 0
    unacknowledged: int = 0  # in the store, but no createRecords answer said so
    patched: int = 0
    patch_kept: int = 0  # patched records whose Count is the last acknowledged value

    @property
    def ok(self) -> bool:
        return (
            self.exactly_once == self.acknowledged
            and not self.missing
            and not self.duplicated
            and not self.wrong_id
            and not self.unacknowledged
            and self.patch_kept == self.patched
        )


@dataclass
class Phase:
    clients: int
    seconds: float
    servers: int = 1
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPERATIONS})
    errors: Counter[str] = field(default_factory=Counter)  # error code (or exception type) -> count
    errors_by_op: Counter[str] = field(default_factory=Counter)
    other_messages: list[str] = field(default_factory=list)  # first few non-retryable errors
    acknowledged: dict[str, str] = field(default_factory=dict)  # title -> record id
    last_patch: dict[str, int] = field(default_factory=dict)  # record id -> Count of its last acknowledged patch
    records_created: int = 0
    stopped_clients: int = 0
    started: float = 0.0  # perf_counter when the clients were released
    deadline: float = 0.0
    last_answer: float = 0.0
    finished_clients: int = 0
    cpu: tuple[float | None, float, float | None] = (None, 0.0, None)  # server, this client, whole machine
    setup_s: float = 0.0
    check: Check = field(default_factory=Check)

    @property
    def elapsed(self) -> float:
        return max(self.last_answer - self.started, 1e-9)

    @property
    def other_errors(self) -> int:
        return sum(count for code, count in self.errors.items() if code not in RETRYABLE)


@dataclass(frozen=True)
class Tools:
    create: tuple[str, dict[str, Any]]  # tool name, base arguments (the table for a generic tool)
    patch: tuple[str, dict[str, Any]]
    get: tuple[str, dict[str, Any]]
    list: tuple[str, dict[str, Any]]


async def client_loop(session: ClientSession | RawHttpSession, tools: Tools, number: int, phase: Phase) -> None:
    rng = random.Random(number)
    mine: list[str] = []
    serial = 0
    while time.perf_counter() < phase.deadline:
        roll = rng.random()
        if roll < 0.5 or not mine:
            op = "createRecords"
            titles = [f"c{number}-{serial + i}" for i in range(rng.randint(1, 5))]
            serial += len(titles)
            name, base = tools.create
            arguments = {**base, "records": [{"Title": t} for t in titles]}
        elif roll < 0.7:
            op = "patchRecord"
            serial += 1
            name, base = tools.patch
            record_id = rng.choice(mine)
            arguments = {**base, "recordId": record_id, "fields": {"Count": serial}}
        elif roll < 0.85:
            op = "getRecord"
            name, base = tools.get
            arguments = {**base, "recordId": rng.choice(mine)}
        else:
            op = "listRecords"
            name, base = tools.list
            arguments = {**base, "limit": 20, "filter": {"field": "Title", "op": "contains", "value": f"c{number}-"}}
        t0 = time.perf_counter()
        try:
            result = await session.call_tool(name, arguments)
        except Exception as exc:  # a broken session: count it, and this client stops
            phase.errors[f"exception {type(exc).__name__}"] += 1
            phase.errors_by_op[op] += 1
            phase.other_messages.append(f"{op}: {type(exc).__name__}: {exc}"[:300])
            phase.stopped_clients += 1
            return
        now = time.perf_counter()
        phase.last_answer = max(phase.last_answer, now)
        if result.isError:
            error = (result.structuredContent or {}).get("error") or {}
            code = error.get("code", "unstructured")
            if code in RETRYABLE and not error.get("retryable"):
                code = f"{code} (not marked retryable)"
            phase.errors[code] += 1
            phase.errors_by_op[op] += 1
            if code not in RETRYABLE:
                text = error.get("message") or " ".join(getattr(b, "text", "") for b in result.content)
                phase.other_messages.append(f"{op}: {code}: {text}"[:300])
            continue
        phase.latencies[op].append(now - t0)
        if op == "createRecords":
            for record in result.structuredContent["records"]:  # type: ignore[index]
                phase.acknowledged[record["fields"]["Title"]] = record["id"]
                mine.append(record["id"])
            phase.records_created += len(titles)
        elif op == "patchRecord":
            phase.last_patch[record_id] = serial


async def read_back(server: RunningServer, phase: Phase) -> None:
    """Every record in the table, compared with what the clients were told."""
    rows: list[tuple[str, str, Any]] = []
    async with server.session() as session:
        cursor = None
        while True:
            arguments: dict[str, Any] = {"table": TABLE, "limit": 500, "fields": ["Title", "Count"]}
            if cursor:
                arguments["cursor"] = cursor
            result = await session.call_tool("listRecords", arguments)
            if result.isError or result.structuredContent is None:
                raise RuntimeError(f"reading the table back failed: {result.content}")
            page = result.structuredContent
            rows += [(r["fields"]["Title"], r["id"], r["fields"].get("Count")) for r in page["records"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
    seen = Counter(title for title, _, _ in rows)
    ids = {title: record_id for title, record_id, _ in rows}
    counts = {record_id: count for _, record_id, count in rows}
    check = phase.check
    check.acknowledged = len(phase.acknowledged)
    for title, record_id in phase.acknowledged.items():
        if seen[title] == 0:
            check.missing += 1
        elif seen[title] > 1:
            check.duplicated += 1
        elif ids[title] != record_id:
            check.wrong_id += 1
        else:
            check.exactly_once += 1
    check.unacknowledged = sum(count for title, count in seen.items() if title not in phase.acknowledged)
    check.patched = len(phase.last_patch)
    check.patch_kept = sum(1 for rid, value in phase.last_patch.items() if counts.get(rid) == value)


async def run_phase(workdir: Path, clients: int, seconds: float, args: argparse.Namespace, servers: int = 1) -> Phase:
    phase = Phase(clients, seconds, servers)
    db = workdir / f"load-{clients}-{servers}.db"
    extra = ["--max-concurrency", str(args.max_concurrency)] if args.max_concurrency else []
    if args.stateless:
        extra.append("--stateless")
    env = {"TABLES_MCP_DB": with_schema(args.pg_dsn, create_schema(args.pg_dsn))} if args.pg_dsn else None
    t_setup = time.perf_counter()
    running: list[RunningServer] = []
    try:
        for _ in range(servers):
            started = await anyio.to_thread.run_sync(
                lambda: start_server(db, *extra, transport=args.transport, env=env)
            )
            running.append(started)
        await drive_phase(phase, running, t_setup, args.client == "raw")
    finally:
        for server in running:
            code, stderr = await anyio.to_thread.run_sync(server.stop)
            if code != 0:
                progress(f"server exited with status {code}; last of its stderr:\n{stderr[-2000:]}")
    return phase


async def drive_phase(phase: Phase, running: list[RunningServer], t_setup: float, raw: bool) -> None:
    """Create the table through the first server, release the clients (spread round-robin), check the store."""
    clients, seconds, server = phase.clients, phase.seconds, running[0]
    async with server.session() as session:
        result = await session.call_tool("createTable", {"name": TABLE, "columns": COLUMNS})
        if result.isError:
            raise RuntimeError(f"createTable failed: {result.content}")
        table = result.structuredContent["table"]  # type: ignore[index]
        names = {tool.name for tool in (await session.list_tools()).tools}
    tools = Tools(*(pick_tool(names, op, table) for op in OPERATIONS))
    ready = 0
    all_ready = anyio.Event()
    go = anyio.Event()
    cpu: CpuMeter | None = None

    def session_of(server: RunningServer) -> Any:
        if raw:
            return RawHttpSession.open(f"{server.url}/mcp", server.headers)
        return server.session()

    async def one_client(number: int) -> None:
        nonlocal ready, cpu
        async with session_of(running[number % len(running)]) as session:
            ready += 1
            if ready == clients:
                all_ready.set()
            await go.wait()
            await client_loop(session, tools, number, phase)
            phase.finished_clients += 1
            if phase.finished_clients == clients and cpu is not None:
                phase.cpu = cpu.read()

    async with anyio.create_task_group() as group:
        for number in range(clients):
            group.start_soon(one_client, number)
        with anyio.fail_after(120):
            await all_ready.wait()
        phase.setup_s = time.perf_counter() - t_setup
        cpu = CpuMeter([started.process.pid for started in running])
        phase.started = phase.last_answer = time.perf_counter()
        phase.deadline = phase.started + seconds
        go.set()
    await read_back(server, phase)


class CpuMeter:
    """CPU seconds used since creation by the server processes (/proc/<pid>/stat), by this process, and by
    the whole machine (/proc/stat: everything but idle and iowait), so that other work shows."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.server0 = self._server()
        self.client0 = time.process_time()
        self.machine0 = self._machine()

    @staticmethod
    def _machine() -> float | None:
        try:
            first = Path("/proc/stat").read_text().splitlines()[0].split()
        except OSError:
            return None
        jiffies = [int(x) for x in first[1:9]]  # user nice system idle iowait irq softirq steal
        return (sum(jiffies) - jiffies[3] - jiffies[4]) / os.sysconf("SC_CLK_TCK")

    def _server(self) -> float | None:
        total = 0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def read(self) -> tuple[float | None, float, float | None]:
        now, machine = self._server(), self._machine()
        server = None if now is None or self.server0 is None else now - self.server0
        busy = None if machine is None or self.machine0 is None else machine - self.machine0
        return server, time.process_time() - self.client0, busy


# -- report ------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def table(rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in pairs]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def phase_report(phase: Phase) -> list[str]:
    title = f"{phase.clients} client{'s' if phase.clients != 1 else ''}"
    if phase.servers != 1:
        title += f", {phase.servers} server processes"
    elif phase.clients == 1:
        title += " (baseline)"
    lines = [f"{title}, {phase.seconds:g} s ({phase.elapsed:.1f} s to the last answer)"]
    rows: list[tuple[str, ...]] = [
        ("operation", "calls", "calls/s", "share", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")
    ]
    total = sum(len(v) for v in phase.latencies.values())
    everything = sorted(x for v in phase.latencies.values() for x in v)
    for op in (*OPERATIONS, "all"):
        values = everything if op == "all" else sorted(phase.latencies[op])
        errors = sum(phase.errors.values()) if op == "all" else phase.errors_by_op[op]
        if values:
            quantiles = (ms(pct(values, 0.5)), ms(pct(values, 0.95)), ms(pct(values, 0.99)), ms(values[-1]))
        else:
            quantiles = ("-", "-", "-", "-")
        rows.append(
            (
                op,
                f"{len(values):,}",
                f"{len(values) / phase.elapsed:,.1f}",
                f"{len(values) / max(total, 1):.0%}",
                *quantiles,
                f"{errors:,}",
            )
        )
    lines += ["  " + line for line in table(rows, right=set(range(1, 9)))]
    lines.append(
        f"  records created: {phase.records_created:,} ({phase.records_created / phase.elapsed:,.0f} records/s)"
    )
    retryable = ", ".join(f"{code} {phase.errors.get(code, 0):,}" for code in RETRYABLE)
    others = {code: n for code, n in phase.errors.items() if code not in RETRYABLE}
    other_words = ", ".join(f"{code} {n:,}" for code, n in sorted(others.items())) or "0"
    lines.append(f"  retryable errors: {retryable}; other errors: {other_words}")
    for message in phase.other_messages[:5]:
        lines.append(f"    {message}")
    if phase.stopped_clients:
        lines.append(f"  clients stopped by an exception: {phase.stopped_clients}")
    server_cpu, client_cpu, machine_cpu = phase.cpu
    calls = max(total + sum(phase.errors.values()), 1)
    t = phase.elapsed
    words = ["n/a" if server_cpu is None else f"server {server_cpu / t:.2f} ({ms(server_cpu / calls)} ms/call)"]
    words.append(f"this client, all sessions {client_cpu / t:.2f} ({ms(client_cpu / calls)} ms/call)")
    if machine_cpu is not None and server_cpu is not None:
        others = max(machine_cpu - server_cpu - client_cpu, 0.0)
        idle = max((os.cpu_count() or 1) - machine_cpu / t, 0.0)
        words.append(f"other processes {others / t:.2f}, idle {idle:.2f} of {os.cpu_count()}")
    lines.append(f"  CPU, cores busy over the run: {', '.join(words)}")
    c = phase.check
    verdict = "OK" if c.ok else "FAILED"
    lines.append(
        f"  consistency {verdict}: {c.exactly_once:,} of {c.acknowledged:,} acknowledged writes found exactly once"
        f" (missing {c.missing}, duplicated {c.duplicated}, other id {c.wrong_id}); unacknowledged in the store"
        f" {c.unacknowledged}; {c.patch_kept:,} of {c.patched:,} patched records hold their last acknowledged value"
    )
    return lines


def scaling_report(base: Phase, load: Phase) -> list[str]:
    def rate(phase: Phase, op: str | None) -> float:
        values = sum(len(v) for v in phase.latencies.values()) if op is None else len(phase.latencies[op])
        return values / phase.elapsed

    def p50(phase: Phase, op: str) -> float | None:
        values = sorted(phase.latencies[op])
        return pct(values, 0.5) if values else None

    if load.servers != base.servers:
        lines = [f"scaling, {load.servers} server processes / {base.servers} ({load.clients} clients each time)"]
    else:
        lines = [f"scaling, {load.clients} clients / {base.clients} client"]
    rows: list[tuple[str, ...]] = [("operation", "calls/s ratio", "p50 ratio")]
    for op in (*OPERATIONS, None):
        r1, rn = rate(base, op), rate(load, op)
        if op is None:
            rows.append(("all", f"{rn / r1:.2f}x" if r1 else "-", ""))
            continue
        a, b = p50(base, op), p50(load, op)
        rows.append((op, f"{rn / r1:.2f}x" if r1 else "-", f"{b / a:.1f}x" if a and b else "-"))
    lines += ["  " + line for line in table(rows, right={1, 2})]
    return lines


def header(args: argparse.Namespace, elapsed: float, load_at_start: str) -> list[str]:
    try:
        from importlib.metadata import version

        versions = f"tables-mcp {version('tables-mcp')} ({source_revision()}), mcp {version('mcp')}"
    except Exception:
        versions = "versions unknown"
    mode = "stateless" if args.stateless else ("stateful" if args.transport == "http" else "SSE")
    store = "one PostgreSQL database (a fresh schema per phase)" if args.pg_dsn else "SQLite"
    limit = args.max_concurrency or "default (16)"
    client = "the MCP SDK's ClientSession" if args.client == "sdk" else "raw (httpx and json only)"
    return [
        f"tables-mcp HTTP benchmark ({'quick' if args.quick else 'full'} run, {elapsed:.1f} s)",
        f"Python {platform.python_version()}, {versions}, {os.cpu_count()} CPU(s), {platform.platform()}",
        f"server: {' '.join(command())} --transport {args.transport} on 127.0.0.1, bearer token, {mode},"
        f" --max-concurrency {limit}; fresh servers and store per phase; store: {store}; client: {client}",
        f"load average at start {load_at_start}, at end {load_average()}",
        "mix: 50% createRecords (1-5 records), 20% patchRecord, 15% getRecord, 15% listRecords (contains, limit 20);"
        " latency = answered calls without an error, as this client saw them",
    ]


# -- main --------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="tables-mcp-bench-http-"))
    load_at_start = load_average()
    started = time.perf_counter()
    phases: list[Phase] = []
    failed: list[str] = []
    try:
        plan = [(args.clients, 1), (args.clients, 2)] if args.replicas else [(1, 1), (args.clients, 1)]
        for clients, servers in plan:
            progress(f"{clients} client(s), {servers} server(s), {args.seconds:g} s over {args.transport}...")
            try:
                phase = await run_phase(workdir, clients, args.seconds, args, servers)
            except Exception:
                failed.append(f"{clients} client(s), {servers} server(s)")
                progress(f"{clients} client(s): FAILED\n{traceback.format_exc()}")
                continue
            phases.append(phase)
            progress(f"  {sum(len(v) for v in phase.latencies.values()):,} calls answered; setup {phase.setup_s:.1f} s")
    finally:
        out = header(args, time.perf_counter() - started, load_at_start)
        for phase in phases:
            out += ["", *phase_report(phase)]
        if len(phases) == 2:
            out += ["", *scaling_report(*phases)]
        print("\n".join(out))
        shutil.rmtree(workdir, ignore_errors=True)
    problems = failed + [
        f"{p.clients} client(s): " + ("consistency" if not p.check.ok else "other errors")
        for p in phases
        if not p.check.ok or p.other_errors
    ]
    if problems:
        raise SystemExit(f"bench_http: {'; '.join(problems)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=None, help="concurrent clients (default 50; quick: 10)")
    parser.add_argument("--seconds", type=float, default=None, help="duration of each phase (default 30; quick: 5)")
    parser.add_argument("--max-concurrency", type=int, help="passed to the server (its default is 16)")
    parser.add_argument("--transport", choices=["http", "sse"], default="http", help="default: streamable HTTP")
    parser.add_argument("--stateless", action="store_true", help="streamable HTTP without server sessions")
    parser.add_argument(
        "--replicas", action="store_true", help="N clients on 1, then 2 stateless servers sharing one PostgreSQL"
    )
    parser.add_argument(
        "--client",
        choices=["sdk", "raw"],
        default="sdk",
        help="sdk: the MCP SDK's ClientSession (default); raw: httpx and json only (raw_client.py), to see the server",
    )
    parser.add_argument("--quick", action="store_true", help="10 clients, 5 s (smoke test)")
    args = parser.parse_args()
    if args.replicas:
        args.stateless = True
        if args.transport != "http":
            parser.error("--replicas runs streamable HTTP")
    if args.stateless and args.transport != "http":
        parser.error("--stateless applies to --transport http only")
    args.clients = args.clients or (10 if args.quick else 50)
    args.seconds = args.seconds or (5.0 if args.quick else 30.0)
    postgres = None
    args.pg_dsn = os.environ.get(PG_DSN_ENV) if args.replicas else None
    if args.replicas and not args.pg_dsn:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise SystemExit(f"--replicas needs PostgreSQL: set {PG_DSN_ENV} or install it (initdb, pg_ctl)")
        postgres = PgServer(bin_dir)
        args.pg_dsn = postgres.start()
    try:
        anyio.run(run, args)
    finally:
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    main()
