"""Deletes confirmed by the user through MCP elicitation, with a real ClientSession on SQLite and PostgreSQL.

A client that declares elicitation is asked (`elicitation/create`: how many records of which table, a
bounded preview, one `confirm` checkbox) before deleteRecords deletes; only a ticked accept deletes.
A client without elicitation, or a server started with --confirm-deletes never, deletes at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import mcp.types as types
import pytest

from tables_mcp.backends.base import Backend
from tables_mcp.tools import ToolOptions

from .conftest import TASK_COLUMNS, Agent, open_agent

pytestmark = pytest.mark.anyio


class User:
    """The person behind the client: records each question and gives the answer the test chose."""

    def __init__(self, answer: types.ElicitResult | types.ErrorData) -> None:
        self.answer = answer
        self.questions: list[types.ElicitRequestFormParams] = []

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult | types.ErrorData:
        assert isinstance(params, types.ElicitRequestFormParams)
        self.questions.append(params)
        return self.answer


def accept(confirm: bool = True) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"confirm": confirm})


async def agent_asking(backend: Backend, user: User | None, options: ToolOptions | None = None) -> AsyncIterator[Agent]:
    async for agent in open_agent(backend, options, elicitation_callback=user):
        yield agent


async def seeded(agent: Agent, titles: list[str]) -> list[str]:
    await agent.ok("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
    rows = [{"Title": title, "Status": "Todo"} for title in titles]
    return [r["id"] for r in (await agent.ok("createRecords", {"table": "Tasks", "records": rows}))["records"]]


async def remaining(agent: Agent) -> int:
    return len((await agent.ok("listRecords", {"table": "Tasks"}))["records"])


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (types.ElicitResult(action="decline"), "declined"),
        (types.ElicitResult(action="cancel"), "dismissed the question about"),
        (accept(confirm=False), "declined"),  # submitted without ticking the box: not a yes
    ],
    ids=["decline", "cancel", "accept-unticked"],
)
async def test_without_a_yes_nothing_is_deleted(backend: Backend, answer: types.ElicitResult, said: str) -> None:
    user = User(answer)
    async for agent in agent_asking(backend, user):
        ids = await seeded(agent, ["Write report", "Fix login"])
        error = await agent.error("deleteRecords", {"table": "Tasks", "recordIds": ids})
        assert error["code"] == "declined" and error["retryable"] is False
        assert f"The user {said} deleting 2 records of table 'Tasks'; nothing was deleted." == error["message"]
        assert "do not retry" in error["hint"]
        assert await remaining(agent) == 2
    [question] = user.questions
    assert question.message.startswith("Delete 2 records of table 'Tasks'? This cannot be undone.")
    assert f"- {ids[0]}: Write report" in question.message and f"- {ids[1]}: Fix login" in question.message
    assert question.requestedSchema["properties"]["confirm"]["type"] == "boolean"
    assert question.requestedSchema["required"] == ["confirm"]


async def test_a_yes_deletes(backend: Backend) -> None:
    user = User(accept())
    async for agent in agent_asking(backend, user):
        ids = await seeded(agent, ["a", "b", "c"])
        deleted = await agent.ok("deleteRecords", {"table": "Tasks", "recordIds": ids[:2]})
        assert sorted(deleted["deleted"]) == sorted(ids[:2])
        assert await remaining(agent) == 1
    assert len(user.questions) == 1 and user.questions[0].message.startswith("Delete 2 records")


async def test_the_preview_is_bounded(backend: Backend) -> None:
    user = User(types.ElicitResult(action="decline"))
    titles = [f"task {i}" for i in range(8)]
    titles[0] = "line one\nline two\x1b[31m " + "x" * 500  # one line, control characters gone, cut
    async for agent in agent_asking(backend, user):
        ids = await seeded(agent, titles)
        await agent.error("deleteRecords", {"table": "Tasks", "recordIds": ids})
    [question] = user.questions
    lines = question.message.splitlines()
    assert lines[0] == "Delete 8 records of table 'Tasks'? This cannot be undone."
    assert lines[1].startswith(f"- {ids[0]}: line one line two") and lines[1].endswith("...")
    assert len(lines[1]) < 90 and "\x1b" not in lines[1]
    assert lines[2:6] == [f"- {ids[i]}: task {i}" for i in range(1, 5)]
    assert lines[6:] == ["... and 3 more."]


async def test_a_missing_record_fails_before_the_user_is_asked(backend: Backend) -> None:
    user = User(accept())
    async for agent in agent_asking(backend, user):
        ids = await seeded(agent, ["keep"])
        error = await agent.error("deleteRecords", {"table": "Tasks", "recordIds": [ids[0], "999999"]})
        assert error["code"] == "not_found"
        assert await remaining(agent) == 1
    assert user.questions == []


async def test_a_client_that_cannot_ask_is_an_error_that_deletes_nothing(backend: Backend) -> None:
    user = User(types.ErrorData(code=types.INTERNAL_ERROR, message="no dialog here"))
    async for agent in agent_asking(backend, user):
        ids = await seeded(agent, ["keep"])
        error = await agent.error("deleteRecords", {"table": "Tasks", "recordIds": ids})
        assert error["code"] == "unavailable" and "'no dialog here'" in error["message"]
        assert "--confirm-deletes never" in error["hint"]
        assert await remaining(agent) == 1


async def test_a_client_without_elicitation_deletes_as_before(backend: Backend) -> None:
    async for agent in agent_asking(backend, None):
        ids = await seeded(agent, ["a", "b"])
        assert len((await agent.ok("deleteRecords", {"table": "Tasks", "recordIds": ids}))["deleted"]) == 2
        assert await remaining(agent) == 0


async def test_confirm_deletes_never_does_not_ask(backend: Backend) -> None:
    user = User(types.ElicitResult(action="decline"))
    async for agent in agent_asking(backend, user, ToolOptions(confirm_deletes="never")):
        ids = await seeded(agent, ["a"])
        assert (await agent.ok("deleteRecords", {"table": "Tasks", "recordIds": ids}))["deleted"] == ids
    assert user.questions == []


async def test_the_tool_description_says_a_refusal_is_declined(backend: Backend) -> None:
    async for agent in agent_asking(backend, None):
        assert "`declined`" in ((await agent.tools())["deleteRecords"].description or "")
