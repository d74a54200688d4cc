"""Record writes of the fake DingTalk Notable, shared by the API handlers and the test set-up helpers.

Each batch is checked whole before anything is stored, so a batch with one bad record writes nothing
(all-or-nothing is assumed: no source says what DingTalk does with a partly bad batch). Cells are keyed by
field name or id (the SDK's "key: id或者name"); an unknown key is ``invalidRequest.inputArgs.invalid``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import invalid_args, resource_not_found
from .model import FakeBase, FakeSheet, StoredRecord
from .values import InvalidValue, WriteContext, coerce

if TYPE_CHECKING:
    from .state import FakeDingTalk


def _cells(ctx: WriteContext, sheet: FakeSheet, raw: Any, index: int) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise invalid_args(f"records[{index}].fields must be an object")
    cells: dict[str, Any] = {}
    for key, value in raw.items():
        field = sheet.field(key)
        if field is None:
            raise invalid_args(f"records[{index}]: unknown field '{key}'")
        try:
            cells[field.id] = coerce(ctx, field, value)
        except InvalidValue as error:
            raise invalid_args(f"records[{index}]: invalid value for field '{field.name}': {error}") from None
    return cells


def _context(state: FakeDingTalk, base: FakeBase, *, allow_attachments: bool) -> WriteContext:
    return WriteContext(base, state.users, allow_attachments)


def insert_records(
    state: FakeDingTalk,
    base: FakeBase,
    sheet: FakeSheet,
    fields_list: Sequence[Any],
    operator: str,
    *,
    allow_attachments: bool = False,
) -> list[StoredRecord]:
    """Stores one record per ``fields`` map (write format); returns them in order."""
    ctx = _context(state, base, allow_attachments=allow_attachments)
    checked = [_cells(ctx, sheet, raw, index) for index, raw in enumerate(fields_list)]
    now = state.now_ms()
    stored = []
    for cells in checked:
        record = StoredRecord(
            state.new_id("rec"),
            sheet.next_seq,
            {field_id: value for field_id, value in cells.items() if value is not None},
            now,
            operator,
            now,
            operator,
        )
        sheet.next_seq += 1
        sheet.records[record.id] = record
        stored.append(record)
    return stored


def update_records(
    state: FakeDingTalk, base: FakeBase, sheet: FakeSheet, items: Sequence[tuple[str, Any]], operator: str
) -> list[StoredRecord]:
    """Merges each ``(record id, fields)``: named cells change, others stay; null clears a cell."""
    ctx = _context(state, base, allow_attachments=False)
    checked = [
        (_existing(sheet, record_id), _cells(ctx, sheet, raw, index)) for index, (record_id, raw) in enumerate(items)
    ]
    now = state.now_ms()
    for record, cells in checked:
        for field_id, value in cells.items():
            if value is None:
                record.values.pop(field_id, None)
            else:
                record.values[field_id] = value
        record.modified_time = now
        record.modified_by = operator
    return [record for record, _ in checked]


def delete_records(sheet: FakeSheet, record_ids: Sequence[str]) -> None:
    for record_id in record_ids:
        _existing(sheet, record_id)
    for record_id in record_ids:
        sheet.records.pop(record_id, None)


def _existing(sheet: FakeSheet, record_id: str) -> StoredRecord:
    record = sheet.records.get(record_id)
    if record is None:
        raise resource_not_found(f"record {record_id} not found in sheet {sheet.name}")
    return record
