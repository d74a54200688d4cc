"""The Backend protocol every adapter implements, in canonical model terms, and the optional abilities.

Arguments reaching a backend are already validated against the table's schemas; a backend maps
its platform's failures to `TablesError` and never lets another exception type escape.

Abilities only some platforms have are separate protocols, declared in the backend's `Capabilities`:
a backend without one has no such method at all (rather than one that raises), and the tools that
need it are not registered. `table_editor`, `record_deleter`, `versioned_patcher` and `record_upserter` hand a
tool the ability, or refuse; `record_aggregator` hands over the backend's own aggregation, or tables-mcp's
bounded scan instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..aggregate import AggregateQuery, AggregateResult, ScanAggregator
from ..errors import FieldError, invalid_argument, unsupported
from ..model import Capabilities, Column, ColumnSpec, ListQuery, Page, Record, Table, Upserted, WriteProgress
from .kit.settings import PlatformSettings


class Backend(Protocol):
    name: str
    capabilities: Capabilities

    async def open(self) -> None:
        """Connect and check credentials; called once before any other method."""

    async def aclose(self) -> None: ...

    async def list_tables(self) -> list[Table]:
        """All tables this configuration can see, with their columns."""
        ...

    async def can_write(self) -> bool | None:
        """Whether writes would be allowed, found out without writing; None when the platform cannot tell."""
        ...

    async def schema_token(self) -> str:
        """A cheap value that changes whenever tables or columns change."""
        ...

    async def list_records(self, table: Table, query: ListQuery) -> Page: ...

    async def get_record(self, table: Table, record_id: str) -> Record: ...

    async def create_records(
        self, table: Table, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> list[Record]:
        """Insert rows; raise TablesError with `written`/`failed` set if only some were written.

        Each committed part is reported to `progress`; on cancellation, parts already sent finish and
        are reported, and no new part starts."""
        ...

    async def patch_record(self, table: Table, record_id: str, fields: dict[str, Any]) -> Record: ...


@runtime_checkable
class TableEditor(Protocol):
    """Creates tables and adds columns; declared by `Capabilities.create_table`."""

    async def create_table(self, name: str, description: str | None, columns: list[ColumnSpec]) -> Table: ...

    async def add_columns(self, table: Table, columns: list[ColumnSpec]) -> Table: ...


@runtime_checkable
class RecordDeleter(Protocol):
    """Deletes records; declared by `Capabilities.delete`."""

    async def delete_records(self, table: Table, record_ids: list[str]) -> list[str]:
        """Delete the records; raise TablesError with `written` (deleted) / `failed` set if only some were."""
        ...


@runtime_checkable
class ReplicaAware(Protocol):
    """A backend that keeps state between calls (a platform cursor held open, say) and can do without it."""

    def serve_replicated(self) -> None:
        """Calls of one session may reach different server processes (stateless HTTP behind a balancer):
        keep nothing between calls that another process would need."""


@runtime_checkable
class VersionedPatcher(Protocol):
    """Patches a record only if it is still at the version the agent read; declared by `Capabilities.versions`."""

    async def patch_record_at(
        self, table: Table, record_id: str, fields: dict[str, Any], expected_version: str
    ) -> Record:
        """Patch as `patch_record` does if the record's version is `expected_version`; otherwise write nothing
        and raise `errors.version_conflict` carrying the record as it is now."""
        ...


@runtime_checkable
class RecordAggregator(Protocol):
    """Aggregates records where they are kept (SQL GROUP BY); declared by `Capabilities.aggregate`."""

    async def aggregate_records(self, table: Table, query: AggregateQuery) -> AggregateResult: ...


@runtime_checkable
class RecordUpserter(Protocol):
    """Creates or updates records matched on a unique column; declared by `Capabilities.upsert`."""

    async def upsert_records(
        self, table: Table, key: Column, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> Upserted:
        """Patch each row into the record whose `key` value it carries, or create it when there is none.

        `key` is a unique column of one of `capabilities.upsert_key_types`; every row holds a non-empty, distinct
        value of it. Raise TablesError with `created` / `updated` / `failed` set if only some were written."""
        ...


def table_editor(backend: Backend) -> TableEditor:
    if backend.capabilities.create_table and isinstance(backend, TableEditor):
        return backend
    raise unsupported(f"The {backend.name} backend cannot create tables or add columns; they are made on the platform.")


def record_deleter(backend: Backend) -> RecordDeleter:
    if backend.capabilities.delete and isinstance(backend, RecordDeleter):
        return backend
    raise unsupported(f"The {backend.name} backend cannot delete records; nothing was deleted.")


def versioned_patcher(backend: Backend) -> VersionedPatcher:
    if backend.capabilities.versions and isinstance(backend, VersionedPatcher):
        return backend
    raise invalid_argument(
        f"The {backend.name} backend keeps no record versions, so expectedVersion cannot be checked; nothing was "
        "written.",
        [FieldError("expectedVersion", "not supported by this backend")],
        hint="Patch without expectedVersion (the change then wins over any other), or re-read the record first.",
    )


def record_aggregator(backend: Backend) -> RecordAggregator:
    """The backend's own aggregation, or tables-mcp's: a bounded scan through the backend's list_records."""
    if backend.capabilities.aggregate and isinstance(backend, RecordAggregator):
        return backend
    return ScanAggregator(backend)


def record_upserter(backend: Backend) -> RecordUpserter:
    if backend.capabilities.upsert and isinstance(backend, RecordUpserter):
        return backend
    raise unsupported(
        f"The {backend.name} backend has no upsert (no unique key to match records on); nothing was written."
    )


@dataclass(frozen=True)
class Adapter:
    """What a backend package exports as `ADAPTER` for the registry."""

    # (environment, TABLES_MCP_DB or its default) -> a backend not yet opened; raises ConfigError on bad settings.
    open: Callable[[Mapping[str, str], str], Backend]
    capabilities: Capabilities
    settings: type[PlatformSettings] | None = None  # the platform's own variables, if it has any
