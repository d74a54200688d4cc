"""The fake Onnie server behaves as BACKENDS.md Part 2 §3/§3b and the seeds document, seen through real HTTP."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.onnie import COLUMN_TYPES, FakeOnnie, OnnieError, serve_fake_onnie

RW_KEY = "onn_live_" + "a" * 48
RO_KEY = "onn_live_" + "b" * 48
WO_KEY = "onn_live_" + "c" * 48
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

PROJECT_COLUMNS: list[dict[str, Any]] = [{"name": "Name", "type": "TEXT", "required": True}]
TASK_COLUMNS: list[dict[str, Any]] = [
    {"name": "Title", "type": "TEXT", "required": True},
    {"name": "Notes", "type": "LONGTEXT"},
    {"name": "Owner", "type": "EMAIL"},
    {"name": "Phone", "type": "PHONE"},
    {"name": "Link", "type": "URL"},
    {"name": "Estimate", "type": "NUMBER"},
    {"name": "Rate", "type": "NUMBER"},
    {"name": "Done", "type": "BOOLEAN"},
    {"name": "Due", "type": "DATETIME"},
    {"name": "Status", "type": "SELECT", "options": ["Todo", "Done"], "default_value": "Todo"},
    {"name": "Tags", "type": "MULTISELECT", "options": ["bug", "docs"]},
    {"name": "Project", "type": "REFERENCE", "target": "Projects"},
    {"name": "Blocked by", "type": "REFERENCE", "target": "Tasks", "multiple": True},
    {"name": "Files", "type": "FILE"},
    {"name": "Cost", "type": "FORMULA", "expression": "({Estimate} + 1) * {Rate}"},
    {"name": "Summary", "type": "AI", "ai_value": "summary"},
    {"name": "No", "type": "SERIAL"},
]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeOnnie, str]]:
    state = FakeOnnie()
    with serve_fake_onnie(state) as url:
        yield state, url


@pytest.fixture
def state(server: tuple[FakeOnnie, str]) -> FakeOnnie:
    state = server[0]
    state.reset()
    state.add_table("Projects", PROJECT_COLUMNS)
    state.add_table("Tasks", TASK_COLUMNS)
    state.add_key(key=RW_KEY)
    state.add_key({"tables:read"}, key=RO_KEY)
    state.add_key({"tables:write"}, key=WO_KEY)
    return state


@pytest.fixture
def base_url(server: tuple[FakeOnnie, str], state: FakeOnnie) -> str:
    """The shared server's URL; asking for ``state`` first resets the workspace for this test."""
    return server[1]


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {RW_KEY}"}) as client:
        yield client


def tid(state: FakeOnnie, name: str = "Tasks") -> str:
    return state.table(name).id


def records_url(state: FakeOnnie, name: str = "Tasks") -> str:
    return f"/tables/{tid(state, name)}/records"


def create(client: httpx.Client, state: FakeOnnie, *fields: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(records_url(state), json={"records": [{"fields": f} for f in fields]})
    assert response.status_code == 201, response.text
    created: list[dict[str, Any]] = response.json()["records"]
    return created


def error_of(response: httpx.Response) -> tuple[int, str, str, dict[str, Any]]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"], error["details"]


def field_errors(response: httpx.Response) -> dict[str, str]:
    status, code, message, details = error_of(response)
    assert (status, code, message) == (400, "bad_request", "Validation failed; see details.fields")
    fields: dict[str, str] = details["fields"]
    return fields


# -- Tables --------------------------------------------------------------------------------------


def test_list_tables_pages_until_next_cursor_is_null(state: FakeOnnie, client: httpx.Client) -> None:
    state.add_table("Third")
    first = client.get("/tables", params={"limit": 2}).json()
    assert [table["name"] for table in first["tables"]] == ["Projects", "Tasks"]
    assert set(first["tables"][0]) == {
        "id",
        "alias_id",
        "name",
        "description",
        "project_id",
        "created_at",
        "updated_at",
    }
    assert ISO_MS.fullmatch(first["tables"][0]["created_at"])
    second = client.get("/tables", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [table["name"] for table in second["tables"]] == ["Third"] and second["next_cursor"] is None
    assert client.get("/tables").json()["next_cursor"] is None


def test_get_table_shows_typed_columns_and_a_default_view(state: FakeOnnie, client: httpx.Client) -> None:
    body = client.get(f"/tables/{tid(state)}").json()
    columns = {column["name"]: column for column in body["columns"]}
    assert {column["type"] for column in body["columns"]} == set(COLUMN_TYPES)
    assert set(columns["Title"]) == {
        "id",
        "name",
        "description",
        "type",
        "settings",
        "order_index",
        "required",
        "default_value",
        "is_primary",
    }
    assert columns["Title"]["is_primary"] and columns["Title"]["required"] and isinstance(columns["Title"]["id"], int)
    assert columns["Status"]["settings"] == {"options": [{"name": "Todo"}, {"name": "Done"}]}
    assert columns["Status"]["default_value"] == "Todo"
    assert columns["Project"]["settings"] == {"target_table_id": tid(state, "Projects"), "multiple": False}
    assert columns["Blocked by"]["settings"]["multiple"] is True
    assert [column["order_index"] for column in body["columns"]] == list(range(len(TASK_COLUMNS)))
    (view,) = body["views"]
    assert view["view_type"] == "grid" and view["is_default"] is True and uuid.UUID(view["id"])


def test_unknown_table_or_route_is_not_found(state: FakeOnnie, client: httpx.Client) -> None:
    for path in (f"/tables/{uuid.uuid4()}", "/tables/not-a-uuid/records", "/nothing", "/tables/x/y/z/w"):
        assert error_of(client.get(path))[:2] == (404, "not_found")
    assert client.delete(f"/tables/{tid(state)}").status_code == 404


# -- Records: create, read, replace, merge, delete -----------------------------------------------------


def test_create_answers_201_with_computed_values_and_defaults(state: FakeOnnie, client: httpx.Client) -> None:
    (project,) = state.add_records("Projects", [{"Name": "Apollo"}])
    first, second = create(
        client,
        state,
        {"Title": "a", "Estimate": 2, "Rate": 10, "Project": project, "Due": "2026-05-01T11:00:00+02:00"},
        {"Title": "b", "Estimate": 1.5, "Rate": 3},
    )
    assert first["fields"]["No"] == 1 and second["fields"]["No"] == 2
    assert first["fields"]["Cost"] == 30 and second["fields"]["Cost"] == 7.5
    assert first["fields"]["Summary"] == "summary" and first["fields"]["Status"] == "Todo"
    assert first["fields"]["Due"] == "2026-05-01T09:00:00.000Z" and first["fields"]["Project"] == project
    assert first["fields"]["Notes"] is None and list(first["fields"]) == [c["name"] for c in TASK_COLUMNS]
    assert ISO_MS.fullmatch(first["created_at"]) and first["created_at"] == first["updated_at"]
    assert state.records("Tasks") == [first, second]
    assert client.get(f"{records_url(state)}/{first['id']}").json() == first


def test_create_is_capped_at_100_records_and_all_or_nothing(state: FakeOnnie, client: httpx.Client) -> None:
    assert len(create(client, state, *({"Title": str(i)} for i in range(100)))) == 100
    too_many = client.post(records_url(state), json={"records": [{"fields": {"Title": "x"}}] * 101})
    assert error_of(too_many)[:2] == (400, "bad_request") and error_of(too_many)[3]["max_records"] == 100
    for body in ({"records": []}, {}, {"records": "x"}):
        assert error_of(client.post(records_url(state), json=body))[:2] == (400, "bad_request")
    assert error_of(client.post(records_url(state), content=b"{not json"))[:2] == (400, "bad_request")
    mixed = client.post(records_url(state), json={"records": [{"fields": {"Title": "ok"}}, {"fields": {}}]})
    assert field_errors(mixed) == {"Title": "Required"} and error_of(mixed)[3]["index"] == 1
    assert len(state.records("Tasks")) == 100


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("Nope", 1, "Unknown column"),
        ("Title", 5, "Expected a string"),
        ("Owner", "not-an-email", "Invalid email address"),
        ("Link", "ftp://x", "Invalid URL (expected http:// or https://)"),
        ("Estimate", "3", "Expected a number"),
        ("Estimate", True, "Expected a number"),
        ("Done", "yes", "Expected a boolean"),
        ("Due", "tomorrow", "Expected an ISO-8601 datetime string"),
        ("Status", "Later", '"Later" is not an option of this column'),
        ("Tags", "bug", "Expected an array of option names"),
        ("Tags", ["bug", "nope"], '"nope" is not an option of this column'),
        ("Project", ["x"], "Expected a record UUID"),
        ("Project", "nope", "'nope' is not a record UUID"),
        ("Blocked by", "00000000-0000-0000-0000-000000000001", "Expected an array of record UUIDs"),
        ("Cost", 1, "FORMULA columns are computed and cannot be written"),
        ("Summary", "x", "AI columns are computed and cannot be written"),
        ("No", 7, "SERIAL columns are computed and cannot be written"),
        ("Files", [], "FILE columns are read-only in v1"),
    ],
)
def test_write_validation_names_the_column(
    state: FakeOnnie, client: httpx.Client, column: str, value: Any, message: str
) -> None:
    response = client.post(records_url(state), json={"records": [{"fields": {"Title": "t", column: value}}]})
    assert field_errors(response) == {column: message}


def test_reference_must_name_an_existing_record_of_the_target(state: FakeOnnie, client: httpx.Client) -> None:
    (task,) = create(client, state, {"Title": "t"})
    missing = str(uuid.uuid4())
    response = client.post(records_url(state), json={"records": [{"fields": {"Title": "u", "Project": task["id"]}}]})
    assert field_errors(response) == {"Project": f"No record {task['id']} in the referenced table"}
    (blocked,) = create(client, state, {"Title": "u", "Blocked by": [task["id"]]})
    assert blocked["fields"]["Blocked by"] == [task["id"]]
    response = client.patch(f"{records_url(state)}/{blocked['id']}", json={"fields": {"Blocked by": [missing]}})
    assert "Blocked by" in field_errors(response)


def test_read_only_columns_are_refused_on_put_and_patch(state: FakeOnnie, client: httpx.Client) -> None:
    (record,) = create(client, state, {"Title": "t"})
    url = f"{records_url(state)}/{record['id']}"
    for method in ("PUT", "PATCH"):
        response = client.request(method, url, json={"fields": {"Title": "t", "No": 9, "Files": None}})
        assert field_errors(response) == {
            "No": "SERIAL columns are computed and cannot be written",
            "Files": "FILE columns are read-only in v1",
        }
    assert state.record("Tasks", record["id"]) == record


def test_patch_merges_and_put_replaces(state: FakeOnnie, client: httpx.Client) -> None:
    (record,) = state.add_records("Tasks", [{"Title": "t", "Estimate": 2, "Rate": 5, "Files": [{"name": "a.pdf"}]}])
    url = f"{records_url(state)}/{record}"
    merged = client.patch(url, json={"fields": {"Rate": 10, "Tags": ["docs"]}})
    assert merged.status_code == 200
    fields = merged.json()["fields"]
    assert (fields["Title"], fields["Estimate"], fields["Rate"], fields["Tags"], fields["Cost"]) == (
        "t",
        2,
        10,
        ["docs"],
        30,
    )
    replaced = client.put(url, json={"fields": {"Title": "new"}})
    assert replaced.status_code == 200
    fields = replaced.json()["fields"]
    assert (fields["Title"], fields["Estimate"], fields["Tags"], fields["Cost"], fields["Status"]) == (
        "new",
        None,
        None,
        None,
        None,
    )
    assert fields["Files"] == [{"name": "a.pdf"}] and fields["No"] == 1
    assert replaced.json()["id"] == record and state.record("Tasks", record) == replaced.json()


def test_required_columns_on_create_and_put_but_patch_checks_only_what_it_sends(
    state: FakeOnnie, client: httpx.Client
) -> None:
    assert field_errors(client.post(records_url(state), json={"records": [{"fields": {"Title": ""}}]})) == {
        "Title": "Required"
    }
    (record,) = create(client, state, {"Title": "t"})
    url = f"{records_url(state)}/{record['id']}"
    assert field_errors(client.put(url, json={"fields": {"Notes": "n"}})) == {"Title": "Required"}
    assert client.patch(url, json={"fields": {"Notes": "n"}}).json()["fields"]["Title"] == "t"
    assert field_errors(client.patch(url, json={"fields": {"Title": None}})) == {"Title": "Required"}
    assert error_of(client.patch(url, json={"fields": "x"}))[:2] == (400, "bad_request")


def test_delete_answers_deleted_and_id_then_not_found(state: FakeOnnie, client: httpx.Client) -> None:
    (record,) = create(client, state, {"Title": "t"})
    url = f"{records_url(state)}/{record['id']}"
    deleted = client.delete(url)
    assert (deleted.status_code, deleted.json()) == (200, {"deleted": True, "id": record["id"]})
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        assert error_of(client.request(method, url, json={"fields": {"Title": "x"}}))[:2] == (404, "not_found")
    assert state.records("Tasks") == []


# -- Listing records: paging, limit bounds, filter, sort ------------------------------------------------


def test_records_page_with_default_50_and_max_100(state: FakeOnnie, client: httpx.Client) -> None:
    state.add_records("Tasks", [{"Title": f"t{i:03d}"} for i in range(120)])
    first = client.get(records_url(state)).json()
    assert len(first["records"]) == 50 and first["next_cursor"]
    assert len(client.get(records_url(state), params={"limit": 100}).json()["records"]) == 100
    for limit in ("0", "101", "abc", "-1"):
        status, code, _, details = error_of(client.get(records_url(state), params={"limit": limit}))
        assert (status, code, details["parameter"]) == (400, "bad_request", "limit")
    for cursor in ("garbage", client.get("/tables", params={"limit": 1}).json()["next_cursor"]):
        assert error_of(client.get(records_url(state), params={"cursor": cursor}))[:2] == (400, "bad_request")


def test_paging_visits_every_record_once_even_when_records_are_deleted(state: FakeOnnie, client: httpx.Client) -> None:
    ids = state.add_records("Tasks", [{"Title": str(i)} for i in range(7)])
    page = client.get(records_url(state), params={"limit": 3}).json()
    seen = [record["id"] for record in page["records"]]
    client.delete(f"{records_url(state)}/{seen[-1]}")
    while page["next_cursor"] is not None:
        page = client.get(records_url(state), params={"limit": 3, "cursor": page["next_cursor"]}).json()
        seen += [record["id"] for record in page["records"]]
    assert seen == ids
    assert client.get(records_url(state), params={"limit": 6}).json()["next_cursor"] is None


def test_filter_is_a_json_equality_object_and_sort_a_column_list(state: FakeOnnie, client: httpx.Client) -> None:
    state.add_records(
        "Tasks",
        [
            {"Title": "a", "Estimate": 3, "Tags": ["bug"], "Status": "Done"},
            {"Title": "b", "Estimate": 1, "Tags": ["bug", "docs"]},
            {"Title": "c"},
            {"Title": "d", "Estimate": 3},
        ],
    )

    def titles(**params: str) -> list[str]:
        response = client.get(records_url(state), params=params)
        assert response.status_code == 200, response.text
        return [record["fields"]["Title"] for record in response.json()["records"]]

    assert titles(filter='{"Tags": "bug"}') == ["a", "b"]
    assert titles(filter='{"Status": "Todo", "Estimate": 1}') == ["b"]
    assert titles(sort="-Estimate,-Title") == ["d", "a", "b", "c"]
    assert titles(sort="Estimate") == ["b", "a", "d", "c"]
    assert titles(sort="-No", limit="2") == ["d", "c"]
    assert titles(view=str(uuid.uuid4())) == ["a", "b", "c", "d"]
    sorted_page = client.get(records_url(state), params={"sort": "Title", "limit": 3}).json()
    rest = client.get(records_url(state), params={"sort": "Title", "limit": 3, "cursor": sorted_page["next_cursor"]})
    assert [record["fields"]["Title"] for record in rest.json()["records"]] == ["d"]
    assert field_errors(client.get(records_url(state), params={"filter": '{"Nope": 1}'})) == {"Nope": "Unknown column"}
    assert field_errors(client.get(records_url(state), params={"sort": "-Nope"})) == {"Nope": "Unknown column"}
    assert error_of(client.get(records_url(state), params={"filter": "Status = Done"}))[:2] == (400, "bad_request")


# -- Keys, scopes, error layouts --------------------------------------------------------------------


def test_missing_invalid_or_revoked_keys_are_unauthorized(state: FakeOnnie, base_url: str) -> None:
    stranger = "onn_live_" + "d" * 48
    for headers in ({}, {"Authorization": f"Bearer {stranger}"}, {"Authorization": f"Basic {RW_KEY}"}):
        response = httpx.get(f"{base_url}/tables", headers=headers)
        assert error_of(response) == (401, "unauthorized", "Missing or invalid API key.", {})
        assert stranger not in response.text
    assert httpx.get(f"{base_url}/tables", headers={"Authorization": f"Bearer {RW_KEY}"}).status_code == 200
    assert state.keys[RW_KEY].last_used_at is not None
    state.revoke_key(RW_KEY)
    revoked = httpx.get(f"{base_url}/tables", headers={"Authorization": f"Bearer {RW_KEY}"})
    assert error_of(revoked)[:2] == (401, "unauthorized") and RW_KEY not in revoked.text


def test_generated_keys_have_the_documented_shape(state: FakeOnnie) -> None:
    assert re.fullmatch(r"onn_live_[0-9a-f]{48}", state.add_key())
    with pytest.raises(ValueError, match="unknown scopes"):
        state.add_key({"tables:admin"})


def test_scopes_are_checked_per_endpoint(state: FakeOnnie, base_url: str) -> None:
    (record,) = state.add_records("Tasks", [{"Title": "t"}])
    url = f"{base_url}{records_url(state)}"
    read_only = {"Authorization": f"Bearer {RO_KEY}"}
    assert httpx.get(url, headers=read_only).status_code == 200
    writes = [
        ("POST", url, {"records": [{"fields": {"Title": "x"}}]}),
        ("PUT", f"{url}/{record}", {"fields": {"Title": "x"}}),
        ("PATCH", f"{url}/{record}", {"fields": {"Title": "x"}}),
        ("DELETE", f"{url}/{record}", None),
    ]
    for method, target, body in writes:
        response = httpx.request(method, target, json=body, headers=read_only)
        status, code, message, _ = error_of(response)
        assert (status, code) == (403, "forbidden") and "tables:write" in message
    write_only = {"Authorization": f"Bearer {WO_KEY}"}
    status, code, message, _ = error_of(httpx.get(f"{base_url}/tables", headers=write_only))
    assert (status, code) == (403, "forbidden") and "tables:read" in message
    assert state.records("Tasks")[0]["fields"]["Title"] == "t"


def test_error_layout_switch_nested_or_flat(state: FakeOnnie, client: httpx.Client) -> None:
    bad = {"records": [{"fields": {"Nope": 1}}]}
    nested = client.post(records_url(state), json=bad).json()
    assert nested == {
        "error": {
            "code": "bad_request",
            "message": "Validation failed; see details.fields",
            "details": {"fields": {"Nope": "Unknown column", "Title": "Required"}, "index": 0},
        }
    }
    state.error_layout = "flat"
    assert client.post(records_url(state), json=bad).json() == nested["error"]
    flat_404 = client.get(f"/tables/{uuid.uuid4()}").json()
    assert flat_404["code"] == "not_found" and "error" not in flat_404


def test_set_up_helpers_refuse_what_the_api_refuses(state: FakeOnnie) -> None:
    with pytest.raises(OnnieError) as raised:
        state.add_records("Tasks", [{"Title": "t", "Cost": 1}])
    assert raised.value.details["fields"] == {"Cost": "FORMULA columns are computed and cannot be written"}
    with pytest.raises(ValueError, match="unknown Onnie column type"):
        state.add_table("Bad", [{"name": "x", "type": "DATE"}])


# -- Rate limit ----------------------------------------------------------------------------------


def test_token_bucket_answers_429_and_refills(state: FakeOnnie, base_url: str, client: httpx.Client) -> None:
    now = [100.0]
    state.monotonic = lambda: now[0]
    state.set_rate_limit(2, refill_per_second=0.5)
    assert [client.get("/tables").status_code for _ in range(2)] == [200, 200]
    limited = client.get("/tables")
    assert error_of(limited) == (429, "rate_limited", "Token bucket exhausted.", {})
    assert "retry-after" not in limited.headers
    assert httpx.get(f"{base_url}/tables", headers={"Authorization": f"Bearer {RO_KEY}"}).status_code == 200
    now[0] += 2  # one token back at 0.5 per second
    assert client.get("/tables").status_code == 200
    assert client.get("/tables").status_code == 429
    state.set_rate_limit(1, refill_per_second=0.25, retry_after=True)
    client.get("/tables")
    assert client.get("/tables").headers["retry-after"] == "4"
    state.set_rate_limit(None)
    assert client.get("/tables").status_code == 200


# -- Fault switches ------------------------------------------------------------------------------


def test_fail_next_answers_status_without_applying(state: FakeOnnie, client: httpx.Client) -> None:
    state.fail_next(1, 503, method="POST")
    state.fail_next(1, 429, retry_after=3)
    assert client.get("/tables").headers["retry-after"] == "3"
    failed = client.post(records_url(state), json={"records": [{"fields": {"Title": "x"}}]})
    assert error_of(failed)[:2] == (503, "internal_error") and state.records("Tasks") == []
    assert client.get("/tables").status_code == 200


def test_fault_filters_by_method_and_path_and_counts_down(state: FakeOnnie, client: httpx.Client) -> None:
    state.fail_next(2, 500, path="/tables/*/records")
    assert client.get("/tables").status_code == 200
    assert client.get(f"/tables/{tid(state)}").status_code == 200
    assert [client.get(records_url(state)).status_code for _ in range(3)] == [500, 500, 200]
    assert state.faults == []


def test_reset_next_drops_the_connection_before_applying(state: FakeOnnie, client: httpx.Client) -> None:
    state.reset_next(method="POST")
    with pytest.raises(httpx.TransportError):
        client.post(records_url(state), json={"records": [{"fields": {"Title": "x"}}]})
    assert state.records("Tasks") == [] and state.requests[-1].status is None
    assert client.get(records_url(state)).status_code == 200


def test_lose_answer_next_applies_then_drops_the_connection(state: FakeOnnie, client: httpx.Client) -> None:
    state.lose_answer_next(method="POST", path="/tables/*/records")
    with pytest.raises(httpx.TransportError):
        client.post(records_url(state), json={"records": [{"fields": {"Title": "x"}}]})
    assert [record["fields"]["Title"] for record in state.records("Tasks")] == ["x"]
    assert client.get(records_url(state)).json()["records"][0]["fields"]["Title"] == "x"


def test_malformed_next_truncated_json_or_html(state: FakeOnnie, client: httpx.Client) -> None:
    state.malformed_next()
    state.malformed_next(kind="not_json", status=502)
    truncated = client.get(records_url(state))
    assert truncated.status_code == 200 and truncated.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        truncated.json()
    page = client.get(records_url(state))
    assert page.status_code == 502 and page.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        page.json()
    assert client.get(records_url(state)).status_code == 200


def test_delay_next_holds_the_answer(state: FakeOnnie, client: httpx.Client) -> None:
    state.delay_next(1.0, method="GET", path="/tables")
    with pytest.raises(httpx.ReadTimeout):
        client.get("/tables", timeout=0.1)  # 1 s delay: a slow machine only makes this surer
    assert client.get(f"/tables/{tid(state)}").status_code == 200
    state.latency_s = 1.0
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"/tables/{tid(state)}", timeout=0.1)


def test_request_log_redacts_the_key(state: FakeOnnie, client: httpx.Client) -> None:
    client.post(records_url(state), json={"records": [{"fields": {"Title": "x"}}]}, params={"trace": "1"})
    client.get(records_url(state), params={"limit": 5})
    post, get = state.requests
    assert (post.method, post.path, post.query, post.status) == (
        "POST",
        f"/api/public/v1{records_url(state)}",
        {"trace": "1"},
        201,
    )
    assert post.body == {"records": [{"fields": {"Title": "x"}}]}
    assert (get.query, get.body, get.status) == ({"limit": "5"}, None, 200)
    assert get.headers["authorization"] == "REDACTED" and RW_KEY not in repr(state.requests)
    state.clear_log()
    assert state.requests == []


# -- CLI -----------------------------------------------------------------------------------------


def test_cli_prints_exports_and_serves_the_sample_tables() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tests.fakes.onnie", "--port", str(port)]
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        exports = dict(process.stdout.readline().removeprefix("export ").strip().split("=", 1) for _ in range(3))
        assert exports["ONNIE_BASE_URL"] == f"http://127.0.0.1:{port}/api/public/v1"
        assert exports["ONNIE_API_KEY"] != exports["FAKE_ONNIE_READ_ONLY_API_KEY"]
        names = table_names(exports["ONNIE_BASE_URL"], exports["ONNIE_API_KEY"])
        assert names == ["Projects", "Tasks"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def table_names(base_url: str, key: str) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        try:
            response = httpx.get(f"{base_url}/tables", headers={"Authorization": f"Bearer {key}"})
            return [table["name"] for table in response.json()["tables"]]
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "the CLI server did not start"
            time.sleep(0.05)
