"""getRecord on SQLite, and a listRecords page by id alone, read on the event loop through their own read-only
connection: they see what is committed without waiting for a writer, and when SQLite says busy all the same they
read again in the worker thread, on the connection that waits for locks, never on the loop. A page with a filter
or a sort, which may read the whole table, is read in the worker thread."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from tables_mcp.backends.store.sqlite import SqliteStore
from tables_mcp.errors import ErrorCode, TablesError
from tables_mcp.model import ColumnSpec, ColumnType, Condition, ListQuery, SortKey, Table

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(db_path)
    await store.open()
    yield store
    await store.aclose()


async def _table_with_one_record(store: SqliteStore) -> Table:
    table = await store.create_table("Notes", None, [ColumnSpec(name="Text", type=ColumnType.TEXT)])
    await store.create_records(table, [{"Text": "committed"}])
    return table


async def test_point_read_sees_the_committed_record_while_another_writer_holds_the_lock(
    store: SqliteStore, db_path: Path
) -> None:
    table = await _table_with_one_record(store)
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute(f'UPDATE "t_{table.id}" SET c0 = ? WHERE id = 1', ("uncommitted",))
        record = await store.get_record(table, "1")  # on the loop; waiting for the lock would end unavailable
        assert record["fields"] == {"Text": "committed"}
        other.execute("COMMIT")
        assert (await store.get_record(table, "1"))["fields"] == {"Text": "uncommitted"}
    finally:
        other.close()


class _BusyReader:
    """A read connection to which SQLite answers busy (a WAL being recovered, a file kept out of WAL mode)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def execute(self, *args: object) -> None:
        raise sqlite3.OperationalError(self.message)

    def close(self) -> None:
        pass


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every call run in a worker thread."""
    seen: list[object] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return seen


async def test_a_page_by_id_is_read_on_the_loop_and_sees_what_is_committed(
    store: SqliteStore, db_path: Path, hops: list[object]
) -> None:
    table = await _table_with_one_record(store)
    await store.create_records(table, [{"Text": f"more {i}"} for i in range(4)])
    hops.clear()
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute(f'UPDATE "t_{table.id}" SET c0 = ? WHERE id = 1', ("uncommitted",))
        first = await store.list_records(table, ListQuery(limit=2))
        second = await store.list_records(table, ListQuery(limit=2, cursor=first.next_cursor))
        assert [r["fields"]["Text"] for r in first.records + second.records] == [
            "committed",
            "more 0",
            "more 1",
            "more 2",
        ]
        assert hops == []  # on the loop, not waiting for the other writer
        other.execute("COMMIT")
    finally:
        other.close()
    assert (await store.list_records(table, ListQuery(limit=1))).records[0]["fields"] == {"Text": "uncommitted"}
    assert hops == []


async def test_a_page_with_a_filter_or_a_sort_is_read_in_the_worker_thread(
    store: SqliteStore, hops: list[object]
) -> None:
    table = await _table_with_one_record(store)
    text = table.columns[0]
    hops.clear()
    filtered = await store.list_records(
        table, ListQuery(limit=5, filter=Condition(column=text, op="contains", value="commit"))
    )
    ordered = await store.list_records(table, ListQuery(limit=5, sort=(SortKey(column=text, descending=True),)))
    assert [r["id"] for r in filtered.records] == ["1"] and [r["id"] for r in ordered.records] == ["1"]
    assert len(hops) == 2


async def test_a_busy_point_read_is_retried_in_the_worker_thread(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, hops: list[object]
) -> None:
    table = await _table_with_one_record(store)
    hops.clear()
    assert (await store.get_record(table, "1"))["fields"] == {"Text": "committed"}
    assert hops == []  # on the loop
    monkeypatch.setattr(store, "_reader", _BusyReader("database is locked"))
    assert (await store.get_record(table, "1"))["fields"] == {"Text": "committed"}
    assert len(hops) == 1  # busy: read again in the worker thread, on the connection that waits for locks
    page = await store.list_records(table, ListQuery(limit=5))
    assert [r["fields"] for r in page.records] == [{"Text": "committed"}] and len(hops) == 2  # a page, the same way


async def test_other_read_failures_are_not_retried(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    table = await _table_with_one_record(store)
    monkeypatch.setattr(store, "_reader", _BusyReader("disk I/O error"))
    with pytest.raises(TablesError) as failed:
        await store.get_record(table, "1")
    assert failed.value.code is ErrorCode.BACKEND_ERROR
