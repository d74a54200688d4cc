"""The DingTalk target of the backend contract suite: the adapter against the fake DingTalk over loopback HTTP.

`DingTalkTarget` holds the "Tasks" sheet of one base in the fake: the contract's columns that a
DingTalk sheet can hold, as its own field types (no TIME type exists; LONGTEXT and EMAIL have no
field type the fake knows, so Notes and Owner are text fields; DingTalk fields have no "required"
flag, so Title is not required). `dingtalk_target` serves the fake once per test module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from tables_mcp.backends.dingtalk import DingTalkBackend, DingTalkSettings
from tables_mcp.backends.dingtalk.api import ApiTuning
from tables_mcp.http import RetryPolicy

from .fakes.dingtalk import FakeDingTalk, LoggedRequest, serve_fake_dingtalk
from .fakes.serving import Fault, RequestLogReader

APP_KEY = "dingcontracttasks"
APP_SECRET = "contract-app-secret-0123456789"
OPERATOR = "unionid-contract"
BASE_ID = "contractbase0000000000000000000a"
# The Tasks columns as DingTalk fields, in the contract's order.
TASK_FIELDS: dict[str, Any] = {
    "Title": "text",
    "Status": {"type": "singleSelect", "property": {"choices": ["Todo", "Doing", "Done"]}},
    "Estimate": {"type": "number", "property": {"formatter": "FLOAT_2"}},
    "Due": {"type": "date", "property": {"formatter": "YYYY-MM-DD"}},
    "Tags": {"type": "multipleSelect", "property": {"choices": ["bug", "feature", "docs"]}},
    "Notes": "text",
    "Owner": "text",
    "Started": {"type": "date", "property": {"formatter": "YYYY-MM-DD HH:mm"}},
}
FAST_TUNING = ApiTuning(
    retry=RetryPolicy(
        attempts=3, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0, retry_statuses=frozenset({500, 502, 503, 504})
    ),
    refused_wait=0.01,
)


def settings_for(url: str, **changes: str) -> DingTalkSettings:
    values: dict[str, Any] = {
        "app_key": APP_KEY,
        "app_secret": SecretStr(APP_SECRET),
        "operator_id": OPERATOR,
        "base_id": BASE_ID,
        "api_base_url": url,
    }
    return DingTalkSettings.model_validate({**values, **changes})


def environment_for(url: str) -> dict[str, str]:
    """The DINGTALK_* variables a user would set for the contract base."""
    return {
        "DINGTALK_APP_KEY": APP_KEY,
        "DINGTALK_APP_SECRET": APP_SECRET,
        "DINGTALK_OPERATOR_ID": OPERATOR,
        "DINGTALK_BASE_ID": BASE_ID,
        "DINGTALK_API_BASE_URL": url,
    }


def is_record_write(request: LoggedRequest) -> bool:
    """Insert (POST records), update (PUT records) and delete (POST records/delete); records/list is a read."""
    if request.method == "PUT":
        return request.path.endswith("/records")
    return request.method == "POST" and request.path.endswith(("/records", "/records/delete"))


def is_write_path(method: str, path: str) -> bool:
    """`is_record_write` from the method and path."""
    return (method == "PUT" and path.endswith("/records")) or (
        method == "POST" and path.endswith(("/records", "/records/delete"))
    )


class DingTalkTarget(RequestLogReader):
    """One DingTalk base in the fake, holding the contract's Tasks sheet."""

    backend_name = "dingtalk"
    is_record_write = staticmethod(is_record_write)
    # DingTalk fields have no required flag; an and/or tree it cannot express is refused before any request
    # (issue 11); a 5xx on an insert is repeated with its clientToken and succeeds, so a create fails on a 400.
    required_columns: frozenset[str] = frozenset()
    refuses_nested_filters = True
    create_fault_status = 400
    limits = {"At": "DingTalk has no TIME field type"}
    columns: dict[str, str] = {
        "Title": "TEXT",
        "Status": "SELECT",
        "Estimate": "NUMBER",
        "Due": "DATE",
        "Tags": "MULTISELECT",
        "Notes": "TEXT",
        "Owner": "TEXT",
        "Started": "DATETIME",
    }

    def __init__(self, state: FakeDingTalk, url: str) -> None:
        self.state = state
        self.url = url

    def fresh(self) -> None:
        self.state.reset()
        self.state.add_app(APP_KEY, APP_SECRET)
        self.state.add_user(OPERATOR, "Contract operator")
        self.state.add_base("Contract", base_id=BASE_ID)
        self.state.add_sheet(BASE_ID, "Tasks", TASK_FIELDS)

    def backend(self, extra_tables: Sequence[str] = ()) -> DingTalkBackend:
        for name in extra_tables:
            self.state.add_sheet(BASE_ID, name, TASK_FIELDS)
        return DingTalkBackend(settings_for(self.url), tuning=FAST_TUNING)

    def fail_next_write(self, status: int, after: int = 0) -> None:
        """The record-write request after the next `after` answers `status` with DingTalk's body for it.

        An insert carries a clientToken, so a 5xx on one is retried with the same token and the create
        goes through: a create that must fail part-way needs a 400 (DingTalk's document.broken)."""
        self.state.switchboard.fail_after(after, Fault("server_error", status), is_write_path)


@pytest.fixture(scope="module")
def dingtalk_target() -> Iterator[DingTalkTarget]:
    state = FakeDingTalk()
    with serve_fake_dingtalk(state) as url:
        target = DingTalkTarget(state, url)
        target.fresh()
        yield target
