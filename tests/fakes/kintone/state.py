"""`FakeKintone`: the in-memory state of one fake kintone domain, with its fault switches and request log."""

from __future__ import annotations

import copy
import json
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from starlette.datastructures import Headers
from starlette.requests import Request

from ..serving import Switchboard
from .fields import _app_time, _form_properties
from .messages import KintoneError, Lang, msg
from .model import (
    _ADMINISTRATOR,
    ALL_PERMISSIONS,
    ApiToken,
    FakeApp,
    FakeUser,
    FaultKind,
    LoggedRequest,
    StoredRecord,
    _Cursor,
    _Fault,
)
from .query import _render
from .writes import _write, _WriteItem

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
