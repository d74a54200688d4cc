"""Table schemas as MCP resources, through a real MCP ClientSession on SQLite and PostgreSQL.

One `tables://<table id>/schema` resource per exposed table, whose content is describeTable's answer;
`notifications/resources/list_changed` beside `tools/list_changed` when tables or columns change; the
allow-list, read-only mode and --disable-tools hold for resources as for tools.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp.types as types
import pytest

from tables_mcp.backends.base import Backend
from tables_mcp.tools import ToolOptions

from .conftest import TASK_COLUMNS, Agent, open_agent

pytestmark = pytest.mark.anyio


async def until_notified(agent: Agent, kind: type[Any], count: int) -> None:
    with anyio.fail_after(5):
        while agent.notified(kind) < count:
            await anyio.sleep(0.01)


async def table_id(agent: Agent, name: str) -> str:
    tables = (await agent.ok("listTables"))["tables"]
    return str(next(t["id"] for t in tables if t["name"] == name))


async def test_a_schema_resource_per_table_whose_content_is_describe_table(agent: Agent) -> None:
    capabilities = agent.session.get_server_capabilities()
    assert capabilities is not None and capabilities.resources is not None
    assert capabilities.resources.listChanged is True and not capabilities.resources.subscribe
    assert await agent.resources() == {}

    await agent.ok("createTable", {"name": "Tasks", "columns": TASK_COLUMNS, "description": "Team work"})
    await agent.ok("createTable", {"name": "案件", "columns": [{"name": "名前", "type": "TEXT"}]})
    tasks_uri = f"tables://{await table_id(agent, 'Tasks')}/schema"
    resources = await agent.resources()
    assert len(resources) == 2
    tasks = resources[tasks_uri]
    assert tasks.name == "Tasks" and tasks.mimeType == "application/json"
    assert tasks.description is not None and "Tasks" in tasks.description and "Team work" in tasks.description
    for uri, resource in resources.items():
        described = await agent.ok("describeTable", {"table": resource.name})
        assert await agent.read_schema(uri) == described  # the same answer, key for key
    assert "案件" in {resource.name for resource in resources.values()}


async def test_tables_and_columns_changing_notify_resources_and_tools(agent: Agent) -> None:
    await agent.resources()
    await agent.ok("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
    await until_notified(agent, types.ResourceListChangedNotification, 1)
    await until_notified(agent, types.ToolListChangedNotification, 1)
    [uri] = await agent.resources()

    await agent.ok("addColumns", {"table": "Tasks", "columns": [{"name": "Remarks", "type": "LONGTEXT"}]})
    await until_notified(agent, types.ResourceListChangedNotification, 2)
    await until_notified(agent, types.ToolListChangedNotification, 2)
    schema = await agent.read_schema(uri)
    assert "Remarks" in [column["name"] for column in schema["table"]["columns"]]

    await agent.ok("listRecords", {"table": "Tasks"})  # a read changes nothing, so it notifies nothing
    assert agent.notified(types.ResourceListChangedNotification) == 2


async def test_reading_what_is_not_offered_is_resource_not_found(agent: Agent) -> None:
    await agent.ok("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
    uri = f"tables://{await table_id(agent, 'Tasks')}/schema"
    missing = await agent.missing_resource("tables://nope/schema")
    assert missing.data == {"uri": "tables://nope/schema"}
    for other in ("tables://Tasks/schema", uri + "/more", uri.replace("/schema", "/rows"), "file:///etc/passwd"):
        await agent.missing_resource(other)
    long_uri = "tables://" + "x" * 5000 + "/schema"
    error = await agent.missing_resource(long_uri)
    assert len(error.data["uri"]) < 300  # a huge URI is not echoed whole


async def test_allow_list_read_only_and_disabled_describe_hold_for_resources(backend: Backend) -> None:
    async for writer in open_agent(backend):
        await writer.ok("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
        await writer.ok("createTable", {"name": "Secrets", "columns": [{"name": "Value", "type": "TEXT"}]})
        tasks_uri = f"tables://{await table_id(writer, 'Tasks')}/schema"
        secrets_uri = f"tables://{await table_id(writer, 'Secrets')}/schema"

    async for agent in open_agent(backend, ToolOptions(tables=("Tasks",), read_only=True)):
        assert list(await agent.resources()) == [tasks_uri]
        assert (await agent.read_schema(tasks_uri))["table"]["name"] == "Tasks"
        await agent.missing_resource(secrets_uri)  # not exposed: neither listed nor readable

    async for agent in open_agent(backend, ToolOptions(disabled_tools=("describeTable",))):
        assert await agent.resources() == {}  # the resources are describeTable's answers
        await agent.missing_resource(tasks_uri)


async def test_a_table_created_elsewhere_is_readable_at_once(backend: Backend) -> None:
    async for watcher in open_agent(backend):
        assert await watcher.resources() == {}
        async for writer in open_agent(backend):
            await writer.ok("createTable", {"name": "Fresh", "columns": [{"name": "Title", "type": "TEXT"}]})
            uri = f"tables://{await table_id(writer, 'Fresh')}/schema"
        assert (await watcher.read_schema(uri))["table"]["name"] == "Fresh"  # not after the schema TTL
