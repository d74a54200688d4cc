"""The Onnie public REST endpoints over a :class:`FakeOnnie`: auth, rate limit, scopes, paging, handlers."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .columns import iso_ms
from .errors import bad_request, forbidden, not_found, rate_limited, unauthorized, validation_failed
from .state import FakeOnnie
from .store import FakeTable, StoredRecord, field_values, render_record

BASE_PATH = "/api/public/v1"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_BATCH = 100
READ, WRITE = "tables:read", "tables:write"
_SORTABLE_STAMPS = ("created_at", "updated_at")


@dataclass
class Call:
    """One request as the handlers see it: path parameters, query, parsed JSON body."""

    state: FakeOnnie
    params: dict[str, str]
    query: Mapping[str, str]
    body: bytes

    def json_body(self) -> dict[str, Any]:
        try:
            payload = json.loads(self.body) if self.body else None
        except ValueError:
            raise bad_request("Request body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise bad_request("Request body must be a JSON object")
        return payload

    def table(self) -> FakeTable:
        table = self.state.tables.get(_canonical_uuid(self.params["table_id"]) or "")
        if table is None:
            raise not_found("Table")
        return table

    def record(self, table: FakeTable) -> StoredRecord:
        record = table.records.get(_canonical_uuid(self.params["record_id"]) or "")
        if record is None:
            raise not_found("Record")
        return record


Reply = tuple[int, Any]
Handler = Callable[[Call], Reply]


def _canonical_uuid(raw: str) -> str | None:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Paging
# --------------------------------------------------------------------------------------------


def page_limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"\d+", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad_request(
            f"limit must be an integer between 1 and {MAX_LIMIT}", parameter="limit", min=1, max=MAX_LIMIT
        )
    return int(raw)


def encode_cursor(position: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(query: Mapping[str, str], scope: str) -> dict[str, Any] | None:
    """The position a ``cursor`` from an earlier page of ``scope`` (the same listing) stands for."""
    raw = query.get("cursor")
    if raw is None or raw == "":
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        position = None
    if not isinstance(position, dict) or position.get("scope") != scope:
        raise bad_request("Invalid cursor", parameter="cursor")
    return position


def _page(items: list[Any], offset: int, limit: int, scope: str) -> tuple[list[Any], str | None]:
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    return page, encode_cursor({"scope": scope, "offset": offset + limit}) if more else None


# --------------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------------


def list_tables(call: Call) -> Reply:
    position = decode_cursor(call.query, "tables")
    offset = int(position.get("offset", 0)) if position else 0
    tables, next_cursor = _page(list(call.state.tables.values()), offset, page_limit(call.query), "tables")
    return 200, {"tables": [table.summary_json() for table in tables], "next_cursor": next_cursor}


def get_table(call: Call) -> Reply:
    return 200, call.table().detail_json()


def list_records(call: Call) -> Reply:
    """Creation order pages by "after this record" (stable under deletes); a sorted listing pages by offset."""
    table = call.table()
    limit = page_limit(call.query)
    scope = f"records:{table.id}"
    position = decode_cursor(call.query, scope)
    records = _filtered(table, call.query.get("filter"))
    sort = call.query.get("sort")
    if sort:
        offset = int(position.get("offset", 0)) if position else 0
        page, next_cursor = _page(_sorted(table, records, sort), offset, limit, scope)
    else:
        after = int(position.get("after", 0)) if position else 0
        remaining = [record for record in records if record.seq > after]
        page = remaining[:limit]
        more = len(remaining) > limit
        next_cursor = encode_cursor({"scope": scope, "after": page[-1].seq}) if more else None
    return 200, {"records": [render_record(table, record) for record in page], "next_cursor": next_cursor}


def _filtered(table: FakeTable, raw: str | None) -> list[StoredRecord]:
    """``filter`` is a JSON object of column name -> value: equality, or membership for array values."""
    records = table.ordered_records()
    if not raw:
        return records
    try:
        wanted = json.loads(raw)
    except ValueError:
        wanted = None
    if not isinstance(wanted, dict):
        raise bad_request('filter must be a JSON object of column name to value, e.g. {"Status":"Done"}')
    unknown = {str(name): "Unknown column" for name in wanted if table.column(str(name)) is None}
    if unknown:
        raise validation_failed(unknown, parameter="filter")
    return [record for record in records if _matches(field_values(table, record), wanted)]


def _matches(values: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    for name, expected in wanted.items():
        actual = values.get(name)
        if not (
            actual == expected or (isinstance(actual, list) and not isinstance(expected, list) and expected in actual)
        ):
            return False
    return True


def _sorted(table: FakeTable, records: list[StoredRecord], raw: str) -> list[StoredRecord]:
    """``sort`` is comma-separated column names, ``-`` for descending; nulls last either way."""
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = {
        key.lstrip("-"): "Unknown column"
        for key in keys
        if table.column(key.lstrip("-")) is None and key.lstrip("-") not in _SORTABLE_STAMPS
    }
    if unknown or not keys:
        raise validation_failed(unknown or {"sort": "Empty sort"}, parameter="sort")
    rows = [(record, {**_stamps(record), **field_values(table, record)}) for record in records]
    for key in reversed(keys):  # least significant first; Python's sort is stable, reverse=True too
        name = key.lstrip("-")
        present = [row for row in rows if row[1].get(name) is not None]
        absent = [row for row in rows if row[1].get(name) is None]
        present.sort(key=_by_column(name), reverse=key.startswith("-"))
        rows = present + absent
    return [record for record, _ in rows]


def _by_column(name: str) -> Callable[[tuple[StoredRecord, dict[str, Any]]], tuple[int, Any]]:
    return lambda row: _sort_value(row[1][name])


def _stamps(record: StoredRecord) -> dict[str, str]:
    """created_at / updated_at, sortable when no column has those names (ISO strings sort by time)."""
    return {"created_at": iso_ms(record.created_at), "updated_at": iso_ms(record.updated_at)}


def _sort_value(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool | int | float):
        return 0, float(value)
    if isinstance(value, list):
        return 1, ",".join(map(str, value))
    return 1, str(value)


def get_record(call: Call) -> Reply:
    table = call.table()
    return 200, render_record(table, call.record(table))


def create_records(call: Call) -> Reply:
    table = call.table()
    batch = call.json_body().get("records")
    if not isinstance(batch, list) or not batch:
        raise bad_request("records must be a non-empty array")
    if len(batch) > MAX_BATCH:
        raise bad_request(f"At most {MAX_BATCH} records can be created per request", max_records=MAX_BATCH)
    fields = [item.get("fields") if isinstance(item, dict) else None for item in batch]
    created = call.state.writer(table).create(fields, call.state.now(), call.state.take_seqs(len(fields)))
    return 201, {"records": [render_record(table, record) for record in created]}


def replace_record(call: Call) -> Reply:
    table = call.table()
    record = call.record(table)
    call.state.writer(table).replace(record, call.json_body().get("fields"), call.state.now())
    return 200, render_record(table, record)


def merge_record(call: Call) -> Reply:
    table = call.table()
    record = call.record(table)
    call.state.writer(table).merge(record, call.json_body().get("fields"), call.state.now())
    return 200, render_record(table, record)


def delete_record(call: Call) -> Reply:
    """References to the deleted record from other records are left as they are (unconfirmed)."""
    table = call.table()
    record = call.record(table)
    del table.records[record.id]
    return 200, {"deleted": True, "id": record.id}


# --------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------

_ROUTES: list[tuple[re.Pattern[str], dict[str, tuple[str, Handler]]]] = [
    (re.compile(r"/tables"), {"GET": (READ, list_tables)}),
    (re.compile(r"/tables/(?P<table_id>[^/]+)"), {"GET": (READ, get_table)}),
    (
        re.compile(r"/tables/(?P<table_id>[^/]+)/records"),
        {"GET": (READ, list_records), "POST": (WRITE, create_records)},
    ),
    (
        re.compile(r"/tables/(?P<table_id>[^/]+)/records/(?P<record_id>[^/]+)"),
        {
            "GET": (READ, get_record),
            "PUT": (WRITE, replace_record),
            "PATCH": (WRITE, merge_record),
            "DELETE": (WRITE, delete_record),
        },
    ),
]


def route_of(path: str) -> str | None:
    """The path after the base path ("/tables/..."), or None outside it."""
    if path == BASE_PATH or path.startswith(BASE_PATH + "/"):
        return path[len(BASE_PATH) :].rstrip("/") or "/"
    return None


def authenticate(state: FakeOnnie, authorization: str | None) -> str:
    """The caller's live key from ``Authorization: Bearer <key>``; 401 otherwise."""
    scheme, _, key = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip() or state.use_key(key.strip()) is None:
        raise unauthorized()
    return key.strip()


def check_rate(state: FakeOnnie, key: str) -> None:
    wait = state.take_token(key)
    if wait is None:
        return
    seconds = 1 if wait == float("inf") else max(1, int(-(-wait // 1)))
    raise rate_limited({"Retry-After": str(seconds)} if state.retry_after_header else None)


def handle(
    state: FakeOnnie, method: str, route: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
) -> Reply:
    """Auth, then the key's token bucket, then the route, then its scope, then the handler."""
    key = authenticate(state, headers.get("authorization"))
    check_rate(state, key)
    for pattern, methods in _ROUTES:
        match = pattern.fullmatch(route)
        if match is None:
            continue
        if method not in methods:
            raise not_found("Route")
        scope, handler = methods[method]
        if scope not in state.keys[key].scopes:
            raise forbidden(scope)
        return handler(Call(state, match.groupdict(), query, body))
    raise not_found("Route")
