"""In-memory state of one fake Ozari tenant: tokens, languages, tables with fields and rows, faults, request log.

:class:`FakeOzari` is what tests build and inspect; every public method takes its lock, so tests may change
the state while the server runs. The HTTP handlers live in ``api.py``.
"""

from __future__ import annotations

import fnmatch
import random
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ..serving import Switchboard
from .query import NAME_PATTERN
from .values import FIELD_KINDS, FieldKind, format_datetime, store

PRIMARY_KEY = "fid"
MODIFIED_COLUMN = "flastmodify"
FaultKind = Literal["latency", "error", "reset", "lost", "malformed"]
FAULT_KINDS: frozenset[str] = frozenset({"latency", "error", "reset", "lost", "malformed"})


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    column: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name, "column": self.column}


@dataclass
class FakeField:
    """One declared column: labels per language code, form order, and whether Get Fields lists it."""

    name: str
    labels: dict[str, str]
    order: int
    show_form: bool = True
    kind: FieldKind = "text"


@dataclass
class FakeTable:
    """A table: ``fid`` (auto-increment) + declared fields + ``flastmodify``; rows keyed by fid."""

    name: str
    labels: dict[str, str]
    fields: dict[str, FakeField]
    credential: bool = False
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1

    def columns(self) -> dict[str, FieldKind]:
        """Column name -> kind, in the order rows show them."""
        declared = {name: spec.kind for name, spec in self.fields.items()}
        return {PRIMARY_KEY: "int", **declared, MODIFIED_COLUMN: "datetime"}


@dataclass
class LoggedRequest:
    """One request as the server saw it; the Authorization header reads ``REDACTED``."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int | None = None  # None when the connection was reset before any answer was made
    fault: FaultKind | None = None


@dataclass(frozen=True)
class Fault:
    """A queued fault: taken by the first request whose method and path (a glob) it matches."""

    kind: FaultKind
    method: str | None
    path: str | None
    status: int
    delay_s: float

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)


_DEFAULT_STATUS = {"error": 500, "malformed": 200}


def _labels(raw: str | Mapping[str, str]) -> dict[str, str]:
    return {"he": raw} if isinstance(raw, str) else dict(raw)


def _field(name: str, spec: str | Mapping[str, Any], position: int) -> FakeField:
    if name in (PRIMARY_KEY, MODIFIED_COLUMN) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"cannot declare field {name!r}")
    if isinstance(spec, str):
        return FakeField(name, {"he": spec}, position)
    unknown = set(spec) - {"labels", "order", "show_form", "kind"}
    kind = spec.get("kind", "text")
    if unknown or kind not in FIELD_KINDS:
        raise ValueError(f"bad spec for field {name!r}: {dict(spec)}")
    labels = _labels(spec.get("labels", {}))
    return FakeField(name, labels, int(spec.get("order", position)), bool(spec.get("show_form", True)), kind)


class FakeOzari:
    """One tenant ("company") of the fake Integration API. See the package docstring for use.

    Switches a test may flip at any time: :attr:`inserted_id_null` (insert answers ``insertedId: null``),
    :attr:`clamp_per_page` (``per_page`` > 200 is lowered to 200 instead of refused), :attr:`shuffle_unsorted`
    (a query without ``sort`` returns rows in a seeded shuffled order instead of fid order). Faults:
    :meth:`fail_next`. Log: :attr:`requests`.
    """

    def __init__(self, company: str = "acme_corp", *, clock: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.switchboard = Switchboard()  # random faults (tests.fakes.serving), off until armed
        self.reset(company, clock=clock)

    def reset(self, company: str = "acme_corp", *, clock: Callable[[], datetime] | None = None) -> None:
        """Forgets tokens, tables, languages, switches, faults and the log, as a new instance would."""
        with self.lock:
            self.company = company
            self.clock = clock or (lambda: datetime.now(UTC))
            self.tokens: set[str] = set()
            self.languages: list[Language] = [Language("he", "Hebrew", "langhe")]
            self.tables: dict[str, FakeTable] = {}
            self.requests: list[LoggedRequest] = []
            self.inserted_id_null = False
            self.clamp_per_page = False
            self.shuffle_unsorted = False
            self.random = random.Random(0)
            self._faults: list[Fault] = []
            self.switchboard.disarm()

    # -- set-up API for tests ------------------------------------------------------------------

    def add_token(self, token: str | None = None) -> str:
        """Registers a valid token for this tenant and returns it (random when not given)."""
        value = token or secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(value)
        return value

    def revoke_token(self, token: str) -> None:
        with self.lock:
            self.tokens.discard(token)

    def add_language(self, code: str, name: str, column: str | None = None) -> None:
        """Adds (or replaces) a configured language; the default list holds only Hebrew."""
        with self.lock:
            kept = [language for language in self.languages if language.code != code]
            self.languages = [*kept, Language(code, name, column or f"lang{code}")]

    def add_table(
        self,
        name: str,
        labels: str | Mapping[str, str] | None = None,
        fields: Mapping[str, str | Mapping[str, Any]] | None = None,
        *,
        credential: bool = False,
    ) -> FakeTable:
        """Creates a table. ``labels`` is a Hebrew label or ``{lang: label}``; ``fields`` maps a column name to
        a Hebrew label or ``{"labels": str | {lang: label}, "order": int, "show_form": bool, "kind": kind}``
        (order defaults to the 1-based position, show_form to True, kind to "text"). ``credential=True``
        makes every table endpoint answer 403 "This table is not readable through the integration API".
        """
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"invalid table name {name!r}")
        declared = {key: _field(key, spec, position) for position, (key, spec) in enumerate((fields or {}).items(), 1)}
        with self.lock:
            if name in self.tables:
                raise ValueError(f"table {name!r} already exists")
            table = FakeTable(name, _labels(labels or {}), declared, credential)
            self.tables[name] = table
            return table

    def add_rows(self, table: str, rows: Iterable[Mapping[str, Any]]) -> list[int]:
        """Stores rows straight into the database (no API checks); a row may carry its own ``fid``.

        Values are coerced to the column kinds; ``flastmodify`` defaults to the clock. Returns the fids.
        """
        with self.lock:
            target = self.tables[table]
            return [self.insert_row(target, dict(row)) for row in rows]

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Copies of every row of ``table`` (all columns), in fid order."""
        with self.lock:
            return [dict(row) for _, row in sorted(self.tables[table].rows.items())]

    def row(self, table: str, fid: int) -> dict[str, Any]:
        with self.lock:
            return dict(self.tables[table].rows[fid])

    def fail_next(
        self,
        kind: FaultKind,
        n: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        delay_s: float = 1.0,
    ) -> None:
        """Queues ``n`` faults of ``kind`` for the next matching requests (``path`` is a glob on the URL path).

        ``"latency"`` waits ``delay_s`` then serves normally; ``"error"`` answers ``status`` (default 500, the
        API's JSON envelope; 400/401/403/404/409 the envelope with that status's documented message; 502/503/504
        come as a proxy's HTML page) without applying; ``"reset"`` drops the
        connection (TCP reset) before applying; ``"lost"`` applies the request, then drops the connection
        before the answer; ``"malformed"`` answers a truncated JSON body with ``status`` (default 200)
        without applying.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(kind, method, path, status or _DEFAULT_STATUS.get(kind, 500), delay_s)
        with self.lock:
            self._faults.extend(fault for _ in range(n))

    def pending_faults(self) -> int:
        with self.lock:
            return len(self._faults)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()

    # -- helpers for the handlers --------------------------------------------------------------

    def now_text(self) -> str:
        return format_datetime(self.clock())

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    return self._faults.pop(index)
            return None

    def log(self, entry: LoggedRequest) -> None:
        with self.lock:
            self.requests.append(entry)

    def insert_row(self, table: FakeTable, values: dict[str, Any]) -> int:
        """Coerces and stores one row; raises ValueRejected (the database's refusal) before storing anything."""
        columns = table.columns()
        unknown = set(values) - set(columns)
        if unknown:
            raise ValueError(f"unknown columns for {table.name}: {sorted(unknown)}")
        fid = int(values.pop(PRIMARY_KEY, table.next_id))
        if fid in table.rows:
            raise ValueError(f"duplicate fid {fid} in {table.name}")
        row: dict[str, Any] = dict.fromkeys(columns)
        for name, value in values.items():
            row[name] = store(columns[name], name, value)
        row[PRIMARY_KEY] = fid
        if MODIFIED_COLUMN not in values:
            row[MODIFIED_COLUMN] = self.now_text()
        table.rows[fid] = row
        table.next_id = max(table.next_id, fid + 1)
        return fid
