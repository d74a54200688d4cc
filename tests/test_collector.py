"""The garbage collector as `tables-mcp` serves with it (`cli.tune_collector`): a 1,000-record create runs without
a collection walking the records it holds, where Python's default threshold walked them about twelve times."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tables_mcp.backends.store.sqlite import SqliteStore
from tables_mcp.cli import YOUNG_COLLECTION_THRESHOLD, tune_collector
from tables_mcp.tools import Catalogue, ToolOptions

COLUMNS = [
    {"name": "Name", "type": "TEXT", "required": True},
    {"name": "Amount", "type": "NUMBER"},
    {"name": "Tags", "type": "MULTISELECT", "options": ["a", "b", "c"]},
    {"name": "Active", "type": "BOOLEAN"},
]


@pytest.fixture
def collector() -> Iterator[list[int]]:
    """The generations collected while the test runs; the collector is put back as it was afterwards."""
    collected: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collected.append(info["generation"])

    threshold = gc.get_threshold()
    gc.callbacks.append(note)
    try:
        yield collected
    finally:
        gc.callbacks.remove(note)
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _create_1000(path: Path, collected: list[int]) -> int:
    """Collections during one 1,000-record createRecords through the tool catalogue (the set-up excluded)."""

    async def run() -> int:
        backend = SqliteStore(path)
        await backend.open()
        try:
            catalogue = Catalogue(backend, ToolOptions())
            await catalogue.refresh(force=True)
            made = await catalogue.call("createTable", {"name": "Big", "columns": COLUMNS})
            table = made.payload["table"]["id"]
            rows = [{"Name": f"n{i}", "Amount": i, "Tags": ["a", "c"], "Active": i % 2 == 0} for i in range(1000)]
            gc.collect()  # the count starts near zero, as it is between a server's calls
            before = len(collected)
            outcome = await catalogue.call("createRecords", {"table": table, "records": rows})
            assert not outcome.is_error and len(outcome.payload["records"]) == 1000
            return len(collected) - before
        finally:
            await backend.aclose()

    return anyio.run(run)


def test_a_big_create_runs_without_a_collection_once_the_collector_is_tuned(
    tmp_path: Path, collector: list[int]
) -> None:
    tune_collector()
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD and gc.get_freeze_count() > 0
    assert _create_1000(tmp_path / "tuned.db", collector) == 0


def test_with_the_default_threshold_the_same_create_is_collected_many_times(
    tmp_path: Path, collector: list[int]
) -> None:
    gc.set_threshold(700, 10, 10)  # Python's default, which the test above would fail with
    assert _create_1000(tmp_path / "default.db", collector) >= 5
