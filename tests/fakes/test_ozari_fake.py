"""The fake Ozari server behaves as BACKENDS.md Part 2 §2/§3b and the vendor docs say, seen through real HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.ozari import FakeOzari, sample_tenant, serve_fake_ozari

TOKEN = "tok-valid-1"
CLOCK = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 9, 2, 9, 30, tzinfo=UTC)
CUSTOMER_FIELDS: dict[str, Any] = {
    "fname": {"labels": {"he": "שם לקוח", "en": "Name"}},
    "fcity": {"labels": {"he": "עיר"}, "order": 3},
    "fphone": {"labels": {"he": "טלפון"}, "order": 2},
    "fqty": {"labels": {"he": "כמות"}, "kind": "int", "order": 4},
    "fda": {"labels": {"he": "תאריך"}, "kind": "date", "order": 5},
    "fsecret": {"labels": {"he": "פנימי"}, "show_form": False},
}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeOzari, str]]:
    state = FakeOzari()
    with serve_fake_ozari(state) as base_url:
        yield state, base_url


@pytest.fixture
def state(server: tuple[FakeOzari, str]) -> FakeOzari:
    state = server[0]
    state.reset(clock=lambda: CLOCK)
    state.add_token(TOKEN)
    state.add_language("en", "English")
    state.add_table("tcust", {"he": "לקוחות", "en": "Customers"}, CUSTOMER_FIELDS)
    state.add_table("tempty", "ריקה", {"fhidden": {"show_form": False}})
    state.add_table("tusers", "משתמשים", {"fname": "שם"}, credential=True)
    return state


@pytest.fixture
def base_url(state: FakeOzari, server: tuple[FakeOzari, str]) -> str:
    return server[1]


@pytest.fixture(scope="module")
def shared_client(server: tuple[FakeOzari, str]) -> Iterator[httpx.Client]:
    """One client for the module: building one loads the CA bundle (~0.1 s)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=f"{server[1]}/integration", headers=headers) as client:
        yield client


@pytest.fixture
def client(state: FakeOzari, shared_client: httpx.Client) -> httpx.Client:
    return shared_client


@pytest.fixture
def seeded(state: FakeOzari) -> FakeOzari:
    state.add_rows(
        "tcust",
        [
            {"fname": "דוד כהן", "fcity": "תל אביב", "fqty": 5, "fda": "2026-03-26"},  # fid 1
            {"fname": "אבי כהן", "fcity": "חיפה", "fqty": 10},  # 2
            {"fname": "בני לוי", "fcity": "חיפה", "fqty": 1, "fphone": "050_123"},  # 3
            {"fname": "Sarah Levi", "fcity": "ירושלים", "fda": "2026-01-15"},  # 4
            {"fname": "100% cotton"},  # 5
        ],
    )
    return state


def query(client: httpx.Client, body: Any, table: str = "tcust") -> httpx.Response:
    return client.post(f"/tables/{table}/query", json=body)


def fids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [record["fid"] for record in response.json()["records"]]


def error_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["success"] is False
    return response.status_code, body["error"]


def where(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"filters": {"and": list(conditions)}, "sort": [{"field": "fid"}]}


def cond(field: str, op: str, *value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, **({"value": value[0]} if value else {})}


# -- Auth and routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, (401, "Missing or invalid Authorization header")),
        ("Basic dXNlcjpwdw==", (401, "Missing or invalid Authorization header")),
        ("Bearer", (401, "Missing or invalid Authorization header")),
        (f"bearer {TOKEN}", (401, "Missing or invalid Authorization header")),
        ("Bearer not-a-real-token", (403, "Invalid token")),
    ],
)
def test_auth_errors(base_url: str, header: str | None, expected: tuple[int, str]) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = httpx.get(f"{base_url}/integration/tables", headers=headers)
    assert error_of(response) == expected
    assert "not-a-real-token" not in response.text


def test_revoked_token_and_undocumented_paths_ask_for_auth_first(state: FakeOzari, base_url: str) -> None:
    assert error_of(httpx.delete(f"{base_url}/integration/tables/tcust/records"))[0] == 401
    state.revoke_token(TOKEN)
    assert error_of(httpx.get(f"{base_url}/integration/auth/test", headers={"Authorization": f"Bearer {TOKEN}"})) == (
        403,
        "Invalid token",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/tables/tcust/records"),
        ("GET", "/tables/tcust/records/1"),
        ("GET", "/tables/tcust/records"),
        ("GET", "/tables/tcust/query"),
        ("PUT", "/tables/tcust/records/single"),
        ("GET", "/tables/tcust"),
        ("GET", "/nothing"),
    ],
)
def test_undocumented_routes_are_404(client: httpx.Client, method: str, path: str) -> None:
    assert error_of(client.request(method, path)) == (404, f"Cannot {method} /integration{path}")


def test_replies_are_unescaped_utf8_json(client: httpx.Client) -> None:
    response = client.get("/tables")
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "לקוחות".encode() in response.content  # raw UTF-8, not \\u escapes
    assert client.get("/tables/").status_code == 200  # trailing slash ignored


# -- Metadata -----------------------------------------------------------------------------------------


def test_auth_test_and_languages(client: httpx.Client) -> None:
    assert client.get("/auth/test").json() == {"success": True, "company": "acme_corp"}
    assert client.get("/languages").json()["languages"] == [
        {"code": "he", "name": "Hebrew", "column": "langhe"},
        {"code": "en", "name": "English", "column": "langen"},
    ]


@pytest.mark.parametrize(
    ("lang", "labels"),
    [
        (None, ["לקוחות", "ריקה", "משתמשים"]),
        ("he", ["לקוחות", "ריקה", "משתמשים"]),
        ("en", ["Customers", "tempty", "tusers"]),
    ],
)
def test_tables_are_labelled_per_language_with_name_fallback(
    client: httpx.Client, lang: str | None, labels: list[str]
) -> None:
    params = {} if lang is None else {"lang": lang}
    tables = client.get("/tables", params=params).json()["tables"]
    assert [table["name"] for table in tables] == ["tcust", "tempty", "tusers"]
    assert [table["label"] for table in tables] == labels


def test_fields_list_only_show_form_fields_by_order(client: httpx.Client) -> None:
    body = client.get("/tables/tcust/fields").json()
    assert body["table"] == "tcust"
    assert body["fields"] == [
        {"name": "fname", "label": "שם לקוח", "order": 1},
        {"name": "fphone", "label": "טלפון", "order": 2},
        {"name": "fcity", "label": "עיר", "order": 3},
        {"name": "fqty", "label": "כמות", "order": 4},
        {"name": "fda", "label": "תאריך", "order": 5},
    ]
    english = client.get("/tables/tcust/fields", params={"lang": "en"}).json()["fields"]
    assert [field["label"] for field in english] == ["Name", "fphone", "fcity", "fqty", "fda"]
    assert client.get("/tables/tempty/fields").json() == {"success": True, "table": "tempty", "fields": []}


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "fields", None),
        ("POST", "query", {}),
        ("POST", "records", {"fields": {"fname": "x"}}),
        ("PATCH", "records/single", {"filters": {"fid": 1}, "fields": {"fname": "x"}}),
        ("PATCH", "records/bulk", {"filters": {"fid": 1}, "fields": {"fname": "x"}}),
    ],
)
def test_table_name_checks_on_every_table_endpoint(
    state: FakeOzari, client: httpx.Client, method: str, suffix: str, body: Any
) -> None:
    assert error_of(client.request(method, f"/tables/my-table/{suffix}", json=body)) == (400, "Invalid table name")
    assert error_of(client.request(method, f"/tables/לקוחות/{suffix}", json=body)) == (400, "Invalid table name")
    assert error_of(client.request(method, f"/tables/tnothing/{suffix}", json=body)) == (404, "Table not found")
    credential = client.request(method, f"/tables/tusers/{suffix}", json=body)
    assert error_of(credential) == (403, "This table is not readable through the integration API")
    assert state.rows("tusers") == []


# -- Insert -------------------------------------------------------------------------------------------


def test_insert_returns_201_and_stores_the_row(state: FakeOzari, client: httpx.Client) -> None:
    fields = {"fname": "דוד כהן", "fcity": "תל אביב", "fqty": "7", "fphone": 501234567, "fsecret": "נסתר"}
    response = client.post("/tables/tcust/records", json={"fields": fields})
    assert response.status_code == 201
    assert response.json() == {"success": True, "table": "tcust", "insertedId": 1, "fields": fields}
    assert state.rows("tcust") == [
        {
            "fid": 1,
            "fname": "דוד כהן",
            "fcity": "תל אביב",
            "fphone": "501234567",
            "fqty": 7,
            "fda": None,
            "fsecret": "נסתר",
            "flastmodify": "2026-09-01 08:00:00",
        }
    ]
    assert client.post("/tables/tcust/records", json={"fields": {"fname": "b"}}).json()["insertedId"] == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, '"fields" is required'),
        ({"fields": {}}, '"fields" must have at least 1 key'),
        ({"fields": ["fname"]}, '"fields" must be of type object'),
        ({"fields": {"fname": "x"}, "extra": 1}, '"extra" is not allowed'),
        ({"fields": {"fid": 9, "fname": "x"}}, "Cannot set primary key column: fid"),
        ({"fields": {"my-field": "x"}}, "Invalid field name: my-field"),
        ({"fields": {"fnope": "x"}}, "Unknown field: fnope"),
        ({"fields": {"fname": {"a": 1}}}, "Invalid value for field fname: objects and arrays are not accepted"),
        ([{"fields": {}}], '"value" must be of type object'),
    ],
)
def test_insert_refusals(state: FakeOzari, client: httpx.Client, body: Any, expected: str) -> None:
    assert error_of(client.post("/tables/tcust/records", json=body)) == (400, expected)
    assert state.rows("tcust") == []


def test_insert_body_needs_a_json_content_type_and_valid_json(client: httpx.Client) -> None:
    plain = client.post("/tables/tcust/records", content=b'{"fields": {"fname": "x"}}')
    assert error_of(plain) == (400, '"fields" is required')
    broken = client.post("/tables/tcust/records", content=b"{", headers={"Content-Type": "application/json"})
    assert error_of(broken) == (400, "Invalid JSON body")


def test_insert_value_the_column_refuses_is_a_500(state: FakeOzari, client: httpx.Client) -> None:
    response = client.post("/tables/tcust/records", json={"fields": {"fname": "x", "fqty": "abc"}})
    assert error_of(response) == (500, "Incorrect integer value: 'abc' for column 'fqty' at row 1")
    assert state.rows("tcust") == []


def test_inserted_id_null_switch_still_stores(state: FakeOzari, client: httpx.Client) -> None:
    state.inserted_id_null = True
    response = client.post("/tables/tcust/records", json={"fields": {"fname": "x"}})
    assert response.status_code == 201 and response.json()["insertedId"] is None
    assert [row["fid"] for row in state.rows("tcust")] == [1]


# -- Query: paging, select, sort ----------------------------------------------------------------------


def test_empty_body_gives_first_50_and_total_counts_all(state: FakeOzari, client: httpx.Client) -> None:
    state.add_rows("tcust", [{"fname": f"row {i}"} for i in range(60)])
    body = query(client, {}).json()
    assert (body["success"], body["table"], body["page"], body["per_page"], body["total"]) == (True, "tcust", 1, 50, 60)
    assert [record["fid"] for record in body["records"]] == list(range(1, 51))
    assert set(body["records"][0]) == {"fid", "fname", "fcity", "fphone", "fqty", "fda", "fsecret", "flastmodify"}
    assert len(client.post("/tables/tcust/query").json()["records"]) == 50  # no body at all


def test_paging(state: FakeOzari, client: httpx.Client) -> None:
    state.add_rows("tcust", [{"fname": f"row {i}"} for i in range(230)])
    second = query(client, {"page": 2, "per_page": 25, "sort": [{"field": "fid"}]}).json()
    assert [r["fid"] for r in second["records"]] == list(range(26, 51)) and second["total"] == 230
    assert len(query(client, {"per_page": 200}).json()["records"]) == 200
    assert query(client, {"page": "3", "per_page": "100"}).json()["records"][0]["fid"] == 201
    assert query(client, {"page": 99}).json()["records"] == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"per_page": 201}, '"per_page" must be less than or equal to 200'),
        ({"per_page": 0}, '"per_page" must be greater than or equal to 1'),
        ({"page": 0}, '"page" must be greater than or equal to 1'),
        ({"page": 1.5}, '"page" must be an integer'),
        ({"page": True}, '"page" must be a number'),
        ({"perPage": 10}, '"perPage" is not allowed'),
        ({"select": []}, '"select" must contain at least 1 items'),
        ({"select": ["fname", "bad-name"]}, "Invalid field name in select[1]: bad-name"),
        ({"select": ["fnope"]}, "Unknown field in select[0]: fnope"),
        ({"sort": {"field": "fid"}}, '"sort" must be an array'),
        ({"sort": [{"field": "fid", "direction": "up"}]}, "Invalid sort direction in sort[0]: up"),
        ({"sort": [{"direction": "asc"}]}, '"sort[0].field" is required'),
        ({"sort": [{"field": "f;drop"}]}, "Invalid field name in sort[0]: f;drop"),
    ],
)
def test_query_body_refusals(client: httpx.Client, body: Any, expected: str) -> None:
    assert error_of(query(client, body)) == (400, expected)


def test_clamp_per_page_switch(state: FakeOzari, client: httpx.Client) -> None:
    state.clamp_per_page = True
    assert query(client, {"per_page": 500}).json()["per_page"] == 200


def test_select_and_sort(seeded: FakeOzari, client: httpx.Client) -> None:
    body = {"select": ["fname", "fid"], "sort": [{"field": "fcity", "direction": "desc"}, {"field": "fqty"}]}
    records = query(client, body).json()["records"]
    assert records[0] == {"fname": "דוד כהן", "fid": 1}
    assert [r["fid"] for r in records] == [1, 4, 3, 2, 5]  # תל אביב, ירושלים, חיפה (qty 1, 10), NULL last
    assert fids(query(client, {"sort": [{"field": "fqty"}]})) == [4, 5, 3, 1, 2]  # NULLs first ascending


def test_shuffle_unsorted_switch_only_affects_unsorted_queries(state: FakeOzari, client: httpx.Client) -> None:
    state.add_rows("tcust", [{"fname": f"row {i}"} for i in range(20)])
    assert fids(query(client, {})) == list(range(1, 21))
    state.shuffle_unsorted = True
    shuffled = fids(query(client, {}))
    assert shuffled != list(range(1, 21)) and sorted(shuffled) == list(range(1, 21))
    assert fids(query(client, {"sort": [{"field": "fid"}]})) == list(range(1, 21))


# -- Query: operators and limits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (cond("fcity", "eq", "חיפה"), [2, 3]),
        (cond("fname", "eq", "sarah levi"), [4]),  # case-insensitive collation
        (cond("fid", "eq", "3"), [3]),
        (cond("fcity", "neq", "חיפה"), [1, 4]),  # NULL city (fid 5) never matches neq
        (cond("fqty", "gt", 5), [2]),
        (cond("fqty", "gte", 5), [1, 2]),
        (cond("fqty", "lt", 5), [3]),
        (cond("fqty", "lte", "5"), [1, 3]),
        (cond("fda", "gt", "2026-02-01"), [1]),
        (cond("fname", "like", "%כהן"), [1, 2]),
        (cond("fname", "like", "ב_ני%"), []),
        (cond("fname", "like", "ב_י%"), [3]),
        (cond("fname", "like", "100\\%%"), [5]),
        (cond("fphone", "like", "050\\_%"), [3]),
        (cond("fname", "not_like", "%כהן"), [3, 4, 5]),
        (cond("fcity", "in", ["חיפה", "ירושלים"]), [2, 3, 4]),
        (cond("fcity", "not_in", ["חיפה"]), [1, 4]),
        (cond("fcity", "not_in", ["חיפה", None]), []),
        (cond("fqty", "between", [1, 5]), [1, 3]),
        (cond("fcity", "is_null"), [5]),
        (cond("fcity", "is_not_null"), [1, 2, 3, 4]),
        (cond("fcity", "eq", None), []),
        (cond("fqty", "eq", "many"), []),
    ],
)
def test_each_operator(seeded: FakeOzari, client: httpx.Client, condition: dict[str, Any], expected: list[int]) -> None:
    assert fids(query(client, where(condition))) == expected


def test_nested_groups_and_or(seeded: FakeOzari, client: httpx.Client) -> None:
    tree = {"and": [cond("fqty", "gte", 1), {"or": [cond("fcity", "eq", "חיפה"), cond("fcity", "eq", "תל אביב")]}]}
    body = query(client, {"filters": tree, "sort": [{"field": "fid"}]}).json()
    assert [r["fid"] for r in body["records"]] == [1, 2, 3] and body["total"] == 3


def nested(depth: int) -> dict[str, Any]:
    group: dict[str, Any] = {"and": [cond("fid", "gt", 0)]}
    for _ in range(depth - 1):
        group = {"and": [group]}
    return group


def test_nesting_depth_limit(seeded: FakeOzari, client: httpx.Client) -> None:
    assert len(fids(query(client, {"filters": nested(5)}))) == 5
    path = "filters" + ".and[0]" * 5
    assert error_of(query(client, {"filters": nested(6)})) == (400, f"{path}: filters nest deeper than 5 groups")


def test_condition_count_limit(seeded: FakeOzari, client: httpx.Client) -> None:
    assert len(fids(query(client, {"filters": {"or": [cond("fid", "eq", i) for i in range(50)]}}))) == 5
    too_many = {"filters": {"or": [cond("fid", "eq", i) for i in range(51)]}}
    assert error_of(query(client, too_many)) == (400, "Too many conditions in filters: at most 50")


@pytest.mark.parametrize("op", ["in", "not_in"])
def test_in_value_limits(seeded: FakeOzari, client: httpx.Client, op: str) -> None:
    assert query(client, where(cond("fid", op, list(range(200))))).status_code == 200
    message = f'filters.and[0]: "{op}" needs a "value" array of 1 to 200 scalars'
    for value in (list(range(201)), [], [{"a": 1}], 5):
        assert error_of(query(client, where(cond("fid", op, value)))) == (400, message)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"and": [cond("fname)--", "eq", 1)]}, "Invalid field name in filters.and[0]: fname)--"),
        ({"and": [cond("fname", "regexp", "x")]}, "Unsupported operator in filters.and[0]: regexp"),
        (
            {"and": [cond("fqty", "between", [1, 2, 3])]},
            'filters.and[0]: "between" needs a "value" array of exactly 2 scalars',
        ),
        ({"and": [cond("fqty", "between", 1)]}, 'filters.and[0]: "between" needs a "value" array of exactly 2 scalars'),
        ({"or": [cond("fid", "eq", 1), cond("fnope", "eq", 1)]}, "Unknown field in filters.or[1]: fnope"),
        ({"and": [cond("fname", "eq", {"$gt": ""})]}, 'filters.and[0]: "eq" needs a scalar "value"'),
        ({"and": [cond("fname", "eq")]}, 'filters.and[0]: "eq" needs a scalar "value"'),
        ({"and": [cond("fname", "like", 5)]}, 'filters.and[0]: "like" needs a string "value"'),
        ({"and": [cond("fname", "is_null", None)]}, 'filters.and[0]: "is_null" takes no "value"'),
        ({"and": [{"field": "fname", "op": "eq", "value": 1, "x": 2}]}, 'filters.and[0]: unknown key "x"'),
        ({"and": [{"or": []}]}, "filters.and[0].or: must be a non-empty array"),
        ({"and": ["fname"]}, "filters.and[0]: must be a condition or a group"),
        ({"not": [cond("fid", "eq", 1)]}, 'filters: a group must be an object with exactly one key, "and" or "or"'),
        (cond("fid", "eq", 1), 'filters: a group must be an object with exactly one key, "and" or "or"'),
    ],
)
def test_filter_refusals_name_the_path(client: httpx.Client, filters: Any, expected: str) -> None:
    assert error_of(query(client, {"filters": filters})) == (400, expected)


# -- Hebrew round trip --------------------------------------------------------------------------------


def test_hebrew_insert_query_patch_round_trip(state: FakeOzari, client: httpx.Client) -> None:
    name = "דוד כהן — לקוח VIP ✓"
    inserted = client.post("/tables/tcust/records", json={"fields": {"fname": name, "fcity": "תל אביב"}})
    fid = inserted.json()["insertedId"]
    assert fids(query(client, where(cond("fname", "eq", name)))) == [fid]
    liked = query(client, {"filters": {"and": [cond("fname", "like", "%כהן%")]}, "select": ["fname"]})
    assert liked.json()["records"] == [{"fname": name}]
    patch = {"filters": {"fname": name}, "fields": {"fcity": "ירושלים"}}
    assert client.patch("/tables/tcust/records/single", json=patch).json()["fields"] == {"fcity": "ירושלים"}
    assert state.row("tcust", fid)["fcity"] == "ירושלים" and state.row("tcust", fid)["fname"] == name


# -- Single and bulk updates --------------------------------------------------------------------------


def test_single_update_by_fid_string(seeded: FakeOzari, client: httpx.Client) -> None:
    seeded.clock = lambda: LATER
    body = {"filters": {"fid": "4"}, "fields": {"fphone": "052-9876543"}}
    response = client.patch("/tables/tcust/records/single", json=body)
    assert response.json() == {
        "success": True,
        "table": "tcust",
        "matched": 1,
        "updated": 1,
        "fields": {"fphone": "052-9876543"},
    }
    assert seeded.row("tcust", 4)["flastmodify"] == "2026-09-02 09:30:00"


def test_single_update_with_equal_values_updates_0(seeded: FakeOzari, client: httpx.Client) -> None:
    seeded.clock = lambda: LATER
    body = {"filters": {"fid": 2}, "fields": {"fcity": "חיפה", "fqty": "10"}}
    response = client.patch("/tables/tcust/records/single", json=body)
    assert (response.status_code, response.json()["matched"], response.json()["updated"]) == (200, 1, 0)
    assert seeded.row("tcust", 2)["flastmodify"] == "2026-09-01 08:00:00"


def test_polling_flastmodify_finds_changed_rows(seeded: FakeOzari, client: httpx.Client) -> None:
    seeded.clock = lambda: LATER
    client.patch("/tables/tcust/records/single", json={"filters": {"fid": 3}, "fields": {"fqty": 2}})
    since = {"filters": {"and": [cond("flastmodify", "gt", "2026-09-01 08:00:00")]}, "sort": [{"field": "flastmodify"}]}
    assert fids(query(client, since)) == [3]
    assert fids(query(client, where(cond("flastmodify", "gte", "2026-09-02T09:30:00")))) == [3]


def test_single_update_404_and_409(seeded: FakeOzari, client: httpx.Client) -> None:
    none = client.patch("/tables/tcust/records/single", json={"filters": {"fcity": "אילת"}, "fields": {"fqty": 1}})
    assert none.status_code == 404
    assert none.json() == {"success": False, "error": "No records match the given filters", "matched": 0}
    many = client.patch("/tables/tcust/records/single", json={"filters": {"fcity": "חיפה"}, "fields": {"fqty": 1}})
    assert many.status_code == 409
    assert many.json() == {
        "success": False,
        "error": "Multiple records match the given filters. Use /records/bulk for multi-update.",
        "matched": 2,
    }
    assert [row["fqty"] for row in seeded.rows("tcust")] == [5, 10, 1, None, None]


@pytest.mark.parametrize("endpoint", ["single", "bulk"])
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, '"filters" is required'),
        ({"filters": {"fid": 1}}, '"fields" is required'),
        ({"fields": {"fqty": 1}}, '"filters" is required'),
        ({"filters": {}, "fields": {"fqty": 1}}, '"filters" must have at least 1 key'),
        ({"filters": {"fid": 1}, "fields": {"fid": 2}}, "Cannot set primary key column: fid"),
        ({"filters": {"fid": 1}, "fields": {"bad-name": 2}}, "Invalid field name: bad-name"),
        ({"filters": {"and": [cond("fid", "eq", 1)]}, "fields": {"fqty": 1}}, "Unknown field: and"),
        (
            {"filters": {"fid": [1, 2]}, "fields": {"fqty": 1}},
            "Invalid value for filter fid: objects and arrays are not accepted",
        ),
        ({"filters": {"fid": 1}, "fields": {"fqty": 1}, "upsert": True}, '"upsert" is not allowed'),
    ],
)
def test_update_refusals(seeded: FakeOzari, client: httpx.Client, endpoint: str, body: Any, expected: str) -> None:
    assert error_of(client.patch(f"/tables/tcust/records/{endpoint}", json=body)) == (400, expected)


def test_bulk_update_counts_changed_rows_only(seeded: FakeOzari, client: httpx.Client) -> None:
    body = {"filters": {"fcity": "חיפה"}, "fields": {"fqty": 10}}
    assert client.patch("/tables/tcust/records/bulk", json=body).json() == {
        "success": True,
        "table": "tcust",
        "updated": 1,  # fid 2 already had 10
    }
    assert [row["fqty"] for row in seeded.rows("tcust")] == [5, 10, 10, None, None]
    nothing = {"filters": {"fcity": "אילת"}, "fields": {"fqty": 1}}
    assert client.patch("/tables/tcust/records/bulk", json=nothing).json()["updated"] == 0


# -- Faults and the request log -----------------------------------------------------------------------


def insert(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/tables/tcust/records", json={"fields": {"fname": name}})


def test_error_faults_answer_without_applying(state: FakeOzari, client: httpx.Client) -> None:
    state.fail_next("error")
    state.fail_next("error", status=503)
    assert error_of(insert(client, "a")) == (500, "Internal server error")
    unavailable = insert(client, "b")
    assert unavailable.status_code == 503 and unavailable.headers["content-type"].startswith("text/html")
    assert state.rows("tcust") == []
    assert insert(client, "c").status_code == 201


def test_reset_fault_drops_the_connection_before_applying(state: FakeOzari, client: httpx.Client) -> None:
    state.fail_next("reset")
    with pytest.raises(httpx.TransportError):
        insert(client, "a")
    assert state.rows("tcust") == [] and state.requests[-1].fault == "reset"


def test_lost_fault_applies_then_drops_the_answer(state: FakeOzari, client: httpx.Client) -> None:
    state.fail_next("lost")
    with pytest.raises(httpx.TransportError):
        insert(client, "נשמר")
    assert [row["fname"] for row in state.rows("tcust")] == ["נשמר"]
    assert (state.requests[-1].fault, state.requests[-1].status) == ("lost", 201)


def test_malformed_fault(state: FakeOzari, client: httpx.Client) -> None:
    state.fail_next("malformed")
    state.fail_next("malformed", status=502)
    response = query(client, {})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert query(client, {}).status_code == 502


def test_latency_fault_delays_then_serves(state: FakeOzari, client: httpx.Client) -> None:
    state.fail_next("latency", delay_s=0.05)
    assert client.get("/auth/test").status_code == 200 and state.requests[-1].fault == "latency"
    state.fail_next("latency", delay_s=0.5)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/auth/test", timeout=0.1)


def test_faults_wait_for_a_matching_method_and_path(state: FakeOzari, client: httpx.Client) -> None:
    state.fail_next("error", 2, method="POST", path="/integration/tables/*/records")
    assert client.get("/tables").status_code == 200
    assert query(client, {}).status_code == 200
    assert state.pending_faults() == 2
    assert insert(client, "a").status_code == 500 and insert(client, "b").status_code == 500
    assert insert(client, "c").status_code == 201 and state.pending_faults() == 0
    state.fail_next("error", 3)
    state.clear_faults()
    assert client.get("/tables").status_code == 200


def test_request_log_redacts_the_token(state: FakeOzari, client: httpx.Client) -> None:
    client.get("/tables", params={"lang": "en"})
    insert(client, "דוד")
    get, post = state.requests
    assert (get.method, get.path, get.query, get.body, get.status) == (
        "GET",
        "/integration/tables",
        {"lang": "en"},
        None,
        200,
    )
    assert (post.method, post.body, post.status) == ("POST", {"fields": {"fname": "דוד"}}, 201)
    assert get.headers["authorization"] == "REDACTED" and TOKEN not in repr(state.requests)
    state.clear_log()
    assert state.requests == []


# -- Sample tenant and CLI ----------------------------------------------------------------------------


def test_sample_tenant_serves_hebrew_tables() -> None:
    tenant = sample_tenant()
    with serve_fake_ozari(tenant.state) as url:
        headers = {"Authorization": f"Bearer {tenant.token}"}
        labels = {
            t["name"]: t["label"] for t in httpx.get(f"{url}/integration/tables", headers=headers).json()["tables"]
        }
        assert labels == {"tcust": "לקוחות", "torders": "הזמנות", "tusers": "משתמשים"}
        haifa = {"filters": {"and": [cond("fcity", "eq", "חיפה")]}, "select": ["fname"]}
        response = httpx.post(f"{url}/integration/tables/tcust/query", json=haifa, headers=headers)
        assert response.json()["total"] == 2


def test_cli_prints_exports_and_serves() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tests.fakes.ozari", "--port", str(port)]
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        exports = dict(process.stdout.readline().removeprefix("export ").strip().split("=", 1) for _ in range(2))
        assert exports["OZARI_BASE_URL"] == f"http://127.0.0.1:{port}"
        assert company(exports["OZARI_BASE_URL"], exports["OZARI_API_TOKEN"]) == "acme_corp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def company(base_url: str, token: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            response = httpx.get(f"{base_url}/integration/auth/test", headers={"Authorization": f"Bearer {token}"})
            return str(response.json()["company"])
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "the CLI server did not start"
            time.sleep(0.05)


@pytest.mark.parametrize(
    ("status", "message"),
    [(400, "Invalid field name: my-field"), (403, "Invalid token"), (409, "Multiple records match the given filters.")],
)
def test_error_faults_with_a_4xx_status_answer_the_documented_envelope(
    state: FakeOzari, client: httpx.Client, status: int, message: str
) -> None:
    state.fail_next("error", status=status)
    refused = insert(client, "a")
    assert refused.status_code == status and refused.json()["success"] is False
    assert refused.json()["error"].startswith(message)
    assert state.rows("tcust") == []
