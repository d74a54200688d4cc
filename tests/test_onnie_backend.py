"""The Onnie adapter against the fake Onnie over loopback HTTP, through a real in-memory MCP session.

Covers what an agent sees: tables from every page of GET /tables with all 15 column types, records
as Onnie has them (empty values left out), creates in requests of 100 with a partial failure reported
exactly (and a lost answer as "may have been written"), PATCH (never PUT), checked concurrent
deletes, the read-only key, 429 retried, filters and sorts answered exactly over a bounded scan or
refused, error bodies nested, flat or unreadable, and the settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from httpx import Headers

from tables_mcp.backends.kit.cursors import query_scope
from tables_mcp.backends.kit.record_filter import matches, sort_records
from tables_mcp.backends.onnie import ADAPTER, OnnieBackend
from tables_mcp.backends.onnie.columns import column_from_json
from tables_mcp.backends.onnie.errors import map_onnie_error
from tables_mcp.errors import ConfigError, ErrorCode, TablesError
from tables_mcp.http import ErrorResponse
from tables_mcp.model import Column, ColumnType, Condition, ListQuery, SortKey
from tables_mcp.tools import ToolOptions

from .conftest import FAST_RETRY, Agent, open_agent
from .fakes.onnie import BASE_PATH, FakeOnnie, serve_fake_onnie
from .fakes.onnie.sample import PROJECT_COLUMNS, SAMPLE_FILE, TASK_COLUMNS

pytestmark = pytest.mark.anyio

# Retry-After up to 2 s is slept through here (the fake sends 1 s), longer ones go back to the agent.
ONNIE_RETRY = replace(FAST_RETRY, max_retry_after=2.0)
TASKS = "Tasks"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeOnnie, str]]:
    state = FakeOnnie()
    with serve_fake_onnie(state) as url:
        yield state, url


@pytest.fixture
def fake(served: tuple[FakeOnnie, str]) -> FakeOnnie:
    state = served[0]
    state.reset()
    state.add_table("Projects", PROJECT_COLUMNS)
    state.add_table(TASKS, TASK_COLUMNS)
    return state


@pytest.fixture
def url(served: tuple[FakeOnnie, str]) -> str:
    return served[1]


@asynccontextmanager
async def agent_for(key: str, url: str, **options: Any) -> AsyncIterator[Agent]:
    backend = OnnieBackend(key, url, retry=ONNIE_RETRY, **options)
    await backend.open()
    try:
        async for agent in open_agent(backend, ToolOptions()):
            yield agent
    finally:
        await backend.aclose()


def calls(fake: FakeOnnie, method: str | None = None) -> list[tuple[str, str, int | None]]:
    """(method, path after the base path, status) of each logged request."""
    return [
        (r.method, r.path.removeprefix(BASE_PATH), r.status)
        for r in list(fake.requests)
        if method is None or r.method == method
    ]


async def titles(agent: Agent, **arguments: Any) -> list[str]:
    out: list[str] = []
    cursor = None
    for _ in range(200):
        page = await agent.ok("listRecords", {"table": TASKS, **arguments, **({"cursor": cursor} if cursor else {})})
        out += [record["fields"].get("Title") for record in page["records"]]
        cursor = page["nextCursor"]
        if cursor is None:
            return out
    raise AssertionError("paging did not end")


# -- tables and columns ---------------------------------------------------------------------------------


async def test_every_page_of_tables_and_all_15_column_types(fake: FakeOnnie, url: str) -> None:
    for i in range(101):  # two pages of GET /tables (the adapter asks for 100 at a time)
        fake.add_table(f"Extra {i:03}", [{"name": "Name", "type": "TEXT"}])
    async with agent_for(fake.add_key(), url) as agent:
        tables = (await agent.ok("listTables"))["tables"]
        described = await agent.ok("describeTable", {"table": TASKS})
    assert len(tables) == 103 and [t["name"] for t in tables[:2]] == ["Projects", TASKS]
    assert [path for method, path, _ in calls(fake) if path == "/tables"] == ["/tables", "/tables"]
    columns = {col["name"]: col for col in described["table"]["columns"]}
    assert {col["nativeType"] for col in columns.values()} == {
        "TEXT", "LONGTEXT", "EMAIL", "PHONE", "URL", "NUMBER", "BOOLEAN", "DATETIME", "SELECT", "MULTISELECT",
        "REFERENCE", "FILE", "FORMULA", "AI", "SERIAL",
    }  # fmt: skip
    kinds = {name: (col["type"], col["readOnly"], col["required"]) for name, col in columns.items()}
    assert kinds["Title"] == ("TEXT", False, True)
    # Status is required in Onnie but has a default that Onnie fills in: a create may leave it out.
    assert kinds["Status"] == ("SELECT", False, False) and 'Default "Todo"' in columns["Status"]["description"]
    assert {name for name, (_, read_only, _) in kinds.items() if read_only} == {"Cost", "Attachments", "Summary", "No"}
    assert (kinds["Cost"][0], kinds["Summary"][0], kinds["No"][0], kinds["Attachments"][0]) == (
        "FORMULA",
        "AI",
        "SERIAL",
        "FILE",
    )
    assert columns["Tags"]["options"] == ["bug", "feature", "docs"]
    assert columns["Project"]["referenceTable"] == tables[0]["id"] and "multiple" not in columns["Project"]
    assert columns["Blocked by"]["multiple"] is True
    create = described["createSchema"]
    assert create["required"] == ["Title"]
    assert not {"Cost", "Attachments", "Summary", "No"} & set(create["properties"])
    assert create["properties"]["Status"] == {
        "enum": ["Todo", "Doing", "Done"],
        "description": columns["Status"]["description"],
    }
    assert any("filters and sorts Onnie records itself" in note for note in described["notes"])


def test_a_column_type_tables_mcp_does_not_know_is_kept_read_only() -> None:
    column = column_from_json({"name": "Rating", "type": "STARS", "required": True, "settings": None})
    assert (column.type, column.native_type, column.read_only, column.required) == (
        ColumnType.UNKNOWN,
        "STARS",
        True,
        False,
    )
    assert "STARS" in (column.description or "")


# -- records ----------------------------------------------------------------------------------------------


async def test_records_come_as_onnie_has_them_with_empty_values_left_out(fake: FakeOnnie, url: str) -> None:
    [project] = fake.add_records("Projects", [{"Name": "Apollo"}])
    [first] = fake.add_records(
        TASKS,
        [{"Title": "spec", "Estimate": 8, "Rate": 90, "Due": "2026-05-01T18:00:00+09:00", "Project": project,
          "Attachments": [SAMPLE_FILE], "Notes": ""}],
    )  # fmt: skip
    async with agent_for(fake.add_key(), url) as agent:
        record = (await agent.ok("getRecord", {"table": TASKS, "recordId": first}))["record"]
    raw = fake.record(TASKS, first)
    assert record["id"] == first and (record["created_at"], record["updated_at"]) == (
        raw["created_at"],
        raw["updated_at"],
    )
    assert record["fields"] == {
        "Title": "spec",
        "Status": "Todo",  # Onnie's default
        "Estimate": 8,
        "Rate": 90,
        "Cost": 720,
        "Due": "2026-05-01T09:00:00Z",
        "Project": project,
        "Attachments": [SAMPLE_FILE],
        "Summary": "A sample summary.",  # the fake's AI answer
        "No": 1,
    }
    assert "Notes" not in record["fields"] and "Done" not in record["fields"], "empty values are left out"


async def test_a_create_is_sent_100_per_request_and_a_partial_failure_is_exact(fake: FakeOnnie, url: str) -> None:
    rows = [{"Title": f"row {i:03}", "Estimate": i} for i in range(250)]
    rows[150]["Link"] = "ftp://files.example.com/x"  # a URI, so the schema lets it through; Onnie refuses it
    async with agent_for(fake.add_key(), url) as agent:
        fake.clear_log()
        result = await agent.call("createRecords_Tasks", {"records": rows})
    assert result.isError and result.structuredContent is not None
    payload = result.structuredContent
    assert payload["error"]["code"] == "invalid_argument" and "Wrote 150 of 250" in payload["error"]["message"]
    assert payload["error"]["fieldErrors"] == [
        {"field": "Link", "message": "Invalid URL (expected http:// or https://)", "record": 150}
    ]
    posts = [r for r in fake.requests if r.method == "POST"]
    assert sorted(len(r.body["records"]) for r in posts) == [50, 100, 100]
    assert sorted(r.status or 0 for r in posts) == [201, 201, 400]
    written = payload["written"]
    assert [rec["fields"]["Title"] for rec in written] == [f"row {i:03}" for i in [*range(100), *range(200, 250)]]
    assert [item["index"] for item in payload["failed"]] == list(range(100, 200))
    assert "unchanged" in payload["failed"][0]["error"]["message"], "the others of the request can be sent again"
    stored = fake.records(TASKS)
    assert sorted(rec["id"] for rec in stored) == sorted(rec["id"] for rec in written), "written is what Onnie holds"


async def test_a_create_whose_answer_is_lost_is_reported_as_maybe_written(fake: FakeOnnie, url: str) -> None:
    async with agent_for(fake.add_key(), url) as agent:
        fake.lose_answer_next(1, method="POST", path="/tables/*/records")
        result = await agent.call("createRecords_Tasks", {"records": [{"Title": "lost"}]})
    assert result.isError and result.structuredContent is not None
    [failed] = result.structuredContent["failed"]
    assert failed["index"] == 0 and failed["error"]["mayHaveBeenWritten"] is True
    assert failed["error"]["retryable"] is False, "never sent again blindly"
    assert [rec["fields"]["Title"] for rec in fake.records(TASKS)] == ["lost"], "it was written, once"
    assert len(calls(fake, "POST")) == 1


async def test_patch_merges_with_patch_never_put(fake: FakeOnnie, url: str) -> None:
    [record_id] = fake.add_records(TASKS, [{"Title": "a", "Estimate": 2, "Tags": ["bug"]}])
    async with agent_for(fake.add_key(), url) as agent:
        fake.clear_log()
        change = {"Estimate": 3, "Tags": [], "Due": "2026-03-01T10:15:00+09:00"}
        patched = await agent.ok("patchRecord", {"table": TASKS, "recordId": record_id, "fields": change})
    assert [method for method, _, _ in calls(fake)] == ["PATCH"]
    assert fake.requests[0].body == {"fields": {"Estimate": 3, "Tags": None, "Due": "2026-03-01T01:15:00Z"}}
    fields = patched["record"]["fields"]
    assert (fields["Title"], fields["Estimate"], fields["Due"]) == ("a", 3, "2026-03-01T01:15:00Z")
    assert "Tags" not in fields


async def test_references_take_one_id_or_a_list_as_the_column_allows(fake: FakeOnnie, url: str) -> None:
    [project] = fake.add_records("Projects", [{"Name": "Apollo"}])
    [blocker] = fake.add_records(TASKS, [{"Title": "first"}])
    async with agent_for(fake.add_key(), url) as agent:
        [made] = (
            await agent.ok(
                "createRecords_Tasks", {"records": [{"Title": "second", "Project": project, "Blocked by": blocker}]}
            )
        )["records"]
        assert (made["fields"]["Project"], made["fields"]["Blocked by"]) == (project, [blocker])
        fake.clear_log()
        error = await agent.error("createRecords_Tasks", {"records": [{"Title": "x", "Project": [project, blocker]}]})
    assert error["code"] == "invalid_argument" and error["fieldErrors"][0]["field"] == "Project"
    assert "one record id" in error["fieldErrors"][0]["message"]
    assert calls(fake) == [], "refused before any request"


async def test_deletes_check_every_id_then_delete_each_and_report_each_outcome(fake: FakeOnnie, url: str) -> None:
    ids = fake.add_records(TASKS, [{"Title": f"d{i}"} for i in range(6)])
    async with agent_for(fake.add_key(), url) as agent:
        error = await agent.error("deleteRecords", {"table": TASKS, "recordIds": [ids[0], "not-a-uuid"]})
        assert error["code"] == "not_found" and "not-a-uuid" in error["message"]
        assert len(fake.records(TASKS)) == 6, "nothing was deleted"

        assert await agent.ok("deleteRecords", {"table": TASKS, "recordIds": ids[:2]}) == {"deleted": ids[:2]}
        assert [m for m, _, _ in calls(fake, "DELETE")] == ["DELETE", "DELETE"]

        fake.fail_next(1, 500, method="DELETE")  # an outage: no new delete starts after it
        fake.clear_log()
        failure = await agent.error("deleteRecords", {"table": TASKS, "recordIds": ids[2:]})
    left = {rec["id"] for rec in fake.records(TASKS)}
    deleted = [record_id for record_id in ids[2:] if record_id not in left]
    kept = [record_id for record_id in ids[2:] if record_id in left]
    assert failure["code"] == "unavailable" and kept
    assert f"Deleted {len(deleted)} of 4 records" in failure["message"]
    assert f"not deleted: {', '.join(kept)}" in failure["message"]
    named = {fe["field"]: fe["message"] for fe in failure["fieldErrors"]}
    assert sorted(named) == sorted(f"recordIds[{ids[2:].index(record_id)}]" for record_id in kept)
    assert all(message.split()[0] in kept for message in named.values())


# -- the read-only key, 429, errors ------------------------------------------------------------------------


async def test_a_read_only_key_reads_and_gets_permission_denied_naming_tables_write(fake: FakeOnnie, url: str) -> None:
    [record_id] = fake.add_records(TASKS, [{"Title": "keep"}])
    key = fake.add_key({"tables:read"})
    backend = OnnieBackend(key, url, retry=ONNIE_RETRY)
    await backend.open()
    try:
        assert await backend.can_write() is False
        async for agent in open_agent(backend, ToolOptions()):
            assert (await agent.ok("getRecord", {"table": TASKS, "recordId": record_id}))["record"]["id"] == record_id
            for tool, arguments in [
                ("createRecords_Tasks", {"records": [{"Title": f"n{i}"} for i in range(250)]}),
                ("patchRecord", {"table": TASKS, "recordId": record_id, "fields": {"Title": "changed"}}),
                ("deleteRecords", {"table": TASKS, "recordIds": [record_id]}),
            ]:
                result = await agent.call(tool, arguments)
                assert result.isError and result.structuredContent is not None
                error = result.structuredContent["error"]
                assert error["code"] == "permission_denied", (tool, error)
                assert "tables:write" in error["message"] and "tables:write" in error["hint"], (tool, error)
                assert "written" not in result.structuredContent, "nothing was written: no per-record list"
    finally:
        await backend.aclose()
    assert [rec["fields"]["Title"] for rec in fake.records(TASKS)] == ["keep"]


async def test_can_write_is_true_for_a_read_write_key_and_writes_nothing(fake: FakeOnnie, url: str) -> None:
    backend = OnnieBackend(fake.add_key(), url, retry=ONNIE_RETRY)
    await backend.open()
    try:
        assert await backend.can_write() is True
    finally:
        await backend.aclose()
    assert fake.records(TASKS) == [] and fake.records("Projects") == []


async def test_a_429_is_retried_transparently_even_for_a_create(fake: FakeOnnie, url: str) -> None:
    [record_id] = fake.add_records(TASKS, [{"Title": "first"}])
    async with agent_for(fake.add_key(), url) as agent:
        fake.clear_log()
        fake.fail_next(1, 429, retry_after=1)
        got = await agent.ok("getRecord", {"table": TASKS, "recordId": record_id})
        assert got["record"]["fields"]["Title"] == "first"
        assert [status for _, _, status in calls(fake)] == [429, 200]
        fake.clear_log()
        fake.fail_next(1, 429)  # no Retry-After: the http layer's own backoff
        await agent.ok("createRecords_Tasks", {"records": [{"Title": "second"}]})
        assert [status for _, _, status in calls(fake)] == [429, 201]
        fake.fail_next(5, 429)
        error = await agent.error("getRecord", {"table": TASKS, "recordId": record_id})
    assert error["code"] == "rate_limited" and error["retryable"] is True and error["retryAfter"] > 0
    assert "token bucket" in error["hint"]
    assert sorted(rec["fields"]["Title"] for rec in fake.records(TASKS)) == ["first", "second"], "written once"


@pytest.mark.parametrize("layout", ["nested", "flat"])
async def test_field_errors_come_on_the_agents_column_names_in_either_layout(
    fake: FakeOnnie, url: str, layout: str
) -> None:
    fake.error_layout = layout  # type: ignore[assignment]
    async with agent_for(fake.add_key(), url) as agent:
        error = await agent.error(
            "createRecords", {"table": TASKS, "records": [{"Title": "ok"}, {"Title": "bad", "Link": "ftp://x.y"}]}
        )
    assert error["code"] == "invalid_argument" and error["backendCode"] == "bad_request"
    assert error["fieldErrors"] == [
        {"field": "Link", "message": "Invalid URL (expected http:// or https://)", "record": 1}
    ]
    assert "Validation failed" in error["message"]


async def test_a_bad_key_is_unauthenticated_and_never_echoed(fake: FakeOnnie, url: str) -> None:
    wrong = "onn_live_" + "ab" * 24
    backend = OnnieBackend(wrong, url, retry=ONNIE_RETRY)
    with pytest.raises(TablesError) as raised:
        await backend.open()
    await backend.aclose()
    error = raised.value
    assert error.code is ErrorCode.UNAUTHENTICATED and "ONNIE_API_KEY" in (error.hint or "")
    assert wrong not in error.to_text() and wrong not in str(error.to_payload())


async def test_unreadable_bodies_still_say_the_http_status(fake: FakeOnnie, url: str) -> None:
    [record_id] = fake.add_records(TASKS, [{"Title": "x"}])
    async with agent_for(fake.add_key(), url) as agent:
        fake.malformed_next(3, kind="not_json", status=502, method="GET")
        proxy = await agent.error("getRecord", {"table": TASKS, "recordId": record_id})
        fake.malformed_next(3, kind="truncated", status=200, method="GET")  # a spoilt read is asked again
        truncated = await agent.error("getRecord", {"table": TASKS, "recordId": record_id})
        fake.malformed_next(1, kind="not_json", status=400, method="GET")
        refused = await agent.error("getRecord", {"table": TASKS, "recordId": record_id})
    assert proxy["code"] == "unavailable" and "HTTP 502" in proxy["message"]
    assert truncated["code"] == "backend_error" and "HTTP 200" in truncated["message"]
    assert refused["code"] == "invalid_argument" and "HTTP 400" in refused["message"]


async def test_unknown_ids_are_not_found(fake: FakeOnnie, url: str) -> None:
    [record_id] = fake.add_records(TASKS, [{"Title": "x"}])
    async with agent_for(fake.add_key(), url) as agent:
        fake.clear_log()
        for unknown in ("abc", "../../tables", "999999"):
            error = await agent.error("getRecord", {"table": TASKS, "recordId": unknown})
            assert error["code"] == "not_found" and unknown in error["message"]
        assert calls(fake) == [], "an id that is no UUID never reaches a URL"
        gone = "00000000-0000-4000-8000-000000000000"
        for tool, arguments in [
            ("getRecord", {"table": TASKS, "recordId": gone}),
            ("patchRecord", {"table": TASKS, "recordId": gone, "fields": {"Title": "y"}}),
        ]:
            error = await agent.error(tool, arguments)
            assert error["code"] == "not_found" and gone in error["message"] and "'Tasks'" in error["message"]
    assert fake.record(TASKS, record_id)["fields"]["Title"] == "x"


# -- filters and sorts: exact, bounded, or refused ------------------------------------------------------------


async def test_filters_are_answered_exactly_over_a_bounded_scan(fake: FakeOnnie, url: str) -> None:
    rows = [{"Title": f"t{i:03}", "Estimate": i, "Tags": ["bug"] if i % 50 == 7 else []} for i in range(250)]
    fake.add_records(TASKS, rows)
    wanted = [row["Title"] for row in rows if row["Tags"]]
    async with agent_for(fake.add_key(), url, max_scan=100) as agent:
        fake.clear_log()
        where = {"field": "Tags", "op": "contains", "value": "bug"}
        pages = []
        cursor = None
        while True:
            page = await agent.ok(
                "listRecords", {"table": TASKS, "filter": where, "limit": 2, **({"cursor": cursor} if cursor else {})}
            )
            pages.append([record["fields"]["Title"] for record in page["records"]])
            cursor = page["nextCursor"]
            if cursor is None:
                break
    assert [title for page in pages for title in page] == wanted, "every match once, nothing else"
    assert all(len(page) <= 2 for page in pages)
    gets = [r for r in fake.requests if r.method == "GET"]
    assert all("filter" not in r.query and "sort" not in r.query for r in gets), "Onnie's syntax is never guessed"
    assert all(r.query.get("limit") == "100" for r in gets)


async def test_a_sort_over_more_than_the_scan_bound_is_refused(fake: FakeOnnie, url: str) -> None:
    fake.add_records(TASKS, [{"Title": f"t{i:03}", "Estimate": i % 7} for i in range(250)])
    async with agent_for(fake.add_key(), url, max_scan=200) as agent:
        error = await agent.error("listRecords", {"table": TASKS, "sort": [{"field": "Estimate"}]})
        assert error["code"] == "invalid_argument" and "200" in error["message"]
        assert [fe["field"] for fe in error["fieldErrors"]] == ["sort"]
        unsorted = await titles(agent, limit=500)
    assert unsorted == [f"t{i:03}" for i in range(250)], "without sort the same table lists whole"
    async with agent_for(fake.add_key(), url, max_scan=1000) as agent:
        ordered = await titles(agent, sort=[{"field": "Estimate", "direction": "desc"}, {"field": "Title"}], limit=90)
    expected = sorted((f"t{i:03}" for i in range(250)), key=lambda title: (-(int(title[1:]) % 7), title))
    assert ordered == expected


async def test_filtered_pages_resume_inside_an_onnie_page_even_after_deletes(fake: FakeOnnie, url: str) -> None:
    ids = fake.add_records(TASKS, [{"Title": f"t{i:02}", "Status": "Done" if i % 2 else "Todo"} for i in range(40)])
    where = {"field": "Status", "op": "eq", "value": "Done"}

    async def pages(agent: Agent, delete_each: bool) -> list[list[str]]:
        out: list[list[str]] = []
        cursor = None
        while True:
            args = {"table": TASKS, "filter": where, "limit": 5, **({"cursor": cursor} if cursor else {})}
            page = await agent.ok("listRecords", args)
            out.append([record["id"] for record in page["records"]])
            if delete_each and out[-1]:  # the usual "delete what was listed, then go on" loop
                await agent.ok("deleteRecords", {"table": TASKS, "recordIds": out[-1]})
            cursor = page["nextCursor"]
            if cursor is None:
                return out

    async with agent_for(fake.add_key(), url) as agent:
        read_only = await pages(agent, delete_each=False)  # every page of 5 ends inside one Onnie page of 40
        deleting = await pages(agent, delete_each=True)
    assert [len(page) for page in read_only] == [5, 5, 5, 5] and sum(read_only, []) == ids[1::2]
    assert sum(deleting, []) == ids[1::2]
    assert [rec["fields"]["Status"] for rec in fake.records(TASKS)] == ["Todo"] * 20


async def test_a_position_onnie_no_longer_accepts_asks_to_start_again(fake: FakeOnnie, url: str) -> None:
    fake.add_records(TASKS, [{"Title": f"t{i}"} for i in range(5)])
    backend = OnnieBackend(fake.add_key(), url, retry=ONNIE_RETRY)
    await backend.open()
    try:
        [table] = [t for t in await backend.list_tables() if t.name == TASKS]
        query = ListQuery(limit=2)
        # A cursor of ours holding an Onnie position Onnie refuses (400 "Invalid cursor"), as an expired one would.
        stale = backend._pager.codec.encode(query_scope(table.id, query), {"m": "p", "c": "expired"})
        with pytest.raises(TablesError) as raised:
            await backend.list_records(table, replace(query, cursor=stale))
    finally:
        await backend.aclose()
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT
    assert [fe.field for fe in raised.value.field_errors] == ["cursor"]
    assert "Invalid cursor" in raised.value.message and "without a cursor" in raised.value.field_errors[0].message


# -- settings -------------------------------------------------------------------------------------------------


def test_settings_from_the_environment() -> None:
    key = "onn_live_" + "0f" * 24
    backend = ADAPTER.open({"ONNIE_API_KEY": key}, "")
    assert isinstance(backend, OnnieBackend) and backend.base_url == "https://api.onnie.ai/api/public/v1"
    local = ADAPTER.open({"ONNIE_API_KEY": key, "ONNIE_BASE_URL": "http://127.0.0.1:8082/api/public/v1/"}, "")
    assert isinstance(local, OnnieBackend) and local.base_url == "http://127.0.0.1:8082/api/public/v1"
    for environ, words in [
        ({}, "ONNIE_API_KEY is required"),
        ({"ONNIE_API_KEY": f"Bearer {key}"}, "without the 'Bearer ' prefix"),
        ({"ONNIE_API_KEY": "sk_live_123456"}, "start with onn_live_"),
        ({"ONNIE_API_KEY": key, "ONNIE_BASE_URL": "api.onnie.ai"}, "ONNIE_BASE_URL"),
        ({"ONNIE_API_KEY": key, "ONNIE_APIKEY": key}, "unknown environment variable ONNIE_APIKEY"),
    ]:
        with pytest.raises(ConfigError) as raised:
            ADAPTER.open(environ, "")
        assert words in str(raised.value), (environ, raised.value)
        assert key not in str(raised.value)


# -- the filter semantics Onnie relies on (kit.record_filter) --------------------------------------------------


def test_filters_and_sorts_evaluated_by_tables_mcp_keep_the_stores_semantics() -> None:
    number = Column(name="N", type=ColumnType.NUMBER, native_type="NUMBER")
    when = Column(name="W", type=ColumnType.DATETIME, native_type="DATETIME")
    text = Column(name="T", type=ColumnType.TEXT, native_type="TEXT")
    tags = Column(name="G", type=ColumnType.MULTISELECT, native_type="MULTISELECT", options=("a", "b"))
    formula = Column(name="F", type=ColumnType.FORMULA, native_type="FORMULA")
    rows: list[dict[str, Any]] = [
        {"N": 0, "W": "2026-03-01T10:15:00+09:00", "T": "Login page", "G": ["a"], "F": 1},
        {"N": 1.5, "W": "2026-03-01T01:16:00.000Z", "T": "", "G": [], "F": True},
        {"T": "docs", "F": "1"},
    ]

    def selected(cond: Condition) -> list[int]:
        return [i for i, row in enumerate(rows) if matches(cond, row)]

    assert selected(Condition(number, "eq", 0)) == [0] and selected(Condition(number, "isEmpty")) == [2]
    assert selected(Condition(number, "ne", 0)) == [1, 2], "ne also selects empty values"
    assert selected(Condition(when, "eq", "2026-03-01T01:15:00Z")) == [0], "moments, not text"
    assert selected(Condition(when, "gt", "2026-03-01T02:15:00+01:00")) == [1]
    assert selected(Condition(text, "contains", "LOGIN")) == [0] and selected(Condition(text, "isEmpty")) == [1]
    assert selected(Condition(tags, "in", ["b", "a"])) == [0] and selected(Condition(tags, "isEmpty")) == [1, 2]
    assert selected(Condition(formula, "eq", 1)) == [0], "a boolean is no number and text is no number"
    records = [{"id": str(i), "fields": row} for i, row in enumerate(rows)]
    up = sort_records(records, [SortKey(number)])
    down = sort_records(records, [SortKey(number, descending=True)])
    assert [r["id"] for r in up] == ["2", "0", "1"] and [r["id"] for r in down] == ["1", "0", "2"]
    assert [r["id"] for r in sort_records(records, [SortKey(tags)])] == ["1", "2", "0"], "ties keep their order"


@pytest.mark.parametrize(
    ("status", "body", "code", "fields"),
    [
        (400, {"error": {"code": "bad_request", "message": "Validation failed", "details": {"fields": {"A": "x"}}}},
         ErrorCode.INVALID_ARGUMENT, [("A", "x", None)]),
        (400, {"code": "bad_request", "message": "Invalid", "details": {"fields": {"B": ["y", "z"]}, "index": 3}},
         ErrorCode.INVALID_ARGUMENT, [("B", "y; z", 3)]),
        (400, {"error": {"code": "bad_request", "details": {"fields": [{"field": "C", "message": "w"}]}}},
         ErrorCode.INVALID_ARGUMENT, [("C", "w", None)]),
        (429, {"error": "rate_limited", "message": "Token bucket exhausted."}, ErrorCode.RATE_LIMITED, []),
        (403, {"error": {"code": "forbidden", "message": "Missing scope"}}, ErrorCode.PERMISSION_DENIED, []),
        (418, {"error": {"code": "teapot", "message": "?"}}, ErrorCode.INVALID_ARGUMENT, []),
        (503, "<html>Bad Gateway</html>", ErrorCode.UNAVAILABLE, []),
        (429, None, ErrorCode.RATE_LIMITED, []),
    ],
)  # fmt: skip
def test_error_bodies_nested_flat_or_unreadable(
    status: int, body: Any, code: ErrorCode, fields: list[tuple[str, str, int | None]]
) -> None:
    text = body if isinstance(body, str) else ""
    error = map_onnie_error(ErrorResponse(status, None if isinstance(body, str) else body, text, Headers(), None))
    assert error.code is code and error.status == status
    assert [(fe.field, fe.message, fe.record) for fe in error.field_errors] == fields
    if code is ErrorCode.RATE_LIMITED:
        assert error.retry_after == 1.0, "a short wait for the agent when Onnie sends no Retry-After"
    if not isinstance(body, dict):
        assert f"HTTP {status}" in error.message
