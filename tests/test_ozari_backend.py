"""The Ozari adapter against the fake Ozari server over loopback HTTP, mostly through a real MCP session.

Covers what the capabilities promise (no deleteRecords, unsupported operations refused with nothing changed),
tables and columns from Get Tables / Get Fields with Hebrew labels unchanged, Hebrew round trips through
create, get, filter and patch, name checks before any request, one insert per record with exact outcomes
(a failed insert, a lost answer, `insertedId: null`), patch on `/records/single` by fid (404, 409, updated 0),
the filter translation and Ozari's limits, paging behind the cursor, errors by status, retries only where a
repeat cannot write twice, and the settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tables_mcp.backends.base import RecordDeleter, TableEditor, record_deleter, table_editor
from tables_mcp.backends.ozari import ADAPTER, OzariBackend
from tables_mcp.backends.ozari.errors import map_ozari_error
from tables_mcp.backends.registry import adapter
from tables_mcp.errors import ConfigError, ErrorCode, TablesError
from tables_mcp.http import ErrorResponse
from tables_mcp.model import ListQuery
from tables_mcp.tools import ToolOptions

from .conftest import FAST_RETRY, Agent, open_agent
from .fakes.ozari import FakeOzari, serve_fake_ozari
from .fakes.ozari.sample import CUSTOMER_FIELDS, CUSTOMERS, ORDER_FIELDS, ORDERS

pytestmark = pytest.mark.anyio

TOKEN = "ozari-test-token-0123456789"
RECORDS = "/integration/tables/tcust/records"


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, **({"value": value} if value is not None else {})}


@dataclass
class Tenant:
    state: FakeOzari
    url: str

    def env(self, **settings: str) -> dict[str, str]:
        return {"OZARI_API_TOKEN": TOKEN, "OZARI_BASE_URL": self.url, **settings}

    def backend(self, **settings: str) -> OzariBackend:
        return OzariBackend.from_environ(self.env(**settings), retry=FAST_RETRY)

    def writes(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.state.requests if r.method != "GET" and "/query" not in r.path]

    def logged(self, method: str, path: str) -> list[Any]:
        return [r for r in self.state.requests if r.method == method and r.path == path]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeOzari, str]]:
    state = FakeOzari()
    with serve_fake_ozari(state) as url:
        yield state, url


@pytest.fixture
def tenant(served: tuple[FakeOzari, str]) -> Tenant:
    """The fake's sample company: tcust "לקוחות" (4 rows), torders "הזמנות" (2 rows), tusers (credential)."""
    state, url = served
    state.reset()
    state.add_language("he", "עברית")
    state.add_language("en", "English")
    state.add_table("tcust", {"he": "לקוחות", "en": "Customers"}, CUSTOMER_FIELDS)
    state.add_table("torders", {"he": "הזמנות", "en": "Orders"}, ORDER_FIELDS)
    state.add_table("tusers", {"he": "משתמשים"}, {"fname": "שם משתמש"}, credential=True)
    state.add_rows("tcust", CUSTOMERS)
    state.add_rows("torders", ORDERS)
    state.add_token(TOKEN)
    return Tenant(state, url)


@pytest.fixture
async def backend(tenant: Tenant) -> AsyncIterator[OzariBackend]:
    opened = tenant.backend()
    await opened.open()
    yield opened
    await opened.aclose()


@pytest.fixture
async def agent(backend: OzariBackend, tenant: Tenant) -> AsyncIterator[Agent]:
    async for session in open_agent(backend, ToolOptions(mode="per-table")):
        tenant.state.clear_log()
        yield session


async def names(agent: Agent, table: str = "tcust", **arguments: Any) -> list[str]:
    page = await agent.ok("listRecords", {"table": table, **arguments})
    return [record["fields"].get("fname") for record in page["records"]]


# -- capabilities ------------------------------------------------------------------------------------------


async def test_only_what_ozari_can_do_is_offered_and_the_rest_is_refused_unchanged(
    agent: Agent, backend: OzariBackend, tenant: Tenant
) -> None:
    tools = await agent.tools()
    assert {"listTables", "describeTable", "listRecords", "getRecord", "createRecords", "patchRecord"} <= set(tools)
    assert not {"deleteRecords", "createTable", "addColumns"} & set(tools)
    assert not [name for name in tools if name.startswith("deleteRecords")]
    assert "Unknown tool: 'deleteRecords'" in await agent.unknown_tool(
        "deleteRecords", {"table": "tcust", "recordIds": ["1"]}
    )
    described = await agent.ok("describeTable", {"table": "tcust"})
    assert any("cannot delete records" in note for note in described["notes"])
    assert "Not atomic" in (tools["createRecords_tcust"].description or "")

    before = tenant.state.rows("tcust")
    [table] = [t for t in await backend.list_tables() if t.id == "tcust"]
    assert not isinstance(backend, RecordDeleter) and not isinstance(backend, TableEditor)
    for refuse in (lambda: record_deleter(backend), lambda: table_editor(backend)):
        with pytest.raises(TablesError) as raised:
            refuse()
        assert raised.value.code is ErrorCode.UNSUPPORTED and "ozari" in raised.value.message
    assert tenant.state.rows("tcust") == before
    assert tenant.writes() == []
    assert ADAPTER.capabilities.delete is False and adapter("ozari") is ADAPTER


# -- tables and columns ------------------------------------------------------------------------------------


async def test_tables_and_columns_come_from_get_tables_and_get_fields(agent: Agent) -> None:
    tables = (await agent.ok("listTables"))["tables"]
    assert [(t["id"], t["name"], t["description"]) for t in tables] == [
        ("tcust", "tcust", "לקוחות"),
        ("torders", "torders", "הזמנות"),
    ], "credential tables are left out; labels are the descriptions, unchanged"
    described = (await agent.ok("describeTable", {"table": "tcust"}))["table"]
    columns = {col["name"]: col for col in described["columns"]}
    assert list(columns)[:3] == ["fid", "fname", "fphone"]
    assert "finternal" not in columns, "only the fields Get Fields lists"
    assert columns["fid"]["type"] == "SERIAL" and columns["fid"]["readOnly"] is True
    assert columns["fname"] == {
        "name": "fname",
        "type": "TEXT",
        "nativeType": "untyped",
        "required": False,
        "readOnly": False,
        "description": "שם לקוח",
        "operators": ["eq", "ne", "contains", "in", "isEmpty", "isNotEmpty"],
        "sortable": True,
    }
    assert columns["femail"]["description"] == 'דוא"ל'
    schema = (await agent.tools())["createRecords_tcust"].inputSchema["properties"]["records"]["items"]
    assert "fid" not in schema["properties"] and schema["properties"]["fname"]["type"] == "string"


async def test_labels_follow_ozari_lang(tenant: Tenant) -> None:
    backend = tenant.backend(OZARI_LANG="en")
    await backend.open()
    try:
        tables = await backend.list_tables()
    finally:
        await backend.aclose()
    assert [t.description for t in tables] == ["Customers", "Orders"]
    assert tables[0].column("fname").description == "Customer name"  # type: ignore[union-attr]
    assert {r.query.get("lang") for r in tenant.state.requests if r.path.startswith("/integration/tables")} == {"en"}


# -- Hebrew round trips ------------------------------------------------------------------------------------


async def test_hebrew_round_trips_through_create_get_filter_and_patch(agent: Agent, tenant: Tenant) -> None:
    rows = [
        {"fname": "משה כהן-לוי", "fcity": "באר שבע", "fnotes": 'לקוח "חדש" 😀'},
        {"fname": "Ünïcode ﬁ", "fcity": "קריית שמונה"},
    ]
    created = (await agent.ok("createRecords_tcust", {"records": rows}))["records"]
    assert [{k: v for k, v in r["fields"].items() if k != "fid"} for r in created] == rows
    stored = tenant.state.rows("tcust")[-2:]
    assert [(row["fname"], row["fcity"]) for row in stored] == [(r["fname"], r["fcity"]) for r in rows]
    assert [r.body for r in tenant.logged("POST", RECORDS)] == [{"fields": row} for row in rows]

    first = created[0]
    got = (await agent.ok("getRecord", {"table": "tcust", "recordId": first["id"]}))["record"]
    assert got == first and got["id"] == str(stored[0]["fid"])

    assert await names(agent, filter=cond("fcity", "eq", "באר שבע")) == ["משה כהן-לוי"]
    assert await names(agent, filter=cond("fnotes", "contains", '"חדש"')) == ["משה כהן-לוי"]
    assert await names(agent, filter=cond("fcity", "in", ["חיפה", "קריית שמונה"])) == [
        "אבי כהן",
        "בני לוי",
        "Ünïcode ﬁ",
    ]

    patched = await agent.ok("patchRecord", {"table": "tcust", "recordId": first["id"], "fields": {"fcity": "אילת"}})
    assert patched["record"]["fields"]["fcity"] == "אילת" and patched["record"]["fields"]["fname"] == "משה כהן-לוי"
    assert tenant.state.row("tcust", int(first["id"]))["fcity"] == "אילת"
    [update] = tenant.logged("PATCH", f"{RECORDS}/single")
    assert update.body == {"filters": {"fid": int(first["id"])}, "fields": {"fcity": "אילת"}}
    assert not tenant.logged("PATCH", f"{RECORDS}/bulk")


# -- names checked before any request ----------------------------------------------------------------------


async def test_field_names_and_fid_are_refused_before_any_request(
    agent: Agent, backend: OzariBackend, tenant: Tenant
) -> None:
    error = await agent.error("createRecords_tcust", {"records": [{"fname": "a"}, {"fid": 7, "fname": "b"}]})
    assert error["code"] == "invalid_argument" and error["fieldErrors"][0]["field"] == "fid"
    error = await agent.error("patchRecord", {"table": "tcust", "recordId": "1", "fields": {"fid": 9}})
    assert error["code"] == "invalid_argument" and "fid" in error["text"]

    # The adapter checks again for callers that bypass the tool schemas.
    [table] = [t for t in await backend.list_tables() if t.id == "tcust"]
    tenant.state.clear_log()
    bad_rows = [{"fname": "ok"}, {"fid": 3}, {"bad-name": 1}, {"finternal": "hidden"}, {"fcity": ["a"]}]
    with pytest.raises(TablesError) as raised:
        await backend.create_records(table, bad_rows)
    problems = {(fe.record, fe.field): fe.message for fe in raised.value.field_errors}
    assert set(problems) == {(1, "fid"), (2, "bad-name"), (3, "finternal"), (4, "fcity")}
    assert "primary key" in problems[(1, "fid")] and "letters, digits and _" in problems[(2, "bad-name")]
    with pytest.raises(TablesError) as raised:
        await backend.patch_record(table, "1", {"fid": 2, "fcity": "x"})
    assert [fe.field for fe in raised.value.field_errors] == ["fid"]
    assert tenant.state.requests == [], "nothing reached Ozari"


# -- creates ------------------------------------------------------------------------------------------------


async def test_each_record_is_one_insert_and_a_refused_one_fails_alone(agent: Agent, tenant: Tenant) -> None:
    rows = [{"fname": f"הזמנה {i}", "fcust": str(i)} for i in range(12)]
    rows[5]["fcust"] = "abc"  # only the database knows fcust holds integers
    result = await agent.call("createRecords_torders", {"records": rows})
    assert result.isError and result.structuredContent is not None
    payload = result.structuredContent
    inserts = tenant.logged("POST", "/integration/tables/torders/records")
    assert sorted(r.body["fields"]["fname"] for r in inserts) == sorted(row["fname"] for row in rows)
    assert payload["error"]["code"] == "invalid_argument" and "Wrote 11 of 12 records" in payload["error"]["message"]
    assert payload["error"]["fieldErrors"] == [
        {"field": "fcust", "message": "Incorrect integer value: 'abc' for column 'fcust' at row 1", "record": 5}
    ]
    assert [item["index"] for item in payload["failed"]] == [5]
    assert [r["fields"]["fname"] for r in payload["written"]] == [row["fname"] for row in rows if row is not rows[5]]
    stored = [(row["fid"], row["fname"]) for row in tenant.state.rows("torders")[2:]]
    assert sorted(stored) == sorted((int(r["id"]), r["fields"]["fname"]) for r in payload["written"])


async def test_an_outage_stops_the_create_and_says_exactly_what_was_written(agent: Agent, tenant: Tenant) -> None:
    rows = [{"fname": f"לקוח {i}"} for i in range(12)]
    tenant.state.fail_next("error", path=RECORDS, status=500)
    result = await agent.call("createRecords_tcust", {"records": rows})
    assert result.isError and result.structuredContent is not None
    payload = result.structuredContent
    inserts = tenant.logged("POST", RECORDS)
    assert [r.status for r in inserts].count(500) == 1, "the failed insert is not repeated: it is not idempotent"
    assert len(inserts) < 12, "no new insert starts after an outage"
    written = [int(r["fields"]["fname"].split()[1]) for r in payload["written"]]
    failed = [item["index"] for item in payload["failed"]]
    assert sorted(written + failed) == list(range(12)) and written
    stored = {row["fname"] for row in tenant.state.rows("tcust")[4:]}
    assert stored == {r["fields"]["fname"] for r in payload["written"]}
    reasons = [item["error"]["message"] for item in payload["failed"]]
    assert sum(reason.startswith("Not sent") for reason in reasons) == len(failed) - 1
    assert not any(item["error"].get("mayHaveBeenWritten") for item in payload["failed"])


@pytest.mark.parametrize(
    ("fault", "status", "applied"),
    [("lost", None, True), ("error", 504, False), ("malformed", 201, False)],
    ids=["answer-lost", "gateway-timeout", "unreadable-2xx"],
)
async def test_an_insert_whose_outcome_is_unknown_may_have_been_written(
    agent: Agent, tenant: Tenant, fault: Any, status: int | None, applied: bool
) -> None:
    tenant.state.fail_next(fault, path=RECORDS, status=status)
    result = await agent.call("createRecords_tcust", {"records": [{"fname": "אולי"}]})
    assert result.isError and result.structuredContent is not None
    [failed] = result.structuredContent["failed"]
    assert failed["error"]["mayHaveBeenWritten"] is True and failed["error"]["retryable"] is False
    assert "Check with listRecords" in failed["error"]["message"]
    assert len(tenant.logged("POST", RECORDS)) == 1, "never sent twice"
    assert (tenant.state.rows("tcust")[-1]["fname"] == "אולי") is applied  # the fake applies only a lost answer


async def test_inserted_id_null_reports_what_was_sent_without_an_id(agent: Agent, tenant: Tenant) -> None:
    tenant.state.inserted_id_null = True
    created = (await agent.ok("createRecords_tcust", {"records": [{"fname": "בלי מזהה", "fcity": "עכו"}]}))["records"]
    assert created == [
        {"id": None, "fields": {"fname": "בלי מזהה", "fcity": "עכו"}, "created_at": None, "updated_at": None}
    ]
    assert tenant.state.rows("tcust")[-1]["fname"] == "בלי מזהה"
    assert len(tenant.state.requests) == 1, "nothing to read back without an id"
    described = await agent.ok("describeTable", {"table": "tcust"})
    assert any("id null" in note for note in described["notes"])


async def test_created_records_are_read_back_as_stored(agent: Agent, tenant: Tenant) -> None:
    created = (await agent.ok("createRecords_torders", {"records": [{"fname": "x", "fsum": "12.50"}]}))["records"]
    assert created[0]["fields"]["fsum"] == "12.5", "read back: the number column stored a number"
    assert created[0]["updated_at"] == tenant.state.rows("torders")[-1]["flastmodify"].replace(" ", "T")
    [query] = tenant.logged("POST", "/integration/tables/torders/query")
    assert query.body["filters"] == {"and": [cond("fid", "eq", int(created[0]["id"]))]}


# -- get and patch ------------------------------------------------------------------------------------------


async def test_unknown_record_ids_are_not_found(agent: Agent, tenant: Tenant) -> None:
    for unknown in ("999", "abc", "0", "-1"):
        error = await agent.error("getRecord", {"table": "tcust", "recordId": unknown})
        assert error["code"] == "not_found" and unknown in error["message"]
        error = await agent.error("patchRecord", {"table": "tcust", "recordId": unknown, "fields": {"fcity": "x"}})
        assert error["code"] == "not_found" and unknown in error["message"]
    assert [r.path for r in tenant.state.requests] == [
        "/integration/tables/tcust/query",
        f"{RECORDS}/single",
    ], "only the well-formed id reaches Ozari; the others cannot name a record"
    assert [row["fcity"] for row in tenant.state.rows("tcust")] == [c.get("fcity") for c in CUSTOMERS]


async def test_patch_with_unchanged_values_succeeds(agent: Agent, tenant: Tenant) -> None:
    patched = await agent.ok("patchRecord", {"table": "tcust", "recordId": "2", "fields": {"fcity": "חיפה"}})
    assert patched["record"]["fields"]["fcity"] == "חיפה"
    assert len(tenant.logged("PATCH", f"{RECORDS}/single")) == 1


async def test_a_fid_matching_two_records_is_a_backend_error_and_changes_nothing(agent: Agent, tenant: Tenant) -> None:
    table = tenant.state.tables["tcust"]
    table.rows[99] = {**table.rows[2], "fname": "כפיל"}  # a database whose fid is not unique
    error = await agent.error("patchRecord", {"table": "tcust", "recordId": "2", "fields": {"fcity": "x"}})
    assert error["code"] == "backend_error" and error["retryable"] is False
    assert "more than one record" in error["message"]
    assert {row["fcity"] for row in tenant.state.rows("tcust") if row["fid"] == 2} == {"חיפה"}


# -- filters ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (cond("fcity", "eq", "חיפה"), ["אבי כהן", "בני לוי"]),
        (cond("fcity", "ne", "חיפה"), ["דוד כהן", "Sarah Levi", "x%_"]),  # an empty city is "not Haifa"
        (cond("fname", "contains", "כהן"), ["דוד כהן", "אבי כהן"]),
        (cond("fname", "contains", "%"), ["x%_"]),  # LIKE's wildcards are matched literally
        (cond("fname", "contains", "_"), ["x%_"]),
        (cond("fname", "in", ["בני לוי", "Sarah Levi"]), ["בני לוי", "Sarah Levi"]),
        (cond("fnotes", "isEmpty"), ["דוד כהן", "בני לוי", "Sarah Levi", "x%_"]),  # null and ""
        (cond("fnotes", "isNotEmpty"), ["אבי כהן"]),
        (cond("fbalance", "isNotEmpty"), ["אבי כהן", "בני לוי"]),  # 0 is a value (the column holds numbers)
        (cond("fid", "gt", 2), ["בני לוי", "Sarah Levi", "x%_"]),
        (cond("fid", "ne", 1), ["אבי כהן", "בני לוי", "Sarah Levi", "x%_"]),
        (
            {"or": [cond("fid", "lte", 1), {"and": [cond("fcity", "eq", "חיפה"), cond("fbalance", "eq", "0")]}]},
            [
                "דוד כהן",
                "בני לוי",
            ],
        ),
    ],
)
async def test_filters_select_the_canonical_records(
    agent: Agent, tenant: Tenant, where: dict[str, Any], expected: list[str]
) -> None:
    tenant.state.add_rows("tcust", [{"fname": "x%_", "fnotes": ""}])
    assert await names(agent, filter=where) == expected


async def test_filters_are_translated_to_the_query_tree(agent: Agent, tenant: Tenant) -> None:
    where = {"and": [cond("fcity", "ne", "חיפה"), {"and": [cond("fname", "contains", "a%b")]}, cond("fid", "in", [1])]}
    await agent.ok(
        "listRecords", {"table": "tcust", "filter": where, "sort": [{"field": "fname", "direction": "desc"}]}
    )
    [query] = tenant.state.requests
    assert query.body == {
        "sort": [{"field": "fname", "direction": "desc"}, {"field": "fid", "direction": "asc"}],
        "filters": {
            "and": [
                {"or": [cond("fcity", "neq", "חיפה"), {"field": "fcity", "op": "is_null"}]},
                cond("fname", "like", "%a\\%b%"),
                cond("fid", "in", [1]),
            ]
        },
        "page": 1,
        "per_page": 50,
    }


def nested(depth: int, innermost: str = "eq") -> dict[str, Any]:
    """`depth` levels of alternating and/or groups, each with two conditions; `innermost` is the deepest's op."""
    node: dict[str, Any] = cond("fname", innermost, "x")
    for level in range(depth):
        node = {("and", "or")[level % 2]: [node, cond("fcity", "eq", "y")]}
    return node


@pytest.mark.parametrize(
    ("where", "field", "words"),
    [
        (nested(6), "filter", "at most 5 groups deep"),
        (nested(5, innermost="ne"), "filter", "'ne'"),  # ne adds the sixth level
        ({"or": [cond("fname", "eq", str(i)) for i in range(51)]}, "filter", "at most 50 conditions"),
        ({"or": [cond("fname", "ne", str(i)) for i in range(30)]}, "filter", "needs 60"),
        (
            {"and": [cond("fname", "eq", "a"), cond("fcity", "in", [str(i) for i in range(201)])]},
            "filter.and[1].value",
            "at most 200 values",
        ),
    ],
)
async def test_ozari_query_limits_are_checked_before_any_request(
    agent: Agent, tenant: Tenant, where: dict[str, Any], field: str, words: str
) -> None:
    error = await agent.error("listRecords", {"table": "tcust", "filter": where})
    assert error["code"] == "invalid_argument"
    [problem] = error["fieldErrors"]
    assert problem["field"] == field and words in problem["message"], problem
    assert tenant.state.requests == []


async def test_five_levels_and_fifty_conditions_are_accepted(agent: Agent, tenant: Tenant) -> None:
    await agent.ok("listRecords", {"table": "tcust", "filter": nested(5)})
    await agent.ok(
        "listRecords", {"table": "tcust", "filter": {"or": [cond("fname", "eq", str(i)) for i in range(50)]}}
    )
    assert [r.status for r in tenant.state.requests] == [200, 200]


# -- paging -------------------------------------------------------------------------------------------------


async def test_paging_visits_every_row_once_in_a_stable_order(agent: Agent, tenant: Tenant) -> None:
    tenant.state.add_rows("tcust", [{"fname": f"p{i:03}", "fcity": "עכו" if i % 2 else "לוד"} for i in range(130)])
    tenant.state.shuffle_unsorted = True  # the database's own order is no order
    seen: list[str] = []
    cursor = None
    limits = iter([50, 50, 7, 200])  # the agent changes its limit half-way
    while True:
        args: dict[str, Any] = {"table": "tcust", "limit": next(limits), "sort": [{"field": "fcity"}]}
        page = await agent.ok("listRecords", {**args, **({"cursor": cursor} if cursor else {})})
        assert page["totalCount"] == 134
        seen += [r["id"] for r in page["records"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 134
    assert all(r.body["sort"][-1] == {"field": "fid", "direction": "asc"} for r in tenant.state.requests)
    assert [(r.body["page"], r.body["per_page"]) for r in tenant.state.requests] == [
        (1, 50),
        (2, 50),
        (15, 7),  # offset 100 is page 15 of 7 rows (98..104), from its third row ...
        (16, 7),  # ... and the first rows of the next page
        (1, 200),  # offset 107 of 200 rows: page 1 from its 108th row
    ]


async def test_a_cursor_is_refused_on_another_table_or_filter(agent: Agent) -> None:
    page = await agent.ok("listRecords", {"table": "tcust", "limit": 1})
    for other in (
        {"table": "torders", "cursor": page["nextCursor"]},
        {"table": "tcust", "cursor": page["nextCursor"], "filter": cond("fcity", "eq", "חיפה")},
        {"table": "tcust", "cursor": page["nextCursor"][:-2]},
    ):
        error = await agent.error("listRecords", other)
        assert error["code"] == "invalid_argument" and error["fieldErrors"][0]["field"] == "cursor"


async def test_projection_keeps_only_the_named_columns(agent: Agent) -> None:
    page = await agent.ok("listRecords", {"table": "tcust", "fields": ["fcity"], "limit": 2})
    assert [r["fields"] for r in page["records"]] == [{"fcity": "תל אביב"}, {"fcity": "חיפה"}]
    assert [r["id"] for r in page["records"]] == ["1", "2"]


# -- errors and retries -------------------------------------------------------------------------------------


async def test_a_bad_token_is_unauthenticated_and_never_shown(tenant: Tenant) -> None:
    for token, message in (("wrong-token-value-123", "Invalid token"), (TOKEN, "Invalid token")):
        if token == TOKEN:
            tenant.state.revoke_token(TOKEN)
        backend = OzariBackend.from_environ({**tenant.env(), "OZARI_API_TOKEN": token}, retry=FAST_RETRY)
        with pytest.raises(TablesError) as raised:
            await backend.open()
        await backend.aclose()
        error = raised.value
        assert error.code is ErrorCode.UNAUTHENTICATED and message in error.message
        assert token not in error.to_text() and "OZARI_API_TOKEN" in error.to_text()


async def test_reads_are_retried_on_5xx_and_writes_are_not(agent: Agent, tenant: Tenant) -> None:
    tenant.state.fail_next("error", path="/integration/tables/tcust/query", status=500)
    tenant.state.fail_next("error", path="/integration/tables/tcust/query", status=502)
    assert len(await names(agent)) == 4
    assert [r.status for r in tenant.state.requests] == [500, 502, 200]

    tenant.state.clear_log()
    tenant.state.fail_next("error", path=RECORDS, status=503)
    error = await agent.error("createRecords", {"table": "tcust", "records": [{"fname": "פעם אחת"}]})
    assert error["code"] == "unavailable" and error["retryable"] is True
    assert [r.status for r in tenant.state.requests] == [503]
    assert "פעם אחת" not in {row["fname"] for row in tenant.state.rows("tcust")}


async def test_a_value_the_database_refuses_names_its_column(agent: Agent, tenant: Tenant) -> None:
    tenant.state.clear_log()
    error = await agent.error("patchRecord", {"table": "torders", "recordId": "1", "fields": {"fcust": "abc"}})
    assert error["code"] == "invalid_argument" and error["fieldErrors"][0]["field"] == "fcust"
    assert "Incorrect integer value" in error["message"] and error["retryable"] is False
    patches = [r for r in tenant.state.requests if r.method == "PATCH"]
    assert [r.status for r in patches] == [500], "a refused value is refused again: the 500 is not retried"


async def test_credential_tables_are_permission_denied(backend: OzariBackend, tenant: Tenant) -> None:
    [tcust] = [t for t in await backend.list_tables() if t.id == "tcust"]
    credential = tcust.model_copy(update={"id": "tusers", "name": "tusers"})
    with pytest.raises(TablesError) as raised:
        await backend.list_records(credential, ListQuery())
    assert raised.value.code is ErrorCode.PERMISSION_DENIED and "credential" in (raised.value.hint or "")


async def test_a_malformed_answer_is_a_backend_error(agent: Agent, tenant: Tenant) -> None:
    # A read whose answer was spoilt is asked again, as often as the retry policy allows.
    tenant.state.fail_next("malformed", 3, path="/integration/tables/tcust/query")
    error = await agent.error("listRecords", {"table": "tcust"})
    assert error["code"] == "backend_error"


@pytest.mark.parametrize(
    ("status", "body", "code", "field"),
    [
        (400, {"success": False, "error": "Invalid table name"}, ErrorCode.INVALID_ARGUMENT, "table"),
        (400, {"success": False, "error": "Unknown field: fnope"}, ErrorCode.INVALID_ARGUMENT, "fnope"),
        (
            400,
            {"success": False, "error": 'filters.or[0]: "in" needs a "value" array'},
            ErrorCode.INVALID_ARGUMENT,
            "filter",
        ),
        (401, {"success": False, "error": "Missing or invalid Authorization header"}, ErrorCode.UNAUTHENTICATED, None),
        (404, {"success": False, "error": "Table not found"}, ErrorCode.NOT_FOUND, None),
        (
            409,
            {"success": False, "error": "Multiple records match the given filters.", "matched": 2},
            ErrorCode.BACKEND_ERROR,
            None,
        ),
        (429, {"success": False, "error": "Too many requests"}, ErrorCode.RATE_LIMITED, None),
        (
            500,
            {"success": False, "error": "Data too long for column 'fname' at row 1"},
            ErrorCode.INVALID_ARGUMENT,
            "fname",
        ),
        (500, {"success": False, "error": "Internal server error"}, ErrorCode.UNAVAILABLE, None),
        (503, None, ErrorCode.UNAVAILABLE, None),
    ],
)
def test_error_bodies_map_by_status(status: int, body: Any, code: ErrorCode, field: str | None) -> None:
    text = "<html>503</html>" if body is None else str(body)
    error = map_ozari_error(ErrorResponse(status, body, text, httpx.Headers(), None))
    assert error.code is code and error.status == status
    assert [fe.field for fe in error.field_errors] == ([field] if field else [])
    if code is ErrorCode.RATE_LIMITED:
        assert error.retry_after == 1.0


# -- settings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"OZARI_API_TOKEN": ""}, "OZARI_API_TOKEN is required"),
        ({"OZARI_API_TOKEN": "Bearer abcdef"}, "without the 'Bearer ' prefix"),
        ({"OZARI_API_TOKEN": "two words"}, "no spaces"),
        ({"OZARI_BASE_URL": "https://api.ozari.co.il/integration"}, "host only"),
        ({"OZARI_BASE_URL": "api.ozari.co.il"}, "http(s) URL"),
        ({"OZARI_LANGUAGE": "en"}, "unknown environment variable OZARI_LANGUAGE"),
        ({"OZARI_LANG": "he il"}, "language code"),
        ({"OZARI_COLUMN_TYPES": "tcust.fbalance:MONEY"}, "table.field:TYPE"),
    ],
)
def test_bad_settings_fail_at_start_with_the_fix(tenant: Tenant, settings: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        ADAPTER.open(tenant.env(**settings), "")
    assert words in str(raised.value)
    assert "abcdef" not in str(raised.value)


async def test_a_language_or_column_the_company_lacks_fails_at_open(tenant: Tenant) -> None:
    for settings, words in (
        ({"OZARI_LANG": "ar"}, "one of: he, en"),
        ({"OZARI_COLUMN_TYPES": "tcust.fnope:NUMBER"}, "tcust.fnope"),
    ):
        backend = tenant.backend(**settings)
        with pytest.raises(ConfigError) as raised:
            await backend.open()
        await backend.aclose()
        assert words in str(raised.value)


async def test_configured_column_types_give_numbers_dates_and_ordered_filters(tenant: Tenant) -> None:
    backend = tenant.backend(OZARI_COLUMN_TYPES="torders.fsum:NUMBER,torders.fda:DATE,tcust.femail:EMAIL")
    await backend.open()
    try:
        async for agent in open_agent(backend, ToolOptions()):
            described = (await agent.ok("describeTable", {"table": "torders"}))["table"]
            columns = {col["name"]: col for col in described["columns"]}
            assert (columns["fsum"]["type"], columns["fda"]["type"]) == ("NUMBER", "DATE")
            assert "lt" in columns["fsum"]["operators"] and "lt" not in columns["fname"]["operators"]
            page = await agent.ok("listRecords", {"table": "torders", "filter": cond("fsum", "gt", 1000)})
            assert [(r["fields"]["fsum"], r["fields"]["fda"]) for r in page["records"]] == [(3200, "2026-04-02")]
            earlier = await agent.ok("listRecords", {"table": "torders", "filter": cond("fda", "lt", "2026-04-01")})
            assert [r["id"] for r in earlier["records"]] == ["1"]
            created = await agent.ok("createRecords_torders", {"records": [{"fname": "ח", "fsum": 12.25}]})
            assert created["records"][0]["fields"]["fsum"] == 12.25
            error = await agent.error("createRecords_torders", {"records": [{"fname": "ח", "fsum": "12"}]})
            assert error["code"] == "invalid_argument"
    finally:
        await backend.aclose()
