"""DingTalk sheets and fields as canonical tables and columns (BACKENDS.md Part 2 §1.5, §3b).

Every field becomes a column; none is dropped. Field types the adapter knows how to write are
writable; computed and system fields (formula, creator, lastModifier, createdTime, lastModifiedTime)
and attachments (DingTalk needs an upload flow) are read-only; a type not listed here is UNKNOWN,
read-only, its value shown as DingTalk sends it. DingTalk has no "required" flag on fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...model import Column, ColumnType, Table

FIELD_TYPES: dict[str, ColumnType] = {
    "text": ColumnType.TEXT,
    "email": ColumnType.EMAIL,
    "telephone": ColumnType.PHONE,
    "number": ColumnType.NUMBER,
    "currency": ColumnType.NUMBER,
    "progress": ColumnType.NUMBER,
    "rating": ColumnType.NUMBER,
    "singleSelect": ColumnType.SELECT,
    "multipleSelect": ColumnType.MULTISELECT,
    "date": ColumnType.DATE,  # or DATETIME, by the date formatter
    "checkbox": ColumnType.BOOLEAN,
    "user": ColumnType.USER,
    "department": ColumnType.USER,
    "creator": ColumnType.USER,
    "lastModifier": ColumnType.USER,
    "createdTime": ColumnType.DATETIME,
    "lastModifiedTime": ColumnType.DATETIME,
    "unidirectionalLink": ColumnType.REFERENCE,
    "bidirectionalLink": ColumnType.REFERENCE,
    "url": ColumnType.URL,
    "attachment": ColumnType.FILE,
    "formula": ColumnType.FORMULA,
}
# Write shapes documented (S4) or obvious (plain strings for email and telephone, assumed).
WRITABLE_TYPES = frozenset(
    {
        "text",
        "email",
        "telephone",
        "number",
        "currency",
        "singleSelect",
        "multipleSelect",
        "date",
        "checkbox",
        "user",
        "department",
        "unidirectionalLink",
        "bidirectionalLink",
        "url",
    }
)
SELECT_TYPES = frozenset({"singleSelect", "multipleSelect"})
LINK_TYPES = frozenset({"unidirectionalLink", "bidirectionalLink"})
ENTITY_KEYS = {"user": "unionId", "department": "deptId", "creator": "unionId", "lastModifier": "unionId"}
# Date formatters without a time of day: such a field holds days.
DAY_FORMATTERS = frozenset({"YYYY-MM-DD", "YYYY/MM/DD"})


def table_from_sheet(sheet: Mapping[str, Any], fields: Sequence[Mapping[str, Any]]) -> Table:
    columns = [column_from_field(field) for field in fields]
    return Table(id=str(sheet["id"]), name=str(sheet["name"]), columns=tuple(columns))


def column_from_field(field: Mapping[str, Any]) -> Column:
    native = str(field.get("type") or "unknown")
    prop = field.get("property") if isinstance(field.get("property"), dict) else {}
    assert isinstance(prop, dict)
    kind = FIELD_TYPES.get(native, ColumnType.UNKNOWN)
    if native == "date" and prop.get("formatter") not in DAY_FORMATTERS:
        kind = ColumnType.DATETIME  # a time of day may be held: never cut it off
    return Column(
        name=str(field["name"]),
        type=kind,
        native_type=native,
        read_only=native not in WRITABLE_TYPES,
        options=_options(prop) if native in SELECT_TYPES else None,
        reference_table=str(prop["linkedSheetId"]) if native in LINK_TYPES and prop.get("linkedSheetId") else None,
        multiple=native in LINK_TYPES | {"user", "department"} and prop.get("multiple", True) is not False,
        description=_describe(native, prop),
    )


def _options(prop: Mapping[str, Any]) -> tuple[str, ...]:
    choices = prop.get("choices")
    if not isinstance(choices, list):
        return ()
    names = [choice.get("name") if isinstance(choice, dict) else choice for choice in choices]
    return tuple(dict.fromkeys(name for name in names if isinstance(name, str) and name))


def _describe(native: str, prop: Mapping[str, Any]) -> str | None:
    words = {
        "currency": "currency amount",
        "department": "department ids (deptId)",
        "user": "user unionIds",
        "creator": "creator's unionId",
        "lastModifier": "last editor's unionId",
        "progress": "progress",
        "rating": "rating",
        "attachment": "attachments (read-only: DingTalk needs an upload flow)",
    }
    parts = [words[native]] if native in words else []
    if native in LINK_TYPES:
        parts.append(f"record ids of table {prop.get('linkedSheetId', '?')}")
    if native not in FIELD_TYPES:
        parts.append(f"DingTalk field type '{native}', shown as DingTalk sends it")
    return "; ".join(parts) or None
