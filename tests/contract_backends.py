"""Fixtures of the backend contract suite: the same "Tasks" table on every backend, behind a real MCP session.

`subject` is parametrised over the embedded store on SQLite, the embedded store on PostgreSQL
(marked `postgres`; the throw-away server and schema come from tests/pg.py) and the Kintone
adapter talking to the fake Kintone over loopback HTTP. Each yields a `Subject`: an `Agent` (a real
in-memory MCP ClientSession, auto tool mode, as a user gets by default) over a backend that holds
an equivalent "Tasks" table, created with `createTable` where the backend can create tables and
seeded as a Kintone app in the fake otherwise.

The backend is wrapped in `RecordingBackend`, which records every Backend method the tools call,
so that a test can say "this was answered before any backend call" on every backend alike; on
Kintone `network_writes()` also reads the fake's request log (no POST/PUT/DELETE of records).
`Subject.with_second_table` gives an agent that sees a second table beside Tasks: created with
`createTable` on the store, a second app of the fake (and a backend exposing both) on Kintone.
`Subject.break_the_next_create` is each platform's fault switch: the fake's, or a trigger in the
store's own database that refuses a row part-way through a create.
"""

from __future__ import annotations

import contextlib
import inspect
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tables_mcp.backends.kintone import KintoneBackend
from tables_mcp.backends.store import open_store
from tables_mcp.backends.store.sqlite import SqliteStore
from tables_mcp.http import RetryPolicy
from tables_mcp.model import Capabilities
from tables_mcp.tools import ToolOptions

from .conftest import Agent, open_agent
from .fakes.kintone import FakeKintone, LoggedRequest

# The columns the user defines, in order: on the embedded store through createTable ...
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
# ... and on Kintone as the equivalent form fields of an app (the fake adds Kintone's system fields).
KINTONE_TASK_FIELDS: dict[str, dict[str, Any]] = {
    "Title": {"type": "SINGLE_LINE_TEXT", "required": True},
    "Status": {"type": "DROP_DOWN", "options": ["Todo", "Doing", "Done"]},
    "Estimate": {"type": "NUMBER"},
    "Due": {"type": "DATE"},
    "Tags": {"type": "CHECK_BOX", "options": ["bug", "feature", "docs"]},
    "Notes": {"type": "MULTI_LINE_TEXT"},
    "Owner": {"type": "LINK", "protocol": "MAIL"},
    "Started": {"type": "DATETIME"},
    "At": {"type": "TIME"},
    # Kintone's process-management field is called "Status" by default; the fake would silently replace
    # the user's "Status" drop-down with it, so it gets another code here (it is disabled: not a column).
    "Process_status": {"type": "STATUS"},
}
COLUMN_NAMES = [col["name"] for col in TASK_COLUMNS]
FAST_RETRY = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)
FAULT_AFTER_ROWS = 100  # the embedded store's injected fault refuses the row after this many
WRITE_METHODS = frozenset({"create_records", "patch_record", "delete_records", "create_table", "add_columns"})


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


def is_network_write(request: LoggedRequest) -> bool:
    """A request to the fake Kintone that writes records (a GET sent as POST + method override is a read)."""
    if request.method not in ("POST", "PUT", "DELETE"):
        return False
    if request.headers.get("x-http-method-override", "").upper() == "GET":
        return False
    return request.path.endswith(("/record.json", "/records.json"))


@dataclass
class Subject:
    """One backend under contract: the agent a user would have, and what the tests may observe."""

    agent: Agent
    backend: RecordingBackend
    fake: FakeKintone | None  # the fake platform behind the backend, if any
    where: Any = None  # the SQLite path, the PostgreSQL DSN, or the fake's URL
    kintone_app: tuple[int, str] | None = None  # the Tasks app and its token, on Kintone

    @property
    def capabilities(self) -> Capabilities:
        caps: Capabilities = self.backend.inner.capabilities
        return caps

    def open_agent(self, options: ToolOptions) -> AbstractAsyncContextManager[Agent]:
        """Another MCP session over the same backend (another tool mode, read-only ...)."""
        return asynccontextmanager(open_agent)(self.backend, options)  # type: ignore[arg-type]

    def forget_calls(self) -> None:
        self.backend.calls.clear()
        if self.fake is not None:
            self.fake.clear_log()

    def backend_writes(self) -> list[str]:
        """Backend write methods called since `forget_calls`."""
        return [name for name in self.backend.calls if name in WRITE_METHODS]

    def network_writes(self) -> list[str]:
        """Record writes the platform received since `forget_calls` (none for a store without a network)."""
        if self.fake is None:
            return []
        return [f"{r.method} {r.path}" for r in list(self.fake.requests) if is_network_write(r)]

    def network_requests(self) -> int:
        return 0 if self.fake is None else len(self.fake.requests)

    async def break_the_next_create(self) -> None:
        """Make the next create fail part-way: on Kintone its first write request answers 500 (the others
        are served); on the embedded store the database refuses the Tasks row after the 100th."""
        if self.fake is not None:
            self.fake.fail_next(1, 500)  # POSTs are never retried
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
        assert self.fake is not None and self.kintone_app is not None
        tasks, token = self.kintone_app
        other = self.fake.add_app(name, KINTONE_TASK_FIELDS)
        backend = KintoneBackend(
            self.where,
            api_tokens=[token, self.fake.add_token(other)],
            app_ids=[str(tasks), str(other)],
            retry=FAST_RETRY,
        )
        await backend.open()
        try:
            async for agent in open_agent(backend, ToolOptions()):
                yield agent
        finally:
            await backend.aclose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "kintone"])
def contract_target(request: pytest.FixtureRequest) -> tuple[str, Any]:
    """Where the Tasks table of a contract test lives (sync, so that PostgreSQL may start here)."""
    if request.param == "sqlite":
        db_path: Path = request.getfixturevalue("db_path")
        return "sqlite", db_path
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("pg_schema_dsn")
        return "postgres", dsn
    served: tuple[FakeKintone, str] = request.getfixturevalue("fake_kintone")
    return "kintone", served


def _open_target(kind: str, where: Any) -> tuple[Any, dict[str, Any]]:
    """The backend, and what its Subject should know about where it lives."""
    if kind == "sqlite":
        return SqliteStore(where), {"where": where}
    if kind == "postgres":
        return open_store(where), {"where": where}  # what TABLES_MCP_DB=postgresql://... selects
    state, url = where
    state.reset()
    app = state.add_app("Tasks", KINTONE_TASK_FIELDS)
    token = state.add_token(app)
    backend = KintoneBackend(url, api_tokens=[token], app_ids=[str(app)], retry=FAST_RETRY)
    return backend, {"fake": state, "where": url, "kintone_app": (app, token)}


@pytest.fixture
async def subject(contract_target: tuple[str, Any]) -> AsyncIterator[Subject]:
    kind, where = contract_target
    inner, place = _open_target(kind, where)
    await inner.open()
    spy = RecordingBackend(inner)
    try:
        async for agent in open_agent(spy, ToolOptions()):  # type: ignore[arg-type]
            if inner.capabilities.create_table:
                await agent.ok("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
            found = Subject(agent, spy, place.pop("fake", None), **place)
            found.forget_calls()
            yield found
    finally:
        await inner.aclose()
