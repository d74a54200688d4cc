"""Shared fixtures: a fresh embedded store, a catalogue over it, and a real in-memory MCP session."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest
from mcp.client.session import ClientSession, ElicitationFnT
from mcp.shared.exceptions import McpError
from mcp.shared.memory import create_connected_server_and_client_session
from pydantic import AnyUrl

from tables_mcp.backends.base import Backend
from tables_mcp.backends.store import is_postgres_url, open_store
from tables_mcp.backends.store.sqlite import SqliteStore
from tables_mcp.http import RetryPolicy
from tables_mcp.server import build_server
from tables_mcp.tools import Catalogue, ToolOptions

from .fakes.kintone import FakeKintone, serve_fake_kintone
from .pg import pg_dsn as pg_dsn
from .pg import pg_schema_dsn as pg_schema_dsn

# The one retry policy of the tests: the real retry logic, with waits short enough for a test.
FAST_RETRY = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)

# The suite's one Tasks table, created through createTable on the embedded store; the contract suite's
# platform targets hold those of its columns their platforms can hold.
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
    {"name": "Done", "type": "BOOLEAN"},
    {"name": "No", "type": "SERIAL"},
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


class Agent:
    """A test's view of a real MCP client session: calls tools, reads resources and records notifications."""

    def __init__(self, session: ClientSession, notifications: list[Any]) -> None:
        self.session = session
        self.notifications = notifications

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> types.CallToolResult:
        return await self.session.call_tool(name, arguments or {})

    async def ok(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        result = await self.call(name, arguments)
        assert not result.isError, result.content[0].text  # type: ignore[union-attr]
        assert result.structuredContent is not None
        return result.structuredContent

    async def error(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        result = await self.call(name, arguments)
        assert result.isError, f"expected an error, got {result.structuredContent}"
        assert result.structuredContent is not None
        text = result.content[0].text  # type: ignore[union-attr]
        assert text.startswith("Error ("), text
        error: dict[str, Any] = result.structuredContent["error"]
        error["text"] = text
        return error

    async def unknown_tool(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        """Calls a tool the server does not offer: a JSON-RPC error (-32602), as the MCP specification says."""
        with pytest.raises(McpError) as raised:
            await self.session.call_tool(name, arguments or {})
        assert raised.value.error.code == types.INVALID_PARAMS, raised.value.error
        return raised.value.error.message

    async def tools(self) -> dict[str, types.Tool]:
        return {tool.name: tool for tool in (await self.session.list_tools()).tools}

    async def resources(self) -> dict[str, types.Resource]:
        return {str(resource.uri): resource for resource in (await self.session.list_resources()).resources}

    async def read_schema(self, uri: str) -> Any:
        """The JSON content of a schema resource (exactly one text block, application/json)."""
        [content] = (await self.session.read_resource(AnyUrl(uri))).contents
        assert isinstance(content, types.TextResourceContents) and content.mimeType == "application/json"
        assert str(content.uri) == uri
        return json.loads(content.text)

    async def missing_resource(self, uri: str) -> types.ErrorData:
        """Reads a resource the server does not offer: the specification's -32002 "Resource not found"."""
        with pytest.raises(McpError) as raised:
            await self.session.read_resource(AnyUrl(uri))
        assert raised.value.error.code == -32002 and raised.value.error.message == "Resource not found"
        return raised.value.error

    def notified(self, kind: type[Any]) -> int:
        """How many notifications of this type (e.g. types.ResourceListChangedNotification) arrived."""
        return sum(
            1 for m in self.notifications if isinstance(m, types.ServerNotification) and isinstance(m.root, kind)
        )

    async def tools_list_bytes(self) -> int:
        tools = (await self.session.list_tools()).tools
        return len(json.dumps([t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools]))


async def open_agent(
    backend: Backend, options: ToolOptions | None = None, elicitation_callback: ElicitationFnT | None = None
) -> AsyncIterator[Agent]:
    """An agent on a real in-memory MCP session; with `elicitation_callback` its client declares elicitation."""
    catalogue = Catalogue(backend, options or ToolOptions())
    await catalogue.refresh(force=True)
    notifications: list[Any] = []

    async def on_message(message: Any) -> None:
        notifications.append(message)

    server = build_server(catalogue)
    async with create_connected_server_and_client_session(
        server, message_handler=on_message, elicitation_callback=elicitation_callback
    ) as session:
        yield Agent(session, notifications)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_location(request: pytest.FixtureRequest, db_path: Path) -> str | Path:
    """Where the embedded store of a test lives: a SQLite file, or a fresh schema of a PostgreSQL database."""
    if request.param == "sqlite":
        return db_path
    dsn: str = request.getfixturevalue("pg_schema_dsn")
    return dsn


@pytest.fixture
async def backend(store_location: str | Path) -> AsyncIterator[Backend]:
    """The embedded store, once on SQLite and once on PostgreSQL (`-m "not postgres"` leaves PostgreSQL out)."""
    if isinstance(store_location, Path):
        store: Backend = SqliteStore(store_location)
    elif is_postgres_url(store_location):
        store = open_store(store_location)  # what TABLES_MCP_DB=postgresql://... selects
    else:  # TABLES_MCP_TEST_PG_DSN given as key=value pairs
        from tables_mcp.backends.store.postgres import PostgresStore

        store = PostgresStore(store_location)
    await store.open()
    yield store
    await store.aclose()


@pytest.fixture
async def agent(backend: Backend) -> AsyncIterator[Agent]:
    """An agent with every per-table tool (listRecords_<t>, createRecords_<t>, patchRecord_<t>)."""
    async for item in open_agent(backend, ToolOptions(mode="per-table")):
        yield item


@pytest.fixture
async def tasks(agent: Agent) -> Agent:
    """An agent whose store holds a 'Tasks' table."""
    await agent.ok("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
    return agent


@pytest.fixture(scope="module")
def fake_kintone() -> Iterator[tuple[FakeKintone, str]]:
    """One fake Kintone server per test module (stopping uvicorn costs ~0.2 s); each test resets its state."""
    state = FakeKintone()
    with serve_fake_kintone(state) as url:
        yield state, url
