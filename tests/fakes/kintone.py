"""Fake Kintone REST API: a real HTTP server on 127.0.0.1 for tests and local runs.

Owns an in-memory kintone "domain" (:class:`FakeKintone`: apps with form fields and records, API
tokens, users, cursors, fault switches and a request log), the Starlette app serving it
(:func:`build_app`), a context manager running that app with uvicorn in a daemon thread
(:func:`serve_fake_kintone`), sample data (:func:`sample_domain`) and a CLI serving it
(``python -m tests.fakes.kintone [--port 8081]``).

Typical use in a test::

    state = FakeKintone()
    app = state.add_app("Tasks", {"title": {"type": "SINGLE_LINE_TEXT", "required": True}})
    token = state.add_token(app, {"view", "add"})
    with serve_fake_kintone(state) as base_url:
        ...  # talk to base_url with X-Cybozu-API-Token: token; assert on state.requests

One server can serve many tests: call :meth:`FakeKintone.reset` between them.

It copies the behaviour documented in ``shared/BACKENDS.md`` Part 1:

* §1 auth and URL layout: ``X-Cybozu-API-Token`` (comma-joined, one token per app),
  ``X-Cybozu-Authorization`` (wins over tokens), an optional Basic layer (:attr:`FakeKintone.basic_auth`);
  ``/k/v1/<api>.json`` and ``/k/guest/<space>/v1/<api>.json``; GET/DELETE parameters from the
  query string with ``name[i]`` indexing or from a JSON body; ``POST`` + ``X-HTTP-Method-Override: GET``.
* §2 endpoints and limits: app.json, apps.json (password auth only), app/form/fields.json (and its
  ``preview/`` twin), record.json GET/POST/PUT, records.json GET/POST/PUT/DELETE (at most 100,
  all-or-nothing, optimistic revisions, PUT merge semantics, upsert), records/cursor.json
  (size ≤ 500, 10 live cursors per domain, 10 minute expiry), bulkRequest.json (≤ 20 requests,
  rollback); the query language (see below); at most :attr:`FakeKintone.max_concurrency`
  requests in flight (429 ``GAIA_TO04``) and ``X-ConcurrencyLimit-*`` headers on every response.
* §3 value shapes: every field is ``{"type", "value"}``; NUMBER, ids, revisions and totalCount are
  strings; DATETIME is UTC with minute precision; DROP_DOWN is null when empty; SUBTABLE rows carry
  ids; ``$id``/``$revision`` are typed ``__ID__``/``__REVISION__`` (emulator capture, §10 of its notes).
  Unknown field codes in writes are ignored (seed 004); read-only fields (CALC, RECORD_NUMBER,
  STATUS, STATUS_ASSIGNEE, CATEGORY, and CREATOR/MODIFIER/CREATED_TIME/UPDATED_TIME on PUT) are
  ignored; defaults are applied on POST when a key is absent.
* §4 errors: ``{code, id, message, errors?}`` with the real ``errors`` key grammar
  (``records[0].title.value``, ``record[num].value``, ``record.tags.values[1].value`` ...), English or
  Japanese messages (:attr:`FakeKintone.language`).

Deliberate simplifications, each one documented where it is implemented:

* ``like`` is a word match: an ASCII term must match whole words in order, case-insensitively
  (``like "key"`` does not match "keyword"); a term with non-ASCII characters is a case-insensitive
  substring match, standing in for kintone's morphological full-text index.
* ``and`` binds tighter than ``or``; text ``=`` is case-sensitive; empty values sort first.
* Query functions: ``LOGINUSER() NOW() TODAY() YESTERDAY() TOMORROW()`` (user time zone = UTC);
  the other documented functions are answered as a query syntax error.
* CALC: ``+ - * /``, parentheses, numbers and NUMBER/CALC field codes (empty counts as 0, quotients
  are rounded to 4 places, division by zero gives ""); any other expression evaluates to "".
* No file upload: a non-empty FILE value is rejected with GAIA_BL01. Process management is off:
  STATUS/STATUS_ASSIGNEE/CATEGORY are listed in fields.json with ``enabled: false``, never in records.
* Codes and messages no source confirms are marked "unconfirmed" next to their definition.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import copy
import functools
import json
import re
import secrets
import sys
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from .serving import Fault as SwitchboardFault
from .serving import Switchboard, Voice, catch_all_app, reset_connection, serve_in_thread

__all__ = [
    "ALL_PERMISSIONS",
    "ApiToken",
    "FakeApp",
    "FakeKintone",
    "FakeUser",
    "KintoneError",
    "LoggedRequest",
    "SampleDomain",
    "StoredRecord",
    "build_app",
    "sample_domain",
    "serve_fake_kintone",
]

# --------------------------------------------------------------------------------------------
# Messages and errors (BACKENDS.md §4)
# --------------------------------------------------------------------------------------------

Lang = Literal["en", "ja"]

# key -> (English, Japanese). Top-level messages are keyed by error code.
_MESSAGES: dict[str, tuple[str, str]] = {
    "CB_VA01": ("Missing or invalid input.", "入力内容が正しくありません。"),
    "CB_AU01": ("Please login.", "ログインしてください。"),
    "CB_WA01": (
        "Password authentication failed. The value in http header of X-Cybozu-Authorization is not valid.",
        "ユーザーのパスワード認証に失敗しました。「X-Cybozu-Authorization」ヘッダーの値が正しくありません。",
    ),
    "CB_IJ01": ("Invalid JSON string.", "不正なJSON文字列です。"),  # en unconfirmed
    "CB_NO02": ("No privilege to proceed.", "権限がありません。"),
    "CB_IL02": ("Illegal request.", "不正なリクエストです。"),  # kintone-js-sdk fixture; ja unconfirmed
    "GAIA_IA02": (
        "The specified API token does not match the API token generated via an app.",
        "指定したAPIトークンが、アプリで生成したAPIトークンと一致しません。",  # ja unconfirmed
    ),
    "GAIA_DA03": (
        "You cannot specify a duplicate API token for the same app.",
        "同じアプリのAPIトークンを重複して指定することはできません。",  # ja unconfirmed
    ),
    "GAIA_NO01": (
        "Using this API token, you cannot run the specified API.",
        "このAPIトークンでは、指定したAPIを実行できません。",
    ),
    "GAIA_IL23": (
        "When you operate an app in a guest space, please send the request to '/k/guest/(guest space ID)/v1/...'.",
        "ゲストスペース内のアプリを操作する場合は、リクエストの送信先を「/k/guest/（ゲストスペースのID）/v1/...」にします。",
    ),
    "GAIA_AP01": (
        "The app (ID: {id}) not found. The app may have been deleted.",
        "指定したアプリ（id: {id}）が見つかりません。削除されている可能性があります。",
    ),
    "GAIA_RE01": ("The specified record (ID: {id}) is not found.", "指定したレコード（id: {id}）が見つかりません。"),
    "GAIA_RE20": (  # updateKey matched nothing: code and both messages unconfirmed
        "The record to update (updateKey {field}: {value}) is not found.",
        "更新するレコード（updateKey {field}: {value}）が見つかりません。",
    ),
    "GAIA_BL01": ("The specified file (id: {id}) not found.", "指定したファイル（id: {id}）が見つかりません。"),
    "GAIA_CO02": (
        "The revision is not the latest. Someone may update a record.",
        "指定したrevisionは最新ではありません。ほかのユーザーがレコードを更新した可能性があります。",
    ),
    "GAIA_IL26": ("The specified user (code: {code}) not found.", "指定したユーザー(code:{code})が見つかりません。"),
    "GAIA_TO04": (
        "The number of concurrent API requests exceeds the limit.",
        "同時に実行できるAPIリクエスト数の上限を超えています。",  # ja unconfirmed
    ),
    "GAIA_TM12": (  # en unconfirmed
        "The cursor cannot be created because the maximum number of cursors has been reached. "
        "Delete unnecessary cursors or try again later.",
        "作成できるカーソルの上限に達しているため、カーソルを作成できません。"
        "不要なカーソルを削除するか、しばらく経ってから再実行してください。",
    ),
    "GAIA_IQ03": (  # en unconfirmed
        "The operator {op} cannot be used for the field type of the {code} field.",
        "{code}フィールドのフィールドタイプには演算子{op}を使用できません。",
    ),
    "GAIA_IQ07": (  # en unconfirmed
        "Cannot read records. The operator {op} cannot be used for the {code} field in a table.",
        "レコードを読み込めません。テーブルに設定している場合、{code}フィールドのフィールドタイプには、演算子{op}を使用できません。",
    ),
    "GAIA_IQ11": ("The specified field ({code}) not found.", "指定されたフィールド（{code}）が見つかりません。"),
    "GAIA_QU01": ("Specify a value of 500 or less for limit.", "limit には 500 以下の値を指定してください。"),
    "GAIA_QU02": ("Specify a value of 10,000 or less for offset.", "offset には 10,000 以下の値を指定してください。"),
    "FAKE_NOT_IMPLEMENTED": (
        "The fake kintone server does not implement {what}.",
        "The fake kintone server does not implement {what}.",
    ),
    # Messages inside "errors".
    "required_field": ("Required field.", "必須です。"),
    "required": ("Required.", "必須です。"),
    "ge": ("must be greater than or equal to {n}", "最小でも{n}以上です。"),
    "le": ("must be less than or equal to {n}", "最大でも{n}以下です。"),  # unconfirmed
    "integer": ("must be an integer", "整数でなければなりません。"),  # unconfirmed
    "invalid_value": ("The value is invalid.", "値が正しくありません。"),  # unconfirmed
    "unique": ("This value already exists in another record.", "値がほかのレコードと重複しています。"),
    "max_length": ("Enter less than {n} characters.", "{n}文字より短くなければなりません。"),
    "min_length": ("Enter more than {n} characters.", "{n}文字より長くなければなりません。"),
    "max_value": ("The value must be {v} or less.", "{v}以下である必要があります。"),
    "min_value": ("The value must be {v} or more.", "{v}以上である必要があります。"),
    "nan": ("Only numbers are allowed.", "数字でなければなりません。"),
    "not_in_options": ('The value, "{v}", is not in options.', '"{v}"は選択肢にありません。'),
    "max_add": ("A maximum of 100 records can be added at one time.", "一度に100件までのレコードを追加できます。"),
    "max_update": ("A maximum of 100 records can be updated at one time.", "一度に100件までのレコードを更新できます。"),
    "delete_range": (
        "Between 1 and 100 records can be deleted at one time.",
        "一度に1件から100件までのレコードを削除できます。",
    ),
    "revisions_length": (  # unconfirmed
        "The number of revisions must match the number of ids.",
        "revisionsの数はidsの数と一致する必要があります。",
    ),
    "max_bulk": ("A maximum of 20 requests can be sent at one time.", "一度に20件までのリクエストを送信できます。"),
    "bulk_api": ("This API cannot be used in a bulk request.", "このAPIは一括リクエストで使用できません。"),
    "update_key": (  # unconfirmed
        "updateKey must name a SINGLE_LINE_TEXT or NUMBER field with unique values.",
        "updateKeyには値の重複を禁止した文字列（1行）または数値フィールドを指定してください。",
    ),
    "query_syntax": ("The query is invalid.", "クエリ記法が間違っています。"),  # en unconfirmed
    "cursor_query": (  # unconfirmed
        "limit and offset cannot be specified in the query of a cursor.",
        "カーソルのクエリにはlimitとoffsetを指定できません。",
    ),
}


@dataclass(frozen=True)
class Msg:
    """A message key and its parameters, rendered in the caller's language when the reply is built."""

    key: str
    params: tuple[tuple[str, Any], ...] = ()

    def render(self, lang: Lang) -> str:
        english, japanese = _MESSAGES[self.key]
        return (japanese if lang == "ja" else english).format(**dict(self.params))


def msg(key: str, **params: Any) -> Msg:
    return Msg(key, tuple(params.items()))


FieldErrors = dict[str, list[Msg]]


class KintoneError(Exception):
    """An error reply: HTTP status, kintone error code, message and optional ``errors`` map."""

    def __init__(
        self,
        status: int,
        code: str,
        message: Msg | None = None,
        *,
        errors: FieldErrors | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message or Msg(code)
        self.errors = errors
        self.headers = dict(headers or {})

    def __str__(self) -> str:
        errors = [f"{key}: {msgs[0].render('en')}" for key, msgs in (self.errors or {}).items()]
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        return f"[{self.status}] [{self.code}] {self.message.render('en')} {'; '.join(errors[:3])}{more}".rstrip()

    def body(self, lang: Lang) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "id": secrets.token_urlsafe(15),
            "message": self.message.render(lang),
        }
        if self.errors is not None:
            body["errors"] = {key: {"messages": [m.render(lang) for m in msgs]} for key, msgs in self.errors.items()}
        return body


class _BulkError(KintoneError):
    """A failed bulkRequest: ``{"results": [{}, <error body>, {}...]}`` with the failing request's status."""

    def __init__(self, failed: KintoneError, index: int, count: int) -> None:
        super().__init__(failed.status, failed.code, failed.message, headers=failed.headers)
        self.failed = failed
        self.index = index
        self.count = count

    def body(self, lang: Lang) -> dict[str, Any]:
        results: list[dict[str, Any]] = [{} for _ in range(self.count)]
        results[self.index] = self.failed.body(lang)
        return {"results": results}


def _add_error(errors: FieldErrors, key: str, message: Msg) -> None:
    errors.setdefault(key, []).append(message)


def _invalid(errors: FieldErrors) -> KintoneError:
    return KintoneError(400, "CB_VA01", errors=errors)


def _invalid_param(key: str, *messages: Msg) -> KintoneError:
    return _invalid({key: list(messages)})


def _record_not_found(record_id: int) -> KintoneError:
    return KintoneError(404, "GAIA_RE01", msg("GAIA_RE01", id=record_id))


def _not_implemented(what: str) -> KintoneError:
    return KintoneError(404, "FAKE_NOT_IMPLEMENTED", msg("FAKE_NOT_IMPLEMENTED", what=what))


# --------------------------------------------------------------------------------------------
# Domain state
# --------------------------------------------------------------------------------------------

ALL_PERMISSIONS: frozenset[str] = frozenset({"view", "add", "edit", "delete"})
_ADMINISTRATOR = {"code": "Administrator", "name": "Administrator"}  # author of API-token writes


@dataclass
class StoredRecord:
    """A record as stored: ``values`` maps field code to the response-shaped value (no ``type``)."""

    id: int
    revision: int
    values: dict[str, Any]
    creator: dict[str, str]
    created_at: str
    modifier: dict[str, str]
    updated_at: str


@dataclass
class FakeApp:
    """An app: its form (fields.json ``Property`` shapes) and its records."""

    id: int
    name: str
    description: str
    guest_space_id: int | None
    properties: dict[str, dict[str, Any]]
    created_at: str
    code: str = ""
    records: dict[int, StoredRecord] = field(default_factory=dict)
    next_record_id: int = 1


@dataclass(frozen=True)
class ApiToken:
    token: str
    app_id: int
    permissions: frozenset[str]


@dataclass(frozen=True)
class FakeUser:
    code: str
    password: str
    name: str
    apps: frozenset[int] | None  # None: every app


@dataclass
class _Cursor:
    id: str
    app_id: int
    record_ids: list[int]
    fields: list[str] | None
    size: int
    expires_at: datetime
    position: int = 0


@dataclass
class LoggedRequest:
    """One request as the server saw it; secret headers are replaced by ``REDACTED``."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int | None = None


FaultKind = int | Literal["reset", "malformed"]


@dataclass(frozen=True)
class _Fault:
    kind: FaultKind
    retry_after: int | None
    malformed_status: int


_SECRET_HEADERS = frozenset({"x-cybozu-api-token", "x-cybozu-authorization", "authorization"})


class FakeKintone:
    """In-memory state of one fake kintone domain. Tests may change it while the server runs.

    Fault switches: :attr:`latency_s` (seconds added to every request), :meth:`fail_next`,
    :attr:`max_concurrency` (in-flight requests before 429 ``GAIA_TO04``), :attr:`basic_auth`
    (require an ``Authorization: Basic`` layer), :attr:`switchboard` (random seeded faults, shared with the
    other fakes: ``tests.fakes.serving.Switchboard``), :attr:`echo_credential_as_field` (every record write
    fails with a CB_VA01 whose field key and message carry the request's credential, as a hostile or
    broken platform might). :attr:`requests` logs every request.
    ``language`` is the users' language setting: "en", "ja", or "auto" (``Accept-Language``,
    Japanese when absent, as kintone does).
    """

    max_live_cursors = 10
    cursor_ttl = timedelta(minutes=10)

    def __init__(
        self,
        *,
        language: Literal["en", "ja", "auto"] = "en",
        max_concurrency: int = 100,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.in_flight = 0
        self.switchboard = Switchboard()  # random faults (tests.fakes.serving), off until armed
        self.reset(language=language, max_concurrency=max_concurrency, clock=clock)

    def reset(
        self,
        *,
        language: Literal["en", "ja", "auto"] = "en",
        max_concurrency: int = 100,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Forgets every app, token, user, cursor, logged request and fault switch, as a new instance would.

        Lets one running server serve many tests (starting and stopping uvicorn costs ~0.2 s).
        """
        with self.lock:
            self.apps: dict[int, FakeApp] = {}
            self.tokens: dict[str, ApiToken] = {}
            self.users: dict[str, FakeUser] = {}
            self.cursors: dict[str, _Cursor] = {}
            self.requests: list[LoggedRequest] = []
            self.language = language
            self.max_concurrency = max_concurrency
            self.latency_s = 0.0
            self.basic_auth: tuple[str, str] | None = None
            self.echo_credential_as_field = False
            self.clock = clock or (lambda: datetime.now(UTC))
            self._faults: deque[_Fault] = deque()
            self.switchboard.disarm()
            self._next_app_id = 1
            self._next_row_id = 1

    # -- set-up API for tests ------------------------------------------------------------------

    def add_app(
        self,
        name: str,
        fields: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        app_id: int | None = None,
        description: str = "",
        guest_space_id: int | None = None,
        code: str = "",
    ) -> int:
        """Creates an app; ``fields`` maps code to a partial fields.json property (``type`` required).

        Missing property keys get kintone's defaults, ``options`` may be a list of keys, limits may be
        numbers. System fields (Record_number, Created_by, ... Categories) are added unless a field of
        that type is given (e.g. ``{"レコード番号": {"type": "RECORD_NUMBER"}}``).
        """
        with self.lock:
            new_id = app_id if app_id is not None else self._next_app_id
            if new_id in self.apps:
                raise ValueError(f"app {new_id} already exists")
            self._next_app_id = max(self._next_app_id, new_id + 1)
            properties = _form_properties(fields or {})
            self.apps[new_id] = FakeApp(
                new_id, name, description, guest_space_id, properties, _app_time(self.clock()), code
            )
            return new_id

    def add_token(self, app_id: int, permissions: Iterable[str] = ALL_PERMISSIONS, *, token: str | None = None) -> str:
        """Registers an API token for one app with rights among view/add/edit/delete; returns it."""
        rights = frozenset(permissions)
        if not rights <= ALL_PERMISSIONS:
            raise ValueError(f"unknown permissions: {sorted(rights - ALL_PERMISSIONS)}")
        value = token or secrets.token_hex(20)
        with self.lock:
            self.tokens[value] = ApiToken(value, app_id, rights)
        return value

    def add_user(self, code: str, password: str, *, name: str | None = None, apps: Iterable[int] | None = None) -> None:
        """Registers a user for password auth; ``apps`` limits the apps it may use (default: all)."""
        with self.lock:
            self.users[code] = FakeUser(code, password, name or code, None if apps is None else frozenset(apps))

    def add_records(self, app_id: int, records: Iterable[Mapping[str, Any]], *, validate: bool = True) -> list[int]:
        """Stores records given in write format (``{"code": {"value": v}}``) as Administrator.

        With ``validate=False`` validation errors are ignored (kintone keeps records that predate a
        field becoming required, for instance); values are still coerced to kintone's shapes.
        """
        with self.lock:
            app = self.apps[app_id]
            items = [_WriteItem(f"records[{i}]", dict(record), None) for i, record in enumerate(records)]
            stored = _write(self, app, items, dict(_ADMINISTRATOR), check=validate)
            return [record.id for record in stored]

    def record(self, app_id: int, record_id: int) -> dict[str, Any]:
        """The record as GET record.json would show it."""
        with self.lock:
            app = self.apps[app_id]
            return _render(app, app.records[record_id], None)

    def fail_next(
        self,
        n: int = 1,
        status: FaultKind = 503,
        *,
        retry_after: int | None = None,
        malformed_status: int = 200,
    ) -> None:
        """Makes the next ``n`` requests fail instead of being served.

        ``status`` is an HTTP status (429 answers a GAIA_TO04 JSON body, others an HTML error page),
        ``"reset"`` (the connection is dropped with a TCP reset) or ``"malformed"`` (a truncated JSON
        body with status ``malformed_status``). ``retry_after`` adds a ``Retry-After`` header.
        """
        with self.lock:
            self._faults.extend(_Fault(status, retry_after, malformed_status) for _ in range(n))

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    # -- helpers for the handlers --------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def new_row_id(self) -> int:
        self._next_row_id += 1
        return self._next_row_id - 1

    def user_entity(self, code: str) -> dict[str, str]:
        if code == _ADMINISTRATOR["code"]:
            return dict(_ADMINISTRATOR)
        user = self.users.get(code)
        if user is None:
            raise KintoneError(400, "GAIA_IL26", msg("GAIA_IL26", code=code))
        return {"code": user.code, "name": user.name}

    def live_cursors(self) -> dict[str, _Cursor]:
        now = self.now()
        for cursor_id in [key for key, cursor in self.cursors.items() if cursor.expires_at <= now]:
            del self.cursors[cursor_id]
        return self.cursors

    def snapshot(self) -> dict[int, tuple[dict[int, StoredRecord], int]]:
        return {app_id: (copy.deepcopy(app.records), app.next_record_id) for app_id, app in self.apps.items()}

    def restore(self, snapshot: dict[int, tuple[dict[int, StoredRecord], int]]) -> None:
        for app_id, (records, next_record_id) in snapshot.items():
            self.apps[app_id].records = records
            self.apps[app_id].next_record_id = next_record_id

    def take_fault(self) -> _Fault | None:
        with self.lock:
            return self._faults.popleft() if self._faults else None

    def log(self, request: Request, body: bytes) -> LoggedRequest:
        headers = {key: "REDACTED" if key in _SECRET_HEADERS else value for key, value in request.headers.items()}
        entry = LoggedRequest(request.method, request.url.path, dict(request.query_params), _loggable(body), headers)
        with self.lock:
            self.requests.append(entry)
        return entry

    def lang(self, headers: Headers) -> Lang:
        if self.language != "auto":
            return self.language
        first = headers.get("accept-language", "").split(",")[0].strip().lower()
        return "en" if first and first != "*" and not first.startswith("ja") else "ja"


def _loggable(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# Form properties (BACKENDS.md §3, fields.json Property)
# --------------------------------------------------------------------------------------------

_TEXT_TYPES = frozenset({"SINGLE_LINE_TEXT", "MULTI_LINE_TEXT", "RICH_TEXT", "LINK"})
_LENGTH_TYPES = frozenset({"SINGLE_LINE_TEXT", "MULTI_LINE_TEXT", "LINK"})
_SINGLE_OPTION_TYPES = frozenset({"RADIO_BUTTON", "DROP_DOWN"})
_MULTI_OPTION_TYPES = frozenset({"CHECK_BOX", "MULTI_SELECT"})
_ENTITY_TYPES = frozenset({"USER_SELECT", "ORGANIZATION_SELECT", "GROUP_SELECT"})
_WRITABLE_TYPES = (
    _TEXT_TYPES
    | _SINGLE_OPTION_TYPES
    | _MULTI_OPTION_TYPES
    | _ENTITY_TYPES
    | {"NUMBER", "DATE", "TIME", "DATETIME", "FILE", "SUBTABLE"}
)
_UNIQUE_TYPES = frozenset({"SINGLE_LINE_TEXT", "NUMBER", "LINK", "DATE", "DATETIME"})
_PROCESS_TYPES = frozenset({"STATUS", "STATUS_ASSIGNEE", "CATEGORY"})
_FORM_ONLY_TYPES = _PROCESS_TYPES | {"GROUP", "REFERENCE_TABLE"}  # never part of a record
_DATETIME_TYPES = frozenset({"DATETIME", "CREATED_TIME", "UPDATED_TIME"})
_NUMERIC_TYPES = frozenset({"NUMBER", "CALC", "RECORD_NUMBER", "__ID__"})

_SYSTEM_FIELDS = (
    ("RECORD_NUMBER", "Record_number"),
    ("CREATOR", "Created_by"),
    ("CREATED_TIME", "Created_datetime"),
    ("MODIFIER", "Updated_by"),
    ("UPDATED_TIME", "Updated_datetime"),
    ("STATUS", "Status"),
    ("STATUS_ASSIGNEE", "Assignee"),
    ("CATEGORY", "Categories"),
)

_TEXT_LIMITS = {"unique": False, "minLength": "", "maxLength": ""}
_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "SINGLE_LINE_TEXT": {"defaultValue": "", **_TEXT_LIMITS, "expression": "", "hideExpression": False},
    "LINK": {"defaultValue": "", **_TEXT_LIMITS, "protocol": "WEB"},
    "MULTI_LINE_TEXT": {"defaultValue": ""},
    "RICH_TEXT": {"defaultValue": ""},
    "NUMBER": {
        "defaultValue": "",
        "unique": False,
        "minValue": "",
        "maxValue": "",
        "digit": False,
        "displayScale": "",
        "unit": "",
        "unitPosition": "BEFORE",
    },
    "CALC": {
        "expression": "",
        "format": "NUMBER",
        "displayScale": "",
        "unit": "",
        "unitPosition": "BEFORE",
        "hideExpression": False,
    },
    "RADIO_BUTTON": {"defaultValue": "", "align": "HORIZONTAL", "options": {}},
    "DROP_DOWN": {"defaultValue": "", "options": {}},
    "CHECK_BOX": {"defaultValue": [], "align": "HORIZONTAL", "options": {}},
    "MULTI_SELECT": {"defaultValue": [], "options": {}},
    "DATE": {"defaultValue": "", "defaultNowValue": False, "unique": False},
    "TIME": {"defaultValue": "", "defaultNowValue": False},
    "DATETIME": {"defaultValue": "", "defaultNowValue": False, "unique": False},
    "USER_SELECT": {"entities": [], "defaultValue": []},
    "ORGANIZATION_SELECT": {"entities": [], "defaultValue": []},
    "GROUP_SELECT": {"entities": [], "defaultValue": []},
    "FILE": {"thumbnailSize": "150"},
}
_STRING_KEYS = ("minLength", "maxLength", "minValue", "maxValue", "displayScale")


def _form_properties(fields: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    properties = {code: _property(code, spec) for code, spec in fields.items()}
    present = {prop["type"] for prop in properties.values()}
    for ftype, code in _SYSTEM_FIELDS:
        if ftype not in present:
            properties[code] = _property(code, {"type": ftype})
    return properties


def _property(code: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    ftype = spec["type"]
    prop: dict[str, Any] = {"type": ftype, "code": code, "label": code, "noLabel": False}
    if ftype in _PROCESS_TYPES:
        prop["enabled"] = False
    elif ftype != "SUBTABLE":
        prop["required"] = False
    prop.update(copy.deepcopy(_TYPE_DEFAULTS.get(ftype, {})))
    prop.update(copy.deepcopy(dict(spec)))
    prop["code"] = code
    for key in _STRING_KEYS:
        if key in prop:
            prop[key] = str(prop[key])
    if ftype == "NUMBER":
        prop["defaultValue"] = str(prop["defaultValue"])
    if "options" in prop:
        prop["options"] = _options(prop["options"])
    if ftype == "SUBTABLE":
        prop["fields"] = {inner: _property(inner, inner_spec) for inner, inner_spec in spec.get("fields", {}).items()}
    return prop


def _options(options: Iterable[str] | Mapping[str, Any]) -> dict[str, dict[str, str]]:
    if isinstance(options, Mapping):
        items = [(key, value.get("label", key)) for key, value in options.items()]
    else:
        items = [(key, key) for key in options]
    return {key: {"label": label, "index": str(index)} for index, (key, label) in enumerate(items)}


# --------------------------------------------------------------------------------------------
# Scalars: numbers, dates, times
# --------------------------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?")


def _parse_decimal(raw: Any) -> Decimal | None:
    """kintone's ``Number(value)``: numbers and numeric strings (surrounding spaces allowed)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        return None
    text = str(raw).strip()
    return Decimal(text) if _NUMBER_RE.fullmatch(text) else None


def _format_decimal(value: Decimal) -> str:
    """``String(Number(value))``: "1.5e1" -> "15", "1.50" -> "1.5"."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:00Z")


def _app_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_datetime(raw: Any) -> str | None:
    """An ISO-8601 date-time as kintone stores it (UTC, minute precision); naive means UTC."""
    if not isinstance(raw, str) or "T" not in raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return _minute(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _parse_date(raw: Any) -> str | None:
    if not isinstance(raw, str) or not _DATE_RE.fullmatch(raw):
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        return None


def _parse_time(raw: Any) -> str | None:
    match = _TIME_RE.fullmatch(raw) if isinstance(raw, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        return None
    return f"{match[1]}:{match[2]}"


def _is_blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def _empty_value(ftype: str) -> Any:
    if ftype in ("DATE", "TIME"):
        return None
    if ftype in _MULTI_OPTION_TYPES | _ENTITY_TYPES | {"FILE", "SUBTABLE"}:
        return []
    return ""


# --------------------------------------------------------------------------------------------
# Writes: coercion, validation, defaults, CALC (BACKENDS.md §2 semantics, §3 shapes, §4 keys)
# --------------------------------------------------------------------------------------------


@dataclass
class _WriteContext:
    state: FakeKintone
    app: FakeApp
    errors: FieldErrors
    now: datetime
    actor: dict[str, str]


@dataclass(frozen=True)
class _Slot:
    """Where a value goes: its property, its error key base and the value it replaces."""

    prop: dict[str, Any]
    base: str  # "record.title", "records[2].title", "record.items.value[0].value.qty"
    nan_key: str | None  # "record[qty].value"; None inside a SUBTABLE, where non-numbers become ""
    old: Any = None


@dataclass(frozen=True)
class _WriteItem:
    prefix: str  # "record" or "records[<i>]"
    payload: Any
    target: StoredRecord | None  # None: insert


def _coerce_text(ctx: _WriteContext, slot: _Slot, raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        _add_error(ctx.errors, f"{slot.base}.value", msg("invalid_value"))
        return ""
    text = str(raw)
    if text and slot.prop["type"] in _LENGTH_TYPES:
        _check_length(ctx, slot, text)
    return text


def _check_length(ctx: _WriteContext, slot: _Slot, text: str) -> None:
    max_length, min_length = slot.prop.get("maxLength", ""), slot.prop.get("minLength", "")
    if max_length != "" and len(text) > int(max_length):
        _add_error(ctx.errors, f"{slot.base}.value", msg("max_length", n=int(max_length) + 1))
    if min_length != "" and len(text) < int(min_length):
        _add_error(ctx.errors, f"{slot.base}.value", msg("min_length", n=int(min_length) - 1))


def _coerce_number(ctx: _WriteContext, slot: _Slot, raw: Any) -> str:
    """Non-numbers: ``record[<code>].value`` "Only numbers are allowed." at top level (plus "Required." when
    the field is required, since the value counts as empty); silently "" inside a SUBTABLE (§4 quirks)."""
    if raw is None or raw == "":
        return ""
    number = _parse_decimal(raw)
    if number is None:
        if slot.nan_key is not None:
            _add_error(ctx.errors, slot.nan_key, msg("nan"))
        return ""
    max_value, min_value = slot.prop.get("maxValue", ""), slot.prop.get("minValue", "")
    if max_value != "" and number > Decimal(max_value):
        _add_error(ctx.errors, f"{slot.base}.value", msg("max_value", v=max_value))
    if min_value != "" and number < Decimal(min_value):
        _add_error(ctx.errors, f"{slot.base}.value", msg("min_value", v=min_value))
    return _format_decimal(number)


def _coerce_option(ctx: _WriteContext, slot: _Slot, raw: Any) -> str:
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str) or raw not in slot.prop["options"]:
        _add_error(ctx.errors, f"{slot.base}.value", msg("not_in_options", v=raw))
        return ""
    return raw


def _coerce_options(ctx: _WriteContext, slot: _Slot, raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        _add_error(ctx.errors, f"{slot.base}.values", msg("invalid_value"))
        return []
    chosen: list[str] = []
    for index, item in enumerate(raw):
        if isinstance(item, str) and item in slot.prop["options"]:
            chosen.append(item)
        else:
            _add_error(ctx.errors, f"{slot.base}.values[{index}].value", msg("not_in_options", v=item))
    return chosen


def _parsed_or_error(ctx: _WriteContext, slot: _Slot, raw: Any, parse: Callable[[Any], str | None]) -> str | None:
    if raw is None or raw == "":
        return None
    parsed = parse(raw)
    if parsed is None:
        _add_error(ctx.errors, f"{slot.base}.value", msg("invalid_value"))
    return parsed


def _coerce_date(ctx: _WriteContext, slot: _Slot, raw: Any) -> str | None:
    return _parsed_or_error(ctx, slot, raw, _parse_date)


def _coerce_time(ctx: _WriteContext, slot: _Slot, raw: Any) -> str | None:
    return _parsed_or_error(ctx, slot, raw, _parse_time)


def _coerce_datetime(ctx: _WriteContext, slot: _Slot, raw: Any) -> str:
    return _parsed_or_error(ctx, slot, raw, _parse_datetime) or ""


def _coerce_entities(ctx: _WriteContext, slot: _Slot, raw: Any) -> list[dict[str, str]]:
    """``[{code}]`` -> ``[{code, name}]``; an unknown user is 400 GAIA_IL26 (organisations/groups unchecked)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(
        isinstance(item, dict) and isinstance(item.get("code"), str) for item in raw
    ):
        _add_error(ctx.errors, f"{slot.base}.values.value", msg("invalid_value"))
        return []
    if slot.prop["type"] == "USER_SELECT":
        return [ctx.state.user_entity(item["code"]) for item in raw]
    return [{"code": item["code"], "name": item["code"]} for item in raw]


def _coerce_file(ctx: _WriteContext, slot: _Slot, raw: Any) -> list[Any]:
    """The fake has no file upload API, so no fileKey exists: a non-empty value is GAIA_BL01."""
    if raw is None or raw == []:
        return []
    first = raw[0] if isinstance(raw, list) else raw
    file_key = first.get("fileKey", "") if isinstance(first, dict) else first
    raise KintoneError(404, "GAIA_BL01", msg("GAIA_BL01", id=file_key))


def _coerce_subtable(ctx: _WriteContext, slot: _Slot, raw: Any) -> list[dict[str, Any]]:
    """Replaces the row list: rows whose ``id`` matches are merged, other rows are new, absent rows go."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(row, dict) for row in raw):
        _add_error(ctx.errors, f"{slot.base}.value", msg("invalid_value"))
        return copy.deepcopy(slot.old or [])
    old_rows = {row["id"]: row for row in slot.old or []}
    return [_coerce_row(ctx, slot, index, row, old_rows) for index, row in enumerate(raw)]


def _coerce_row(
    ctx: _WriteContext, slot: _Slot, index: int, row: dict[str, Any], old_rows: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    row_id = _loose_int(row.get("id"))
    old = old_rows.get(row_id) if row_id is not None else None
    sent = row.get("value")
    if not isinstance(sent, dict):
        sent = {}
    values = copy.deepcopy(old["value"]) if old else {}
    row_base = f"{slot.base}.value[{index}].value"
    for code, prop in slot.prop["fields"].items():
        if prop["type"] not in _WRITABLE_TYPES:
            continue
        entry = sent.get(code)
        if isinstance(entry, dict):
            values[code] = _coerce(ctx, _Slot(prop, f"{row_base}.{code}", None), entry.get("value"))
        elif old is None:
            values[code] = _default(ctx, prop)
    _check_required(ctx, slot.prop["fields"], values, row_base)
    return {"id": old["id"] if old else ctx.state.new_row_id(), "value": values}


_COERCERS: dict[str, Callable[[_WriteContext, _Slot, Any], Any]] = {
    **dict.fromkeys(_TEXT_TYPES, _coerce_text),
    **dict.fromkeys(_SINGLE_OPTION_TYPES, _coerce_option),
    **dict.fromkeys(_MULTI_OPTION_TYPES, _coerce_options),
    **dict.fromkeys(_ENTITY_TYPES, _coerce_entities),
    "NUMBER": _coerce_number,
    "DATE": _coerce_date,
    "TIME": _coerce_time,
    "DATETIME": _coerce_datetime,
    "FILE": _coerce_file,
    "SUBTABLE": _coerce_subtable,
}


def _coerce(ctx: _WriteContext, slot: _Slot, raw: Any) -> Any:
    return _COERCERS[slot.prop["type"]](ctx, slot, raw)


def _default(ctx: _WriteContext, prop: dict[str, Any]) -> Any:
    """The value of a field whose key is absent from a POST (BACKENDS.md §4 quirks)."""
    ftype, value = prop["type"], prop.get("defaultValue", "")
    if prop.get("defaultNowValue"):
        return {"DATE": ctx.now.date().isoformat(), "TIME": ctx.now.strftime("%H:%M"), "DATETIME": _minute(ctx.now)}[
            ftype
        ]
    if ftype == "NUMBER":
        number = _parse_decimal(value)
        return "" if number is None else _format_decimal(number)
    if ftype in ("DATE", "TIME"):
        return value or None
    if ftype == "DATETIME":
        return _parse_datetime(value) or ""
    if ftype in _ENTITY_TYPES:
        return [ctx.actor if entity.get("type") == "FUNCTION" else _entity(entity) for entity in value]
    if ftype in _MULTI_OPTION_TYPES:
        return list(value)
    return value if ftype not in ("FILE", "SUBTABLE") else []


def _entity(entity: Mapping[str, Any]) -> dict[str, str]:
    return {"code": entity["code"], "name": entity.get("name", entity["code"])}


def _required_suffix(ftype: str) -> str:
    if ftype in _MULTI_OPTION_TYPES or ftype == "FILE":
        return ".values"
    if ftype in _ENTITY_TYPES:
        return ".values.value"
    return ".value"


def _check_required(
    ctx: _WriteContext, properties: dict[str, dict[str, Any]], values: dict[str, Any], prefix: str
) -> None:
    """Required is checked on the merged record; RADIO_BUTTON and CALC are not enforced (§4 quirks)."""
    for code, prop in properties.items():
        ftype = prop["type"]
        checked = ftype in _WRITABLE_TYPES and ftype not in ("SUBTABLE", "RADIO_BUTTON")
        if checked and prop.get("required") and _is_blank(values.get(code)):
            _add_error(ctx.errors, f"{prefix}.{code}{_required_suffix(ftype)}", msg("required"))


def _build_values(ctx: _WriteContext, item: _WriteItem) -> dict[str, Any]:
    """The record's new values: sent fields coerced, others kept (PUT) or defaulted (POST)."""
    payload = item.payload if item.payload is not None else {}
    if not isinstance(payload, dict):
        _add_error(ctx.errors, item.prefix, msg("invalid_value"))
        payload = {}
    values = copy.deepcopy(item.target.values) if item.target else {}
    for code, prop in ctx.app.properties.items():
        if prop["type"] not in _WRITABLE_TYPES:
            continue
        base = f"{item.prefix}.{code}"
        if code in payload:
            entry = payload[code]
            if not isinstance(entry, dict):
                _add_error(ctx.errors, f"{base}.value", msg("invalid_value"))
                continue
            slot = _Slot(prop, base, f"{item.prefix}[{code}].value", values.get(code))
            values[code] = _coerce(ctx, slot, entry.get("value"))
        elif item.target is None:
            values[code] = _default(ctx, prop)
    _check_required(ctx, ctx.app.properties, values, item.prefix)
    _compute_calcs(_CalcScope(ctx.app.properties, values, None))
    return values


def _stamps(ctx: _WriteContext, payload: Any) -> dict[str, Any]:
    """Creator/created/modifier/updated of a new record; POST may set them (import), PUT may not."""
    stamps: dict[str, Any] = {"creator": ctx.actor, "created_at": _minute(ctx.now), "modifier": ctx.actor}
    sent = payload if isinstance(payload, dict) else {}
    for code, prop in ctx.app.properties.items():
        entry = sent.get(code)
        value = entry.get("value") if isinstance(entry, dict) else None
        if value is None:
            continue
        if prop["type"] in ("CREATOR", "MODIFIER") and isinstance(value, dict) and "code" in value:
            stamps["creator" if prop["type"] == "CREATOR" else "modifier"] = ctx.state.user_entity(value["code"])
        elif prop["type"] in ("CREATED_TIME", "UPDATED_TIME") and _parse_datetime(value):
            stamps["created_at" if prop["type"] == "CREATED_TIME" else "updated_at"] = _parse_datetime(value)
    stamps.setdefault("updated_at", stamps["created_at"])
    return stamps


def _check_unique(ctx: _WriteContext, items: list[_WriteItem], new_values: list[dict[str, Any]]) -> None:
    """Unique fields must differ from every other record, including the others in this batch; "" may repeat."""
    codes = [code for code, prop in ctx.app.properties.items() if prop.get("unique") and prop["type"] in _UNIQUE_TYPES]
    replaced = {item.target.id for item in items if item.target is not None}
    final = [rec.values for rec in ctx.app.records.values() if rec.id not in replaced] + new_values
    for code in codes:
        counts = Counter(str(values.get(code)) for values in final if not _is_blank(values.get(code)))
        for item, values in zip(items, new_values, strict=True):
            if not _is_blank(values.get(code)) and counts[str(values[code])] > 1:
                _add_error(ctx.errors, f"{item.prefix}.{code}.value", msg("unique"))


def _write(
    state: FakeKintone, app: FakeApp, items: list[_WriteItem], actor: dict[str, str], *, check: bool = True
) -> list[StoredRecord]:
    """Validates every item first and writes all of them or none (records.json is all-or-nothing)."""
    ctx = _WriteContext(state, app, {}, state.now(), actor)
    new_values = [_build_values(ctx, item) for item in items]
    stamps = [_stamps(ctx, item.payload) if item.target is None else {} for item in items]
    _check_unique(ctx, items, new_values)
    if ctx.errors and check:
        raise _invalid(ctx.errors)
    return [_apply(ctx, item, values, stamp) for item, values, stamp in zip(items, new_values, stamps, strict=True)]


def _apply(ctx: _WriteContext, item: _WriteItem, values: dict[str, Any], stamps: dict[str, Any]) -> StoredRecord:
    if item.target is not None:
        item.target.values = values
        item.target.revision += 1
        item.target.modifier = ctx.actor
        item.target.updated_at = _minute(ctx.now)
        return item.target
    record = StoredRecord(ctx.app.next_record_id, 1, values, **stamps)
    ctx.app.records[record.id] = record
    ctx.app.next_record_id += 1
    return record


# -- CALC -------------------------------------------------------------------------------------

_CALC_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([-+*/()])|([^\s\-+*/()]+))")
_CALC_MAX_DEPTH = 20
_QUOTIENT = Decimal("0.0001")  # kintone rounds quotients to 4 decimal places


class _CalcUnsupportedError(Exception):
    """The expression uses something the fake's CALC subset does not evaluate."""


@dataclass
class _CalcScope:
    """Field values a CALC expression can see: its own level, then the enclosing record."""

    properties: dict[str, dict[str, Any]]
    values: dict[str, Any]
    parent: _CalcScope | None

    def number(self, code: str, depth: int) -> Decimal:
        prop = self.properties.get(code)
        if prop is None:
            if self.parent is None:
                raise _CalcUnsupportedError(code)
            return self.parent.number(code, depth)
        if prop["type"] == "CALC":
            return _evaluate_calc(prop["expression"], self, depth + 1)
        raw = self.values.get(code)
        if prop["type"] != "NUMBER":
            raise _CalcUnsupportedError(code)
        if _is_blank(raw):
            return Decimal(0)
        number = _parse_decimal(raw)
        if number is None:
            raise _CalcUnsupportedError(code)
        return number


def _compute_calcs(scope: _CalcScope) -> None:
    for code, prop in scope.properties.items():
        if prop["type"] == "CALC":
            scope.values[code] = _calc_text(prop["expression"], scope)
        elif prop["type"] == "SUBTABLE":
            for row in scope.values.get(code) or []:
                _compute_calcs(_CalcScope(prop["fields"], row["value"], scope))


def _calc_text(expression: str, scope: _CalcScope) -> str:
    try:
        return _format_decimal(_evaluate_calc(expression, scope, 0))
    except (_CalcUnsupportedError, ArithmeticError):  # decimal's DivisionByZero/InvalidOperation included
        return ""


def _evaluate_calc(expression: str, scope: _CalcScope, depth: int) -> Decimal:
    if depth > _CALC_MAX_DEPTH:
        raise _CalcUnsupportedError("circular reference")
    tokens = _CALC_TOKEN.findall(expression)
    parser = _CalcParser(tokens, scope, depth)
    value = parser.sum()
    if parser.pos != len(tokens):
        raise _CalcUnsupportedError(expression)
    return value


class _CalcParser:
    """``sum := product (('+'|'-') product)*``, ``product := unary (('*'|'/') unary)*``."""

    def __init__(self, tokens: list[tuple[str, str, str]], scope: _CalcScope, depth: int) -> None:
        self.tokens, self.scope, self.depth, self.pos = tokens, scope, depth, 0

    def peek(self) -> str:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else ""

    def take(self) -> str:
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def sum(self) -> Decimal:
        value = self.product()
        while self.peek() in ("+", "-"):
            operator = self.take()
            operand = self.product()
            value = value + operand if operator == "+" else value - operand
        return value

    def product(self) -> Decimal:
        value = self.unary()
        while self.peek() in ("*", "/"):
            operator = self.take()
            operand = self.unary()
            value = value * operand if operator == "*" else (value / operand).quantize(_QUOTIENT, ROUND_HALF_UP)
        return value

    def unary(self) -> Decimal:
        if self.peek() in ("+", "-"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.primary()

    def primary(self) -> Decimal:
        if self.pos >= len(self.tokens):
            raise _CalcUnsupportedError("unexpected end")
        number, symbol, name = self.tokens[self.pos]
        self.pos += 1
        if number:
            return Decimal(number)
        if name:
            return self.scope.number(name, self.depth)
        if symbol == "(":
            value = self.sum()
            if self.peek() != ")":
                raise _CalcUnsupportedError("missing )")
            self.pos += 1
            return value
        raise _CalcUnsupportedError(symbol)


# --------------------------------------------------------------------------------------------
# Reads: rendering records (BACKENDS.md §3)
# --------------------------------------------------------------------------------------------


def _render(app: FakeApp, record: StoredRecord, fields: list[str] | None) -> dict[str, Any]:
    wanted = set(fields) if fields else None
    rendered: dict[str, Any] = {}
    for code, prop in app.properties.items():
        if prop["type"] not in _FORM_ONLY_TYPES and (wanted is None or code in wanted):
            rendered[code] = {"type": prop["type"], "value": _render_value(prop, record)}
    for code, ftype, value in (("$id", "__ID__", record.id), ("$revision", "__REVISION__", record.revision)):
        if wanted is None or code in wanted:
            rendered[code] = {"type": ftype, "value": str(value)}
    return rendered


_SYSTEM_VALUES: dict[str, Callable[[StoredRecord], Any]] = {
    "RECORD_NUMBER": lambda record: str(record.id),
    "CREATOR": lambda record: record.creator,
    "MODIFIER": lambda record: record.modifier,
    "CREATED_TIME": lambda record: record.created_at,
    "UPDATED_TIME": lambda record: record.updated_at,
}


def _render_value(prop: dict[str, Any], record: StoredRecord) -> Any:
    system = _SYSTEM_VALUES.get(prop["type"])
    if system is not None:
        return _json_copy(system(record))
    return _render_stored(prop, record.values.get(prop["code"], _empty_value(prop["type"])))


def _render_stored(prop: dict[str, Any], value: Any) -> Any:
    if prop["type"] == "SUBTABLE":
        return [{"id": str(row["id"]), "value": _render_row(prop["fields"], row["value"])} for row in value]
    if prop["type"] == "DROP_DOWN" and value == "":
        return None
    return _json_copy(value)


def _json_copy(value: Any) -> Any:
    """A copy of a stored JSON value (what `copy.deepcopy` gave, in a fraction of its time: strings and numbers
    are immutable, so only lists and objects are copied)."""
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    return value


def _render_row(fields: dict[str, dict[str, Any]], values: dict[str, Any]) -> dict[str, Any]:
    return {
        code: {"type": prop["type"], "value": _render_stored(prop, values.get(code, _empty_value(prop["type"])))}
        for code, prop in fields.items()
    }


# --------------------------------------------------------------------------------------------
# Query language (BACKENDS.md §2 "Query"; emulator doc/kintone-query-behavior.md)
# --------------------------------------------------------------------------------------------

_QUERY_SPACE = " \t\r\n\u3000"
_WORD_STOP = frozenset(_QUERY_SPACE + '"(),=!<>')
_STRING_ESCAPES = {"t": "\t", "n": "\n", "r": "\r"}
_QUERY_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_MAX_LIMIT = 500
_MAX_OFFSET = 10_000


def _syntax_error() -> KintoneError:
    return _invalid({"query": [msg("query_syntax")]})


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "number", "word", "op", "(", ")", ",", "end"
    text: str


@dataclass(frozen=True)
class _Function:
    name: str
    args: tuple[str, ...]


_Literal = str | Decimal | _Function


@dataclass(frozen=True)
class _Condition:
    field: str
    op: str
    values: tuple[_Literal, ...]


@dataclass(frozen=True)
class _BoolOp:
    op: Literal["and", "or"]
    left: _Condition | _BoolOp
    right: _Condition | _BoolOp


@dataclass(frozen=True)
class _OrderKey:
    field: str
    descending: bool


@dataclass(frozen=True)
class _Query:
    where: _Condition | _BoolOp | None
    order: tuple[_OrderKey, ...]
    limit: int | None
    offset: int | None


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char in _QUERY_SPACE:
            pos += 1
        elif char == '"':
            text, pos = _read_string(source, pos)
            tokens.append(_Token("string", text))
        elif char in "(),":
            tokens.append(_Token(char, char))
            pos += 1
        elif char in "=!<>":
            two = source[pos : pos + 2]
            op = two if two in ("!=", ">=", "<=") else char
            if op == "!":
                raise _syntax_error()
            tokens.append(_Token("op", op))
            pos += len(op)
        else:
            end = pos
            while end < len(source) and source[end] not in _WORD_STOP:
                end += 1
            word = source[pos:end]
            tokens.append(_Token("number" if _QUERY_NUMBER.fullmatch(word) else "word", word))
            pos = end
    tokens.append(_Token("end", ""))
    return tokens


def _read_string(source: str, start: int) -> tuple[str, int]:
    """A double-quoted literal: ``\\"`` ``\\\\`` ``\\t`` ``\\n`` ``\\r`` escapes; raw tab/CR/LF is an error."""
    chars: list[str] = []
    pos = start + 1
    while pos < len(source):
        char = source[pos]
        if char == '"':
            return "".join(chars), pos + 1
        if char in "\t\r\n":
            break
        if char == "\\":
            pos += 1
            if pos == len(source):
                break
            chars.append(_STRING_ESCAPES.get(source[pos], source[pos]))
        else:
            chars.append(char)
        pos += 1
    raise _syntax_error()


class _QueryParser:
    """Recursive descent over the tokens; ``and`` binds tighter than ``or``.

    query := [or_expr] ["order" "by" key ("," key)*] ["limit" N] ["offset" N]  (limit/offset in either order)
    or_expr := and_expr ("or" and_expr)*;  and_expr := term ("and" term)*;  term := "(" or_expr ")" | condition
    """

    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.pos = 0

    def parse(self) -> _Query:
        where = None if self.peek().kind == "end" or self.at_options() else self.or_expr()
        order = self.order_clause()
        options: dict[str, int] = {}
        while self.peek().kind == "word" and self.peek().text.lower() in ("limit", "offset"):
            name = self.take().text.lower()
            if name in options:
                raise _syntax_error()
            options[name] = self.count()
        self.expect("end")
        return _Query(where, order, options.get("limit"), options.get("offset"))

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.pos += 1
        return token

    def expect(self, kind: str) -> _Token:
        if self.peek().kind != kind:
            raise _syntax_error()
        return self.take()

    def is_keyword(self, word: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "word" and token.text.lower() == word

    def keyword(self, word: str) -> bool:
        if self.is_keyword(word):
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise _syntax_error()

    def at_options(self) -> bool:
        if self.is_keyword("order"):
            return self.is_keyword("by", 1)
        return (self.is_keyword("limit") or self.is_keyword("offset")) and self.peek(1).kind == "number"

    def or_expr(self) -> _Condition | _BoolOp:
        left = self.and_expr()
        while self.keyword("or"):
            left = _BoolOp("or", left, self.and_expr())
        return left

    def and_expr(self) -> _Condition | _BoolOp:
        left = self.term()
        while self.keyword("and"):
            left = _BoolOp("and", left, self.term())
        return left

    def term(self) -> _Condition | _BoolOp:
        if self.peek().kind == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.condition()

    def condition(self) -> _Condition:
        code = self.expect("word").text
        if self.peek().kind == "op":
            return _Condition(code, self.take().text, (self.value(),))
        negated = self.keyword("not")
        if self.keyword("in"):
            return _Condition(code, "not in" if negated else "in", self.value_list())
        if self.keyword("like"):
            return _Condition(code, "not like" if negated else "like", (self.value(),))
        if negated:
            raise _syntax_error()
        self.expect_keyword("is")
        op = "is not empty" if self.keyword("not") else "is empty"
        self.expect_keyword("empty")
        return _Condition(code, op, ())

    def value(self) -> _Literal:
        token = self.take()
        if token.kind == "string":
            return token.text
        if token.kind == "number":
            return Decimal(token.text)
        if token.kind == "word" and self.peek().kind == "(":
            return _Function(token.text.upper(), self.arguments())
        raise _syntax_error()

    def arguments(self) -> tuple[str, ...]:
        self.expect("(")
        args: list[str] = []
        while self.peek().kind != ")":
            if args:
                self.expect(",")
            if self.peek().kind not in ("word", "number", "string"):
                raise _syntax_error()
            args.append(self.take().text)
        self.take()
        return tuple(args)

    def value_list(self) -> tuple[_Literal, ...]:
        self.expect("(")
        values = [self.value()]
        while self.peek().kind == ",":
            self.take()
            values.append(self.value())
        self.expect(")")
        return tuple(values)

    def order_clause(self) -> tuple[_OrderKey, ...]:
        if not self.keyword("order"):
            return ()
        self.expect_keyword("by")
        keys = [self.order_key()]
        while self.peek().kind == ",":
            self.take()
            keys.append(self.order_key())
        return tuple(keys)

    def order_key(self) -> _OrderKey:
        code = self.expect("word").text
        if self.keyword("desc"):
            return _OrderKey(code, True)
        self.keyword("asc")
        return _OrderKey(code, False)

    def count(self) -> int:
        token = self.expect("number")
        if not token.text.isdigit():
            raise _syntax_error()
        return int(token.text)


def _parse_query(source: str) -> _Query:
    """Parses a query and enforces limit ≤ 500 (GAIA_QU01) and offset ≤ 10,000 (GAIA_QU02) as the emulator does."""
    query = _QueryParser(source).parse()
    if query.limit is not None and query.limit > _MAX_LIMIT:
        raise KintoneError(400, "GAIA_QU01")
    if query.offset is not None and query.offset > _MAX_OFFSET:
        raise KintoneError(400, "GAIA_QU02")
    return query


# Operators per field type: the kintone.dev query-string table, as encoded by the emulator.
_ORDERED_OPS = frozenset({"=", "!=", "<", ">", "<=", ">="})
_IN_OPS = frozenset({"in", "not in"})
_LIKE_OPS = frozenset({"like", "not like"})
_EMPTY_OPS = frozenset({"is empty", "is not empty"})
_ALLOWED_OPS: dict[str, frozenset[str]] = {
    **dict.fromkeys(_NUMERIC_TYPES, _ORDERED_OPS | _IN_OPS),
    **dict.fromkeys(_ENTITY_TYPES | _SINGLE_OPTION_TYPES | _MULTI_OPTION_TYPES | {"CREATOR", "MODIFIER"}, _IN_OPS),
    **dict.fromkeys(_DATETIME_TYPES | {"DATE", "TIME"}, _ORDERED_OPS),
    **dict.fromkeys(("SINGLE_LINE_TEXT", "LINK"), frozenset({"=", "!="}) | _IN_OPS | _LIKE_OPS),
    **dict.fromkeys(("MULTI_LINE_TEXT", "RICH_TEXT", "FILE"), _LIKE_OPS | _EMPTY_OPS),
}
_NEGATED_OPS = {"not in": "in", "not like": "like", "is not empty": "is empty"}
_WORD_RE = re.compile(r"[0-9a-z]+")


@dataclass(frozen=True)
class _FieldRef:
    code: str
    type: str
    table: str | None  # the SUBTABLE holding the field, if any


@dataclass
class _QueryContext:
    app: FakeApp
    now: datetime
    login_user: str

    def resolve(self, code: str) -> _FieldRef:
        if code == "$id":
            return _FieldRef(code, "__ID__", None)
        prop = self.app.properties.get(code)
        if prop is not None and prop["type"] not in _FORM_ONLY_TYPES | {"SUBTABLE"}:
            return _FieldRef(code, prop["type"], None)
        for table, table_prop in self.app.properties.items():
            if table_prop["type"] == "SUBTABLE" and code in table_prop["fields"]:
                return _FieldRef(code, table_prop["fields"][code]["type"], table)
        raise KintoneError(400, "GAIA_IQ11", msg("GAIA_IQ11", code=code))

    def bounds(self, ftype: str, literal: _Literal) -> tuple[Any, Any]:
        """The literal as an inclusive interval in the field's key space; ``(None, None)`` for ""."""
        if isinstance(literal, _Function):
            return self.function_bounds(ftype, literal)
        text = literal if isinstance(literal, str) else _format_decimal(literal)
        if text == "":
            return None, None
        if ftype in _NUMERIC_TYPES:
            number = _parse_decimal(text)
            if number is None:
                raise _syntax_error()
            return number, number
        if ftype in _DATETIME_TYPES:
            return _datetime_bounds(text)
        parse = {"DATE": _parse_date, "TIME": _parse_time}.get(ftype)
        if parse is None:
            return text, text
        parsed = parse(text)
        if parsed is None:
            raise _syntax_error()
        return parsed, parsed

    def function_bounds(self, ftype: str, function: _Function) -> tuple[Any, Any]:
        """LOGINUSER/NOW/TODAY/YESTERDAY/TOMORROW in UTC; other functions are not implemented."""
        day_offsets = {"TODAY": 0, "YESTERDAY": -1, "TOMORROW": 1}
        if function.args or function.name not in {"LOGINUSER", "NOW", *day_offsets}:
            raise _syntax_error()
        if function.name == "LOGINUSER":
            return self.login_user, self.login_user
        if function.name == "NOW":
            value = {"DATE": self.now.date().isoformat(), "TIME": self.now.strftime("%H:%M")}.get(
                ftype, _minute(self.now)
            )
            return value, value
        day = (self.now + timedelta(days=day_offsets[function.name])).date().isoformat()
        return _datetime_bounds(day) if ftype in _DATETIME_TYPES else (day, day)


def _datetime_bounds(text: str) -> tuple[str, str]:
    """A date-time literal, or a date meaning that whole (UTC) day."""
    moment = _parse_datetime(text)
    if moment is not None:
        return moment, moment
    day = _parse_date(text)
    if day is None:
        raise _syntax_error()
    return f"{day}T00:00:00Z", f"{day}T23:59:00Z"


def _key(ftype: str, atom: Any) -> Any:
    """A stored scalar in comparable form; None when empty."""
    if atom is None or atom == "":
        return None
    if ftype in _NUMERIC_TYPES:
        return _parse_decimal(atom)
    return str(atom)


def _atoms(value: Any) -> list[Any]:
    """The scalars a stored value holds: options of a list, codes of users; [None] when empty."""
    items = value if isinstance(value, list) else [value]
    return [item["code"] if isinstance(item, dict) else item for item in items] or [None]


_INTERVAL_CHECKS: dict[str, Callable[[Any, Any, Any], bool]] = {
    "=": lambda actual, low, high: low <= actual <= high,
    "!=": lambda actual, low, high: not low <= actual <= high,
    "<": lambda actual, low, high: actual < low,
    "<=": lambda actual, low, high: actual <= high,
    ">": lambda actual, low, high: actual > high,
    ">=": lambda actual, low, high: actual >= low,
}


def _compare(op: str, actual: Any, low: Any, high: Any) -> bool:
    """``actual op [low, high]``; an empty field equals only "" and differs from everything else."""
    if low is None:  # compared with ""
        return {"=": actual is None, "!=": actual is not None}.get(op, False)
    if actual is None:
        return op == "!="
    return _INTERVAL_CHECKS[op](actual, low, high)


def _text_of(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(item.get("name", "")) if isinstance(item, dict) else str(item) for item in value)
    return "" if value is None else str(value)


def _word_match(text: str, term: str) -> bool:
    """kintone ``like`` is word search: ASCII terms match whole words in order; other terms are substrings."""
    wanted = _WORD_RE.findall(term.lower())
    if not term.isascii() or not wanted:
        return term.strip().lower() in text.lower()
    words = _WORD_RE.findall(text.lower())
    return any(words[start : start + len(wanted)] == wanted for start in range(len(words) - len(wanted) + 1))


def _is_empty_text(value: Any) -> bool:
    """``is empty``: no value, or only spaces, tabs and line breaks."""
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def _stored_values(record: StoredRecord, ref: _FieldRef) -> list[Any]:
    """One value per row for a SUBTABLE field, else a single value."""
    if ref.table is not None:
        return [row["value"].get(ref.code) for row in record.values.get(ref.table) or []]
    system = {
        "__ID__": record.id,
        "RECORD_NUMBER": record.id,
        "CREATOR": record.creator,
        "MODIFIER": record.modifier,
        "CREATED_TIME": record.created_at,
        "UPDATED_TIME": record.updated_at,
    }
    if ref.type in system:
        return [system[ref.type]]
    return [record.values.get(ref.code)]


def _check_operator(ref: _FieldRef, op: str) -> None:
    if op not in _ALLOWED_OPS.get(ref.type, frozenset()):
        raise KintoneError(400, "GAIA_IQ03", msg("GAIA_IQ03", code=ref.code, op=op))
    if ref.table is not None and op not in _IN_OPS | _LIKE_OPS:
        raise KintoneError(400, "GAIA_IQ07", msg("GAIA_IQ07", code=ref.code, op=op))


def _value_test(ctx: _QueryContext, ref: _FieldRef, condition: _Condition) -> Callable[[Any], bool]:
    op = _NEGATED_OPS.get(condition.op, condition.op)
    if op == "is empty":
        return _is_empty_text
    if op == "like":
        term = condition.values[0]
        if isinstance(term, _Function):
            raise _syntax_error()
        text = term if isinstance(term, str) else _format_decimal(term)
        return lambda value: _word_match(_text_of(value), text)
    bounds = [ctx.bounds(ref.type, literal) for literal in condition.values]
    if op == "in":
        wanted = {low for low, _ in bounds}
        return lambda value: any(_key(ref.type, atom) in wanted for atom in _atoms(value))
    low, high = bounds[0]
    return lambda value: _compare(op, _key(ref.type, value), low, high)


def _compile(ctx: _QueryContext, expr: _Condition | _BoolOp) -> Callable[[StoredRecord], bool]:
    """Checks fields and operators up front (errors even on an empty app) and returns a predicate."""
    if isinstance(expr, _BoolOp):
        left, right = _compile(ctx, expr.left), _compile(ctx, expr.right)
        if expr.op == "and":
            return lambda record: left(record) and right(record)
        return lambda record: left(record) or right(record)
    ref = ctx.resolve(expr.field)
    _check_operator(ref, expr.op)
    test = _value_test(ctx, ref, expr)
    negated = expr.op in _NEGATED_OPS
    return lambda record: any(test(value) for value in _stored_values(record, ref)) != negated


def _sort_key(ref: _FieldRef, record: StoredRecord) -> tuple[int, Any]:
    values = _stored_values(record, ref)
    key = _key(ref.type, _atoms(values[0])[0]) if values else None
    return (0, "") if key is None else (1, key)


def _ids_named(expr: _Condition | _BoolOp) -> set[int] | None:
    """The record ids a condition limits matches to (`$id = n`, `$id in (...)`, either side of an `and`), or None:
    those records are looked up by id instead of testing every record of the app (the predicate still decides)."""
    if isinstance(expr, _BoolOp):
        if expr.op != "and":
            return None
        left, right = _ids_named(expr.left), _ids_named(expr.right)
        return left if right is None else right if left is None else left & right
    if expr.field != "$id" or expr.op not in ("=", "in"):
        return None
    ids: set[int] = set()
    for literal in expr.values:
        if isinstance(literal, _Function):
            return None
        try:
            number = Decimal(literal)
        except ArithmeticError:
            return None
        if number != number.to_integral_value():
            return None
        ids.add(int(number))
    return ids


def _select(ctx: _QueryContext, query: _Query) -> list[StoredRecord]:
    """Matching records in query order; without ``order by`` kintone sorts by ``$id desc``."""
    predicate = _compile(ctx, query.where) if query.where is not None else None
    keys = [(ctx.resolve(key.field), key.descending) for key in query.order or (_OrderKey("$id", True),)]
    ids = _ids_named(query.where) if query.where is not None else None
    stored = ctx.app.records
    candidates = stored.values() if ids is None else [stored[i] for i in ids if i in stored]
    records = [record for record in candidates if predicate is None or predicate(record)]
    for ref, descending in reversed(keys):
        records.sort(key=functools.partial(_sort_key, ref), reverse=descending)
    return records


# --------------------------------------------------------------------------------------------
# Request context, auth and parameters (BACKENDS.md §1)
# --------------------------------------------------------------------------------------------


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


def _loose_int(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
        return int(raw)
    return None


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


@contextlib.contextmanager
def serve_fake_kintone(state: FakeKintone, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serves ``state`` with uvicorn in a daemon thread; yields the base URL (``http://127.0.0.1:<port>``)."""
    with serve_in_thread(build_app(state), "kintone", host=host, port=port) as url:
        yield url


# --------------------------------------------------------------------------------------------
# Sample domain and CLI
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleDomain:
    """The CLI's sample data: a state and the credentials that open it."""

    state: FakeKintone
    customers_app: int
    deals_app: int
    guest_app: int
    guest_space_id: int
    tokens: dict[str, str]  # "customers", "customers_view", "deals", "guest"
    username: str
    password: str


_CUSTOMER_FIELDS: dict[str, dict[str, Any]] = {
    "name": {"type": "SINGLE_LINE_TEXT", "label": "Name", "required": True, "unique": True, "maxLength": 64},
    "email": {"type": "LINK", "label": "Email", "protocol": "MAIL"},
    "unit_price": {"type": "NUMBER", "label": "Unit price", "minValue": 0},
    "seats": {"type": "NUMBER", "label": "Seats", "minValue": 0, "maxValue": 1000, "defaultValue": 1},
    "total": {"type": "CALC", "label": "Total", "expression": "unit_price * seats"},
    "stage": {"type": "DROP_DOWN", "label": "Stage", "options": ["Lead", "Active", "Churned"]},
    "tags": {"type": "CHECK_BOX", "label": "Tags", "options": ["vip", "partner", "trial"]},
    "signed_on": {"type": "DATE", "label": "Signed on"},
    "last_contact": {"type": "DATETIME", "label": "Last contact"},
    "owner": {"type": "USER_SELECT", "label": "Owner"},
    "notes": {"type": "MULTI_LINE_TEXT", "label": "Notes"},
    "orders": {
        "type": "SUBTABLE",
        "label": "Orders",
        "fields": {
            "item": {"type": "SINGLE_LINE_TEXT", "label": "Item"},
            "qty": {"type": "NUMBER", "label": "Qty"},
        },
    },
}

_DEAL_FIELDS: dict[str, dict[str, Any]] = {
    "案件名": {"type": "SINGLE_LINE_TEXT", "required": True},
    "金額": {"type": "NUMBER", "unit": "円"},
    "確度": {"type": "RADIO_BUTTON", "options": ["A", "B", "C"], "defaultValue": "B"},
    "担当者": {"type": "USER_SELECT"},
    "レコード番号": {"type": "RECORD_NUMBER"},
    "作成者": {"type": "CREATOR"},
    "作成日時": {"type": "CREATED_TIME"},
    "更新者": {"type": "MODIFIER"},
    "更新日時": {"type": "UPDATED_TIME"},
    "ステータス": {"type": "STATUS"},
    "作業者": {"type": "STATUS_ASSIGNEE"},
    "カテゴリー": {"type": "CATEGORY"},
}


def _v(value: Any) -> dict[str, Any]:
    return {"value": value}


def sample_domain() -> SampleDomain:
    """Three apps: "Customers" (every common field type), "案件管理" (Japanese codes), and a guest-space app."""
    state = FakeKintone()
    state.add_user("alice", "alice-password", name="Alice Example")
    state.add_user("bob", "bob-password", name="Bob Example")
    customers = state.add_app("Customers", _CUSTOMER_FIELDS, description="Sample customers")
    deals = state.add_app("案件管理", _DEAL_FIELDS, description="日本語のサンプルアプリ")
    guest_space_id = 5
    guest = state.add_app("Guest tasks", {"title": {"type": "SINGLE_LINE_TEXT"}}, guest_space_id=guest_space_id)
    state.add_records(
        customers,
        [
            {
                "name": _v("Acme Corp"),
                "unit_price": _v("1200"),
                "seats": _v("10"),
                "stage": _v("Active"),
                "tags": _v(["vip"]),
                "signed_on": _v("2024-04-01"),
                "owner": _v([{"code": "alice"}]),
                "orders": _v([{"value": {"item": _v("Licence"), "qty": _v("10")}}]),
            },
            {"name": _v("Globex"), "unit_price": _v("800"), "stage": _v("Lead"), "notes": _v("Met at the trade show")},
            {"name": _v("Initech"), "stage": _v("Churned"), "last_contact": _v("2024-01-15T09:30:00+09:00")},
        ],
    )
    state.add_records(deals, [{"案件名": _v("新規導入"), "金額": _v("500000"), "担当者": _v([{"code": "bob"}])}])
    state.add_records(guest, [{"title": _v("Prepare the kick-off")}])
    tokens = {
        "customers": state.add_token(customers),
        "customers_view": state.add_token(customers, {"view"}),
        "deals": state.add_token(deals),
        "guest": state.add_token(guest),
    }
    return SampleDomain(state, customers, deals, guest, guest_space_id, tokens, "alice", "alice-password")


def _banner(domain: SampleDomain, base_url: str) -> str:
    tokens = domain.tokens
    return "\n".join(
        [
            f"fake kintone serving on {base_url}",
            f"  app {domain.customers_app} Customers, app {domain.deals_app} 案件管理, "
            f"app {domain.guest_app} Guest tasks (guest space {domain.guest_space_id})",
            f"API tokens (apps {domain.customers_app} and {domain.deals_app}):",
            f"  KINTONE_BASE_URL={base_url} KINTONE_API_TOKEN={tokens['customers']},{tokens['deals']}",
            f"view-only token for app {domain.customers_app}: {tokens['customers_view']}",
            "guest space app:",
            f"  KINTONE_BASE_URL={base_url} KINTONE_API_TOKEN={tokens['guest']} "
            f"KINTONE_GUEST_SPACE_ID={domain.guest_space_id}",
            "password auth (every app):",
            f"  KINTONE_BASE_URL={base_url} KINTONE_USERNAME={domain.username} KINTONE_PASSWORD={domain.password}",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake kintone REST API with sample apps.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    domain = sample_domain()
    print(_banner(domain, f"http://{args.host}:{args.port}"), file=sys.stderr, flush=True)
    uvicorn.run(build_app(domain.state), host=args.host, port=args.port, log_level="warning", http="h11")


if __name__ == "__main__":
    main()
