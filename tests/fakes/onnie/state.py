"""The fake Onnie workspace (:class:`FakeOnnie`): API keys, tables, token buckets, fault queue, request log."""

from __future__ import annotations

import fnmatch
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ..serving import Switchboard
from .columns import Column, build_column
from .errors import ErrorLayout
from .store import FakeTable, View, Writer, render_record

SCOPES: frozenset[str] = frozenset({"tables:read", "tables:write", "pages:read", "skills:read", "tasks:read"})
READ_WRITE: tuple[str, ...] = ("tables:read", "tables:write")
LAST_USED_DEBOUNCE = timedelta(seconds=60)  # authentication page: last_used_at is debounced 60 s
_SECRET_HEADERS = frozenset({"authorization", "cookie", "x-api-key"})


@dataclass
class ApiKey:
    key: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass
class LoggedRequest:
    """One request as the server saw it; secret headers read ``REDACTED``; ``status`` None when none was sent."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int | None = None


FaultKind = Literal["latency", "status", "reset", "lose_answer", "malformed"]
MalformedKind = Literal["truncated", "not_json"]


@dataclass
class Fault:
    """A queued fault for the next ``remaining`` requests matching ``method`` and ``path`` (None: any).

    ``path`` is an fnmatch glob over the path after the base path, e.g. ``"/tables/*/records"``.
    """

    kind: FaultKind
    remaining: int
    method: str | None = None
    path: str | None = None
    seconds: float = 0.0
    status: int = 503
    retry_after: int | None = None
    malformed: MalformedKind = "truncated"

    def matches(self, method: str, route: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or fnmatch.fnmatchcase(route, self.path)
        )


class TokenBucket:
    """``capacity`` tokens, ``refill_per_second`` added back continuously; one request takes one."""

    def __init__(self, capacity: int, refill_per_second: float, now: float) -> None:
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self.tokens = float(capacity)
        self.stamp = now

    def take(self, now: float) -> float | None:
        """None when a token was taken, else the seconds until one is back (inf when nothing refills)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill_per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.refill_per_second if self.refill_per_second > 0 else float("inf")


class FakeOnnie:
    """In-memory state of one fake Onnie workspace. Tests may change it while the server runs.

    Switches: :attr:`error_layout` ("nested" or "flat"), :attr:`latency_s` (added to every request),
    :meth:`set_rate_limit`, and the fault queue (:meth:`fail_next`, :meth:`delay_next`,
    :meth:`reset_next`, :meth:`lose_answer_next`, :meth:`malformed_next`). :attr:`requests` logs
    every request. Every public method takes :attr:`lock`.
    """

    def __init__(
        self,
        *,
        error_layout: ErrorLayout = "nested",
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.switchboard = Switchboard()  # random faults (tests.fakes.serving), off until armed
        self.reset(error_layout=error_layout, clock=clock, monotonic=monotonic)

    def reset(
        self,
        *,
        error_layout: ErrorLayout = "nested",
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """Forgets every key, table, record, logged request, limit and fault, as a new instance would."""
        with self.lock:
            self.keys: dict[str, ApiKey] = {}
            self.tables: dict[str, FakeTable] = {}
            self.requests: list[LoggedRequest] = []
            self.error_layout: ErrorLayout = error_layout
            self.latency_s = 0.0
            self.clock = clock or (lambda: datetime.now(UTC))
            self.monotonic = monotonic or time.monotonic
            self.project_id = str(uuid.uuid4())
            self.rate_capacity: int | None = None
            self.rate_refill_per_second = 1.0
            self.retry_after_header = False
            self.buckets: dict[str, TokenBucket] = {}
            self.faults: list[Fault] = []
            self.switchboard.disarm()
            self._next_column_id = 1
            self._next_seq = 1

    # -- keys --------------------------------------------------------------------------------

    def add_key(self, scopes: Iterable[str] = READ_WRITE, *, key: str | None = None) -> str:
        """Registers an API key (``onn_live_`` + 48 hex unless ``key`` is given) with these scopes."""
        granted = frozenset(scopes)
        if not granted <= SCOPES:
            raise ValueError(f"unknown scopes: {sorted(granted - SCOPES)}")
        value = key or "onn_live_" + secrets.token_hex(24)
        with self.lock:
            self.keys[value] = ApiKey(value, granted, self.now())
        return value

    def revoke_key(self, key: str) -> None:
        """Revokes a key at once: its next request answers 401."""
        with self.lock:
            self.keys[key].revoked_at = self.now()

    def use_key(self, key: str) -> ApiKey | None:
        """The live key, its ``last_used_at`` refreshed at most once a minute; None when unknown or revoked."""
        with self.lock:
            found = self.keys.get(key)
            if found is None or found.revoked_at is not None:
                return None
            now = self.now()
            if found.last_used_at is None or now - found.last_used_at >= LAST_USED_DEBOUNCE:
                found.last_used_at = now
            return found

    # -- tables and records ------------------------------------------------------------------

    def add_table(
        self,
        name: str,
        columns: Iterable[Mapping[str, Any]] = (),
        *,
        description: str = "",
        table_id: str | None = None,
        alias_id: str | None = None,
        project_id: str | None = None,
    ) -> str:
        """Creates a table and returns its id; ``columns`` are specs (see ``columns.build_column``).

        The first column is the primary one unless a spec says ``is_primary``. A REFERENCE ``target``
        names a table by id or name, this one included.
        """
        with self.lock:
            new_id = table_id or str(uuid.uuid4())
            if new_id in self.tables:
                raise ValueError(f"table {new_id} already exists")
            now = self.now()
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "table"
            table = FakeTable(
                new_id,
                alias_id or f"{slug}-{secrets.token_hex(3)}",
                name,
                description,
                project_id or self.project_id,
                now,
                now,
                views=[View(str(uuid.uuid4()), "Grid", is_default=True)],
            )
            self.tables[new_id] = table
            specs = list(columns)
            for index, spec in enumerate(specs):
                table.columns.append(self._column(table, spec, index))
            if specs and not any(column.is_primary for column in table.columns):
                table.columns[0].is_primary = True
            return new_id

    def _column(self, table: FakeTable, spec: Mapping[str, Any], order_index: int) -> Column:
        def target_id(ref: str) -> str:
            return table.id if ref in (table.id, table.name) else self.table(ref).id

        column = build_column(spec, column_id=self._next_column_id, order_index=order_index, target_id=target_id)
        self._next_column_id += 1
        return column

    def table(self, ref: str) -> FakeTable:
        """A table by id or by (unique) name."""
        with self.lock:
            if ref in self.tables:
                return self.tables[ref]
            named = [table for table in self.tables.values() if table.name == ref]
            if len(named) != 1:
                raise KeyError(f"{len(named)} tables are named {ref!r}" if named else f"no table {ref!r}")
            return named[0]

    def add_records(self, table: str, records: Iterable[Mapping[str, Any]]) -> list[str]:
        """Stores records given as ``fields`` mappings, checked as the API checks a create.

        Unlike the API, FILE columns may be given (a list of file metadata objects), standing in for
        files uploaded in Onnie's UI. Raises ``OnnieError`` (400) on invalid values.
        """
        with self.lock:
            target = self.table(table)
            batch = list(records)
            created = self.writer(target, allow_files=True).create(batch, self.now(), self.take_seqs(len(batch)))
            return [record.id for record in created]

    def records(self, table: str) -> list[dict[str, Any]]:
        """Every record of the table as GET records shows it, in list order."""
        with self.lock:
            target = self.table(table)
            return [render_record(target, record) for record in target.ordered_records()]

    def record(self, table: str, record_id: str) -> dict[str, Any]:
        with self.lock:
            target = self.table(table)
            return render_record(target, target.records[record_id])

    def writer(self, table: FakeTable, *, allow_files: bool = False) -> Writer:
        return Writer(self.tables, table, allow_files=allow_files)

    def take_seqs(self, count: int) -> int:
        """Reserves ``count`` creation sequence numbers and returns the first (a failed create wastes them)."""
        first = self._next_seq
        self._next_seq += count
        return first

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    # -- rate limit --------------------------------------------------------------------------

    def set_rate_limit(
        self, capacity: int | None, refill_per_second: float = 1.0, *, retry_after: bool = False
    ) -> None:
        """A token bucket per API key (``capacity`` None: unlimited); ``retry_after`` adds a Retry-After header."""
        with self.lock:
            self.rate_capacity = capacity
            self.rate_refill_per_second = refill_per_second
            self.retry_after_header = retry_after
            self.buckets.clear()

    def take_token(self, key: str) -> float | None:
        """None when the key's bucket had a token, else the seconds until it has one."""
        with self.lock:
            if self.rate_capacity is None:
                return None
            now = self.monotonic()
            bucket = self.buckets.setdefault(key, TokenBucket(self.rate_capacity, self.rate_refill_per_second, now))
            return bucket.take(now)

    # -- faults ------------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        method: str | None = None,
        path: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next ``n`` matching requests answer ``status`` without being applied.

        429 answers the ``rate_limited`` error body, any other status an ``internal_error`` body (both in
        the current :attr:`error_layout`); ``retry_after`` adds a Retry-After header.
        """
        self._queue(Fault("status", n, method, path, status=status, retry_after=retry_after))

    def delay_next(self, seconds: float, n: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests wait ``seconds`` before being served normally."""
        self._queue(Fault("latency", n, method, path, seconds=seconds))

    def reset_next(self, n: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests lose their connection (TCP reset) before anything is applied."""
        self._queue(Fault("reset", n, method, path))

    def lose_answer_next(self, n: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """The next ``n`` matching requests are applied, then the connection is reset instead of answered."""
        self._queue(Fault("lose_answer", n, method, path))

    def malformed_next(
        self,
        n: int = 1,
        *,
        kind: MalformedKind = "truncated",
        status: int = 200,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``n`` matching requests answer a broken body without being applied.

        ``"truncated"``: cut-off JSON with ``application/json``; ``"not_json"``: a proxy's HTML page.
        """
        self._queue(Fault("malformed", n, method, path, status=status, malformed=kind))

    def _queue(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("a fault needs n >= 1")
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, method: str, route: str) -> Fault | None:
        """The first queued fault matching this request (one use of it), or None."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, route):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                    return replace(fault)
            return None

    # -- request log -------------------------------------------------------------------------

    def log(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> LoggedRequest:
        redacted = {key: "REDACTED" if key.lower() in _SECRET_HEADERS else value for key, value in headers.items()}
        entry = LoggedRequest(method, path, dict(query), _loggable(body), redacted)
        with self.lock:
            self.requests.append(entry)
        return entry

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()


def _loggable(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
