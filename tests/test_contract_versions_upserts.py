"""The backend contract for record versions and upserts (issue 15): the same tests on every registered backend.

Like tests/test_contract.py (same fixtures, same Tasks table), the tests branch only on what the backend
declares: `capabilities.versions` (records carry "version", patches take expectedVersion) and
`capabilities.upsert` (upsertRecords on a unique key column). A backend without an ability offers no
tool or argument for it and refuses it by name before any request.
"""

from __future__ import annotations

from typing import Any

import pytest

from tables_mcp.backends.base import RecordUpserter, VersionedPatcher

from .contract_backends import Subject, assert_nothing_sent, held, seed, target_fixtures
from .contract_backends import contract_target as contract_target
from .contract_backends import subject as subject

globals().update(target_fixtures())

pytestmark = pytest.mark.anyio


async def one_record(subject: Subject) -> dict[str, Any]:
    created: list[dict[str, Any]] = await seed(subject)
    return created[0]


# -- record versions --------------------------------------------------------------------------------------


async def test_versions_are_declared_together_with_the_ability(subject: Subject) -> None:
    caps = subject.capabilities
    assert isinstance(subject.backend.inner, VersionedPatcher) is caps.versions
    described = await subject.agent.ok("describeTable", {"table": "Tasks"})
    assert described["capabilities"]["versions"] is caps.versions
    patch = (await subject.agent.tools())["patchRecord"]
    assert ("expectedVersion" in patch.inputSchema["properties"]) is caps.versions
    assert ("expectedVersion" in (patch.description or "")) is caps.versions


async def test_a_stale_expected_version_writes_nothing_and_answers_the_current_record(subject: Subject) -> None:
    if not subject.capabilities.versions:
        pytest.skip(f"{subject.name} keeps no record versions (capabilities.versions is False)")
    agent = subject.agent
    record = await one_record(subject)
    assert isinstance(record["version"], str) and record["version"]
    ref = {"table": "Tasks", "recordId": record["id"]}
    read = (await agent.ok("getRecord", ref))["record"]
    assert read["version"] == record["version"]
    changed = (await agent.ok("patchRecord", {**ref, "fields": held(subject, {"Estimate": 2})}))["record"]
    assert changed["version"] != record["version"], "every write changes the version"

    subject.forget_calls()
    stale = {**ref, "fields": held(subject, {"Estimate": 3}), "expectedVersion": record["version"]}
    result = await agent.call("patchRecord", stale)
    assert result.isError and result.structuredContent is not None
    assert result.structuredContent["error"]["code"] == "conflict"
    now = (await agent.ok("getRecord", ref))["record"]
    assert now == changed, "nothing was written"
    assert result.structuredContent["currentRecord"] == now

    fresh = {**ref, "fields": held(subject, {"Estimate": 3}), "expectedVersion": now["version"]}
    done = (await agent.ok("patchRecord", fresh))["record"]
    assert done["fields"]["Estimate"] == 3 and done["version"] not in (now["version"], record["version"])


async def test_a_backend_without_versions_refuses_expected_version_by_name_before_any_request(
    subject: Subject,
) -> None:
    if subject.capabilities.versions:
        pytest.skip(f"{subject.name} keeps record versions")
    record = await one_record(subject)
    assert "version" not in record
    subject.forget_calls()
    args = {
        "table": "Tasks",
        "recordId": record["id"],
        "fields": held(subject, {"Estimate": 3}),
        "expectedVersion": "1",
    }
    error = await subject.agent.error("patchRecord", args)
    assert error["code"] == "invalid_argument" and "expectedVersion" in error["message"]
    assert [fe["field"] for fe in error["fieldErrors"]] == ["expectedVersion"]
    assert subject.backend_writes() == [] and subject.network_writes() == []


# -- upserts ----------------------------------------------------------------------------------------------


async def test_upserts_are_declared_together_with_the_ability(subject: Subject) -> None:
    caps = subject.capabilities
    assert isinstance(subject.backend.inner, RecordUpserter) is caps.upsert
    tools = await subject.agent.tools()
    assert ("upsertRecords" in tools) is caps.upsert
    described = await subject.agent.ok("describeTable", {"table": "Tasks"})
    assert described["capabilities"]["upsert"] is caps.upsert
    if caps.upsert:
        upsert = tools["upsertRecords"]
        assert upsert.annotations.idempotentHint is True and not upsert.annotations.destructiveHint
        assert caps.upsert_key_types, "an upsert needs a type its key column may have"
    else:
        await subject.agent.unknown_tool("upsertRecords", {"table": "Tasks", "keyField": "Title", "records": [{}]})


async def test_an_upsert_run_twice_creates_nothing_the_second_time(subject: Subject) -> None:
    if not subject.capabilities.upsert:
        pytest.skip(f"{subject.name} has no upsert (capabilities.upsert is False)")
    async with subject.with_keyed_table() as agent:
        described = await agent.ok("describeTable", {"table": "Keyed"})
        assert {c["name"]: c.get("unique", False) for c in described["table"]["columns"]}["Key"] is True
        rows = [{"Key": f"k{i}", "Title": f"T{i}", "Estimate": i} for i in range(3)]
        first = await agent.ok("upsertRecords", {"table": "Keyed", "keyField": "Key", "records": rows})
        assert [r["fields"]["Key"] for r in first["created"]] == ["k0", "k1", "k2"] and first["updated"] == []
        changed = [{"Key": "k1", "Estimate": 10}, {"Key": "k3", "Title": "T3"}]
        second = await agent.ok("upsertRecords", {"table": "Keyed", "keyField": "Key", "records": changed})
        [updated], [created] = second["updated"], second["created"]
        assert updated["id"] == first["created"][1]["id"]
        assert (updated["fields"]["Title"], updated["fields"]["Estimate"]) == ("T1", 10), "columns not sent are kept"
        assert created["fields"]["Key"] == "k3"
        third = await agent.ok("upsertRecords", {"table": "Keyed", "keyField": "Key", "records": changed})
        assert third["created"] == [] and len(third["updated"]) == 2
        listed = (await agent.ok("listRecords", {"table": "Keyed"}))["records"]
        assert sorted(r["fields"]["Key"] for r in listed) == ["k0", "k1", "k2", "k3"]


async def test_a_key_that_is_not_unique_is_refused_before_any_request(subject: Subject) -> None:
    if not subject.capabilities.upsert:
        pytest.skip(f"{subject.name} has no upsert (capabilities.upsert is False)")
    subject.forget_calls()
    error = await subject.agent.error(
        "upsertRecords", {"table": "Tasks", "keyField": "Title", "records": [{"Title": "x"}]}
    )
    assert error["code"] == "invalid_argument" and "Title" in error["message"]
    assert error["fieldErrors"][0]["field"] == "keyField"
    assert_nothing_sent(subject)
