"""Fixtures of the backend contract suite: the same "Tasks" table on every registered backend, in an MCP session.

`subject` is parametrised over the registry (`tables_mcp.backends.registry.BACKENDS`): "local" runs as
the embedded store on SQLite and on PostgreSQL (marked `postgres`; the throw-away server and schema come
from tests/pg.py), and every other registered platform runs against its fake through the target in
tests/contract_<name>.py (a `<name>_target` module fixture yielding a `Target`). Each yields a `Subject`:
an `Agent` (a real in-memory MCP ClientSession, auto tool mode, as a user gets by default) over a backend
that holds an equivalent "Tasks" table, created with `createTable` on the store and set up in the fake
by the target otherwise.

A target holds the contract's columns that its platform can hold (`columns`, with the canonical type the
adapter gives each), and may declare where its platform legitimately differs, as plain attributes (the
defaults are the contract's full expectations; see `Subject`'s properties):
- `required_columns` (default {"Title"}): the platform has no required flag when empty;
- `ids_follow_input_order` (default True): False where concurrent inserts get ids out of input order,
  so the default (id) order is not the creation order;
- `case_insensitive_text` (default False): True where eq/ne/in on text ignore case (a collation);
- `refuses_nested_filters` (default False): True where and/or trees the platform cannot express are
  refused (invalid_argument on the filter) before any request;
- `timestamps_known` (default True): False where created_at is null;
- `create_fault_status` (default 500): the status `fail_next_write` needs for a create to fail part-way.

The backend is wrapped in `RecordingBackend`, which records every Backend method the tools call, so
that a test can say "this was answered before any backend call" on every backend alike; the target
reports the record writes and requests its fake received.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from tables_mcp.backends.registry import BACKENDS
from tables_mcp.backends.store import open_store
from tables_mcp.model import Capabilities
from tables_mcp.tools import ToolOptions

from .conftest import Agent, open_agent

# The columns the user defines, in order, through createTable on the embedded store; a platform's target
# holds those of them its platform can hold.
TASK_COLUMNS: list[dict[str, Any]] = [
    {"name": "Title", "type": "TEXT", "required": True},
    {"name": "Status", "type": "SELECT", "options": ["Todo", "Doing", "Done"]},
    {"name": "Estimate", "type": "NUMBER"},
    {"name": "Due", "type": "DATE"},
    {"name": "Tags", "type": "MULTISELECT", "options": ["bug", "feature", "docs"]},
    {"name": "Notes", "type": "LONGTEXT"},
    {"name": "Owner", "type": "EMAIL"},
    {"name": "Started", "type": "DATETIME"},
    {"name": "At", "type": "TIME"},
]
COLUMN_NAMES = [col["name"] for col in TASK_COLUMNS]
STORE_COLUMNS = {col["name"]: col["type"] for col in TASK_COLUMNS}
FAULT_AFTER_ROWS = 100  # the embedded store's injected fault refuses the row after this many
WRITE_METHODS = frozenset({"create_records", "patch_record", "delete_records", "create_table", "add_columns"})
# Every registered platform, each with its target; "local" is the embedded store, run on SQLite and PostgreSQL.
PLATFORMS = [name for name in BACKENDS if name != "local"]


class Target(Protocol):
    """A platform's fake holding the contract's Tasks table (tests/contract_<name>.py)."""

    backend_name: str
    columns: dict[str, str]

    def fresh(self) -> None: ...
    def backend(self, extra_tables: Sequence[str] = ()) -> Any: ...
    def clear_log(self) -> None: ...
    def network_requests(self) -> int: ...
    def network_writes(self) -> list[str]: ...
    def fail_next_write(self, status: int) -> None: ...


def target_fixtures() -> dict[str, Callable[..., Any]]:
    """The `<name>_target` fixture of every registered platform, for the contract module to expose."""
    fixtures = {}
    for name in PLATFORMS:
        module = importlib.import_module(f"{__package__}.contract_{name}")
        fixtures[f"{name}_target"] = getattr(module, f"{name}_target")
    return fixtures


class RecordingBackend:
    """Delegates everything to a real backend and records the name of every async method called."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await attr(*args, **kwargs)

        return recorded


@dataclass
class Subject:
    """One backend under contract: the agent a user would have, and what the tests may observe."""

    agent: Agent
    backend: RecordingBackend
    target: Target | None  # the platform's fake, or None for the embedded store
    where: Any = None  # the SQLite path or the PostgreSQL DSN of the embedded store

    @property
    def capabilities(self) -> Capabilities:
        caps: Capabilities = self.backend.inner.capabilities
        return caps

    @property
    def columns(self) -> dict[str, str]:
        """The Tasks columns this backend holds, with their canonical types."""
        return STORE_COLUMNS if self.target is None else self.target.columns

    def _declared(self, name: str, default: Any) -> Any:
        return default if self.target is None else getattr(self.target, name, default)

    @property
    def required_columns(self) -> frozenset[str]:
        found: frozenset[str] = self._declared("required_columns", frozenset({"Title"}))
        return found

    @property
    def ids_follow_input_order(self) -> bool:
        return bool(self._declared("ids_follow_input_order", True))

    @property
    def case_insensitive_text(self) -> bool:
        return bool(self._declared("case_insensitive_text", False))

    @property
    def refuses_nested_filters(self) -> bool:
        return bool(self._declared("refuses_nested_filters", False))

    @property
    def timestamps_known(self) -> bool:
        return bool(self._declared("timestamps_known", True))

    def has(self, *names: str) -> bool:
        return all(name in self.columns for name in names)

    def has_type(self, name: str, kind: str) -> bool:
        return self.columns.get(name) == kind

    def need(self, *names: str) -> None:
        """Skip the test where the platform cannot hold a column it needs."""
        missing = [name for name in names if name not in self.columns]
        if missing:
            pytest.skip(f"{self.name} cannot hold the column(s) {', '.join(missing)} (no such field type)")

    @property
    def name(self) -> str:
        return "the embedded store" if self.target is None else self.target.backend_name

    def open_agent(self, options: ToolOptions) -> AbstractAsyncContextManager[Agent]:
        """Another MCP session over the same backend (another tool mode, read-only ...)."""
        return asynccontextmanager(open_agent)(self.backend, options)  # type: ignore[arg-type]

    def forget_calls(self) -> None:
        self.backend.calls.clear()
        if self.target is not None:
            self.target.clear_log()

    def backend_writes(self) -> list[str]:
        """Backend write methods called since `forget_calls`."""
        return [name for name in self.backend.calls if name in WRITE_METHODS]

    def network_writes(self) -> list[str]:
        """Record writes the platform received since `forget_calls` (none for a store without a network)."""
        return [] if self.target is None else self.target.network_writes()

    def network_requests(self) -> int:
        return 0 if self.target is None else self.target.network_requests()

    async def break_the_next_create(self) -> None:
        """Make the next create fail part-way: on a platform its next write request fails (with the status
        its target names); on the embedded store the database refuses the Tasks row after the 100th."""
        if self.target is not None:
            self.target.fail_next_write(getattr(self.target, "create_fault_status", 500))
            return
        [tasks] = [t["id"] for t in (await self.agent.ok("listTables"))["tables"] if t["name"] == "Tasks"]
        if isinstance(self.where, Path):
            with contextlib.closing(sqlite3.connect(self.where)) as conn:
                conn.execute(
                    f'CREATE TRIGGER contract_fault BEFORE INSERT ON "t_{tasks}" '
                    f'WHEN (SELECT count(*) FROM "t_{tasks}") >= {FAULT_AFTER_ROWS} '
                    "BEGIN SELECT RAISE(ABORT, 'fault injected by the contract suite'); END"
                )
            return
        import psycopg

        # A row-level BEFORE trigger sees the rows the same statement inserted before it (PostgreSQL docs,
        # "Visibility of Data Changes"), so this fails the one INSERT part-way.
        with psycopg.connect(self.where, autocommit=True) as pg:
            pg.execute(
                "CREATE FUNCTION contract_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f'IF (SELECT count(*) FROM "t_{tasks}") >= {FAULT_AFTER_ROWS} THEN '
                "RAISE EXCEPTION 'fault injected by the contract suite'; END IF; RETURN NEW; END $$"
            )
            pg.execute(
                f'CREATE TRIGGER contract_fault BEFORE INSERT ON "t_{tasks}" '
                "FOR EACH ROW EXECUTE FUNCTION contract_fault()"
            )

    @asynccontextmanager
    async def with_second_table(self, name: str) -> AsyncIterator[Agent]:
        """An agent that sees Tasks and a second, empty table `name` with the same columns."""
        if self.capabilities.create_table:
            await self.agent.ok("createTable", {"name": name, "columns": TASK_COLUMNS})
            yield self.agent
            return
        assert self.target is not None
        backend = self.target.backend(extra_tables=[name])
        await backend.open()
        try:
            async for agent in open_agent(backend, ToolOptions()):
                yield agent
        finally:
            await backend.aclose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), *PLATFORMS],
)
def contract_target(request: pytest.FixtureRequest) -> tuple[str, Any]:
    """Where the Tasks table of a contract test lives (sync, so that PostgreSQL may start here)."""
    if request.param == "sqlite":
        db_path: Path = request.getfixturevalue("db_path")
        return "sqlite", db_path
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("pg_schema_dsn")
        return "postgres", dsn
    target: Target = request.getfixturevalue(f"{request.param}_target")
    return request.param, target


def _open_target(kind: str, where: Any) -> tuple[Any, Target | None, Any]:
    """The backend (not opened), its platform's target if any, and the store's location if not."""
    if kind in ("sqlite", "postgres"):
        return open_store(where), None, where  # what TABLES_MCP_DB selects: a file path or a postgresql:// URL
    where.fresh()
    return where.backend(), where, None


@pytest.fixture
async def subject(contract_target: tuple[str, Any]) -> AsyncIterator[Subject]:
    kind, where = contract_target
    inner, target, place = _open_target(kind, where)
    await inner.open()
    spy = RecordingBackend(inner)
    try:
        async for agent in open_agent(spy, ToolOptions()):  # type: ignore[arg-type]
            if inner.capabilities.create_table:
                await agent.ok("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
            found = Subject(agent, spy, target, place)
            found.forget_calls()
            yield found
    finally:
        await inner.aclose()
