"""aggregateRecords on the embedded store (SQLite and PostgreSQL), through a real MCP session.

What the contract suite does not reach: exact decimal sums where binary floats would drift, whole
numbers past 64 bits, BOOLEAN and SERIAL columns, several group columns with empty keys, the group
limit, and the same answers from tables-mcp's own scan (a backend that does not declare aggregation).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tables_mcp.aggregate import AggregateResult, ScanAggregator, build_aggregate_query
from tables_mcp.backends.base import Backend, RecordAggregator, record_aggregator
from tables_mcp.errors import ErrorCode, TablesError
from tables_mcp.model import Capabilities, Column, ColumnType, ListQuery, Page, Table
from tables_mcp.tools import ToolOptions

from .conftest import Agent, open_agent

pytestmark = pytest.mark.anyio

ROWS: list[dict[str, Any]] = [
    {"Title": "a", "Status": "Todo", "Estimate": 0.1, "Done": False, "Due": "2026-01-02"},
    {"Title": "b", "Status": "Todo", "Estimate": 0.2, "Done": True},
    {"Title": "c", "Status": "Done", "Estimate": 2**62, "Done": True, "Due": "2026-01-01"},
    {"Title": "d", "Status": "Done", "Estimate": 2**62, "Owner": "x@example.com"},
    {"Title": "e", "Status": "Doing", "Estimate": 1.0},
    {"Title": "f", "Status": "Doing"},
]
ALL_METRICS = [
    {"op": "count"},
    {"op": "count", "field": "Due"},
    {"op": "sum", "field": "Estimate"},
    {"op": "avg", "field": "Estimate"},
    {"op": "min", "field": "Estimate"},
    {"op": "max", "field": "Due"},
    {"op": "max", "field": "No"},
]


class WithoutAggregation:
    """The same store, declaring no aggregation: tables-mcp scans it as it scans a platform."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.capabilities: Capabilities = replace(inner.capabilities, aggregate=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def aggregate(agent: Agent, **arguments: Any) -> dict[str, Any]:
    return await agent.ok("aggregateRecords", {"table": "Tasks", **arguments})


async def test_sums_are_exact_decimals_and_groups_are_ordered(tasks: Agent, backend: Backend) -> None:
    await tasks.ok("createRecords_Tasks", {"records": ROWS})
    assert isinstance(backend, RecordAggregator) and backend.capabilities.aggregate
    got = await aggregate(tasks, groupBy=["Status"], metrics=ALL_METRICS)
    assert [group["key"] for group in got["groups"]] == [{"Status": s} for s in ("Doing", "Done", "Todo")]
    doing, done, todo = (group["values"] for group in got["groups"])
    # 0.1 + 0.2 is 0.3 (the decimals shown), not 0.30000000000000004; the mean is rounded once.
    assert todo == {
        "count": 2,
        "count(Due)": 1,
        "sum(Estimate)": 0.3,
        "avg(Estimate)": 0.15,
        "min(Estimate)": 0.1,
        "max(Due)": "2026-01-02",
        "max(No)": 2,
    }
    # 2**63 is past 64 bits: the nearest float; the mean of two 2**62 is whole again.
    assert done["sum(Estimate)"] == float(2**63) and isinstance(done["sum(Estimate)"], float)
    assert done["avg(Estimate)"] == 2**62 and isinstance(done["avg(Estimate)"], int)
    assert doing == {
        "count": 2,
        "count(Due)": 0,
        "sum(Estimate)": 1,
        "avg(Estimate)": 1,
        "min(Estimate)": 1,
        "max(Due)": None,
        "max(No)": 6,
    }
    assert "scannedRecords" not in got


async def test_several_group_columns_empty_keys_last_and_the_limit(tasks: Agent) -> None:
    await tasks.ok("createRecords_Tasks", {"records": ROWS})
    got = await aggregate(tasks, groupBy=["Done", "Owner"])
    assert [(group["key"], group["values"]["count"]) for group in got["groups"]] == [
        ({"Done": False, "Owner": None}, 1),
        ({"Done": True, "Owner": None}, 2),
        ({"Done": None, "Owner": "x@example.com"}, 1),
        ({"Done": None, "Owner": None}, 2),
    ]
    first = await aggregate(tasks, groupBy=["Done", "Owner"], limit=1)
    assert first["groups"] == got["groups"][:1] and first["truncated"] is True and first["groupCount"] == 4
    numbers = await aggregate(tasks, groupBy=["Estimate"])  # 1.0 and 1 are one group, shown as 1
    assert [group["key"]["Estimate"] for group in numbers["groups"]] == [0.1, 0.2, 1, 2**62, None]


async def test_the_scan_gives_what_the_database_gives(tasks: Agent, backend: Backend) -> None:
    await tasks.ok("createRecords_Tasks", {"records": ROWS * 3})
    [table] = [t for t in await backend.list_tables() if t.name == "Tasks"]
    caps = backend.capabilities
    scanning = WithoutAggregation(backend)
    assert isinstance(record_aggregator(scanning), ScanAggregator)  # type: ignore[arg-type]
    for group_by, where in ((["Status"], None), (["Done", "Due"], {"field": "Estimate", "op": "lt", "value": 5})):
        query = build_aggregate_query(table, caps, where, group_by, ALL_METRICS, 3)
        pushed: AggregateResult = await backend.aggregate_records(table, query)  # type: ignore[attr-defined]
        scanned = await ScanAggregator(scanning).aggregate_records(table, query)
        assert scanned.payload() == {**pushed.payload(), "scannedRecords": scanned.scanned}
    async for agent in open_agent(scanning):  # type: ignore[arg-type]
        tool = (await agent.tools())["aggregateRecords"]
        assert "Scans up to 10,000 records." in (tool.description or "")
        assert (await agent.ok("aggregateRecords", {"table": "Tasks"}))["scannedRecords"] == len(ROWS) * 3


async def test_read_only_and_allow_lists_keep_it(tasks: Agent, backend: Backend) -> None:
    async for agent in open_agent(backend, ToolOptions(read_only=True, tables=("Tasks",))):
        assert (await agent.ok("aggregateRecords", {"table": "Tasks"}))["groups"] == [
            {"key": {}, "values": {"count": 0}}
        ]


class ListingOnly:
    """A backend that only lists: pages of two records, a total where asked, every query kept."""

    name = "listing-only"
    capabilities = Capabilities(max_page_size=2)

    def __init__(self, records: list[dict[str, Any]], total: bool) -> None:
        self.records, self.total = records, total
        self.queries: list[ListQuery] = []

    async def list_records(self, table: Table, query: ListQuery) -> Page:
        self.queries.append(query)
        start = int(query.cursor or 0)
        end = start + query.limit
        following = str(end) if end < len(self.records) else None
        return Page(self.records[start:end], following, len(self.records) if self.total else None)


SCAN_TABLE = Table(
    id="t1",
    name="Deals",
    columns=(
        Column(name="Stage", type=ColumnType.SELECT, native_type="x", options=("a", "b")),
        Column(name="Amount", type=ColumnType.NUMBER, native_type="x"),
        Column(name="Memo", type=ColumnType.LONGTEXT, native_type="x"),
    ),
)


def deals(*amounts: Any) -> list[dict[str, Any]]:
    return [
        {"id": str(i), "fields": {"Stage": "a", "Amount": amount, "Memo": "long"}} for i, amount in enumerate(amounts)
    ]


async def test_the_scan_reads_only_the_columns_it_needs_and_stops_at_its_bound() -> None:
    caps = ListingOnly([], False).capabilities
    query = build_aggregate_query(SCAN_TABLE, caps, None, ["Stage"], [{"op": "sum", "field": "Amount"}], None)
    lister = ListingOnly(deals(1, 2, 3), total=False)
    result = await ScanAggregator(lister).aggregate_records(SCAN_TABLE, query)
    assert result.payload()["groups"] == [{"key": {"Stage": "a"}, "values": {"sum(Amount)": 6}}]
    assert [(q.fields, q.limit, q.cursor) for q in lister.queries] == [
        (("Stage", "Amount"), 2, None),
        (("Stage", "Amount"), 2, "2"),
    ]
    with pytest.raises(TablesError, match="More than 2 records of 'Deals' match"):  # found while scanning
        await ScanAggregator(ListingOnly(deals(1, 2, 3), total=False), max_records=2).aggregate_records(
            SCAN_TABLE, query
        )
    bounded = ListingOnly(deals(1, 2, 3), total=True)
    with pytest.raises(TablesError, match="3 records of 'Deals' match"):  # known from the first page's total
        await ScanAggregator(bounded, max_records=2).aggregate_records(SCAN_TABLE, query)
    assert len(bounded.queries) == 1

    # Counting alone takes the platform's total, whatever the bound.
    counting = ListingOnly(deals(*range(7)), total=True)
    only_count = build_aggregate_query(SCAN_TABLE, caps, None, None, None, None)
    counted = await ScanAggregator(counting, max_records=2).aggregate_records(SCAN_TABLE, only_count)
    assert counted.payload() == {"groups": [{"key": {}, "values": {"count": 7}}], "truncated": False, "groupCount": 1}
    assert [q.fields for q in counting.queries] == [()]

    with pytest.raises(TablesError) as odd:  # a platform value that is no number is the backend's fault
        await ScanAggregator(ListingOnly(deals(1, "n/a"), total=False)).aggregate_records(SCAN_TABLE, query)
    assert odd.value.code is ErrorCode.BACKEND_ERROR and "'Amount'" in odd.value.message
