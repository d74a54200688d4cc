"""Column definitions -> JSON Schema for writes, patches and typed per-table filters.

Schemas are written to be small (agents pay for every byte of tools/list) and exact: required
columns required, options as enums, formats for emails, URLs and dates, computed and read-only
columns absent from writes, `additionalProperties: false` everywhere a column name is expected.
"""

from __future__ import annotations

from typing import Any

from .model import ALL_OPERATORS, OPERATORS_BY_TYPE, Capabilities, Column, ColumnType, Table

Schema = dict[str, Any]

TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$"
RECORD_ID_SCHEMA: Schema = {"type": ["string", "integer"]}
# Bounds of one listRecords call, the same on every backend (checked before any backend call; SQLite,
# PostgreSQL and the platforms' query languages each fail somewhere beyond them).
MAX_FILTER_DEPTH = 8  # levels of and/or nesting
MAX_FILTER_CONDITIONS = 100  # conditions in one filter (so also the items of one and/or group)
MAX_FILTER_VALUES = 1000  # values compared in one filter, each item of an `in` counting as one
MAX_FILTER_TEXT = 10_000  # characters of one compared text (SQLite's LIKE stops at 50,000 bytes)
MAX_SORT_KEYS = 10
MAX_FIELDS = 500  # names in `fields`

# What each format means in words, for error messages.
FORMAT_WORDS = {
    "email": "an email address like name@example.com",
    "uri": "an absolute URL like https://example.com/page",
    "date": "a date YYYY-MM-DD of the years 0001 to 9999",
    "date-time": "an RFC 3339 date-time like 2026-01-31T09:30:00Z, within the years 0001 to 9999 in UTC",
}


def value_schema(column: Column, *, nullable: bool = False) -> Schema:
    """The JSON Schema of one writable column's value."""
    schema = _base_value_schema(column)
    if nullable and not column.required:
        schema = _allow_null(schema)
    if column.description:
        schema["description"] = column.description
    return schema


def _base_value_schema(column: Column) -> Schema:
    kind = column.type
    if kind is ColumnType.USER and column.multiple:
        # One user, or several.
        return {"type": ["string", "array"], "items": {"type": "string"}}
    if kind in (ColumnType.TEXT, ColumnType.LONGTEXT, ColumnType.PHONE, ColumnType.USER):
        schema: Schema = {"type": "string"}
        if column.required:
            schema["minLength"] = 1  # "" is no value: Kintone refuses it, and so do we, before any write
        if column.max_length is not None:
            schema["maxLength"] = column.max_length
        return schema
    if kind is ColumnType.EMAIL:
        return {"type": "string", "format": "email"}
    if kind is ColumnType.URL:
        return {"type": "string", "format": "uri"}
    if kind is ColumnType.NUMBER:
        schema = {"type": "number"}
        if column.minimum is not None:
            schema["minimum"] = _plain_number(column.minimum)
        if column.maximum is not None:
            schema["maximum"] = _plain_number(column.maximum)
        return schema
    if kind is ColumnType.BOOLEAN:
        return {"type": "boolean"}
    if kind is ColumnType.DATE:
        return {"type": "string", "format": "date"}
    if kind is ColumnType.DATETIME:
        return {"type": "string", "format": "date-time"}
    if kind is ColumnType.TIME:
        return {"type": "string", "pattern": TIME_PATTERN}
    if kind is ColumnType.SELECT:
        return {"enum": list(column.options)} if column.options is not None else {"type": "string"}
    if kind is ColumnType.MULTISELECT:
        items: Schema = {"enum": list(column.options)} if column.options is not None else {"type": "string"}
        return {"type": "array", "items": items, "uniqueItems": True}
    if kind is ColumnType.REFERENCE:
        # One record id, or several.
        return {"type": ["string", "array"], "items": {"type": "string"}}
    if kind is ColumnType.FILE:
        return {"type": "array", "items": {"type": "object"}}
    if kind is ColumnType.SUBTABLE:
        return {"type": "array", "items": row_schema(column.subcolumns or ())}
    return {}


def _plain_number(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def _allow_null(schema: Schema) -> Schema:
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    if isinstance(kind, list):
        return {**schema, "type": [*kind, "null"]}
    return schema


def row_schema(columns: tuple[Column, ...] | list[Column], *, for_patch: bool = False) -> Schema:
    """An object with one property per writable column."""
    writable = [col for col in columns if col.writable]
    schema: Schema = {
        "type": "object",
        "properties": {col.name: value_schema(col, nullable=for_patch) for col in writable},
    }
    required = [col.name for col in writable if col.required]
    if for_patch:
        schema["minProperties"] = 1
    elif required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def create_schema(table: Table, caps: Capabilities) -> Schema:
    """Arguments of createRecords for one table (without `table`)."""
    return {
        "type": "object",
        "properties": {
            "records": {
                "type": "array",
                "minItems": 1,
                "maxItems": caps.max_create_batch,
                "items": row_schema(table.columns),
            }
        },
        "required": ["records"],
        "additionalProperties": False,
    }


def patch_schema(table: Table) -> Schema:
    """Arguments of patchRecord for one table (without `table`)."""
    return {
        "type": "object",
        "properties": {"recordId": RECORD_ID_SCHEMA, "fields": row_schema(table.columns, for_patch=True)},
        "required": ["recordId", "fields"],
        "additionalProperties": False,
    }


def upsert_schema(table: Table, key: Column, caps: Capabilities) -> Schema:
    """Arguments of upsertRecords for one table and key column (without `table`, `keyField`): patch rows that
    each carry a non-empty key value."""
    row = row_schema(table.columns, for_patch=True)
    key_value = value_schema(key)
    if key_value.get("type") == "string":
        key_value["minLength"] = 1  # "" is no value, and matches nothing
    row["properties"][key.name] = key_value
    row["required"] = [key.name]
    return {
        "type": "object",
        "properties": {"records": {"type": "array", "minItems": 1, "maxItems": caps.max_create_batch, "items": row}},
        "required": ["records"],
    }


def list_schema(table: Table, caps: Capabilities) -> Schema:
    """Arguments of listRecords for one table, with filters typed to its columns."""
    names = [col.name for col in table.columns]
    sortable = [col.name for col in table.columns if col.type in caps.sortable_types]
    schema = list_arguments_schema(caps, field_names=names, sortable=sortable)
    schema["properties"]["filter"] = {"$ref": "#/$defs/filter"}
    schema["$defs"] = {"filter": typed_filter_schema(table, caps)}
    return schema


def list_arguments_schema(
    caps: Capabilities, *, field_names: list[str] | None = None, sortable: list[str] | None = None
) -> Schema:
    """listRecords arguments; field names typed when the table is known."""
    name_schema: Schema = {"enum": field_names} if field_names is not None else {"type": "string"}
    sort_name: Schema = {"enum": sortable} if sortable is not None else {"type": "string"}
    return {
        "type": "object",
        "properties": {
            "filter": structural_filter_schema(),
            "sort": {
                "type": "array",
                "maxItems": MAX_SORT_KEYS,
                "items": {
                    "type": "object",
                    "properties": {"field": sort_name, "direction": {"enum": ["asc", "desc"]}},
                    "required": ["field"],
                    "additionalProperties": False,
                },
            },
            "fields": {"type": "array", "items": name_schema, "uniqueItems": True, "maxItems": MAX_FIELDS},
            "limit": {"type": "integer", "minimum": 1, "maximum": caps.max_page_size},
            "cursor": {"type": "string"},
        },
        "additionalProperties": False,
    }


def structural_filter_schema() -> Schema:
    """The shape of any filter: a condition or an and/or group (meaning is checked by `query`)."""
    return {
        "type": "object",
        "properties": {
            "field": {"type": "string"},
            "op": {"enum": list(ALL_OPERATORS)},
            "value": {},
            "and": {"type": "array"},
            "or": {"type": "array"},
        },
        "additionalProperties": False,
    }


def typed_filter_schema(table: Table, caps: Capabilities) -> Schema:
    """A per-table filter: conditions name real columns with the operators their type allows."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for col in table.columns:
        ops = operators_for(col, caps)
        if ops:
            groups.setdefault(ops, []).append(col.name)
    conditions: list[Schema] = [
        {
            "type": "object",
            "properties": {"field": {"enum": fields}, "op": {"enum": list(ops)}, "value": {}},
            "required": ["field", "op"],
            "additionalProperties": False,
        }
        for ops, fields in groups.items()
    ]
    group_item = {"type": "array", "items": {"$ref": "#/$defs/filter"}}
    conditions.append({"type": "object", "properties": {"and": group_item}, "required": ["and"]})
    conditions.append({"type": "object", "properties": {"or": group_item}, "required": ["or"]})
    return {"anyOf": conditions}


def operators_for(column: Column, caps: Capabilities) -> tuple[str, ...]:
    allowed = caps.operators.get(column.type, ())
    return tuple(op for op in OPERATORS_BY_TYPE.get(column.type, ()) if op in allowed)


def filter_value_schema(column: Column) -> Schema:
    """What a filter may compare a column with (computed columns included)."""
    if column.type is ColumnType.SERIAL:
        return {"type": "number"}
    if column.type in (ColumnType.FORMULA, ColumnType.AI, ColumnType.UNKNOWN):
        return {"type": ["string", "number", "boolean"]}
    if column.type is ColumnType.MULTISELECT:
        return _base_value_schema(column)["items"]  # type: ignore[no-any-return]
    if column.type in (ColumnType.REFERENCE, ColumnType.FILE, ColumnType.SUBTABLE):
        return {"type": "string"}
    return _base_value_schema(column)
