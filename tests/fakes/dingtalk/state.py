"""In-memory state of the fake DingTalk Notable (:class:`FakeDingTalk`): apps and their tokens, users, bases,
the request log and the fault switches. Tests may change it while the server runs; every change and every
request takes :attr:`FakeDingTalk.lock`.
"""

from __future__ import annotations

import json
import random
import re
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request

from ..serving import Switchboard
from .errors import (
    QPS_LIMIT_APP_AND_API,
    SERVER_ERRORS,
    THROTTLE_MESSAGES,
    document_not_found,
    invalid_args,
    resource_not_found,
)
from .model import ALL_PERMISSIONS, Compute, FakeApp, FakeBase, FakeField, FakeSheet, normalise_property
from .values import render_record
from .writes import insert_records

DuplicateTokenAnswer = Literal["same_ids", "conflict"]
FaultKind = Literal["latency", "throttle", "error", "reset", "lost_answer", "malformed"]
MalformedKind = Literal["ip_ban_html", "ip_ban_json", "truncated"]
FieldSpec = str | Mapping[str, Any]  # a type name, or {"type", "property"?, "compute"?}

_ID_ALPHABET = string.ascii_letters + string.digits
_SECRET_HEADERS = frozenset({"x-acs-dingtalk-access-token"})
_SECRET_BODY_KEYS = frozenset({"appSecret"})
_FORM_SECRET = re.compile(r"(appSecret)=[^&]*")
_IP_BAN_PAGE = (
    "<!DOCTYPE html><html><head><title>403 Forbidden</title></head>"
    "<body><h1>访问被拒绝</h1><p>Your IP has been blocked for 5 minutes.</p></body></html>"
)
_MALFORMED: dict[str, tuple[int, bytes, str]] = {
    "ip_ban_html": (403, _IP_BAN_PAGE.encode(), "text/html;charset=utf-8"),
    "ip_ban_json": (403, b'{"status":1111,"wait":5,"msg":"ip banned"}', "application/json;charset=utf-8"),
    "truncated": (200, b'{"hasMore": true, "records": [{"id": "rec', "application/json;charset=utf-8"),
}


@dataclass
class LoggedRequest:
    """One request as the server saw it; the access token and ``appSecret`` read ``REDACTED``."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int | None = None  # None: the connection was dropped


@dataclass
class Fault:
    """A queued fault switch: applies to the next ``remaining`` requests matching ``method`` and ``path``."""

    kind: FaultKind
    remaining: int
    method: str | None
    path: re.Pattern[str] | None
    seconds: float = 0.0
    status: int = 0
    code: str = ""
    message: str = ""
    body: bytes = b""
    media_type: str = ""

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or bool(self.path.search(path)))


@dataclass
class _Token:
    app_key: str
    expires_at: float


class FakeDingTalk:
    """One fake DingTalk tenant. See the package docstring for behaviour; helpers below set it up."""

    def __init__(
        self,
        *,
        token_ttl: int = 7200,
        duplicate_token_answer: DuplicateTokenAnswer = "same_ids",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self.switchboard = Switchboard()  # random faults (tests.fakes.serving), off until armed
        self.reset(token_ttl=token_ttl, duplicate_token_answer=duplicate_token_answer, clock=clock)

    def reset(
        self,
        *,
        token_ttl: int = 7200,
        duplicate_token_answer: DuplicateTokenAnswer = "same_ids",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Forgets everything, as a new instance would (lets one running server serve many tests)."""
        with self.lock:
            self.apps: dict[str, FakeApp] = {}
            self.users: dict[str, str] = {}  # unionId -> display name
            self.bases: dict[str, FakeBase] = {}
            self.requests: list[LoggedRequest] = []
            self.token_ttl = token_ttl
            self.duplicate_token_answer: DuplicateTokenAnswer = duplicate_token_answer
            self.clock = clock
            self.tokens_issued = 0
            self._tokens: dict[str, _Token] = {}
            self._faults: list[Fault] = []
            self.switchboard.disarm()
            self._random = random.Random(0)  # ids look random but repeat from run to run

    # -- set-up ------------------------------------------------------------------------------------------------

    def add_app(
        self, app_key: str | None = None, app_secret: str | None = None, permissions: Iterable[str] = ALL_PERMISSIONS
    ) -> FakeApp:
        """Registers an internal app (``ding...`` key) with the given API permissions."""
        with self.lock:
            app = FakeApp(app_key or self.new_id("ding"), app_secret or self.new_id("", 40), frozenset(permissions))
            self.apps[app.app_key] = app
            return app

    def add_user(self, union_id: str, name: str | None = None) -> str:
        """Registers a user: a valid ``operatorId`` and a value user fields accept."""
        with self.lock:
            self.users[union_id] = name or union_id
            return union_id

    def add_base(
        self, name: str = "AI table", *, base_id: str | None = None, members: Iterable[str] | None = None
    ) -> str:
        """Creates an AI table; ``members`` limits the operators that may open it (default: every user)."""
        with self.lock:
            new_id = base_id or self.new_id("", 32)
            self.bases[new_id] = FakeBase(new_id, name, None if members is None else frozenset(members))
            return new_id

    def add_sheet(
        self, base_id: str, name: str, fields: Mapping[str, FieldSpec] | None = None, *, sheet_id: str | None = None
    ) -> str:
        """Creates a sheet; ``fields`` maps name to a type or ``{"type", "property", "compute"}``; returns its id."""
        with self.lock:
            base = self.find_base(base_id)
            if not name or base.sheet(name) is not None:
                raise invalid_args(f"sheet name {name!r} is empty or already used")
            sheet = FakeSheet(sheet_id or self.new_id("sht", 7), name)
            for field_name, spec in (fields or {}).items():
                spec = {"type": spec} if isinstance(spec, str) else spec
                self._new_field(sheet, field_name, spec["type"], spec.get("property"), spec.get("compute"))
            base.sheets[sheet.id] = sheet  # only once every field is valid
            return sheet.id

    def add_field(
        self,
        base_id: str,
        sheet: str,
        name: str,
        ftype: str,
        prop: Mapping[str, Any] | None = None,
        *,
        compute: Compute | None = None,
    ) -> str:
        """Adds a field; select ``choices`` may be plain names; a formula's value is ``compute(cells)``."""
        with self.lock:
            return self._new_field(self.find_sheet(self.find_base(base_id), sheet), name, ftype, prop, compute).id

    def _new_field(
        self, sheet: FakeSheet, name: str, ftype: str, prop: Mapping[str, Any] | None, compute: Compute | None
    ) -> FakeField:
        if not isinstance(name, str) or not name or sheet.field(name) is not None:
            raise invalid_args(f"field name {name!r} is empty or already used")
        added = FakeField(self.new_id("fld", 7), name, ftype, normalise_property(ftype, prop, self.new_id), compute)
        sheet.fields[added.id] = added
        return added

    def add_records(
        self, base_id: str, sheet: str, records: Iterable[Mapping[str, Any]], *, operator: str | None = None
    ) -> list[str]:
        """Stores records given as write-format ``fields`` maps (attachments allowed here); returns their ids."""
        with self.lock:
            base = self.find_base(base_id)
            author = operator or next(iter(self.users), "")
            if author not in self.users:
                raise ValueError("add a user first: records need an author (operator=...)")
            stored = insert_records(
                self, base, self.find_sheet(base, sheet), list(records), author, allow_attachments=True
            )
            return [record.id for record in stored]

    # -- assertions --------------------------------------------------------------------------------------------

    def records(self, base_id: str, sheet: str) -> list[dict[str, Any]]:
        """Every record of a sheet as GET record shows it, in creation order."""
        with self.lock:
            base = self.find_base(base_id)
            target = self.find_sheet(base, sheet)
            return [render_record(base, target, record) for record in target.records.values()]

    def record(self, base_id: str, sheet: str, record_id: str) -> dict[str, Any]:
        with self.lock:
            base = self.find_base(base_id)
            target = self.find_sheet(base, sheet)
            if record_id not in target.records:
                raise resource_not_found(f"record {record_id} not found")
            return render_record(base, target, target.records[record_id])

    def field_id(self, base_id: str, sheet: str, name: str) -> str:
        with self.lock:
            found = self.find_sheet(self.find_base(base_id), sheet).field(name)
            if found is None:
                raise resource_not_found(f"field {name} not found")
            return found.id

    # -- tokens ------------------------------------------------------------------------------------------------

    def issue_token(self, app_key: str) -> str:
        """A token for the app: its live one (expiry renewed, as DingTalk documents) or a new one."""
        with self.lock:
            now = self.clock()
            self.tokens_issued += 1
            live = next(
                (t for t, token in self._tokens.items() if token.app_key == app_key and token.expires_at > now), None
            )
            value = live or self.new_id("", 32).lower()
            self._tokens[value] = _Token(app_key, now + self.token_ttl)
            return value

    def token_app(self, token: str) -> FakeApp | None:
        """The app a live token belongs to."""
        with self.lock:
            found = self._tokens.get(token)
            return self.apps.get(found.app_key) if found is not None and found.expires_at > self.clock() else None

    def expire_all_tokens(self) -> None:
        with self.lock:
            for token in self._tokens.values():
                token.expires_at = float("-inf")

    # -- fault switches ----------------------------------------------------------------------------------------

    def delay_next(self, seconds: float, n: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests wait ``seconds`` first (combines with one other fault)."""
        self._queue(Fault("latency", n, *_filters(method, path), seconds=seconds))

    def throttle_next(
        self, n: int = 1, *, code: str = QPS_LIMIT_APP_AND_API, method: str | None = None, path: str | None = None
    ) -> None:
        """The next ``n`` matching requests answer 403 with a QPS-limit ``code`` (or ApiCountLimitForOrg)."""
        self._queue(
            Fault("throttle", n, *_filters(method, path), status=403, code=code, message=THROTTLE_MESSAGES[code])
        )

    def fail_next(
        self,
        n: int = 1,
        code: str = "internalError",
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``n`` matching requests answer an error of ``errors.SERVER_ERRORS`` (status overridable)."""
        default_status, message = SERVER_ERRORS[code]
        self._queue(
            Fault("error", n, *_filters(method, path), status=status or default_status, code=code, message=message)
        )

    def reset_next(self, n: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests lose their connection (TCP reset) before anything is applied."""
        self._queue(Fault("reset", n, *_filters(method, path)))

    def lose_answer_next(self, n: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests are applied, then the connection is reset instead of answering."""
        self._queue(Fault("lost_answer", n, *_filters(method, path)))

    def malformed_next(
        self,
        n: int = 1,
        kind: MalformedKind = "truncated",
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``n`` matching requests get a body no DingTalk client can parse as an answer.

        ``ip_ban_html``: the 403 HTML page of an IP ban; ``ip_ban_json``: 403 ``{"status":1111,"wait":5}``;
        ``truncated``: cut-off JSON (status 200 unless ``status`` says otherwise, e.g. 500).
        """
        default_status, body, media_type = _MALFORMED[kind]
        fault = Fault(
            "malformed", n, *_filters(method, path), status=status or default_status, body=body, media_type=media_type
        )
        self._queue(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def take_faults(self, method: str, path: str) -> tuple[Fault | None, Fault | None]:
        """Consumes, for one request, the first matching latency fault and the first matching other fault."""
        with self.lock:
            delay = self._take(method, path, latency=True)
            return delay, self._take(method, path, latency=False)

    def _take(self, method: str, path: str, *, latency: bool) -> Fault | None:
        fault = next((f for f in self._faults if (f.kind == "latency") == latency and f.matches(method, path)), None)
        if fault is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
        return fault

    def _queue(self, fault: Fault) -> None:
        with self.lock:
            self._faults.append(fault)

    # -- request log -------------------------------------------------------------------------------------------

    def log(self, request: Request, body: bytes) -> LoggedRequest:
        headers = {key: "REDACTED" if key in _SECRET_HEADERS else value for key, value in request.headers.items()}
        entry = LoggedRequest(request.method, request.url.path, dict(request.query_params), _loggable(body), headers)
        with self.lock:
            self.requests.append(entry)
        return entry

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    # -- used by the handlers ----------------------------------------------------------------------------------

    def find_base(self, base_id: str) -> FakeBase:
        base = self.bases.get(base_id)
        if base is None:
            raise document_not_found()
        return base

    def find_sheet(self, base: FakeBase, id_or_name: str) -> FakeSheet:
        sheet = base.sheet(id_or_name)
        if sheet is None:
            raise resource_not_found(f"sheet {id_or_name} not found")
        return sheet

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def new_id(self, prefix: str, length: int = 10) -> str:
        return prefix + "".join(self._random.choices(_ID_ALPHABET, k=length))


def _filters(method: str | None, path: str | None) -> tuple[str | None, re.Pattern[str] | None]:
    """A fault's request filter: an HTTP method, and a regular expression searched in the decoded path."""
    return (method.upper() if method else None), (re.compile(path) if path else None)


def _loggable(body: bytes) -> Any:
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:  # a form body, say: its appSecret is hidden all the same
        return _FORM_SECRET.sub(r"\1=REDACTED", body.decode("utf-8", "replace"))
    if isinstance(parsed, dict):
        return {key: "REDACTED" if key in _SECRET_BODY_KEYS else value for key, value in parsed.items()}
    return parsed
