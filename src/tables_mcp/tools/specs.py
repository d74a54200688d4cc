"""What a tool is, and the name, description, hints and JSON Schema of each tool the catalogue offers.

Builders here take the backend's capabilities (and, for per-table tools, the table) plus the `Binder`
that turns a call's validated arguments into a run of its handler; the catalogue does the wiring.
Nothing here touches the backend or MCP types.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..aggregate import DEFAULT_GROUP_LIMIT, MAX_GROUP_BY, MAX_GROUP_LIMIT, MAX_METRICS, MAX_SCANNED_RECORDS, METRIC_OPS
from ..model import Capabilities, ProgressSink, Table
from ..schema import RECORD_ID_SCHEMA, Schema, list_arguments_schema, list_schema, structural_filter_schema
from ..validation import ArgumentValidator

ToolMode = Literal["auto", "generic", "per-table"]
ConfirmDeletes = Literal["never", "auto"]
Answer = Literal["accept", "decline", "cancel"]  # the user's answer to a question the client put to them
Confirm = Callable[[str], Awaitable[Answer]]
Payload = dict[str, Any]
MAX_IDS_PER_CALL = 1000
GENERIC_TOOLS = frozenset(
    {
        "listTables",
        "describeTable",
        "listRecords",
        "getRecord",
        "aggregateRecords",
        "createRecords",
        "patchRecord",
        "upsertRecords",
        "deleteRecords",
        "createTable",
        "addColumns",
    }
)


@dataclass
class ToolOptions:
    mode: ToolMode = "auto"
    per_table_limit: int = 10
    read_only: bool = False
    tables: tuple[str, ...] | None = None
    disabled_tools: tuple[str, ...] = ()
    schema_ttl: float = 2.0
    confirm_deletes: ConfirmDeletes = "auto"  # auto: ask the user before deleting, where the client can ask


@dataclass
class CallHooks:
    """What the transport offers a running call: progress notifications and log messages to the client, and
    a question to the user (`confirm`, None when the client cannot ask: MCP elicitation)."""

    progress: ProgressSink | None = None
    log: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None
    confirm: Confirm | None = None
    written_ids: list[str] = field(default_factory=list)  # filled by batch writes as parts commit


class AuditedArguments(Protocol):
    """What a write's audit line names from its validated arguments."""

    def audited_table(self) -> str | None: ...

    def audited_ids(self) -> list[str]: ...


@dataclass(frozen=True)
class BoundCall:
    """A call whose arguments are validated and typed: what it targets, and how to run it."""

    arguments: AuditedArguments
    run: Callable[[CallHooks], Awaitable[Payload]]


Binder = Callable[[dict[str, Any]], BoundCall]


@dataclass(frozen=True)
class Hints:
    read_only: bool
    destructive: bool
    idempotent: bool


READ = Hints(read_only=True, destructive=False, idempotent=True)
CREATE = Hints(read_only=False, destructive=False, idempotent=False)
PATCH = Hints(read_only=False, destructive=False, idempotent=True)
DELETE = Hints(read_only=False, destructive=True, idempotent=True)


@dataclass
class ToolSpec:
    name: str
    description: str
    input_schema: Schema
    hints: Hints
    bind: Binder
    validator: ArgumentValidator
    returns_data: bool = False
    table_id: str | None = None  # set on per-table tools


# -- generic tools -------------------------------------------------------------------------------


def _generic(
    name: str,
    description: str,
    properties: Schema,
    required: list[str],
    hints: Hints,
    bind: Binder,
    returns_data: bool = False,
    advertised: Schema | None = None,
) -> ToolSpec:
    """A generic tool; `advertised` is a leaner schema to show when the description carries the rest
    (arguments are always checked against the full one)."""
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    shown = {**schema, "properties": advertised} if advertised is not None else schema
    return ToolSpec(name, description, shown, hints, bind, ArgumentValidator(schema), returns_data)


def list_tables_tool(caps: Capabilities, bind: Binder) -> ToolSpec:
    # What the backend cannot do (or does its own way) is said here, where an agent starts planning.
    notes = caps.notes
    return _generic(
        "listTables",
        "List the tables you can use: id, name, description and column count. Start here; other tools take a "
        "table's id or name as `table`." + (" This backend: " + " ".join(notes) if notes else ""),
        {},
        [],
        READ,
        bind,
    )


def describe_table_tool(bind: Binder) -> ToolSpec:
    return _generic(
        "describeTable",
        "Describe a table: its columns (type, required, read-only, options, filter operators) and the JSON "
        "Schemas that createRecords and patchRecord accept for it.",
        {"table": TABLE_ARG},
        ["table"],
        READ,
        bind,
    )


def get_record_tool(bind: Binder) -> ToolSpec:
    return _generic(
        "getRecord",
        "Get one record by id: {id, fields, created_at, updated_at}.",
        {"table": TABLE_ARG, "recordId": RECORD_ID_SCHEMA},
        ["table", "recordId"],
        READ,
        bind,
        returns_data=True,
    )


def delete_records_tool(bind: Binder) -> ToolSpec:
    ids = {
        "type": "array",
        "items": RECORD_ID_SCHEMA,
        "minItems": 1,
        "maxItems": MAX_IDS_PER_CALL,
        "uniqueItems": True,
    }
    return _generic(
        "deleteRecords",
        "Delete records by id (1-1000 per call). If any id does not exist, nothing is deleted. The user may be "
        "asked to confirm first; a refusal is error `declined`.",
        {"table": TABLE_ARG, "recordIds": ids},
        ["table", "recordIds"],
        DELETE,
        bind,
    )


def list_records_tool(caps: Capabilities, bind: Binder) -> ToolSpec:
    props = {"table": TABLE_ARG, **list_arguments_schema(caps)["properties"]}
    return _generic(
        "listRecords",
        'List records of a table. filter: {"field","op","value"} or {"and"|"or": [filters]}; describeTable '
        "lists the ops each column allows. Pass nextCursor as cursor for the next page.",
        props,
        ["table"],
        READ,
        bind,
        returns_data=True,
    )


def aggregate_records_tool(caps: Capabilities, bind: Binder) -> ToolSpec:
    computed = "Done by the database." if caps.aggregate else f"Scans up to {MAX_SCANNED_RECORDS:,} records."
    metric = {
        "type": "object",
        "properties": {"op": {"enum": list(METRIC_OPS)}, "field": {"type": "string"}},
        "required": ["op"],
        "additionalProperties": False,
    }
    group_by: Schema = {"type": "array", "items": {"type": "string"}, "maxItems": MAX_GROUP_BY}
    props: Schema = {
        "table": TABLE_ARG,
        "filter": structural_filter_schema(),
        "groupBy": {**group_by, "uniqueItems": True},
        "metrics": {"type": "array", "items": metric, "minItems": 1, "maxItems": MAX_METRICS},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_GROUP_LIMIT},
    }
    # Advertised leaner: the filter is listRecords', and the description says the rest.
    lean_metric = {"properties": metric["properties"]}
    advertised: Schema = {
        **props,
        "filter": {"type": "object"},
        "groupBy": group_by,
        "metrics": {"type": "array", "items": lean_metric},
        "limit": {"type": "integer", "maximum": MAX_GROUP_LIMIT},
    }
    return _generic(
        "aggregateRecords",
        "Aggregates per groupBy key (none: one group, key {}); filter as in listRecords; metrics default "
        f"count, named count or op(field). Sorted by key, empty last; truncated past limit {DEFAULT_GROUP_LIMIT}. "
        + computed,
        props,
        ["table"],
        READ,
        bind,
        returns_data=True,
        advertised=advertised,
    )


def create_records_tool(caps: Capabilities, bind: Binder) -> ToolSpec:
    records = {"type": "array", "items": {"type": "object"}, "minItems": 1, "maxItems": caps.max_create_batch}
    return _generic(
        "createRecords",
        "Create records: [{column name: value}], each fitting the table's createSchema (describeTable). "
        + atomic_words(caps.atomic_create),
        {"table": TABLE_ARG, "records": records},
        ["table", "records"],
        CREATE,
        bind,
        returns_data=True,
    )


def patch_record_tool(caps: Capabilities, bind: Binder) -> ToolSpec:
    properties = {"table": TABLE_ARG, "recordId": RECORD_ID_SCHEMA, "fields": {"type": "object"}}
    # expectedVersion is always checked (a backend without versions refuses it by name), shown only where it works.
    checked = {**properties, **EXPECTED_VERSION}
    return _generic(
        "patchRecord",
        "Change some columns of one record; columns not sent keep their values; null clears an optional "
        "column. Values must fit the table's patchSchema (describeTable)." + (VERSION_WORDS if caps.versions else ""),
        checked,
        ["table", "recordId", "fields"],
        PATCH,
        bind,
        returns_data=True,
        advertised=checked if caps.versions else properties,
    )


def upsert_records_tool(caps: Capabilities, bind: Binder) -> ToolSpec:
    records = {"type": "array", "items": {"type": "object"}, "minItems": 1, "maxItems": caps.max_create_batch}
    return _generic(
        "upsertRecords",
        "Create or update records by keyField, a unique column (describeTable): a record whose key exists is "
        "patched (unsent columns kept), others are created; a repeat creates nothing. "
        + atomic_words(caps.atomic_upsert),
        {"table": TABLE_ARG, "keyField": {"type": "string"}, "records": records},
        ["table", "keyField", "records"],
        PATCH,  # the same call twice leaves the same records
        bind,
        returns_data=True,
    )


def create_table_tool(bind: Binder) -> ToolSpec:
    return _generic(
        "createTable",
        "Create a table in the embedded store. SELECT and MULTISELECT columns need options, REFERENCE "
        "columns a referenceTable; SERIAL numbers records automatically.",
        {"name": {"type": "string"}, "description": {"type": "string"}, "columns": COLUMNS_ARG},
        ["name", "columns"],
        CREATE,
        bind,
    )


def add_columns_tool(bind: Binder) -> ToolSpec:
    return _generic(
        "addColumns",
        "Add columns to a table of the embedded store; each column has the shape createTable takes.",
        {"table": TABLE_ARG, "columns": COLUMNS_ARG},
        ["table", "columns"],
        CREATE,
        bind,
        advertised={"table": TABLE_ARG, "columns": {"type": "array", "items": {"type": "object"}}},
    )


# -- per-table tools -----------------------------------------------------------------------------


def _about(table: Table) -> str:
    return f"table '{table.name}'" + (f" ({table.description})" if table.description else "")


def _per_table(
    name: str,
    description: str,
    schema: Schema,
    hints: Hints,
    bind: Binder,
    table: Table,
    validation: Schema | None = None,
) -> ToolSpec:
    validator = ArgumentValidator(validation or schema, table)
    # Every per-table tool answers with records, so its text carries the data notice.
    return ToolSpec(name, description, schema, hints, bind, validator, returns_data=True, table_id=table.id)


def table_create_records_tool(table: Table, slug: str, caps: Capabilities, schema: Schema, bind: Binder) -> ToolSpec:
    description = f"Create records in {_about(table)}. {atomic_words(caps.atomic_create)}"
    return _per_table(f"createRecords_{slug}", description, schema, CREATE, bind, table)


def table_list_records_tool(table: Table, slug: str, caps: Capabilities, bind: Binder) -> ToolSpec:
    description = f"List records of {_about(table)}. Page with cursor=nextCursor."
    schema = list_schema(table, caps)
    return _per_table(f"listRecords_{slug}", description, schema, READ, bind, table, list_arguments_schema(caps))


def table_patch_record_tool(table: Table, slug: str, caps: Capabilities, schema: Schema, bind: Binder) -> ToolSpec:
    description = f"Change some columns of one record of {_about(table)}; null clears a value."
    checked = {**schema, "properties": {**schema["properties"], **EXPECTED_VERSION}}
    shown = checked if caps.versions else schema
    description += VERSION_WORDS if caps.versions else ""
    return _per_table(f"patchRecord_{slug}", description, shown, PATCH, bind, table, checked)


def atomic_words(atomic: bool) -> str:
    if atomic:
        return "All-or-nothing."
    return "Not atomic: a failure lists the records written and not written."


# Optimistic concurrency: a patch may name the version of the record it read (records carry "version").
EXPECTED_VERSION: Schema = {"expectedVersion": {"type": "string"}}
VERSION_WORDS = " With expectedVersion (a record's version), nothing is written if it changed: conflict."

# Every tool that takes `table` accepts a table's id or its name (listTables says so once).
TABLE_ARG: Schema = {"type": "string"}
_COLUMN_TYPES = [
    "TEXT",
    "LONGTEXT",
    "EMAIL",
    "PHONE",
    "URL",
    "NUMBER",
    "BOOLEAN",
    "DATE",
    "DATETIME",
    "TIME",
    "SELECT",
    "MULTISELECT",
    "REFERENCE",
    "USER",
    "SERIAL",
]
COLUMNS_ARG: Schema = {
    "type": "array",
    "minItems": 1,
    "maxItems": 200,
    "items": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "type": {"enum": _COLUMN_TYPES},
            "required": {"type": "boolean"},
            "options": {"type": "array", "items": {"type": "string"}},
            "description": {"type": "string"},
            "referenceTable": {"type": "string"},
            "unique": {"type": "boolean"},
        },
        "required": ["name", "type"],
        "additionalProperties": False,
    },
}
