"""Sample workspace for local runs and the CLI: "Projects" and "Tasks" (every column type) and two keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .state import FakeOnnie

PROJECT_COLUMNS: list[dict[str, Any]] = [
    {"name": "Name", "type": "TEXT", "required": True},
    {"name": "Code", "type": "TEXT"},
    {"name": "Budget", "type": "NUMBER"},
    {"name": "Active", "type": "BOOLEAN", "default_value": True},
    {"name": "Website", "type": "URL"},
]

TASK_COLUMNS: list[dict[str, Any]] = [
    {"name": "Title", "type": "TEXT", "required": True},
    {
        "name": "Status",
        "type": "SELECT",
        "options": ["Todo", "Doing", "Done"],
        "required": True,
        "default_value": "Todo",
    },
    {"name": "Tags", "type": "MULTISELECT", "options": ["bug", "feature", "docs"]},
    {"name": "Estimate", "type": "NUMBER", "description": "hours"},
    {"name": "Rate", "type": "NUMBER", "description": "per hour"},
    {"name": "Cost", "type": "FORMULA", "expression": "{Estimate} * {Rate}"},
    {"name": "Done", "type": "BOOLEAN"},
    {"name": "Due", "type": "DATETIME"},
    {"name": "Owner", "type": "EMAIL"},
    {"name": "Phone", "type": "PHONE"},
    {"name": "Link", "type": "URL"},
    {"name": "Notes", "type": "LONGTEXT"},
    {"name": "Project", "type": "REFERENCE", "target": "Projects"},
    {"name": "Blocked by", "type": "REFERENCE", "target": "Tasks", "multiple": True},
    {"name": "Attachments", "type": "FILE"},
    {"name": "Summary", "type": "AI", "prompt": "Summarise the task in one line", "ai_value": "A sample summary."},
    {"name": "No", "type": "SERIAL"},
]

SAMPLE_FILE = {
    "id": "7d2c4c1e-3b0a-4a53-9a52-1f0e2f3a4b5c",
    "name": "spec.pdf",
    "mime_type": "application/pdf",
    "size": 48213,
    "url": "https://files.onnie.invalid/spec.pdf",
}


@dataclass(frozen=True)
class SampleWorkspace:
    state: FakeOnnie
    projects_table: str
    tasks_table: str
    read_write_key: str
    read_only_key: str


def sample_workspace() -> SampleWorkspace:
    state = FakeOnnie()
    projects = state.add_table("Projects", PROJECT_COLUMNS, description="Sample projects")
    tasks = state.add_table("Tasks", TASK_COLUMNS, description="Sample tasks with every column type")
    apollo, hermes = state.add_records(
        projects,
        [
            {"Name": "Apollo", "Code": "APL", "Budget": 120000, "Website": "https://apollo.example.com"},
            {"Name": "Hermes", "Code": "HRM", "Budget": 45000, "Active": False},
        ],
    )
    (first,) = state.add_records(
        tasks,
        [
            {
                "Title": "Write the spec",
                "Status": "Done",
                "Tags": ["docs"],
                "Estimate": 8,
                "Rate": 90,
                "Done": True,
                "Due": "2026-05-01T09:00:00Z",
                "Owner": "ada@example.com",
                "Project": apollo,
                "Attachments": [SAMPLE_FILE],
            }
        ],
    )
    state.add_records(
        tasks,
        [
            {
                "Title": "Build the API",
                "Status": "Doing",
                "Tags": ["feature"],
                "Estimate": 40,
                "Rate": 110,
                "Project": apollo,
                "Blocked by": [first],
            },
            {
                "Title": "Fix the login bug",
                "Tags": ["bug"],
                "Estimate": 3,
                "Owner": "lin@example.com",
                "Project": hermes,
            },
        ],
    )
    return SampleWorkspace(state, projects, tasks, state.add_key(), state.add_key({"tables:read"}))


def export_lines(workspace: SampleWorkspace, base_url: str) -> list[str]:
    """Shell lines for the adapter's settings (read-write key) and the read-only key.

    The read-only key's name does not start with ONNIE_: tables-mcp refuses unknown ONNIE_* variables,
    so an `eval` of these lines followed by `tables-mcp --backend onnie` must still start."""
    return [
        f"export ONNIE_BASE_URL={base_url}",
        f"export ONNIE_API_KEY={workspace.read_write_key}",
        f"export FAKE_ONNIE_READ_ONLY_API_KEY={workspace.read_only_key}",
    ]
