"""The Kintone adapter's pages against the fake Kintone: seeking by `$id` past 500, offsets up to Kintone's cap and
cursors past it, stateless replicas that keep no cursor, and cursors that cannot be replayed or forged."""

from __future__ import annotations

from typing import Any

import pytest

import tests.fakes.kintone.query as fake_query
from tables_mcp.backends.kintone import CAPABILITIES, KintoneBackend
from tables_mcp.backends.kit.cursors import query_scope
from tables_mcp.errors import ErrorCode
from tables_mcp.model import ListQuery, Table
from tables_mcp.query import build_list_query
from tests.fakes.kintone import FakeKintone

from .kintone_setup import kintone as kintone
from .kintone_setup import logged, make, raises, tasks_table, v
from .kintone_setup import state as state
from .kintone_setup import url as url

pytestmark = pytest.mark.anyio


async def test_pages_seek_by_id_past_500_and_report_the_total(kintone: KintoneBackend, state: FakeKintone) -> None:
    table = await tasks_table(kintone)
    state.add_records(1, [{"title": v(f"t{i:04}"), "points": v(str(i % 100))} for i in range(1200)])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await kintone.list_records(table, ListQuery(limit=500, cursor=cursor, fields=("title",)))
        pages += 1
        if cursor is None:
            assert page.total_count == 1200
        seen += [record["id"] for record in page.records]
        assert all(set(record["fields"]) <= {"title"} for record in page.records)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [str(i) for i in range(1, 1201)] and pages == 3
    assert all("offset" not in r.query.get("query", "") for r in logged(state, "GET", "records"))


async def test_sorted_pages_switch_to_a_cursor_past_the_offset_cap(
    state: FakeKintone, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lower both caps so the cursor path runs on 1,300 records; the fake then refuses any offset > 600.
    monkeypatch.setattr(fake_query, "_MAX_OFFSET", 600)
    state.add_records(1, [{"title": v(f"t{i:04}"), "points": v(str((i * 37) % 100))} for i in range(1300)])
    backend = make(url, max_offset=600)
    await backend.open()
    table = await tasks_table(backend)
    args: dict[str, Any] = {"sort": [{"field": "points", "direction": "desc"}], "limit": 400}
    seen: list[tuple[int, int]] = []
    cursor = None
    for _ in range(10):
        page = await backend.list_records(table, build_list_query(table, CAPABILITIES, {**args, "cursor": cursor}))
        seen += [(record["fields"].get("points", 0), int(record["id"])) for record in page.records]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 1300 and len({record_id for _, record_id in seen}) == 1300
    assert seen == sorted(seen, key=lambda item: (-item[0], item[1]))
    assert len(logged(state, "POST", "records/cursor")) == 1
    assert state.cursors == {}  # read to its end: Kintone freed it
    await backend.aclose()


async def test_stateless_replicas_page_by_seek_and_hold_no_kintone_cursor(
    state: FakeKintone, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas behind a balancer, each page on the other one: what the README promises for --stateless."""
    monkeypatch.setattr(fake_query, "_MAX_OFFSET", 600)
    state.add_records(1, [{"title": v(f"t{i:04}"), "points": v(str((i * 37) % 100))} for i in range(1300)])
    replicas = [make(url, max_offset=600), make(url, max_offset=600)]
    for replica in replicas:
        replica.serve_replicated()
        await replica.open()
    table = await tasks_table(replicas[0])
    seen: list[str] = []
    cursor = None
    for page_number in range(10):
        query = build_list_query(table, CAPABILITIES, {"limit": 400, "cursor": cursor})
        page = await replicas[page_number % 2].list_records(table, query)
        seen += [record["id"] for record in page.records]
        if (cursor := page.next_cursor) is None:
            break
    assert seen == [str(i) for i in range(1, 1301)]  # unsorted: seek by $id, no limit, any replica

    args: dict[str, Any] = {"sort": [{"field": "points", "direction": "desc"}], "limit": 400}
    cursor, sorted_seen = None, 0
    for page_number in range(3):  # offset pages up to the cap, on alternating replicas
        query = build_list_query(table, CAPABILITIES, {**args, "cursor": cursor})
        page = await replicas[page_number % 2].list_records(table, query)
        sorted_seen += len(page.records)
        cursor = page.next_cursor
        if sorted_seen > 600:
            break
    assert sorted_seen == 800 and cursor is not None
    refused = await raises(
        replicas[0].list_records(table, build_list_query(table, CAPABILITIES, {**args, "cursor": cursor}))
    )
    assert refused.code is ErrorCode.INVALID_ARGUMENT and "--stateless" in refused.message
    [hint] = refused.field_errors
    assert hint.field == "cursor" and "without a sort" in hint.message
    assert logged(state, "POST", "records/cursor") == [] and state.cursors == {}
    for replica in replicas:
        await replica.aclose()


async def test_a_cursor_page_cannot_be_read_twice_or_with_another_query(
    state: FakeKintone, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_query, "_MAX_OFFSET", 100)
    state.add_records(1, [{"title": v(f"t{i}"), "price": v(str(i))} for i in range(500)])
    backend = make(url, max_offset=100)
    await backend.open()
    table = await tasks_table(backend)
    args: dict[str, Any] = {"sort": [{"field": "price"}], "limit": 100}
    cursors: list[str | None] = [None]
    prices: list[list[int]] = []
    for _ in range(4):
        query = build_list_query(table, CAPABILITIES, {**args, "cursor": cursors[-1]})
        page = await backend.list_records(table, query)
        prices.append([record["fields"].get("price", 0) for record in page.records])
        cursors.append(page.next_cursor)
    assert prices == [list(range(start, start + 100)) for start in (0, 100, 200, 300)]
    # The third page came from a Kintone cursor, which only reads forward.
    again = build_list_query(table, CAPABILITIES, {**args, "cursor": cursors[3]})
    assert (await raises(backend.list_records(table, again))).code is ErrorCode.INVALID_ARGUMENT
    other = build_list_query(table, CAPABILITIES, {"limit": 100, "cursor": cursors[4]})
    assert (await raises(backend.list_records(table, other))).code is ErrorCode.INVALID_ARGUMENT
    # Creating a Kintone cursor is a POST: a dropped connection is reported, not repeated.
    state.fail_next(1, "reset")
    fresh = build_list_query(table, CAPABILITIES, {**args, "cursor": cursors[2]})
    assert (await raises(backend.list_records(table, fresh))).code is ErrorCode.UNAVAILABLE
    page = await backend.list_records(table, fresh)
    assert [record["fields"]["price"] for record in page.records] == list(range(200, 300))
    assert len(logged(state, "POST", "records/cursor")) == 3  # the first, the reset one, the fresh one
    await refuses_forged_seek_positions(backend, state, table)
    await backend.aclose()
    assert state.cursors == {}  # closing deletes the cursors it still holds


async def refuses_forged_seek_positions(backend: KintoneBackend, state: FakeKintone, table: Table) -> None:
    """Seek positions go into Kintone's query text. The cursor key is not a secret, so these cursors carry a
    right envelope (scope and tag made with the backend's key): only the position check stands in the way."""
    plain = build_list_query(table, CAPABILITIES, {"limit": 100})
    scope = query_scope(table.id, plain)

    def seek_from(position: Any) -> ListQuery:
        cursor = backend._cursor_codec.encode(scope, {"m": "s", "a": position})
        return build_list_query(table, CAPABILITIES, {"limit": 100, "cursor": cursor})

    # The envelope is right: a genuine position pages on from there.
    page = await backend.list_records(table, seek_from("450"))
    assert [record["id"] for record in page.records] == [str(i) for i in range(451, 501)]
    state.clear_log()
    for position in ("1 or 1", "0) or ($id > 0", "450 order by $id desc", 450, None, "-1", "0"):
        error = await raises(backend.list_records(table, seek_from(position)))
        assert error.code is ErrorCode.INVALID_ARGUMENT and [fe.field for fe in error.field_errors] == ["cursor"]
    assert state.requests == [], "a forged position never reaches Kintone"
