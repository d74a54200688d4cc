"""Routing, auth and the endpoint handlers of the fake Ozari Integration API (no HTTP server code here).

:func:`dispatch` turns a request (method, path, query, headers, body) into ``(status, payload)`` or raises
:class:`OzariError`; ``server.py`` wraps it in Starlette, faults and the request log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import OzariError, bad_request
from .query import NAME_PATTERN, equals_all, parse_query, sort_rows
from .state import MODIFIED_COLUMN, PRIMARY_KEY, FakeOzari, FakeTable
from .values import FieldKind, ValueRejected, is_scalar, store

_TABLE_ROUTE = re.compile(r"/integration/tables/([^/]+)/(fields|query|records|records/single|records/bulk)")
_WRITE_KEYS = ("fields",)
_UPDATE_KEYS = ("filters", "fields")

Payload = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One authenticated request as the handlers see it."""

    state: FakeOzari
    query: Mapping[str, str]
    body: Any

    def lang(self) -> str:
        return self.query.get("lang") or "he"


def _authenticate(state: FakeOzari, headers: Mapping[str, str]) -> None:
    """``Authorization: Bearer <token>`` exactly (scheme case-sensitive, one space); the token is never echoed."""
    header = headers.get("authorization", "")
    token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
    if not token or " " in token:
        raise OzariError(401, "Missing or invalid Authorization header")
    if token not in state.tokens:
        raise OzariError(403, "Invalid token")


def _parse_body(content_type: str, raw: bytes) -> Any:
    """express.json(): parses only JSON content types; any other body reads as ``{}``, as body-parser leaves it."""
    media = content_type.split(";")[0].strip().lower()
    if not (media == "application/json" or media.endswith("+json")) or not raw.strip():
        return {}
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise bad_request("Invalid JSON body") from None


def _table(state: FakeOzari, name: str) -> FakeTable:
    if not NAME_PATTERN.fullmatch(name):
        raise bad_request("Invalid table name")
    table = state.tables.get(name)
    if table is None:
        raise OzariError(404, "Table not found")
    if table.credential:
        raise OzariError(403, "This table is not readable through the integration API")
    return table


# -- metadata -------------------------------------------------------------------------------------


def _auth_test(call: Call) -> Payload:
    return {"success": True, "company": call.state.company}


def _languages(call: Call) -> Payload:
    return {"success": True, "languages": [language.as_json() for language in call.state.languages]}


def _tables(call: Call) -> Payload:
    lang = call.lang()
    tables = call.state.tables.values()
    listed = [{"name": table.name, "label": table.labels.get(lang) or table.name} for table in tables]
    return {"success": True, "tables": listed}


def _fields(call: Call, table: FakeTable) -> Payload:
    lang = call.lang()
    shown = sorted((spec for spec in table.fields.values() if spec.show_form), key=lambda spec: spec.order)
    fields = [{"name": spec.name, "label": spec.labels.get(lang) or spec.name, "order": spec.order} for spec in shown]
    return {"success": True, "table": table.name, "fields": fields}


# -- query ------------------------------------------------------------------------------------------


def _query(call: Call, table: FakeTable) -> Payload:
    columns = table.columns()
    query = parse_query(call.body, columns, clamp_per_page=call.state.clamp_per_page)
    rows = [row for _, row in sorted(table.rows.items())]
    if query.predicate is not None:
        rows = [row for row in rows if query.predicate(row)]
    if query.sort:
        rows = sort_rows(rows, query.sort, columns)
    elif call.state.shuffle_unsorted:
        call.state.random.shuffle(rows)
    start = (query.page - 1) * query.per_page
    page = rows[start : start + query.per_page]
    names = query.select or list(columns)
    records = [{name: row[name] for name in names} for row in page]
    return {
        "success": True,
        "table": table.name,
        "page": query.page,
        "per_page": query.per_page,
        "total": len(rows),
        "records": records,
    }


# -- writes -----------------------------------------------------------------------------------------


def _object_key(body: Any, key: str) -> dict[str, Any]:
    """Joi's ``object().min(1).required()`` on one body key."""
    if key not in body:
        raise bad_request(f'"{key}" is required')
    value = body[key]
    if not isinstance(value, dict):
        raise bad_request(f'"{key}" must be of type object')
    if not value:
        raise bad_request(f'"{key}" must have at least 1 key')
    return value


def _body_maps(body: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        raise bad_request('"value" must be of type object')
    maps = [_object_key(body, key) for key in keys]
    unknown = [key for key in body if key not in keys]
    if unknown:
        raise bad_request(f'"{unknown[0]}" is not allowed')
    return maps


def _check_names(values: Mapping[str, Any], columns: Mapping[str, FieldKind], role: str) -> None:
    for name, value in values.items():
        if not NAME_PATTERN.fullmatch(name):
            raise bad_request(f"Invalid field name: {name}")
        if role == "field" and name == PRIMARY_KEY:
            raise bad_request(f"Cannot set primary key column: {PRIMARY_KEY}")
        if name not in columns:
            raise bad_request(f"Unknown field: {name}")
        if not is_scalar(value):
            raise bad_request(f"Invalid value for {role} {name}: objects and arrays are not accepted")


def _coerced(fields: Mapping[str, Any], columns: Mapping[str, FieldKind]) -> dict[str, Any]:
    """Every value as its column keeps it; the database's refusal is a 500, as the API passes it on."""
    try:
        return {name: store(columns[name], name, value) for name, value in fields.items()}
    except ValueRejected as refusal:
        raise OzariError(500, str(refusal)) from None


def _insert(call: Call, table: FakeTable) -> Payload:
    (fields,) = _body_maps(call.body, _WRITE_KEYS)
    columns = table.columns()
    _check_names(fields, columns, "field")
    fid = call.state.insert_row(table, _coerced(fields, columns))
    inserted_id = None if call.state.inserted_id_null else fid
    return {"success": True, "table": table.name, "insertedId": inserted_id, "fields": fields}


def _matching_rows(call: Call, table: FakeTable) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    filters, fields = _body_maps(call.body, _UPDATE_KEYS)
    columns = table.columns()
    _check_names(filters, columns, "filter")
    _check_names(fields, columns, "field")
    new_values = _coerced(fields, columns)
    matches = equals_all(filters, columns)
    return [row for _, row in sorted(table.rows.items()) if matches(row)], fields, new_values


def _apply(state: FakeOzari, row: dict[str, Any], new_values: Mapping[str, Any]) -> bool:
    """Writes the values; like ``ON UPDATE CURRENT_TIMESTAMP``, flastmodify moves only when something changed."""
    if all(row[name] == value for name, value in new_values.items()):
        return False
    row.update(new_values)
    if MODIFIED_COLUMN not in new_values:
        row[MODIFIED_COLUMN] = state.now_text()
    return True


def _update_single(call: Call, table: FakeTable) -> Payload:
    rows, fields, new_values = _matching_rows(call, table)
    if not rows:
        raise OzariError(404, "No records match the given filters", matched=0)
    if len(rows) > 1:
        message = "Multiple records match the given filters. Use /records/bulk for multi-update."
        raise OzariError(409, message, matched=len(rows))
    updated = int(_apply(call.state, rows[0], new_values))
    return {"success": True, "table": table.name, "matched": 1, "updated": updated, "fields": fields}


def _update_bulk(call: Call, table: FakeTable) -> Payload:
    rows, _, new_values = _matching_rows(call, table)
    updated = sum(_apply(call.state, row, new_values) for row in rows)
    return {"success": True, "table": table.name, "updated": updated}


# -- routing ----------------------------------------------------------------------------------------

_PLAIN_ROUTES: dict[tuple[str, str], Callable[[Call], Payload]] = {
    ("GET", "/integration/auth/test"): _auth_test,
    ("GET", "/integration/languages"): _languages,
    ("GET", "/integration/tables"): _tables,
}
_TABLE_ROUTES: dict[tuple[str, str], tuple[int, Callable[[Call, FakeTable], Payload]]] = {
    ("GET", "fields"): (200, _fields),
    ("POST", "query"): (200, _query),
    ("POST", "records"): (201, _insert),
    ("PATCH", "records/single"): (200, _update_single),
    ("PATCH", "records/bulk"): (200, _update_bulk),
}


def dispatch(
    state: FakeOzari, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], raw_body: bytes
) -> tuple[int, Payload]:
    """Auth (for every ``/integration/`` path), then the route, then the table, then the body."""
    path = path.rstrip("/") or "/"
    not_found = OzariError(404, f"Cannot {method} {path}")
    if not path.startswith("/integration/"):
        raise not_found
    with state.lock:
        _authenticate(state, headers)
        plain = _PLAIN_ROUTES.get((method, path))
        if plain is not None:
            return 200, plain(Call(state, query, {}))
        match = _TABLE_ROUTE.fullmatch(path)
        route = _TABLE_ROUTES.get((method, match[2])) if match else None
        if match is None or route is None:
            raise not_found
        status, handler = route
        table = _table(state, match[1])
        body = _parse_body(headers.get("content-type", ""), raw_body) if method != "GET" else {}
        return status, handler(Call(state, query, body), table)
