"""Endpoints of the fake DingTalk API: the token grant and the notable_1.0 routes of BACKENDS.md Part 2 §1.2.

Checks run in this order (the order is assumed; DingTalk documents none): route, access token (header present,
token live), the app's permission for the route, ``operatorId`` present, JSON body present (POST/PUT), operator
known, base known and open to the operator, then the handler's own checks.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import Headers

from .errors import (
    document_not_found,
    duplicate_client_token,
    invalid_args,
    invalid_client,
    invalid_token,
    missing_parameter,
    missing_token,
    operation_illegal,
    permission_denied,
    resource_not_found,
    unknown_action,
)
from .filters import compile_filter
from .model import READ_PERMISSION, WRITE_PERMISSION, FakeApp, FakeBase, FakeSheet, StoredRecord
from .state import FakeDingTalk
from .values import render_record
from .writes import delete_records, insert_records, update_records

TOKEN_PATH = "/v1.0/oauth2/accessToken"
MAX_PAGE = 100  # maxResults 1..100 (listrecords doc page)
MAX_BATCH = 100  # records per insert/update/delete (§3b: not official; users and DingTalk's CLI report 100)
MAX_FIELD_NAMES = 100
_NOTABLE_PATH = re.compile(r"/v1\.0/notable/bases/([^/]+)(/.*)")
_TOKEN_HEADER = "x-acs-dingtalk-access-token"

Payload = dict[str, Any]


@dataclass
class Call:
    """One authorised Notable request."""

    state: FakeDingTalk
    operator: str
    base: FakeBase
    segments: list[str]  # the decoded path parameters after baseId
    query: Mapping[str, str]
    body: Payload

    def sheet(self) -> FakeSheet:
        return self.state.find_sheet(self.base, self.segments[0])


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[Call], Payload]
    permission: str


def dispatch(
    state: FakeDingTalk, method: str, raw_path: str, headers: Headers, query: Mapping[str, str], body: bytes
) -> Payload:
    """Answers one request (under ``state.lock``) or raises :class:`~.errors.DingTalkError`."""
    if (method, raw_path) == ("POST", TOKEN_PATH):
        return _access_token(state, headers, body)
    found = _NOTABLE_PATH.fullmatch(raw_path)
    route, segments = _route(method, found[2]) if found else (None, [])
    if found is None or route is None:
        raise unknown_action(method, unquote(raw_path))
    app = _authenticate(state, headers)
    if route.permission not in app.permissions:
        raise permission_denied(route.permission)
    operator = query.get("operatorId")
    if not operator:
        raise missing_parameter("operatorId")
    payload = _json_body(headers, body) if method in ("POST", "PUT") else {}
    if operator not in state.users:
        raise operation_illegal(f"operatorId {operator} is not a user of this organisation")
    base = state.find_base(unquote(found[1]))
    if base.members is not None and operator not in base.members:
        raise document_not_found()
    return route.handler(Call(state, operator, base, segments, query, payload))


def _route(method: str, rest: str) -> tuple[Route | None, list[str]]:
    for route in ROUTES:
        found = route.pattern.fullmatch(rest)
        if route.method == method and found:
            return route, [unquote(segment) for segment in found.groups()]
    return None, []


def _authenticate(state: FakeDingTalk, headers: Headers) -> FakeApp:
    token = headers.get(_TOKEN_HEADER)
    if not token:
        raise missing_token()
    app = state.token_app(token)
    if app is None:
        raise invalid_token()
    return app


def _json_body(headers: Headers, body: bytes) -> Payload:
    """The JSON object sent; a form or empty body is ``Missingbody`` as the gateway answers it (§1.6)."""
    if not body or "json" not in headers.get("content-type", ""):
        raise missing_parameter("body")
    try:
        payload = json.loads(body)
    except ValueError:
        raise invalid_args("the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise invalid_args("the request body must be a JSON object")
    return payload


def _access_token(state: FakeDingTalk, headers: Headers, body: bytes) -> Payload:
    payload = _json_body(headers, body)
    for key in ("appKey", "appSecret"):
        if not isinstance(payload.get(key), str) or not payload[key]:
            raise missing_parameter(key)
    app = state.apps.get(payload["appKey"])
    if app is None or app.app_secret != payload["appSecret"]:
        raise invalid_client()
    return {"accessToken": state.issue_token(app.app_key), "expireIn": state.token_ttl}


# -- sheets and fields -----------------------------------------------------------------------------------------


def _get_all_sheets(call: Call) -> Payload:
    return {"value": [sheet.describe() for sheet in call.base.sheets.values()]}


def _get_sheet(call: Call) -> Payload:
    return call.sheet().describe()


def _create_sheet(call: Call) -> Payload:
    name, fields = call.body.get("name"), call.body.get("fields", [])
    if not isinstance(name, str) or not isinstance(fields, list):
        raise invalid_args("name (string) is required; fields must be an array")
    specs = {}
    for spec in fields:
        field_name, ftype = _field_spec(spec)
        if field_name in specs:
            raise invalid_args(f"field name {field_name!r} is used twice")
        specs[field_name] = {"type": ftype, "property": spec.get("property")}
    sheet_id = call.state.add_sheet(call.base.id, name, specs)
    return call.base.sheets[sheet_id].describe()


def _field_spec(spec: Any) -> tuple[str, str]:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str) or not isinstance(spec.get("type"), str):
        raise invalid_args("each field needs a name and a type (strings)")
    prop = spec.get("property")
    if prop is not None and not isinstance(prop, Mapping):
        raise invalid_args(f"field {spec['name']!r}: property must be an object")
    return spec["name"], spec["type"]


def _get_fields(call: Call) -> Payload:
    return {"value": [field.describe() for field in call.sheet().fields.values()]}


def _create_field(call: Call) -> Payload:
    name, ftype = _field_spec(call.body)
    sheet = call.sheet()
    field_id = call.state.add_field(call.base.id, sheet.id, name, ftype, call.body.get("property"))
    return sheet.fields[field_id].describe()


# -- reading records -------------------------------------------------------------------------------------------


def _get_records(call: Call) -> Payload:
    return _page(call, call.sheet(), call.query.get("maxResults"), call.query.get("nextToken"))


def _list_records(call: Call) -> Payload:
    sheet = call.sheet()
    body = call.body
    return _page(
        call,
        sheet,
        body.get("maxResults"),
        body.get("nextToken"),
        predicate=compile_filter(call.base, sheet, body.get("filter")),
        only=_field_names(sheet, body.get("fieldIdOrNames")),
    )  # calcFields is accepted and ignored: formulas are always computed


def _field_names(sheet: FakeSheet, raw: Any) -> set[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_FIELD_NAMES or not all(isinstance(item, str) for item in raw):
        raise invalid_args(f"fieldIdOrNames must be an array of at most {MAX_FIELD_NAMES} strings")
    names = set()
    for id_or_name in raw:
        field = sheet.field(id_or_name)
        if field is None:
            raise resource_not_found(f"field {id_or_name} not found")
        names.add(field.name)
    return names


def _max_results(raw: Any) -> int:
    if raw is None:
        return MAX_PAGE
    number = int(raw) if isinstance(raw, str) and raw.isdigit() else raw
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_PAGE:
        raise invalid_args(f"maxResults must be an integer from 1 to {MAX_PAGE}, got {raw!r}")
    return number


def _page_start(sheet: FakeSheet, raw: Any) -> int:
    """The seq a page continues after: 0 for the first page, else the one its ``nextToken`` carries."""
    if raw is None or raw == "":
        return 0
    try:
        sheet_id, _, seq = base64.urlsafe_b64decode(str(raw).encode()).decode().partition(":")
        if sheet_id == sheet.id and seq.isdigit():
            return int(seq)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise invalid_args("nextToken is invalid")


def _page(
    call: Call,
    sheet: FakeSheet,
    max_results: Any,
    next_token: Any,
    *,
    predicate: Callable[[StoredRecord], bool] = lambda record: True,
    only: set[str] | None = None,
) -> Payload:
    size, after = _max_results(max_results), _page_start(sheet, next_token)
    matches = (record for record in sheet.records.values() if record.seq > after and predicate(record))
    taken = [record for record, _ in zip(matches, range(size + 1), strict=False)]
    page, has_more = taken[:size], len(taken) > size
    answer: Payload = {"hasMore": has_more, "records": [render_record(call.base, sheet, r, only) for r in page]}
    if has_more:
        answer["nextToken"] = base64.urlsafe_b64encode(f"{sheet.id}:{page[-1].seq}".encode()).decode()
    return answer


def _get_record(call: Call) -> Payload:
    sheet = call.sheet()
    record = sheet.records.get(call.segments[1])
    if record is None:
        raise resource_not_found(f"record {call.segments[1]} not found")
    return render_record(call.base, sheet, record)


# -- writing records -------------------------------------------------------------------------------------------


def _batch(body: Payload, key: str) -> list[Any]:
    items = body.get(key)
    if not isinstance(items, list) or not items:
        raise invalid_args(f"{key} is required and must be a non-empty array")
    if len(items) > MAX_BATCH:
        raise invalid_args(f"{key}: at most {MAX_BATCH} items per request, got {len(items)}")
    return items


def _ids(record_ids: list[str]) -> Payload:
    return {"value": [{"id": record_id} for record_id in record_ids]}


def _insert_records(call: Call) -> Payload:
    sheet = call.sheet()
    items = _batch(call.body, "records")
    if not all(isinstance(item, Mapping) and "fields" in item for item in items):
        raise invalid_args('each record needs "fields"')
    client_token = call.query.get("clientToken")
    if client_token and client_token in call.base.client_tokens:
        if call.state.duplicate_token_answer == "conflict":
            raise duplicate_client_token()
        return _ids(call.base.client_tokens[client_token])  # not executed again
    stored = insert_records(call.state, call.base, sheet, [item["fields"] for item in items], call.operator)
    record_ids = [record.id for record in stored]
    if client_token:
        call.base.client_tokens[client_token] = record_ids
    return _ids(record_ids)


def _update_records(call: Call) -> Payload:
    sheet = call.sheet()
    items = _batch(call.body, "records")
    if not all(isinstance(item, Mapping) and isinstance(item.get("id"), str) and "fields" in item for item in items):
        raise invalid_args('each record needs "id" and "fields"')
    updated = update_records(
        call.state, call.base, sheet, [(item["id"], item["fields"]) for item in items], call.operator
    )
    return _ids([record.id for record in updated])


def _delete_records(call: Call) -> Payload:
    sheet = call.sheet()
    record_ids = _batch(call.body, "recordIds")
    if not all(isinstance(record_id, str) for record_id in record_ids):
        raise invalid_args("recordIds must be strings")
    delete_records(sheet, record_ids)
    return {"success": True}


def _changed_record_ids(call: Call) -> Payload:
    client_token = call.body.get("clientToken")
    if not isinstance(client_token, str) or not client_token:
        raise missing_parameter("clientToken")
    return {"changedRecordIds": list(call.base.client_tokens.get(client_token, []))}


def _r(method: str, pattern: str, handler: Callable[[Call], Payload], permission: str = WRITE_PERMISSION) -> Route:
    return Route(method, re.compile(pattern.replace("{}", "([^/]+)")), handler, permission)


# Reads (and the changed-ids query, assumed to be one) need Notable.Base.Read.All, the rest ...Write.All.
ROUTES = (
    _r("GET", "/sheets", _get_all_sheets, READ_PERMISSION),
    _r("POST", "/sheets", _create_sheet),
    _r("GET", "/sheets/{}", _get_sheet, READ_PERMISSION),
    _r("GET", "/sheets/{}/fields", _get_fields, READ_PERMISSION),
    _r("POST", "/sheets/{}/fields", _create_field),
    _r("GET", "/sheets/{}/records", _get_records, READ_PERMISSION),
    _r("POST", "/sheets/{}/records", _insert_records),
    _r("PUT", "/sheets/{}/records", _update_records),
    _r("POST", "/sheets/{}/records/list", _list_records, READ_PERMISSION),
    _r("POST", "/sheets/{}/records/delete", _delete_records),
    _r("GET", "/sheets/{}/records/{}", _get_record, READ_PERMISSION),
    _r("POST", "/changedRecordIds/query", _changed_record_ids, READ_PERMISSION),
)
