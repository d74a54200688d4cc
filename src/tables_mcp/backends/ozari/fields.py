"""Ozari tables and fields as canonical tables and columns.

A table is one entry of Get Tables: its internal name is both the table id and its name (the source of
tool names, always ASCII), and its label in OZARI_LANG is the description, unchanged (labels are usually
Hebrew). Its columns are `fid` (the auto-increment primary key, the record id: read-only SERIAL), then the
fields Get Fields lists, in their form order. Ozari publishes no types, so a field is TEXT unless
OZARI_COLUMN_TYPES types it; its label is its description. Names that do not match the platform's own
`^[A-Za-z0-9_]+$` could never be sent back, so they are left out (with a warning) rather than offered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...model import Column, ColumnType, Table
from .settings import NAME_PATTERN

log = logging.getLogger("tables_mcp.backends.ozari")

PRIMARY_KEY = "fid"
MODIFIED_COLUMN = "flastmodify"  # kept by the database for change polling; not listed by Get Fields
UNTYPED = "untyped"


@dataclass(frozen=True)
class TableEntry:
    name: str
    label: str | None


def table_entries(raw: list[Any]) -> list[TableEntry]:
    """Get Tables' entries whose names can be used, in the platform's order."""
    entries: list[TableEntry] = []
    seen: set[str] = set()
    for item in raw:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name in seen:
            log.warning("Ozari table %r is left out: its name cannot be used in a request", name)
            continue
        seen.add(name)
        entries.append(TableEntry(name, _label(item.get("label"), name)))
    return entries


def build_table(entry: TableEntry, raw_fields: list[Any], types: Mapping[tuple[str, str], ColumnType]) -> Table:
    columns = [primary_key_column()]
    seen = {PRIMARY_KEY}
    for item in raw_fields:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name in seen:
            if name != PRIMARY_KEY:
                log.warning("Ozari field %r of table %s is left out: its name cannot be used", name, entry.name)
            continue
        seen.add(name)
        kind = types.get((entry.name, name), ColumnType.TEXT)
        columns.append(Column(name=name, type=kind, native_type=UNTYPED, description=_label(item.get("label"), name)))
    return Table(id=entry.name, name=entry.name, description=entry.label, columns=tuple(columns))


def primary_key_column() -> Column:
    return Column(
        name=PRIMARY_KEY,
        type=ColumnType.SERIAL,
        native_type="primary key",
        read_only=True,
        description="The record id: Ozari's auto-increment primary key, set by Ozari.",
    )


def _label(raw: Any, name: str) -> str | None:
    """A label as the platform wrote it; None when it only repeats the name (Ozari's fallback) or is blank."""
    if not isinstance(raw, str) or not raw.strip() or raw == name:
        return None
    return raw


def unknown_configured_columns(tables: list[Table], types: Mapping[tuple[str, str], ColumnType]) -> list[str]:
    """OZARI_COLUMN_TYPES entries naming no column that exists: a setting that would silently do nothing."""
    known = {(table.id, column.name) for table in tables for column in table.columns}
    return [f"{table}.{field}" for table, field in types if (table, field) not in known]
