"""The Kintone adapter against the fake Kintone server, over real loopback HTTP.

Covers the field-type mapping, CRUD, filters, sorts and escaping, batched creates that fail part-way, the
mapping of every documented Kintone error, retries and their limits, and that credentials never reach an error
message. Paging is in `test_kintone_pages.py`.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tables_mcp.backends.kintone import (
    ADAPTER,
    CAPABILITIES,
    KintoneBackend,
    KintoneSettings,
    column_from_property,
    encode_value,
    map_kintone_error,
    parse_error_key,
    quote,
    render_filter,
)
from tables_mcp.config import ConfigError
from tables_mcp.errors import ErrorCode, TablesError
from tables_mcp.http import ErrorResponse
from tables_mcp.model import ColumnType, ListQuery, Table
from tables_mcp.query import build_list_query
from tables_mcp.tools import Catalogue, ToolOptions
from tests.fakes.kintone import FakeKintone

from .conftest import FAST_RETRY
from .kintone_setup import PASSWORD, TOKEN, VIEW_TOKEN, logged, make, raises, tasks_table, v
from .kintone_setup import kintone as kintone
from .kintone_setup import state as state
from .kintone_setup import url as url

pytestmark = pytest.mark.anyio


# -- field types ---------------------------------------------------------------------------------------


async def test_every_field_type_maps_to_a_column(kintone: KintoneBackend) -> None:
    table = await tasks_table(kintone)
    assert (table.id, table.name, table.description) == ("1", "Tasks", "Team tasks & chores")
    cols = {col.name: col for col in table.columns}
    expected = {
        "title": ColumnType.TEXT, "notes": ColumnType.LONGTEXT, "body": ColumnType.LONGTEXT,
        "site": ColumnType.URL, "mail": ColumnType.EMAIL, "phone": ColumnType.PHONE,
        "points": ColumnType.NUMBER, "double": ColumnType.FORMULA, "auto": ColumnType.FORMULA,
        "status": ColumnType.SELECT, "priority": ColumnType.SELECT, "tags": ColumnType.MULTISELECT,
        "labels": ColumnType.MULTISELECT, "due": ColumnType.DATE, "at": ColumnType.TIME,
        "when": ColumnType.DATETIME, "owner": ColumnType.USER, "team": ColumnType.USER, "crew": ColumnType.USER,
        "files": ColumnType.FILE, "items": ColumnType.SUBTABLE, "mystery": ColumnType.UNKNOWN,
        "Record_number": ColumnType.SERIAL, "Created_by": ColumnType.USER, "Updated_by": ColumnType.USER,
        "Created_datetime": ColumnType.DATETIME, "Updated_datetime": ColumnType.DATETIME,
    }  # fmt: skip
    assert {name: cols[name].type for name in expected} == expected
    # Layout-only fields, reference tables and disabled process management are not columns.
    for absent in ("section", "related", "Status", "Assignee", "Categories"):
        assert absent not in cols
    read_only = {name for name, col in cols.items() if not col.writable}
    assert read_only == {
        "double", "auto", "files", "customer_name", "mystery", "Record_number", "Created_by", "Updated_by",
        "Created_datetime", "Updated_datetime",
    }  # fmt: skip
    assert cols["title"].required and cols["title"].max_length == 200 and cols["title"].description == "Title"
    assert (cols["points"].minimum, cols["points"].maximum) == (0, 100)
    assert cols["price"].minimum is None and cols["price"].description == "unit: EUR"
    assert cols["status"].options == ("Todo", "Doing", "Done")
    assert cols["customer"].writable and "lookup" in (cols["customer"].description or "")
    assert [sub.name for sub in cols["items"].subcolumns or ()] == ["item", "qty"]
    assert cols["items"].subcolumns and cols["items"].subcolumns[0].required


def test_property_details_options_by_index_limits_and_process_fields() -> None:
    drop = column_from_property(
        {
            "type": "DROP_DOWN", "code": "s", "required": True,
            "options": {"b": {"label": "b", "index": "2"}, "a": {"label": "a", "index": "0"},
                        "c": {"label": "c", "index": "1"}},
        }
    )  # fmt: skip
    assert drop is not None and drop.options == ("a", "c", "b") and drop.required
    number = column_from_property({"type": "NUMBER", "code": "n", "minValue": "", "maxValue": "2.5"})
    assert number is not None and number.minimum is None and number.maximum == 2.5
    status = column_from_property({"type": "STATUS", "code": "Status", "enabled": True})
    assert status is not None and status.type is ColumnType.SELECT and not status.writable
    assert column_from_property({"type": "STATUS", "code": "Status", "enabled": False}) is None
    for layout in ("LABEL", "SPACER", "HR", "GROUP", "REFERENCE_TABLE"):
        assert column_from_property({"type": layout, "code": "x"}) is None


# -- CRUD ----------------------------------------------------------------------------------------------


async def test_create_get_patch_delete_round_trip(kintone: KintoneBackend, state: FakeKintone) -> None:
    table = await tasks_table(kintone)
    row = {
        "title": "Write docs", "points": 42, "price": 1.5, "status": "Doing", "tags": ["bug", "docs"],
        "due": "2026-03-01", "at": "09:30:15", "when": "2026-03-01T10:15:00+09:00", "owner": "alice",
        "mail": "a@example.com", "items": [{"item": "pen", "qty": 2}, {"item": "ink"}],
        "customer": "ACME",
    }  # fmt: skip
    [created] = await kintone.create_records(table, [row])
    fields = created["fields"]
    assert created["id"] == "1" and created["created_at"] and created["updated_at"]
    assert fields["points"] == 42 and fields["price"] == 1.5 and fields["double"] == 3
    assert fields["at"] == "09:30" and fields["when"] == "2026-03-01T01:15:00Z"
    assert fields["owner"] == ["alice"] and fields["Created_by"] == "Administrator"
    assert fields["items"] == [{"item": "pen", "qty": 2}, {"item": "ink"}]
    assert fields["priority"] == "Low"  # Kintone's default
    assert "notes" not in fields and "labels" not in fields  # empty values are omitted

    assert await kintone.get_record(table, "1") == created
    state.clear_log()
    patched = await kintone.patch_record(table, "1", {"status": "Done", "tags": None, "owner": ["alice", "bob"]})
    [put] = logged(state, "PUT", "record")
    assert set(put.body["record"]) == {"status", "tags", "owner"}  # only the changed fields are sent
    assert put.body["record"]["tags"] == {"value": []}
    assert patched["fields"]["status"] == "Done" and "tags" not in patched["fields"]
    assert patched["fields"]["owner"] == ["alice", "bob"] and patched["fields"]["title"] == "Write docs"

    assert await kintone.delete_records(table, ["1"]) == ["1"]
    error = await raises(kintone.get_record(table, "1"))
    assert error.code is ErrorCode.NOT_FOUND and error.backend_code == "GAIA_RE01"
    assert "Tasks" in error.message


async def test_unknown_and_read_only_fields_are_never_sent(kintone: KintoneBackend, state: FakeKintone) -> None:
    table = await tasks_table(kintone)
    error = await raises(kintone.create_records(table, [{"title": "a"}, {"title": "b", "nope": 1, "double": 3}]))
    assert error.code is ErrorCode.INVALID_ARGUMENT
    assert {(fe.record, fe.field) for fe in error.field_errors} == {(1, "nope"), (1, "double")}
    error = await raises(kintone.patch_record(table, "1", {"items": [{"item": "x", "ghost": 1}]}))
    assert [fe.field for fe in error.field_errors] == ["items[0].ghost"]
    assert state.requests == []


async def test_bad_record_ids_are_not_found_without_a_request(kintone: KintoneBackend, state: FakeKintone) -> None:
    table = await tasks_table(kintone)
    for bad in ("abc", "0", "-1", "1.5"):
        assert (await raises(kintone.get_record(table, bad))).code is ErrorCode.NOT_FOUND
    assert state.requests == []


async def test_delete_splits_into_100s_and_unknown_ids_delete_nothing(
    kintone: KintoneBackend, state: FakeKintone
) -> None:
    table = await tasks_table(kintone)
    state.add_records(1, [{"title": v(f"t{i}")} for i in range(230)])
    error = await raises(kintone.delete_records(table, ["1", "2", "999", "x"]))
    assert error.code is ErrorCode.NOT_FOUND and "999" in error.message and "x" in error.message
    assert len(state.apps[1].records) == 230
    state.clear_log()
    ids = [str(i) for i in range(1, 231)]
    assert await kintone.delete_records(table, ids) == ids
    assert [len(r.query) for r in logged(state, "DELETE", "records")] == [101, 101, 31]  # ids[...] + app
    assert state.apps[1].records == {}


# -- filters and sorts -------------------------------------------------------------------------------------


async def list_titles(kintone: KintoneBackend, table: Table, **args: Any) -> list[str]:
    query = build_list_query(table, kintone.capabilities, args)
    page = await kintone.list_records(table, query)
    return [record["fields"].get("title", "") for record in page.records]


async def test_filters_translate_to_kintone_queries(kintone: KintoneBackend, state: FakeKintone) -> None:
    table = await tasks_table(kintone)
    tricky = 'He said "hi" \\ back\\slash'
    await kintone.create_records(
        table,
        [
            {"title": tricky, "status": "Todo", "points": 5, "tags": ["bug"], "notes": "fix the login page"},
            {"title": "Second", "status": "Done", "points": 50, "due": "2026-01-10", "owner": "bob"},
            {"title": "Third", "points": 90, "tags": ["docs", "feature"], "due": "2026-02-10", "owner": "alice"},
        ],
    )
    state.clear_log()
    assert await list_titles(kintone, table, filter={"field": "title", "op": "eq", "value": tricky}) == [tricky]
    assert await list_titles(kintone, table, filter={"field": "status", "op": "eq", "value": "Done"}) == ["Second"]
    assert 'status in ("Done")' in logged(state, "GET", "records")[-1].query["query"]
    assert await list_titles(kintone, table, filter={"field": "status", "op": "ne", "value": "Done"}) == [
        tricky, "Third",
    ]  # fmt: skip
    assert await list_titles(kintone, table, filter={"field": "status", "op": "isEmpty"}) == ["Third"]
    assert await list_titles(kintone, table, filter={"field": "notes", "op": "contains", "value": "login"}) == [tricky]
    assert await list_titles(kintone, table, filter={"field": "notes", "op": "contains", "value": "log"}) == []
    assert await list_titles(kintone, table, filter={"field": "notes", "op": "isNotEmpty"}) == [tricky]
    assert await list_titles(kintone, table, filter={"field": "due", "op": "isEmpty"}) == [tricky]
    assert await list_titles(kintone, table, filter={"field": "tags", "op": "contains", "value": "docs"}) == ["Third"]
    assert await list_titles(kintone, table, filter={"field": "owner", "op": "eq", "value": "alice"}) == ["Third"]
    both = {"and": [{"field": "points", "op": "gte", "value": 5}, {"or": [
        {"field": "due", "op": "lt", "value": "2026-02-01"}, {"field": "tags", "op": "in", "value": ["bug"]},
    ]}]}  # fmt: skip
    assert await list_titles(kintone, table, filter=both) == [tricky, "Second"]
    sort = [{"field": "points", "direction": "desc"}]
    assert await list_titles(kintone, table, sort=sort) == ["Third", "Second", tricky]


async def test_unsupported_operators_are_rejected_before_any_request(
    kintone: KintoneBackend, state: FakeKintone
) -> None:
    table = await tasks_table(kintone)
    for field, op in (("notes", "eq"), ("due", "in"), ("tags", "eq"), ("owner", "contains"), ("items", "isEmpty")):
        with pytest.raises(TablesError) as info:
            build_list_query(table, CAPABILITIES, {"filter": {"field": field, "op": op, "value": "x"}})
        assert info.value.code is ErrorCode.INVALID_ARGUMENT
    with pytest.raises(TablesError):
        build_list_query(table, CAPABILITIES, {"sort": [{"field": "notes"}]})
    assert state.requests == []


def test_quote_escapes_backslash_then_quote() -> None:
    assert quote('a"b\\c') == '"a\\"b\\\\c"'


def test_conditions_render_per_kintone_field_type() -> None:
    table = Table(
        id="1",
        name="T",
        columns=tuple(
            col
            for col in (
                column_from_property({"type": "DROP_DOWN", "code": "s", "options": {"A": {"index": "0"}}}),
                column_from_property({"type": "SINGLE_LINE_TEXT", "code": "t"}),
                column_from_property({"type": "MULTI_LINE_TEXT", "code": "m"}),
                column_from_property({"type": "NUMBER", "code": "n"}),
                column_from_property({"type": "DATETIME", "code": "d"}),
                column_from_property({"type": "USER_SELECT", "code": "u"}),
            )
            if col is not None
        ),
    )

    def rendered(raw: dict[str, Any]) -> str:
        node = build_list_query(table, CAPABILITIES, {"filter": raw}).filter
        assert node is not None
        return render_filter(node)

    assert rendered({"field": "s", "op": "eq", "value": "A"}) == 's in ("A")'
    assert rendered({"field": "s", "op": "isEmpty"}) == 's in ("")'
    assert rendered({"field": "t", "op": "isNotEmpty"}) == 't != ""'
    assert rendered({"field": "m", "op": "isEmpty"}) == "m is empty"
    assert rendered({"field": "t", "op": "contains", "value": 'a "b"'}) == 't like "a \\"b\\""'
    assert rendered({"field": "n", "op": "in", "value": [1, 2.5]}) == "n in (1, 2.5)"
    assert rendered({"field": "d", "op": "gte", "value": "2026-01-01T09:00:00+09:00"}) == 'd >= "2026-01-01T00:00:00Z"'
    assert rendered({"field": "u", "op": "ne", "value": "alice"}) == 'u not in ("alice")'
    assert rendered({"field": "d", "op": "gt", "value": "0999-06-01T12:00:30Z"}) == 'd > "0999-06-01T12:00:00Z"'
    both = {"or": [{"field": "n", "op": "lt", "value": 0}, {"and": [{"field": "t", "op": "eq", "value": "x"}]}]}
    assert rendered(both) == '(n < 0 or (t = "x"))'


def test_datetimes_are_written_in_utc_with_four_digit_years() -> None:
    column = column_from_property({"type": "DATETIME", "code": "d"})
    assert column is not None
    assert encode_value(column, "0999-06-01T09:00:00+09:00") == "0999-06-01T00:00:00Z"
    assert encode_value(column, "2026-03-01T10:15:00Z") == "2026-03-01T10:15:00Z"
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        encode_value(column, "0001-01-01T00:00:00+01:00")


async def test_long_queries_are_sent_in_a_body(kintone: KintoneBackend, state: FakeKintone) -> None:
    table = await tasks_table(kintone)
    await kintone.create_records(table, [{"title": "needle"}])
    state.clear_log()
    values = [f"value number {i}" for i in range(300)] + ["needle"]
    assert await list_titles(kintone, table, filter={"field": "title", "op": "in", "value": values}) == ["needle"]
    [call] = [r for r in state.requests if r.path.endswith("/records.json") and r.method == "POST"]
    assert call.headers.get("x-http-method-override") == "GET"


# -- batched creates -------------------------------------------------------------------------------------------


def bulk_writes(state: FakeKintone) -> list[list[int]]:
    """Per bulkRequest sent, the number of records in each of its writes."""
    return [
        [len(item["payload"]["records"]) for item in r.body["requests"]] for r in logged(state, "POST", "bulkRequest")
    ]


async def test_create_is_one_bulk_request_of_100s_and_keeps_input_order(
    kintone: KintoneBackend, state: FakeKintone
) -> None:
    table = await tasks_table(kintone)
    rows = [{"title": f"row {i}", "points": i % 100} for i in range(250)]
    records = await kintone.create_records(table, rows)
    assert [r["fields"]["title"] for r in records] == [row["title"] for row in rows]
    assert bulk_writes(state) == [[100, 100, 50]] and logged(state, "POST", "records") == []


async def test_more_than_2000_records_take_one_bulk_request_per_2000(
    kintone: KintoneBackend, state: FakeKintone
) -> None:
    table = await tasks_table(kintone)
    rows = [{"title": f"row {i}"} for i in range(2150)]
    records = await kintone.create_records(table, rows)
    assert [r["fields"]["title"] for r in records] == [row["title"] for row in rows]
    assert bulk_writes(state) == [[100] * 20, [100, 50]]
    long_reads = [r for r in logged(state, "POST", "records") if r.headers.get("x-http-method-override") == "GET"]
    assert len(logged(state, "GET", "records")) + len(long_reads) == 5  # 500 at a time


async def test_a_1000_record_create_reads_back_500_at_a_time_what_kintone_stored(
    kintone: KintoneBackend, state: FakeKintone
) -> None:
    """One bulkRequest of 10 writes of 100 and 2 GETs of 500: 3 requests against the app's daily quota (there were
    10 POSTs and 10 GETs), and still every record as stored (the record number Kintone gave it, its times)."""
    table = await tasks_table(kintone)
    rows = [{"title": f"row {i}", "points": i % 100} for i in range(1000)]
    records = await kintone.create_records(table, rows)
    assert [r["fields"]["title"] for r in records] == [row["title"] for row in rows]
    assert bulk_writes(state) == [[100] * 10]
    reads = logged(state, "GET", "records")
    assert len(reads) == 2 and all("limit 500" in read.query["query"] for read in reads)
    stored = {str(record_id) for record_id in state.apps[1].records}
    assert len(stored) == 1000 and all(record["created_at"] and record["id"] in stored for record in records)


async def test_create_failing_in_the_middle_writes_nothing_and_names_the_record(
    kintone: KintoneBackend, state: FakeKintone
) -> None:
    """The bulk request is one transaction: the duplicate in its second write rolls all three back, and the error
    names record 150 of the 250 (Kintone's `records[50]` of that write)."""
    table = await tasks_table(kintone)
    state.add_records(1, [{"title": v("existing"), "code": v("DUP")}])
    rows = [{"title": f"row {i}", "code": f"C{i}"} for i in range(250)]
    rows[150]["code"] = "DUP"  # unique violation in the second write of 100: a conflict
    error = await raises(kintone.create_records(table, rows))
    assert error.code is ErrorCode.CONFLICT and error.backend_code == "CB_VA01"
    assert [(fe.record, fe.field, fe.message) for fe in error.field_errors] == [
        (150, "code", "This value already exists in another record.")
    ]
    assert error.written is None and error.failed is None  # one request, all or nothing: a plain error
    assert len(state.apps[1].records) == 1


async def test_create_stops_sending_after_a_systemic_failure(state: FakeKintone, url: str) -> None:
    backend = make(url, api_tokens=[VIEW_TOKEN], create_concurrency=1)
    await backend.open()
    table = await tasks_table(backend)
    state.clear_log()
    error = await raises(backend.create_records(table, [{"title": f"r{i}"} for i in range(2250)]))
    assert error.code is ErrorCode.PERMISSION_DENIED and error.backend_code == "GAIA_NO01"
    assert len(logged(state, "POST", "bulkRequest")) == 1, "the second bulk request is not sent"
    assert error.written == [] and error.failed is not None and len(error.failed) == 2250
    assert error.failed[2120]["error"]["message"].startswith("Not sent")
    await backend.aclose()


async def test_a_single_request_failure_is_a_plain_error(kintone: KintoneBackend) -> None:
    table = await tasks_table(kintone)
    error = await raises(kintone.create_records(table, [{"title": "ok"}, {"title": "bad", "points": 1000}]))
    assert error.written is None and error.code is ErrorCode.INVALID_ARGUMENT
    assert [(fe.record, fe.field, fe.message) for fe in error.field_errors] == [
        (1, "points", "The value must be 100 or less.")
    ]


async def test_partial_create_through_the_tool_catalogue(kintone: KintoneBackend, state: FakeKintone) -> None:
    catalogue = Catalogue(kintone, ToolOptions(mode="generic"))
    await catalogue.refresh(force=True)
    state.add_records(1, [{"title": v("existing"), "code": v("DUP")}])
    rows = [{"title": f"row {i}", "code": f"C{i}"} for i in range(120)]
    rows[5]["code"] = "DUP"
    outcome = await catalogue.call("createRecords", {"table": "Tasks", "records": rows})
    assert outcome.is_error and "written" not in outcome.payload  # one bulk request: nothing was written
    assert outcome.payload["error"]["fieldErrors"] == [
        {"field": "code", "message": "This value already exists in another record.", "record": 5}
    ]
    assert len(state.apps[1].records) == 1
    outcome = await catalogue.call("listRecords", {"table": "Tasks", "filter": {"field": "notes", "op": "eq",
                                                                                 "value": "x"}})  # fmt: skip
    assert outcome.is_error and outcome.payload["error"]["code"] == "invalid_argument"


# -- errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "code", "backend_code"),
    [
        ({"api_tokens": ["unknownToken123"]}, ErrorCode.UNAUTHENTICATED, "GAIA_IA02"),
        ({"api_tokens": [TOKEN, VIEW_TOKEN]}, ErrorCode.UNAUTHENTICATED, "GAIA_DA03"),
        ({"api_tokens": [], "username": "alice", "password": "wrong-password"}, ErrorCode.UNAUTHENTICATED, "CB_WA01"),
        ({"api_tokens": [], "username": "alice", "password": PASSWORD, "app_ids": ["77"]}, ErrorCode.NOT_FOUND,
         "GAIA_AP01"),
        ({"app_ids": ["3"]}, ErrorCode.BACKEND_ERROR, "GAIA_IL23"),
        ({"app_ids": ["2"]}, ErrorCode.PERMISSION_DENIED, "GAIA_NO01"),
    ],
)  # fmt: skip
async def test_open_maps_credential_and_app_errors(
    state: FakeKintone, url: str, options: dict[str, Any], code: ErrorCode, backend_code: str
) -> None:
    backend = make(url, **options)
    error = await raises(backend.open())
    assert (error.code, error.backend_code) == (code, backend_code)
    assert error.hint
    await backend.aclose()


async def test_user_without_app_permission_is_denied(state: FakeKintone, url: str) -> None:
    state.add_user("carol", "carol-password", apps=[2])
    backend = make(url, api_tokens=[], username="carol", password="carol-password")
    error = await raises(backend.open())
    assert (error.code, error.backend_code) == (ErrorCode.PERMISSION_DENIED, "CB_NO02")
    await backend.aclose()


async def test_view_only_token_cannot_write(state: FakeKintone, url: str) -> None:
    backend = make(url, api_tokens=[VIEW_TOKEN])
    await backend.open()
    table = await tasks_table(backend)
    error = await raises(backend.create_records(table, [{"title": "x"}]))
    assert (error.code, error.backend_code, error.status) == (ErrorCode.PERMISSION_DENIED, "GAIA_NO01", 403)
    await backend.aclose()


async def test_field_errors_point_at_field_names(kintone: KintoneBackend) -> None:
    table = await tasks_table(kintone)
    await kintone.create_records(table, [{"title": "a"}])
    error = await raises(kintone.patch_record(table, "1", {"title": "x" * 201, "points": -1}))
    assert {(fe.record, fe.field) for fe in error.field_errors} == {(None, "title"), (None, "points")}
    error = await raises(kintone.patch_record(table, "2", {"title": "x"}))
    assert (error.code, error.backend_code) == (ErrorCode.NOT_FOUND, "GAIA_RE01")


async def test_rate_limit_after_retries_is_rate_limited_with_a_retry_hint(
    kintone: KintoneBackend, state: FakeKintone
) -> None:
    table = await tasks_table(kintone)
    state.max_concurrency = 0  # every request is over the limit: 429 GAIA_TO04
    error = await raises(kintone.get_record(table, "1"))
    assert (error.code, error.backend_code, error.status) == (ErrorCode.RATE_LIMITED, "GAIA_TO04", 429)
    assert error.retry_after == 1.0 and error.retryable
    assert len(logged(state, "GET", "record")) == FAST_RETRY.attempts


async def test_server_errors_and_malformed_bodies(kintone: KintoneBackend, state: FakeKintone) -> None:
    table = await tasks_table(kintone)
    state.fail_next(3, 503)
    error = await raises(kintone.get_record(table, "1"))
    assert error.code is ErrorCode.UNAVAILABLE and error.status == 503 and error.retryable
    state.fail_next(FAST_RETRY.attempts, "malformed")  # a read whose answer was spoilt is asked again
    error = await raises(kintone.get_record(table, "1"))
    assert error.code is ErrorCode.BACKEND_ERROR and "not JSON" in error.message


def test_mapper_covers_codes_the_fake_cannot_produce_here() -> None:
    def mapped(status: int, code: str, **extra: Any) -> TablesError:
        body = {"code": code, "id": "x1", "message": f"message for {code}", **extra}
        return map_kintone_error(ErrorResponse(status, body, "", httpx.Headers(), None))

    assert mapped(401, "CB_AU01").code is ErrorCode.UNAUTHENTICATED
    assert mapped(409, "GAIA_CO02").code is ErrorCode.CONFLICT
    assert mapped(404, "GAIA_RE01").code is ErrorCode.NOT_FOUND
    assert mapped(429, "GAIA_TM12").retry_after == 1.0
    assert mapped(500, "GAIA_XX99").code is ErrorCode.UNAVAILABLE
    error = mapped(400, "CB_VA01", errors={"records[3].Status.value": {"messages": ["Required."]}})
    assert [(fe.record, fe.field, fe.message) for fe in error.field_errors] == [(3, "Status", "Required.")]
    html = map_kintone_error(ErrorResponse(502, None, "<html>bad gateway</html>", httpx.Headers(), None))
    assert html.code is ErrorCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("records[3].Status.value", (3, "Status")),
        ("records[0].tags.values[1].value", (0, "tags")),
        ("records[2][qty].value", (2, "qty")),
        ("record[qty].value", (None, "qty")),
        ("record.owner.values.value", (None, "owner")),
        ("records[1].items.value[4].value.qty.value", (1, "items[4].qty")),
        ("record.項目.value", (None, "項目")),
        ("app", (None, "app")),
    ],
)
def test_error_keys_point_at_agent_field_names(key: str, expected: tuple[int | None, str]) -> None:
    assert parse_error_key(key) == expected


# -- retries ---------------------------------------------------------------------------------------------------


async def test_reads_are_retried_on_503_and_429_honouring_retry_after(
    kintone: KintoneBackend, state: FakeKintone
) -> None:
    table = await tasks_table(kintone)
    await kintone.create_records(table, [{"title": "a"}])
    state.clear_log()
    state.fail_next(2, 503)
    assert (await kintone.get_record(table, "1"))["fields"]["title"] == "a"
    assert len(logged(state, "GET", "record")) == 3
    state.clear_log()
    state.fail_next(1, 429, retry_after=1)
    started = time.monotonic()
    await kintone.get_record(table, "1")
    assert time.monotonic() - started >= 0.95
    assert len(logged(state, "GET", "record")) == 2


async def test_a_failed_post_is_not_retried(kintone: KintoneBackend, state: FakeKintone) -> None:
    table = await tasks_table(kintone)
    state.fail_next(1, 503)
    error = await raises(kintone.create_records(table, [{"title": "once"}]))
    assert error.code is ErrorCode.UNAVAILABLE
    assert len(logged(state, "POST", "records")) == 1 and state.apps[1].records == {}
    state.fail_next(1, "reset")
    error = await raises(kintone.create_records(table, [{"title": "once"}]))
    assert error.code is ErrorCode.UNAVAILABLE and "may have been applied" in error.message
    assert len(logged(state, "POST", "records")) == 2
    state.fail_next(1, 429)  # refused before processing: safe to send again
    [record] = await kintone.create_records(table, [{"title": "once"}])
    assert record["fields"]["title"] == "once" and len(logged(state, "POST", "records")) == 4


async def test_a_dropped_connection_on_a_read_is_retried(kintone: KintoneBackend, state: FakeKintone) -> None:
    table = await tasks_table(kintone)
    state.fail_next(1, "reset")
    page = await kintone.list_records(table, ListQuery())
    assert page.records == [] and len(logged(state, "GET", "records")) == 2


# -- secrets -----------------------------------------------------------------------------------------------------


async def test_credentials_never_appear_in_errors(
    state: FakeKintone, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    texts: list[str] = []
    for options in (
        {"api_tokens": ["unknownToken123"]},
        {"api_tokens": [], "username": "alice", "password": "wrong-password"},
    ):
        backend = make(url, **options)
        error = await raises(backend.open())
        texts.append(error.to_text() + repr(error.to_payload()))
        await backend.aclose()
    backend = make(url)
    await backend.open()
    table = await tasks_table(backend)
    state.fail_next(5, 503)
    error = await raises(backend.get_record(table, "1"))
    texts.append(error.to_text() + repr(error.to_payload()))
    await backend.aclose()
    joined = "\n".join(texts) + caplog.text
    for secret in ("unknownToken123", "wrong-password", TOKEN, PASSWORD):
        assert secret not in joined


def test_config_errors_name_the_fix_without_echoing_tokens() -> None:
    good = {"KINTONE_BASE_URL": "https://example.cybozu.com", "KINTONE_API_TOKEN": "abc123, def456"}
    backend = KintoneBackend.from_env({**good, "KINTONE_APP_IDS": "3, 4", "KINTONE_GUEST_SPACE_ID": "5"})
    assert backend.settings.api_tokens == ("abc123", "def456") and backend.settings.app_ids == ("3", "4")
    assert backend.settings.guest_space_id == "5"
    password = KintoneBackend.from_env({**good, "KINTONE_USERNAME": "u", "KINTONE_PASSWORD": "p@ss"})
    assert password.settings.password_auth  # password auth wins when both are given
    cases = {
        "KINTONE_BASE_URL is not set": {"KINTONE_API_TOKEN": "abc"},
        "must be an http(s) URL": {**good, "KINTONE_BASE_URL": "example.cybozu.com"},
        "the domain only": {**good, "KINTONE_BASE_URL": "https://example.cybozu.com/k/v1/"},
        "credentials are missing": {"KINTONE_BASE_URL": "https://example.cybozu.com"},
        "not a Kintone API token": {**good, "KINTONE_API_TOKEN": "abc123,sec ret!"},
        "at most 9": {**good, "KINTONE_API_TOKEN": ",".join(f"t{i}" for i in range(10))},
        "KINTONE_PASSWORD is not set": {**good, "KINTONE_USERNAME": "u"},
        "KINTONE_GUEST_SPACE_ID must be": {**good, "KINTONE_GUEST_SPACE_ID": "five"},
        "KINTONE_APP_IDS must be": {**good, "KINTONE_APP_IDS": "1,x"},
    }
    for fragment, environ in cases.items():
        with pytest.raises(ConfigError) as info:
            KintoneBackend.from_env(environ)
        assert fragment in str(info.value) and "\n" not in str(info.value)
        assert "sec ret!" not in str(info.value)


def test_a_mistyped_variable_fails_at_start_naming_the_known_ones() -> None:
    environ = {"KINTONE_BASE_URL": "https://example.cybozu.com", "KINTONE_API_TOKEN": "abc123", "KINTONE_APP_ID": "3"}
    assert ADAPTER.settings is KintoneSettings
    with pytest.raises(ConfigError) as info:
        ADAPTER.open(environ, "")
    message = str(info.value)
    assert "KINTONE_APP_ID" in message and "KINTONE_APP_IDS" in message and "KINTONE_GUEST_SPACE_ID" in message
    assert "abc123" not in message and "\n" not in message


# -- apps, guest spaces, schema tokens ------------------------------------------------------------------------------


async def test_password_auth_lists_apps_and_token_auth_needs_app_ids(state: FakeKintone, url: str) -> None:
    backend = make(url, api_tokens=[], username="alice", password=PASSWORD, app_ids=None)
    await backend.open()
    assert [(t.id, t.name) for t in await backend.list_tables()] == [("1", "Tasks"), ("2", "Other")]
    await backend.aclose()
    backend = make(url, app_ids=None)
    with pytest.raises(ConfigError, match="KINTONE_APP_IDS"):
        await backend.open()
    await backend.aclose()


async def test_guest_space_apps_use_the_guest_path(state: FakeKintone, url: str) -> None:
    token = state.add_token(3)
    backend = make(url, api_tokens=[token], app_ids=["3"], guest_space_id=5)
    await backend.open()
    [table] = await backend.list_tables()
    [record] = await backend.create_records(table, [{"title": "in the guest space"}])
    assert record["fields"]["title"] == "in the guest space"
    assert all(r.path.startswith("/k/guest/5/v1/") for r in state.requests)
    await backend.aclose()


async def test_schema_token_is_cached_and_follows_form_changes(state: FakeKintone, url: str) -> None:
    backend = make(url, schema_check_interval=0.2)
    await backend.open()
    first = await backend.schema_token()
    state.clear_log()
    assert await backend.schema_token() == first and state.requests == []  # cheap within the interval
    state.apps[1].properties["added"] = {"type": "NUMBER", "code": "added", "label": "added", "required": False}
    time.sleep(0.25)
    changed = await backend.schema_token()
    assert changed != first
    assert "added" in [col.name for col in (await backend.list_tables())[0].columns]
    await backend.aclose()
