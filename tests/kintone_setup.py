"""What the Kintone adapter's tests share: a fake domain with a Tasks app holding every field type, tokens and
users, the backend made against it, and small helpers. Test modules import the fixtures by name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tables_mcp.backends.kintone import KintoneBackend
from tables_mcp.errors import TablesError
from tables_mcp.model import Table
from tests.fakes.kintone import FakeKintone, LoggedRequest

from .conftest import FAST_RETRY

TOKEN = "fullToken0123456789"
VIEW_TOKEN = "viewOnlyToken0123456"
PASSWORD = "s3cret-Passw0rd"

TASK_FIELDS: dict[str, dict[str, Any]] = {
    "title": {"type": "SINGLE_LINE_TEXT", "label": "Title", "required": True, "maxLength": 200},
    "code": {"type": "SINGLE_LINE_TEXT", "unique": True},
    "notes": {"type": "MULTI_LINE_TEXT"},
    "body": {"type": "RICH_TEXT"},
    "site": {"type": "LINK", "protocol": "WEB"},
    "mail": {"type": "LINK", "protocol": "MAIL"},
    "phone": {"type": "LINK", "protocol": "CALL"},
    "points": {"type": "NUMBER", "minValue": 0, "maxValue": 100},
    "price": {"type": "NUMBER", "unit": "EUR"},
    "double": {"type": "CALC", "expression": "price * 2"},
    "auto": {"type": "SINGLE_LINE_TEXT", "expression": 'title & "!"'},
    "status": {"type": "DROP_DOWN", "options": ["Todo", "Doing", "Done"]},
    "priority": {"type": "RADIO_BUTTON", "options": ["Low", "High"], "defaultValue": "Low"},
    "tags": {"type": "CHECK_BOX", "options": ["bug", "feature", "docs"]},
    "labels": {"type": "MULTI_SELECT", "options": ["x", "y"]},
    "due": {"type": "DATE"},
    "at": {"type": "TIME"},
    "when": {"type": "DATETIME"},
    "owner": {"type": "USER_SELECT"},
    "team": {"type": "ORGANIZATION_SELECT"},
    "crew": {"type": "GROUP_SELECT"},
    "files": {"type": "FILE"},
    "customer": {
        "type": "SINGLE_LINE_TEXT",
        "lookup": {
            "relatedApp": {"app": "9", "code": ""},
            "relatedKeyField": "name",
            "fieldMappings": [{"field": "customer_name", "relatedField": "name"}],
        },
    },
    "customer_name": {"type": "SINGLE_LINE_TEXT"},
    "items": {
        "type": "SUBTABLE",
        "fields": {"item": {"type": "SINGLE_LINE_TEXT", "required": True}, "qty": {"type": "NUMBER"}},
    },
    "section": {"type": "GROUP"},
    "related": {"type": "REFERENCE_TABLE"},
    "mystery": {"type": "SOMETHING_NEW"},
}


@pytest.fixture
def state(fake_kintone: tuple[FakeKintone, str]) -> FakeKintone:
    state = fake_kintone[0]
    state.reset()
    state.add_user("alice", PASSWORD, name="Alice Example")
    state.add_user("bob", "bob-password", name="Bob Example")
    tasks = state.add_app("Tasks", TASK_FIELDS, description="<p>Team <b>tasks</b> &amp; chores</p>")
    state.add_app("Other", {"name": {"type": "SINGLE_LINE_TEXT"}})
    state.add_app("Guest tasks", {"title": {"type": "SINGLE_LINE_TEXT"}}, guest_space_id=5)
    state.add_token(tasks, token=TOKEN)
    state.add_token(tasks, {"view"}, token=VIEW_TOKEN)
    return state


@pytest.fixture
def url(fake_kintone: tuple[FakeKintone, str]) -> str:
    return fake_kintone[1]


def make(url: str, **options: Any) -> KintoneBackend:
    settings: dict[str, Any] = {"api_tokens": [TOKEN], "app_ids": ["1"], "retry": FAST_RETRY}
    settings.update(options)
    return KintoneBackend(url, **settings)


@pytest.fixture
async def kintone(state: FakeKintone, url: str) -> AsyncIterator[KintoneBackend]:
    backend = make(url)
    await backend.open()
    state.clear_log()
    yield backend
    await backend.aclose()


async def tasks_table(backend: KintoneBackend) -> Table:
    return (await backend.list_tables())[0]


def logged(state: FakeKintone, method: str, endpoint: str) -> list[LoggedRequest]:
    return [r for r in state.requests if r.method == method and r.path.endswith(f"/{endpoint}.json")]


def v(value: Any) -> dict[str, Any]:
    return {"value": value}


async def raises(awaitable: Any) -> TablesError:
    with pytest.raises(TablesError) as info:
        await awaitable
    return info.value
