#!/usr/bin/env python
"""Benchmark of tables-mcp on Kintone, against the fake Kintone served in this process.

Starts the fake Kintone (tests/fakes/kintone/) on 127.0.0.1 in a thread of this process with its
sample apps ("Customers", "案件管理") and latency switch 0, then the installed `tables-mcp --backend
kintone` as a child process over stdio (MCP SDK stdio client), configured only through KINTONE_*
variables, and prints side by side:

  * getRecord: the same record fetched, round by round in a shuffled order, (a) through the MCP stdio
    session, (b) with the Kintone adapter's `get_record` called in this process, (c) with the tool
    catalogue's `Catalogue.call` in this process (adapter + argument checks, no MCP), and (d) as the same
    `GET /k/v1/record.json` made directly with httpx; p50/p99 each, and the ratios to direct httpx
    (target: adapter in-process <= 1.05x direct httpx)
  * createRecords of 1,000 records through stdio: records/s, and the HTTP requests the fake saw per call
    (expected: 1 POST bulkRequest.json of 10 writes of 100 records, plus the reads that fetch them back)
  * the same creates with the adapter's `create_records` called in this process, alternating with the bare
    bulkRequest POSTs they need (target: within 1.3x), both against a second fake in a process of its own
  * listRecords with limit 500 through stdio: median latency and requests per call (expected: 1)
  * tools/list size in bytes for the fake's apps, per tool mode

No asserts: figures with a target or an expectation are marked `met`/`MISSED` (or `as expected`/`UNEXPECTED`).
The exit status is non-zero only when a section crashed. `--quick` runs smaller counts: about 6 s here
(the full run about 20 s).

    .venv/bin/python benchmarks/bench_kintone.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import anyio
import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(BENCHMARKS), BENCHMARKS]  # the repo root (for tests/) and this folder

from bench_local import (  # noqa: E402
    load_average,
    ms,
    pct,
    progress,
    server_command,
    source_revision,
    tools_list_bytes,
    wire_bytes,
)
from tests.fakes.kintone import SampleDomain, sample_domain, serve_fake_kintone  # noqa: E402

from tables_mcp.backends.kintone import KintoneBackend  # noqa: E402
from tables_mcp.tools import Catalogue, ToolOptions  # noqa: E402


@dataclass(frozen=True)
class Plan:
    get_rounds: int
    create_calls: int
    create_batch: int
    list_calls: int
    list_limit: int
    tool_modes: tuple[str, ...]


FULL = Plan(
    get_rounds=1000,
    create_calls=5,
    create_batch=1000,
    list_calls=20,
    list_limit=500,
    tool_modes=("auto", "generic", "per-table"),
)
QUICK = Plan(get_rounds=200, create_calls=2, create_batch=1000, list_calls=5, list_limit=500, tool_modes=("auto",))
TARGET_ADAPTER_RATIO = 1.05
TARGET_CREATE_VS_POSTS = 1.3  # the adapter's 1,000-record create over the bare write it needs (one bulkRequest)
EXPECTED_PATCH_REQUESTS = 2  # PUT record.json answers only the revision: a GET reads the stored record
EXPECTED_CREATE_POSTS = 1  # 1,000 records: one bulkRequest of 10 writes of 100
EXPECTED_LIST_REQUESTS = 1

STAGES = ["Lead", "Active", "Churned"]
TAGS = ["vip", "partner", "trial"]


def make_customers(rng: random.Random, start: int, count: int) -> list[dict[str, Any]]:
    """Records for the sample "Customers" app (name is required and unique)."""
    base = date(2024, 1, 1)
    out = []
    for i in range(start, start + count):
        record: dict[str, Any] = {"name": f"Customer {i:06d}", "stage": rng.choice(STAGES)}
        if rng.random() < 0.8:
            record["email"] = f"buyer{i}@example.com"
        if rng.random() < 0.8:
            record["unit_price"] = round(rng.uniform(10, 5000), 2)
            record["seats"] = rng.randint(1, 200)
        if rng.random() < 0.6:
            record["signed_on"] = (base + timedelta(days=rng.randrange(900))).isoformat()
        if rng.random() < 0.5:
            record["tags"] = rng.sample(TAGS, rng.randint(1, 2))
        if rng.random() < 0.3:
            record["owner"] = rng.choice(["alice", "bob"])
        out.append(record)
    return out


@dataclass
class Bench:
    plan: Plan
    domain: SampleDomain
    url: str
    errlog: Any  # the server's stderr (its audit log of writes, warnings) goes to a file, not to the report
    latency_ms: float = 0.0  # what the fake adds to every request
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # metric, value, target, status
    figures: dict[str, Any] = field(default_factory=dict)
    load_at_start: str = field(default_factory=load_average)
    command: list[str] = field(default_factory=server_command)

    @property
    def env(self) -> dict[str, str]:
        tokens = self.domain.tokens
        return {
            "KINTONE_BASE_URL": self.url,
            "KINTONE_API_TOKEN": f"{tokens['customers']},{tokens['deals']}",
            "KINTONE_APP_IDS": f"{self.domain.customers_app},{self.domain.deals_app}",
            "TABLES_MCP_LOG_LEVEL": "WARNING",
            # a work tree's source is measured when PYTHONPATH points at it
            **{key: os.environ[key] for key in ("PYTHONPATH",) if key in os.environ},
        }

    @asynccontextmanager
    async def session(self, *extra: str) -> AsyncIterator[ClientSession]:
        params = StdioServerParameters(
            command=self.command[0], args=[*self.command[1:], "--backend", "kintone", *extra], env=self.env
        )
        async with stdio_client(params, errlog=self.errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session

    def record(self, metric: str, value: str, target: str = "", met: bool | None = None, words: str = "") -> None:
        status = "" if met is None else ((words or "met") if met else ("UNEXPECTED" if words else "MISSED"))
        self.rows.append((metric, value, target, status))
        progress(f"  {metric}: {value}" + (f"  ({target}: {status})" if target else ""))

    def requests_since(self, mark: int) -> Counter[str]:
        """The fake's requests after `mark`, counted by "METHOD endpoint" (a GET sent as POST counts as GET)."""
        counts: Counter[str] = Counter()
        for request in list(self.domain.state.requests)[mark:]:
            method = request.method
            if request.headers.get("x-http-method-override", "").upper() == "GET":
                method = "GET"
            counts[f"{method} {request.path.rsplit('/', 1)[-1]}"] += 1
        return counts

    def post_sizes_since(self, mark: int) -> list[int]:
        """How many records each write of each POST bulkRequest.json after `mark` carried."""
        return [
            len(item["payload"]["records"])
            for request in list(self.domain.state.requests)[mark:]
            if request.method == "POST" and request.path.endswith("/bulkRequest.json")
            for item in request.body["requests"]
        ]

    def request_mark(self) -> int:
        return len(self.domain.state.requests)


async def call(session: ClientSession, tool: str, arguments: dict[str, Any]) -> Any:
    result = await session.call_tool(tool, arguments)
    if result.isError:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        raise RuntimeError(f"{tool} failed: {text[:500]}")
    return result


def counts_words(counts: Counter[str], calls: int) -> str:
    return ", ".join(f"{n / calls:g} {name}" for name, n in sorted(counts.items())) or "none"


# -- sections ----------------------------------------------------------------------------------------------


async def bench_stdio(b: Bench) -> list[str]:
    """tools/list, createRecords 1,000 and listRecords 500 through one stdio session; returns record ids."""
    plan = b.plan
    rng = random.Random(7)
    started = time.perf_counter()
    async with b.session() as s:
        tools = (await s.list_tools()).tools
        b.record("spawn -> initialize -> tools/list (one run)", f"{time.perf_counter() - started:.3f} s")
        names = sorted(t.name for t in tools)
        create_tool = "createRecords_Customers"
        if create_tool not in names:
            raise RuntimeError(f"no {create_tool} among {names}")

        progress(f"createRecords: {plan.create_calls} calls x {plan.create_batch} records")
        await call(s, create_tool, {"records": make_customers(rng, 0, 100)})  # warm-up (and connection pool)
        created = 100
        per_call: list[float] = []
        mark = b.request_mark()
        for _ in range(plan.create_calls):
            records = make_customers(rng, created, plan.create_batch)
            t0 = time.perf_counter()
            result = await call(s, create_tool, {"records": records})
            per_call.append(time.perf_counter() - t0)
            created += plan.create_batch
        counts = b.requests_since(mark)
        ids = [record["id"] for record in result.structuredContent["records"]]
        rate = plan.create_calls * plan.create_batch / sum(per_call)
        b.figures["create_call_s"] = per_call
        b.record(
            f"createRecords {plan.create_batch}/call over stdio, {plan.create_calls} calls", f"{rate:,.0f} records/s"
        )
        b.record("  per call (median / max)", f"{ms(statistics.median(per_call))} / {ms(max(per_call))}")
        posts = counts["POST bulkRequest.json"] / plan.create_calls
        sizes = sorted(set(b.post_sizes_since(mark)))
        b.record(
            "  POST bulkRequest.json per call",
            f"{posts:g} (writes of {', '.join(map(str, sizes))} records)",
            f"expected {EXPECTED_CREATE_POSTS}, writes of 100",
            posts == EXPECTED_CREATE_POSTS,
            words="as expected",
        )
        b.record("  all requests per call", counts_words(counts, plan.create_calls))
        b.record("  response size per call", f"{wire_bytes(result) / 1024:,.0f} KiB")

        progress(f"listRecords limit {plan.list_limit}: {plan.list_calls} calls")
        args = {"table": "Customers", "limit": plan.list_limit}
        await call(s, "listRecords", args)  # warm-up
        lat: list[float] = []
        mark = b.request_mark()
        for _ in range(plan.list_calls):
            t0 = time.perf_counter()
            result = await call(s, "listRecords", args)
            lat.append(time.perf_counter() - t0)
        counts = b.requests_since(mark)
        got = len(result.structuredContent["records"])
        b.figures["list_s"] = lat
        b.record(f"listRecords limit {plan.list_limit} over stdio ({got} records): median", ms(statistics.median(lat)))
        b.record("  min / max, response size", f"{ms(min(lat))} / {ms(max(lat))}, {wire_bytes(result) / 1024:,.0f} KiB")
        per_list = sum(counts.values()) / plan.list_calls
        b.record(
            "  requests per listRecords call",
            f"{per_list:g} ({counts_words(counts, plan.list_calls)})",
            f"expected {EXPECTED_LIST_REQUESTS}",
            per_list == EXPECTED_LIST_REQUESTS,
            words="as expected",
        )
        b.record("  totalCount given", str(result.structuredContent.get("totalCount")))

        progress(f"patchRecord: {plan.list_calls} calls")
        lat = []
        mark = b.request_mark()
        for n, record_id in enumerate(ids[: plan.list_calls]):
            t0 = time.perf_counter()
            await call(s, "patchRecord", {"table": "Customers", "recordId": record_id, "fields": {"seats": n + 1}})
            lat.append(time.perf_counter() - t0)
        counts = b.requests_since(mark)
        per_patch = sum(counts.values()) / len(lat)
        b.record(f"patchRecord over stdio, {len(lat)} calls: median", ms(statistics.median(lat)))
        b.record(
            "  requests per patchRecord call",
            f"{per_patch:g} ({counts_words(counts, len(lat))})",
            f"expected {EXPECTED_PATCH_REQUESTS}",
            per_patch == EXPECTED_PATCH_REQUESTS,
            words="as expected",
        )
    return ids


async def bench_tools_list(b: Bench) -> None:
    progress(f"tools/list size for the fake's apps, modes {', '.join(b.plan.tool_modes)}")
    sizes: dict[str, tuple[int, int]] = {}

    async def measure(mode: str) -> None:
        async with b.session("--tool-mode", mode) as s:
            tools = (await s.list_tools()).tools
        sizes[mode] = (tools_list_bytes(tools), len(tools))

    async with anyio.create_task_group() as group:  # sizes do not depend on timing: side by side
        for mode in b.plan.tool_modes:
            group.start_soon(measure, mode)
    for mode in b.plan.tool_modes:
        size, count = sizes[mode]
        b.figures[f"tools_list_bytes_{mode}"] = size
        b.record(f"tools/list, 2 Kintone apps, {mode} mode", f"{size:,} B = {size / 1024:.1f} KiB, {count} tools")


@contextmanager
def fake_in_own_process(latency_ms: float) -> Iterator[dict[str, Any]]:
    """The sample domain served by `python -m tests.fakes.kintone --json` in a process of its own, as a platform
    is: its work does not take turns with ours for this interpreter's lock. Yields its URL, app ids and tokens."""
    command = [sys.executable, "-m", "tests.fakes.kintone", "--json", "--port", "0", "--latency-ms", str(latency_ms)]
    fake = subprocess.Popen(command, cwd=os.path.dirname(BENCHMARKS), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert fake.stdin is not None and fake.stdout is not None
    try:
        line = fake.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake Kintone process ended before it served (exit {fake.wait()})")
        yield json.loads(line)
    finally:
        fake.stdin.close()  # its signal to stop
        try:
            fake.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fake.kill()


async def bench_create_in_process(b: Bench) -> None:
    """The same 1,000-record creates without MCP: the adapter in this process, and bare httpx POSTs, alternating
    call by call in a shuffled order, against a fake in a process of its own (`fake_in_own_process`): in this
    one, the fake's handling of the adapter's reads took turns with the adapter for the interpreter's lock. The
    fake's POST gets slower as the app grows (it checks unique fields against every record), so all adapter
    calls first and all bare POSTs after would favour the adapter."""
    plan = b.plan
    rng = random.Random(17)
    progress(f"createRecords in-process: {plan.create_calls} x {plan.create_batch}, adapter and bare httpx alternating")
    with fake_in_own_process(b.latency_ms) as fake:
        app, token = str(fake["apps"]["customers"]), fake["tokens"]["customers"]
        adapter, bare = await _alternate_creates(plan, rng, fake["url"], app, token)
    _report_creates(b, adapter, bare)


async def _alternate_creates(
    plan: Plan, rng: random.Random, url: str, app: str, token: str
) -> tuple[list[float], list[float]]:
    backend = KintoneBackend(url, api_tokens=[token], app_ids=[app])
    await backend.open()
    adapter: list[float] = []
    bare: list[float] = []
    try:
        table = next(t for t in await backend.list_tables() if t.id == app)
        async with httpx.AsyncClient(base_url=url, headers={"X-Cybozu-API-Token": token}, timeout=60) as client:

            async def via_adapter(start: int) -> None:
                records = make_customers(rng, start, plan.create_batch)
                t0 = time.perf_counter()
                await backend.create_records(table, records)
                adapter.append(time.perf_counter() - t0)

            async def via_bare(start: int) -> None:
                # The fake's own floor: the one bulkRequest the adapter needs (10 writes of 100), no read-back.
                writes = _bulk_writes(app, make_customers(rng, start, plan.create_batch))
                t0 = time.perf_counter()
                response = await client.post("/k/v1/bulkRequest.json", json={"requests": writes})
                response.raise_for_status()
                bare.append(time.perf_counter() - t0)

            shuffler = random.Random(19)
            for call_index in range(plan.create_calls):
                ways = [via_adapter, via_bare]
                shuffler.shuffle(ways)
                for offset, way in enumerate(ways):
                    await way(500_000 + (2 * call_index + offset) * plan.create_batch)
    finally:
        await backend.aclose()
    return adapter, bare


def _report_creates(b: Bench, adapter: list[float], bare: list[float]) -> None:
    plan = b.plan
    stdio = b.figures.get("create_call_s")
    for name, values in (
        ("adapter create_records in-process", adapter),
        ("bare httpx bulkRequest, no read-back", bare),
    ):
        rate = len(values) * plan.create_batch / sum(values)
        b.figures[f"create_{name.split()[0]}_s"] = values
        b.record(
            f"createRecords {plan.create_batch}: {name}",
            f"{rate:,.0f} records/s, median {ms(statistics.median(values))}",
        )
    ratio = statistics.median(a / p for a, p in zip(adapter, bare, strict=True))  # each round: the same app size
    b.record(
        "  ratio adapter / bare bulkRequest (median of the rounds' ratios)",
        f"{ratio:.2f}x",
        f"<= {TARGET_CREATE_VS_POSTS}x",
        ratio <= TARGET_CREATE_VS_POSTS,
    )
    if stdio:
        b.record(
            "  per call: stdio / adapter / bare bulkRequest (median)",
            " / ".join(ms(statistics.median(v)) for v in (stdio, adapter, bare)),
        )


def _bulk_writes(app: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A bulkRequest's writes of 100 records each, in Kintone's wire shape."""
    wire = [{code: {"value": value} for code, value in record.items()} for record in batch]
    for record in wire:
        if "owner" in record:
            record["owner"] = {"value": [{"code": record["owner"]["value"]}]}
    return [
        {"method": "POST", "api": "/k/v1/records.json", "payload": {"app": app, "records": wire[i : i + 100]}}
        for i in range(0, len(wire), 100)
    ]


async def bench_get(b: Bench, ids: list[str]) -> None:
    """getRecord four ways, interleaved round by round so that drift and noise hit each alike."""
    plan = b.plan
    domain = b.domain
    rng = random.Random(11)
    chosen = [rng.choice(ids) for _ in range(plan.get_rounds)]
    app = str(domain.customers_app)
    headers = {"X-Cybozu-API-Token": domain.tokens["customers"], "Accept-Language": "en"}
    backend = KintoneBackend(
        b.url, api_tokens=[domain.tokens["customers"], domain.tokens["deals"]], app_ids=[app, str(domain.deals_app)]
    )
    await backend.open()
    try:
        table = next(t for t in await backend.list_tables() if t.id == app)
        catalogue = Catalogue(backend, ToolOptions())
        await catalogue.refresh(force=True)
        async with httpx.AsyncClient(base_url=b.url, headers=headers) as direct, b.session() as s:

            async def via_httpx(record_id: str) -> None:
                response = await direct.get("/k/v1/record.json", params={"app": app, "id": record_id})
                response.raise_for_status()
                response.json()

            async def via_adapter(record_id: str) -> None:
                await backend.get_record(table, record_id)

            async def via_catalogue(record_id: str) -> None:
                outcome = await catalogue.call("getRecord", {"table": app, "recordId": record_id})
                if outcome.is_error:
                    raise RuntimeError(outcome.text)

            async def via_stdio(record_id: str) -> None:
                await call(s, "getRecord", {"table": "Customers", "recordId": record_id})

            ways: dict[str, Callable[[str], Awaitable[None]]] = {
                "direct httpx": via_httpx,
                "adapter in-process": via_adapter,
                "Catalogue.call in-process": via_catalogue,
                "MCP stdio session": via_stdio,
            }
            samples: dict[str, list[float]] = {name: [] for name in ways}
            order = list(ways)
            progress(f"getRecord: {plan.get_rounds} rounds x {len(ways)} ways, interleaved")
            for record_id in chosen[:30]:  # warm-up: connections, caches
                for way in ways.values():
                    await way(record_id)
            shuffler = random.Random(13)
            for record_id in chosen:
                shuffled = order[:]
                shuffler.shuffle(shuffled)  # each way follows each other way equally often
                for name in shuffled:
                    t0 = time.perf_counter()
                    await ways[name](record_id)
                    samples[name].append(time.perf_counter() - t0)
    finally:
        await backend.aclose()

    for values in samples.values():
        values.sort()
    base = pct(samples["direct httpx"], 0.5)
    b.figures["get_s"] = samples
    for name, values in samples.items():
        p50 = pct(values, 0.5)
        ratio = p50 / base
        metric = f"getRecord {name}: p50 / p99"
        value = f"{ms(p50)} / {ms(pct(values, 0.99))} = {ratio:.2f}x direct"
        if name == "adapter in-process":
            b.record(metric, value, f"<= {TARGET_ADAPTER_RATIO}x direct httpx", ratio <= TARGET_ADAPTER_RATIO)
        else:
            b.record(metric, value)
    b.record(
        "  overhead over direct httpx (p50): adapter, catalogue, stdio",
        ", ".join(f"+{ms(pct(samples[n], 0.5) - base)}" for n in order[1:]),
    )


# -- main --------------------------------------------------------------------------------------------------


def print_report(b: Bench, elapsed: float, quick: bool) -> None:
    try:
        from importlib.metadata import version

        versions = f"tables-mcp {version('tables-mcp')} ({source_revision()}), mcp {version('mcp')}"
    except Exception:
        versions = "versions unknown"
    print()
    print(f"tables-mcp Kintone benchmark against the fake ({'quick' if quick else 'full'} run, {elapsed:.1f} s)")
    print(f"Python {platform.python_version()}, {versions}, {os.cpu_count()} CPU(s), {platform.platform()}")
    print(
        f"server: {' '.join(b.command)} --backend kintone (stdio); fake Kintone {b.url} in this process, "
        f"latency {b.domain.state.latency_s * 1000:g} ms; "
        f"load average at start {b.load_at_start}, at end {load_average()}"
    )
    print()
    header = ("metric", "value", "target", "status")
    widths = [max(len(row[i]) for row in [header, *b.rows]) for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header).rstrip())
    print(line.format(*("-" * w for w in widths)))
    for row in b.rows:
        print(line.format(*row).rstrip())
    statuses = Counter(row[3] for row in b.rows if row[3])
    print("\n" + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())))


def tune_collector_as_served() -> None:
    """The collector settings `tables-mcp` serves with (`cli.tune_collector`, repeated here so that older sources
    measured through PYTHONPATH run the same), for what this process runs of the adapter: with Python's default,
    the 1,000 records read back per create were walked by young collections again and again (82 ms of CPU per
    create tuned, 137 ms untuned, in one profile), a cost the server itself does not pay."""
    gc.freeze()
    gc.set_threshold(50_000, *gc.get_threshold()[1:])


async def run(args: argparse.Namespace) -> None:
    plan = QUICK if args.quick else FULL
    tune_collector_as_served()
    domain = sample_domain()
    domain.state.latency_s = args.latency_ms / 1000
    started = time.perf_counter()
    failed: list[str] = []
    errlog = tempfile.NamedTemporaryFile("w+", prefix="bench-kintone-server-", suffix=".log")
    with errlog, serve_fake_kintone(domain.state) as url:
        b = Bench(plan, domain, url, errlog, args.latency_ms)
        progress(f"fake Kintone on {url}; server command: {' '.join(b.command)} --backend kintone")
        ids: list[str] = []

        async def records() -> None:
            ids.extend(await bench_stdio(b))

        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("createRecords and listRecords", records),
            ("createRecords in-process", lambda: bench_create_in_process(b)),
            ("tools/list sizes", lambda: bench_tools_list(b)),
            ("getRecord", lambda: bench_get(b, ids or ["1"])),
        ]
        for title, step in steps:
            section_started = time.perf_counter()
            try:
                await step()
                progress(f"[{title}: {time.perf_counter() - section_started:.1f} s]")
            except Exception as exc:  # one broken section must not hide the others' figures
                failed.append(title)
                progress(f"{title}: FAILED\n{traceback.format_exc()}")
                b.rows.append((f"{title}: section failed", " ".join(str(exc).split())[:100], "", "ERROR"))
        print_report(b, time.perf_counter() - started, args.quick)
        errlog.flush()
        errlog.seek(0)
        tail = errlog.read()[-2000:]
        if failed and tail.strip():
            print(f"\nserver stderr (last lines):\n{tail}", file=sys.stderr)
        if args.json:
            with open(args.json, "w") as out:
                json.dump({"rows": b.rows, "figures": b.figures}, out, indent=1)
    if failed:
        raise SystemExit(f"bench_kintone: section(s) failed: {', '.join(failed)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="added by the fake to every request (a platform's network time; default 0)",
    )
    parser.add_argument("--quick", action="store_true", help="small counts, about 6 s (smoke test)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    anyio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
