"""`tables-mcp demo`: a short scripted agent session through a real MCP client, printed readably."""

from __future__ import annotations

import json
from typing import Any

from .server import CallResult, InProcessClient, in_process_client
from .tools import Catalogue

STEPS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "Create a table",
        "createTable",
        {
            "name": "Tasks",
            "description": "Team to-do list",
            "columns": [
                {"name": "Title", "type": "TEXT", "required": True},
                {"name": "Status", "type": "SELECT", "options": ["Todo", "Doing", "Done"], "required": True},
                {"name": "Owner", "type": "EMAIL"},
                {"name": "Estimate", "type": "NUMBER"},
                {"name": "Due", "type": "DATE"},
                {"name": "No", "type": "SERIAL"},
            ],
        },
    ),
    (
        "Insert three records",
        "createRecords_Tasks",
        {
            "records": [
                {"Title": "Write the README", "Status": "Doing", "Owner": "ana@example.com", "Estimate": 2},
                {"Title": "Ship 0.1", "Status": "Todo", "Due": "2026-12-01", "Estimate": 5},
                {"Title": "Fix the login bug", "Status": "Done", "Owner": "li@example.com", "Estimate": 1},
            ]
        },
    ),
    (
        "An invalid insert is rejected with every problem named (nothing is written)",
        "createRecords_Tasks",
        {"records": [{"Title": "Plan Q1", "Status": "Donee", "Owner": "not-an-email", "Priority": "high"}]},
    ),
    (
        "Patch one record (only the columns sent change)",
        "patchRecord",
        {"table": "Tasks", "recordId": "2", "fields": {"Status": "Doing"}},
    ),
    (
        "List the open tasks, biggest first",
        "listRecords",
        {
            "table": "Tasks",
            "filter": {"field": "Status", "op": "in", "value": ["Todo", "Doing"]},
            "sort": [{"field": "Estimate", "direction": "desc"}],
            "fields": ["Title", "Status", "Estimate"],
        },
    ),
]


async def run_demo(catalogue: Catalogue) -> int:
    async with in_process_client(catalogue) as client:
        print("tables-mcp demo: a scripted agent session on a throw-away embedded store\n")
        tools = await client.list_tools()
        print(f"tools/list -> {len(tools)} tools: {', '.join(tool['name'] for tool in tools)}\n")
        for number, (title, tool, arguments) in enumerate(STEPS, start=1):
            result = await _step(client, number, title, tool, arguments)
            if result.is_error != (number == 3):
                print("The demo did not go as scripted.")
                return 1
        tools = await client.list_tools()
        print(f"tools/list now -> {len(tools)} tools: {', '.join(tool['name'] for tool in tools)}")
    return 0


async def _step(client: InProcessClient, number: int, title: str, tool: str, arguments: dict[str, Any]) -> CallResult:
    print(f"{number}. {title}\n   -> {tool} {json.dumps(arguments, ensure_ascii=False)}")
    result = await client.call(tool, arguments)
    body = result.text if result.is_error else _render(result.payload or {})
    print("   <- " + ("ERROR " if result.is_error else "") + body.replace("\n", "\n      ") + "\n")
    return result


def _render(payload: dict[str, Any]) -> str:
    """One line per record or column, so that a terminal shows the session at a glance."""
    if "records" in payload:
        lines = [_compact({"id": rec["id"], "fields": rec["fields"]}) for rec in payload["records"]]
        return f"{len(lines)} record(s)\n" + "\n".join(lines)
    if "record" in payload:
        return _compact({"id": payload["record"]["id"], "fields": payload["record"]["fields"]})
    if "table" in payload:
        table = payload["table"]
        columns = ", ".join(f"{col['name']} {col['type']}" for col in table["columns"])
        return f"table {table['name']} (id {table['id']}): {columns}"
    return _compact(payload)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
