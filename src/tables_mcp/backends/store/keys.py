"""Unique columns of the embedded store, on either engine: their indexes, and the checks that word a clash.

A write's values for unique columns are checked in the write's own transaction before it writes, so that a
duplicate is a `conflict` naming the column, the value and the record that holds it (the unique index stays
the last word against a concurrent writer); an upsert's new records are checked for required columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import ErrorCode, FieldError, TablesError, bounded, invalid_argument
from ...model import Column, Table
from .sql import encode_value, table_sql_name


def unique_index_sql(table_id: str, sql_name: str) -> str:
    return f'CREATE UNIQUE INDEX "u_{table_id}_{sql_name}" ON {table_sql_name(table_id)} ("{sql_name}")'


# One value a write puts into a unique column: (row index, value as sent, id of the record it lands in or 0).
UniqueValue = tuple[int, Any, int]


def unique_values(
    table: Table, rows: Sequence[dict[str, Any]], own_ids: Sequence[int] | None = None
) -> list[tuple[Column, list[UniqueValue]]]:
    """For each unique column the rows write: the non-empty values written into it ("" and null may repeat)."""
    out = []
    for column in table.columns:
        if not column.unique:
            continue
        values = [
            (index, row[column.name], own_ids[index] if own_ids else 0)
            for index, row in enumerate(rows)
            if row.get(column.name) not in (None, "")
        ]
        if values:
            out.append((column, values))
    return out


def repeated_in_batch(column: Column, values: list[UniqueValue], in_batch: bool) -> list[FieldError]:
    """Values sent twice in one call (compared in the store's canonical form: 1 and 1.0 are one number)."""
    first: dict[Any, int] = {}
    problems = []
    for index, value, _ in values:
        key = encode_value(column, value)
        if key in first:
            why = f"{bounded(value)} is also sent in records[{first[key]}]"
            problems.append(FieldError(column.name, why, record=index if in_batch else None))
        else:
            first[key] = index
    return problems


def taken_problem(column: Column, value: Any, index: int, holder: Any, in_batch: bool) -> FieldError:
    why = f"{bounded(value)} is already the value of record {holder}"
    return FieldError(column.name, why, record=index if in_batch else None)


def raise_missing_required(table: Table, rows: Sequence[dict[str, Any]], new: list[int]) -> None:
    """Upserted rows that create a record must hold its required columns (a patch needs none)."""
    required = [col for col in table.columns if col.required and col.writable]
    problems = [
        FieldError(col.name, "required column is missing (no record has this key, so one is created)", record=index)
        for index in new
        for col in required
        if rows[index].get(col.name) in (None, "", [])
    ]
    if problems:
        raise invalid_argument(
            "Some records create new records without their required columns; nothing was written.", problems
        )


def raise_unique_problems(problems: list[FieldError]) -> None:
    if not problems:
        return
    problems = sorted(problems, key=lambda fe: fe.record if fe.record is not None else -1)
    first = problems[0]
    more = f" ({len(problems)} values in all)" if len(problems) > 1 else ""
    raise TablesError(
        ErrorCode.CONFLICT,
        f"Column '{first.field}' is unique: {first.message}{more}; nothing was written.",
        field_errors=problems,
        hint="Send another value, or change that record instead (upsertRecords matches on a unique column).",
    )
