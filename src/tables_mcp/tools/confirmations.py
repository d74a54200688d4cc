"""Asking the user before records are deleted: the question (how many records of which table, a short
preview of them) and what each answer means.

The question goes through the `confirm` call hook, which the server implements with MCP elicitation;
this module knows nothing of MCP. Only an explicit yes lets the delete run: a refusal, a dismissal or
a question the client could not show deletes nothing.
"""

from __future__ import annotations

import re

from ..backends.base import Backend
from ..errors import ErrorCode, TablesError
from ..model import ColumnType, Record, Table
from .specs import Confirm

PREVIEW_RECORDS = 5
MAX_PREVIEW_CHARS = 60  # each value the question quotes (a table name, an id, a record's text)
# The column that says what a record is: the first one of the earliest type in this list.
_LABEL_TYPES = (ColumnType.TEXT, ColumnType.LONGTEXT, ColumnType.EMAIL, ColumnType.URL, ColumnType.PHONE)
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


async def confirm_delete(backend: Backend, table: Table, record_ids: list[str], confirm: Confirm) -> None:
    """Ask the user to confirm deleting these records; raise `declined` unless they say yes.

    The preview reads the first records; one that does not exist fails the call here, before the user
    is asked about a delete that could not run (nothing is deleted)."""
    preview = [await backend.get_record(table, record_id) for record_id in record_ids[:PREVIEW_RECORDS]]
    answer = await confirm(delete_question(table, record_ids, preview))
    if answer == "accept":
        return
    what = "declined" if answer == "decline" else "dismissed the question about"
    raise TablesError(
        ErrorCode.DECLINED,
        f"The user {what} deleting {_count(len(record_ids))} of table {_quoted(table.name)}; nothing was deleted.",
    )


def delete_question(table: Table, record_ids: list[str], preview: list[Record]) -> str:
    label = _label_column(table)
    lines = [f"Delete {_count(len(record_ids))} of table {_quoted(table.name)}? This cannot be undone."]
    for record in preview:
        text = _shown(record["fields"].get(label)) if label is not None else ""
        lines.append(f"- {_shown(record['id'])}" + (f": {text}" if text else ""))
    if len(record_ids) > len(preview):
        lines.append(f"... and {len(record_ids) - len(preview)} more.")
    return "\n".join(lines)


def _label_column(table: Table) -> str | None:
    for kind in _LABEL_TYPES:
        for column in table.columns:
            if column.type is kind:
                return column.name
    return None


def _count(n: int) -> str:
    return f"{n} record" + ("" if n == 1 else "s")


def _quoted(name: str) -> str:
    return f"'{_shown(name)}'"


def _shown(value: object) -> str:
    """A value as one short line: control characters and line breaks become spaces, the rest is cut."""
    if value is None:
        return ""
    text = _UNPRINTABLE.sub(" ", str(value)).strip()
    return text if len(text) <= MAX_PREVIEW_CHARS else text[: MAX_PREVIEW_CHARS - 3].rstrip() + "..."
