"""The embedded store keeps MULTISELECT and REFERENCE values as the same JSON text every version wrote:
`json_list_text` is json.dumps(value, ensure_ascii=False) byte for byte, and stores written that way read back
as before."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tables_mcp.backends.store.sql import json_list_text
from tables_mcp.backends.store.sqlite import SqliteStore
from tables_mcp.model import ColumnSpec, ColumnType

pytestmark = pytest.mark.anyio

SAMPLES: list[Any] = [
    [],
    ["bug"],
    ["bug", "feature", "docs"],
    ['quote " and \\ backslash', "tab\tnewline\n", "\x00\x1f\x7f", "é 漢字 🎉", "\u2028\u2029"],
    ["lone \ud800 surrogate"],  # refused before the store; encoded as json.dumps would, all the same
    [1, 2.5, None, True],  # not a list of strings: the general encoder
]


@pytest.mark.parametrize("value", SAMPLES)
def test_list_text_is_json_dumps_byte_for_byte(value: Any) -> None:
    assert json_list_text(value) == json.dumps(value, ensure_ascii=False)


@given(st.lists(st.text()))
def test_any_list_of_strings_is_json_dumps(value: list[str]) -> None:
    assert json_list_text(value) == json.dumps(value, ensure_ascii=False)


async def test_stored_text_unchanged_and_old_rows_read_the_same(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    await store.open()
    try:
        spec = ColumnSpec(name="Tags", type=ColumnType.MULTISELECT, options=("bug", "é 漢字", 'say "hi"'))
        table = await store.create_table("Tasks", None, [spec])
        tags = ["bug", "é 漢字", 'say "hi"']
        (created,) = await store.create_records(table, [{"Tags": tags}])
        with sqlite3.connect(path) as raw:
            (stored,) = raw.execute(f'SELECT c0 FROM "t_{table.id}"').fetchone()
            assert stored == json.dumps(tags, ensure_ascii=False)
            # A row as an earlier version wrote it (json.dumps) reads back exactly like a new one.
            raw.execute(
                f'INSERT INTO "t_{table.id}" (created_at, updated_at, c0) VALUES (?, ?, ?)',
                ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", json.dumps(tags, ensure_ascii=False)),
            )
        old = await store.get_record(table, str(int(created["id"]) + 1))
        assert old["fields"] == created["fields"] == {"Tags": tags}
    finally:
        await store.aclose()
