"""Kintone adapter: each Kintone app is a table, each form field a column, over the REST API.

It owns the translation between Kintone and the canonical model: field types to column types,
`{"code": {"type", "value"}}` records to plain values, structured filters to Kintone's query
language, pages to limit/offset, `$id` seeking or cursors, batches to 100-record requests, and
Kintone error bodies to `TablesError`. Network, retries and redaction belong to `tables_mcp.http`.

Value shapes an agent sees (reads) and sends (writes):
- TEXT / LONGTEXT / EMAIL / PHONE / URL: strings (RICH_TEXT is HTML). LINK maps by protocol.
- NUMBER: a JSON number on read ("42" -> 42, "1.5" -> 1.5). A value a double cannot hold exactly
  (more than 15-17 significant digits, or an integer beyond 2**53) is returned as the exact decimal
  string instead, so no digit is ever silently lost. Writes take numbers.
- DATE "YYYY-MM-DD", TIME "HH:MM" (Kintone keeps minutes: seconds sent are dropped), DATETIME
  "YYYY-MM-DDTHH:MM:SSZ" in UTC (Kintone keeps minutes; writes accept any RFC 3339 offset).
- SELECT: the option string; MULTISELECT: a list of option strings.
- USER (USER_SELECT, ORGANIZATION_SELECT, GROUP_SELECT, STATUS_ASSIGNEE): a list of codes on read
  (["alice", "bob"]); CREATOR / MODIFIER: one code string. Writes take one code or a list of codes.
- FILE: read-only list of {"name", "contentType", "size", "fileKey"} (no upload).
- SUBTABLE: a list of rows, each a plain {inner code: value} object; writing it replaces every row.
- FORMULA (CALC, auto-calculated text): read-only; a number when the formula yields a number.
Empty values ("" / null / []) are omitted from `fields`; `id` is `$id`; `created_at` and
`updated_at` come from the app's CREATED_TIME / UPDATED_TIME fields (null if it has none).

Paging: without a sort, pages seek on `$id` (no offset limit at all). With a sort, pages use
limit/offset up to Kintone's 10,000 offset cap, then a Kintone cursor (records/cursor.json) that
this process keeps open and reads forward; at most a few are kept, each read to its end or
deleted, because Kintone allows only 10 live cursors per domain.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import anyio

from ..errors import ConfigError, ErrorCode, FieldError, TablesError, invalid_argument, not_found, unsupported
from ..http import ErrorResponse, HttpClient, HttpSettings, RetryPolicy, status_error
from ..model import (
    BoolGroup,
    Capabilities,
    Column,
    ColumnSpec,
    ColumnType,
    Condition,
    FilterNode,
    ListQuery,
    Page,
    Record,
    Table,
    WriteProgress,
)
from .base import Adapter
from .kit.codecs import datetime_minute_bound, time_minute_bound, utc_datetime
from .kit.cursors import CursorCodec, not_ours, query_scope, store_key

log = logging.getLogger("tables_mcp.backends.kintone")

T = TypeVar("T")
A = TypeVar("A")

RECORDS_PER_WRITE = 100  # Kintone's limit for POST/PUT/DELETE records.json
MAX_PAGE = 500  # Kintone's `limit` cap
MAX_OFFSET = 10_000  # Kintone's `offset` cap
CURSOR_SIZE = 500
MAX_LIVE_CURSORS = 3  # ours; Kintone allows 10 per domain, shared with every other client
MAX_QUERY_FIELDS = 100  # `fields[i]` indices accepted in a query string
MAX_URL_LENGTH = 4000  # beyond this, GET is sent as POST + X-HTTP-Method-Override (as the SDK does)
MAX_TOKENS = 9
CREATE_CONCURRENCY = 4
READ_CONCURRENCY = 4
SCHEMA_CHECK_INTERVAL = 30.0
MAX_SAFE_INTEGER = 2**53
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9]+")
# Field codes may hold letters, digits, _, Japanese and a few full-width symbols: never query syntax.
SAFE_CODE = re.compile(r"[^\s\"'()=!<>,\\]+")

# -- field types --------------------------------------------------------------------------------

FIELD_TYPES: dict[str, ColumnType] = {
    "SINGLE_LINE_TEXT": ColumnType.TEXT,
    "MULTI_LINE_TEXT": ColumnType.LONGTEXT,
    "RICH_TEXT": ColumnType.LONGTEXT,
    "NUMBER": ColumnType.NUMBER,
    "CALC": ColumnType.FORMULA,
    "RADIO_BUTTON": ColumnType.SELECT,
    "DROP_DOWN": ColumnType.SELECT,
    "CHECK_BOX": ColumnType.MULTISELECT,
    "MULTI_SELECT": ColumnType.MULTISELECT,
    "DATE": ColumnType.DATE,
    "TIME": ColumnType.TIME,
    "DATETIME": ColumnType.DATETIME,
    "USER_SELECT": ColumnType.USER,
    "ORGANIZATION_SELECT": ColumnType.USER,
    "GROUP_SELECT": ColumnType.USER,
    "FILE": ColumnType.FILE,
    "SUBTABLE": ColumnType.SUBTABLE,
    "RECORD_NUMBER": ColumnType.SERIAL,
    "__ID__": ColumnType.SERIAL,
    "__REVISION__": ColumnType.SERIAL,
    "CREATOR": ColumnType.USER,
    "MODIFIER": ColumnType.USER,
    "CREATED_TIME": ColumnType.DATETIME,
    "UPDATED_TIME": ColumnType.DATETIME,
    "STATUS": ColumnType.SELECT,
    "STATUS_ASSIGNEE": ColumnType.USER,
    "CATEGORY": ColumnType.MULTISELECT,
}
LINK_TYPES = {"WEB": ColumnType.URL, "MAIL": ColumnType.EMAIL, "CALL": ColumnType.PHONE}
NOT_COLUMNS = frozenset({"LABEL", "SPACER", "HR", "GROUP", "REFERENCE_TABLE"})
PROCESS_TYPES = frozenset({"STATUS", "STATUS_ASSIGNEE", "CATEGORY"})
WRITABLE_TYPES = frozenset(
    {
        "SINGLE_LINE_TEXT",
        "MULTI_LINE_TEXT",
        "RICH_TEXT",
        "LINK",
        "NUMBER",
        "RADIO_BUTTON",
        "DROP_DOWN",
        "CHECK_BOX",
        "MULTI_SELECT",
        "DATE",
        "TIME",
        "DATETIME",
        "USER_SELECT",
        "ORGANIZATION_SELECT",
        "GROUP_SELECT",
        "SUBTABLE",
    }
)
LIST_TYPES = frozenset(
    {
        "CHECK_BOX",
        "MULTI_SELECT",
        "CATEGORY",
        "USER_SELECT",
        "ORGANIZATION_SELECT",
        "GROUP_SELECT",
        "STATUS_ASSIGNEE",
        "FILE",
        "SUBTABLE",
    }
)
ENTITY_LIST_TYPES = frozenset({"USER_SELECT", "ORGANIZATION_SELECT", "GROUP_SELECT", "STATUS_ASSIGNEE"})
NUMERIC_TYPES = frozenset({"NUMBER", "RECORD_NUMBER", "__ID__", "__REVISION__"})

# Filter operators Kintone accepts per column type (kintone.dev query operator table). Where the
# canonical operator has no Kintone twin it is translated: eq on options -> in ("x"), isEmpty on
# one-line text, numbers and dates -> = "", isEmpty on options -> in ("").
OPERATORS: dict[ColumnType, tuple[str, ...]] = {
    ColumnType.TEXT: ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.EMAIL: ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.PHONE: ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.URL: ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.LONGTEXT: ("contains", "isEmpty", "isNotEmpty"),
    ColumnType.NUMBER: ("eq", "ne", "lt", "lte", "gt", "gte", "in", "isEmpty", "isNotEmpty"),
    ColumnType.SERIAL: ("eq", "ne", "lt", "lte", "gt", "gte", "in"),
    ColumnType.DATE: ("eq", "ne", "lt", "lte", "gt", "gte", "isEmpty", "isNotEmpty"),
    ColumnType.DATETIME: ("eq", "ne", "lt", "lte", "gt", "gte", "isEmpty", "isNotEmpty"),
    ColumnType.TIME: ("eq", "ne", "lt", "lte", "gt", "gte", "isEmpty", "isNotEmpty"),
    ColumnType.SELECT: ("eq", "ne", "in", "isEmpty", "isNotEmpty"),
    ColumnType.MULTISELECT: ("contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.USER: ("eq", "ne", "in"),
    ColumnType.FORMULA: ("eq", "ne", "in"),
    ColumnType.FILE: ("isEmpty", "isNotEmpty"),
}
SORTABLE = frozenset(
    {
        ColumnType.TEXT,
        ColumnType.EMAIL,
        ColumnType.PHONE,
        ColumnType.URL,
        ColumnType.NUMBER,
        ColumnType.SERIAL,
        ColumnType.DATE,
        ColumnType.DATETIME,
        ColumnType.TIME,
        ColumnType.SELECT,
        ColumnType.FORMULA,
    }
)
_COMPARISONS = {"eq": "=", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_IN_ONLY = frozenset({ColumnType.SELECT, ColumnType.MULTISELECT, ColumnType.USER})
_IS_EMPTY_TYPES = frozenset({ColumnType.LONGTEXT, ColumnType.FILE})

CAPABILITIES = Capabilities(
    create_table=False,
    delete=True,
    patch=True,
    atomic_create=False,
    max_create_batch=1000,
    max_page_size=MAX_PAGE,
    operators=dict(OPERATORS),
    sortable_types=SORTABLE,
    notes=(
        "Kintone writes 100 records per request, all-or-nothing per request: a larger create can be partly "
        "written, and the result then lists the written records and the failed indexes.",
        "'contains' on text is Kintone's word search: it matches whole words, not parts of words.",
        "USER values are user codes: read as a list of codes, written as one code or a list of codes.",
        "DATETIME and TIME values are kept to the minute; DATETIME is returned in UTC.",
        "Writing a SUBTABLE column replaces all of its rows.",
    ),
)

# -- errors ---------------------------------------------------------------------------------------

AUTH_CODES = frozenset({"CB_AU01", "CB_WA01", "GAIA_IA02", "GAIA_DA03"})
PERMISSION_CODES = frozenset({"CB_NO02", "GAIA_NO01"})
NOT_FOUND_CODES = frozenset({"GAIA_AP01", "GAIA_RE01", "GAIA_BL01", "GAIA_RE02", "GAIA_RE20", "CB_IL02"})
CONFLICT_CODES = frozenset({"GAIA_CO02"})
RATE_CODES = frozenset({"GAIA_TO04", "GAIA_TM12"})
DEFAULT_RATE_RETRY = 1.0
HINTS = {
    ErrorCode.UNAUTHENTICATED: "Kintone rejected the configured credentials; ask the user to check KINTONE_API_TOKEN "
    "(one token per app, comma-separated) or KINTONE_USERNAME / KINTONE_PASSWORD.",
    ErrorCode.PERMISSION_DENIED: "The configured Kintone user or API token lacks this permission (view, add, edit "
    "or delete); ask the user to grant it in the app's settings.",
}
CODE_HINTS = {
    "GAIA_IL23": "The app is in a guest space: ask the user to set KINTONE_GUEST_SPACE_ID to that space's id.",
    "GAIA_AP01": "The app does not exist (or was deleted); listTables shows the apps, and KINTONE_APP_IDS names them.",
}


def map_kintone_error(failure: ErrorResponse) -> TablesError:
    """A Kintone error body (`code`, `id`, `message`, `errors`) as a TablesError."""
    body = failure.body if isinstance(failure.body, dict) else {}
    code = body.get("code") if isinstance(body.get("code"), str) else None
    message = body.get("message") if isinstance(body.get("message"), str) else None
    if code is None or message is None:
        return status_error("Kintone", failure.status, failure.text)
    kind = _error_code(code, failure.status)
    field_errors = parse_field_errors(body.get("errors"))
    retry_after = failure.retry_after
    if kind is ErrorCode.RATE_LIMITED and retry_after is None:
        retry_after = DEFAULT_RATE_RETRY
    hint = CODE_HINTS.get(code) or HINTS.get(kind)
    return TablesError(
        kind,
        f"Kintone: {message} ({code})",
        field_errors=field_errors,
        retry_after=retry_after,
        backend_code=code,
        status=failure.status,
        hint=hint,
    )


def _error_code(code: str, status: int) -> ErrorCode:
    for codes, kind in (
        (AUTH_CODES, ErrorCode.UNAUTHENTICATED),
        (PERMISSION_CODES, ErrorCode.PERMISSION_DENIED),
        (NOT_FOUND_CODES, ErrorCode.NOT_FOUND),
        (CONFLICT_CODES, ErrorCode.CONFLICT),
        (RATE_CODES, ErrorCode.RATE_LIMITED),
    ):
        if code in codes:
            return kind
    if code == "GAIA_IL23":
        return ErrorCode.BACKEND_ERROR
    if status >= 500:
        return ErrorCode.UNAVAILABLE
    if status == 429:
        return ErrorCode.RATE_LIMITED
    if status in (400, 422):
        return ErrorCode.INVALID_ARGUMENT
    return status_error("Kintone", status, "").code


_RECORD_PREFIX = re.compile(r"records\[(\d+)\]\.?")
_FIELD_HEAD = re.compile(r"\[([^\]]+)\]|([^.\[]+)")
_SUBTABLE_TAIL = re.compile(r"\.value\[(\d+)\]\.value\.([^.\[]+)")


def parse_field_errors(errors: Any) -> list[FieldError]:
    """Kintone's `errors` map (`records[3].Status.value` -> messages) as field errors.

    The record index is the one within the request; callers that split batches rebase it.
    """
    if not isinstance(errors, dict):
        return []
    out: list[FieldError] = []
    seen: set[tuple[int | None, str, str]] = set()
    for key, detail in errors.items():
        record, field_name = parse_error_key(str(key))
        messages = detail.get("messages") if isinstance(detail, dict) else None
        text = " ".join(str(m) for m in messages) if isinstance(messages, list) and messages else "invalid value"
        if (record, field_name, text) not in seen:
            seen.add((record, field_name, text))
            out.append(FieldError(field_name, text, record=record))
    return out


def parse_error_key(key: str) -> tuple[int | None, str]:
    """`records[3].Items.value[1].value.Qty.value` -> (3, "Items[1].Qty"); `record[Num].value` -> (None, "Num")."""
    record: int | None = None
    match = _RECORD_PREFIX.match(key)
    if match:
        record, rest = int(match[1]), key[match.end() :]
    elif key.startswith("record.") or key.startswith("record["):
        rest = key[len("record.") :] if key.startswith("record.") else key[len("record") :]
    else:
        return None, key  # a request parameter such as `app`, `records` or `query`
    head = _FIELD_HEAD.match(rest)
    if head is None:
        return record, rest
    code = head[1] or head[2]
    sub = _SUBTABLE_TAIL.match(rest, head.end())
    return record, f"{code}[{sub[1]}].{sub[2]}" if sub else code


# -- settings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KintoneSettings:
    """Validated connection settings."""

    base_url: str
    api_tokens: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = None
    guest_space_id: str | None = None
    app_ids: tuple[str, ...] | None = None

    @property
    def password_auth(self) -> bool:
        # Password auth wins when both are given, as in Kintone's own tools.
        return bool(self.username and self.password)

    def auth_headers(self) -> dict[str, str]:
        if self.password_auth:
            encoded = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return {"X-Cybozu-Authorization": encoded}
        return {"X-Cybozu-API-Token": ",".join(self.api_tokens)}

    def secrets(self) -> list[str]:
        values = [*self.api_tokens, ",".join(self.api_tokens), *self.auth_headers().values()]
        if self.password:
            values.append(self.password)
        return values


def check_settings(
    base_url: str | None,
    api_tokens: Sequence[str] = (),
    username: str | None = None,
    password: str | None = None,
    guest_space_id: str | int | None = None,
    app_ids: Sequence[str | int] | None = None,
) -> KintoneSettings:
    """Settings checked for the mistakes people make; each ConfigError names the fix."""
    url = _check_base_url(base_url)
    tokens = tuple(token.strip() for token in api_tokens if token.strip())
    for position, token in enumerate(tokens, start=1):
        if not TOKEN_PATTERN.fullmatch(token):
            raise ConfigError(
                f"KINTONE_API_TOKEN: token {position} is not a Kintone API token (letters and digits only); "
                "copy each token from the app's API token settings, separated by commas"
            )
    if len(tokens) > MAX_TOKENS:
        raise ConfigError(f"KINTONE_API_TOKEN holds {len(tokens)} tokens; Kintone accepts at most {MAX_TOKENS}")
    if bool(username) != bool(password):
        missing = "KINTONE_PASSWORD" if username else "KINTONE_USERNAME"
        raise ConfigError(f"{missing} is not set; set KINTONE_USERNAME and KINTONE_PASSWORD together")
    if not tokens and not username:
        raise ConfigError(
            "Kintone credentials are missing: set KINTONE_API_TOKEN (comma-separated, one token per app) "
            "or KINTONE_USERNAME and KINTONE_PASSWORD"
        )
    space = _positive_number(guest_space_id, "KINTONE_GUEST_SPACE_ID", "a guest space id like 5")
    ids = None
    if app_ids is not None:
        ids = tuple(
            _positive_number(app_id, "KINTONE_APP_IDS", "comma-separated app ids like 12,15") or ""
            for app_id in app_ids
        )
        ids = tuple(dict.fromkeys(app_id for app_id in ids if app_id)) or None
    return KintoneSettings(url, tokens, username or None, password or None, space, ids)


def _check_base_url(value: str | None) -> str:
    if not value or not value.strip():
        raise ConfigError("KINTONE_BASE_URL is not set; set it to your Kintone domain, e.g. https://example.cybozu.com")
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"KINTONE_BASE_URL must be an http(s) URL like https://example.cybozu.com (got {value!r})")
    if parts.path.strip("/") or parts.query:
        raise ConfigError(
            f"KINTONE_BASE_URL must be the domain only, like {parts.scheme}://{parts.netloc} (drop {parts.path!r})"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _positive_number(value: str | int | None, name: str, example: str) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ConfigError(f"{name} must be {example} (got {text!r})")
    return str(int(text))


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


# -- the backend ----------------------------------------------------------------------------------


@dataclass
class _AppForm:
    app_id: str
    name: str
    description: str | None
    properties: dict[str, Any]
    revision: str


@dataclass
class _LiveCursor:
    """A Kintone cursor this process reads forward, with records fetched but not yet handed out."""

    kintone_id: str
    scope: str
    position: int
    buffer: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    lock: anyio.Lock = field(default_factory=anyio.Lock)


@dataclass
class _Chunk:
    start: int
    rows: list[dict[str, Any]]
    ids: list[str] | None = None
    error: TablesError | None = None
    skipped_because: TablesError | None = None


class KintoneBackend:
    """The Backend protocol over the Kintone REST API; see the module docstring."""

    name = "kintone"
    capabilities = CAPABILITIES

    def __init__(
        self,
        base_url: str,
        *,
        api_tokens: Sequence[str] = (),
        username: str | None = None,
        password: str | None = None,
        guest_space_id: str | int | None = None,
        app_ids: Sequence[str | int] | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 10,
        schema_check_interval: float = SCHEMA_CHECK_INTERVAL,
        max_offset: int = MAX_OFFSET,
        create_concurrency: int = CREATE_CONCURRENCY,
    ) -> None:
        self.settings = check_settings(base_url, api_tokens, username, password, guest_space_id, app_ids)
        http_settings = HttpSettings(
            base_url=self.settings.base_url,
            headers={**self.settings.auth_headers(), "Accept-Language": "en", "User-Agent": "tables-mcp"},
            max_concurrency=max_concurrency,
            retry=retry or RetryPolicy(),
        )
        self._http = HttpClient(http_settings, map_kintone_error, secrets=self.settings.secrets(), name="Kintone")
        space = self.settings.guest_space_id
        self._prefix = f"/k/guest/{space}/v1/" if space else "/k/v1/"
        self.schema_check_interval = schema_check_interval
        self.max_offset = min(max_offset, MAX_OFFSET)
        self.create_concurrency = create_concurrency
        self._forms: dict[str, _AppForm] | None = None
        self._forms_at = 0.0
        self._token = ""
        self._tables: list[Table] = []
        self._schema_lock = anyio.Lock()
        self._cursors: dict[str, _LiveCursor] = {}
        # Keyed by the domain (and guest space), so every replica and restart reads the same cursors.
        self._cursor_codec = CursorCodec(store_key("kintone", self.settings.base_url, space or ""))

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **options: Any) -> KintoneBackend:
        """A backend from KINTONE_* variables (raises ConfigError naming the fix when one is wrong)."""
        app_ids = environ.get("KINTONE_APP_IDS")
        return cls(
            environ.get("KINTONE_BASE_URL", ""),
            api_tokens=_split(environ.get("KINTONE_API_TOKEN")),
            username=environ.get("KINTONE_USERNAME") or None,
            password=environ.get("KINTONE_PASSWORD") or None,
            guest_space_id=environ.get("KINTONE_GUEST_SPACE_ID") or None,
            app_ids=_split(app_ids) if app_ids and app_ids.strip() else None,
            **options,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        """Check the credentials by loading every app's form; errors here are loud."""
        await self._load_forms(force=True, strict=True)

    async def aclose(self) -> None:
        for handle in list(self._cursors):
            await self._drop_cursor(handle)
        await self._http.aclose()

    # -- requests --------------------------------------------------------------------------------

    def _path(self, endpoint: str) -> str:
        return f"{self._prefix}{endpoint}.json"

    async def _send(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        result = await self._http.request(
            method,
            self._path(endpoint),
            params=_query_params(params) if params else None,
            json_body=body,
            idempotent=idempotent,
        )
        if not isinstance(result, dict):
            raise TablesError(ErrorCode.BACKEND_ERROR, f"Kintone answered {method} {endpoint} with an unexpected body.")
        return result

    async def _get(self, endpoint: str, params: Mapping[str, Any], *, idempotent: bool = True) -> dict[str, Any]:
        encoded = _query_params(params)
        if len(self._path(endpoint)) + len(urlencode(encoded)) <= MAX_URL_LENGTH:
            return await self._send("GET", endpoint, params=params, idempotent=idempotent)
        # Long queries (many `in` values) go in a body, as Kintone's SDK does.
        result = await self._http.request(
            "POST",
            self._path(endpoint),
            json_body=dict(params),
            headers={"X-HTTP-Method-Override": "GET"},
            idempotent=idempotent,
        )
        if not isinstance(result, dict):
            raise TablesError(ErrorCode.BACKEND_ERROR, f"Kintone answered GET {endpoint} with an unexpected body.")
        return result

    # -- tables ----------------------------------------------------------------------------------

    async def list_tables(self) -> list[Table]:
        await self._load_forms()
        return list(self._tables)

    async def schema_token(self) -> str:
        await self._load_forms()
        return self._token

    async def can_write(self) -> bool | None:
        # Kintone has no dry run, and API-token rights cannot be read back: only a write would tell.
        return None

    async def _load_forms(self, force: bool = False, strict: bool = False) -> None:
        async with self._schema_lock:
            fresh = time.monotonic() - self._forms_at < self.schema_check_interval
            if self._forms is not None and fresh and not force:
                return
            try:
                forms = await self._fetch_forms(strict)
            except (TablesError, ConfigError) as exc:
                if strict or self._forms is None:
                    raise
                # Keep serving the last known schema; check again a little later.
                log.warning("Kintone schema check failed, keeping the previous schema: %s", exc)
                self._forms_at = time.monotonic() - self.schema_check_interval + 5
                return
            self._install_forms(forms)

    def _install_forms(self, forms: dict[str, _AppForm]) -> None:
        self._forms = forms
        self._forms_at = time.monotonic()
        self._tables = [table_from_form(form) for form in forms.values()]
        shape = [(f.app_id, f.name, f.revision, f.properties) for f in forms.values()]
        digest = hashlib.sha256(json.dumps(shape, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        self._token = digest[:16]

    async def _fetch_forms(self, strict: bool) -> dict[str, _AppForm]:
        apps = await self._list_apps()
        discovered = self.settings.app_ids is None

        async def form(app: dict[str, Any]) -> _AppForm | None:
            app_id = str(app["appId"])
            try:
                fields = await self._get("app/form/fields", {"app": app_id})
            except TablesError as exc:
                # Apps found by listing may sit in a guest space (another URL) or deny this user: skip
                # them. Apps named in KINTONE_APP_IDS must work at start; later they may vanish.
                unreadable = exc.backend_code == "GAIA_IL23" or exc.code in (
                    ErrorCode.NOT_FOUND,
                    ErrorCode.PERMISSION_DENIED,
                )
                if not unreadable or (strict and not discovered):
                    raise
                log.warning("Kintone app %s is not readable here and is left out: %s", app_id, exc.message)
                return None
            with _shape_check("app/form/fields"):
                return _AppForm(
                    app_id,
                    str(app.get("name") or f"App {app_id}"),
                    _plain_text(app.get("description")),
                    dict(fields["properties"]),
                    str(fields.get("revision", "")),
                )

        forms = await _map_bounded(form, apps, READ_CONCURRENCY)
        return {f.app_id: f for f in forms if f is not None}

    async def _list_apps(self) -> list[dict[str, Any]]:
        if self.settings.app_ids is not None:

            async def app_info(app_id: str) -> dict[str, Any]:
                return await self._get("app", {"id": app_id})

            return await _map_bounded(app_info, self.settings.app_ids, READ_CONCURRENCY)
        apps: list[dict[str, Any]] = []
        while True:
            try:
                page = await self._get("apps", {"limit": 100, "offset": len(apps)})
            except TablesError as exc:
                if not self.settings.password_auth and exc.code in (
                    ErrorCode.PERMISSION_DENIED,
                    ErrorCode.UNAUTHENTICATED,
                    ErrorCode.INVALID_ARGUMENT,
                ):
                    raise ConfigError(
                        "KINTONE_APP_IDS is required with API-token auth (Kintone does not list apps for tokens); "
                        "set KINTONE_APP_IDS to the ids of the apps your tokens belong to, e.g. 12,15"
                    ) from None
                raise
            with _shape_check("apps"):
                batch = list(page["apps"])
            apps += batch
            if len(batch) < 100:
                return apps

    async def create_table(self, name: str, description: str | None, columns: list[ColumnSpec]) -> Table:
        raise unsupported("Kintone apps are created and changed in Kintone itself; tables-mcp cannot create them.")

    async def add_columns(self, table: Table, columns: list[ColumnSpec]) -> Table:
        raise unsupported("Kintone fields are changed in the app's form settings; tables-mcp cannot add them.")

    # -- reading records -------------------------------------------------------------------------

    async def get_record(self, table: Table, record_id: str) -> Record:
        key = _record_key(record_id)
        if key is None:
            raise _no_record(table, record_id)
        with _record_context(table, record_id):
            body = await self._get("record", {"app": table.id, "id": key})
        with _shape_check("record"):
            return decode_record(table, body["record"], None)

    async def list_records(self, table: Table, query: ListQuery) -> Page:
        scope = query_scope(table.id, query)
        state = self._read_cursor_state(query.cursor, scope)
        where = render_filter(query.filter) if query.filter is not None else ""
        codes = _request_fields(table, query.fields)
        limit = max(1, min(query.limit, MAX_PAGE))
        if not query.sort:
            return await self._seek_page(table, query, where, codes, limit, state, scope)
        order = ", ".join(f"{_code(key.column)} {'desc' if key.descending else 'asc'}" for key in query.sort)
        order += ", $id asc"
        if state.get("m") == "c":
            return await self._cursor_page(table, query, f"{where} order by {order}", codes, limit, state, scope)
        return await self._offset_page(table, query, where, order, codes, limit, state, scope)

    def _read_cursor_state(self, cursor: str | None, scope: str) -> dict[str, Any]:
        """A cursor's positions, each checked as untrusted input: `a` goes into the query text, so only a
        record id passes; `o` is an offset; `h` names a Kintone cursor this process holds."""
        if cursor is None:
            return {}
        state = self._cursor_codec.decode(cursor, scope)
        mode = state.get("m")
        if mode == "s":
            after = _record_key(state["a"]) if isinstance(state.get("a"), str) else None
            if after is not None:
                return {"m": mode, "a": after}
        elif mode in ("o", "c"):
            offset, handle = state.get("o"), state.get("h")
            if type(offset) is int and offset >= 0 and (handle is None or isinstance(handle, str)):
                return {"m": mode, "o": offset, "h": handle}
        raise not_ours()

    async def _seek_page(
        self,
        table: Table,
        query: ListQuery,
        where: str,
        codes: list[str] | None,
        limit: int,
        state: dict[str, Any],
        scope: str,
    ) -> Page:
        after = state.get("a")  # a canonical record id: checked by _read_cursor_state
        condition = where
        if after is not None:
            condition = f"$id > {after}" + (f" and ({where})" if where else "")
        text = f"{condition} order by $id asc limit {min(limit + 1, MAX_PAGE)}"
        raws, total = await self._records_page(table, text, codes, first=query.cursor is None)
        records = [decode_record(table, raw, query.fields) for raw in raws[:limit]]
        more = len(raws) > limit or len(raws) == MAX_PAGE
        next_cursor = None
        if more and records:
            next_cursor = self._cursor_codec.encode(scope, {"m": "s", "a": records[-1]["id"]})
        return Page(records=records, next_cursor=next_cursor, total_count=total)

    async def _offset_page(
        self,
        table: Table,
        query: ListQuery,
        where: str,
        order: str,
        codes: list[str] | None,
        limit: int,
        state: dict[str, Any],
        scope: str,
    ) -> Page:
        offset = int(state.get("o") or 0)
        text = f"{where} order by {order} limit {min(limit + 1, MAX_PAGE)} offset {offset}"
        raws, total = await self._records_page(table, text, codes, first=query.cursor is None)
        records = [decode_record(table, raw, query.fields) for raw in raws[:limit]]
        more = len(raws) > limit or len(raws) == MAX_PAGE
        next_cursor = None
        if more and records:
            next_offset = offset + len(records)
            # Past Kintone's offset cap the next page comes from a Kintone cursor.
            mode = "o" if next_offset <= self.max_offset else "c"
            next_cursor = self._cursor_codec.encode(scope, {"m": mode, "o": next_offset})
        return Page(records=records, next_cursor=next_cursor, total_count=total)

    async def _records_page(
        self, table: Table, query_text: str, codes: list[str] | None, first: bool
    ) -> tuple[list[dict[str, Any]], int | None]:
        params: dict[str, Any] = {"app": table.id, "query": query_text.strip()}
        if codes is not None:
            params["fields"] = codes
        if first:
            params["totalCount"] = True
        body = await self._get("records", params)
        with _shape_check("records"):
            raws = list(body["records"])
            total = int(body["totalCount"]) if first and body.get("totalCount") is not None else None
        return raws, total

    async def _cursor_page(
        self,
        table: Table,
        query: ListQuery,
        query_text: str,
        codes: list[str] | None,
        limit: int,
        state: dict[str, Any],
        scope: str,
    ) -> Page:
        position = int(state.get("o") or 0)
        handle = state.get("h")
        if handle is None:
            handle = await self._open_cursor(table, query_text, codes, scope, position)
        live = self._cursors.get(str(handle))
        if live is None or live.scope != scope:
            raise _stale_cursor()
        async with live.lock:
            if live.position != position or self._cursors.get(str(handle)) is not live:
                raise _stale_cursor()  # this page was already read (or the cursor was given up)
            while len(live.buffer) < limit and not live.done:
                await self._read_cursor(str(handle), live)
            taken, live.buffer = live.buffer[:limit], live.buffer[limit:]
            live.position += len(taken)
            more = bool(live.buffer) or not live.done
        if not more:
            self._cursors.pop(str(handle), None)  # Kintone frees a cursor once it is read to the end
        records = [decode_record(table, raw, query.fields) for raw in taken]
        next_cursor = None
        if more:
            next_cursor = self._cursor_codec.encode(scope, {"m": "c", "o": live.position, "h": handle})
        return Page(records=records, next_cursor=next_cursor)

    async def _open_cursor(self, table: Table, query_text: str, codes: list[str] | None, scope: str, skip: int) -> str:
        while len(self._cursors) >= MAX_LIVE_CURSORS:
            await self._drop_cursor(next(iter(self._cursors)))
        body: dict[str, Any] = {"app": table.id, "query": query_text.strip(), "size": CURSOR_SIZE}
        if codes is not None:
            body["fields"] = codes
        created = await self._send("POST", "records/cursor", body=body)
        with _shape_check("records/cursor"):
            live = _LiveCursor(str(created["id"]), scope, 0)
        handle = secrets.token_urlsafe(9)
        self._cursors[handle] = live
        # The cursor starts at the first record; skip what the offset pages already showed.
        while live.position + len(live.buffer) < skip and not live.done:
            await self._read_cursor(handle, live)
            drop = min(len(live.buffer), skip - live.position)
            live.buffer = live.buffer[drop:]
            live.position += drop
        live.position = skip
        return handle

    async def _read_cursor(self, handle: str, live: _LiveCursor) -> None:
        # Reading a cursor advances it: a GET whose answer was lost may have consumed a page, so it
        # is not repeated blindly, and after such a failure the cursor is given up.
        try:
            body = await self._get("records/cursor", {"id": live.kintone_id}, idempotent=False)
        except TablesError as exc:
            if exc.backend_code == "CB_IL02":
                self._cursors.pop(handle, None)
                raise _stale_cursor() from None
            if exc.status is None:  # no answer: the page may be gone
                await self._drop_cursor(handle)
            raise
        with _shape_check("records/cursor"):
            live.buffer.extend(body["records"])
            live.done = not body.get("next")

    async def _drop_cursor(self, handle: str) -> None:
        live = self._cursors.pop(handle, None)
        if live is None or live.done:
            return
        try:
            await self._send("DELETE", "records/cursor", body={"id": live.kintone_id})
        except TablesError as exc:  # it expires on its own within 10 minutes
            log.info("Could not delete a Kintone cursor: %s", exc.message)

    # -- writing records -------------------------------------------------------------------------

    async def create_records(
        self, table: Table, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> list[Record]:
        encoded = encode_rows(table, rows)
        chunks = [
            _Chunk(start, encoded[start : start + RECORDS_PER_WRITE])
            for start in range(0, len(encoded), RECORDS_PER_WRITE)
        ]
        await self._send_chunks(table, chunks, progress)
        written = await self._written_records(table, rows, chunks)
        failed = [chunk for chunk in chunks if chunk.ids is None]
        if not failed:
            return written
        raise _partial_create_error(rows, chunks, written)

    async def _send_chunks(self, table: Table, chunks: list[_Chunk], progress: WriteProgress | None) -> None:
        limiter = anyio.CapacityLimiter(self.create_concurrency)
        systemic: list[TablesError] = []

        async def send(chunk: _Chunk) -> None:
            async with limiter:  # a cancelled call starts no new request here
                if systemic:
                    # After an outage, auth or rate failure, sending more would only fail the same way.
                    chunk.skipped_because = systemic[0]
                    return
                # A request already sent completes even if the call is cancelled: its records are then
                # known to be written (and reported) rather than maybe written.
                with anyio.CancelScope(shield=True):
                    await self._send_chunk(table, chunk, systemic)
                    if chunk.ids is not None and progress is not None:
                        await progress.wrote(chunk.ids)

        async with anyio.create_task_group() as group:
            for chunk in chunks:
                group.start_soon(send, chunk)

    async def _send_chunk(self, table: Table, chunk: _Chunk, systemic: list[TablesError]) -> None:
        try:
            body = await self._send("POST", "records", body={"app": table.id, "records": chunk.rows})
            with _shape_check("records"):
                ids = [str(record_id) for record_id in body["ids"]]
            if len(ids) != len(chunk.rows):
                raise TablesError(ErrorCode.BACKEND_ERROR, "Kintone returned a different number of ids.")
            chunk.ids = ids
        except TablesError as exc:
            chunk.error = exc
            if exc.code is not ErrorCode.INVALID_ARGUMENT:
                systemic.append(exc)

    async def _written_records(self, table: Table, rows: list[dict[str, Any]], chunks: list[_Chunk]) -> list[Record]:
        """The written records as Kintone now has them (computed fields included), in input order."""

        async def reread(chunk: _Chunk) -> list[Record]:
            ids = chunk.ids or []
            try:
                found = await self._records_by_id(table, ids)
            except TablesError as exc:
                log.warning("Re-reading %d created Kintone records failed: %s", len(ids), exc.message)
                found = {}
            return [
                found.get(record_id) or _record_from_input(record_id, rows[chunk.start + offset])
                for offset, record_id in enumerate(ids)
            ]

        written = [chunk for chunk in chunks if chunk.ids]
        pages = await _map_bounded(reread, written, READ_CONCURRENCY)
        return [record for page in pages for record in page]

    async def _records_by_id(self, table: Table, ids: list[str]) -> dict[str, Record]:
        if not ids:
            return {}
        text = f"$id in ({_id_list(ids)}) order by $id asc limit {len(ids)}"
        raws, _ = await self._records_page(table, text, None, first=False)
        records = [decode_record(table, raw, None) for raw in raws]
        return {record["id"]: record for record in records}

    async def patch_record(self, table: Table, record_id: str, fields: dict[str, Any]) -> Record:
        key = _record_key(record_id)
        if key is None:
            raise _no_record(table, record_id)
        body = {"app": table.id, "id": key, "record": encode_row(table, fields, None)}
        with _record_context(table, record_id):
            # No revision is sent: the agent patches named fields, so a repeat after a lost answer is harmless.
            await self._send("PUT", "record", body=body)
        return await self.get_record(table, record_id)

    async def delete_records(self, table: Table, record_ids: list[str]) -> list[str]:
        wanted = list(dict.fromkeys(record_ids))
        keys = {record_id: _record_key(record_id) for record_id in wanted}
        valid = list(dict.fromkeys(key for key in keys.values() if key is not None))
        existing: set[str] = set()
        for start in range(0, len(valid), RECORDS_PER_WRITE):
            existing |= set(await self._existing_ids(table, valid[start : start + RECORDS_PER_WRITE]))
        missing = [record_id for record_id, key in keys.items() if key is None or key not in existing]
        if missing:
            raise not_found(
                f"No record with id {', '.join(missing)} in table '{table.name}'; nothing was deleted.",
                hint="Remove the unknown ids (listRecords shows what exists) and call again.",
            )
        deleted: list[str] = []
        for start in range(0, len(valid), RECORDS_PER_WRITE):
            batch = valid[start : start + RECORDS_PER_WRITE]
            try:
                await self._send("DELETE", "records", params={"app": table.id, "ids": batch})
            except TablesError as exc:
                if not deleted:
                    raise
                done = f"Deleted {len(deleted)} record(s) ({', '.join(deleted)}) before a failure: {exc.message}"
                raise replace(exc, message=done) from None
            deleted += batch
        return deleted

    async def _existing_ids(self, table: Table, ids: list[str]) -> list[str]:
        text = f"$id in ({_id_list(ids)}) limit {len(ids)}"
        raws, _ = await self._records_page(table, text, ["$id"], first=False)
        with _shape_check("records"):
            return [str(raw["$id"]["value"]) for raw in raws]


# -- tables from forms ----------------------------------------------------------------------------


def table_from_form(form: _AppForm) -> Table:
    copy_targets = _lookup_targets(form.properties)
    columns = [column_from_property(prop, copy_targets) for prop in form.properties.values() if isinstance(prop, dict)]
    return Table(
        id=form.app_id,
        name=form.name,
        description=form.description,
        columns=tuple(col for col in columns if col is not None),
    )


def column_from_property(prop: Mapping[str, Any], copy_targets: frozenset[str] = frozenset()) -> Column | None:
    """One fields.json property as a column, or None for layout-only and disabled process fields."""
    native = str(prop.get("type", ""))
    code = prop.get("code")
    if native in NOT_COLUMNS or not isinstance(code, str) or not code:
        return None
    if native in PROCESS_TYPES and prop.get("enabled") is False:
        return None  # process management is off: the field never holds a value
    kind = _column_type(prop)
    read_only = native not in WRITABLE_TYPES or code in copy_targets or kind is ColumnType.FORMULA
    subcolumns = None
    if native == "SUBTABLE":
        inner = _mapping(prop.get("fields"))
        built = [column_from_property(sub, copy_targets) for sub in inner.values() if isinstance(sub, dict)]
        subcolumns = tuple(col for col in built if col is not None)
    return Column(
        name=code,
        type=kind,
        native_type=native,
        required=bool(prop.get("required")) and not read_only,
        read_only=read_only,
        options=_options(prop) if kind in (ColumnType.SELECT, ColumnType.MULTISELECT) and "options" in prop else None,
        description=_describe(prop, code),
        minimum=_number_limit(prop.get("minValue")),
        maximum=_number_limit(prop.get("maxValue")),
        max_length=_int_limit(prop.get("maxLength")),
        multiple=native in ENTITY_LIST_TYPES,
        subcolumns=subcolumns,
    )


def _column_type(prop: Mapping[str, Any]) -> ColumnType:
    native = str(prop.get("type", ""))
    if native == "LINK":
        return LINK_TYPES.get(str(prop.get("protocol", "WEB")), ColumnType.URL)
    if native == "SINGLE_LINE_TEXT" and prop.get("expression"):
        return ColumnType.FORMULA  # "calculate automatically": Kintone ignores written values
    return FIELD_TYPES.get(native, ColumnType.UNKNOWN)


def _lookup_targets(properties: Mapping[str, Any]) -> frozenset[str]:
    """Fields a lookup copies into: Kintone fills them, so they are read-only."""
    targets: set[str] = set()
    for prop in properties.values():
        if not isinstance(prop, dict):
            continue
        lookup = prop.get("lookup")
        if isinstance(lookup, dict):
            for mapping in lookup.get("fieldMappings") or []:
                if isinstance(mapping, dict) and isinstance(mapping.get("field"), str):
                    targets.add(mapping["field"])
        if prop.get("type") == "SUBTABLE" and isinstance(prop.get("fields"), dict):
            targets |= _lookup_targets(prop["fields"])
    return frozenset(targets)


def _options(prop: Mapping[str, Any]) -> tuple[str, ...]:
    raw = prop.get("options")
    if not isinstance(raw, dict):
        return ()

    def index(item: tuple[str, Any]) -> int:
        try:
            return int(item[1].get("index", 0)) if isinstance(item[1], dict) else 0
        except (TypeError, ValueError):
            return 0

    return tuple(key for key, _ in sorted(raw.items(), key=index))


def _describe(prop: Mapping[str, Any], code: str) -> str | None:
    parts = []
    label = prop.get("label")
    if isinstance(label, str) and label and label != code:
        parts.append(label)
    if prop.get("type") == "RICH_TEXT":
        parts.append("HTML text")
    if prop.get("unit"):
        parts.append(f"unit: {prop['unit']}")
    lookup = prop.get("lookup")
    if isinstance(lookup, dict) and isinstance(lookup.get("relatedApp"), dict):
        parts.append(f"lookup key into app {lookup['relatedApp'].get('app')}")
    return "; ".join(parts) or None


def _number_limit(raw: Any) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _int_limit(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _plain_text(description: Any) -> str | None:
    """App descriptions are HTML; agents get short plain text."""
    if not isinstance(description, str) or not description.strip():
        return None
    text = html.unescape(re.sub(r"<[^>]+>", " ", description))
    text = " ".join(text.split())
    return (text[:497] + "...") if len(text) > 500 else (text or None)


# -- values ---------------------------------------------------------------------------------------


def decode_record(table: Table, raw: Mapping[str, Any], wanted: Sequence[str] | None) -> Record:
    """A Kintone record (`{code: {type, value}}`) in the canonical shape."""
    record_id = created = updated = None
    for entry in raw.values():
        if not isinstance(entry, dict):
            continue
        kind, value = entry.get("type"), entry.get("value")
        if kind == "__ID__":
            record_id = str(value)
        elif kind == "CREATED_TIME" and created is None:
            created = value or None
        elif kind == "UPDATED_TIME" and updated is None:
            updated = value or None
    if record_id is None and isinstance(raw.get("$id"), dict):
        record_id = str(raw["$id"].get("value"))
    chosen = set(wanted) if wanted is not None else None
    fields: dict[str, Any] = {}
    for column in table.columns:
        entry = raw.get(column.name)
        if not isinstance(entry, dict) or (chosen is not None and column.name not in chosen):
            continue
        value = decode_value(column, entry.get("value"))
        if not _is_empty(value):
            fields[column.name] = value
    return {"id": record_id, "fields": fields, "created_at": created, "updated_at": updated}


def decode_value(column: Column, value: Any) -> Any:
    native = column.native_type
    if value is None:
        return None
    if native in NUMERIC_TYPES:
        return kintone_number(value)
    if native == "CALC":
        return kintone_number(str(value).replace(",", "")) if _is_number_text(value) else value
    if native in ENTITY_LIST_TYPES:
        return [entity.get("code") for entity in value if isinstance(entity, dict)]
    if native in ("CREATOR", "MODIFIER"):
        return value.get("code") if isinstance(value, dict) else value
    if native == "FILE":
        return [_file_info(item) for item in value if isinstance(item, dict)]
    if native == "SUBTABLE":
        return [_decode_row(column, row) for row in value if isinstance(row, dict)]
    return value


def _decode_row(column: Column, row: Mapping[str, Any]) -> dict[str, Any]:
    cells = _mapping(row.get("value"))
    out: dict[str, Any] = {}
    for sub in column.subcolumns or ():
        entry = cells.get(sub.name)
        if isinstance(entry, dict):
            value = decode_value(sub, entry.get("value"))
            if not _is_empty(value):
                out[sub.name] = value
    return out


def _file_info(item: Mapping[str, Any]) -> dict[str, Any]:
    size = kintone_number(item.get("size")) if item.get("size") not in (None, "") else None
    return {
        "name": item.get("name"),
        "contentType": item.get("contentType"),
        "size": size,
        "fileKey": item.get("fileKey"),
    }


def _is_number_text(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"-?[\d,]+(\.\d+)?", value.strip()) is not None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def kintone_number(text: Any) -> int | float | str | None:
    """Kintone's numeric string as a JSON number, or the exact string when a double would lose digits."""
    if text is None or text == "":
        return None
    try:
        number = Decimal(str(text).strip())
    except InvalidOperation:
        return str(text)
    if not number.is_finite():
        return str(text)
    if number == number.to_integral_value():
        whole = int(number)
        return whole if abs(whole) <= MAX_SAFE_INTEGER else str(text)
    as_float = float(number)
    return as_float if Decimal(repr(as_float)) == number else str(text)


def encode_rows(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    problems: list[FieldError] = []
    encoded = []
    for index, row in enumerate(rows):
        try:
            encoded.append(encode_row(table, row, index))
        except TablesError as exc:
            problems += exc.field_errors
    if problems:
        raise invalid_argument("Some records name columns that cannot be written; nothing was written.", problems)
    return encoded


def encode_row(table: Table, row: Mapping[str, Any], index: int | None) -> dict[str, Any]:
    """Canonical values in Kintone's write shape; refuses anything that is not a writable column.

    Kintone silently ignores unknown field codes, so sending one would lose data without a word.
    """
    return _encode_cells(table.columns, row, index, prefix="")


def _encode_cells(columns: Sequence[Column], row: Mapping[str, Any], index: int | None, prefix: str) -> dict[str, Any]:
    by_name = {col.name: col for col in columns}
    problems: list[FieldError] = []
    out: dict[str, Any] = {}
    for name, value in row.items():
        column = by_name.get(name)
        if column is None or not column.writable:
            allowed = [col.name for col in columns if col.writable]
            why = "is read-only" if column is not None else "is not a column"
            problems.append(FieldError(f"{prefix}{name}", f"'{name}' {why}", record=index, allowed=allowed))
            continue
        try:
            out[name] = {"value": encode_value(column, value, index, f"{prefix}{name}")}
        except TablesError as exc:
            problems += exc.field_errors
        except (TypeError, ValueError) as exc:
            problems.append(FieldError(f"{prefix}{name}", str(exc), record=index))
    if problems:
        raise invalid_argument("Some values cannot be written.", problems)
    return out


def encode_value(column: Column, value: Any, index: int | None = None, where: str = "") -> Any:
    native = column.native_type
    if value is None:
        return [] if native in LIST_TYPES else ""
    if native == "NUMBER":
        return _number_text(value)
    if native == "DATETIME":
        return utc_datetime(str(value))
    if native == "TIME":
        return str(value)[:5]
    if native in ENTITY_LIST_TYPES:
        codes = value if isinstance(value, list) else [value]
        return [{"code": str(code)} for code in codes]
    if native == "SUBTABLE":
        if not isinstance(value, list):
            raise ValueError("a SUBTABLE value is a list of rows")
        return [
            {"value": _encode_cells(column.subcolumns or (), row, index, f"{where}[{position}].")}
            for position, row in enumerate(value)
        ]
    if native in ("CHECK_BOX", "MULTI_SELECT"):
        return [str(item) for item in value]
    return value


def _number_text(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Plain notation: "1e-07" would be normalised by Kintone, but plain text never surprises.
        return format(Decimal(repr(value)), "f")
    text = str(value).strip()
    Decimal(text)  # raises on non-numbers
    return text


def _record_from_input(record_id: str, row: Mapping[str, Any]) -> Record:
    """A written record when it could not be read back: the sent values and its new id."""
    fields = {name: value for name, value in row.items() if not _is_empty(value)}
    return {"id": record_id, "fields": fields, "created_at": None, "updated_at": None}


# -- queries --------------------------------------------------------------------------------------


def render_filter(node: FilterNode) -> str:
    """A validated filter in Kintone's query language; values are always quoted and escaped."""
    if isinstance(node, BoolGroup):
        parts = [render_filter(item) for item in node.items]
        return "(" + f" {node.kind} ".join(parts) + ")"
    return render_condition(node)


def render_condition(cond: Condition) -> str:
    column, op, kind = cond.column, cond.op, cond.column.type
    code = _code(column)
    if op in ("isEmpty", "isNotEmpty"):
        negate = op == "isNotEmpty"
        if kind in _IS_EMPTY_TYPES:
            return f"{code} {'is not empty' if negate else 'is empty'}"
        if kind in _IN_ONLY:
            return f'{code} {"not in" if negate else "in"} ("")'
        return f'{code} {"!=" if negate else "="} ""'
    if op == "in":
        return f"{code} in ({_literal_list(column, cond.value)})"
    if kind in _IN_ONLY and op in ("eq", "ne", "contains"):
        return f"{code} {'not in' if op == 'ne' else 'in'} ({_literal(column, cond.value)})"
    if op == "contains":
        return f"{code} like {_literal(column, cond.value)}"
    if kind in (ColumnType.TIME, ColumnType.DATETIME):
        op, bound = _minute_bound(column, op, str(cond.value))
        return f"{code} {_COMPARISONS[op]} {quote(bound)}"
    return f"{code} {_COMPARISONS[op]} {_literal(column, cond.value)}"


def _minute_bound(column: Column, op: str, value: str) -> tuple[str, str]:
    """Kintone keeps TIME and DATETIME to the minute, so a bound with seconds is moved to the minute that
    gives the same answer: `< 09:30:30` means `< 09:31`, `<= 09:30:30` means `<= 09:30`."""
    bound = time_minute_bound(op, value) if column.type is ColumnType.TIME else datetime_minute_bound(op, value)
    if bound is None:
        raise invalid_argument(
            f"Kintone keeps {column.name} to the minute, so no value equals {value!r}.",
            [FieldError("filter.value", "use a whole minute (seconds 00)", allowed="HH:MM")],
        )
    return bound


def _literal_list(column: Column, values: Any) -> str:
    items = values if isinstance(values, list) else [values]
    return ", ".join(_literal(column, item) for item in items)


def _literal(column: Column, value: Any) -> str:
    # Numbers go bare, as Kintone's own SDK writes them (`$id > 100`); everything else is quoted.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_text(value)
    return quote(_literal_text(column, value))


def _literal_text(column: Column, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    text = str(value)
    if column.type is ColumnType.DATETIME:
        return utc_datetime(text)
    if column.type is ColumnType.TIME:
        return text[:5]
    return text


def quote(text: str) -> str:
    """A Kintone query string literal: backslash and double quote escaped, then double-quoted."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _code(column: Column) -> str:
    if not SAFE_CODE.fullmatch(column.name):
        raise unsupported(f"Field code {column.name!r} cannot be used in a Kintone query.")
    return column.name


def _request_fields(table: Table, wanted: Sequence[str] | None) -> list[str] | None:
    """The `fields[]` to ask for: the projection plus what the record envelope needs."""
    if wanted is None:
        return None
    stamps = [col.name for col in table.columns if col.native_type in ("CREATED_TIME", "UPDATED_TIME")]
    codes = list(dict.fromkeys([*wanted, "$id", *stamps]))
    return codes if len(codes) <= MAX_QUERY_FIELDS else None


def _query_params(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Kintone's query-string form: lists as `name[0]=a&name[1]=b`, booleans as true/false."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if isinstance(value, list | tuple):
            out += [(f"{key}[{i}]", _param_text(item)) for i, item in enumerate(value)]
        else:
            out.append((key, _param_text(value)))
    return out


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- cursors (ours) --------------------------------------------------------------------------------


def _stale_cursor() -> TablesError:
    return invalid_argument(
        "This cursor can no longer be read: beyond 10,000 records Kintone pages forward only, each page once, "
        "and its cursors expire after 10 minutes.",
        [FieldError("cursor", "call listRecords again without a cursor (or with a narrower filter)")],
    )


# -- small helpers --------------------------------------------------------------------------------


def _record_key(record_id: Any) -> str | None:
    """Kintone record ids are positive integers; anything else names no record."""
    text = str(record_id).strip()
    if text.isascii() and text.isdigit() and 0 < len(text) < 19 and int(text) > 0:
        return str(int(text))
    return None


def _id_list(ids: Sequence[str]) -> str:
    """Record ids for a query, each checked to be a plain number (ids never carry query syntax)."""
    keys = [_record_key(record_id) for record_id in ids]
    if any(key is None for key in keys):
        raise TablesError(ErrorCode.BACKEND_ERROR, "Kintone returned a record id that is not a number.")
    return ", ".join(key for key in keys if key is not None)


def _no_record(table: Table, record_id: str) -> TablesError:
    return not_found(f"No record with id {record_id} in table '{table.name}'.", hint="listRecords shows the ids.")


@contextmanager
def _record_context(table: Table, record_id: str) -> Iterator[None]:
    """Words Kintone's record-not-found in the agent's terms (same code and backend code)."""
    try:
        yield
    except TablesError as exc:
        if exc.backend_code == "GAIA_RE01":
            raise replace(_no_record(table, record_id), backend_code="GAIA_RE01", status=exc.status) from None
        raise


@contextmanager
def _shape_check(endpoint: str) -> Iterator[None]:
    """A response without the documented shape is a backend error, never a crash."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TablesError(
            ErrorCode.BACKEND_ERROR, f"Kintone's {endpoint} response has an unexpected shape ({type(exc).__name__})."
        ) from None


async def _map_bounded(func: Callable[[A], Awaitable[T]], items: Sequence[A], limit: int) -> list[T]:
    """`func` over `items`, at most `limit` at a time; results in item order; the first error propagates."""
    results: list[Any] = [None] * len(items)
    limiter = anyio.CapacityLimiter(limit)

    async def run(position: int) -> None:
        async with limiter:
            results[position] = await func(items[position])

    try:
        async with anyio.create_task_group() as group:
            for position in range(len(items)):
                group.start_soon(run, position)
    except BaseExceptionGroup as group_error:
        # Surface the first TablesError / ConfigError as itself, not wrapped in a group.
        first = group_error.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return results


def _partial_create_error(rows: list[dict[str, Any]], chunks: list[_Chunk], written: list[Record]) -> TablesError:
    """One error for a create that failed in some requests: what was written, and why each other record was not."""
    field_errors: list[FieldError] = []
    failed: list[dict[str, Any]] = []
    first: TablesError | None = None
    for chunk in chunks:
        if chunk.ids is not None:
            continue
        cause = chunk.error or chunk.skipped_because
        assert cause is not None
        first = first or cause
        rebased = [
            replace(fe, record=chunk.start + fe.record) if fe.record is not None else fe for fe in cause.field_errors
        ]
        if chunk.error is not None:
            field_errors += rebased
        failed += _failed_entries(chunk, cause, rebased, skipped=chunk.error is None)
    assert first is not None
    if len(chunks) == 1:
        return replace(first, field_errors=field_errors)
    message = (
        f"Wrote {len(written)} of {len(rows)} records; {len(failed)} were not written "
        f"(Kintone writes 100 per request, all-or-nothing per request). First failure: {first.message}"
    )
    return replace(first, message=message, field_errors=field_errors, written=written, failed=failed)


def _failed_entries(
    chunk: _Chunk, cause: TablesError, rebased: list[FieldError], skipped: bool
) -> list[dict[str, Any]]:
    bad = sorted({fe.record for fe in rebased if fe.record is not None})
    entries = []
    for index in range(chunk.start, chunk.start + len(chunk.rows)):
        own = [fe for fe in rebased if fe.record == index]
        if skipped:
            message = f"Not sent: an earlier request failed ({cause.message})."
        elif own:
            message = "; ".join(fe.describe() for fe in own)
        elif bad:
            listed = ", ".join(str(i) for i in bad)
            message = (
                f"Not written: record(s) {listed} in the same 100-record request were rejected; this record "
                "had no problem of its own and can be sent again unchanged."
            )
        else:
            message = cause.message
        error: dict[str, Any] = {"code": cause.code.value, "message": message, "retryable": cause.retryable}
        if own:
            error["fieldErrors"] = [fe.to_dict() for fe in own]
        entries.append({"index": index, "error": error})
    return entries


__all__ = [
    "ADAPTER",
    "CAPABILITIES",
    "KintoneBackend",
    "KintoneSettings",
    "check_settings",
    "column_from_property",
    "decode_record",
    "encode_row",
    "kintone_number",
    "map_kintone_error",
    "parse_error_key",
    "quote",
    "render_filter",
]


def _open_from_environ(environ: Mapping[str, str], store: str) -> KintoneBackend:
    return KintoneBackend.from_env(environ)


ADAPTER = Adapter(open=_open_from_environ, capabilities=CAPABILITIES)
