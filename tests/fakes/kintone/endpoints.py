"""The HTTP side of the fake Kintone: request context, auth and parameters (BACKENDS.md §1), the endpoint
handlers (BACKENDS.md §2) and the Starlette app serving them."""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from ..serving import Fault as SwitchboardFault
from ..serving import Voice, catch_all_app, reset_connection
from .fields import _format_decimal, _loose_int, _parse_decimal
from .messages import (
    FieldErrors,
    KintoneError,
    Lang,
    _add_error,
    _BulkError,
    _invalid,
    _invalid_param,
    _not_implemented,
    _record_not_found,
    msg,
)
from .model import _ADMINISTRATOR, FakeApp, FakeUser, StoredRecord, _Cursor, _Fault
from .query import _MAX_LIMIT, _parse_query, _QueryContext, _render, _select
from .state import FakeKintone
from .writes import _write, _WriteItem


@dataclass(frozen=True)
class _Principal:
    user: FakeUser | None  # password auth
    token_rights: Mapping[int, frozenset[str]]  # API-token auth: app id -> rights

    @property
    def entity(self) -> dict[str, str]:
        return {"code": self.user.code, "name": self.user.name} if self.user else dict(_ADMINISTRATOR)


@dataclass
class _Call:
    state: FakeKintone
    principal: _Principal
    guest_space_id: int | None
    params: dict[str, Any]

    def authorize(self, app_id: int, *rights: str) -> FakeApp:
        """The app, if this caller may use it with any of ``rights`` on this URL (guest or not)."""
        app = self.state.apps.get(app_id)
        if app is None:
            raise KintoneError(404, "GAIA_AP01", msg("GAIA_AP01", id=app_id))
        if self.guest_space_id is None and app.guest_space_id is not None:
            raise KintoneError(400, "GAIA_IL23")
        if self.guest_space_id is not None and app.guest_space_id != self.guest_space_id:
            raise KintoneError(403, "CB_NO02")
        user = self.principal.user
        if user is not None:
            if user.apps is not None and app_id not in user.apps:
                raise KintoneError(403, "CB_NO02")
        elif not set(rights) & self.principal.token_rights.get(app_id, frozenset()):
            raise KintoneError(403, "GAIA_NO01")
        return app

    def query_context(self, app: FakeApp) -> _QueryContext:
        return _QueryContext(app, self.state.now(), self.principal.entity["code"])


def _authenticate(state: FakeKintone, headers: Headers) -> _Principal:
    """Password auth wins over API tokens; neither is 401 CB_AU01."""
    encoded = headers.get("x-cybozu-authorization")
    if encoded is not None:
        return _Principal(_password_user(state, encoded), {})
    tokens = headers.get("x-cybozu-api-token")
    if tokens is not None:
        return _Principal(None, _token_rights(state, tokens))
    raise KintoneError(401, "CB_AU01")


def _password_user(state: FakeKintone, encoded: str) -> FakeUser:
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise KintoneError(401, "CB_WA01") from None
    user = state.users.get(username)
    if user is None or not secrets.compare_digest(user.password, password):
        raise KintoneError(401, "CB_WA01")
    return user


def _token_rights(state: FakeKintone, header: str) -> dict[int, frozenset[str]]:
    """Any unknown token is 400 GAIA_IA02; two tokens of one app are 400 GAIA_DA03."""
    rights: dict[int, frozenset[str]] = {}
    for value in header.split(","):
        token = state.tokens.get(value.strip())
        if token is None:
            raise KintoneError(400, "GAIA_IA02")
        if token.app_id in rights:
            raise KintoneError(400, "GAIA_DA03")
        rights[token.app_id] = token.permissions
    return rights


def _basic_auth_ok(state: FakeKintone, headers: Headers) -> bool:
    if state.basic_auth is None:
        return True
    expected = base64.b64encode(":".join(state.basic_auth).encode()).decode()
    return secrets.compare_digest(headers.get("authorization", ""), f"Basic {expected}")


_INDEXED_KEY = re.compile(r"(.+)\[(\d*)\]")


def _query_string_params(raw: str) -> dict[str, Any]:
    """``qs.stringify`` style: ``fields[0]=a&fields[1]=b`` -> ``{"fields": ["a", "b"]}``."""
    params: dict[str, Any] = {}
    indexed: dict[str, dict[int, str]] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        match = _INDEXED_KEY.fullmatch(key)
        if match is None:
            params[key] = value
        else:
            items = indexed.setdefault(match[1], {})
            items[int(match[2]) if match[2] else len(items)] = value
    params.update({key: [items[i] for i in sorted(items)] for key, items in indexed.items()})
    return params


def _request_params(method: str, query_string: str, body: bytes) -> dict[str, Any]:
    """GET/DELETE read the query string, then a JSON body; POST/PUT read the JSON body."""
    params = _query_string_params(query_string) if method in ("GET", "DELETE") else {}
    if body.strip():
        try:
            parsed = json.loads(body)
        except ValueError:
            raise KintoneError(400, "CB_IJ01") from None
        if not isinstance(parsed, dict):
            raise KintoneError(400, "CB_IJ01")
        params.update(parsed)
    return params


def _int_value(raw: Any, key: str) -> int:
    value = _loose_int(raw)
    if value is None:
        raise _invalid_param(key, msg("integer"))
    return value


def _required_int(params: Mapping[str, Any], key: str) -> int:
    raw = params.get(key)
    if raw is None or raw == "":
        raise _invalid_param(key, msg("required_field"))
    value = _int_value(raw, key)
    if value < 1:
        raise _invalid_param(key, msg("ge", n=1))
    return value


def _bounded_int(params: Mapping[str, Any], key: str, default: int, low: int, high: int | None) -> int:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    value = _int_value(raw, key)
    if value < low:
        raise _invalid_param(key, msg("ge", n=low))
    if high is not None and value > high:
        raise _invalid_param(key, msg("le", n=high))
    return value


def _list_param(params: Mapping[str, Any], key: str) -> list[Any]:
    raw = params.get(key)
    if raw is None:
        return []
    return raw if isinstance(raw, list) else [raw]


def _fields_param(params: Mapping[str, Any]) -> list[str] | None:
    return [str(code) for code in _list_param(params, "fields")] or None


def _truthy(raw: Any) -> bool:
    return raw is True or (isinstance(raw, str) and raw.lower() == "true")


def _records_param(params: Mapping[str, Any], too_many: str) -> list[Any]:
    records = params.get("records")
    if not isinstance(records, list):
        raise _invalid_param("records", msg("required_field"))
    if len(records) > 100:
        raise _invalid_param("records", msg(too_many))
    return records


# --------------------------------------------------------------------------------------------
# Endpoint handlers (BACKENDS.md §2)
# --------------------------------------------------------------------------------------------


def _app_info(app: FakeApp) -> dict[str, Any]:
    space = None if app.guest_space_id is None else str(app.guest_space_id)
    return {
        "appId": str(app.id),
        "code": app.code,
        "name": app.name,
        "description": app.description,
        "spaceId": space,
        "threadId": space,
        "createdAt": app.created_at,
        "creator": dict(_ADMINISTRATOR),
        "modifiedAt": app.created_at,
        "modifier": dict(_ADMINISTRATOR),
    }


def _get_app(call: _Call) -> dict[str, Any]:
    return _app_info(call.authorize(_required_int(call.params, "id"), "view", "add"))


def _get_apps(call: _Call) -> dict[str, Any]:
    """Password auth only ("API Tokens cannot be used with this API"; the code, GAIA_NO01, is unconfirmed)."""
    user = call.principal.user
    if user is None:
        raise KintoneError(403, "GAIA_NO01")
    params = call.params
    limit = _bounded_int(params, "limit", 100, 1, 100)
    offset = _bounded_int(params, "offset", 0, 0, None)
    ids = {_int_value(raw, "ids") for raw in _list_param(params, "ids")}
    space_ids = {_int_value(raw, "spaceIds") for raw in _list_param(params, "spaceIds")}
    codes = set(_list_param(params, "codes"))
    name = str(params.get("name") or "").lower()
    apps = [
        app
        for app in sorted(call.state.apps.values(), key=lambda app: app.id)
        if (user.apps is None or app.id in user.apps)
        and (call.guest_space_id is None or app.guest_space_id == call.guest_space_id)
        and (not ids or app.id in ids)
        and (not space_ids or app.guest_space_id in space_ids)
        and (not codes or app.code in codes)
        and name in app.name.lower()
    ]
    return {"apps": [_app_info(app) for app in apps[offset : offset + limit]]}


def _get_fields(call: _Call) -> dict[str, Any]:
    app = call.authorize(_required_int(call.params, "app"), "view", "add")
    return {"properties": copy.deepcopy(app.properties), "revision": "1"}  # forms never change here


def _get_record(call: _Call) -> dict[str, Any]:
    app = call.authorize(_required_int(call.params, "app"), "view")
    record_id = _required_int(call.params, "id")
    record = app.records.get(record_id)
    if record is None:
        raise _record_not_found(record_id)
    return {"record": _render(app, record, None)}


def _get_records(call: _Call) -> dict[str, Any]:
    app = call.authorize(_required_int(call.params, "app"), "view")
    query = _parse_query(str(call.params.get("query") or ""))
    matched = _select(call.query_context(app), query)
    offset = query.offset or 0
    page = matched[offset : offset + (query.limit if query.limit is not None else 100)]
    fields = _fields_param(call.params)
    return {
        "records": [_render(app, record, fields) for record in page],
        "totalCount": str(len(matched)) if _truthy(call.params.get("totalCount")) else None,
    }


def _add_record(call: _Call) -> dict[str, Any]:
    app = call.authorize(_required_int(call.params, "app"), "add")
    [record] = _write(call.state, app, [_WriteItem("record", call.params.get("record"), None)], call.principal.entity)
    return {"id": str(record.id), "revision": str(record.revision)}


def _add_records(call: _Call) -> dict[str, Any]:
    app = call.authorize(_required_int(call.params, "app"), "add")
    payloads = _records_param(call.params, "max_add")
    items = [_WriteItem(f"records[{index}]", payload, None) for index, payload in enumerate(payloads)]
    records = _write(call.state, app, items, call.principal.entity)
    return {"ids": [str(record.id) for record in records], "revisions": [str(record.revision) for record in records]}


def _check_revision(record: StoredRecord, raw: Any) -> None:
    """Optimistic lock: omitted or -1 skips the check; a stale revision is 409 GAIA_CO02."""
    if raw is None or raw == "":
        return
    expected = _int_value(raw, "revision")
    if expected != -1 and expected != record.revision:
        raise KintoneError(409, "GAIA_CO02")


def _find_target(app: FakeApp, item: Mapping[str, Any], *, upsert: bool) -> StoredRecord | None:
    """The record named by ``id`` or ``updateKey``; None only when upserting a missing key."""
    if item.get("id") is not None:
        record_id = _int_value(item["id"], "id")
        record = app.records.get(record_id)
        if record is None and upsert:  # upsert mode creates it, with a new id rather than the one sent (docs)
            return None
        if record is None:
            raise _record_not_found(record_id)
        return record
    update_key = item.get("updateKey")
    if not isinstance(update_key, dict):
        raise _invalid_param("id", msg("required_field"))
    code, raw = str(update_key.get("field")), update_key.get("value")
    prop = app.properties.get(code)
    if prop is None or prop["type"] not in ("SINGLE_LINE_TEXT", "NUMBER") or not prop.get("unique"):
        raise _invalid_param("updateKey.field", msg("update_key"))
    number = _parse_decimal(raw)
    wanted = _format_decimal(number) if prop["type"] == "NUMBER" and number is not None else str(raw)
    for record in app.records.values():
        if wanted and record.values.get(code) == wanted:
            return record
    if upsert:
        return None
    raise KintoneError(404, "GAIA_RE20", msg("GAIA_RE20", field=code, value=raw))


def _update_record(call: _Call) -> dict[str, Any]:
    app = call.authorize(_required_int(call.params, "app"), "edit")
    target = _find_target(app, call.params, upsert=False)
    assert target is not None
    _check_revision(target, call.params.get("revision"))
    [record] = _write(call.state, app, [_WriteItem("record", call.params.get("record"), target)], call.principal.entity)
    return {"revision": str(record.revision)}


def _update_item(app: FakeApp, index: int, raw: Any, upsert: bool) -> _WriteItem:
    if not isinstance(raw, dict):
        raise _invalid_param(f"records[{index}]", msg("invalid_value"))
    target = _find_target(app, raw, upsert=upsert)
    payload = raw.get("record")
    if target is None:  # an upsert's insert; named by an id that does not exist, the record gets a new id
        key = raw.get("updateKey")
        if isinstance(key, dict):  # the key becomes a field value
            payload = {**(payload if isinstance(payload, dict) else {}), key["field"]: {"value": key.get("value")}}
    else:
        _check_revision(target, raw.get("revision"))
    return _WriteItem(f"records[{index}]", payload, target)


def _update_records(call: _Call) -> dict[str, Any]:
    app = call.authorize(_required_int(call.params, "app"), "edit")
    upsert = call.params.get("upsert") is True
    items = [
        _update_item(app, index, raw, upsert) for index, raw in enumerate(_records_param(call.params, "max_update"))
    ]
    if any(item.target is None for item in items):
        call.authorize(app.id, "add")
    operations = ["INSERT" if item.target is None else "UPDATE" for item in items]
    records = _write(call.state, app, items, call.principal.entity)
    results = []
    for record, operation in zip(records, operations, strict=True):
        result = {"id": str(record.id), "revision": str(record.revision)}
        results.append({**result, "operation": operation} if upsert else result)
    return {"records": results}


def _delete_records(call: _Call) -> dict[str, Any]:
    app = call.authorize(_required_int(call.params, "app"), "delete")
    ids = [_int_value(raw, "ids") for raw in _list_param(call.params, "ids")]
    if not ids:
        raise _invalid_param("ids", msg("delete_range"), msg("required_field"))
    if len(ids) > 100:
        raise _invalid_param("ids", msg("delete_range"))
    revisions = _list_param(call.params, "revisions")
    if revisions and len(revisions) != len(ids):
        raise _invalid_param("revisions", msg("revisions_length"))
    for index, record_id in enumerate(ids):
        record = app.records.get(record_id)
        if record is None:
            raise _record_not_found(record_id)
        _check_revision(record, revisions[index] if revisions else None)
    for record_id in ids:
        del app.records[record_id]
    return {}


def _create_cursor(call: _Call) -> dict[str, Any]:
    app = call.authorize(_required_int(call.params, "app"), "view")
    size = _bounded_int(call.params, "size", 100, 1, _MAX_LIMIT)
    query = _parse_query(str(call.params.get("query") or ""))
    if query.limit is not None or query.offset is not None:
        raise _invalid_param("query", msg("cursor_query"))
    cursors = call.state.live_cursors()
    if len(cursors) >= call.state.max_live_cursors:
        raise KintoneError(429, "GAIA_TM12")
    record_ids = [record.id for record in _select(call.query_context(app), query)]
    cursor_id = str(uuid.uuid4())
    expires = call.state.now() + call.state.cursor_ttl
    cursors[cursor_id] = _Cursor(cursor_id, app.id, record_ids, _fields_param(call.params), size, expires)
    return {"id": cursor_id, "totalCount": str(len(record_ids))}


def _find_cursor(call: _Call) -> _Cursor:
    """Unknown or expired cursors are 404 CB_IL02 (kintone-js-sdk test fixture)."""
    cursor = call.state.live_cursors().get(str(call.params.get("id") or ""))
    if cursor is None:
        raise KintoneError(404, "CB_IL02")
    call.authorize(cursor.app_id, "view")
    return cursor


def _get_cursor(call: _Call) -> dict[str, Any]:
    """The next page; values are read now, records deleted since creation are skipped."""
    cursor = _find_cursor(call)
    app = call.state.apps[cursor.app_id]
    page_ids = cursor.record_ids[cursor.position : cursor.position + cursor.size]
    cursor.position += len(page_ids)
    has_next = cursor.position < len(cursor.record_ids)
    if has_next:
        cursor.expires_at = call.state.now() + call.state.cursor_ttl
    else:
        del call.state.cursors[cursor.id]
    records = [_render(app, app.records[i], cursor.fields) for i in page_ids if i in app.records]
    return {"records": records, "next": has_next}


def _delete_cursor(call: _Call) -> dict[str, Any]:
    del call.state.cursors[_find_cursor(call).id]
    return {}


_API_PATH = re.compile(r"/k(?:/guest/(\d+))?/v1/(.+)\.json")
_BULK_APIS = frozenset(
    {("POST", "record"), ("PUT", "record"), ("POST", "records"), ("PUT", "records"), ("DELETE", "records")}
)
_MAX_BULK_REQUESTS = 20


def _bulk_request(call: _Call) -> dict[str, Any]:
    """Runs up to 20 record writes in order; the first failure rolls all of them back."""
    requests = call.params.get("requests")
    if not isinstance(requests, list) or not requests:
        raise _invalid_param("requests", msg("required_field"))
    if len(requests) > _MAX_BULK_REQUESTS:
        raise _invalid_param("requests", msg("max_bulk"))
    snapshot = call.state.snapshot()
    results = []
    for index, request in enumerate(requests):
        try:
            results.append(_bulk_item(call, index, request))
        except KintoneError as error:
            call.state.restore(snapshot)
            raise _BulkError(error, index, len(requests)) from error
    return {"results": results}


def _bulk_item(call: _Call, index: int, request: Any) -> dict[str, Any]:
    if not isinstance(request, dict) or not isinstance(request.get("payload"), dict):
        raise _invalid_param(f"requests[{index}]", msg("invalid_value"))
    method = str(request.get("method", "")).upper()
    match = _API_PATH.fullmatch(str(request.get("api", "")))
    if match is None or (method, match[2]) not in _BULK_APIS:
        raise _invalid_param(f"requests[{index}].api", msg("bulk_api"))
    guest_space_id = int(match[1]) if match[1] else None
    return _ENDPOINTS[(method, match[2])](_Call(call.state, call.principal, guest_space_id, request["payload"]))


_ENDPOINTS: dict[tuple[str, str], Callable[[_Call], dict[str, Any]]] = {
    ("GET", "app"): _get_app,
    ("GET", "apps"): _get_apps,
    ("GET", "app/form/fields"): _get_fields,
    ("GET", "preview/app/form/fields"): _get_fields,
    ("GET", "record"): _get_record,
    ("POST", "record"): _add_record,
    ("PUT", "record"): _update_record,
    ("GET", "records"): _get_records,
    ("POST", "records"): _add_records,
    ("PUT", "records"): _update_records,
    ("DELETE", "records"): _delete_records,
    ("POST", "records/cursor"): _create_cursor,
    ("GET", "records/cursor"): _get_cursor,
    ("DELETE", "records/cursor"): _delete_cursor,
    ("POST", "bulkRequest"): _bulk_request,
}


# --------------------------------------------------------------------------------------------
# HTTP layer: concurrency limit, latency, faults, logging
# --------------------------------------------------------------------------------------------

_JSON_MEDIA_TYPE = "application/json;charset=utf-8"


def _json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False)
    return Response(body, status_code=status, media_type=_JSON_MEDIA_TYPE, headers=dict(headers or {}))


def _error_response(error: KintoneError, lang: Lang) -> Response:
    return _json_response(error.status, error.body(lang), error.headers)


def _dispatch(state: FakeKintone, request: Request, body: bytes) -> dict[str, Any]:
    """Routes ``/k[/guest/<id>]/v1/<api>.json``: auth first, then parameters, then the handler."""
    match = _API_PATH.fullmatch(request.url.path)
    override = request.headers.get("x-http-method-override", "").upper()
    method = "GET" if request.method == "POST" and override == "GET" else request.method
    handler = _ENDPOINTS.get((method, match[2])) if match else None
    if match is None or handler is None:
        raise _not_implemented(f"{method} {request.url.path}")
    principal = _authenticate(state, request.headers)
    params = _request_params(method, request.url.query, body)
    return handler(_Call(state, principal, int(match[1]) if match[1] else None, params))


async def _fault_response(fault: _Fault, scope: Scope, lang: Lang) -> Response:
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    if fault.kind == "reset":
        await reset_connection(scope)
        return Response(status_code=500)  # never delivered: the connection is gone
    if fault.kind == "malformed":
        return Response(b'{"records": [{"$id": ', fault.malformed_status, headers, _JSON_MEDIA_TYPE)
    if fault.kind == 429:
        error = KintoneError(429, "GAIA_TO04", headers={"X-Cybozu-Error": "GAIA_TO04", **headers})
        return _error_response(error, lang)
    page = f"<html><head><title>{fault.kind}</title></head><body><h1>{fault.kind}</h1></body></html>"
    return Response(page, fault.kind, headers, "text/html")


async def _serve(state: FakeKintone, request: Request) -> Response:
    """Admission (concurrency limit), latency, faults, then the API; every reply gets the limit headers."""
    body = await request.body()
    entry = state.log(request, body)
    lang = state.lang(request.headers)
    state.in_flight += 1
    try:
        response = await _admitted(state, request, body, lang)
        response.headers["X-ConcurrencyLimit-Limit"] = str(state.max_concurrency)
        response.headers["X-ConcurrencyLimit-Running"] = str(state.in_flight)
    finally:
        state.in_flight -= 1
    entry.status = response.status_code
    return response


async def _admitted(state: FakeKintone, request: Request, body: bytes, lang: Lang) -> Response:
    if state.in_flight > state.max_concurrency:
        return _error_response(KintoneError(429, "GAIA_TO04", headers={"X-Cybozu-Error": "GAIA_TO04"}), lang)
    fault = state.take_fault()
    if state.latency_s > 0:
        await asyncio.sleep(state.latency_s)
    if fault is not None:
        return await _fault_response(fault, request.scope, lang)
    return await state.switchboard.serve(request, body, lambda: _answer(state, request, body, lang), _voice(lang))


def _answer(state: FakeKintone, request: Request, body: bytes, lang: Lang) -> Response:
    if not _basic_auth_ok(state, request.headers):
        return Response("401 Authorization Required", 401, {"WWW-Authenticate": 'Basic realm="kintone"'}, "text/html")
    if state.echo_credential_as_field and _is_record_write(request):
        return _error_response(_credential_echo(request.headers), lang)
    try:
        with state.lock:
            return _json_response(200, _dispatch(state, request, body))
    except KintoneError as error:
        return _error_response(error, lang)


def _voice(lang: Lang) -> Voice:
    """Kintone's own answers to the switchboard's refusals: a 503 page (or the fault's status), 429 GAIA_TO04,
    and the answer to an API token regenerated in the app's settings (400 GAIA_IA02, what kintone says instead
    of a 401 for tokens)."""

    def refusal(fault: SwitchboardFault) -> Response:
        if fault.kind == "throttle":
            return _error_response(KintoneError(429, "GAIA_TO04", headers={"X-Cybozu-Error": "GAIA_TO04"}), lang)
        if fault.kind == "auth_expired":
            return _error_response(KintoneError(400, "GAIA_IA02"), lang)
        status = fault.status or 503
        page = f"<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
        return Response(page, status, None, "text/html")

    return refusal


def _is_record_write(request: Request) -> bool:
    return request.method in ("POST", "PUT") and request.url.path.endswith(("/records.json", "/record.json"))


def _credential_echo(headers: Mapping[str, str]) -> KintoneError:
    """A CB_VA01 naming the request's credential as a field (the `echo_credential_as_field` switch)."""
    credential = headers.get("x-cybozu-api-token") or headers.get("x-cybozu-authorization") or ""
    errors: FieldErrors = {}
    _add_error(errors, f"records[0].{credential}.value", msg("not_in_options", v=credential))
    _add_error(errors, credential, msg("invalid_value"))
    return _invalid(errors)


def build_app(state: FakeKintone) -> Starlette:
    """The ASGI app serving ``state`` under ``/k/...``."""

    async def endpoint(request: Request) -> Response:
        return await _serve(state, request)

    return catch_all_app(endpoint, "/k/{rest:path}")
