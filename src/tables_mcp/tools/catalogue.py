"""`Catalogue`: the tools the server registers, rebuilt whenever the table directory reloads.

It wires each tool's spec (`specs`) to its typed arguments (`arguments`) and handler (`handlers`),
applies the tool mode, read-only mode and `--disable-tools`, and runs calls through `calls`. It also
offers each exposed table's schema as a resource (`resources`) with describeTable's answer as content.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..audit import AuditLog
from ..backends.base import Backend
from ..errors import bounded, not_found
from ..model import Table
from ..names import table_slugs
from . import specs
from .arguments import (
    AddColumnsArgs,
    AggregateArgs,
    CreateArgs,
    CreateTableArgs,
    DeleteArgs,
    GetArgs,
    ListArgs,
    NoArgs,
    PatchArgs,
    TableArgs,
    UpsertArgs,
)
from .calls import ToolOutcome, run_call
from .directory import TableDirectory
from .handlers import Handlers
from .resources import SchemaResource, schema_resource, table_id_of
from .specs import AuditedArguments, Binder, BoundCall, CallHooks, Payload, ToolOptions, ToolSpec

A = TypeVar("A", bound=AuditedArguments)
T = TypeVar("T", bound=TableArgs)


@dataclass
class Catalogue:
    backend: Backend
    options: ToolOptions = field(default_factory=ToolOptions)
    audit: AuditLog | None = None
    version: int = field(default=0, init=False)
    directory: TableDirectory = field(init=False)
    _handlers: Handlers = field(init=False)
    _tools: dict[str, ToolSpec] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.directory = TableDirectory(self.backend, self.options)
        self._handlers = Handlers(self.directory, lambda: self.refresh(force=True))

    @property
    def tables(self) -> list[Table]:
        return self.directory.tables

    async def refresh(self, force: bool = False) -> bool:
        """Reload tables if they may have changed; True when the tool list changed."""
        if not await self.directory.refresh(force):
            return False
        old_names = set(self._tools)
        self._tools = {spec.name: spec for spec in self._build_specs()}
        changed = set(self._tools) != old_names or self.version == 0
        self.version += 1
        return changed

    def check_options(self) -> None:
        """Fail loudly on allow-list or disabled-tool names that match nothing: a typo must not widen access."""
        self.directory.check_options(spec.name for spec in self._all_specs())

    def spec(self, name: str) -> ToolSpec | None:
        return self._tools.get(name)

    def tool_specs(self) -> list[ToolSpec]:
        return list(self._tools.values())

    async def call(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        client: str | None = None,
        hooks: CallHooks | None = None,
        *,
        text_checked: bool = False,
    ) -> ToolOutcome:
        """Run one tool call; every failure becomes an error outcome, every write an audit line. `text_checked`:
        the arguments are known to hold no lone surrogate (the transport refused those), so none is looked for."""
        tool = self._tools.get(name)
        return await run_call(tool, name, arguments, client, hooks or CallHooks(), self.audit, text_checked)

    def schema_resources(self) -> list[SchemaResource]:
        """One schema resource per exposed table, while describeTable is offered (its answer is their content)."""
        if self.spec("describeTable") is None:
            return []
        return [schema_resource(table) for table in self.tables]

    async def read_schema_resource(self, uri: str) -> Payload:
        """describeTable's answer for the table the URI names; not_found unless that table is exposed now.

        A miss reloads once, as a tool call's does: the table may have been created a moment ago elsewhere."""
        table_id = table_id_of(uri)
        if table_id is not None and self.spec("describeTable") is not None:
            table = self._exposed_table(table_id)
            if table is None:
                await self.refresh(force=True)
                table = self._exposed_table(table_id)
            if table is not None:
                return self._handlers.describe(table)
        raise not_found(f"No resource {bounded(uri)}.", hint="resources/list shows the schema resources.")

    def _exposed_table(self, table_id: str) -> Table | None:
        return next((table for table in self.tables if table.id == table_id), None)

    @property
    def per_table(self) -> bool:
        """Whether tables get tools of their own (auto: while few enough to keep tools/list small)."""
        if self.options.mode == "auto":
            return len(self.tables) <= self.options.per_table_limit
        return self.options.mode == "per-table"

    def _all_specs(self) -> list[ToolSpec]:
        """Every tool the backend's capabilities allow, before read-only mode and --disable-tools.

        The generic tools are always there, in every mode and for any number of tables: pipelines call
        them by name, so a tool name an agent has seen never changes meaning. Per-table tools are
        additions carrying one table's exact schema: auto mode adds createRecords_<table> (where a
        schema prevents the costliest mistakes) while the tables are few; per-table mode adds list,
        create and patch per table; generic mode adds none.
        """
        caps = self.backend.capabilities
        run = self._handlers
        tools = [
            specs.list_tables_tool(caps, _binder(NoArgs.from_call, run.list_tables)),
            specs.describe_table_tool(_generic(TableArgs.from_call, run.describe_table)),
            specs.list_records_tool(caps, _generic(ListArgs.from_call, run.list_records)),
            specs.get_record_tool(_generic(GetArgs.from_call, run.get_record)),
            specs.aggregate_records_tool(caps, _generic(AggregateArgs.from_call, run.aggregate_records)),
            specs.create_records_tool(caps, _generic(CreateArgs.from_call, run.create_records)),
        ]
        if caps.patch:
            tools.append(specs.patch_record_tool(caps, _generic(PatchArgs.from_call, run.patch_record)))
        if caps.upsert:
            tools.append(specs.upsert_records_tool(caps, _generic(UpsertArgs.from_call, run.upsert_records)))
        if caps.delete:
            tools.append(specs.delete_records_tool(_generic(DeleteArgs.from_call, run.delete_records)))
        if caps.create_table:
            if self.options.tables is None:  # with an allow-list, a new table would be invisible
                tools.append(specs.create_table_tool(_binder(CreateTableArgs.from_call, run.create_table)))
            tools.append(specs.add_columns_tool(_generic(AddColumnsArgs.from_call, run.add_columns)))
        if self.per_table:
            full = self.options.mode == "per-table"
            slugs = table_slugs(self.tables)
            for table in self.tables:
                tools += self._per_table_specs(table, slugs[table.id], full)
        return tools

    def _per_table_specs(self, table: Table, slug: str, full: bool) -> list[ToolSpec]:
        caps = self.backend.capabilities
        run = self._handlers
        schemas = self.directory.schemas(table)
        # The tool's arguments are checked against the table's create schema: the handler need not check again.
        checked = schemas.create_schema
        create_bind = _bound_to(table, lambda raw, ref: CreateArgs.from_call(raw, ref, checked), run.create_records)
        create = specs.table_create_records_tool(table, slug, caps, schemas.create_schema, create_bind)
        if not full:
            return [create]
        listing = specs.table_list_records_tool(
            table, slug, caps, _bound_to(table, ListArgs.from_call, run.list_records)
        )
        tools = [listing, create]
        if caps.patch:
            patch_bind = _bound_to(table, PatchArgs.from_call, run.patch_record)
            tools.append(specs.table_patch_record_tool(table, slug, caps, schemas.patch_schema, patch_bind))
        return tools

    def _build_specs(self) -> list[ToolSpec]:
        """The tools to register: all of them, less read-only mode's writes and the disabled ones."""
        disabled = self.options.disabled_tools
        return [
            spec
            for spec in self._all_specs()
            if not any(fnmatch.fnmatchcase(spec.name, pattern) for pattern in disabled)
            and not (self.options.read_only and not spec.hints.read_only)
        ]


Run = Callable[[A, CallHooks], Awaitable[Payload]]


def _binder(parse: Callable[[dict[str, Any]], A], handler: Run[A]) -> Binder:
    """Typed arguments are built once, after validation, and handed to the handler."""

    def bind(raw: dict[str, Any]) -> BoundCall:
        args = parse(raw)
        return BoundCall(args, lambda hooks: handler(args, hooks))

    return bind


def _generic(parse: Callable[[dict[str, Any], str], T], handler: Run[T]) -> Binder:
    """A generic tool's binder: the table is the `table` argument."""
    return _binder(lambda raw: parse(raw, str(raw["table"])), handler)


def _bound_to(table: Table, parse: Callable[[dict[str, Any], str], T], handler: Run[T]) -> Binder:
    """A per-table tool's binder: the table is the tool's own."""
    return _binder(lambda raw: parse(raw, table.id), handler)
