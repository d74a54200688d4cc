"""Property: aggregateRecords equals a brute-force computation on random data, pushed down and scanned.

Random records (numbers from tiny to past 64 bits, floats whose binary sums drift, text in several
scripts, empty values) go into a table of the embedded store; random groupBy columns, metrics, filters
and limits go to the tool (SQL GROUP BY, on SQLite and on PostgreSQL) and to tables-mcp's own scan of
the same records. Both must equal what this module computes with Python fractions from the records
listRecords selects with the same filter: groups ordered by key ascending with empty keys last, exact
decimal sums, means rounded once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tables_mcp.aggregate import ScanAggregator, build_aggregate_query
from tables_mcp.backends.base import Backend
from tables_mcp.backends.store import open_store
from tables_mcp.tools import Catalogue, ToolOptions

from . import pg

COLUMNS = [
    {"name": "S", "type": "SELECT", "options": ["x", "y", "z"]},
    {"name": "T", "type": "TEXT"},
    {"name": "N", "type": "NUMBER"},
    {"name": "B", "type": "BOOLEAN"},
    {"name": "D", "type": "DATE"},
]
INT64 = (-(2**63), 2**63 - 1)
numbers = st.one_of(
    st.integers(-5, 5),
    st.integers(*INT64),
    st.sampled_from([0.1, 0.2, 0.3, 1.5, -2.5, 1e-7, 1e16, 2.0**60]),
    st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False),
)
values = {
    "S": st.sampled_from(["x", "y", "z"]),
    "T": st.sampled_from(["", "a", "B", "b", "é", "日本", "𝔸", "a b"]),
    "N": numbers,
    "B": st.booleans(),
    "D": st.sampled_from(["2026-01-01", "2025-12-31", "2026-02-28"]),
}
rows = st.lists(st.fixed_dictionaries({}, optional=values), max_size=25)
METRICS = [
    {"op": "count"},
    {"op": "count", "field": "T"},
    {"op": "sum", "field": "N"},
    {"op": "avg", "field": "N"},
    {"op": "min", "field": "N"},
    {"op": "max", "field": "N"},
    {"op": "min", "field": "D"},
    {"op": "max", "field": "D"},
]
FILTERS = [
    None,
    {"field": "S", "op": "eq", "value": "x"},
    {"field": "N", "op": "gte", "value": 0},
    {"field": "T", "op": "isEmpty"},
    {"or": [{"field": "B", "op": "eq", "value": True}, {"field": "D", "op": "lt", "value": "2026-01-01"}]},
]
requests = st.fixed_dictionaries(
    {
        "groupBy": st.lists(st.sampled_from(["S", "T", "N", "B", "D"]), unique=True, max_size=3),
        "metrics": st.lists(st.sampled_from(METRICS), unique_by=lambda m: (m["op"], m.get("field")), min_size=1),
        "filter": st.sampled_from(FILTERS),
        "limit": st.sampled_from([1, 2, 5, 1000]),
    }
)
Store = tuple[BlockingPortal, Catalogue, Backend]


# -- the brute force --------------------------------------------------------------------------------


def exact(value: Any) -> Fraction:
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def plain(value: Fraction) -> int | float:
    if value.denominator == 1 and INT64[0] <= value <= INT64[1]:
        return int(value)
    return float(value)


def shown(name: str, value: Any) -> Any:
    """A value as the store keeps it: empty text is no value; numbers in their plain form."""
    if value is None or value == "":
        return None
    return plain(exact(value)) if name == "N" else value


def sort_key(name: str, value: Any) -> tuple[Any, ...]:
    if value is None:
        return (1,)
    return (0, exact(value) if name == "N" else value)


def metric_value(metric: dict[str, Any], group: list[dict[str, Any]]) -> Any:
    field = metric.get("field")
    if field is None:
        return len(group)
    present = [shown(field, row.get(field)) for row in group]
    present = [value for value in present if value is not None]
    op = metric["op"]
    if op == "count":
        return len(present)
    if op == "sum":
        return plain(sum((exact(v) for v in present), Fraction(0)))
    if op == "avg":
        return plain(sum((exact(v) for v in present), Fraction(0)) / len(present)) if present else None
    if not present:
        return None
    key = (lambda v: exact(v)) if field == "N" else (lambda v: v)
    return (min if op == "min" else max)(present, key=key)


def brute_force(data: list[dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
    """The answer computed from the selected records' fields, one by one."""
    by = request["groupBy"]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {} if by else {(): []}
    for row in data:
        groups.setdefault(tuple(shown(name, row.get(name)) for name in by), []).append(row)
    ordered = sorted(groups, key=lambda key: tuple(sort_key(n, v) for n, v in zip(by, key, strict=True)))
    names = [m["op"] if "field" not in m else f"{m['op']}({m['field']})" for m in request["metrics"]]
    return {
        "groups": [
            {
                "key": dict(zip(by, key, strict=True)),
                "values": {
                    name: metric_value(m, groups[key]) for name, m in zip(names, request["metrics"], strict=True)
                },
            }
            for key in ordered[: request["limit"]]
        ],
        "truncated": len(ordered) > request["limit"],
        "groupCount": len(ordered),
    }


# -- the property -----------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with contextlib.ExitStack() as cleanup:
        if request.param == "postgres":
            dsn = request.getfixturevalue("pg_dsn")
            schema = pg.create_schema(dsn)
            cleanup.callback(pg.drop_schema, dsn, schema)
            location = pg.with_schema(dsn, schema)
        else:
            location = str(tmp_path_factory.mktemp("aggregate") / "a.db")
        portal = cleanup.enter_context(start_blocking_portal("asyncio"))
        backend = open_store(location)
        portal.call(backend.open)
        cleanup.callback(portal.call, backend.aclose)
        catalogue = Catalogue(backend, ToolOptions(mode="generic"))
        portal.call(catalogue.refresh, True)
        assert not portal.call(catalogue.call, "createTable", {"name": "P", "columns": COLUMNS}).is_error
        yield portal, catalogue, backend


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=rows, request=requests)
def test_aggregates_equal_a_brute_force_computation(store: Store, data: list[dict[str, Any]], request: Any) -> None:
    portal, catalogue, backend = store
    ids: list[str] = []
    if data:
        created = portal.call(catalogue.call, "createRecords", {"table": "P", "records": data})
        assert not created.is_error, created.text
        ids = [record["id"] for record in created.payload["records"]]
    try:
        sent = {key: value for key, value in request.items() if value is not None}
        # The records as the store shows them (SQLite keeps a whole float as an integer), selected by
        # listRecords with the same filter: the filter language is listRecords' own.
        listing = {"table": "P", "limit": 500, **({"filter": sent["filter"]} if "filter" in sent else {})}
        listed = portal.call(catalogue.call, "listRecords", listing)
        assert not listed.is_error, listed.text
        selected = [record["fields"] for record in listed.payload["records"]]
        expected = brute_force(selected, request)
        pushed = portal.call(catalogue.call, "aggregateRecords", {"table": "P", **sent})
        assert not pushed.is_error, pushed.text
        assert pushed.payload == expected

        [table] = [t for t in portal.call(backend.list_tables) if t.name == "P"]
        args = (request["filter"], request["groupBy"], request["metrics"], request["limit"])
        query = build_aggregate_query(table, backend.capabilities, *args)
        scanned = portal.call(ScanAggregator(backend).aggregate_records, table, query).payload()
        assert scanned == {**expected, "scannedRecords": len(selected)}
    finally:
        if ids:
            assert not portal.call(catalogue.call, "deleteRecords", {"table": "P", "recordIds": ids}).is_error
