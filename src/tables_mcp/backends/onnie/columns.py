"""Onnie tables and columns as canonical `Table`s: the 15 column types, options, references, required.

Column JSON (GET /tables/{id}): `{"id", "name", "description", "type", "settings", "order_index",
"required", "default_value", "is_primary"}`. What `settings` holds per type is not published; read
tolerantly: options as `{"options": [{"name"}]}` or plain strings, references as
`{"target_table_id", "multiple"}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ...model import Column, ColumnType, Table

COLUMN_TYPES: dict[str, ColumnType] = {
    "TEXT": ColumnType.TEXT,
    "LONGTEXT": ColumnType.LONGTEXT,
    "EMAIL": ColumnType.EMAIL,
    "PHONE": ColumnType.PHONE,
    "URL": ColumnType.URL,
    "NUMBER": ColumnType.NUMBER,
    "BOOLEAN": ColumnType.BOOLEAN,
    "DATETIME": ColumnType.DATETIME,
    "SELECT": ColumnType.SELECT,
    "MULTISELECT": ColumnType.MULTISELECT,
    "REFERENCE": ColumnType.REFERENCE,
    "FILE": ColumnType.FILE,
    "FORMULA": ColumnType.FORMULA,
    "AI": ColumnType.AI,
    "SERIAL": ColumnType.SERIAL,
}
# Returned, never accepted on writes (FORMULA, AI, SERIAL are computed; FILE is read-only in v1).
READ_ONLY_TYPES = frozenset({ColumnType.FILE, ColumnType.FORMULA, ColumnType.AI, ColumnType.SERIAL})


def table_from_json(detail: Mapping[str, Any]) -> Table:
    """A table from GET /tables/{id} (the summary fields plus `columns`)."""
    raw_columns = [col for col in detail.get("columns") or [] if isinstance(col, Mapping) and col.get("name")]
    raw_columns.sort(key=_position)
    return Table(
        id=str(detail["id"]),
        name=str(detail.get("name") or detail["id"]),
        description=_text(detail.get("description")),
        columns=tuple(column_from_json(col) for col in raw_columns),
    )


def _position(column: Mapping[str, Any]) -> tuple[int, int]:
    index = column.get("order_index")
    return (0, index) if isinstance(index, int) and not isinstance(index, bool) else (1, 0)


def column_from_json(raw: Mapping[str, Any]) -> Column:
    native = str(raw.get("type") or "").upper()
    kind = COLUMN_TYPES.get(native, ColumnType.UNKNOWN)
    settings = _mapping(raw.get("settings"))
    read_only = kind in READ_ONLY_TYPES or kind is ColumnType.UNKNOWN
    default = raw.get("default_value")
    # Onnie fills a required column's default when it is left out of a create, so it need not be sent.
    required = bool(raw.get("required")) and not read_only and default is None
    target = settings.get("target_table_id") if kind is ColumnType.REFERENCE else None
    return Column(
        name=str(raw["name"]),
        type=kind,
        native_type=native or "UNKNOWN",
        required=required,
        read_only=read_only,
        options=_options(settings) if kind in (ColumnType.SELECT, ColumnType.MULTISELECT) else None,
        description=_describe(raw, kind, default),
        reference_table=str(target) if target else None,
        multiple=kind is ColumnType.REFERENCE and bool(settings.get("multiple")),
    )


def _options(settings: Mapping[str, Any]) -> tuple[str, ...]:
    raw = settings.get("options")
    names: list[str] = []
    for option in raw if isinstance(raw, Sequence) and not isinstance(raw, str) else []:
        name = option.get("name", option.get("label")) if isinstance(option, Mapping) else option
        if isinstance(name, str | int | float) and not isinstance(name, bool) and str(name) not in names:
            names.append(str(name))
    return tuple(names)


def _describe(raw: Mapping[str, Any], kind: ColumnType, default: Any) -> str | None:
    parts = [text] if (text := _text(raw.get("description"))) else []
    if default is not None and kind not in READ_ONLY_TYPES:
        shown = json.dumps(default, ensure_ascii=False)
        parts.append(f"Default {shown} when left out of a create" + (" (required)" if raw.get("required") else ""))
    if kind is ColumnType.UNKNOWN:
        parts.append(f"Onnie column type {raw.get('type')!r} is not known to tables-mcp: shown read-only")
    return "; ".join(parts) or None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
