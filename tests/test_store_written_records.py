"""The records a create answers on SQLite are built from the values it bound, not read back: they must be,
field for field, what a read of the same records gives, for every column type and the values SQLite stores
differently from how they were sent (a whole-number REAL in a NUMERIC column becomes an INTEGER).

Driven through the tool layer, as an agent calls it: createRecords and upsertRecords answer records, and
listRecords and getRecord read them back from the file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pydantic_core
import pytest

from tables_mcp.backends.store.sqlite import SqliteStore
from tables_mcp.tools import Catalogue, ToolOptions

pytestmark = pytest.mark.anyio

COLUMNS: list[dict[str, Any]] = [
    {"name": "Key", "type": "TEXT", "unique": True},
    {"name": "Notes", "type": "LONGTEXT"},
    {"name": "Mail", "type": "EMAIL"},
    {"name": "Phone", "type": "PHONE"},
    {"name": "Site", "type": "URL"},
    {"name": "Amount", "type": "NUMBER"},
    {"name": "Done", "type": "BOOLEAN"},
    {"name": "Due", "type": "DATE"},
    {"name": "At", "type": "DATETIME"},
    {"name": "Time", "type": "TIME"},
    {"name": "Stage", "type": "SELECT", "options": ["a", "b"]},
    {"name": "Tags", "type": "MULTISELECT", "options": ["x", "y", "名前"]},
    {"name": "No", "type": "SERIAL"},
]

# Numbers SQLite keeps as sent and numbers it turns into integers, at and around the 64-bit bounds.
AMOUNTS: list[Any] = [5.0, -0.0, 0.1, -7, 2**62, 1e15, 1e20, 2.0**63, -(2.0**63), -(2.0**62), 123456789.5, 0]


def _rows(prefix: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for index, amount in enumerate(AMOUNTS):
        rows.append(
            {
                "Key": f"{prefix}{index}",
                "Notes": "línea\nδεύτερη 🎉" if index % 2 else "",
                "Mail": f"p{index}@example.com",
                "Phone": "+81 3-1234-5678",
                "Site": "https://example.com/a?b=c",
                "Amount": amount,
                "Done": index % 3 == 0,
                "Due": "2026-02-28",
                "At": "2026-12-01T09:30:00+09:00" if index % 2 else "2026-12-01T00:00:00Z",
                "Time": "10:30" if index % 2 else "23:59:59",
                "Stage": "b",
                "Tags": ["名前", "x"] if index % 2 else [],
            }
        )
    rows.append({"Key": f"{prefix}-sparse"})  # every other column left out: NULL, not in the record's fields
    return rows


@pytest.fixture
async def catalogue(tmp_path: Path) -> AsyncIterator[Catalogue]:
    store = SqliteStore(tmp_path / "written.db")
    await store.open()
    catalogue = Catalogue(store, ToolOptions())
    await catalogue.refresh(force=True)
    made = await catalogue.call("createTable", {"name": "Mixed", "columns": COLUMNS})
    assert not made.is_error, made.text
    yield catalogue
    await store.aclose()


def same(answered: dict[str, Any], read: dict[str, Any]) -> bool:
    """Equal as the agent sees them: the same JSON (5 and 5.0 are equal in Python, not on the wire)."""
    return bool(pydantic_core.to_json(answered) == pydantic_core.to_json(read))


async def _stored(catalogue: Catalogue) -> dict[str, Any]:
    listed = await catalogue.call("listRecords", {"table": "Mixed", "limit": 500})
    assert not listed.is_error, listed.text
    return {record["id"]: record for record in listed.payload["records"]}


async def test_created_records_are_what_a_read_gives(catalogue: Catalogue) -> None:
    first = await catalogue.call("createRecords", {"table": "Mixed", "records": _rows("a")})
    second = await catalogue.call("createRecords", {"table": "Mixed", "records": _rows("b")})  # ids and serials go on
    assert not first.is_error and not second.is_error, first.text + second.text
    created = first.payload["records"] + second.payload["records"]
    stored = await _stored(catalogue)
    assert [record["id"] for record in created] == sorted(stored, key=int)
    for record in created:
        assert same(record, stored[record["id"]])
        read = await catalogue.call("getRecord", {"table": "Mixed", "recordId": record["id"]})
        assert same(record, read.payload["record"])
    amounts = [record["fields"]["Amount"] for record in first.payload["records"][: len(AMOUNTS)]]
    assert [type(amount) for amount in amounts[:3]] == [int, int, float]  # 5.0 and -0.0 are stored as integers
    assert [record["fields"]["No"] for record in created] == list(range(1, len(created) + 1))
    assert created[len(AMOUNTS)]["fields"] == {"Key": "a-sparse", "No": len(AMOUNTS) + 1}


async def test_records_an_upsert_creates_are_what_a_read_gives(catalogue: Catalogue) -> None:
    await catalogue.call("createRecords", {"table": "Mixed", "records": _rows("a")[:2]})
    done = await catalogue.call("upsertRecords", {"table": "Mixed", "keyField": "Key", "records": _rows("a")})
    assert not done.is_error, done.text
    stored = await _stored(catalogue)
    created, updated = done.payload["created"], done.payload["updated"]
    assert len(created) == len(AMOUNTS) + 1 - 2 and len(updated) == 2
    for record in created + updated:
        assert same(record, stored[record["id"]])
