"""The table directory: which tables the tools serve, kept fresh from the backend, and found by id or name.

It applies the allow-list (`--tables`), reloads when the backend's schema token moves (checked at
most every `schema_ttl` seconds), caches each table's create and patch schemas, and checks that the
tool configuration names only things that exist.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..backends.base import Backend
from ..errors import ErrorCode, FieldError, TablesError, invalid_argument
from ..model import Column, Table
from ..schema import Schema, create_schema, patch_schema, upsert_schema
from ..validation import ArgumentValidator
from .specs import GENERIC_TOOLS, ToolOptions


@dataclass
class TableSchemas:
    create: ArgumentValidator
    patch: ArgumentValidator
    create_schema: Schema
    patch_schema: Schema
    upserts: dict[str, ArgumentValidator] = field(default_factory=dict)  # by key column


@dataclass
class TableDirectory:
    backend: Backend
    options: ToolOptions
    tables: list[Table] = field(default_factory=list)
    _schemas: dict[str, TableSchemas] = field(default_factory=dict)
    _token: str | None = None
    _checked_at: float = 0.0

    async def refresh(self, force: bool = False) -> bool:
        """Reload the tables if they may have changed; True when they were reloaded."""
        now = time.monotonic()
        if not force and self._token is not None and now - self._checked_at < self.options.schema_ttl:
            return False
        token = await self.backend.schema_token()
        self._checked_at = now
        if token == self._token and not force:
            return False
        tables = await self.backend.list_tables()
        if self.options.tables is not None:
            allowed = set(self.options.tables)
            tables = [t for t in tables if t.id in allowed or t.name in allowed]
        self._token = token
        self.tables = tables
        self._schemas = {}
        return True

    def check_options(self, tool_names: Iterable[str]) -> None:
        """Fail loudly on allow-list or disabled-tool names that match nothing: a typo must not widen access."""
        problems = []
        if self.options.tables is not None:
            known = {t.id for t in self.tables} | {t.name for t in self.tables}
            unknown = [name for name in self.options.tables if name not in known]
            if unknown:
                problems.append(FieldError("tables", f"no table named {', '.join(unknown)}"))
        names = GENERIC_TOOLS | set(tool_names)
        problems += [
            FieldError("disable-tools", f"no tool matches {pattern!r}", allowed=sorted(GENERIC_TOOLS))
            for pattern in self.options.disabled_tools
            if not fnmatch.filter(names, pattern)
        ]
        if problems:
            raise invalid_argument("The tool configuration names things that do not exist.", problems)

    def resolve_table(self, ref: str) -> Table:
        for table in self.tables:
            if ref in (table.id, table.name):
                return table
        folded = [t for t in self.tables if t.name.casefold() == ref.casefold()]
        if len(folded) == 1:
            return folded[0]
        names = [t.name for t in self.tables][:50]
        raise TablesError(
            ErrorCode.NOT_FOUND,
            f"No table '{ref}'.",
            field_errors=[FieldError("table", f"unknown table {ref!r}", allowed=names)],
            hint="Call listTables and pass a table's id or exact name.",
        )

    def schemas(self, table: Table) -> TableSchemas:
        """The table's createRecords and patchRecord schemas, built once per reload."""
        cached = self._schemas.get(table.id)
        if cached is None:
            creating = create_schema(table, self.backend.capabilities)
            patching = patch_schema(table)
            cached = TableSchemas(
                ArgumentValidator(creating, table), ArgumentValidator(patching, table), creating, patching
            )
            self._schemas[table.id] = cached
        return cached

    def upsert_validator(self, table: Table, key: Column) -> ArgumentValidator:
        """upsertRecords' records for the table and key column, built once per reload."""
        upserts = self.schemas(table).upserts
        if key.name not in upserts:
            upserts[key.name] = ArgumentValidator(upsert_schema(table, key, self.backend.capabilities), table)
        return upserts[key.name]
