"""Schema resources and a confirmed delete over streamable HTTP: the real command on 127.0.0.1, the SDK's client.

The question (`elicitation/create`) is a server-to-client request inside a tool call: over streamable
HTTP it rides the call's response stream and the answer comes back as a POST of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from pydantic import AnyUrl

from .conftest import TASK_COLUMNS
from .http_server import running

pytestmark = pytest.mark.anyio


async def test_resources_and_a_confirmed_delete_over_streamable_http(tmp_path: Path) -> None:
    questions: list[str] = []
    answers = iter(["decline", "accept"])

    async def user(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        questions.append(params.message)
        if next(answers) == "accept":
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action="decline")

    seen: list[Any] = []

    async def on_message(message: Any) -> None:
        seen.append(message)

    def resources_changed() -> bool:
        return any(
            isinstance(m, types.ServerNotification) and isinstance(m.root, types.ResourceListChangedNotification)
            for m in seen
        )

    with running(tmp_path / "h.db") as server:
        async with server.session(on_message, elicitation_callback=user) as session:
            capabilities = session.get_server_capabilities()
            assert capabilities is not None and capabilities.resources is not None
            assert capabilities.resources.listChanged is True
            await session.call_tool("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
            with anyio.fail_after(5):
                while not resources_changed():
                    await anyio.sleep(0.02)
            [resource] = (await session.list_resources()).resources
            described = await session.call_tool("describeTable", {"table": "Tasks"})
            [content] = (await session.read_resource(AnyUrl(str(resource.uri)))).contents
            assert isinstance(content, types.TextResourceContents)
            assert json.loads(content.text) == described.structuredContent

            rows = [{"Title": "one", "Status": "Todo"}, {"Title": "two", "Status": "Done"}]
            created = await session.call_tool("createRecords", {"table": "Tasks", "records": rows})
            ids = [r["id"] for r in created.structuredContent["records"]]  # type: ignore[index]
            declined = await session.call_tool("deleteRecords", {"table": "Tasks", "recordIds": ids})
            assert declined.isError and declined.structuredContent["error"]["code"] == "declined"  # type: ignore[index]
            accepted = await session.call_tool("deleteRecords", {"table": "Tasks", "recordIds": ids})
            assert not accepted.isError
            left = await session.call_tool("listRecords", {"table": "Tasks"})
            assert left.structuredContent["records"] == []  # type: ignore[index]
    assert len(questions) == 2 and all(q.startswith("Delete 2 records of table 'Tasks'?") for q in questions)
