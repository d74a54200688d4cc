"""The backend contract for aggregateRecords: the same answers on every registered backend, through MCP.

Part of the contract suite (tests/contract_backends.py): each test runs against the embedded store on
SQLite and on PostgreSQL, where the database aggregates (SQL GROUP BY), and against every other backend
over loopback HTTP against its fake, where tables-mcp aggregates over a bounded scan of listRecords.
Both ways must give the same groups, in the same order, with the same numbers; misuse is refused
before any backend call. (A module of its own, beside tests/test_contract.py, to keep each under 800 lines.)
"""

from __future__ import annotations

from typing import Any

import pytest

from tables_mcp.aggregate import MAX_SCANNED_RECORDS, ScanAggregator, build_aggregate_query
from tables_mcp.errors import TablesError

from .contract_backends import Subject, check_error, cond, problems, seed, target_fixtures
from .contract_backends import contract_target as contract_target
from .contract_backends import subject as subject

globals().update(target_fixtures())

pytestmark = pytest.mark.anyio

PER_STATUS = [
    {"count": 1, "sum(Estimate)": 3, "avg(Estimate)": 3, "min(Estimate)": 3, "max(Estimate)": 3},
    {"count": 2, "sum(Estimate)": 8, "avg(Estimate)": 4, "min(Estimate)": 0, "max(Estimate)": 8},
    {"count": 2, "sum(Estimate)": 6.5, "avg(Estimate)": 3.25, "min(Estimate)": 1.5, "max(Estimate)": 5},
    {"count": 1, "sum(Estimate)": 0, "avg(Estimate)": None, "min(Estimate)": None, "max(Estimate)": None},
]
METRICS = [
    {"op": "count"},
    {"op": "sum", "field": "Estimate"},
    {"op": "avg", "field": "Estimate"},
    {"op": "min", "field": "Estimate"},
    {"op": "max", "field": "Estimate"},
]
DUE_PER_STATUS = [
    {"count(Due)": 1, "min(Due)": "2026-03-01", "max(Due)": "2026-03-01"},
    {"count(Due)": 2, "min(Due)": "2026-02-01", "max(Due)": "2026-03-01"},
    {"count(Due)": 1, "min(Due)": "2026-04-15", "max(Due)": "2026-04-15"},
    {"count(Due)": 0, "min(Due)": None, "max(Due)": None},
]


async def aggregate(subject: Subject, **arguments: Any) -> dict[str, Any]:
    return await subject.agent.ok("aggregateRecords", {"table": "Tasks", **arguments})


async def test_groups_sums_and_order_are_the_same_on_every_backend(subject: Subject) -> None:
    subject.need("Status", "Estimate")
    await seed(subject)
    whole = await aggregate(subject)
    assert whole["groups"] == [{"key": {}, "values": {"count": 6}}]
    assert (whole["truncated"], whole["groupCount"]) == (False, 1)

    per_status = await aggregate(subject, groupBy=["Status"], metrics=METRICS)
    # By key ascending (the options' text order), the empty key last.
    assert [group["key"] for group in per_status["groups"]] == [
        {"Status": "Doing"},
        {"Status": "Done"},
        {"Status": "Todo"},
        {"Status": None},
    ]
    assert [group["values"] for group in per_status["groups"]] == PER_STATUS
    assert (per_status["truncated"], per_status["groupCount"]) == (False, 4)
    assert ("scannedRecords" in per_status) is not subject.capabilities.aggregate

    first_two = await aggregate(subject, groupBy=["Status"], metrics=METRICS, limit=2)
    assert first_two["groups"] == per_status["groups"][:2]
    assert (first_two["truncated"], first_two["groupCount"]) == (True, 4)

    if subject.has("Due"):  # dates: counted where set, ordered as dates
        dates = [{"op": "count", "field": "Due"}, {"op": "min", "field": "Due"}, {"op": "max", "field": "Due"}]
        due = await aggregate(subject, groupBy=["Status"], metrics=dates)
        assert [group["values"] for group in due["groups"]] == DUE_PER_STATUS


async def test_the_filter_is_the_one_of_list_records(subject: Subject) -> None:
    subject.need("Status", "Estimate")
    await seed(subject)
    where = {"and": [cond("Estimate", "gte", 1.5), cond("Status", "ne", "Doing")]}
    got = await aggregate(subject, filter=where, groupBy=["Status", "Title"], metrics=METRICS[:3])
    assert got["groups"] == [
        {
            "key": {"Status": "Done", "Title": "Ship release"},
            "values": {"count": 1, "sum(Estimate)": 8, "avg(Estimate)": 8},
        },
        {
            "key": {"Status": "Todo", "Title": "Login audit"},
            "values": {"count": 1, "sum(Estimate)": 1.5, "avg(Estimate)": 1.5},
        },
        {
            "key": {"Status": "Todo", "Title": "Write docs"},
            "values": {"count": 1, "sum(Estimate)": 5, "avg(Estimate)": 5},
        },
    ]
    nothing = await aggregate(subject, filter=cond("Estimate", "gt", 100), metrics=METRICS)
    assert nothing["groups"] == [
        {
            "key": {},
            "values": {
                "count": 0,
                "sum(Estimate)": 0,
                "avg(Estimate)": None,
                "min(Estimate)": None,
                "max(Estimate)": None,
            },
        }
    ]
    none_grouped = await aggregate(subject, filter=cond("Estimate", "gt", 100), groupBy=["Status"])
    assert (none_grouped["groups"], none_grouped["groupCount"], none_grouped["truncated"]) == ([], 0, False)


async def test_misuse_is_refused_naming_the_column_and_what_fits_before_any_call(subject: Subject) -> None:
    subject.need("Status", "Estimate", "Tags", "Notes")
    subject.forget_calls()
    error = await subject.agent.error(
        "aggregateRecords",
        {
            "table": "Tasks",
            "filter": cond("Status", "lt", "Done"),
            "groupBy": ["Tags", "Nope"],
            "metrics": [
                {"op": "sum", "field": "Status"},
                {"op": "avg"},
                {"op": "max", "field": "Notes"},
                {"op": "count"},
                {"op": "count"},
            ],
        },
    )
    check_error(error, "invalid_argument")
    found = problems(error)
    assert set(found) == {
        (None, "filter.op"),
        (None, "groupBy[0]"),
        (None, "groupBy[1]"),
        (None, "metrics[0].field"),
        (None, "metrics[1].field"),
        (None, "metrics[2].field"),
        (None, "metrics[4]"),
    }
    assert "MULTISELECT column 'Tags'" in found[(None, "groupBy[0]")]["message"]
    assert "Status" in found[(None, "groupBy[0]")]["allowed"] and "Tags" not in found[(None, "groupBy[0]")]["allowed"]
    assert "unknown column" in found[(None, "groupBy[1]")]["message"]
    assert "SELECT column 'Status'" in found[(None, "metrics[0].field")]["message"]
    assert "Estimate" in found[(None, "metrics[0].field")]["allowed"]
    assert "Status" not in found[(None, "metrics[0].field")]["allowed"]
    assert "'avg' needs a field" in found[(None, "metrics[1].field")]["message"]
    assert f"{subject.columns['Notes']} column 'Notes'" in found[(None, "metrics[2].field")]["message"]
    for bad in ({"groupBy": ["Status"] * 2}, {"groupBy": ["Title", "Status", "Estimate", "Due"]}, {"limit": 0}):
        check_error(await subject.agent.error("aggregateRecords", {"table": "Tasks", **bad}), "invalid_argument")
    assert subject.backend.calls == [], "refused before any backend call"


async def test_the_description_says_how_it_is_computed_and_the_scan_is_bounded(subject: Subject) -> None:
    subject.need("Status", "Estimate")
    await seed(subject)
    tool = (await subject.agent.tools())["aggregateRecords"]
    assert tool.annotations is not None and tool.annotations.readOnlyHint is True
    description = tool.description or ""
    if subject.capabilities.aggregate:
        assert "Done by the database." in description
    else:
        assert f"Scans up to {MAX_SCANNED_RECORDS:,} records." in description

    # tables-mcp's own scan gives what the tool gives, on every backend; past its bound it refuses.
    [table] = [t for t in await subject.backend.list_tables() if t.name == "Tasks"]
    caps = subject.capabilities
    query = build_aggregate_query(table, caps, None, ["Status"], [{"op": "sum", "field": "Estimate"}], None)
    scanned = (await ScanAggregator(subject.backend).aggregate_records(table, query)).payload()
    by_tool = await aggregate(subject, groupBy=["Status"], metrics=[{"op": "sum", "field": "Estimate"}])
    assert scanned["groups"] == by_tool["groups"] and scanned["scannedRecords"] == 6
    with pytest.raises(TablesError) as refused:
        await ScanAggregator(subject.backend, max_records=3).aggregate_records(table, query)
    error = refused.value.to_payload()["error"]
    assert error["code"] == "invalid_argument" and error["fieldErrors"][0]["field"] == "filter"
    assert "at most 3;" in error["message"] and "Narrow the filter" in error["hint"]
