"""The fake DingTalk Notable API behaves as BACKENDS.md Part 2 §1/§3b and seed 002 document, seen over real HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.dingtalk import READ_PERMISSION, WRITE_PERMISSION, FakeDingTalk, serve_fake_dingtalk

ALICE, BOB, OUTSIDER = "unionid-alice", "unionid-bob", "unionid-nobody"
KEY, SECRET = "dingtestkey", "test-secret"
TASK_FIELDS: dict[str, Any] = {
    "Title": "text",
    "Count": {"type": "number", "property": {"formatter": "INT"}},
    "Price": "currency",
    "Status": {"type": "singleSelect", "property": {"choices": ["Todo", "Doing", "Done"]}},
    "Tags": {"type": "multipleSelect", "property": {"choices": ["red", "blue", "green"]}},
    "Due": {"type": "date", "property": {"formatter": "YYYY-MM-DD HH:mm"}},
    "Flag": "checkbox",
    "Owner": {"type": "user", "property": {"multiple": False}},
    "Team": "department",
    "Site": "url",
    "Files": "attachment",
    "Label": {"type": "formula", "compute": lambda cells: f"{cells.get('Title', '')}!"},
    "Author": "creator",
    "Editor": "lastModifier",
    "Created": "createdTime",
    "Modified": "lastModifiedTime",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeDingTalk, httpx.Client]]:
    """One server and one client per module: starting uvicorn or an httpx client (SSL context) costs ~0.1 s."""
    state = FakeDingTalk()
    with serve_fake_dingtalk(state) as url, httpx.Client(base_url=url) as client:
        yield state, client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(server: tuple[FakeDingTalk, httpx.Client], clock: Clock) -> FakeDingTalk:
    state = server[0]
    state.reset(clock=clock)
    state.add_app(KEY, SECRET)
    state.add_app("dingreadonly", "ro-secret", {READ_PERMISSION})
    state.add_app("dingwriteonly", "wo-secret", {WRITE_PERMISSION})
    state.add_user(ALICE, "Alice")
    state.add_user(BOB, "Bob")
    state.add_user(OUTSIDER)
    state.add_base("Main", base_id="base1")
    contacts = state.add_sheet("base1", "Contacts", {"Name": "text"}, sheet_id="shtContacts")
    fields = TASK_FIELDS | {"Contact": {"type": "unidirectionalLink", "property": {"linkedSheetId": contacts}}}
    state.add_sheet("base1", "任务", fields, sheet_id="shtTasks")
    state.add_base("Private", base_id="base2", members=[BOB])
    return state


@pytest.fixture
def http(server: tuple[FakeDingTalk, httpx.Client], state: FakeDingTalk) -> httpx.Client:
    """The shared client; asking for ``state`` first resets the tenant for this test."""
    return server[1]


def grant(http: httpx.Client, key: str = KEY, secret: str = SECRET) -> httpx.Response:
    return http.post("/v1.0/oauth2/accessToken", json={"appKey": key, "appSecret": secret})


class Api:
    """A Notable client for one app and operator; paths are relative to ``/v1.0/notable/bases/<base>``."""

    def __init__(self, http: httpx.Client, key: str = KEY, secret: str = SECRET, operator: str | None = ALICE) -> None:
        self.token = grant(http, key, secret).json()["accessToken"]
        self.http = http
        self.operator = operator

    def call(self, method: str, path: str, *, base: str = "base1", **kwargs: Any) -> httpx.Response:
        params = dict(kwargs.pop("params", {}))
        if self.operator is not None:
            params["operatorId"] = self.operator
        headers = {"x-acs-dingtalk-access-token": self.token, **kwargs.pop("headers", {})}
        return self.http.request(method, f"/v1.0/notable/bases/{base}{path}", params=params, headers=headers, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def insert(self, *fields: dict[str, Any], sheet: str = "任务", **kwargs: Any) -> list[str]:
        body = {"records": [{"fields": f} for f in fields]}
        return [item["id"] for item in self.ok("POST", f"/sheets/{sheet}/records", json=body, **kwargs)["value"]]

    def list(self, body: dict[str, Any] | None = None, sheet: str = "任务") -> dict[str, Any]:
        answer: dict[str, Any] = self.ok("POST", f"/sheets/{sheet}/records/list", json=body or {})
        return answer


@pytest.fixture
def api(http: httpx.Client) -> Api:
    return Api(http)


def error_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"code", "requestid", "message"}
    assert body["requestid"] == response.headers["x-acs-request-id"]
    return response.status_code, body["code"]


def titles(answer: dict[str, Any]) -> list[str]:
    return [record["fields"].get("Title", "") for record in answer["records"]]


# -- access tokens -----------------------------------------------------------------------------------------


def test_token_grant_repeat_expiry_and_count(state: FakeDingTalk, http: httpx.Client, clock: Clock) -> None:
    state.token_ttl = 60
    first = grant(http).json()
    assert first["expireIn"] == 60 and isinstance(first["accessToken"], str)
    assert grant(http).json()["accessToken"] == first["accessToken"]  # same token while it lives
    assert state.tokens_issued == 2
    clock.now += 61
    api_call = http.get(
        "/v1.0/notable/bases/base1/sheets",
        params={"operatorId": ALICE},
        headers={"x-acs-dingtalk-access-token": first["accessToken"]},
    )
    assert error_of(api_call) == (400, "InvalidAuthentication") and api_call.json()["message"] == "不合法的access_token"
    assert grant(http).json()["accessToken"] != first["accessToken"]


def test_expire_all_tokens(state: FakeDingTalk, api: Api) -> None:
    assert api.call("GET", "/sheets").status_code == 200
    state.expire_all_tokens()
    assert error_of(api.call("GET", "/sheets")) == (400, "InvalidAuthentication")
    assert state.tokens_issued == 1


@pytest.mark.parametrize(("key", "secret"), [(KEY, "wrong"), ("dingunknown", SECRET)])
def test_bad_app_credentials(http: httpx.Client, key: str, secret: str) -> None:
    assert error_of(grant(http, key, secret)) == (400, "invalidClientIdOrSecret")


def test_token_body_must_be_json(http: httpx.Client) -> None:
    form = http.post("/v1.0/oauth2/accessToken", data={"appKey": KEY, "appSecret": SECRET})
    assert error_of(form) == (400, "Missingbody") and form.json()["message"] == "body is mandatory for this action."
    partial = http.post("/v1.0/oauth2/accessToken", json={"appKey": KEY})
    assert error_of(partial) == (400, "MissingappSecret")


# -- authentication, operator, permissions, lookups ----------------------------------------------------------


def test_token_header_and_operator_required(http: httpx.Client, api: Api) -> None:
    missing = http.get("/v1.0/notable/bases/base1/sheets", params={"operatorId": ALICE})
    assert error_of(missing) == (400, "AuthenticationFailed.MissingParameter")
    bad = http.get(
        "/v1.0/notable/bases/base1/sheets",
        params={"operatorId": ALICE},
        headers={"x-acs-dingtalk-access-token": "nope"},
    )
    assert error_of(bad) == (400, "InvalidAuthentication")
    api.operator = None
    assert error_of(api.call("GET", "/sheets")) == (400, "MissingoperatorId")
    api.operator = "unionid-stranger"
    assert error_of(api.call("GET", "/sheets")) == (403, "forbidden.operationIllegal")


@pytest.mark.parametrize(
    ("key", "secret", "method", "path", "permission"),
    [
        ("dingreadonly", "ro-secret", "POST", "/sheets/任务/records", WRITE_PERMISSION),
        ("dingwriteonly", "wo-secret", "POST", "/sheets/任务/records/list", READ_PERMISSION),
        ("dingwriteonly", "wo-secret", "GET", "/sheets", READ_PERMISSION),
    ],
)
def test_missing_permission_names_it(
    http: httpx.Client, key: str, secret: str, method: str, path: str, permission: str
) -> None:
    response = Api(http, key, secret).call(method, path, json={"records": [{"fields": {}}]})
    assert error_of(response) == (403, "Forbidden.AccessDenied.AccessTokenPermissionDenied")
    assert permission in response.json()["message"]


def test_not_found_errors(api: Api) -> None:
    assert error_of(api.call("GET", "/sheets", base="nobase")) == (404, "invalidRequest.document.notFound")
    assert error_of(api.call("GET", "/sheets", base="base2")) == (404, "invalidRequest.document.notFound")
    api.operator = BOB
    assert api.ok("GET", "/sheets", base="base2") == {"value": []}
    assert error_of(api.call("GET", "/sheets/Nope")) == (404, "invalidRequest.resource.notFound")
    assert error_of(api.call("GET", "/sheets/任务/records/recNope")) == (404, "invalidRequest.resource.notFound")
    unknown = api.call("DELETE", "/sheets/任务")
    assert error_of(unknown) == (404, "InvalidAction.NotFound")


def test_notable_bodies_must_be_json(api: Api) -> None:
    response = api.call("POST", "/sheets/任务/records", content=b"records=1")
    assert error_of(response) == (400, "Missingbody")
    broken = api.call("POST", "/sheets/任务/records", content=b"{", headers={"content-type": "application/json"})
    assert error_of(broken) == (400, "invalidRequest.inputArgs.invalid")


# -- sheets and fields ---------------------------------------------------------------------------------------


def test_sheets_by_id_or_name_and_create(api: Api) -> None:
    assert api.ok("GET", "/sheets") == {
        "value": [{"id": "shtContacts", "name": "Contacts"}, {"id": "shtTasks", "name": "任务"}]
    }
    assert api.ok("GET", "/sheets/shtTasks") == api.ok("GET", "/sheets/任务") == {"id": "shtTasks", "name": "任务"}
    created = api.ok("POST", "/sheets", json={"name": "客户", "fields": [{"name": "名称", "type": "text"}]})
    assert created["name"] == "客户" and created["id"].startswith("sht")
    assert [f["name"] for f in api.ok("GET", "/sheets/客户/fields")["value"]] == ["名称"]
    duplicate = api.call("POST", "/sheets", json={"name": "客户"})
    assert error_of(duplicate) == (400, "invalidRequest.inputArgs.invalid")
    bad_type = api.call("POST", "/sheets", json={"name": "X", "fields": [{"name": "a", "type": "hologram"}]})
    assert error_of(bad_type) == (400, "invalidRequest.inputArgs.invalid")
    assert "X" not in [s["name"] for s in api.ok("GET", "/sheets")["value"]]


def test_fields_shape_and_create_field(api: Api) -> None:
    fields = {f["name"]: f for f in api.ok("GET", "/sheets/任务/fields")["value"]}
    assert fields["Title"] == {"id": fields["Title"]["id"], "name": "Title", "type": "text"}
    assert fields["Title"]["id"].startswith("fld")
    assert fields["Count"]["property"] == {"formatter": "INT"}
    assert [c["name"] for c in fields["Status"]["property"]["choices"]] == ["Todo", "Doing", "Done"]
    assert all(set(c) == {"id", "name"} for c in fields["Status"]["property"]["choices"])
    assert fields["Contact"]["property"] == {"linkedSheetId": "shtContacts"}
    body = {"name": "Level", "type": "singleSelect", "property": {"choices": [{"name": "hi"}]}}
    created = api.ok("POST", "/sheets/任务/fields", json=body)
    assert created["type"] == "singleSelect" and created["property"]["choices"][0]["name"] == "hi"
    assert error_of(api.call("POST", "/sheets/任务/fields", json=body)) == (400, "invalidRequest.inputArgs.invalid")


# -- values --------------------------------------------------------------------------------------------------


def test_value_shapes_round_trip(state: FakeDingTalk, api: Api) -> None:
    (contact,) = api.insert({"Name": "Ada"}, sheet="Contacts")
    doing_id = next(
        c["id"] for c in api.ok("GET", "/sheets/任务/fields")["value"][3]["property"]["choices"] if c["name"] == "Doing"
    )
    written = {
        "Title": "Write docs",
        "Count": 42,
        "Price": "19.90",
        "Status": doing_id,
        "Tags": ["red", "green"],
        "Due": "2024-09-27 18:00",
        "Flag": True,
        "Owner": [{"unionId": BOB}],
        "Team": [{"deptId": "d1"}, {"deptId": "d2"}],
        "Site": {"text": "DingTalk", "link": "https://www.dingtalk.com"},
        "Contact": {"linkedRecordIds": [contact]},
    }
    (record_id,) = api.insert(written)
    record = api.ok("GET", f"/sheets/任务/records/{record_id}")
    cells = record["fields"]
    assert cells["Count"] == "42" and cells["Price"] == "19.9"
    assert cells["Status"] == {"id": doing_id, "name": "Doing"}
    assert [t["name"] for t in cells["Tags"]] == ["red", "green"]
    assert cells["Due"] == 1727431200000  # 18:00 China Standard Time
    assert cells["Flag"] is True and cells["Owner"] == [{"unionId": BOB}]
    assert cells["Team"] == [{"deptId": "d1"}, {"deptId": "d2"}]
    assert cells["Site"] == {"text": "DingTalk", "link": "https://www.dingtalk.com"}
    assert cells["Contact"] == {"linkedRecordIds": [contact]}
    assert cells["Label"] == "Write docs!" and cells["Author"] == {"unionId": ALICE}
    assert cells["Created"] == cells["Modified"] == record["createdTime"] == 1_700_000_000_000
    assert record["createdBy"] == record["lastModifiedBy"] == {"unionId": ALICE}
    assert record["id"].startswith("rec") and "Files" not in cells
    assert state.record("base1", "任务", record_id) == record


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1727402400000, 1727402400000), ("2024-09-27", 1727366400000), ("2024-09-27T10:00:00Z", 1727431200000)],
)
def test_date_writes(api: Api, raw: Any, expected: int) -> None:
    (record_id,) = api.insert({"Due": raw})
    assert api.ok("GET", f"/sheets/任务/records/{record_id}")["fields"]["Due"] == expected


def test_attachments_set_up_by_the_test_are_read(state: FakeDingTalk, api: Api) -> None:
    files = [{"filename": "a.pdf", "size": 3, "type": "pdf", "url": "https://example.com/a.pdf"}]
    (record_id,) = state.add_records("base1", "任务", [{"Title": "with file", "Files": files}])
    assert api.ok("GET", f"/sheets/任务/records/{record_id}")["fields"]["Files"] == files


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"Nope": "x"}, "Nope"),
        ({"Status": "Donee"}, "Status"),
        ({"Tags": ["red", "pink"]}, "Tags"),
        ({"Tags": "red"}, "Tags"),
        ({"Count": "many"}, "Count"),
        ({"Count": True}, "Count"),
        ({"Title": 5}, "Title"),
        ({"Due": "tomorrow"}, "Due"),
        ({"Flag": "yes"}, "Flag"),
        ({"Owner": [{"unionId": "unionid-ghost"}]}, "Owner"),
        ({"Owner": [{"unionId": ALICE}, {"unionId": BOB}]}, "Owner"),
        ({"Team": ["d1"]}, "Team"),
        ({"Site": "https://x"}, "Site"),
        ({"Contact": {"linkedRecordIds": ["recGhost"]}}, "Contact"),
        ({"Files": [{"filename": "a"}]}, "Files"),
        ({"Label": "x"}, "Label"),
        ({"Author": {"unionId": ALICE}}, "Author"),
        ({"Created": 1}, "Created"),
    ],
)
def test_bad_writes_name_the_field(state: FakeDingTalk, api: Api, fields: dict[str, Any], named: str) -> None:
    response = api.call(
        "POST", "/sheets/任务/records", json={"records": [{"fields": {"Title": "ok"}}, {"fields": fields}]}
    )
    assert error_of(response) == (400, "invalidRequest.inputArgs.invalid")
    assert named in response.json()["message"]
    assert state.records("base1", "任务") == []  # the batch is all-or-nothing


def test_fields_keyed_by_id_and_blank_values_left_out(state: FakeDingTalk, api: Api) -> None:
    title_id = state.field_id("base1", "任务", "Title")
    (record_id,) = api.insert({title_id: "by id", "Count": None, "Tags": []})
    assert api.ok("GET", f"/sheets/任务/records/{record_id}")["fields"] == {
        "Title": "by id",
        "Label": "by id!",
        "Author": {"unionId": ALICE},
        "Editor": {"unionId": ALICE},
        "Created": 1_700_000_000_000,
        "Modified": 1_700_000_000_000,
    }


# -- update and delete ---------------------------------------------------------------------------------------


def test_update_merges_and_null_clears(state: FakeDingTalk, api: Api, clock: Clock) -> None:
    (record_id,) = api.insert({"Title": "a", "Count": 1, "Status": "Todo"})
    clock.now += 5
    api.operator = BOB
    body = {"records": [{"id": record_id, "fields": {"Count": "2", "Status": None}}]}
    assert api.ok("PUT", "/sheets/任务/records", json=body) == {"value": [{"id": record_id}]}
    record = state.record("base1", "任务", record_id)
    assert record["fields"]["Title"] == "a" and record["fields"]["Count"] == "2" and "Status" not in record["fields"]
    assert record["lastModifiedBy"] == {"unionId": BOB} and record["createdBy"] == {"unionId": ALICE}
    assert record["lastModifiedTime"] == record["createdTime"] + 5000
    assert record["fields"]["Editor"] == {"unionId": BOB}


def test_update_refusals(state: FakeDingTalk, api: Api) -> None:
    (record_id,) = api.insert({"Title": "a"})
    unknown = api.call("PUT", "/sheets/任务/records", json={"records": [{"id": "recGhost", "fields": {"Title": "b"}}]})
    assert error_of(unknown) == (404, "invalidRequest.resource.notFound")
    no_id = api.call("PUT", "/sheets/任务/records", json={"records": [{"fields": {"Title": "b"}}]})
    assert error_of(no_id) == (400, "invalidRequest.inputArgs.invalid")
    too_many = {"records": [{"id": record_id, "fields": {"Title": str(i)}} for i in range(101)]}
    assert error_of(api.call("PUT", "/sheets/任务/records", json=too_many)) == (400, "invalidRequest.inputArgs.invalid")
    assert state.record("base1", "任务", record_id)["fields"]["Title"] == "a"


def test_delete(state: FakeDingTalk, api: Api) -> None:
    first, second = api.insert({"Title": "a"}, {"Title": "b"})
    ghost = api.call("POST", "/sheets/任务/records/delete", json={"recordIds": [first, "recGhost"]})
    assert error_of(ghost) == (404, "invalidRequest.resource.notFound")
    assert len(state.records("base1", "任务")) == 2
    assert api.ok("POST", "/sheets/任务/records/delete", json={"recordIds": [first]}) == {"success": True}
    assert [r["id"] for r in state.records("base1", "任务")] == [second]
    too_many = api.call("POST", "/sheets/任务/records/delete", json={"recordIds": [second] * 101})
    assert error_of(too_many) == (400, "invalidRequest.inputArgs.invalid")


def test_insert_limit_is_100(state: FakeDingTalk, api: Api) -> None:
    assert len(api.insert(*({"Title": str(i)} for i in range(100)))) == 100
    too_many = {"records": [{"fields": {"Title": "x"}}] * 101}
    assert error_of(api.call("POST", "/sheets/任务/records", json=too_many)) == (
        400,
        "invalidRequest.inputArgs.invalid",
    )
    empty = api.call("POST", "/sheets/任务/records", json={"records": []})
    assert error_of(empty) == (400, "invalidRequest.inputArgs.invalid")
    assert len(state.records("base1", "任务")) == 100


# -- paging --------------------------------------------------------------------------------------------------


def test_list_pages_with_next_token(api: Api) -> None:
    api.insert(*({"Title": f"t{i}"} for i in range(5)))
    first = api.list({"maxResults": 2})
    assert first["hasMore"] is True and titles(first) == ["t0", "t1"]
    second = api.list({"maxResults": 2, "nextToken": first["nextToken"]})
    last = api.list({"maxResults": 2, "nextToken": second["nextToken"]})
    assert titles(second) == ["t2", "t3"] and titles(last) == ["t4"]
    assert last["hasMore"] is False and "nextToken" not in last
    assert titles(api.list()) == [f"t{i}" for i in range(5)] and "nextToken" not in api.list()


def test_get_records_pages_and_deletes_between_pages_skip_nothing(api: Api) -> None:
    ids = api.insert(*({"Title": f"t{i}"} for i in range(4)))
    first = api.ok("GET", "/sheets/任务/records", params={"maxResults": "2"})
    assert titles(first) == ["t0", "t1"] and first["hasMore"] is True
    api.ok("POST", "/sheets/任务/records/delete", json={"recordIds": ids[:2]})
    rest = api.ok("GET", "/sheets/任务/records", params={"maxResults": "2", "nextToken": first["nextToken"]})
    assert titles(rest) == ["t2", "t3"] and rest["hasMore"] is False and "nextToken" not in rest


@pytest.mark.parametrize(
    "body", [{"maxResults": 101}, {"maxResults": 0}, {"maxResults": "x"}, {"nextToken": "garbage"}]
)
def test_list_refuses_bad_paging(api: Api, body: dict[str, Any]) -> None:
    assert error_of(api.call("POST", "/sheets/任务/records/list", json=body)) == (
        400,
        "invalidRequest.inputArgs.invalid",
    )


def test_get_records_refuses_101(api: Api) -> None:
    response = api.call("GET", "/sheets/任务/records", params={"maxResults": "101"})
    assert error_of(response) == (400, "invalidRequest.inputArgs.invalid")


# -- filters -------------------------------------------------------------------------------------------------

FILTER_ROWS: list[dict[str, Any]] = [
    {"Title": "Alpha report", "Count": 1, "Price": 9.5, "Status": "Todo", "Tags": ["red"], "Due": "2024-09-26 23:00",
     "Flag": True, "Owner": [{"unionId": ALICE}], "Team": [{"deptId": "d1"}]},
    {"Title": "beta", "Count": 5, "Status": "Done", "Tags": ["red", "blue"], "Due": "2024-09-27 08:00",
     "Owner": [{"unionId": BOB}]},
    {"Title": "Gamma", "Count": "10", "Tags": ["green"], "Due": "2024-09-28 00:30", "Flag": False,
     "Team": [{"deptId": "d2"}]},
    {"Site": {"text": "x", "link": "https://x"}},
]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("Title", "equal", ["beta"], ["beta"]),
        ("Title", "notEqual", ["beta"], ["Alpha report", "Gamma", ""]),
        ("Title", "contain", ["A"], ["Alpha report", "beta", "Gamma"]),
        ("Title", "notContain", ["report"], ["beta", "Gamma", ""]),
        ("Title", "empty", None, [""]),
        ("Title", "notEmpty", None, ["Alpha report", "beta", "Gamma"]),
        ("Count", "equal", ["5"], ["beta"]),
        ("Count", "notEqual", [5], ["Alpha report", "Gamma", ""]),
        ("Count", "greater", ["5"], ["Gamma"]),
        ("Count", "greaterEqual", ["5"], ["beta", "Gamma"]),
        ("Count", "less", ["5"], ["Alpha report"]),
        ("Count", "lessEqual", ["5"], ["Alpha report", "beta"]),
        ("Price", "greater", ["9"], ["Alpha report"]),
        ("Status", "equal", ["Done"], ["beta"]),
        ("Status", "notEqual", ["Done"], ["Alpha report", "Gamma", ""]),
        ("Status", "contain", ["Todo", "Done"], ["Alpha report", "beta"]),
        ("Status", "notContain", ["Todo"], ["beta", "Gamma", ""]),
        ("Status", "empty", None, ["Gamma", ""]),
        ("Tags", "equal", ["blue", "red"], ["beta"]),
        ("Tags", "contain", ["blue", "green"], ["beta", "Gamma"]),
        ("Tags", "notContain", ["red"], ["Gamma", ""]),
        ("Tags", "notEmpty", None, ["Alpha report", "beta", "Gamma"]),
        ("Due", "equal", ["2024-09-27"], ["beta"]),
        ("Due", "greater", ["2024-09-27"], ["Gamma"]),
        ("Due", "less", ["2024-09-27"], ["Alpha report"]),
        ("Due", "equal", [1727395200000], ["beta"]),
        ("Flag", "equal", [True], ["Alpha report"]),
        ("Flag", "notEqual", ["true"], ["beta", "Gamma", ""]),
        ("Owner", "contain", [{"unionId": BOB}], ["beta"]),
        ("Owner", "equal", [ALICE], ["Alpha report"]),
        ("Team", "notContain", [{"deptId": "d1"}], ["beta", "Gamma", ""]),
        ("Author", "equal", [{"unionId": ALICE}], ["Alpha report", "beta", "Gamma", ""]),
        ("Created", "equal", ["2023-11-15"], ["Alpha report", "beta", "Gamma", ""]),
        ("Site", "notEmpty", None, [""]),
        ("Label", "notEmpty", None, ["Alpha report", "beta", "Gamma", ""]),
    ],
)
def test_filter_operators(api: Api, field: str, operator: str, value: Any, expected: list[str]) -> None:
    api.insert(*FILTER_ROWS)
    condition: dict[str, Any] = {"field": field, "operator": operator}
    if value is not None:
        condition["value"] = value
    assert titles(api.list({"filter": {"conditions": [condition]}})) == expected


def test_filter_combination_by_field_id_and_projection(state: FakeDingTalk, api: Api) -> None:
    api.insert(*FILTER_ROWS)
    count_id = state.field_id("base1", "任务", "Count")
    conditions = [
        {"field": count_id, "operator": "equal", "value": ["1"]},
        {"field": "Status", "operator": "equal", "value": ["Done"]},
    ]
    assert titles(api.list({"filter": {"combination": "or", "conditions": conditions}})) == ["Alpha report", "beta"]
    assert titles(api.list({"filter": {"combination": "and", "conditions": conditions}})) == []
    projected = api.list({"fieldIdOrNames": ["Title", count_id], "maxResults": 1})
    assert projected["records"][0]["fields"] == {"Title": "Alpha report", "Count": "1"}


INVALID, NOT_FOUND = (400, "invalidRequest.inputArgs.invalid"), (404, "invalidRequest.resource.notFound")


def where(field: str, operator: str, value: Any) -> dict[str, Any]:
    return {"filter": {"conditions": [{"field": field, "operator": operator, "value": value}]}}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (where("Nope", "equal", ["x"]), NOT_FOUND),
        (where("Title", "greater", ["x"]), INVALID),
        (where("Due", "greaterEqual", ["2024-01-01"]), INVALID),
        (where("Title", "equal", "x"), INVALID),
        (where("Title", "like", ["x"]), INVALID),
        (where("Count", "equal", ["many"]), INVALID),
        ({"filter": {"combination": "xor", "conditions": []}}, INVALID),
        ({"filter": {}}, INVALID),
        ({"fieldIdOrNames": ["Nope"]}, NOT_FOUND),
        ({"fieldIdOrNames": ["Title"] * 101}, INVALID),
    ],
)
def test_filter_refusals(api: Api, body: dict[str, Any], expected: tuple[int, str]) -> None:
    assert error_of(api.call("POST", "/sheets/任务/records/list", json=body)) == expected


# -- clientToken ---------------------------------------------------------------------------------------------


def test_repeated_client_token_answers_the_same_ids(state: FakeDingTalk, api: Api) -> None:
    token = {"clientToken": "550e8400-e29b-41d4-a716-446655440000"}
    ids = api.insert({"Title": "once"}, {"Title": "twice"}, params=token)
    assert api.insert({"Title": "other"}, params=token) == ids
    assert len(state.records("base1", "任务")) == 2
    assert api.ok("POST", "/changedRecordIds/query", json=token) == {"changedRecordIds": ids}
    assert api.ok("POST", "/changedRecordIds/query", json={"clientToken": "unknown"}) == {"changedRecordIds": []}
    assert error_of(api.call("POST", "/changedRecordIds/query", json={"other": 1})) == (400, "MissingclientToken")


def test_repeated_client_token_conflict_mode(state: FakeDingTalk, api: Api) -> None:
    state.duplicate_token_answer = "conflict"
    ids = api.insert({"Title": "once"}, params={"clientToken": "t1"})
    repeat = api.call("POST", "/sheets/任务/records", params={"clientToken": "t1"}, json={"records": [{"fields": {}}]})
    assert error_of(repeat) == (409, "invalidRequest.duplicateClientToken")
    assert [r["id"] for r in state.records("base1", "任务")] == ids


def test_failed_insert_leaves_the_client_token_unused(state: FakeDingTalk, api: Api) -> None:
    bad = api.call(
        "POST", "/sheets/任务/records", params={"clientToken": "t2"}, json={"records": [{"fields": {"Nope": 1}}]}
    )
    assert bad.status_code == 400
    assert len(api.insert({"Title": "ok"}, params={"clientToken": "t2"})) == 1


# -- fault switches ------------------------------------------------------------------------------------------


def test_delay(state: FakeDingTalk, api: Api) -> None:
    state.delay_next(0.2, path="/sheets$")
    started = time.monotonic()
    assert api.call("GET", "/sheets").status_code == 200
    assert time.monotonic() - started >= 0.2


THROTTLE_CODES = ["QpsLimitForAppkeyAndApi", "QpsLimitForApi", "ApiCountLimitForOrg"]


@pytest.mark.parametrize("code", [f"Forbidden.AccessDenied.{name}" for name in THROTTLE_CODES])
def test_throttle_filtered_by_method_and_path(state: FakeDingTalk, api: Api, code: str) -> None:
    state.throttle_next(2, code=code, method="POST", path="/records$")
    assert api.call("GET", "/sheets/任务/records").status_code == 200  # other method: untouched
    for _ in range(2):
        assert error_of(api.call("POST", "/sheets/任务/records", json={"records": [{"fields": {}}]})) == (403, code)
    assert len(api.insert({"Title": "third time"})) == 1
    assert len(state.records("base1", "任务")) == 1
    assert "retry-after" not in api.call("GET", "/sheets").headers


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("internalError", 500),
        ("unknownError", 500),
        ("service.timeout", 504),
        ("invalidRequest.document.stillInitializing", 400),
        ("invalidRequest.document.broken", 400),
    ],
)
def test_fail_next(api: Api, state: FakeDingTalk, code: str, status: int) -> None:
    state.fail_next(1, code)
    assert error_of(api.call("GET", "/sheets")) == (status, code)
    assert api.call("GET", "/sheets").status_code == 200


def test_fail_next_status_override_and_token_endpoint(state: FakeDingTalk, http: httpx.Client) -> None:
    state.fail_next(1, "service.timeout", status=503)
    assert error_of(grant(http)) == (503, "service.timeout")
    assert state.tokens_issued == 0


def test_reset_applies_nothing(state: FakeDingTalk, api: Api) -> None:
    state.reset_next(method="POST")
    with pytest.raises(httpx.TransportError):
        api.insert({"Title": "lost"}, params={"clientToken": "t3"})
    assert state.records("base1", "任务") == []
    assert state.requests[-1].status is None


def test_lost_answer_applies_then_resets(state: FakeDingTalk, api: Api) -> None:
    state.lose_answer_next(path="/records$")
    with pytest.raises(httpx.TransportError):
        api.insert({"Title": "applied"}, params={"clientToken": "t4"})
    (written,) = state.records("base1", "任务")
    assert api.ok("POST", "/changedRecordIds/query", json={"clientToken": "t4"}) == {
        "changedRecordIds": [written["id"]]
    }
    assert api.insert({"Title": "applied"}, params={"clientToken": "t4"}) == [written["id"]]


def test_malformed_bodies(state: FakeDingTalk, api: Api) -> None:
    state.malformed_next(1, "ip_ban_html")
    state.malformed_next(1, "ip_ban_json")
    state.malformed_next(1, "truncated")
    state.malformed_next(1, "truncated", status=500)
    html = api.call("GET", "/sheets")
    assert html.status_code == 403 and html.headers["content-type"].startswith("text/html")
    ban = api.call("GET", "/sheets")
    assert ban.status_code == 403 and ban.json()["status"] == 1111
    for status in (200, 500):
        truncated = api.call("GET", "/sheets")
        assert truncated.status_code == status
        with pytest.raises(json.JSONDecodeError):
            truncated.json()
    assert api.call("GET", "/sheets").status_code == 200


def test_one_delay_and_one_fault_per_request_and_clear(state: FakeDingTalk, api: Api) -> None:
    state.delay_next(0.01)
    state.fail_next(1)
    state.fail_next(1, "unknownError")
    assert error_of(api.call("GET", "/sheets")) == (500, "internalError")
    state.clear_faults()
    assert api.call("GET", "/sheets").status_code == 200


# -- request log ---------------------------------------------------------------------------------------------


def test_request_log_redacts_secrets(state: FakeDingTalk, api: Api) -> None:
    api.insert({"Title": "x"})
    grant_entry, insert_entry = state.requests
    assert grant_entry.body == {"appKey": KEY, "appSecret": "REDACTED"} and grant_entry.status == 200
    assert (insert_entry.method, insert_entry.path) == ("POST", "/v1.0/notable/bases/base1/sheets/任务/records")
    assert insert_entry.query == {"operatorId": ALICE} and insert_entry.body == {
        "records": [{"fields": {"Title": "x"}}]
    }
    assert insert_entry.headers["x-acs-dingtalk-access-token"] == "REDACTED"
    assert api.token not in repr(state.requests) and SECRET not in repr(state.requests)
    state.clear_log()
    assert state.requests == []


# -- CLI -----------------------------------------------------------------------------------------------------


def test_cli_prints_settings_and_serves_the_sample() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tests.fakes.dingtalk", "--port", str(port)]
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(5)]
        settings = dict(line.removeprefix("export ").split("=", 1) for line in lines)
        assert settings["DINGTALK_API_BASE_URL"] == f"http://127.0.0.1:{port}"
        assert sample_sheets(settings) == ["Contacts", "任务"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def sample_sheets(settings: dict[str, str]) -> list[str]:
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=settings["DINGTALK_API_BASE_URL"]) as http:
        while True:
            try:
                token = grant(http, settings["DINGTALK_APP_KEY"], settings["DINGTALK_APP_SECRET"]).json()["accessToken"]
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the CLI server did not start"
                time.sleep(0.05)
        sheets = http.get(
            f"/v1.0/notable/bases/{settings['DINGTALK_BASE_ID']}/sheets",
            params={"operatorId": settings["DINGTALK_OPERATOR_ID"]},
            headers={"x-acs-dingtalk-access-token": token},
        ).json()["value"]
    return [sheet["name"] for sheet in sheets]
