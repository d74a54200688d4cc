"""listRecords filters, sorts, projection and paging on the embedded store, including injection attempts."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Agent

pytestmark = pytest.mark.anyio

ROWS = [
    {"Title": "alpha", "Status": "Todo", "Estimate": 1, "Tags": ["bug"], "Due": "2026-01-10", "Done": False},
    {"Title": "Beta 50%_off", "Status": "Doing", "Estimate": 5, "Tags": ["bug", "docs"], "Done": True},
    {"Title": "gamma", "Status": "Done", "Estimate": 3.5, "Due": "2026-03-01", "Owner": "g@x.io"},
    {"Title": "delta'; DROP TABLE t; --", "Status": "Todo", "Estimate": 8, "Tags": ["feature"]},
]


async def titles(agent: Agent, **arguments: Any) -> list[str]:
    result = await agent.ok("listRecords_Tasks", arguments)
    return [r["fields"].get("Title") for r in result["records"]]


@pytest.fixture
async def seeded(tasks: Agent) -> Agent:
    await tasks.ok("createRecords_Tasks", {"records": ROWS})
    return tasks


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"field": "Status", "op": "eq", "value": "Todo"}, ["alpha", "delta'; DROP TABLE t; --"]),
        ({"field": "Status", "op": "ne", "value": "Todo"}, ["Beta 50%_off", "gamma"]),
        ({"field": "Estimate", "op": "gt", "value": 3}, ["Beta 50%_off", "gamma", "delta'; DROP TABLE t; --"]),
        ({"field": "Estimate", "op": "lte", "value": 3.5}, ["alpha", "gamma"]),
        ({"field": "Title", "op": "contains", "value": "ALPH"}, ["alpha"]),
        ({"field": "Title", "op": "contains", "value": "50%_"}, ["Beta 50%_off"]),
        ({"field": "Title", "op": "contains", "value": "%"}, ["Beta 50%_off"]),
        ({"field": "Tags", "op": "contains", "value": "docs"}, ["Beta 50%_off"]),
        ({"field": "Tags", "op": "in", "value": ["feature", "docs"]}, ["Beta 50%_off", "delta'; DROP TABLE t; --"]),
        ({"field": "Tags", "op": "isEmpty"}, ["gamma"]),
        ({"field": "Owner", "op": "isNotEmpty"}, ["gamma"]),
        ({"field": "Due", "op": "lt", "value": "2026-02-01"}, ["alpha"]),
        ({"field": "Done", "op": "eq", "value": True}, ["Beta 50%_off"]),
        ({"field": "Status", "op": "in", "value": ["Done", "Doing"]}, ["Beta 50%_off", "gamma"]),
        (
            {
                "or": [
                    {"field": "Estimate", "op": "eq", "value": 1},
                    {
                        "and": [
                            {"field": "Status", "op": "eq", "value": "Todo"},
                            {"field": "Estimate", "op": "gte", "value": 8},
                        ]
                    },
                ]
            },
            ["alpha", "delta'; DROP TABLE t; --"],
        ),
        ({"field": "Title", "op": "eq", "value": "x' OR '1'='1"}, []),
        ({"field": "Title", "op": "eq", "value": "delta'; DROP TABLE t; --"}, ["delta'; DROP TABLE t; --"]),
    ],
)
async def test_filters_select_the_right_records(seeded: Agent, filter_: dict, expected: list[str]) -> None:
    assert await titles(seeded, filter=filter_) == expected


@pytest.mark.parametrize(
    ("filter_", "field", "allowed"),
    [
        ({"field": "Nope", "op": "eq", "value": 1}, "filter.field", True),
        ({"field": "Status", "op": "gt", "value": "Todo"}, "filter.op", True),
        ({"field": "Status", "op": "eq", "value": "Donee"}, "filter.value", True),
        ({"field": "Estimate", "op": "eq", "value": "5"}, "filter.value", False),
        ({"field": "Due", "op": "lt", "value": "yesterday"}, "filter.value", False),
        ({"field": "Estimate", "op": "in", "value": []}, "filter.value", False),
        ({"field": "Owner", "op": "isEmpty", "value": "x"}, "filter.value", False),
        ({"and": []}, "filter.and", False),
        ({"field": "Title", "op": "eq", "value": "x", "and": []}, "filter", False),
        (
            {"or": [{"field": "Title", "op": "eq", "value": 1}, {"field": "X", "op": "eq", "value": 1}]},
            "filter.or[0].value",
            False,
        ),
    ],
)
async def test_malformed_filters_are_explained(seeded: Agent, filter_: dict, field: str, allowed: bool) -> None:
    error = await seeded.error("listRecords_Tasks", {"filter": filter_})
    assert error["code"] == "invalid_argument"
    by_field = {fe["field"]: fe for fe in error["fieldErrors"]}
    assert field in by_field, error["fieldErrors"]
    assert ("allowed" in by_field[field]) is allowed


async def test_deeply_nested_filter_is_refused(seeded: Agent) -> None:
    node: dict = {"field": "Title", "op": "eq", "value": "a"}
    for _ in range(20):
        node = {"and": [node]}
    error = await seeded.error("listRecords_Tasks", {"filter": node})
    assert "levels deep" in error["text"]


async def test_sort_projection_and_paging(seeded: Agent) -> None:
    ordered = await titles(seeded, sort=[{"field": "Estimate", "direction": "desc"}])
    assert ordered == ["delta'; DROP TABLE t; --", "Beta 50%_off", "gamma", "alpha"]
    page = await seeded.ok("listRecords_Tasks", {"fields": ["Title"], "limit": 3})
    assert all(set(r["fields"]) == {"Title"} for r in page["records"])
    rest = await seeded.ok("listRecords_Tasks", {"fields": ["Title"], "limit": 3, "cursor": page["nextCursor"]})
    assert [r["id"] for r in page["records"] + rest["records"]] == ["1", "2", "3", "4"]
    assert rest["nextCursor"] is None
    mismatch = await seeded.error("listRecords_Tasks", {"limit": 3, "cursor": page["nextCursor"]})
    assert mismatch["fieldErrors"][0]["field"] == "cursor"


async def test_paging_with_sort_visits_every_record_once(tasks: Agent) -> None:
    rows = [{"Title": f"t{i:03}", "Status": "Todo", "Estimate": i % 7} for i in range(120)]
    await tasks.ok("createRecords_Tasks", {"records": rows})
    seen: list[str] = []
    cursor = None
    while True:
        arguments: dict[str, Any] = {"sort": [{"field": "Estimate"}], "limit": 50}
        if cursor:
            arguments["cursor"] = cursor
        page = await tasks.ok("listRecords_Tasks", arguments)
        seen += [r["id"] for r in page["records"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sorted(seen, key=int) == [str(i) for i in range(1, 121)]


async def test_injection_in_names_and_values_is_inert(agent: Agent) -> None:
    evil = 'x"; DROP TABLE _tm_tables; --'
    await agent.ok(
        "createTable", {"name": evil, "columns": [{"name": evil, "type": "TEXT"}, {"name": "a]\"`'", "type": "NUMBER"}]}
    )
    tables = (await agent.ok("listTables"))["tables"]
    assert [t["name"] for t in tables] == [evil]
    tool = next(name for name in await agent.tools() if name.startswith("createRecords_"))
    await agent.ok(tool, {"records": [{evil: "'; DELETE FROM x; --", "a]\"`'": 1}]})
    list_tool = tool.replace("createRecords_", "listRecords_")
    listed = await agent.ok(list_tool, {"filter": {"field": evil, "op": "contains", "value": "'"}})
    assert listed["records"][0]["fields"] == {evil: "'; DELETE FROM x; --", "a]\"`'": 1}
