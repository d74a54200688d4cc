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
- `limits` (default {}): why the platform cannot hold a contract column it leaves out, for skip reasons;
- `create_fault_status` (default 500): the status `fail_next_write` needs for a create to fail part-way.
A target whose backend declares `capabilities.upsert` but cannot create tables also has `keyed_backend()`:
an adapter that sees the "Keyed" table (KEYED_COLUMNS, "Key" a unique TEXT column) besides Tasks.

`fail_next_write(status, after)` lets `after` record-write requests through, then answers the next one
`status` with the platform's own body for it (the fakes' shared `Switchboard.fail_after`).

It also holds the contract's data (the SEED records, the filter cases, a batch of invalid records) and
the helpers the tests share, which cut each of them down to the columns the subject holds.

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

from .conftest import TASK_COLUMNS, Agent, open_agent

# The contract holds every backend to the columns an agent writes; computed ones (the store's SERIAL "No") are
# the embedded store's own tests' business.
COLUMN_NAMES = [col["name"] for col in TASK_COLUMNS if col["type"] != "SERIAL"]
STORE_COLUMNS = {col["name"]: col["type"] for col in TASK_COLUMNS if col["type"] != "SERIAL"}
# A table with a key column for upsertRecords: "Key" holds unique values.
KEYED_COLUMNS: list[dict[str, Any]] = [
    {"name": "Key", "type": "TEXT", "unique": True},
    {"name": "Title", "type": "TEXT", "required": True},
    {"name": "Estimate", "type": "NUMBER"},
]
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
    def fail_next_write(self, status: int, after: int = 0) -> None: ...


def target_fixtures() -> dict[str, Callable[..., Any]]:
    """The `<name>_target` fixture of every registered platform, for the contract module to expose."""
    fixtures = {}
    for name in PLATFORMS:
        try:
            module = importlib.import_module(f"{__package__}.contract_{name}")
            fixtures[f"{name}_target"] = getattr(module, f"{name}_target")
        except (ModuleNotFoundError, AttributeError) as missing:
            # A registered backend without a target would silently escape the contract.
            raise RuntimeError(
                f"backend {name!r} is registered but tests/contract_{name}.py has no {name}_target"
            ) from missing
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
            limits: dict[str, str] = self._declared("limits", {})
            why = "; ".join(f"{name}: {limits.get(name, 'no such field type')}" for name in missing)
            pytest.skip(f"{self.name} cannot hold the column(s) the test needs ({why})")

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
        """Make the next create fail part-way: on a platform its second write request fails (with the status
        its target names: a create sends its requests one after another, so a failure of the first would
        leave nothing written), or its only one where creates are atomic; on the embedded store the database
        refuses the Tasks row after the 100th."""
        if self.target is not None:
            # An atomic create is one write request (Kintone's bulkRequest): that one fails.
            after = 0 if self.capabilities.atomic_create else 1
            self.target.fail_next_write(getattr(self.target, "create_fault_status", 500), after=after)
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
    async def with_keyed_table(self) -> AsyncIterator[Agent]:
        """An agent that sees the "Keyed" table (KEYED_COLUMNS), for upserts."""
        if self.capabilities.create_table:
            await self.agent.ok("createTable", {"name": "Keyed", "columns": KEYED_COLUMNS})
            yield self.agent
            return
        assert self.target is not None
        backend = self.target.keyed_backend()  # type: ignore[attr-defined]
        await backend.open()
        try:
            async for agent in open_agent(backend, ToolOptions()):
                yield agent
        finally:
            await backend.aclose()

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


# -- the contract's data and the helpers its tests share -------------------------------------------------

ERROR_CODES = {
    "invalid_argument",
    "unauthenticated",
    "permission_denied",
    "not_found",
    "conflict",
    "rate_limited",
    "unavailable",
    "unsupported",
    "backend_error",
}
OPTIONS = {"Status": ["Todo", "Doing", "Done"], "Tags": ["bug", "feature", "docs"]}
EXPECTED_COLUMNS = {
    "Title": ("TEXT", True),
    "Status": ("SELECT", False),
    "Estimate": ("NUMBER", False),
    "Due": ("DATE", False),
    "Tags": ("MULTISELECT", False),
    "Notes": ("LONGTEXT", False),
    "Owner": ("EMAIL", False),
    "Started": ("DATETIME", False),
    "At": ("TIME", False),
    "Done": ("BOOLEAN", False),
}
# What createRecords accepts for one Tasks record: the same JSON Schema on every backend.
CREATE_SCHEMA = {
    "type": "object",
    "properties": {
        "Title": {"type": "string", "minLength": 1},  # required: "" is no value
        "Status": {"enum": ["Todo", "Doing", "Done"]},
        "Estimate": {"type": "number"},
        "Due": {"type": "string", "format": "date"},
        "Tags": {"type": "array", "items": {"enum": ["bug", "feature", "docs"]}, "uniqueItems": True},
        "Notes": {"type": "string"},
        "Owner": {"type": "string", "format": "email"},
        "Started": {"type": "string", "format": "date-time"},
        "At": {"type": "string", "pattern": "^([01]\\d|2[0-3]):[0-5]\\d(:[0-5]\\d)?$"},
        "Done": {"type": "boolean"},
    },
    "required": ["Title"],
    "additionalProperties": False,
}

SEED: list[dict[str, Any]] = [
    {
        "Title": "Fix login page",
        "Status": "Doing",
        "Estimate": 3,
        "Due": "2026-03-01",
        "Tags": ["bug"],
        "Notes": "users cannot log in",
        "Owner": "ana@example.com",
    },
    {"Title": "Write docs", "Status": "Todo", "Estimate": 5, "Due": "2026-04-15", "Tags": ["docs"]},
    {
        "Title": "Ship release",
        "Status": "Done",
        "Estimate": 8,
        "Due": "2026-02-01",
        "Tags": ["feature", "docs"],
        "Owner": "li@example.com",
    },
    {"Title": "Login audit", "Status": "Todo", "Estimate": 1.5, "Tags": ["bug", "feature"]},
    {"Title": "Plan roadmap", "Notes": "Quarterly planning"},
    {"Title": "Catalogue cleanup", "Status": "Done", "Estimate": 0, "Due": "2026-03-01"},
]


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        out["value"] = value
    return out


CASE_SENSITIVE_EQ = cond("Title", "eq", "write docs")
CASE_FOLDED_EQ_SELECTS = {1}  # what it selects where text comparisons ignore case (a collation)
# (filter, indexes of SEED it selects)
FILTER_CASES: list[tuple[dict[str, Any], set[int]]] = [
    (cond("Status", "eq", "Done"), {2, 5}),
    (cond("Status", "ne", "Done"), {0, 1, 3, 4}),  # an empty value is "not Done"
    (cond("Title", "eq", "Write docs"), {1}),
    (CASE_SENSITIVE_EQ, set()),  # eq on text is exact (where the platform's text is case-sensitive)
    (cond("Title", "ne", "Write docs"), {0, 2, 3, 4, 5}),
    (cond("Estimate", "eq", 0), {5}),
    (cond("Estimate", "lt", 3), {3, 5}),
    (cond("Estimate", "lte", 3), {0, 3, 5}),
    (cond("Estimate", "gt", 3), {1, 2}),
    (cond("Estimate", "gte", 1.5), {0, 1, 2, 3}),
    (cond("Estimate", "ne", 3), {1, 2, 3, 4, 5}),
    (cond("Due", "eq", "2026-03-01"), {0, 5}),
    (cond("Due", "ne", "2026-03-01"), {1, 2, 3, 4}),
    (cond("Due", "lt", "2026-03-01"), {2}),
    (cond("Due", "lte", "2026-03-01"), {0, 2, 5}),
    (cond("Due", "gt", "2026-03-01"), {1}),
    (cond("Due", "gte", "2026-02-01"), {0, 1, 2, 5}),
    (cond("Title", "contains", "login"), {0, 3}),
    (cond("Title", "contains", "LOGIN"), {0, 3}),
    (cond("Notes", "contains", "planning"), {4}),
    (cond("Owner", "eq", "li@example.com"), {2}),
    (cond("Tags", "contains", "docs"), {1, 2}),
    (cond("Status", "in", ["Todo", "Doing"]), {0, 1, 3}),
    (cond("Estimate", "in", [1.5, 8]), {2, 3}),
    (cond("Title", "in", ["Write docs", "Plan roadmap"]), {1, 4}),
    (cond("Tags", "in", ["feature"]), {2, 3}),
    (cond("Status", "isEmpty"), {4}),
    (cond("Status", "isNotEmpty"), {0, 1, 2, 3, 5}),
    (cond("Estimate", "isEmpty"), {4}),  # 0 is a value, not empty
    (cond("Due", "isEmpty"), {3, 4}),
    (cond("Due", "isNotEmpty"), {0, 1, 2, 5}),
    (cond("Tags", "isEmpty"), {4, 5}),
    (cond("Notes", "isEmpty"), {1, 2, 3, 5}),
    (cond("Title", "isNotEmpty"), {0, 1, 2, 3, 4, 5}),
    ({"and": [cond("Status", "in", ["Todo", "Doing"]), cond("Estimate", "lt", 4)]}, {0, 3}),
    ({"or": [cond("Status", "eq", "Done"), cond("Tags", "contains", "bug")]}, {0, 2, 3, 5}),
    (
        {
            "and": [
                {"or": [cond("Due", "lt", "2026-03-15"), cond("Due", "isEmpty")]},
                cond("Title", "contains", "login"),
            ]
        },
        {0, 3},
    ),
    (
        {
            "or": [
                {"and": [cond("Status", "eq", "Todo"), cond("Estimate", "gt", 2)]},
                {"and": [cond("Status", "eq", "Done"), cond("Due", "gte", "2026-03-01")]},
            ]
        },
        {1, 5},
    ),
    ({"and": [{"or": [{"and": [cond("Tags", "contains", "docs")]}]}, cond("Estimate", "gte", 6)]}, {2}),
]

# A value that fits each column, for trying every operator.
SAMPLE_VALUES = {
    "Title": "x",
    "Status": "Todo",
    "Estimate": 1,
    "Due": "2026-01-01",
    "Tags": "bug",
    "Notes": "x",
    "Owner": "a@example.com",
}


# -- helpers ---------------------------------------------------------------------------------------------


def ours(record: dict[str, Any]) -> dict[str, Any]:
    """The values of the columns the user defined (Kintone adds system columns beside them)."""
    return {name: value for name, value in record["fields"].items() if name in COLUMN_NAMES}


def check_error(error: dict[str, Any], code: str) -> None:
    """The error payload every tool failure carries, on every backend."""
    assert error["code"] == code, error
    assert error["code"] in ERROR_CODES
    assert isinstance(error["message"], str) and error["message"], error
    assert error["retryable"] is (code in ("rate_limited", "unavailable")), error
    assert isinstance(error["hint"], str) and error["hint"], error
    assert error["text"].startswith(f"Error ({code}): "), error["text"]
    for problem in error.get("fieldErrors", []):
        assert isinstance(problem["field"], str) and problem["field"], problem
        assert isinstance(problem["message"], str) and problem["message"], problem
        assert set(problem) <= {"field", "message", "record", "allowed"}, problem


def problems(error: dict[str, Any]) -> dict[tuple[int | None, str], dict[str, Any]]:
    return {(fe.get("record"), fe["field"]): fe for fe in error.get("fieldErrors", [])}


def held(subject: Subject, row: dict[str, Any]) -> dict[str, Any]:
    """The values of `row` in the columns this backend holds."""
    return {name: value for name, value in row.items() if name in subject.columns}


def seed_rows(subject: Subject) -> list[dict[str, Any]]:
    """SEED as this backend can hold it: the same six records, without the columns it lacks."""
    return [held(subject, row) for row in SEED]


async def seed(subject: Subject) -> list[dict[str, Any]]:
    created = (await subject.agent.ok("createRecords_Tasks", {"records": seed_rows(subject)}))["records"]
    assert len(created) == len(SEED)
    return created


def filter_columns(where: dict[str, Any]) -> set[str]:
    """Every column a filter tree names."""
    if "field" in where:
        return {where["field"]}
    return {name for item in where.get("and", where.get("or", [])) for name in filter_columns(item)}


def needs_nesting(where: dict[str, Any]) -> bool:
    """An and-group holding an or-group (or the reverse), once one-item groups are unwrapped."""

    def flat(node: dict[str, Any]) -> dict[str, Any]:
        for kind in ("and", "or"):
            if kind in node:
                items = [flat(item) for item in node[kind]]
                return items[0] if len(items) == 1 else {kind: items}
        return node

    def mixed(node: dict[str, Any], parent: str | None) -> bool:
        for kind in ("and", "or"):
            if kind in node:
                return (parent not in (None, kind)) or any(mixed(item, kind) for item in node[kind])
        return False

    return mixed(flat(where), None)


def same_ids(subject: Subject, got: list[str], expected: list[str]) -> None:
    """The ids listed in the default order: the creation order where ids follow the input order, else the
    same ids, each once (the default order is then the platform's id order, not the input order)."""
    if subject.ids_follow_input_order:
        assert got == expected, "default order is creation order"
    else:
        assert sorted(got) == sorted(expected) and len(set(got)) == len(got)


def in_default_order(subject: Subject, got: list[str], expected: list[str]) -> bool:
    """`got` (unsorted listing) is `expected` in creation order, or, where ids do not follow the input
    order, the same values in the platform's id order."""
    return got == expected if subject.ids_follow_input_order else sorted(got) == sorted(expected)


def writable_names(subject: Subject) -> list[str]:
    return [name for name in COLUMN_NAMES if name in subject.columns]


TEXT_SCHEMA: dict[str, Any] = {"type": "string"}


def create_schema(subject: Subject) -> dict[str, Any]:
    """CREATE_SCHEMA for the columns this backend holds; a column the platform keeps as plain text (no
    options, no email type) takes any string, and "required" follows the platform's required flag."""
    properties = {}
    for name, kind in subject.columns.items():
        if name in subject.required_columns:
            properties[name] = {"type": "string", "minLength": 1}
        elif kind == EXPECTED_COLUMNS[name][0] and name != "Title":
            properties[name] = CREATE_SCHEMA["properties"][name]
        else:
            assert kind in ("TEXT", "LONGTEXT"), (name, kind)
            properties[name] = TEXT_SCHEMA
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [name for name in subject.columns if name in subject.required_columns]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def without_descriptions(schema: dict[str, Any]) -> dict[str, Any]:
    """A row schema with the platform's column descriptions (labels) left out of each property."""
    properties = {
        name: {key: value for key, value in prop.items() if key != "description"}
        for name, prop in schema["properties"].items()
    }
    return {**schema, "properties": properties}


async def list_all(subject: Subject, **arguments: Any) -> list[dict[str, Any]]:
    """Every record listRecords gives for these arguments, following nextCursor."""
    records: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        args = {"table": "Tasks", **arguments, **({"cursor": cursor} if cursor else {})}
        page = await subject.agent.ok("listRecords", args)
        records += page["records"]
        cursor = page["nextCursor"]
        if cursor is None:
            return records
    raise AssertionError("paging did not end")


async def seeded_titles(subject: Subject, **arguments: Any) -> list[str]:
    return [record["fields"]["Title"] for record in await list_all(subject, **arguments)]


def assert_nothing_sent(subject: Subject) -> None:
    assert subject.backend_writes() == [], "validation must answer before any backend write"
    assert subject.network_writes() == [], "no write request may reach the platform"


BAD_BATCH: list[dict[str, Any]] = [
    {"Title": "fine", "Status": "Todo"},
    {
        "Title": 7,
        "Status": "Donee",
        "Priority": "high",
        "Estimate": "five",
        "Due": "2026-02-30",
        "Tags": ["bug", "nope"],
        "Owner": "not an email",
    },
    {"Status": "Todo", "Tags": "bug"},
]


def bad_batch(subject: Subject) -> list[dict[str, Any]]:
    """BAD_BATCH in the columns this backend holds (and the unknown Priority)."""
    return [{k: v for k, v in row.items() if k in subject.columns or k == "Priority"} for row in BAD_BATCH]


def bad_batch_problems(subject: Subject) -> set[tuple[int, str]]:
    """Where BAD_BATCH is wrong on this backend: a value is wrong only for a column typed to refuse it."""
    expected = {(1, "Title"), (1, "Priority")}
    for name, kind, where in [
        ("Status", "SELECT", "Status"),
        ("Estimate", "NUMBER", "Estimate"),
        ("Due", "DATE", "Due"),
        ("Tags", "MULTISELECT", "Tags[1]"),
        ("Owner", "EMAIL", "Owner"),
    ]:
        if subject.has_type(name, kind):
            expected.add((1, where))
    if "Title" in subject.required_columns:
        expected.add((2, "Title"))
    if subject.has_type("Tags", "MULTISELECT"):
        expected.add((2, "Tags"))
    return expected


def check_bad_batch_error(subject: Subject, error: dict[str, Any]) -> None:
    check_error(error, "invalid_argument")
    found = problems(error)
    expected = bad_batch_problems(subject)
    assert set(found) == expected, sorted(found, key=str)
    if (1, "Status") in expected:
        assert found[(1, "Status")]["allowed"] == ["Todo", "Doing", "Done"]
        assert "Donee" in found[(1, "Status")]["message"]
        assert "records[1].Status" in error["text"]
    if (1, "Tags[1]") in expected:
        assert found[(1, "Tags[1]")]["allowed"] == ["bug", "feature", "docs"]
    assert "unknown column" in found[(1, "Priority")]["message"]
    assert found[(1, "Priority")]["allowed"] == writable_names(subject)
    if (1, "Estimate") in expected:
        assert "expected number" in found[(1, "Estimate")]["message"]
    assert "expected string" in found[(1, "Title")]["message"]
    if (2, "Title") in expected:
        assert "required" in found[(2, "Title")]["message"]
    assert "records[1].Title" in error["text"]
