"""Onnie tables and records in memory: their JSON shapes and the create / replace / merge rules."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .columns import (
    COMPUTED_TYPES,
    READ_ONLY_TYPES,
    Column,
    FieldValueError,
    check_value,
    evaluate_formula,
    is_blank,
    iso_ms,
    read_only_message,
)
from .errors import OnnieError, validation_failed

WriteMode = Literal["create", "replace", "merge"]


@dataclass
class StoredRecord:
    """A record: ``values`` maps column name to the stored value of each writable or FILE column."""

    id: str
    seq: int  # creation order; list order and paging cursors follow it
    values: dict[str, Any]
    serial: int
    created_at: datetime
    updated_at: datetime


@dataclass
class View:
    id: str
    name: str
    view_type: str = "grid"
    settings: dict[str, Any] = field(default_factory=dict)
    is_default: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "view_type": self.view_type,
            "settings": self.settings,
            "is_default": self.is_default,
        }


@dataclass
class FakeTable:
    id: str
    alias_id: str
    name: str
    description: str
    project_id: str
    created_at: datetime
    updated_at: datetime
    columns: list[Column] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    records: dict[str, StoredRecord] = field(default_factory=dict)
    next_serial: int = 1

    def column(self, name: str) -> Column | None:
        return next((column for column in self.columns if column.name == name), None)

    def summary_json(self) -> dict[str, Any]:
        """The table as GET /tables lists it."""
        return {
            "id": self.id,
            "alias_id": self.alias_id,
            "name": self.name,
            "description": self.description,
            "project_id": self.project_id,
            "created_at": iso_ms(self.created_at),
            "updated_at": iso_ms(self.updated_at),
        }

    def detail_json(self) -> dict[str, Any]:
        """The table as GET /tables/{id} shows it: the summary plus columns and views."""
        columns = sorted(self.columns, key=lambda column: column.order_index)
        return {
            **self.summary_json(),
            "columns": [column.to_json() for column in columns],
            "views": [view.to_json() for view in self.views],
        }

    def ordered_records(self) -> list[StoredRecord]:
        return sorted(self.records.values(), key=lambda record: record.seq)


def field_values(table: FakeTable, record: StoredRecord) -> dict[str, Any]:
    """Every column's value, computed ones included; columns without a value are null."""
    values: dict[str, Any] = {}
    for column in sorted(table.columns, key=lambda column: column.order_index):
        if column.type == "SERIAL":
            values[column.name] = record.serial
        elif column.type == "FORMULA":
            values[column.name] = evaluate_formula(str(column.settings.get("expression", "")), record.values)
        elif column.type == "AI":
            values[column.name] = column.ai_value
        else:
            values[column.name] = record.values.get(column.name)
    return values


def render_record(table: FakeTable, record: StoredRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "fields": field_values(table, record),
        "created_at": iso_ms(record.created_at),
        "updated_at": iso_ms(record.updated_at),
    }


# --------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------


class Writer:
    """Checks and applies writes to one table; ``tables`` resolves REFERENCE targets."""

    def __init__(self, tables: Mapping[str, FakeTable], table: FakeTable, *, allow_files: bool = False) -> None:
        self.tables = tables
        self.table = table
        # The set-up helpers may store FILE metadata (existing files); the API never accepts it.
        self.allow_files = allow_files

    def record_exists(self, table_id: str, record_id: str) -> bool:
        target = self.tables.get(table_id)
        return target is not None and record_id in target.records

    def checked(self, raw: Any, mode: WriteMode) -> dict[str, Any]:
        """The values to store, or the 400 naming each offending column in ``details.fields``."""
        if not isinstance(raw, Mapping):
            raise OnnieError(400, "bad_request", "fields must be an object")
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name, value in raw.items():
            column = self.table.column(str(name))
            if column is None:
                errors[str(name)] = "Unknown column"
            elif column.type in COMPUTED_TYPES or (column.type == "FILE" and not self.allow_files):
                errors[column.name] = read_only_message(column)
            else:
                try:
                    values[column.name] = (
                        value if column.type == "FILE" else check_value(column, value, self.record_exists)
                    )
                except FieldValueError as error:
                    errors[column.name] = str(error)
        if mode == "create":
            self._apply_defaults(raw, values)
        self._check_required(values, mode, errors)
        if errors:
            raise validation_failed(errors)
        return values

    def _apply_defaults(self, raw: Mapping[str, Any], values: dict[str, Any]) -> None:
        for column in self.table.columns:
            if column.name not in raw and column.default_value is not None and column.type not in READ_ONLY_TYPES:
                values[column.name] = column.default_value

    def _check_required(self, values: dict[str, Any], mode: WriteMode, errors: dict[str, str]) -> None:
        for column in self.table.columns:
            if not column.required or column.name in errors:
                continue
            if (mode != "merge" or column.name in values) and is_blank(values.get(column.name)):
                errors[column.name] = "Required"

    def create(self, batch: Sequence[Any], now: datetime, first_seq: int) -> list[StoredRecord]:
        """All or nothing: the first invalid record fails the batch, ``details.index`` says which."""
        checked: list[dict[str, Any]] = []
        for index, raw in enumerate(batch):
            try:
                checked.append(self.checked(raw, "create"))
            except OnnieError as error:
                error.details["index"] = index
                raise
        created = []
        for offset, values in enumerate(checked):
            record = StoredRecord(_new_id(), first_seq + offset, values, self.table.next_serial, now, now)
            self.table.next_serial += 1
            self.table.records[record.id] = record
            created.append(record)
        return created

    def replace(self, record: StoredRecord, raw: Any, now: datetime) -> None:
        """PUT: every writable column takes the sent value or null; FILE metadata is kept (it cannot be sent)."""
        values = self.checked(raw, "replace")
        files = {column.name for column in self.table.columns if column.type == "FILE"}
        kept = {name: value for name, value in record.values.items() if name in files}
        record.values = {**kept, **values}
        record.updated_at = now

    def merge(self, record: StoredRecord, raw: Any, now: datetime) -> None:
        """PATCH: an atomic merge of the sent columns into the record."""
        record.values = {**record.values, **self.checked(raw, "merge")}
        record.updated_at = now


def _new_id() -> str:
    return str(uuid.uuid4())
