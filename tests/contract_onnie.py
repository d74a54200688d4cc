"""The Onnie target of the backend contract suite: the fake Onnie on loopback and the adapter over it.

`onnie_target` serves one fake Onnie per test module; `OnnieTarget.fresh()` empties it and creates the
"Tasks" table with the contract's columns that Onnie can hold (it has no DATE or TIME type: Due and At
are left out), and `backend()` gives an adapter (not opened) with a read-write key and a fast retry
policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tables_mcp.backends.onnie import OnnieBackend

from .conftest import FAST_RETRY
from .fakes.onnie import FakeOnnie, LoggedRequest, serve_fake_onnie
from .fakes.serving import Fault, RequestLogReader

# The contract's Tasks columns as Onnie columns, and the canonical type the adapter gives each.
ONNIE_TASK_COLUMNS: list[dict[str, Any]] = [
    {"name": "Title", "type": "TEXT", "required": True},
    {"name": "Status", "type": "SELECT", "options": ["Todo", "Doing", "Done"]},
    {"name": "Estimate", "type": "NUMBER"},
    {"name": "Tags", "type": "MULTISELECT", "options": ["bug", "feature", "docs"]},
    {"name": "Notes", "type": "LONGTEXT"},
    {"name": "Owner", "type": "EMAIL"},
    {"name": "Started", "type": "DATETIME"},
]
RECORD_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_record_write(request: LoggedRequest) -> bool:
    """A request that writes records: POST/PUT/PATCH/DELETE under /tables/{id}/records."""
    return request.method in RECORD_WRITES and "/records" in request.path


def is_write_path(method: str, path: str) -> bool:
    return method in RECORD_WRITES and "/records" in path


class OnnieTarget(RequestLogReader):
    backend_name = "onnie"
    is_record_write = staticmethod(is_record_write)
    columns: dict[str, str] = {col["name"]: col["type"] for col in ONNIE_TASK_COLUMNS}
    limits = {"Due": "Onnie has no DATE type", "At": "Onnie has no TIME type"}

    def __init__(self, state: FakeOnnie, base_url: str) -> None:
        self.state = state
        self.base_url = base_url
        self.key = ""

    def fresh(self) -> None:
        self.state.reset()
        self.state.add_table("Tasks", ONNIE_TASK_COLUMNS)
        self.key = self.state.add_key()

    def backend(self, extra_tables: Sequence[str] = ()) -> OnnieBackend:
        for name in extra_tables:
            self.state.add_table(name, ONNIE_TASK_COLUMNS)
        return OnnieBackend(self.key, self.base_url, retry=FAST_RETRY)

    def fail_next_write(self, status: int, after: int = 0) -> None:
        """The record write after the next `after` gets `status` with Onnie's own error body; POSTs are never
        retried."""
        self.state.switchboard.fail_after(after, Fault("server_error", status), is_write_path)


@pytest.fixture(scope="module")
def onnie_target() -> Iterator[OnnieTarget]:
    state = FakeOnnie()
    with serve_fake_onnie(state) as base_url:
        target = OnnieTarget(state, base_url)
        target.fresh()
        yield target
