"""The DingTalk adapter through what an agent sees (a real MCP session), against the fake DingTalk on 127.0.0.1.

Covers issue 11's tests: token expiry in a burst of 6 calls fetches one token; an insert whose answer
is lost is stored once and reported with its id; a throttling answer is retried transparently; 250
records are 3 requests and a failure of the second reports exact written/failed. Also the settings,
the sheet -> table mapping (Chinese names, read-only and unknown types), value translation both ways,
filters (translated or refused), paging, and the error table.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from tables_mcp.backends.dingtalk import ADAPTER, DingTalkBackend
from tables_mcp.backends.kit.token_auth import AccessToken, RefreshingTokenAuth
from tables_mcp.errors import ConfigError, ErrorCode, TablesError
from tables_mcp.model import ListQuery, SortKey
from tables_mcp.tools import ToolOptions

from .conftest import Agent, open_agent
from .contract_dingtalk import APP_KEY, APP_SECRET, BASE_ID, OPERATOR, DingTalkTarget, environment_for, settings_for
from .contract_dingtalk import dingtalk_target as dingtalk_target
from .fakes.dingtalk import READ_PERMISSION, FakeDingTalk
from .fakes.dingtalk.model import FakeField

pytestmark = pytest.mark.anyio

BOB = "unionid-bob"
INSERTS = r"/records$"
PEOPLE_FIELDS: dict[str, Any] = {"Name": "text", "Who": {"type": "user", "property": {"multiple": False}}}


@pytest.fixture
def target(dingtalk_target: DingTalkTarget) -> DingTalkTarget:
    dingtalk_target.fresh()
    dingtalk_target.state.add_user(BOB, "Bob")
    return dingtalk_target


@pytest.fixture
def state(target: DingTalkTarget) -> FakeDingTalk:
    return target.state


@pytest.fixture
async def backend(target: DingTalkTarget) -> AsyncIterator[DingTalkBackend]:
    opened = target.backend()
    await opened.open()
    yield opened
    await opened.aclose()


@pytest.fixture
async def agent(backend: DingTalkBackend) -> AsyncIterator[Agent]:
    async for session in open_agent(backend, ToolOptions()):
        yield session


def requests_to(state: FakeDingTalk, method: str, path_end: str) -> list[Any]:
    return [r for r in list(state.requests) if r.method == method and r.path.endswith(path_end)]


async def opened(target: DingTalkTarget, *tables: str) -> DingTalkBackend:
    backend = target.backend(tables)
    await backend.open()
    return backend


# -- settings ------------------------------------------------------------------------------------------------------


def test_settings_name_the_variable_to_fix() -> None:
    good = environment_for("http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="DINGTALK_OPERATOR_ID is required"):
        ADAPTER.open({k: v for k, v in good.items() if k != "DINGTALK_OPERATOR_ID"}, "")
    with pytest.raises(ConfigError, match=r"unknown environment variable DINGTALK_APPKEY; known: .*DINGTALK_APP_KEY"):
        ADAPTER.open({**good, "DINGTALK_APPKEY": "x"}, "")
    with pytest.raises(ConfigError, match="DINGTALK_API_BASE_URL: .*host only"):
        ADAPTER.open({**good, "DINGTALK_API_BASE_URL": "https://api.dingtalk.com/v1.0"}, "")
    with pytest.raises(ConfigError, match="DINGTALK_BASE_ID: .*single id") as raised:
        ADAPTER.open({**good, "DINGTALK_BASE_ID": "abc/def"}, "")
    assert APP_SECRET not in str(raised.value)
    backend = ADAPTER.open({k: v for k, v in good.items() if k != "DINGTALK_API_BASE_URL"}, "")
    assert isinstance(backend, DingTalkBackend) and backend.settings.api_base_url == "https://api.dingtalk.com"


# -- tables and columns --------------------------------------------------------------------------------------------


async def test_sheets_are_tables_with_typed_columns_and_chinese_names(target: DingTalkTarget) -> None:
    contacts = target.state.add_sheet(BASE_ID, "Contacts", {"Name": "text"})
    target.state.add_sheet(
        BASE_ID,
        "任务",
        {
            "标题": "text",
            "数量": {"type": "currency"},
            "状态": {"type": "singleSelect", "property": {"choices": ["待办", "完成"]}},
            "已完成": "checkbox",
            "负责人": {"type": "user", "property": {"multiple": True}},
            "部门": "department",
            "链接": "url",
            "截止": {"type": "date"},
            "联系人": {"type": "unidirectionalLink", "property": {"linkedSheetId": contacts}},
            "附件": "attachment",
            "摘要": {"type": "formula", "compute": lambda cells: cells.get("标题")},
            "作者": "creator",
            "创建于": "createdTime",
        },
    )
    backend = await opened(target)
    try:
        async for agent in open_agent(backend, ToolOptions()):
            tables = (await agent.ok("listTables"))["tables"]
            assert [t["name"] for t in tables] == ["Tasks", "Contacts", "任务"]
            described = await agent.ok("describeTable", {"table": "任务"})
            tools = await agent.tools()
    finally:
        await backend.aclose()
    columns = {col["name"]: col for col in described["table"]["columns"]}
    kinds = {name: (col["type"], col["nativeType"], col["readOnly"]) for name, col in columns.items()}
    assert kinds == {
        "标题": ("TEXT", "text", False),
        "数量": ("NUMBER", "currency", False),
        "状态": ("SELECT", "singleSelect", False),
        "已完成": ("BOOLEAN", "checkbox", False),
        "负责人": ("USER", "user", False),
        "部门": ("USER", "department", False),
        "链接": ("URL", "url", False),
        "截止": ("DATETIME", "date", False),  # no day-only formatter: a time of day may be held
        "联系人": ("REFERENCE", "unidirectionalLink", False),
        "附件": ("FILE", "attachment", True),
        "摘要": ("FORMULA", "formula", True),
        "作者": ("USER", "creator", True),
        "创建于": ("DATETIME", "createdTime", True),
    }
    assert columns["状态"]["options"] == ["待办", "完成"] and columns["联系人"]["referenceTable"] == contacts
    assert not any(col["required"] for col in columns.values())
    row = described["createSchema"]
    assert set(row["properties"]) == {name for name, kind in kinds.items() if not kind[2]}
    assert row["properties"]["状态"] == {"enum": ["待办", "完成"]}
    [chinese_tool] = [name for name, tool in tools.items() if "'任务'" in (tool.description or "")]
    assert chinese_tool.startswith("createRecords_") and chinese_tool.isascii() and len(chinese_tool) <= 40


async def test_an_unknown_field_type_is_a_read_only_column_shown_as_sent(target: DingTalkTarget) -> None:
    state = target.state
    [record_id] = state.add_records(BASE_ID, "Tasks", [{"Title": "here"}])
    with state.lock:  # a field type the fake does not know: planted in its state as DingTalk would hold it
        sheet = state.bases[BASE_ID].sheet("Tasks")
        assert sheet is not None
        sheet.fields["fldGeo"] = FakeField("fldGeo", "Where", "geolocation", {})
        sheet.records[record_id].values["fldGeo"] = {"lng": 116.4, "lat": 39.9, "address": "北京"}
    backend = await opened(target)
    try:
        async for agent in open_agent(backend, ToolOptions()):
            described = await agent.ok("describeTable", {"table": "Tasks"})
            listed = await agent.ok("listRecords", {"table": "Tasks"})
            refused = await agent.error("createRecords_Tasks", {"records": [{"Title": "x", "Where": "here"}]})
    finally:
        await backend.aclose()
    [where] = [col for col in described["table"]["columns"] if col["name"] == "Where"]
    assert (where["type"], where["nativeType"], where["readOnly"]) == ("UNKNOWN", "geolocation", True)
    assert listed["records"][0]["fields"]["Where"] == {"lng": 116.4, "lat": 39.9, "address": "北京"}
    assert refused["code"] == "invalid_argument" and "read-only" in refused["fieldErrors"][0]["message"]


async def test_a_new_sheet_or_field_changes_the_tool_list(target: DingTalkTarget) -> None:
    backend = DingTalkBackend(settings_for(target.url), schema_ttl=0)
    await backend.open()
    try:
        async for agent in open_agent(backend, ToolOptions(schema_ttl=0)):
            target.state.add_sheet(BASE_ID, "新表", {"名称": "text"})
            assert [t["name"] for t in (await agent.ok("listTables"))["tables"]] == ["Tasks", "新表"]
            target.state.add_field(BASE_ID, "Tasks", "Extra", "checkbox")
            described = await agent.ok("describeTable", {"table": "Tasks"})
            changed = [m for m in agent.notifications if "ToolListChanged" in type(getattr(m, "root", m)).__name__]
    finally:
        await backend.aclose()
    assert "Extra" in {col["name"] for col in described["table"]["columns"]}
    assert changed, "tools/list_changed was sent"


# -- values --------------------------------------------------------------------------------------------------------


async def test_values_are_translated_both_ways(target: DingTalkTarget) -> None:
    state = target.state
    contacts = state.add_sheet(BASE_ID, "Contacts", {"Name": "text"})
    [ada] = state.add_records(BASE_ID, contacts, [{"Name": "Ada"}])
    state.add_sheet(
        BASE_ID,
        "Mixed",
        {
            "Title": "text",
            "Price": {"type": "currency"},
            "Count": {"type": "number"},
            "Day": {"type": "date", "property": {"formatter": "YYYY-MM-DD"}},
            "At": {"type": "date", "property": {"formatter": "YYYY-MM-DD HH:mm"}},
            "Done": "checkbox",
            "Owners": {"type": "user", "property": {"multiple": True}},
            "Lead": {"type": "user", "property": {"multiple": False}},
            "Site": "url",
            "Contact": {"type": "unidirectionalLink", "property": {"multiple": False, "linkedSheetId": contacts}},
            "Colours": {"type": "multipleSelect", "property": {"choices": ["red", "blue"]}},
        },
    )
    row = {
        "Title": "all kinds",
        "Price": 12345678.125,
        "Count": 3,
        "Day": "2026-03-01",
        "At": "2026-03-01T10:15:00+09:00",
        "Done": False,
        "Owners": [OPERATOR, BOB],
        "Lead": BOB,
        "Site": "https://example.com/a?b=1",
        "Contact": ada,
        "Colours": ["blue", "red"],
    }
    backend = await opened(target)
    try:
        async for agent in open_agent(backend, ToolOptions()):
            [created] = (await agent.ok("createRecords", {"table": "Mixed", "records": [row]}))["records"]
            got = (await agent.ok("getRecord", {"table": "Mixed", "recordId": created["id"]}))["record"]
    finally:
        await backend.aclose()
    expected = {**row, "At": "2026-03-01T01:15:00Z"}
    assert created["fields"] == expected and got == created
    assert type(created["fields"]["Count"]) is int and type(created["fields"]["Price"]) is float
    [inserted] = requests_to(state, "POST", "/records")[0].body["records"]
    assert inserted["fields"] == {
        **row,
        "Day": 1772294400000,  # 2026-03-01 00:00 in UTC+8
        "At": 1772327700000,
        "Owners": [{"unionId": OPERATOR}, {"unionId": BOB}],
        "Lead": [{"unionId": BOB}],
        "Site": {"text": row["Site"], "link": row["Site"]},
        "Contact": {"linkedRecordIds": [ada]},
    }
    stored = state.record(BASE_ID, "Mixed", created["id"])["fields"]
    assert stored["Price"] == "12345678.125" and stored["Count"] == "3", "DingTalk reads numbers back as text"


async def test_a_number_a_double_cannot_hold_comes_back_exact(target: DingTalkTarget, agent: Agent) -> None:
    target.state.add_records(BASE_ID, "Tasks", [{"Title": "big", "Estimate": "123456789012345678901.5"}])
    [record] = (await agent.ok("listRecords", {"table": "Tasks"}))["records"]
    assert record["fields"]["Estimate"] == "123456789012345678901.5"


async def test_patch_changes_and_clears_only_the_cells_sent(agent: Agent) -> None:
    [record] = (await agent.ok("createRecords_Tasks", {"records": [{"Title": "p", "Estimate": 2, "Tags": ["bug"]}]}))[
        "records"
    ]
    patched = await agent.ok(
        "patchRecord", {"table": "Tasks", "recordId": record["id"], "fields": {"Tags": None, "Notes": "n"}}
    )
    assert patched["record"]["fields"] == {"Title": "p", "Estimate": 2, "Notes": "n"}
    missing = await agent.error("patchRecord", {"table": "Tasks", "recordId": "recNope", "fields": {"Title": "x"}})
    assert missing["code"] == "not_found" and "recNope" in missing["message"]


# -- access tokens -------------------------------------------------------------------------------------------------


async def test_token_expiry_during_a_burst_of_six_calls_fetches_exactly_one_token(
    state: FakeDingTalk, backend: DingTalkBackend
) -> None:
    [tasks] = await backend.list_tables()
    ids = state.add_records(BASE_ID, "Tasks", [{"Title": f"t{i}"} for i in range(6)])
    issued = state.tokens_issued
    state.expire_all_tokens()  # DingTalk ends the token while the adapter still holds it
    state.delay_next(0.3, path="oauth2")  # every call is rejected before the new token arrives
    state.clear_log()
    found: dict[str, str] = {}

    async def read(record_id: str) -> None:
        found[record_id] = (await backend.get_record(tasks, record_id))["fields"]["Title"]

    async with anyio.create_task_group() as group:
        for record_id in ids:
            group.start_soon(read, record_id)
    assert found == {record_id: f"t{i}" for i, record_id in enumerate(ids)}
    assert state.tokens_issued == issued + 1
    reads = [r for r in state.requests if "/records/" in r.path]
    assert sorted(r.status for r in reads) == [200] * 6 + [400] * 6, "each call was rejected once, then repeated"


async def test_a_token_is_reused_while_it_lives_and_fetched_once_shortly_before_it_expires(
    target: DingTalkTarget,
) -> None:
    state = target.state
    now = [0.0]
    fetched: list[str] = []

    async def fetch() -> AccessToken:
        fetched.append(state.issue_token(APP_KEY))
        return AccessToken(fetched[-1], 1000.0)

    auth = RefreshingTokenAuth(
        fetch, header="x-acs-dingtalk-access-token", register_secret=lambda token: None, clock=lambda: now[0]
    )
    sheets = f"/v1.0/notable/bases/{BASE_ID}/sheets"
    async with httpx.AsyncClient(base_url=target.url, auth=auth, params={"operatorId": OPERATOR}) as client:

        async def burst() -> list[int]:
            statuses: list[int] = []

            async def one() -> None:
                statuses.append((await client.get(sheets)).status_code)

            async with anyio.create_task_group() as group:
                for _ in range(6):
                    group.start_soon(one)
            return statuses

        assert await burst() == [200] * 6 and len(fetched) == 1
        now[0] = 699.0  # refreshed 300 s before the 1000 s lifetime ends
        assert await burst() == [200] * 6 and len(fetched) == 1
        now[0] = 701.0
        assert await burst() == [200] * 6 and len(fetched) == 2, "one fetch for six callers"
    assert auth.fetches == 2


async def test_wrong_app_secret_fails_at_open_without_showing_it(target: DingTalkTarget) -> None:
    backend = DingTalkBackend(settings_for(target.url, app_secret="wrong-secret-value"))
    with pytest.raises(TablesError) as raised:
        await backend.open()
    await backend.aclose()
    error = raised.value
    assert error.code is ErrorCode.UNAUTHENTICATED and error.backend_code == "invalidClientIdOrSecret"
    assert "DINGTALK_APP_SECRET" in (error.hint or "")
    assert "wrong-secret-value" not in error.to_text()


async def test_no_secret_or_token_reaches_logs_or_answers(
    target: DingTalkTarget, agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    state = target.state
    state.expire_all_tokens()
    state.lose_answer_next(1, method="POST", path=INSERTS)
    outputs = [await agent.call("createRecords_Tasks", {"records": [{"Title": "x"}]})]
    state.fail_next(5, "internalError")
    outputs.append(await agent.call("listRecords", {"table": "Tasks"}))
    token = state.issue_token(APP_KEY)  # the live token: the one the adapter holds
    shown = caplog.text + "".join(str(result.model_dump()) for result in outputs)
    assert APP_SECRET not in shown and token not in shown
    notable = [r for r in state.requests if "/notable/" in r.path]
    assert notable and all(r.headers["x-acs-dingtalk-access-token"] == "REDACTED" for r in notable)


# -- inserts exactly once ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("repeat_answer", ["same_ids", "conflict"])
async def test_an_insert_whose_answer_is_lost_is_stored_once_and_reported_with_its_id(
    state: FakeDingTalk, agent: Agent, repeat_answer: Any
) -> None:
    state.duplicate_token_answer = repeat_answer
    state.clear_log()
    state.lose_answer_next(1, method="POST", path=INSERTS)  # applied, then the connection is reset
    created = (await agent.ok("createRecords_Tasks", {"records": [{"Title": "once"}]}))["records"]
    stored = state.records(BASE_ID, "Tasks")
    assert [r["fields"]["Title"] for r in stored] == ["once"]
    assert [r["id"] for r in created] == [stored[0]["id"]]
    inserts = requests_to(state, "POST", "/records")
    tokens = {r.query["clientToken"] for r in inserts}
    assert len(inserts) == 2 and len(tokens) == 1, "the repeat carried the same clientToken"
    assert uuid.UUID(tokens.pop()).version == 4
    asked = requests_to(state, "POST", "/changedRecordIds/query")
    assert len(asked) == (1 if repeat_answer == "conflict" else 0), "a 409 repeat is settled by asking DingTalk"


async def test_ids_are_recovered_even_when_every_repeat_is_lost(state: FakeDingTalk, agent: Agent) -> None:
    state.lose_answer_next(3, method="POST", path=INSERTS)  # the first try and both repeats
    created = (await agent.ok("createRecords_Tasks", {"records": [{"Title": "a"}, {"Title": "b"}]}))["records"]
    stored = state.records(BASE_ID, "Tasks")
    assert [r["id"] for r in created] == [r["id"] for r in stored] and len(stored) == 2
    assert len(requests_to(state, "POST", "/changedRecordIds/query")) == 1


async def test_every_insert_request_has_its_own_client_token_and_a_5xx_is_repeated_with_it(
    state: FakeDingTalk, agent: Agent
) -> None:
    state.clear_log()
    state.fail_next(1, "internalError", method="POST", path=INSERTS)
    rows = [{"Title": f"r{i:03}"} for i in range(250)]
    created = (await agent.ok("createRecords_Tasks", {"records": rows}))["records"]
    assert [r["fields"]["Title"] for r in created] == [row["Title"] for row in rows]
    assert len(state.records(BASE_ID, "Tasks")) == 250, "nothing stored twice"
    inserts = requests_to(state, "POST", "/records")
    assert sorted(r.status for r in inserts) == [200, 200, 200, 500]
    assert len({r.query["clientToken"] for r in inserts}) == 3


async def test_250_records_are_three_requests_and_a_failure_in_the_second_says_exactly_what_was_written(
    target: DingTalkTarget,
) -> None:
    state = target.state
    state.add_sheet(BASE_ID, "People", PEOPLE_FIELDS)
    backend = await opened(target)
    rows = [{"Name": f"p{i:03}", "Who": OPERATOR} for i in range(250)]
    rows[150]["Who"] = "unionid-nobody"  # only DingTalk knows this user does not exist: records 100-199 refused
    try:
        async for agent in open_agent(backend, ToolOptions()):
            state.clear_log()
            result = await agent.call("createRecords_People", {"records": rows})
    finally:
        await backend.aclose()
    assert result.isError and result.structuredContent is not None
    payload = result.structuredContent
    error = payload["error"]
    assert error["code"] == "invalid_argument" and error["backendCode"] == "invalidRequest.inputArgs.invalid"
    assert "Wrote 150 of 250" in error["message"]
    assert [(fe["record"], fe["field"]) for fe in error["fieldErrors"]] == [(150, "Who")]
    assert "unionid-nobody" in error["fieldErrors"][0]["message"], "DingTalk's own message"
    inserts = requests_to(state, "POST", "/records")
    assert sorted(len(r.body["records"]) for r in inserts) == [50, 100, 100]
    assert sorted(r.status for r in inserts) == [200, 200, 400]
    written = [record["fields"]["Name"] for record in payload["written"]]
    assert written == [f"p{i:03}" for i in [*range(100), *range(200, 250)]]
    assert [item["index"] for item in payload["failed"]] == list(range(100, 200))
    assert "unchanged" in payload["failed"][0]["error"]["message"]
    stored = state.records(BASE_ID, "People")
    assert sorted(r["id"] for r in stored) == sorted(r["id"] for r in payload["written"])


# -- throttling and other errors -----------------------------------------------------------------------------------


async def test_one_throttling_answer_is_retried_transparently(state: FakeDingTalk, agent: Agent) -> None:
    state.clear_log()
    state.throttle_next(1, path=INSERTS)  # a 403 refused before processing: even an insert is sent again
    created = await agent.ok("createRecords_Tasks", {"records": [{"Title": "after a throttle"}]})
    assert [r.status for r in requests_to(state, "POST", "/records")] == [403, 200]
    assert len(state.records(BASE_ID, "Tasks")) == 1 and created["records"][0]["fields"]["Title"] == "after a throttle"


@pytest.mark.parametrize(
    "code", ["Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", "Forbidden.AccessDenied.QpsLimitForApi"]
)
async def test_lasting_throttling_is_rate_limited_never_permission_denied(
    state: FakeDingTalk, agent: Agent, code: str
) -> None:
    state.throttle_next(20, code=code, path="/records/list")
    error = await agent.error("listRecords", {"table": "Tasks"})
    assert (error["code"], error["retryable"], error["retryAfter"]) == ("rate_limited", True, 1.0)
    assert error["backendCode"] == code and "permission" not in error["hint"].lower()


async def test_the_monthly_quota_is_not_retried_and_says_why(state: FakeDingTalk, agent: Agent) -> None:
    state.clear_log()
    state.throttle_next(1, code="Forbidden.AccessDenied.ApiCountLimitForOrg", path="/records/list")
    error = await agent.error("listRecords", {"table": "Tasks"})
    assert error["code"] == "rate_limited" and "monthly" in error["hint"] and "retryAfter" not in error
    assert len(requests_to(state, "POST", "/records/list")) == 1


@pytest.mark.parametrize(
    "code", ["invalidRequest.document.stillInitializing", "service.timeout", "internalError", "unknownError"]
)
async def test_passing_failures_are_retried_within_bounds(state: FakeDingTalk, agent: Agent, code: str) -> None:
    state.add_records(BASE_ID, "Tasks", [{"Title": "there"}])
    state.fail_next(2, code, path="/records/list")
    listed = await agent.ok("listRecords", {"table": "Tasks"})
    assert [r["fields"]["Title"] for r in listed["records"]] == ["there"]
    state.fail_next(20, code, path="/records/list")
    error = await agent.error("listRecords", {"table": "Tasks"})
    assert error["code"] == "unavailable" and error["retryable"] and error["backendCode"] == code


@pytest.mark.parametrize("kind", ["ip_ban_html", "ip_ban_json"])
async def test_an_ip_ban_page_is_unavailable(state: FakeDingTalk, agent: Agent, kind: Any) -> None:
    state.malformed_next(1, kind, path="/records/list")
    error = await agent.error("listRecords", {"table": "Tasks"})
    assert error["code"] == "unavailable" and error["retryAfter"] == 300.0 and "blocked" in error["hint"]


async def test_a_broken_document_is_a_backend_error(state: FakeDingTalk, agent: Agent) -> None:
    state.fail_next(1, "invalidRequest.document.broken", path="/records/list")
    error = await agent.error("listRecords", {"table": "Tasks"})
    assert error["code"] == "backend_error" and "damaged" in error["hint"]


async def test_a_missing_permission_names_the_one_the_call_needs(target: DingTalkTarget) -> None:
    state = target.state
    state.add_app("dingreader", "reader-secret-0123", {READ_PERMISSION})
    backend = DingTalkBackend(settings_for(target.url, app_key="dingreader", app_secret="reader-secret-0123"))
    await backend.open()  # reading works
    try:
        async for agent in open_agent(backend, ToolOptions()):
            error = await agent.error("createRecords_Tasks", {"records": [{"Title": "x"}]})
    finally:
        await backend.aclose()
    assert error["code"] == "permission_denied" and "Notable.Base.Write.All" in error["message"]
    assert "Notable.Base.Write.All" in error["hint"]


@pytest.mark.parametrize(
    ("change", "code", "named"),
    [
        ({"base_id": "nosuchbase"}, "not_found", "DINGTALK_BASE_ID"),
        ({"operator_id": "unionid-stranger"}, "permission_denied", "DINGTALK_OPERATOR_ID"),
    ],
)
async def test_a_wrong_base_or_operator_fails_at_open_naming_the_setting(
    target: DingTalkTarget, change: dict[str, str], code: str, named: str
) -> None:
    backend = DingTalkBackend(settings_for(target.url, **change))
    with pytest.raises(TablesError) as raised:
        await backend.open()
    await backend.aclose()
    assert raised.value.code.value == code and named in (raised.value.hint or "")


# -- filters and paging --------------------------------------------------------------------------------------------


async def test_filters_become_dingtalk_filters(state: FakeDingTalk, agent: Agent) -> None:
    rows = [
        {"Title": "a", "Estimate": 1, "Due": "2026-03-01", "Status": "Todo"},
        {"Title": "b", "Estimate": 5, "Due": "2026-03-02", "Status": "Done"},
        {"Title": "c", "Status": "Doing"},
    ]
    await agent.ok("createRecords_Tasks", {"records": rows})
    state.clear_log()
    where = {
        "or": [{"field": "Estimate", "op": "in", "value": [1, 5]}, {"field": "Due", "op": "ne", "value": "2026-03-01"}]
    }
    listed = await agent.ok("listRecords", {"table": "Tasks", "filter": where})
    assert [r["fields"]["Title"] for r in listed["records"]] == ["a", "b", "c"]
    [sent] = requests_to(state, "POST", "/records/list")
    assert sent.body["filter"] == {
        "combination": "or",
        "conditions": [
            {"field": "Estimate", "operator": "equal", "value": ["1"]},
            {"field": "Estimate", "operator": "equal", "value": ["5"]},
            {"field": "Due", "operator": "less", "value": ["2026-03-01"]},
            {"field": "Due", "operator": "greater", "value": ["2026-03-01"]},
            {"field": "Due", "operator": "empty"},
        ],
    }
    lte = {
        "and": [
            {"field": "Due", "op": "lte", "value": "2026-03-01"},
            {"field": "Status", "op": "in", "value": ["Todo", "Done"]},
        ]
    }
    assert [
        r["fields"]["Title"] for r in (await agent.ok("listRecords", {"table": "Tasks", "filter": lte}))["records"]
    ] == ["a"]


@pytest.mark.parametrize(
    ("where", "column", "op"),
    [
        (
            {
                "and": [
                    {"field": "Title", "op": "eq", "value": "a"},
                    {"or": [{"field": "Estimate", "op": "gt", "value": 1}, {"field": "Notes", "op": "isEmpty"}]},
                ]
            },
            "Estimate",
            "gt",
        ),
        (
            {
                "and": [
                    {"field": "Title", "op": "in", "value": ["a", "b"]},
                    {"field": "Estimate", "op": "gt", "value": 1},
                ]
            },
            "Title",
            "in",
        ),
        (
            {"and": [{"field": "Due", "op": "ne", "value": "2026-01-01"}, {"field": "Title", "op": "isNotEmpty"}]},
            "Due",
            "ne",
        ),
    ],
)
async def test_a_filter_dingtalk_cannot_express_is_refused_naming_column_and_operator(
    state: FakeDingTalk, agent: Agent, where: dict[str, Any], column: str, op: str
) -> None:
    state.clear_log()
    error = await agent.error("listRecords", {"table": "Tasks", "filter": where})
    assert error["code"] == "invalid_argument"
    assert f"'{column}' with '{op}'" in error["message"] and error["fieldErrors"][0]["field"] == "filter"
    assert state.requests == [], "refused before any request"


async def test_datetime_columns_offer_only_presence_filters(agent: Agent) -> None:
    described = await agent.ok("describeTable", {"table": "Tasks"})
    [started] = [col for col in described["table"]["columns"] if col["name"] == "Started"]
    assert started["operators"] == ["isEmpty", "isNotEmpty"] and started["sortable"] is True
    error = await agent.error(
        "listRecords", {"table": "Tasks", "filter": {"field": "Started", "op": "gt", "value": "2026-01-01T00:00:00Z"}}
    )
    assert error["fieldErrors"][0]["allowed"] == ["isEmpty", "isNotEmpty"]


async def test_pages_map_onto_requests_of_at_most_100(state: FakeDingTalk, agent: Agent) -> None:
    state.add_records(BASE_ID, "Tasks", [{"Title": f"r{i:03}", "Estimate": i % 7} for i in range(230)])
    state.clear_log()
    seen: list[str] = []
    cursor = None
    sizes = []
    while True:
        page = await agent.ok("listRecords", {"table": "Tasks", "limit": 120, **({"cursor": cursor} if cursor else {})})
        sizes.append(len(page["records"]))
        seen += [r["fields"]["Title"] for r in page["records"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sizes == [120, 110] and seen == [f"r{i:03}" for i in range(230)]
    asked = [r.body["maxResults"] for r in requests_to(state, "POST", "/records/list")]
    assert asked == [100, 20, 100, 20] and all(size <= 100 for size in asked)


async def test_a_sort_is_done_over_a_bounded_scan(target: DingTalkTarget, agent: Agent) -> None:
    target.state.add_records(BASE_ID, "Tasks", [{"Title": f"s{i}", "Estimate": (i * 7) % 10} for i in range(10)])
    page = await agent.ok(
        "listRecords", {"table": "Tasks", "limit": 4, "sort": [{"field": "Estimate", "direction": "desc"}]}
    )
    assert [r["fields"]["Estimate"] for r in page["records"]] == [9, 8, 7, 6] and page["totalCount"] == 10
    rest = await agent.ok(
        "listRecords",
        {
            "table": "Tasks",
            "limit": 10,
            "sort": [{"field": "Estimate", "direction": "desc"}],
            "cursor": page["nextCursor"],
        },
    )
    assert [r["fields"]["Estimate"] for r in rest["records"]] == [5, 4, 3, 2, 1, 0] and rest["nextCursor"] is None
    small = DingTalkBackend(settings_for(target.url), max_scan=5)
    await small.open()
    try:
        [tasks] = await small.list_tables()
        with pytest.raises(TablesError, match="at most 5 matching records"):
            await small.list_records(tasks, ListQuery(sort=(SortKey(tasks.columns[2]),)))
    finally:
        await small.aclose()


async def test_deleting_an_unknown_id_names_it_and_deletes_nothing(state: FakeDingTalk, agent: Agent) -> None:
    created = (await agent.ok("createRecords_Tasks", {"records": [{"Title": "keep"}, {"Title": "go"}]}))["records"]
    error = await agent.error("deleteRecords", {"table": "Tasks", "recordIds": [created[1]["id"], "recGhost"]})
    assert error["code"] == "not_found" and "recGhost" in error["message"] and "nothing was deleted" in error["message"]
    assert len(state.records(BASE_ID, "Tasks")) == 2
    deleted = await agent.ok("deleteRecords", {"table": "Tasks", "recordIds": [created[1]["id"]]})
    assert deleted == {"deleted": [created[1]["id"]]}
    assert [r["fields"]["Title"] for r in state.records(BASE_ID, "Tasks")] == ["keep"]
