"""The adapter kit on its own: the cursor envelope every backend uses, and the shared date-time codecs."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tables_mcp.backends.kit.codecs import (
    datetime_minute_bound,
    format_datetime,
    minute_bound,
    parse_datetime,
    time_minute_bound,
    utc_datetime,
)
from tables_mcp.backends.kit.cursors import (
    MAX_CURSOR_CHARS,
    TAG_BYTES,
    CursorCodec,
    query_scope,
    store_key,
)
from tables_mcp.errors import ErrorCode, TablesError
from tables_mcp.model import BoolGroup, Column, ColumnType, Condition, ListQuery, SortKey

STATUS = Column(name="Status", type=ColumnType.SELECT, native_type="SELECT", options=("Todo", "Done"))
ESTIMATE = Column(name="Estimate", type=ColumnType.NUMBER, native_type="NUMBER")
CODEC = CursorCodec(store_key("test store"))


def query(**changes: Any) -> ListQuery:
    base: dict[str, Any] = {
        "filter": BoolGroup("and", (Condition(STATUS, "eq", "Todo"), Condition(ESTIMATE, "gt", 2))),
        "sort": (SortKey(ESTIMATE, descending=True),),
        "fields": ("Status",),
    }
    return ListQuery(**{**base, **changes})


def refused(cursor: str, scope: str, codec: CursorCodec = CODEC) -> TablesError:
    with pytest.raises(TablesError) as caught:
        codec.decode(cursor, scope)
    error = caught.value
    assert error.code is ErrorCode.INVALID_ARGUMENT
    assert [problem.field for problem in error.field_errors] == ["cursor"]
    assert "without a cursor" in error.field_errors[0].message
    assert "valid only for the table, filter, sort and fields" in error.message
    return error


def envelope(cursor: str) -> tuple[bytes, dict[str, Any]]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    return raw[:TAG_BYTES], json.loads(raw[TAG_BYTES:])


def seal(tag: bytes, body: dict[str, Any]) -> str:
    raw = tag + json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# -- cursors -----------------------------------------------------------------------------------------------


def test_a_cursor_round_trips_its_payload_and_is_opaque_base64url() -> None:
    scope = query_scope("tbl1", query())
    cursor = CODEC.encode(scope, {"o": 40, "a": None, "h": "x"})
    assert CODEC.decode(cursor, scope) == {"o": 40, "a": None, "h": "x"}
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    _, body = envelope(cursor)
    assert body == {"v": 1, "s": scope, "p": {"o": 40, "a": None, "h": "x"}}


def test_the_scope_covers_table_filter_sort_and_fields() -> None:
    scope = query_scope("tbl1", query())
    assert query_scope("tbl1", query()) == scope, "the same call gives the same scope"
    others = [
        query_scope("tbl2", query()),
        query_scope("tbl1", query(filter=Condition(STATUS, "eq", "Todo"))),
        query_scope("tbl1", query(filter=None)),
        query_scope("tbl1", query(filter=BoolGroup("or", query().filter.items))),  # type: ignore[union-attr]
        query_scope("tbl1", query(sort=(SortKey(ESTIMATE),))),
        query_scope("tbl1", query(sort=())),
        query_scope("tbl1", query(fields=("Status", "Estimate"))),
        query_scope("tbl1", query(fields=None)),
    ]
    assert scope not in others and len(set(others)) == len(others)


def test_the_scope_ignores_limit_and_cursor_and_all_but_column_names() -> None:
    scope = query_scope("tbl1", query())
    assert query_scope("tbl1", query(limit=7, cursor="abc")) == scope, "a page size may change between pages"
    described = STATUS.model_copy(update={"description": "edited while paging", "options": ("Todo", "Done", "X")})
    renamed_filter = BoolGroup("and", (Condition(described, "eq", "Todo"), Condition(ESTIMATE, "gt", 2)))
    assert query_scope("tbl1", query(filter=renamed_filter)) == scope


def test_a_cursor_for_another_table_or_query_is_refused_saying_so() -> None:
    cursor = CODEC.encode(query_scope("tbl1", query()), {"o": 50})
    for scope in (query_scope("tbl2", query()), query_scope("tbl1", query(sort=()))):
        error = refused(cursor, scope)
        assert "belongs to another table, or to another filter, sort or fields" in error.message


def test_an_edited_cursor_is_refused() -> None:
    scope = query_scope("tbl1", query())
    tag, body = envelope(CODEC.encode(scope, {"o": 50}))
    edited = seal(tag, {**body, "p": {"o": 5000}})
    assert "was changed" in refused(edited, scope).message
    retagged = seal(bytes(TAG_BYTES), body)
    assert "was changed" in refused(retagged, scope).message


def test_a_cursor_of_another_store_is_refused_and_the_key_is_the_same_in_every_process() -> None:
    scope = query_scope("tbl1", query())
    cursor = CODEC.encode(scope, {"o": 50})
    assert "another store" in refused(cursor, scope, CursorCodec(store_key("other store"))).message
    # A key derived from the store's name, not drawn at random: a replica or a restart reads the cursor.
    assert CursorCodec(store_key("test store")).decode(cursor, scope) == {"o": 50}


def test_a_cursor_of_another_version_is_refused() -> None:
    scope = query_scope("tbl1", query())
    tag, body = envelope(CODEC.encode(scope, {"o": 50}))
    assert "another version" in refused(seal(tag, {**body, "v": 2}), scope).message
    assert "another version" in refused(seal(tag, {"s": scope, "p": {}}), scope).message


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not-a-cursor!",
        "eyJxIjoieCJ9",  # an unsigned cursor of the earlier format
        "A" * 40,
        base64.urlsafe_b64encode(bytes(TAG_BYTES) + b"[1, 2]").decode().rstrip("="),
        base64.urlsafe_b64encode(bytes(TAG_BYTES) + b"\xff\xfe").decode().rstrip("="),
        base64.urlsafe_b64encode(bytes(TAG_BYTES) + b"[" * 3000).decode().rstrip("=")[:MAX_CURSOR_CHARS],
        "QUFB" * (MAX_CURSOR_CHARS // 4 + 1),
        "QUFB QUFB",
    ],
)
def test_garbage_is_refused_as_not_issued_here(garbage: str) -> None:
    assert "not one this server issued" in refused(garbage, query_scope("tbl1", query())).message


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    scope = query_scope("tbl1", query())
    good = CODEC.encode(scope, {"o": 1})
    _, body = envelope(good)
    body = {**body, "p": [1]}
    raw = json.dumps(body, separators=(",", ":")).encode()
    forged = seal(CODEC._tag(raw), body)
    assert "not one this server issued" in refused(forged, scope).message


# -- date-time codecs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("2026-03-01T10:15:00+09:00", "2026-03-01T01:15:00Z"),
        ("2026-03-01T01:15:00Z", "2026-03-01T01:15:00Z"),
        ("2026-03-01T01:15:00.999Z", "2026-03-01T01:15:00Z"),
        ("2026-03-01T01:15", "2026-03-01T01:15:00Z"),  # no offset: UTC
        ("0999-06-01T12:00:00Z", "0999-06-01T12:00:00Z"),  # four-digit years, as text order needs
        ("0001-01-01T00:30:00-00:30", "0001-01-01T01:00:00Z"),
        ("1000-01-01T00:30:00+01:00", "0999-12-31T23:30:00Z"),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
    ],
)
def test_date_times_come_out_in_utc_with_four_digit_years(given: str, canonical: str) -> None:
    assert utc_datetime(given) == canonical


@pytest.mark.parametrize("given", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "soon", "2026-02-30"])
def test_date_times_out_of_range_or_malformed_are_value_errors(given: str) -> None:
    with pytest.raises(ValueError):
        utc_datetime(given)


def test_format_and_parse_agree() -> None:
    moment = datetime(999, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    assert format_datetime(moment) == "0999-01-02T03:04:05Z"
    assert format_datetime(moment.replace(tzinfo=None)) == "0999-01-02T03:04:05Z"
    assert parse_datetime(format_datetime(moment)) == moment.replace(microsecond=0)


@pytest.mark.parametrize(
    ("op", "value", "bound"),
    [
        ("lt", "09:30:30", ("lt", "09:31")),
        ("lte", "09:30:30", ("lte", "09:30")),
        ("gt", "09:30:30", ("gt", "09:30")),
        ("gte", "09:30:30", ("gte", "09:31")),
        ("lt", "09:30", ("lt", "09:30")),
        ("eq", "09:30:00", ("eq", "09:30")),
        ("eq", "09:30:30", None),
        ("ne", "09:30:30", None),
        ("lt", "23:59:30", ("lte", "23:59")),  # the next minute would be the next day
        ("gte", "23:59:30", ("gt", "23:59")),
    ],
)
def test_time_bounds_move_to_the_minute_that_selects_the_same_values(
    op: str, value: str, bound: tuple[str, str] | None
) -> None:
    assert time_minute_bound(op, value) == bound


def test_date_time_bounds_move_to_whole_minutes_in_utc() -> None:
    assert datetime_minute_bound("lt", "2026-03-01T18:30:30+09:00") == ("lt", "2026-03-01T09:31:00Z")
    assert datetime_minute_bound("gt", "0999-03-01T09:30:30Z") == ("gt", "0999-03-01T09:30:00Z")
    assert datetime_minute_bound("eq", "2026-03-01T09:30:30Z") is None
    assert datetime_minute_bound("gte", "9999-12-31T23:59:30Z") == ("gt", "9999-12-31T23:59:00Z")
    moment = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert minute_bound("lt", moment) == ("lt", moment)
