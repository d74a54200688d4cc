"""A per-table createRecords checks its records against the table's create schema once (its own tool schema is
that schema); the generic createRecords, whose schema knows no table, still checks them against the table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tables_mcp.backends.store.sqlite import SqliteStore
from tables_mcp.tools import Catalogue, ToolOptions
from tables_mcp.validation import ArgumentValidator

from .conftest import TASK_COLUMNS

pytestmark = pytest.mark.anyio


@pytest.fixture
async def catalogue(db_path: Path) -> Any:
    store = SqliteStore(db_path)
    await store.open()
    catalogue = Catalogue(store, ToolOptions(mode="per-table"))
    await catalogue.refresh(force=True)
    created = await catalogue.call("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
    assert not created.is_error, created.text
    yield catalogue
    await store.aclose()


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The summary of every ArgumentValidator.check call."""
    seen: list[str] = []
    real = ArgumentValidator.check

    def counted(
        self: ArgumentValidator, instance: Any, summary: str = "Invalid arguments", *, text_checked: bool = False
    ) -> None:
        seen.append(summary)
        real(self, instance, summary, text_checked=text_checked)

    monkeypatch.setattr(ArgumentValidator, "check", counted)
    return seen


async def test_per_table_create_checks_once(catalogue: Catalogue, checks: list[str]) -> None:
    outcome = await catalogue.call("createRecords_Tasks", {"records": [{"Title": "a", "Tags": ["bug"]}]})
    assert not outcome.is_error, outcome.text
    assert checks == ["Invalid arguments for createRecords_Tasks"]


async def test_generic_create_still_checks_against_the_table(catalogue: Catalogue, checks: list[str]) -> None:
    outcome = await catalogue.call("createRecords", {"table": "Tasks", "records": [{"Title": "a", "Status": "Nope"}]})
    assert outcome.is_error
    assert checks == ["Invalid arguments for createRecords", "Invalid records for 'Tasks'"]
    assert outcome.payload["error"]["fieldErrors"][0]["field"] == "Status"


async def test_per_table_create_error_unchanged(catalogue: Catalogue) -> None:
    outcome = await catalogue.call("createRecords_Tasks", {"records": [{"Status": "Nope"}]})
    assert outcome.is_error
    assert outcome.payload["error"]["message"].startswith("Invalid arguments for createRecords_Tasks: 2 problem(s).")


async def test_a_lone_surrogate_in_a_generic_create_is_named_once_by_the_arguments_check(
    catalogue: Catalogue, checks: list[str]
) -> None:
    """The records' strings are scanned with the call's arguments; the table's own check does not scan them
    again, and a lone surrogate is still refused, naming the record and field, before anything is written."""
    table = catalogue.tables[0].name
    outcome = await catalogue.call("createRecords", {"table": table, "records": [{"Title": "a\ud800"}]})
    assert outcome.is_error
    assert checks == ["Invalid arguments for createRecords"]
    problems = outcome.payload["error"]["fieldErrors"]
    assert [(p["record"], p["field"]) for p in problems] == [(0, "Title")]
