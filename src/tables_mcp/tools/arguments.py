"""The validated arguments of each tool as typed values, built once from a call's checked JSON.

`from_call` runs only after the tool's JSON Schema has accepted the arguments, so it reads them
without re-checking; a per-table tool passes its own table instead of a `table` argument. Each
class also says what a write's audit line names (its table, the record ids it asked for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model import ColumnSpec
from ..schema import Schema


class _NoTargets:
    def audited_table(self) -> str | None:
        return None

    def audited_ids(self) -> list[str]:
        return []


@dataclass(frozen=True)
class NoArgs(_NoTargets):
    @classmethod
    def from_call(cls, raw: dict[str, Any]) -> NoArgs:
        return cls()


@dataclass(frozen=True)
class TableArgs(_NoTargets):
    """Arguments that name a table (by id or name, as the agent sent it)."""

    table: str

    def audited_table(self) -> str | None:
        return self.table

    @classmethod
    def from_call(cls, raw: dict[str, Any], table: str) -> TableArgs:
        return cls(table)


@dataclass(frozen=True)
class ListArgs(TableArgs):
    filter: Any  # checked for meaning against the table by `query`
    sort: list[dict[str, str]] | None
    fields: list[str] | None
    limit: int | None
    cursor: str | None

    @classmethod
    def from_call(cls, raw: dict[str, Any], table: str) -> ListArgs:
        return cls(table, raw.get("filter"), raw.get("sort"), raw.get("fields"), raw.get("limit"), raw.get("cursor"))

    def query_arguments(self) -> dict[str, Any]:
        """The shape `build_list_query` reads."""
        return {
            "filter": self.filter,
            "sort": self.sort,
            "fields": self.fields,
            "limit": self.limit,
            "cursor": self.cursor,
        }


@dataclass(frozen=True)
class GetArgs(TableArgs):
    record_id: str

    @classmethod
    def from_call(cls, raw: dict[str, Any], table: str) -> GetArgs:
        return cls(table, str(raw["recordId"]))


@dataclass(frozen=True)
class AggregateArgs(TableArgs):
    filter: Any  # checked for meaning against the table by `query`, as listRecords' filter
    group_by: list[str] | None
    metrics: list[dict[str, Any]] | None
    limit: int | None

    @classmethod
    def from_call(cls, raw: dict[str, Any], table: str) -> AggregateArgs:
        return cls(table, raw.get("filter"), raw.get("groupBy"), raw.get("metrics"), raw.get("limit"))


@dataclass(frozen=True)
class CreateArgs(TableArgs):
    records: list[dict[str, Any]]
    # The table's create schema when the tool's own schema was it (a per-table tool): the records passed it.
    checked_against: Schema | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_call(cls, raw: dict[str, Any], table: str, checked_against: Schema | None = None) -> CreateArgs:
        return cls(table, raw["records"], checked_against)


@dataclass(frozen=True)
class PatchArgs(TableArgs):
    record_id: str
    fields: dict[str, Any]
    expected_version: str | None = None  # write only if the record is still at this version

    def audited_ids(self) -> list[str]:
        return [self.record_id]

    @classmethod
    def from_call(cls, raw: dict[str, Any], table: str) -> PatchArgs:
        return cls(table, str(raw["recordId"]), raw["fields"], raw.get("expectedVersion"))


@dataclass(frozen=True)
class UpsertArgs(TableArgs):
    key_field: str
    records: list[dict[str, Any]]

    @classmethod
    def from_call(cls, raw: dict[str, Any], table: str) -> UpsertArgs:
        return cls(table, raw["keyField"], raw["records"])


@dataclass(frozen=True)
class DeleteArgs(TableArgs):
    record_ids: list[str]

    def audited_ids(self) -> list[str]:
        return list(self.record_ids)

    @classmethod
    def from_call(cls, raw: dict[str, Any], table: str) -> DeleteArgs:
        return cls(table, [str(i) for i in raw["recordIds"]])


@dataclass(frozen=True)
class CreateTableArgs(_NoTargets):
    name: str
    description: str | None
    columns: list[ColumnSpec]

    @classmethod
    def from_call(cls, raw: dict[str, Any]) -> CreateTableArgs:
        return cls(raw["name"], raw.get("description"), column_specs(raw))


@dataclass(frozen=True)
class AddColumnsArgs(TableArgs):
    columns: list[ColumnSpec]

    @classmethod
    def from_call(cls, raw: dict[str, Any], table: str) -> AddColumnsArgs:
        return cls(table, column_specs(raw))


def column_specs(raw: dict[str, Any]) -> list[ColumnSpec]:
    return [
        ColumnSpec(
            name=col["name"],
            type=col["type"],
            required=col.get("required", False),
            options=tuple(col["options"]) if "options" in col else None,
            description=col.get("description"),
            reference_table=col.get("referenceTable"),
            unique=col.get("unique", False),
        )
        for col in raw["columns"]
    ]
