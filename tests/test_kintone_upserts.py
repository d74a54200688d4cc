"""Kintone's upsert and revision checks through tables-mcp, against the fake Kintone, in a real MCP session.

upsertRecords becomes Kintone's own upsert (PUT records.json with `upsert: true` and `updateKey`, 100 per
request, each answer saying INSERT or UPDATE), keyed on a field with "prohibit duplicate values"; a failed
request is reported exactly (created, updated, not written). patchRecord's expectedVersion becomes the
`revision` of PUT record.json, and Kintone's 409 GAIA_CO02 a conflict carrying the record as it is now.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tables_mcp.backends.kintone import KintoneBackend
from tables_mcp.tools import ToolOptions

from .conftest import FAST_RETRY, Agent, open_agent
from .fakes.kintone import FakeKintone

pytestmark = pytest.mark.anyio

FIELDS: dict[str, dict[str, Any]] = {
    "Title": {"type": "SINGLE_LINE_TEXT", "required": True},
    "Code": {"type": "SINGLE_LINE_TEXT", "unique": True},
    "No": {"type": "NUMBER", "unique": True},
    "Link": {"type": "LINK", "protocol": "WEB", "unique": True},  # unique, but Kintone takes no LINK updateKey
    "Estimate": {"type": "NUMBER"},
}


@pytest.fixture
async def kintone(fake_kintone: tuple[FakeKintone, str]) -> AsyncIterator[tuple[Agent, FakeKintone]]:
    state, url = fake_kintone
    state.reset()
    app = state.add_app("Items", FIELDS)
    backend = KintoneBackend(url, api_tokens=[state.add_token(app)], app_ids=[str(app)], retry=FAST_RETRY)
    await backend.open()
    try:
        async for agent in open_agent(backend, ToolOptions()):
            yield agent, state
    finally:
        await backend.aclose()


def upsert_requests(state: FakeKintone) -> list[Any]:
    return [r.body for r in state.requests if r.method == "PUT" and r.path.endswith("/records.json")]


async def test_describe_table_shows_the_unique_fields(kintone: tuple[Agent, FakeKintone]) -> None:
    agent, _ = kintone
    described = await agent.ok("describeTable", {"table": "Items"})
    unique = {col["name"] for col in described["table"]["columns"] if col.get("unique")}
    assert unique == {"Code", "No", "Link"}
    assert described["capabilities"] == {"versions": True, "upsert": True}


async def test_upsert_is_kintones_own_in_requests_of_100_and_twice_creates_nothing(
    kintone: tuple[Agent, FakeKintone],
) -> None:
    agent, state = kintone
    rows = [{"Code": f"C{i:03d}", "Title": f"Item {i}", "Estimate": i} for i in range(150)]
    state.clear_log()
    first = await agent.ok("upsertRecords", {"table": "Items", "keyField": "Code", "records": rows})
    assert [r["fields"]["Code"] for r in first["created"]] == [row["Code"] for row in rows] and first["updated"] == []
    sent = upsert_requests(state)
    assert sorted(len(body["records"]) for body in sent) == [50, 100]
    assert all(body["upsert"] is True for body in sent)
    item = sent[0]["records"][0]
    assert set(item) == {"updateKey", "record"} and item["updateKey"]["field"] == "Code"
    assert "Code" not in item["record"], "the key travels as updateKey only"

    again = [{**row, "Estimate": 1000 + i} for i, row in enumerate(rows)]
    second = await agent.ok("upsertRecords", {"table": "Items", "keyField": "Code", "records": again})
    assert second["created"] == []
    assert [r["id"] for r in second["updated"]] == [r["id"] for r in first["created"]]
    assert all(r["fields"]["Estimate"] == 1000 + i for i, r in enumerate(second["updated"]))
    assert all(r["fields"]["Title"] == f"Item {i}" for i, r in enumerate(second["updated"]))
    assert all(r["version"] == "2" for r in second["updated"])
    assert len(state.apps[1].records) == 150


async def test_a_number_key_matches_the_stored_number(kintone: tuple[Agent, FakeKintone]) -> None:
    agent, _ = kintone
    await agent.ok("upsertRecords", {"table": "Items", "keyField": "No", "records": [{"No": 7, "Title": "seven"}]})
    done = await agent.ok(
        "upsertRecords", {"table": "Items", "keyField": "No", "records": [{"No": 7.0, "Estimate": 3}]}
    )
    [record] = done["updated"]
    assert done["created"] == [] and {name: record["fields"][name] for name in ("No", "Title", "Estimate")} == {
        "No": 7,
        "Title": "seven",
        "Estimate": 3,
    }


async def test_a_duplicate_value_is_a_conflict_as_on_the_store(kintone: tuple[Agent, FakeKintone]) -> None:
    agent, state = kintone
    await agent.ok("createRecords", {"table": "Items", "records": [{"Code": "A-1", "Title": "first"}]})
    error = await agent.error("createRecords", {"table": "Items", "records": [{"Code": "A-1", "Title": "again"}]})
    assert error["code"] == "conflict" and not error["retryable"], error
    assert [(fe["field"], fe.get("record")) for fe in error["fieldErrors"]] == [("Code", 0)]
    assert "upsertRecords" in error["hint"]
    patch_error = await agent.error(
        "patchRecord", {"table": "Items", "recordId": (await _second(agent)), "fields": {"Code": "A-1"}}
    )
    assert patch_error["code"] == "conflict"
    assert sorted(record.values["Code"] for record in state.apps[1].records.values()) == ["A-1", "B-2"]


async def _second(agent: Agent) -> str:
    created = await agent.ok("createRecords", {"table": "Items", "records": [{"Code": "B-2", "Title": "second"}]})
    record_id: str = created["records"][0]["id"]
    return record_id


async def test_only_unique_text_or_number_fields_can_be_keys(kintone: tuple[Agent, FakeKintone]) -> None:
    agent, state = kintone
    state.clear_log()
    for key in ("Title", "Link", "Nope"):
        error = await agent.error("upsertRecords", {"table": "Items", "keyField": key, "records": [{key: "x"}]})
        assert error["code"] == "invalid_argument" and key in error["message"]
        assert error["fieldErrors"][0]["field"] == "keyField" and error["fieldErrors"][0]["allowed"] == ["Code", "No"]
    assert upsert_requests(state) == []


async def test_a_failed_request_says_exactly_what_was_created_updated_and_not_written(
    kintone: tuple[Agent, FakeKintone],
) -> None:
    agent, state = kintone
    existing = [{"Code": f"C{i:03d}", "Title": f"Old {i}"} for i in range(50)]
    await agent.ok("upsertRecords", {"table": "Items", "keyField": "Code", "records": existing})
    rows: list[dict[str, Any]] = [{"Code": f"C{i:03d}", "Title": f"New {i}"} for i in range(150)]
    del rows[120]["Title"]  # a new record without its required Title: Kintone refuses that request (100-149)
    result = await agent.call("upsertRecords", {"table": "Items", "keyField": "Code", "records": rows})
    assert result.isError and result.structuredContent is not None
    content = result.structuredContent
    assert [r["fields"]["Code"] for r in content["updated"]] == [f"C{i:03d}" for i in range(50)]
    assert [r["fields"]["Code"] for r in content["created"]] == [f"C{i:03d}" for i in range(50, 100)]
    assert [entry["index"] for entry in content["failed"]] == list(range(100, 150))
    [own] = [entry for entry in content["failed"] if entry["index"] == 120]
    assert own["error"]["fieldErrors"][0]["field"] == "Title"
    text = result.content[0].text  # type: ignore[union-attr]
    assert "Created before the failure (50)" in text and "Updated before the failure (50)" in text
    stored = {record.values["Code"]: record.values["Title"] for record in state.apps[1].records.values()}
    assert len(stored) == 100 and stored["C000"] == "New 0" and stored["C099"] == "New 99"


async def test_expected_version_is_kintones_revision_and_a_stale_one_writes_nothing(
    kintone: tuple[Agent, FakeKintone],
) -> None:
    agent, state = kintone
    [made] = (await agent.ok("createRecords", {"table": "Items", "records": [{"Title": "a"}]}))["records"]
    assert made["version"] == "1"
    ref = {"table": "Items", "recordId": made["id"]}
    state.clear_log()
    done = await agent.ok("patchRecord", {**ref, "fields": {"Estimate": 1}, "expectedVersion": "1"})
    assert done["record"]["version"] == "2"
    [put] = [r.body for r in state.requests if r.method == "PUT" and r.path.endswith("/record.json")]
    assert put["revision"] == "1"
    stale = await agent.call("patchRecord", {**ref, "fields": {"Estimate": 2}, "expectedVersion": "1"})
    assert stale.isError and stale.structuredContent is not None
    assert stale.structuredContent["error"]["code"] == "conflict"
    assert stale.structuredContent["error"]["backendCode"] == "GAIA_CO02"
    assert stale.structuredContent["currentRecord"]["fields"]["Estimate"] == 1
    assert stale.structuredContent["currentRecord"]["version"] == "2"
    assert state.apps[1].records[int(made["id"])].values["Estimate"] == "1", "nothing was written"
