"""Schema resources and confirmed deletes on Kintone, against the fake Kintone on 127.0.0.1.

The Kintone adapter behind a real in-memory MCP session for most checks (a stdio child costs seconds on
a busy machine), and once the installed `tables-mcp --backend kintone` over stdio, configured by the
environment as a user would, driven by the SDK's stdio client with an elicitation callback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import mcp.types as types
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tables_mcp.backends.kintone import KintoneBackend
from tables_mcp.tools import ToolOptions

from .conftest import FAST_RETRY, Agent, open_agent
from .fakes.kintone import FakeKintone
from .test_kintone_e2e import DEAL_FIELDS, DEALS_TOKEN, TASK_FIELDS, TASKS_TOKEN, command, kintone_env

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake(fake_kintone: tuple[FakeKintone, str]) -> FakeKintone:
    state = fake_kintone[0]
    state.reset()
    state.add_token(state.add_app("Tasks", TASK_FIELDS), token=TASKS_TOKEN)
    state.add_token(state.add_app("案件管理", DEAL_FIELDS), token=DEALS_TOKEN)
    state.add_records(1, [{"Title": {"value": f"task {i}"}, "Code": {"value": f"C{i}"}} for i in range(3)])
    return state


@pytest.fixture
def url(fake_kintone: tuple[FakeKintone, str]) -> str:
    return fake_kintone[1]


class User:
    def __init__(self, action: str) -> None:
        self.action = action
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        self.questions.append(params.message)
        if self.action == "accept":
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")


@asynccontextmanager
async def kintone_agent(url: str, user: User | None, options: ToolOptions | None = None) -> AsyncIterator[Agent]:
    backend = KintoneBackend(url, api_tokens=[TASKS_TOKEN, DEALS_TOKEN], app_ids=["1", "2"], retry=FAST_RETRY)
    await backend.open()
    try:
        async for agent in open_agent(backend, options, elicitation_callback=user):
            yield agent
    finally:
        await backend.aclose()


@asynccontextmanager
async def stdio_agent(url: str, user: User | None, **settings: str) -> AsyncIterator[Agent]:
    exe, *rest = command()
    params = StdioServerParameters(command=exe, args=[*rest, "--backend", "kintone"], env=kintone_env(url, **settings))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, elicitation_callback=user) as session:
            await session.initialize()
            yield Agent(session, [])


def stored_titles(fake: FakeKintone) -> list[str]:
    return sorted(record.values["Title"] for record in fake.apps[1].records.values())


async def test_each_app_is_a_schema_resource_and_the_allow_list_holds(fake: FakeKintone, url: str) -> None:
    async with kintone_agent(url, None) as agent:
        resources = await agent.resources()
        assert set(resources) == {"tables://1/schema", "tables://2/schema"}
        assert {r.name for r in resources.values()} == {"Tasks", "案件管理"}
        for uri, resource in resources.items():
            assert await agent.read_schema(uri) == await agent.ok("describeTable", {"table": resource.name})
    async with kintone_agent(url, None, ToolOptions(tables=("Tasks",))) as agent:
        assert list(await agent.resources()) == ["tables://1/schema"]
        await agent.missing_resource("tables://2/schema")


async def test_a_delete_runs_only_once_the_user_says_yes(fake: FakeKintone, url: str) -> None:
    declining = User("decline")
    async with kintone_agent(url, declining) as agent:
        ids = [r["id"] for r in (await agent.ok("listRecords", {"table": "Tasks"}))["records"]]
        error = await agent.error("deleteRecords", {"table": "Tasks", "recordIds": ids[:2]})
        assert error["code"] == "declined"
    assert stored_titles(fake) == ["task 0", "task 1", "task 2"]
    [question] = declining.questions
    assert question.startswith("Delete 2 records of table 'Tasks'?")
    assert all(f"- {record_id}: task " in question for record_id in ids[:2])

    accepting = User("accept")
    async with kintone_agent(url, accepting) as agent:
        assert sorted((await agent.ok("deleteRecords", {"table": "Tasks", "recordIds": ids[:2]}))["deleted"]) == sorted(
            ids[:2]
        )
    assert len(accepting.questions) == 1 and len(stored_titles(fake)) == 1


async def test_the_command_serves_resources_and_confirm_deletes_never_from_the_environment(
    fake: FakeKintone, url: str
) -> None:
    user = User("decline")
    async with stdio_agent(url, user, TABLES_MCP_CONFIRM_DELETES="never") as agent:
        assert set(await agent.resources()) == {"tables://1/schema", "tables://2/schema"}
        assert (await agent.read_schema("tables://1/schema"))["table"]["name"] == "Tasks"
        ids = [r["id"] for r in (await agent.ok("listRecords", {"table": "Tasks"}))["records"]]
        assert len((await agent.ok("deleteRecords", {"table": "Tasks", "recordIds": ids}))["deleted"]) == 3
    assert user.questions == [] and stored_titles(fake) == []
