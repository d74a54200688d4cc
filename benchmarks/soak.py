#!/usr/bin/env python
"""Soak of the streamable HTTP transport: 50 clients for minutes, with disconnects and cancellations.

Starts the installed `tables-mcp --transport http` (bearer token, stateful sessions) through
tests/http_server.py, on a SQLite file and on a throw-away PostgreSQL (tests/pg.py: initdb/pg_ctl), and
runs N clients (default 50) for D seconds (default 300). Clients speak raw JSON-RPC over httpx (one
AsyncClient each), not the SDK's ClientSession: 50 SDK sessions in one process on 2 shared cores measure
the client more than the server, and raw requests let a client drop its connection mid-answer or cancel
a call at a chosen moment. Each client loops over sessions: initialize, 10-60 operations, then it ends
the session with DELETE or (one in three) just goes away; operations are 45% createRecords (1-5
records, each with a unique `Key`), 15% patchRecord, 15% getRecord, 15% listRecords (contains, limit
20), 5% a createRecords cancelled with `notifications/cancelled` after 0-50 ms, 5% a createRecords whose
connection the client closes before the answer.

Every few seconds the server's RSS (`VmRSS` of /proc/<pid>/status) and open descriptors (/proc/<pid>/fd)
are sampled and printed; at the end the middle and last thirds of the run are compared (plateau: the last
third's mean RSS within 10% + 8 MB of the middle third's, and its peak descriptors within 10% + 16).
Then every record is read back: every acknowledged write must be present exactly once; a write whose
answer never came (cancelled, dropped) may be present (at most once) or not, and is counted.

    .venv/bin/python benchmarks/soak.py [--seconds 300] [--clients 50] [--store sqlite|postgres|both]
                                        [--sample-every 5] [--max-concurrency 16] [--session-idle-timeout S]

Exit status non-zero when a consistency check fails, RSS or descriptors do not plateau, or a phase crashed.
"""

from __future__ import annotations

import argparse
import json
import os
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
import httpx

BENCHMARKS = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCHMARKS.parent)]  # the repo root, for tests/

from tests.http_server import TOKEN, RunningServer, start_server  # noqa: E402
from tests.pg import PgServer, find_bin_dir  # noqa: E402

TABLE = "Soak"
COLUMNS = [
    {"name": "Key", "type": "TEXT", "required": True},
    {"name": "Count", "type": "NUMBER"},
    {"name": "Note", "type": "TEXT"},
]
PROTOCOL = "2025-06-18"
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "Authorization": f"Bearer {TOKEN}",
}


class Gone(Exception):
    """The answer did not come: the connection dropped or the stream ended empty."""


@dataclass
class Ledger:
    acknowledged: set[str] = field(default_factory=set)  # keys whose createRecords was answered with success
    unacknowledged: set[str] = field(default_factory=set)  # keys sent without a success answer
    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    abandoned: int = 0
    cancellations: int = 0
    drops: int = 0


def rpc(request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


class Session:
    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.headers = dict(HEADERS)
        self.next_id = 0

    async def open(self) -> None:
        init = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "soak", "version": "1"}}
        response, _ = await self.send(rpc(self._id(), "initialize", init))
        self.headers |= {"mcp-session-id": response.headers["mcp-session-id"], "MCP-Protocol-Version": PROTOCOL}
        await self.http.post(
            self.url, headers=self.headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
        )

    async def close(self) -> None:
        await self.http.delete(self.url, headers=self.headers)

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        _, answer = await self.send(rpc(self._id(), "tools/call", {"name": name, "arguments": arguments}))
        return answer

    async def send(self, message: dict[str, Any]) -> tuple[httpx.Response, dict[str, Any]]:
        async with self.http.stream("POST", self.url, headers=self.headers, json=message) as response:
            if response.headers.get("content-type", "").startswith("application/json"):
                return response, json.loads(await response.aread())
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    answer = json.loads(line[6:])
                    if answer.get("id") == message["id"]:
                        return response, answer
        raise Gone(f"no answer to {message['method']} (HTTP {response.status_code})")

    async def cancel(self, request_id: int) -> None:
        params = {"requestId": request_id, "reason": "soak"}
        notification = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}
        await self.http.post(self.url, headers=self.headers, json=notification)


def outcome(answer: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    if "error" in answer:
        return f"jsonrpc {answer['error']['code']}", None
    result = answer["result"]
    if result.get("isError"):
        return result["structuredContent"]["error"]["code"], None
    return "ok", result["structuredContent"]


async def client(number: int, url: str, deadline: float, ledger: Ledger) -> None:
    rng = random.Random(number)
    serial = 0
    mine: list[str] = []  # record ids this client created
    while time.monotonic() < deadline:
        async with httpx.AsyncClient(timeout=60) as http:
            session = Session(http, url)
            try:
                await session.open()
            except (httpx.HTTPError, Gone, KeyError):
                ledger.errors["session open"] += 1
                await anyio.sleep(0.5)
                continue
            ledger.sessions += 1
            for _ in range(rng.randint(10, 60)):
                if time.monotonic() >= deadline:
                    break
                keys = [f"c{number}-{serial + i}" for i in range(rng.randint(1, 5))]
                serial += len(keys)
                try:
                    await one_operation(session, rng, keys, mine, ledger)
                except (httpx.HTTPError, Gone) as exc:
                    ledger.errors[type(exc).__name__] += 1
            if rng.random() < 1 / 3:
                ledger.abandoned += 1  # gone without DELETE: the server must not keep it for ever
            else:
                try:
                    await session.close()
                except httpx.HTTPError:
                    ledger.errors["session close"] += 1


async def one_operation(session: Session, rng: random.Random, keys: list[str], mine: list[str], ledger: Ledger) -> None:
    roll = rng.random()
    records = [{"Key": key, "Count": 0, "Note": "n" * rng.randint(0, 200)} for key in keys]
    if roll < 0.45 or not mine:
        await create(session, records, ledger, mine)
    elif roll < 0.60:
        await counted(ledger, "patchRecord", session.call("patchRecord", patch(rng, mine)))
    elif roll < 0.75:
        await counted(ledger, "getRecord", session.call("getRecord", {"table": TABLE, "recordId": rng.choice(mine)}))
    elif roll < 0.90:
        search = {"field": "Key", "op": "contains", "value": keys[0].split("-")[0] + "-"}
        await counted(
            ledger, "listRecords", session.call("listRecords", {"table": TABLE, "limit": 20, "filter": search})
        )
    elif roll < 0.95:
        await cancelled_create(session, rng, records, ledger, mine)
    else:
        await dropped_create(session, rng, records, ledger)


def patch(rng: random.Random, mine: list[str]) -> dict[str, Any]:
    return {"table": TABLE, "recordId": rng.choice(mine), "fields": {"Count": rng.randint(1, 1000)}}


async def counted(ledger: Ledger, name: str, answering: Any) -> dict[str, Any] | None:
    ledger.calls[name] += 1
    code, content = outcome(await answering)
    if code != "ok":
        ledger.errors[f"{name} {code}"] += 1
    return content


async def create(session: Session, records: list[dict[str, Any]], ledger: Ledger, mine: list[str]) -> None:
    keys = {record["Key"] for record in records}
    ledger.unacknowledged |= keys  # until the answer says otherwise
    content = await counted(ledger, "createRecords", session.call(f"createRecords_{TABLE}", {"records": records}))
    if content is not None:
        acknowledge(content, ledger, mine)


def acknowledge(content: dict[str, Any], ledger: Ledger, mine: list[str]) -> None:
    for record in content["records"]:
        key = record["fields"]["Key"]
        ledger.unacknowledged.discard(key)
        ledger.acknowledged.add(key)
        mine.append(record["id"])


async def cancelled_create(
    session: Session, rng: random.Random, records: list[dict[str, Any]], ledger: Ledger, mine: list[str]
) -> None:
    ledger.unacknowledged |= {record["Key"] for record in records}
    ledger.cancellations += 1
    request_id = session._id()
    message = rpc(request_id, "tools/call", {"name": f"createRecords_{TABLE}", "arguments": {"records": records}})
    answers: list[dict[str, Any]] = []

    async def send() -> None:
        answers.append((await session.send(message))[1])

    async with anyio.create_task_group() as group:
        group.start_soon(send)
        await anyio.sleep(rng.random() * 0.05)
        await session.cancel(request_id)
    ledger.calls["createRecords cancelled"] += 1
    code, content = outcome(answers[0])
    ledger.errors[f"cancelled create answered {code}"] += 1
    if content is not None:
        acknowledge(content, ledger, mine)


async def dropped_create(session: Session, rng: random.Random, records: list[dict[str, Any]], ledger: Ledger) -> None:
    ledger.unacknowledged |= {record["Key"] for record in records}
    ledger.drops += 1
    ledger.calls["createRecords dropped"] += 1
    with anyio.move_on_after(rng.random() * 0.05):  # the client closes the connection before the answer
        await session.call(f"createRecords_{TABLE}", {"records": records})
        ledger.errors["dropped create answered anyway (not counted)"] += 1


# -- sampling -------------------------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    rss_kb: int
    fds: int


def sample(pid: int, started: float) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return Sample(time.monotonic() - started, rss, len(os.listdir(f"/proc/{pid}/fd")))


async def sampler(pid: int, every: float, deadline: float, samples: list[Sample]) -> None:
    started = time.monotonic()
    while time.monotonic() < deadline:
        taken = sample(pid, started)
        samples.append(taken)
        print(f"  t={taken.at:6.1f}s  RSS {taken.rss_kb / 1024:7.1f} MB  fds {taken.fds:5d}", flush=True)
        await anyio.sleep(every)


def plateau(samples: list[Sample]) -> tuple[bool, str]:
    third = len(samples) // 3
    if third < 2:
        return True, "too few samples to judge"
    middle, last = samples[third : 2 * third], samples[2 * third :]

    def mean(values: list[int]) -> float:
        return sum(values) / len(values)

    rss_mid, rss_last = mean([s.rss_kb for s in middle]) / 1024, mean([s.rss_kb for s in last]) / 1024
    fd_mid, fd_last = max(s.fds for s in middle), max(s.fds for s in last)
    rss_ok = rss_last <= rss_mid * 1.10 + 8
    fd_ok = fd_last <= fd_mid * 1.10 + 16
    text = (
        f"RSS mean middle third {rss_mid:.1f} MB, last third {rss_last:.1f} MB ({'plateau' if rss_ok else 'GROWING'}); "
        f"fds peak middle third {fd_mid}, last third {fd_last} ({'plateau' if fd_ok else 'GROWING'})"
    )
    return rss_ok and fd_ok, text


# -- one store ------------------------------------------------------------------------------------


async def all_keys(server: RunningServer) -> list[str]:
    keys: list[str] = []
    async with httpx.AsyncClient(timeout=120) as http:
        session = Session(http, f"{server.url}/mcp")
        await session.open()
        cursor = None
        while True:
            arguments: dict[str, Any] = {"table": TABLE, "limit": 500, "fields": ["Key"]}
            if cursor:
                arguments["cursor"] = cursor
            code, page = outcome(await session.call("listRecords", arguments))
            assert page is not None, code
            keys += [record["fields"]["Key"] for record in page["records"]]
            cursor = page.get("nextCursor")
            if not cursor:
                await session.close()
                return keys


async def soak(name: str, db: Path, env: dict[str, str], args: argparse.Namespace) -> bool:
    flags = ["--max-concurrency", str(args.max_concurrency)]
    if args.session_idle_timeout:
        flags += ["--session-idle-timeout", str(args.session_idle_timeout)]
    print(f"\n== {name}: {args.clients} clients, {args.seconds:g} s, server flags {' '.join(flags)}", flush=True)
    server = start_server(db, *flags, env=env)
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            setup = Session(http, f"{server.url}/mcp")
            await setup.open()
            code, _ = outcome(await setup.call("createTable", {"name": TABLE, "columns": COLUMNS}))
            assert code == "ok", code
            await setup.close()
        ledger = Ledger()
        samples: list[Sample] = []
        started = time.monotonic()
        deadline = started + args.seconds
        async with anyio.create_task_group() as group:
            group.start_soon(sampler, server.process.pid, args.sample_every, deadline, samples)
            for number in range(args.clients):
                group.start_soon(client, number, f"{server.url}/mcp", deadline, ledger)
        elapsed = time.monotonic() - started
        await anyio.sleep(2)  # abandoned requests finish on the server
        after = sample(server.process.pid, started)
        keys = await all_keys(server)
        code, stderr = server.stop()
    finally:
        if server.process.poll() is None:
            server.stop()
    return report(name, ledger, samples, after, keys, elapsed, code, stderr)


def report(
    name: str,
    ledger: Ledger,
    samples: list[Sample],
    after: Sample,
    keys: list[str],
    elapsed: float,
    code: int,
    stderr: str,
) -> bool:
    calls = sum(ledger.calls.values())
    load = os.getloadavg()[0]
    print(
        f"-- {name}: {calls:,} calls in {elapsed:.0f} s ({calls / elapsed:.0f}/s), {ledger.sessions:,} sessions; "
        f"load average now {load:.1f} (2 shared cores here)"
    )
    print("   calls: " + ", ".join(f"{op} {n:,}" for op, n in sorted(ledger.calls.items())))
    print(
        f"   sessions abandoned without DELETE {ledger.abandoned:,}; cancellations {ledger.cancellations:,}; "
        f"connections dropped mid-call {ledger.drops:,}"
    )
    print("   outcomes other than ok: " + (", ".join(f"{k} {n:,}" for k, n in sorted(ledger.errors.items())) or "none"))
    ok_plateau, text = plateau(samples)
    print(f"   {text}; after the run RSS {after.rss_kb / 1024:.1f} MB, fds {after.fds}")
    counts = Counter(keys)
    duplicated = sorted(key for key, n in counts.items() if n > 1)
    missing = sorted(ledger.acknowledged - counts.keys())
    stray = sorted(counts.keys() - ledger.acknowledged - ledger.unacknowledged)
    maybe = len(ledger.unacknowledged & counts.keys())
    consistent = not duplicated and not missing and not stray
    print(
        f"   consistency {'OK' if consistent else 'FAILED'}: {len(ledger.acknowledged) - len(missing):,} of "
        f"{len(ledger.acknowledged):,} acknowledged writes present exactly once (missing {len(missing)}, "
        f"duplicated {len(duplicated)}, never sent {len(stray)}); of {len(ledger.unacknowledged):,} unanswered "
        f"records {maybe:,} were written"
    )
    tracebacks = stderr.count("Traceback")
    print(f"   server exit status {code}; tracebacks on stderr {tracebacks}")
    if tracebacks:
        kept = Path(tempfile.gettempdir()) / f"tables-mcp-soak-{name.lower()}.stderr"
        kept.write_text(stderr)
        print(f"   the server's stderr is kept in {kept}")
    if missing or duplicated:
        print(f"   e.g. missing {missing[:5]} duplicated {duplicated[:5]}")
    return consistent and ok_plateau and code == 0


async def main(args: argparse.Namespace) -> int:
    root = Path(tempfile.mkdtemp(prefix="tables-mcp-soak-"))
    results: dict[str, bool] = {}
    try:
        if args.store in ("sqlite", "both"):
            results["sqlite"] = await guarded(soak("SQLite", root / "soak.db", {}, args))
        if args.store in ("postgres", "both"):
            bin_dir = find_bin_dir()
            if bin_dir is None:
                print("no PostgreSQL binaries (initdb/pg_ctl): PostgreSQL soak skipped")
            else:
                pg = PgServer(bin_dir)
                try:
                    dsn = pg.start()
                    results["postgres"] = await guarded(
                        soak("PostgreSQL", root / "pg.db", {"TABLES_MCP_DB": dsn}, args)
                    )
                finally:
                    pg.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n" + ", ".join(f"{name}: {'OK' if ok else 'FAILED'}" for name, ok in results.items()))
    return 0 if results and all(results.values()) else 1


async def guarded(running: Any) -> bool:
    try:
        return bool(await running)
    except Exception:
        traceback.print_exc()
        return False


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--max-concurrency", type=int, default=16)
    parser.add_argument("--session-idle-timeout", type=float, help="the server's (default: its own, 1800 s)")
    raise SystemExit(anyio.run(main, parser.parse_args()))
