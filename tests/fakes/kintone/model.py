"""What the fake Kintone domain holds: apps, stored records, API tokens, users, cursors, the request log and
queued faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

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
