"""Property: whatever arguments an agent sends, the server answers, and never writes partially."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tables_mcp.backends.base import Backend
from tables_mcp.backends.store import open_store
from tables_mcp.model import ListQuery
from tables_mcp.tools import Catalogue, ToolOptions

from . import pg
from .conftest import TASK_COLUMNS

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["Todo", "Done", "2026-01-31", "a@b.io", "' OR 1=1 --", "https://x.io", "1", "\x00"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
column_names = st.sampled_from([c["name"] for c in TASK_COLUMNS] + ["Nope", "", "id"])
valid_values = {
    "Title": st.text(min_size=1, max_size=30),
    "Status": st.sampled_from(["Todo", "Doing", "Done"]),
    "Owner": st.sampled_from(["a@b.io", "x.y@example.co.jp"]),
    "Estimate": st.integers(-(10**6), 10**6) | st.floats(-1e9, 1e9, allow_nan=False),
    "Due": st.dates().map(lambda d: d.isoformat()),
    "Tags": st.lists(st.sampled_from(["bug", "feature", "docs"]), unique=True),
    "Done": st.booleans(),
}
# Valid rows, so that writes happen; `rows` mixes in random ones.
nearly_valid_rows = st.fixed_dictionaries(
    {"Title": valid_values["Title"], "Status": valid_values["Status"]},
    optional={k: v for k, v in valid_values.items() if k not in ("Title", "Status")},
)
rows = st.one_of(st.dictionaries(column_names, json_values, max_size=6), nearly_valid_rows, nearly_valid_rows)
record_ids = st.one_of(st.integers(1, 20).map(str), json_values)
filters = st.recursive(
    st.fixed_dictionaries(
        {"field": column_names, "op": st.sampled_from(["eq", "ne", "lt", "gte", "contains", "in", "isEmpty", "bogus"])},
        optional={"value": json_values},
    ),
    lambda inner: st.dictionaries(st.sampled_from(["and", "or"]), st.lists(inner, max_size=3), min_size=1, max_size=1),
    max_leaves=5,
)

calls = st.one_of(
    st.tuples(
        st.just("createRecords_Tasks"),
        st.fixed_dictionaries({"records": st.lists(nearly_valid_rows, max_size=4) | st.lists(rows, max_size=4)}),
    ),
    st.tuples(st.just("patchRecord_Tasks"), st.fixed_dictionaries({"recordId": record_ids, "fields": rows})),
    st.tuples(
        st.just("listRecords_Tasks"),
        st.fixed_dictionaries(
            {},
            optional={
                "filter": filters,
                "limit": json_values,
                "sort": json_values,
                "fields": json_values,
                "cursor": json_values,
            },
        ),
    ),
    st.tuples(
        st.sampled_from(["getRecord", "deleteRecords", "describeTable", "createTable", "addColumns"]),
        st.dictionaries(st.sampled_from(["table", "recordId", "recordIds", "name", "columns"]), json_values),
    ),
    st.tuples(st.text(max_size=10), st.dictionaries(st.text(max_size=5), json_values, max_size=2)),
)
# More than one page (500) from the first example on, so that "nothing written" is checked past a page.
SEED_ROWS = 520
Store = tuple[BlockingPortal, Catalogue, Backend]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A catalogue over a 'Tasks' table holding SEED_ROWS records, on each engine of the embedded store."""
    with contextlib.ExitStack() as cleanup:
        if request.param == "postgres":
            dsn = request.getfixturevalue("pg_dsn")
            schema = pg.create_schema(dsn)
            cleanup.callback(pg.drop_schema, dsn, schema)
            location = pg.with_schema(dsn, schema)
        else:
            location = str(tmp_path_factory.mktemp("prop") / "p.db")
        portal = cleanup.enter_context(start_blocking_portal("asyncio"))
        backend = open_store(location)
        portal.call(backend.open)
        cleanup.callback(portal.call, backend.aclose)
        catalogue = Catalogue(backend, ToolOptions(mode="per-table"))
        portal.call(catalogue.refresh, True)
        portal.call(catalogue.call, "createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
        seed = [{"Title": f"seed {i}", "Status": "Todo"} for i in range(SEED_ROWS)]
        assert not portal.call(catalogue.call, "createRecords_Tasks", {"records": seed}).is_error
        yield portal, catalogue, backend


def snapshot(portal: BlockingPortal, backend: Backend) -> dict[str, str]:
    """Every Tasks record's id and updated_at, page after page to the end, however many there are."""
    [table] = [t for t in portal.call(backend.list_tables) if t.name == "Tasks"]
    stamps: dict[str, str] = {}
    cursor = None
    while True:
        page = portal.call(backend.list_records, table, ListQuery(limit=500, fields=("Title",), cursor=cursor))
        stamps.update((record["id"], record["updated_at"]) for record in page.records)
        cursor = page.next_cursor
        if cursor is None:
            return stamps


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=calls)
def test_random_calls_never_crash_or_write_partially(store: Store, call: tuple[str, dict[str, Any]]) -> None:
    portal, catalogue, backend = store
    name, arguments = call
    before = snapshot(portal, backend)
    outcome = portal.call(catalogue.call, name, arguments)
    after = snapshot(portal, backend)
    tool = name.split("_")[0] if name in catalogue._tools else "unknown tool"
    event(f"{tool}: {outcome.payload['error']['code'] if outcome.is_error else 'ok'}")
    if outcome.is_error:
        assert outcome.payload["error"]["code"] != "backend_error", outcome.text
        assert after == before, "a failed call wrote nothing"
    elif name == "createRecords_Tasks":
        assert len(after) == len(before) + len(arguments["records"]) and before.items() <= after.items()
    elif name == "deleteRecords":
        assert after.items() <= before.items() and set(before) - set(after) <= set(outcome.payload["deleted"])
    elif name == "patchRecord_Tasks":
        assert set(after) == set(before)
        assert {key for key in after if after[key] != before[key]} <= {outcome.payload["record"]["id"]}
    else:
        assert after == before, "a read (or a table change) wrote no record"
