"""What each tool does once its arguments are validated: one method per tool, taking its typed arguments.

Handlers find the table in the directory, run the table-specific checks that the generic tools'
schemas cannot express, and call the backend; deletes first ask the user, where the client can.
Tools that change the tables themselves (createTable, addColumns) reload the catalogue so that the
next tools/list shows the change.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..aggregate import build_aggregate_query
from ..backends.base import record_aggregator, record_deleter, record_upserter, table_editor, versioned_patcher
from ..errors import ErrorCode, FieldError, TablesError, bounded, invalid_argument
from ..model import Capabilities, Column, Record, Table, WriteProgress
from ..query import build_list_query
from ..schema import operators_for
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
from .confirmations import confirm_delete
from .directory import TableDirectory
from .specs import CallHooks, Payload


@dataclass
class Handlers:
    directory: TableDirectory
    reload: Callable[[], Awaitable[object]]  # the catalogue's forced refresh

    async def _table(self, ref: str) -> Table:
        """The table named by `ref` (id or name). A miss reloads the catalogue once before answering not_found:
        another server on the same store, or the platform's own UI, may have created it a moment ago, and the
        schema cache would otherwise deny it for up to its TTL."""
        try:
            return self.directory.resolve_table(ref)
        except TablesError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:
                raise
        await self.reload()
        return self.directory.resolve_table(ref)

    async def list_tables(self, args: NoArgs, hooks: CallHooks) -> Payload:
        return {
            "tables": [
                {"id": t.id, "name": t.name, "description": t.description, "columnCount": len(t.columns)}
                for t in self.directory.tables
            ]
        }

    async def describe_table(self, args: TableArgs, hooks: CallHooks) -> Payload:
        return self.describe(await self._table(args.table))

    def describe(self, table: Table) -> Payload:
        """describeTable's answer for one table (also the content of its schema resource)."""
        caps = self.directory.backend.capabilities
        columns = []
        for col in table.columns:
            public = col.to_public()
            public["operators"] = list(operators_for(col, caps))
            public["sortable"] = col.type in caps.sortable_types
            columns.append(public)
        schemas = self.directory.schemas(table)
        out: Payload = {
            "table": {"id": table.id, "name": table.name, "description": table.description, "columns": columns},
            "createSchema": schemas.create_schema["properties"]["records"]["items"],
            "patchSchema": schemas.patch_schema["properties"]["fields"],
        }
        out["capabilities"] = {"versions": caps.versions, "upsert": caps.upsert}
        if caps.notes:
            out["notes"] = list(caps.notes)
        return out

    async def list_records(self, args: ListArgs, hooks: CallHooks) -> Payload:
        table = await self._table(args.table)
        backend = self.directory.backend
        query = build_list_query(table, backend.capabilities, args.query_arguments())
        page = await backend.list_records(table, query)
        out: Payload = {"records": page.records, "nextCursor": page.next_cursor}
        if page.total_count is not None:
            out["totalCount"] = page.total_count
        return out

    async def get_record(self, args: GetArgs, hooks: CallHooks) -> Payload:
        table = await self._table(args.table)
        return {"record": await self.directory.backend.get_record(table, args.record_id)}

    async def aggregate_records(self, args: AggregateArgs, hooks: CallHooks) -> Payload:
        table = await self._table(args.table)
        backend = self.directory.backend
        query = build_aggregate_query(table, backend.capabilities, args.filter, args.group_by, args.metrics, args.limit)
        result = await record_aggregator(backend).aggregate_records(table, query)
        return result.payload()

    async def create_records(self, args: CreateArgs, hooks: CallHooks) -> Payload:
        table = await self._table(args.table)
        rows = args.records
        schemas = self.directory.schemas(table)
        if args.checked_against is not schemas.create_schema:  # a per-table tool's arguments passed this schema
            schemas.create.check({"records": rows}, f"Invalid records for '{table.name}'", text_checked=True)
        # The progress shares the hooks' list, so that a cancelled call can report what was written.
        progress = WriteProgress(total=len(rows), sink=hooks.progress, written_ids=hooks.written_ids)
        records: list[Record] = await self.directory.backend.create_records(table, rows, progress)
        return {"records": records}

    async def patch_record(self, args: PatchArgs, hooks: CallHooks) -> Payload:
        table = await self._table(args.table)
        self.directory.schemas(table).patch.check(
            {"recordId": args.record_id, "fields": args.fields}, f"Invalid fields for '{table.name}'", text_checked=True
        )
        backend = self.directory.backend
        if args.expected_version is not None:
            patcher = versioned_patcher(backend)
            return {"record": await patcher.patch_record_at(table, args.record_id, args.fields, args.expected_version)}
        return {"record": await backend.patch_record(table, args.record_id, args.fields)}

    async def upsert_records(self, args: UpsertArgs, hooks: CallHooks) -> Payload:
        table = await self._table(args.table)
        backend = self.directory.backend
        upserter = record_upserter(backend)
        key = upsert_key(table, args.key_field, backend.capabilities)
        rows = args.records
        self.directory.upsert_validator(table, key).check(
            {"records": rows}, f"Invalid records for '{table.name}'", text_checked=True
        )
        refuse_repeated_keys(key, rows)
        progress = WriteProgress(total=len(rows), sink=hooks.progress, written_ids=hooks.written_ids)
        done = await upserter.upsert_records(table, key, rows, progress)
        return {"created": done.created, "updated": done.updated}

    async def delete_records(self, args: DeleteArgs, hooks: CallHooks) -> Payload:
        table = await self._table(args.table)
        if hooks.confirm is not None and self.directory.options.confirm_deletes == "auto":
            await confirm_delete(self.directory.backend, table, args.record_ids, hooks.confirm)
        return {"deleted": await record_deleter(self.directory.backend).delete_records(table, args.record_ids)}

    async def create_table(self, args: CreateTableArgs, hooks: CallHooks) -> Payload:
        table = await table_editor(self.directory.backend).create_table(args.name, args.description, args.columns)
        await self.reload()
        return {"table": _table_shape(table)}

    async def add_columns(self, args: AddColumnsArgs, hooks: CallHooks) -> Payload:
        table = await self._table(args.table)
        table = await table_editor(self.directory.backend).add_columns(table, args.columns)
        await self.reload()
        return {"table": _table_shape(table)}


def upsert_key(table: Table, name: str, caps: Capabilities) -> Column:
    """The column upsertRecords matches on: a writable unique column of a type the backend can match on."""
    keys = [col.name for col in table.columns if col.unique and col.writable and col.type in caps.upsert_key_types]
    column = table.column(name)
    if column is not None and column.name in keys:
        return column
    if column is None:
        why = "is not a column"
    elif not column.unique:
        why = "is not a unique column"
    else:
        why = f"is a {column.type.value} column, which cannot be a key here"
    types = ", ".join(sorted(kind.value for kind in caps.upsert_key_types))
    hint = f'Pass a unique column as keyField: one with "unique": true in describeTable, of type {types}.'
    if not keys:
        hint += " This table has none" + ("; addColumns can add one with unique: true." if caps.create_table else ".")
    raise invalid_argument(
        f"keyField {bounded(name)} {why} of table '{table.name}'; nothing was written.",
        [FieldError("keyField", f"{bounded(name)} {why}", allowed=keys)],
        hint=hint,
    )


def refuse_repeated_keys(key: Column, rows: list[dict[str, Any]]) -> None:
    """Two records with one key value would both claim one record: refused before anything is written."""
    first: dict[str, int] = {}
    problems = []
    for index, row in enumerate(rows):
        value = row[key.name]
        same = int(value) if isinstance(value, float) and value.is_integer() else value  # 7 and 7.0 are one key
        text = json.dumps(same, ensure_ascii=False)
        if text in first:
            why = f"{bounded(value)} is also the key of records[{first[text]}]"
            problems.append(FieldError(key.name, why, record=index))
        else:
            first[text] = index
    if problems:
        raise invalid_argument("Some records repeat a key value; nothing was written.", problems)


def _table_shape(table: Table) -> dict[str, Any]:
    return {"id": table.id, "name": table.name, "columns": [c.to_public() for c in table.columns]}
