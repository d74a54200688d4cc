"""The Backend protocol every adapter implements, in canonical model terms.

Arguments reaching a backend are already validated against the table's schemas; a backend maps
its platform's failures to `TablesError` and never lets another exception type escape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..model import Capabilities, ColumnSpec, ListQuery, Page, Record, Table, WriteProgress
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

    async def delete_records(self, table: Table, record_ids: list[str]) -> list[str]: ...

    async def create_table(self, name: str, description: str | None, columns: list[ColumnSpec]) -> Table: ...

    async def add_columns(self, table: Table, columns: list[ColumnSpec]) -> Table: ...


@dataclass(frozen=True)
class Adapter:
    """What a backend package exports as `ADAPTER` for the registry."""

    # (environment, TABLES_MCP_DB or its default) -> a backend not yet opened; raises ConfigError on bad settings.
    open: Callable[[Mapping[str, str], str], Backend]
    capabilities: Capabilities
    settings: type[PlatformSettings] | None = None  # the platform's own variables, if it has any
