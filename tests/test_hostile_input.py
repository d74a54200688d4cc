"""Hostile input, through a real MCP session: edge date-times, arguments past the documented bounds, text that
is not Unicode, a platform that echoes its credential as a field name, and two writers racing on one store.

Each test reproduces a defect of issue 14 as an agent would meet it. Date-times and bounds run against every
backend (the contract's Tasks table, tests/contract_backends.py); the store's races run two stores on one
SQLite file and on one PostgreSQL schema, released together by a barrier.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from tables_mcp.backends.base import Backend
from tables_mcp.backends.store import open_store
from tables_mcp.backends.store.sqlite import SqliteStore
from tables_mcp.errors import ErrorCode, FieldError, TablesError
from tables_mcp.http import HttpClient, HttpSettings
from tables_mcp.model import ColumnType
from tables_mcp.schema import (
    MAX_FIELDS,
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_TEXT,
    MAX_FILTER_VALUES,
    MAX_SORT_KEYS,
)
from tables_mcp.tools import Catalogue, ToolOptions

from .conftest import Agent, open_agent
from .contract_backends import Subject, check_error, cond, ours, problems, target_fixtures
from .contract_backends import contract_target as contract_target
from .contract_backends import subject as subject

globals().update(target_fixtures())

pytestmark = pytest.mark.anyio

# Date-times RFC 3339 (and so the `date-time` format) accepts that leave the years 1 to 9999 once in UTC.
OUT_OF_RANGE_DATETIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0000-06-01T00:00:00Z"]
LEAP_SECOND = "2016-12-31T23:59:60Z"
YEAR_RULE = "0001 to 9999"


def comparable(subject: Subject, kind: ColumnType) -> bool:
    """Whether the backend compares columns of this type (DingTalk only tests date-times for emptiness)."""
    return "lt" in subject.capabilities.operators.get(kind, ())


def value_problem(error: dict[str, Any], field: str, record: int | None = None) -> str:
    check_error(error, "invalid_argument")
    found = problems(error)
    assert (record, field) in found, found
    message: str = found[(record, field)]["message"]
    return message


# -- 1. date-times, dates and times at the edges ------------------------------------------------------------


async def test_a_date_time_outside_the_years_is_invalid_in_filters_and_writes_before_any_call(
    subject: Subject,
) -> None:
    subject.need("Started")
    [record] = (await subject.agent.ok("createRecords_Tasks", {"records": [{"Title": "edge"}]}))["records"]
    subject.forget_calls()
    for value in OUT_OF_RANGE_DATETIMES:
        if comparable(subject, ColumnType.DATETIME):
            for op in ("gt", "lt", "eq"):
                filtered = {"table": "Tasks", "filter": cond("Started", op, value)}
                assert YEAR_RULE in value_problem(await subject.agent.error("listRecords", filtered), "filter.value")
            both = {"or": [cond("Started", "gt", "2026-01-01T00:00:00Z"), cond("Started", "lt", value)]}
            error = await subject.agent.error("listRecords", {"table": "Tasks", "filter": both})
            assert YEAR_RULE in value_problem(error, "filter.or[1].value")
        rows = [{"Title": "fine"}, {"Title": "edge", "Started": value}]
        for tool, args in (
            ("createRecords_Tasks", {"records": rows}),
            ("createRecords", {"table": "Tasks", "records": rows}),
        ):
            assert YEAR_RULE in value_problem(await subject.agent.error(tool, args), "Started", record=1)
        if subject.capabilities.patch:
            patch = {"table": "Tasks", "recordId": record["id"], "fields": {"Started": value}}
            assert YEAR_RULE in value_problem(await subject.agent.error("patchRecord", patch), "Started")
    assert subject.backend.calls == [] and subject.network_requests() == 0


async def test_a_leap_second_is_read_as_the_59th_second_in_filters_and_writes(subject: Subject) -> None:
    subject.need("Started")
    [written] = (
        await subject.agent.ok("createRecords_Tasks", {"records": [{"Title": "leap", "Started": LEAP_SECOND}]})
    )["records"]
    # Platforms that keep minutes keep 23:59; none moves the moment into the next day or year.
    assert written["fields"]["Started"].startswith("2016-12-31T23:59"), written
    if not comparable(subject, ColumnType.DATETIME):
        return
    listed = await subject.agent.ok(
        "listRecords", {"table": "Tasks", "filter": cond("Started", "lte", "2017-01-01T08:59:60+09:00")}
    )
    assert [ours(r)["Title"] for r in listed["records"]] == ["leap"]
    later = await subject.agent.ok("listRecords", {"table": "Tasks", "filter": cond("Started", "gt", LEAP_SECOND)})
    assert later["records"] == []
    # :60 is a leap second only at 23:59 UTC, as RFC 3339 says.
    error = await subject.agent.error(
        "listRecords", {"table": "Tasks", "filter": cond("Started", "gt", "2016-12-31T23:59:60+09:00")}
    )
    value_problem(error, "filter.value")


async def test_dates_and_times_at_the_edges(subject: Subject) -> None:
    subject.need("Due")
    if comparable(subject, ColumnType.DATE):
        error = await subject.agent.error("listRecords", {"table": "Tasks", "filter": cond("Due", "gt", "0000-01-01")})
        assert YEAR_RULE in value_problem(error, "filter.value")
    error = await subject.agent.error("createRecords_Tasks", {"records": [{"Title": "y0", "Due": "0000-12-31"}]})
    assert YEAR_RULE in value_problem(error, "Due", record=0)
    edges = [{"Title": "first", "Due": "0001-01-01"}, {"Title": "last", "Due": "9999-12-31"}]
    if subject.has("At"):
        edges[0]["At"], edges[1]["At"] = "00:00", "23:59:59"
    created = (await subject.agent.ok("createRecords_Tasks", {"records": edges}))["records"]
    assert [ours(r)["Due"] for r in created] == ["0001-01-01", "9999-12-31"]
    if not comparable(subject, ColumnType.DATE):
        return
    for op, value, due in (("lt", "0001-01-02", "0001-01-01"), ("gt", "9999-12-30", "9999-12-31")):
        listed = await subject.agent.ok("listRecords", {"table": "Tasks", "filter": cond("Due", op, value)})
        assert [ours(r)["Due"] for r in listed["records"]] == [due]


# -- 2. bounds on listRecords, the same on every backend -----------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = cond("Title", "eq", "x")
    for _ in range(depth):
        node = {"and": [node]}
    return node


OVER_THE_BOUNDS: list[tuple[str, dict[str, Any], str, str]] = [
    ("contains", {"filter": cond("Title", "contains", "x" * 60_000)}, "filter.value", f"{MAX_FILTER_TEXT:,}"),
    ("eq text", {"filter": cond("Title", "eq", "x" * (MAX_FILTER_TEXT + 1))}, "filter.value", f"{MAX_FILTER_TEXT:,}"),
    ("sort keys", {"sort": [{"field": "Title"}] * 2001}, "sort", str(MAX_SORT_KEYS)),
    ("fields", {"fields": [f"c{i}" for i in range(MAX_FIELDS + 1)]}, "fields", str(MAX_FIELDS)),
    (
        "wide group",
        {"filter": {"or": [cond("Title", "eq", str(i)) for i in range(5000)]}},
        "filter.or",
        str(MAX_FILTER_CONDITIONS),
    ),
    ("deep", {"filter": nested(MAX_FILTER_DEPTH + 1)}, "filter" + ".and[0]" * MAX_FILTER_DEPTH, str(MAX_FILTER_DEPTH)),
    (
        "in values",
        {"filter": cond("Title", "in", [str(i) for i in range(MAX_FILTER_VALUES + 1)])},
        "filter",
        f"{MAX_FILTER_VALUES:,}",
    ),
    (
        "values in all",
        {"filter": {"or": [cond("Title", "in", [f"{j}-{i}" for i in range(20)]) for j in range(60)]}},
        "filter",
        f"{MAX_FILTER_VALUES:,}",
    ),
]


async def test_list_arguments_past_their_bound_are_invalid_before_any_backend_call(subject: Subject) -> None:
    subject.forget_calls()
    for case, args, field, bound in OVER_THE_BOUNDS:
        error = await subject.agent.error("listRecords", {"table": "Tasks", **args})
        check_error(error, "invalid_argument")
        found = problems(error)
        assert (None, field) in found, (case, found)
        assert bound in found[(None, field)]["message"], (case, found[(None, field)])
        assert len(error["text"]) < 4000, f"{case}: the answer names the bound; it does not repeat the input"
    assert subject.backend.calls == [] and subject.network_requests() == 0


async def within_bounds(subject: Subject, args: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The records a listRecords call finds, or None where the platform has a narrower bound of its own
    (Ozari: 200 values, 50 conditions), which it names as an invalid filter, never as a backend error."""
    result = await subject.agent.call("listRecords", {"table": "Tasks", **args})
    assert result.structuredContent is not None
    if not result.isError:
        records: list[dict[str, Any]] = result.structuredContent["records"]
        return records
    error = result.structuredContent["error"]
    assert error["code"] == "invalid_argument", error
    assert all(fe["field"].startswith("filter") for fe in error["fieldErrors"]), error
    return None


async def test_list_arguments_at_their_bound_work(subject: Subject) -> None:
    await subject.agent.ok("createRecords_Tasks", {"records": [{"Title": "needle " + "y" * 100}]})
    text = "needle " + "y" * (MAX_FILTER_TEXT - 7)
    assert await within_bounds(subject, {"filter": cond("Title", "eq", text)}) == []
    values = ["needle " + "y" * 100, *(str(i) for i in range(MAX_FILTER_VALUES - 1))]
    found = await within_bounds(subject, {"filter": cond("Title", "in", values)})
    assert found is None or len(found) == 1
    widest = {"or": [cond("Title", "eq", str(i)) for i in range(MAX_FILTER_CONDITIONS)]}
    assert await within_bounds(subject, {"filter": widest}) in ([], None)
    sort = [{"field": "Title", "direction": "desc"}] * MAX_SORT_KEYS
    assert await within_bounds(subject, {"sort": sort}) is not None


# -- 3. text that is not Unicode ----------------------------------------------------------------------------

SURROGATE = "\ud800"


async def test_a_lone_surrogate_in_any_string_argument_is_an_invalid_argument_naming_it(tasks: Agent) -> None:
    [record] = (await tasks.ok("createRecords_Tasks", {"records": [{"Title": "t", "Status": "Todo"}]}))["records"]
    calls: list[tuple[str, dict[str, Any], int | None, str]] = [
        ("listRecords", {"table": "Tasks", "filter": cond("Title", "eq", SURROGATE)}, None, "filter.value"),
        ("listRecords", {"table": "Tasks", "filter": cond("Title", "contains", "a" + SURROGATE)}, None, "filter.value"),
        ("listRecords", {"table": "Tasks", "filter": cond(SURROGATE, "eq", "x")}, None, "filter.field"),
        ("listRecords_Tasks", {"filter": cond("Title", "in", ["ok", SURROGATE])}, None, "filter.value[1]"),
        ("listRecords", {"table": "Tasks", "sort": [{"field": SURROGATE}]}, None, "sort[0].field"),
        ("listRecords", {"table": "Tasks", "cursor": SURROGATE}, None, "cursor"),
        ("createRecords", {"table": "Tasks", "records": [{"Title": SURROGATE, "Status": "Todo"}]}, 0, "Title"),
        ("createRecords_Tasks", {"records": [{"Title": "ok", "Status": "Todo"}, {"Title": SURROGATE}]}, 1, "Title"),
        ("createRecords", {"table": SURROGATE, "records": [{"Title": "x"}]}, None, "table"),
        ("describeTable", {"table": "Tasks" + SURROGATE}, None, "table"),
        ("getRecord", {"table": "Tasks", "recordId": SURROGATE}, None, "recordId"),
        ("patchRecord", {"table": "Tasks", "recordId": record["id"], "fields": {"Title": SURROGATE}}, None, "Title"),
        ("deleteRecords", {"table": "Tasks", "recordIds": [record["id"], SURROGATE]}, None, "recordIds[1]"),
        ("createTable", {"name": SURROGATE, "columns": [{"name": "a", "type": "TEXT"}]}, None, "name"),
        ("createTable", {"name": "N", "columns": [{"name": "b" + SURROGATE, "type": "TEXT"}]}, None, "columns[0].name"),
        ("addColumns", {"table": "Tasks", "columns": [{"name": SURROGATE, "type": "TEXT"}]}, None, "columns[0].name"),
    ]
    for tool, args, record_index, field in calls:
        error = await tasks.error(tool, args)
        assert "surrogate" in value_problem(error, field, record_index), (tool, error)
        assert SURROGATE not in error["text"] and SURROGATE not in str(error), "the answer must be sendable as UTF-8"
    listed = await tasks.ok("listRecords", {"table": "Tasks"})
    assert [ours(r)["Title"] for r in listed["records"]] == ["t"]
    assert {t["name"] for t in (await tasks.ok("listTables"))["tables"]} == {"Tasks"}


async def test_a_lone_surrogate_in_a_name_is_an_invalid_argument(backend: Backend) -> None:
    """Object keys (column names in records and patches): the SDK's clients and transports cannot send them, so
    the catalogue is called as the server calls it, with what a JSON parser makes of `{"\\ud800": ...}`."""
    catalogue = Catalogue(backend, ToolOptions(mode="per-table"))
    await catalogue.refresh(force=True)
    assert not (
        await catalogue.call("createTable", {"name": "Tasks", "columns": [{"name": "Title", "type": "TEXT"}]})
    ).is_error
    await catalogue.refresh(force=True)
    for tool, args, record_index, field in [
        ("createRecords_Tasks", {"records": [{"Title": "ok"}, {"Title": "x", SURROGATE * 200: 1}]}, 1, "\\ud800"),
        ("patchRecord", {"table": "Tasks", "recordId": "1", "fields": {SURROGATE: "x"}}, None, "\\ud800"),
    ]:
        outcome = await catalogue.call(tool, args)
        assert outcome.is_error
        [problem] = outcome.payload["error"]["fieldErrors"]
        assert problem.get("record") == record_index and problem["field"].startswith(field), problem
        assert len(problem["field"]) < 100 and "surrogate" in problem["message"], problem
        outcome.text.encode("utf-8")  # the answer is sendable


async def test_a_valid_astral_character_is_not_mistaken_for_a_surrogate(tasks: Agent) -> None:
    title = "emoji \U0001f600 and 漢字"
    await tasks.ok("createRecords_Tasks", {"records": [{"Title": title, "Status": "Todo"}]})
    listed = await tasks.ok("listRecords", {"table": "Tasks", "filter": cond("Title", "contains", "\U0001f600")})
    assert [ours(r)["Title"] for r in listed["records"]] == [title]


# -- 4. a platform that names the credential as a field -------------------------------------------------------


async def test_a_platform_error_naming_the_credential_as_a_field_never_shows_it(kintone_target: Any) -> None:
    kintone_target.fresh()
    [(_, token)] = kintone_target.apps
    backend = kintone_target.backend()
    await backend.open()
    try:
        async for agent in open_agent(backend, ToolOptions()):
            [record] = (await agent.ok("createRecords_Tasks", {"records": [{"Title": "before"}]}))["records"]
            kintone_target.state.echo_credential_as_field = True
            calls = [
                ("createRecords_Tasks", {"records": [{"Title": "x"}]}),
                ("createRecords", {"table": "Tasks", "records": [{"Title": "x"}, {"Title": "y"}]}),
                ("patchRecord", {"table": "Tasks", "recordId": record["id"], "fields": {"Title": "z"}}),
            ]
            for tool, args in calls:
                result = await agent.call(tool, args)
                assert result.isError
                shown = json.dumps(result.structuredContent, ensure_ascii=False) + result.content[0].text  # type: ignore[union-attr]
                assert token not in shown, shown
                assert "***" in shown, "the field error is still reported, with the credential redacted"
    finally:
        await backend.aclose()


def test_redaction_covers_every_text_an_error_carries() -> None:
    secret = "s3cr3t-token-value"
    error = TablesError(
        ErrorCode.INVALID_ARGUMENT,
        f"bad {secret}",
        [FieldError(f"records[0].{secret}", f"no {secret}", record=0, allowed=[secret, {"k": secret}, 3])],
        backend_code=secret,
        hint=f"use {secret}",
        written=[],
        failed=[{"index": 0, "error": {"message": secret, "fieldErrors": [{"field": secret}]}}],
    )
    client = HttpClient(HttpSettings("http://127.0.0.1:9"), lambda failure: error, secrets=[secret])
    redacted = client.redact_error(error)
    assert secret not in json.dumps(redacted.to_payload()) + redacted.to_text()
    assert redacted.field_errors[0].allowed == ["***", {"k": "***"}, 3]
    assert redacted.field_errors[0].record == 0


# -- 5. two writers racing on one store -----------------------------------------------------------------------

RACE_ROUNDS = 16
OPEN_ROUNDS = 40


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Backend]:
    """How each racer opens its own store on the same place: one SQLite file, or one PostgreSQL schema."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "shared.db")
    dsn: str = request.getfixturevalue("pg_schema_dsn")
    return lambda: open_store(dsn)


Call = tuple[str, dict[str, Any]]


def race(open_backend: Callable[[], Backend], setup: list[Call], calls: list[tuple[Call, Call]]) -> list[list[Any]]:
    """Two servers (each its own store, thread and event loop) make the calls of each pair at the same moment,
    released by a barrier; `setup` runs first on the first. Returns each round's two outcomes."""
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[list[Any]] = [[None, None] for _ in calls]

    async def racer(side: int) -> None:
        backend = open_backend()
        await backend.open()
        try:
            async for agent in open_agent(backend, ToolOptions()):
                if side == 0:
                    for tool, args in setup:
                        await agent.ok(tool, args)
                barrier.wait()
                for round_, pair in enumerate(calls):
                    tool, args = pair[side]
                    barrier.wait()
                    result = await agent.call(tool, args)
                    outcomes[round_][side] = (result.isError, result.structuredContent)
        finally:
            await backend.aclose()

    threads = [threading.Thread(target=anyio.run, args=(racer, side)) for side in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(outcome is not None for pair in outcomes for outcome in pair), "a racer failed; see its traceback"
    return outcomes


def one_winner(outcomes: list[Any], field: str, message: str) -> None:
    """One call of the pair succeeded; the other got the error a later duplicate gets, naming the argument."""
    errors = [content["error"] for is_error, content in outcomes if is_error]
    assert len(errors) == 1, outcomes
    [error] = errors
    assert error["code"] == "invalid_argument", error
    assert [fe["field"] for fe in error["fieldErrors"]] == [field], error
    assert message in error["fieldErrors"][0]["message"], error
    assert "_tm_" not in json.dumps(error) and "constraint" not in json.dumps(error).lower(), error


async def test_two_servers_creating_the_same_table_at_once(shared_store: Callable[[], Backend]) -> None:
    columns = [{"name": "Title", "type": "TEXT"}]
    # Every other pair spells the name in another case: names are unique regardless of case.
    calls = [
        (
            ("createTable", {"name": f"Race {i}", "columns": columns}),
            ("createTable", {"name": f"Race {i}" if i % 2 else f"RACE {i}", "columns": columns}),
        )
        for i in range(RACE_ROUNDS)
    ]
    for outcomes in await anyio.to_thread.run_sync(race, shared_store, [], calls):
        one_winner(outcomes, "name", "already exists")
    store = shared_store()
    await store.open()
    try:
        names = [table.name.casefold() for table in await store.list_tables()]
    finally:
        await store.aclose()
    assert sorted(names) == sorted(f"race {i}" for i in range(RACE_ROUNDS))


async def test_two_servers_adding_the_same_column_at_once(shared_store: Callable[[], Backend]) -> None:
    setup: list[Call] = [("createTable", {"name": "Notes", "columns": [{"name": "Title", "type": "TEXT"}]})]
    calls = [
        (
            ("addColumns", {"table": "Notes", "columns": [{"name": f"Extra {i}", "type": "TEXT"}]}),
            (
                "addColumns",
                {"table": "Notes", "columns": [{"name": f"{'Extra' if i % 2 else 'extra'} {i}", "type": "NUMBER"}]},
            ),
        )
        for i in range(RACE_ROUNDS)
    ]
    for outcomes in await anyio.to_thread.run_sync(race, shared_store, setup, calls):
        one_winner(outcomes, "columns[0].name", "already exists")
    store = shared_store()
    await store.open()
    try:
        [table] = await store.list_tables()
    finally:
        await store.aclose()
    assert len(table.columns) == 1 + RACE_ROUNDS


def test_two_servers_opening_a_new_store_file_at_once_both_start(tmp_path: Path) -> None:
    """Two clients starting their servers on the same new file: both switch it to WAL at once, and SQLite
    refuses one of them immediately ("database is locked") rather than letting it wait."""
    failures: list[BaseException] = []
    for round_ in range(OPEN_ROUNDS):
        path = tmp_path / f"new-{round_}.db"
        barrier = threading.Barrier(2, timeout=30)

        async def start(path: Path, barrier: threading.Barrier) -> None:
            store = open_store(str(path))
            barrier.wait()
            try:
                await store.open()
                await store.list_tables()
            except BaseException as exc:  # collected: an exception in a thread would only warn
                failures.append(exc)
            finally:
                await store.aclose()

        threads = [threading.Thread(target=anyio.run, args=(start, path, barrier)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
