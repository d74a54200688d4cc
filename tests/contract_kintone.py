"""The Kintone target of the backend contract suite: the adapter against the fake Kintone over loopback HTTP.

`KintoneTarget.fresh()` empties the fake and adds the "Tasks" app with form fields equivalent to every
contract column (Kintone has a type for each); `backend(extra_tables)` adds one more app per extra table and
gives an adapter (not opened) with an API token for each app. `kintone_target` serves the fake once per
test module (stopping uvicorn costs ~0.2 s).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tables_mcp.backends.kintone import KintoneBackend

from .conftest import FAST_RETRY
from .fakes.kintone import FakeKintone, LoggedRequest, serve_fake_kintone
from .fakes.serving import Fault, RequestLogReader

# The contract's Tasks columns as the form fields of an app (the fake adds Kintone's system fields).
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


# The contract's Keyed columns (tests/contract_backends.py KEYED_COLUMNS) as form fields.
KINTONE_KEYED_FIELDS: dict[str, dict[str, Any]] = {
    "Key": {"type": "SINGLE_LINE_TEXT", "unique": True},
    "Title": {"type": "SINGLE_LINE_TEXT", "required": True},
    "Estimate": {"type": "NUMBER"},
}


WRITE_PATHS = ("/record.json", "/records.json", "/bulkRequest.json")


def is_record_write(request: LoggedRequest) -> bool:
    """A request that writes records (a GET sent as POST + method override is a read)."""
    if request.method not in ("POST", "PUT", "DELETE"):
        return False
    if request.headers.get("x-http-method-override", "").upper() == "GET":
        return False
    return request.path.endswith(WRITE_PATHS)


def is_write_path(method: str, path: str) -> bool:
    """`is_record_write` from the method and path alone (no create sends a long GET as a POST)."""
    return method in ("POST", "PUT", "DELETE") and path.endswith(WRITE_PATHS)


class KintoneTarget(RequestLogReader):
    backend_name = "kintone"
    is_record_write = staticmethod(is_record_write)
    columns: dict[str, str] = {
        "Title": "TEXT",
        "Status": "SELECT",
        "Estimate": "NUMBER",
        "Due": "DATE",
        "Tags": "MULTISELECT",
        "Notes": "LONGTEXT",
        "Owner": "EMAIL",
        "Started": "DATETIME",
        "At": "TIME",
    }

    def __init__(self, state: FakeKintone, url: str) -> None:
        self.state = state
        self.url = url
        self.apps: list[tuple[int, str]] = []

    def fresh(self) -> None:
        self.state.reset()
        app = self.state.add_app("Tasks", KINTONE_TASK_FIELDS)
        self.apps = [(app, self.state.add_token(app))]

    def backend(self, extra_tables: Sequence[str] = ()) -> KintoneBackend:
        for name in extra_tables:
            app = self.state.add_app(name, KINTONE_TASK_FIELDS)
            self.apps.append((app, self.state.add_token(app)))
        return KintoneBackend(
            self.url,
            api_tokens=[token for _, token in self.apps],
            app_ids=[str(app) for app, _ in self.apps],
            retry=FAST_RETRY,
        )

    def keyed_backend(self) -> KintoneBackend:
        """An adapter that also sees the contract's "Keyed" app: "Key" prohibits duplicate values."""
        app = self.state.add_app("Keyed", KINTONE_KEYED_FIELDS)
        self.apps.append((app, self.state.add_token(app)))
        return self.backend()

    def fail_next_write(self, status: int, after: int = 0) -> None:
        """The record write after the next `after` answers `status` (an HTML error page); a create's POSTs are
        never retried."""
        self.state.switchboard.fail_after(after, Fault("server_error", status), is_write_path)


@pytest.fixture(scope="module")
def kintone_target() -> Iterator[KintoneTarget]:
    state = FakeKintone()
    with serve_fake_kintone(state) as url:
        target = KintoneTarget(state, url)
        target.fresh()
        yield target
