"""Fault injection on every platform adapter: random faults, seeded and bounded, and every answer checked.

Each platform's fake (Kintone, DingTalk, Onnie, Ozari) arms its `Switchboard` (tests/fakes/serving.py) with
a fixed seed: each request it receives may get a 5xx, the platform's throttling answer, an expired
credential, or a connection reset before the platform applies it, or, after it applied it, an answer that
is lost (reset), late (past the client's per-attempt timeout) or cut in half. Through MCP (an in-process
ClientSession) the agent then runs a bounded, seeded mix of createRecords (batches bigger than one
request), patchRecord and deleteRecords, and after every call the fake's stored state is compared with
what the answer claimed:
- every record an answer says was written is stored, once, with the id the answer gave (zero lost);
- no record is stored twice (each row carries a unique marker: zero written twice, no blind retries);
- a record an answer says was not written is not stored, a patch said to have failed changed nothing, and
  the records a delete says it deleted (all of them, on success) are gone and the others are not; only an
  answer that says so (`mayHaveBeenWritten` per row, `mayHaveBeenApplied` on the error) may leave the
  outcome open (every answer true).
Records stored under such an open outcome join the pool the later calls patch and delete. The figures
(calls, faults by kind, records checked) are printed per platform and in total (`pytest -s` shows them).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from tables_mcp.backends.dingtalk import DingTalkBackend
from tables_mcp.backends.dingtalk.api import ApiTuning
from tables_mcp.backends.kintone import KintoneBackend
from tables_mcp.backends.onnie import OnnieBackend
from tables_mcp.backends.ozari import OzariBackend
from tables_mcp.tools import ToolOptions

from .conftest import FAST_RETRY, Agent, open_agent
from .contract_dingtalk import BASE_ID, FAST_TUNING, DingTalkTarget, settings_for
from .contract_kintone import KintoneTarget
from .contract_onnie import OnnieTarget
from .contract_ozari import COLUMN_TYPES, TASKS, TOKEN, OzariTarget
from .fakes.dingtalk import FakeDingTalk, serve_fake_dingtalk
from .fakes.kintone import FakeKintone, serve_fake_kintone
from .fakes.onnie import FakeOnnie, serve_fake_onnie
from .fakes.ozari import FakeOzari, serve_fake_ozari
from .fakes.serving import FaultKind, Switchboard

pytestmark = pytest.mark.anyio

SEED = 20261201
CALLS = 24  # tool calls per platform
ATTEMPT_TIMEOUT = 0.4  # the client abandons an attempt after this long ...
SLOW_ANSWER = 0.6  # ... and a slow fault answers after this long
WRITE_JITTER = 0.01  # a write request waits up to this long at the fake, so that concurrent ones may overtake
FAULT_RETRY = replace(FAST_RETRY, attempt_timeout=ATTEMPT_TIMEOUT)
RATES: dict[FaultKind, float] = {
    "server_error": 0.04,
    "throttle": 0.04,
    "auth_expired": 0.02,
    "reset": 0.04,
    "lost_answer": 0.04,
    "slow": 0.015,
    "malformed": 0.03,
}
TOTALS: Counter[str] = Counter()


@dataclass
class Platform:
    """One fake platform under faults: how to build its adapter and how to read what it stores."""

    name: str
    board: Switchboard
    backend: Callable[[], Any]
    stored: Callable[[], list[tuple[str, str, str]]]  # (record id, Title, Notes) in storage order
    batch_sizes: tuple[int, ...]  # rows per createRecords: beyond one request's limit
    delete_sizes: tuple[int, ...] = ()  # ids per deleteRecords; empty: the platform cannot delete
    ordered: bool = True  # records are stored in input order
    calls: int = CALLS
    rates: dict[FaultKind, float] = field(default_factory=lambda: dict(RATES))


# -- the four platforms ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kintone() -> Iterator[Platform]:
    state = FakeKintone()
    with serve_fake_kintone(state) as url:
        target = KintoneTarget(state, url)
        target.fresh()
        [(app, token)] = target.apps

        def stored() -> list[tuple[str, str, str]]:
            with state.lock:
                records = sorted(state.apps[app].records.values(), key=lambda record: record.id)
                return [(str(r.id), r.values.get("Title", ""), r.values.get("Notes", "")) for r in records]

        def backend() -> KintoneBackend:
            return KintoneBackend(url, api_tokens=[token], app_ids=[str(app)], retry=FAULT_RETRY)

        yield Platform("kintone", state.switchboard, backend, stored, (1, 60, 140, 230), (1, 3, 120))


@pytest.fixture(scope="module")
def dingtalk() -> Iterator[Platform]:
    state = FakeDingTalk()
    with serve_fake_dingtalk(state) as url:
        DingTalkTarget(state, url).fresh()
        tuning = ApiTuning(retry=replace(FAST_TUNING.retry, attempt_timeout=ATTEMPT_TIMEOUT), refused_wait=0.01)

        def stored() -> list[tuple[str, str, str]]:
            with state.lock:
                sheet = state.bases[BASE_ID].sheet("Tasks")
                assert sheet is not None
                title, notes = (sheet.field(name) for name in ("Title", "Notes"))
                assert title is not None and notes is not None
                records = sorted(sheet.records.values(), key=lambda record: record.seq)
                return [(r.id, r.values.get(title.id, ""), r.values.get(notes.id, "")) for r in records]

        def backend() -> DingTalkBackend:
            return DingTalkBackend(settings_for(url), tuning=tuning)

        # Each written record is read back by its own GET on DingTalk: smaller batches keep the run short.
        yield Platform("dingtalk", state.switchboard, backend, stored, (1, 20, 105), (1, 3, 105), calls=CALLS - 6)


@pytest.fixture(scope="module")
def onnie() -> Iterator[Platform]:
    state = FakeOnnie()
    with serve_fake_onnie(state) as url:
        target = OnnieTarget(state, url)
        target.fresh()

        def stored() -> list[tuple[str, str, str]]:
            found = state.records("Tasks")
            return [(r["id"], r["fields"].get("Title", ""), r["fields"].get("Notes", "") or "") for r in found]

        def backend() -> OnnieBackend:
            return OnnieBackend(target.key, url, retry=FAULT_RETRY)

        yield Platform("onnie", state.switchboard, backend, stored, (1, 60, 140, 230), (1, 3, 5))


@pytest.fixture(scope="module")
def ozari() -> Iterator[Platform]:
    state = FakeOzari()
    with serve_fake_ozari(state) as url:
        OzariTarget(state, url).fresh()
        environ = {
            "OZARI_API_TOKEN": TOKEN,
            "OZARI_BASE_URL": url,
            "OZARI_COLUMN_TYPES": ",".join(
                f"{TASKS}.{column}:{kind}" for column, kind in COLUMN_TYPES.items() if kind != "TEXT"
            ),
        }

        def stored() -> list[tuple[str, str, str]]:
            return [(str(row["fid"]), row.get("Title") or "", row.get("Notes") or "") for row in state.rows(TASKS)]

        def backend() -> OzariBackend:
            return OzariBackend.from_environ(environ, retry=FAULT_RETRY)

        # Ozari documents no rate limit, so it is never throttled; one insert per record, four at a time.
        rates = {kind: rate for kind, rate in RATES.items() if kind != "throttle"}
        yield Platform("ozari", state.switchboard, backend, stored, (1, 4, 9), ordered=False, rates=rates)


# -- what the answers claimed, checked against the fake ------------------------------------------------------------


@dataclass
class Checker:
    platform: Platform
    pool: dict[str, str] = field(default_factory=dict)  # record id -> its Notes, for the records known stored
    checked: int = 0
    open_outcomes: int = 0
    marker: int = 0

    def stored_by_title(self) -> dict[str, list[tuple[str, str]]]:
        found: dict[str, list[tuple[str, str]]] = {}
        for record_id, title, notes in self.platform.stored():
            found.setdefault(title, []).append((record_id, notes))
        return found

    def new_rows(self, count: int) -> list[dict[str, Any]]:
        self.marker += 1
        return [{"Title": f"m{self.marker}-{i}", "Notes": "new"} for i in range(count)]

    def after_create(self, rows: list[dict[str, Any]], result: Any) -> None:
        titles = [row["Title"] for row in rows]
        written: dict[str, str] = {}
        open_titles: set[str] = set()
        payload = result.structuredContent
        assert payload is not None, result.content
        if not result.isError:
            written = {record["fields"]["Title"]: record["id"] for record in payload["records"]}
            assert list(written) == titles, "created records are answered in input order"
        elif "written" in payload:
            written = {record["fields"]["Title"]: record["id"] for record in payload["written"]}
            for item in payload["failed"]:
                if item["error"].get("mayHaveBeenWritten"):
                    assert item["error"]["retryable"] is False, "an unknown outcome is never retried blindly"
                    open_titles.add(titles[item["index"]])
            listed = sorted([titles.index(title) for title in written] + [item["index"] for item in payload["failed"]])
            assert listed == list(range(len(rows))), "every row is either written or failed"
        elif payload["error"].get("mayHaveBeenApplied"):
            open_titles = set(titles)
        stored = self.stored_by_title()
        for title in titles:
            copies = stored.get(title, [])
            assert len(copies) <= 1, f"{title} stored {len(copies)} times"
            if title in written:
                assert [record_id for record_id, _ in copies] == [written[title]], f"{title}: answered written"
            elif title in open_titles:
                self.open_outcomes += 1
            else:
                assert copies == [], f"{title}: answered not written, but stored ({result.content[0].text})"
            self.pool.update(dict(copies))
            self.checked += 1
        if self.platform.ordered:
            order = [title for _, title, _ in self.platform.stored() if title in set(titles)]
            assert order == sorted(order, key=titles.index), "records are stored in input order"

    def after_patch(self, record_id: str, before: str, after: str, result: Any) -> None:
        now = {rid: notes for rid, _, notes in self.platform.stored()}[record_id]
        payload = result.structuredContent
        assert payload is not None, result.content
        if not result.isError:
            assert payload["record"]["fields"]["Notes"] == after
            assert now == after, "answered patched"
        elif payload["error"].get("mayHaveBeenApplied"):
            self.open_outcomes += 1
            assert now in (before, after)
        else:
            assert now == before, f"answered not patched, but changed ({result.content[0].text})"
        self.pool[record_id] = now
        self.checked += 1

    def after_delete(self, ids: list[str], result: Any) -> None:
        left = {record_id for record_id, _, _ in self.platform.stored()}
        gone = [record_id for record_id in ids if record_id not in left]
        payload = result.structuredContent
        assert payload is not None, result.content
        if not result.isError:
            assert sorted(payload["deleted"]) == sorted(ids)
            assert gone == ids, "answered deleted"
        elif payload["error"].get("mayHaveBeenApplied"):
            self.open_outcomes += 1
        else:
            said = re.search(r"Deleted (\d+)", payload["error"]["message"])
            assert len(gone) == (int(said[1]) if said else 0), f"{len(gone)} gone: {result.content[0].text}"
        for record_id in gone:
            self.pool.pop(record_id, None)
        self.checked += len(ids)

    def final_check(self) -> None:
        stored = self.stored_by_title()
        assert all(len(copies) == 1 for copies in stored.values()), "no record stored twice"
        ids = {record_id for copies in stored.values() for record_id, _ in copies}
        assert set(self.pool) <= ids, "every record known written is still stored"
        self.checked += len(stored)


async def _agent(platform: Platform) -> AsyncIterator[tuple[Agent, Any]]:
    backend = platform.backend()
    await backend.open()
    try:
        async for agent in open_agent(backend, ToolOptions(mode="per-table")):
            yield agent, backend
    finally:
        await backend.aclose()


async def _run(platform: Platform) -> None:
    platform.board.disarm()
    rng = random.Random(f"{SEED}-{platform.name}")
    checker = Checker(platform)
    async for agent, _ in _agent(platform):
        checker.after_create(rows := checker.new_rows(20), await agent.call("createRecords_Tasks", {"records": rows}))
        platform.board.arm(SEED, platform.rates, slow_seconds=SLOW_ANSWER, write_jitter=WRITE_JITTER)
        calls: Counter[str] = Counter()
        for _ in range(platform.calls):
            choice = rng.choice(["create", "create", "patch", "patch"] + (["delete"] if platform.delete_sizes else []))
            if choice == "patch" and checker.pool:
                record_id = rng.choice(sorted(checker.pool))
                before, after = checker.pool[record_id], f"p{rng.randrange(10**6)}"
                arguments = {"recordId": record_id, "fields": {"Notes": after}}
                checker.after_patch(record_id, before, after, await agent.call("patchRecord_Tasks", arguments))
            elif choice == "delete" and checker.pool:
                ids = rng.sample(sorted(checker.pool), min(rng.choice(platform.delete_sizes), len(checker.pool)))
                checker.after_delete(ids, await agent.call("deleteRecords", {"table": "Tasks", "recordIds": ids}))
            else:
                choice = "create"
                rows = checker.new_rows(rng.choice(platform.batch_sizes))
                checker.after_create(rows, await agent.call("createRecords_Tasks", {"records": rows}))
            calls[choice] += 1
        injected = dict(platform.board.injected)
        decided = platform.board.decisions
        platform.board.disarm()
    checker.final_check()
    faults = sum(injected.values())
    print(
        f"\n[faults] {platform.name}: {sum(calls.values())} calls ({dict(calls)}), {decided} requests, "
        f"{faults} faults injected {injected}, {checker.checked} records checked, "
        f"{checker.open_outcomes} outcomes reported as unknown"
    )
    TOTALS.update({"calls": sum(calls.values()), "requests": decided, "faults": faults})
    TOTALS.update({"records checked": checker.checked, "unknown outcomes": checker.open_outcomes})
    TOTALS.update({f"fault {kind}": count for kind, count in injected.items()})
    assert faults > 0, "the switchboard injected nothing"


async def test_kintone_answers_stay_true_under_faults(kintone: Platform) -> None:
    await _run(kintone)


async def test_dingtalk_answers_stay_true_under_faults(dingtalk: Platform) -> None:
    await _run(dingtalk)


async def test_onnie_answers_stay_true_under_faults(onnie: Platform) -> None:
    await _run(onnie)


async def test_ozari_answers_stay_true_under_faults(ozari: Platform) -> None:
    await _run(ozari)


def test_zz_figures() -> None:
    """The totals of the runs above (last in the file, so `pytest -s` ends with them)."""
    print(f"\n[faults] total: {dict(TOTALS)}")
