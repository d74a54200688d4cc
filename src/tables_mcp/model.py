"""The canonical table model every backend translates to: tables, typed columns, records, queries.

Records are plain dicts of the one shape agents see, `{"id", "fields", "created_at", "updated_at"}` (plus
an opaque `"version"` string where the backend keeps versions, `Capabilities.versions`), because they
cross the hot path thousands at a time; everything else is a pydantic model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Record = dict[str, Any]


class ColumnType(StrEnum):
    TEXT = "TEXT"
    LONGTEXT = "LONGTEXT"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    URL = "URL"
    NUMBER = "NUMBER"
    BOOLEAN = "BOOLEAN"
    DATE = "DATE"
    DATETIME = "DATETIME"
    TIME = "TIME"
    SELECT = "SELECT"
    MULTISELECT = "MULTISELECT"
    REFERENCE = "REFERENCE"
    USER = "USER"
    FILE = "FILE"
    FORMULA = "FORMULA"
    AI = "AI"
    SERIAL = "SERIAL"
    SUBTABLE = "SUBTABLE"
    UNKNOWN = "UNKNOWN"


# Types whose values the platform computes: never accepted in writes.
COMPUTED_TYPES = frozenset({ColumnType.FORMULA, ColumnType.AI, ColumnType.SERIAL, ColumnType.UNKNOWN})

_TEXTUAL = ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty")
_ORDERED = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "isEmpty", "isNotEmpty")
_PRESENCE = ("isEmpty", "isNotEmpty")

# Filter operators that make sense for each column type (a backend may support fewer).
OPERATORS_BY_TYPE: dict[ColumnType, tuple[str, ...]] = {
    ColumnType.TEXT: _TEXTUAL,
    ColumnType.LONGTEXT: _TEXTUAL,
    ColumnType.EMAIL: _TEXTUAL,
    ColumnType.PHONE: _TEXTUAL,
    ColumnType.URL: _TEXTUAL,
    ColumnType.USER: _TEXTUAL,
    ColumnType.NUMBER: _ORDERED,
    ColumnType.SERIAL: _ORDERED,
    ColumnType.DATE: _ORDERED,
    ColumnType.DATETIME: _ORDERED,
    ColumnType.TIME: _ORDERED,
    ColumnType.SELECT: ("eq", "ne", "in", "isEmpty", "isNotEmpty"),
    ColumnType.MULTISELECT: ("contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.BOOLEAN: ("eq", "ne"),
    ColumnType.REFERENCE: ("contains", "isEmpty", "isNotEmpty"),
    ColumnType.FORMULA: _TEXTUAL,
    ColumnType.AI: _TEXTUAL,
    ColumnType.FILE: _PRESENCE,
    ColumnType.SUBTABLE: _PRESENCE,
    ColumnType.UNKNOWN: _PRESENCE,
}

ALL_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "contains", "in", "isEmpty", "isNotEmpty")

# Types that can be ordered by in listRecords.
SORTABLE_TYPES = frozenset(
    {
        ColumnType.TEXT,
        ColumnType.EMAIL,
        ColumnType.PHONE,
        ColumnType.URL,
        ColumnType.USER,
        ColumnType.NUMBER,
        ColumnType.SERIAL,
        ColumnType.DATE,
        ColumnType.DATETIME,
        ColumnType.TIME,
        ColumnType.SELECT,
        ColumnType.BOOLEAN,
        ColumnType.FORMULA,
    }
)


class Column(BaseModel):
    """One column of a table, as the platform defines it."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: ColumnType
    native_type: str
    required: bool = False
    read_only: bool = False
    options: tuple[str, ...] | None = None
    description: str | None = None
    reference_table: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    multiple: bool = False  # USER / REFERENCE columns that hold several values
    unique: bool = False  # no two records hold the same non-empty value
    subcolumns: tuple[Column, ...] | None = None

    @property
    def writable(self) -> bool:
        return not self.read_only and self.type not in COMPUTED_TYPES

    def to_public(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type.value,
            "nativeType": self.native_type,
            "required": self.required,
            "readOnly": not self.writable,
        }
        if self.options is not None:
            out["options"] = list(self.options)
        if self.description:
            out["description"] = self.description
        if self.reference_table:
            out["referenceTable"] = self.reference_table
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        if self.multiple:
            out["multiple"] = True
        if self.unique:
            out["unique"] = True
        if self.subcolumns is not None:
            out["columns"] = [sub.to_public() for sub in self.subcolumns]
        return out


class Table(BaseModel):
    """A table and its columns."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str | None = None
    columns: tuple[Column, ...] = ()

    def column(self, name: str) -> Column | None:
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Column]:
        # Looked up for every value of every record written: a dict, not a scan.
        return {col.name: col for col in self.columns}

    @property
    def writable_columns(self) -> tuple[Column, ...]:
        return tuple(col for col in self.columns if col.writable)


class ColumnSpec(BaseModel):
    """A column the agent asks the embedded store to create."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: ColumnType
    required: bool = False
    options: tuple[str, ...] | None = None
    description: str | None = None
    reference_table: str | None = None
    unique: bool = False


# -- queries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    column: Column
    op: str
    value: Any = None


@dataclass(frozen=True)
class BoolGroup:
    kind: Literal["and", "or"]
    items: tuple[FilterNode, ...]


FilterNode = Condition | BoolGroup


@dataclass(frozen=True)
class SortKey:
    column: Column
    descending: bool = False


@dataclass(frozen=True)
class ListQuery:
    """A validated listRecords request, in column objects rather than names."""

    filter: FilterNode | None = None
    sort: tuple[SortKey, ...] = ()
    fields: tuple[str, ...] | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass
class Page:
    records: list[Record]
    next_cursor: str | None = None
    total_count: int | None = None


@dataclass
class Upserted:
    """What an upsert did: the records it created and those it updated, each in input order."""

    created: list[Record]
    updated: list[Record]


ProgressSink = Callable[[int, int, str], Awaitable[None]]


@dataclass
class WriteProgress:
    """What a batch write has committed so far; backends report each committed part as it lands.

    If the call is cancelled, `written_ids` says exactly which records were written.
    """

    total: int
    sink: ProgressSink | None = None
    written_ids: list[str] = field(default_factory=list)

    async def wrote(self, record_ids: list[str]) -> None:
        self.written_ids.extend(record_ids)
        if self.sink is not None:
            done = len(self.written_ids)
            await self.sink(done, self.total, f"{done} of {self.total} records written")


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; tools and descriptions follow it."""

    create_table: bool = False
    aggregate: bool = False  # aggregates where the records are kept (RecordAggregator); else tables-mcp scans
    delete: bool = True
    patch: bool = True
    versions: bool = False  # records carry "version"; patches may name the version they expect
    upsert: bool = False  # upsertRecords: match records on a unique key column
    upsert_key_types: frozenset[ColumnType] = frozenset()  # the types a unique column needs to be that key
    atomic_create: bool = True
    atomic_upsert: bool = True  # upsertRecords of max_create_batch records is all or nothing
    max_create_batch: int = 1000
    max_page_size: int = 500
    operators: dict[ColumnType, tuple[str, ...]] = field(default_factory=lambda: dict(OPERATORS_BY_TYPE))
    sortable_types: frozenset[ColumnType] = SORTABLE_TYPES
    notes: tuple[str, ...] = ()
