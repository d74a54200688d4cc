"""What the README, manifest.json, `tables-mcp tools` and `doctor` promise is what a client receives.

A pipeline written from the README or a bundle's tool list calls tools by name; those names must be
the ones a fresh server really registers over MCP (stdio, as a client starts it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tables_mcp.backends.registry import BACKENDS, adapter

from .test_stdio_cli import command, env_for, run_cli

ROOT = Path(__file__).resolve().parents[1]


async def tools_a_client_receives(db: Path) -> list[str]:
    exe, *args = command()
    params = StdioServerParameters(command=exe, args=args, env=env_for(db))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return [tool.name for tool in (await session.list_tools()).tools]


def readme_tool_table() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Tools") : text.index("## Configuration")]
    return re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE)


@pytest.mark.anyio
async def test_readme_manifest_cli_and_doctor_list_the_tools_a_client_receives(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    received = await tools_a_client_receives(db)
    manifest = json.loads((ROOT / "manifest.json").read_text())
    assert [tool["name"] for tool in manifest["tools"]] == received
    assert readme_tool_table() == received
    printed = run_cli(db, "tools")
    assert printed.returncode == 0, printed.stderr
    assert re.findall(r"^## (\S+)$", printed.stdout, re.MULTILINE) == received
    doctor = run_cli(db, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert f"{len(received)} tools exposed" in doctor.stdout and ", ".join(received) in doctor.stdout

    # With a table the generic tools stay, and the typed create comes on top.
    created = run_cli(
        db, "call", "createTable", json.dumps({"name": "Tasks", "columns": [{"name": "A", "type": "TEXT"}]})
    )
    assert created.returncode == 0, created.stderr
    assert await tools_a_client_receives(db) == [*received, "createRecords_Tasks"]


def test_every_registered_backend_is_documented_and_configurable() -> None:
    readme = (ROOT / "README.md").read_text()
    manifest = json.loads((ROOT / "manifest.json").read_text())
    env = manifest["server"]["mcp_config"]["env"]
    assert "|".join(BACKENDS) in readme.replace("\\|", "|"), "the --backend row lists every backend"
    for name, entry in BACKENDS.items():
        assert name in manifest["user_config"]["backend"]["description"], name
        if entry.env_prefix is None:
            continue
        assert any(key.startswith(entry.env_prefix) for key in env), f"manifest passes no {entry.env_prefix}* setting"
        settings = adapter(name).settings
        if settings is not None:
            known = set(settings.known_names())
            passed = {key for key in env if key.startswith(entry.env_prefix)}
            assert passed <= known, f"manifest passes unknown settings {passed - known}"
            secret = [key for key in passed if "SECRET" in key or "TOKEN" in key or "KEY" in key or "PASSWORD" in key]
            for key in secret:
                config = env[key].removeprefix("${user_config.").removesuffix("}")
                if key.endswith("APP_KEY"):
                    continue  # an app key is an identifier; its secret is the app secret
                assert manifest["user_config"][config].get("sensitive") is True, key
