"""The installed command as a user meets it: a stdio MCP server, and the tools / call / demo subcommands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from .conftest import TASK_COLUMNS


def command() -> list[str]:
    """The installed console script (next to this interpreter), else the module."""
    script = Path(sys.executable).with_name("tables-mcp")
    if script.exists():
        return [str(script)]
    found = shutil.which("tables-mcp")
    return [found] if found else [sys.executable, "-m", "tables_mcp"]


def env_for(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABLES_MCP_")}
    return {**env, "TABLES_MCP_DB": str(db), **extra}


def run_cli(db: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command(), *args], capture_output=True, text=True, env=env_for(db, **extra), timeout=60)


@pytest.mark.anyio
async def test_stdio_session_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    exe, *args = command()
    params = StdioServerParameters(command=exe, args=args, env=env_for(db))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        assert init.serverInfo.name == "tables-mcp"
        assert init.capabilities.tools is not None and init.capabilities.tools.listChanged is True
        await session.call_tool("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert "createRecords_Tasks" in names
        created = await session.call_tool("createRecords_Tasks", {"records": [{"Title": "a", "Status": "Todo"}]})
        assert not created.isError and created.structuredContent["records"][0]["id"] == "1"  # type: ignore[index]
        bad = await session.call_tool("createRecords_Tasks", {"records": [{"Title": "a", "Status": "?"}]})
        assert bad.isError and bad.structuredContent["error"]["fieldErrors"][0]["field"] == "Status"  # type: ignore
    assert db.exists()


def test_stdout_carries_only_protocol(tmp_path: Path) -> None:
    """A client that sends initialize gets JSON-RPC lines on stdout and nothing else."""
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    proc = subprocess.run(
        [*command(), "--log-level", "DEBUG"],
        input=json.dumps(request) + "\n",
        capture_output=True,
        text=True,
        env=env_for(tmp_path / "s.db"),
        timeout=60,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines and all(json.loads(line)["jsonrpc"] == "2.0" for line in lines)


def test_tools_call_and_demo_commands(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    created = run_cli(
        db,
        "call",
        "createTable",
        json.dumps({"name": "Notes", "columns": [{"name": "Text", "type": "TEXT", "required": True}]}),
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["table"]["name"] == "Notes"
    catalogue = run_cli(db, "tools")
    assert catalogue.returncode == 0 and "## createRecords_Notes" in catalogue.stdout
    inserted = run_cli(db, "call", "createRecords_Notes", '{"records": [{"Text": "hi"}]}')
    assert json.loads(inserted.stdout)["records"][0]["fields"] == {"Text": "hi"}
    rejected = run_cli(db, "call", "createRecords_Notes", '{"records": [{}]}')
    assert rejected.returncode == 1 and "records[0].Text: required column is missing" in rejected.stderr
    demo = run_cli(tmp_path / "unused.db", "demo")
    assert demo.returncode == 0, demo.stderr
    assert '"Donee" is not an option; allowed: Todo, Doing, Done' in demo.stdout
    assert not (tmp_path / "unused.db").exists(), "the demo runs on a throw-away store"


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(tmp_path: Path) -> None:
    """`tables-mcp call listRecords ... | head -1`: no traceback when the reader goes away."""
    db = tmp_path / "pipe.db"
    run_cli(db, "call", "createTable", json.dumps({"name": "Notes", "columns": [{"name": "Text", "type": "TEXT"}]}))
    rows = [{"Text": "x" * 80}] * 1000  # listed back, far more than a pipe buffer holds
    assert run_cli(db, "call", "createRecords_Notes", json.dumps({"records": rows})).returncode == 0
    with subprocess.Popen(
        [*command(), "call", "listRecords", '{"table": "Notes", "limit": 500}'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_for(db),
    ) as reader:
        assert reader.stdout is not None and reader.stderr is not None
        assert reader.stdout.readline() == b"{\n"
        reader.stdout.close()  # what `head -1` does after its line
        stderr = reader.stderr.read().decode()
        assert reader.wait(timeout=60) == 141
    assert "Traceback" not in stderr and stderr == ""


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"TABLES_MCP_READONLY": "1"}, "unknown environment variable TABLES_MCP_READONLY"),
        (("--tool-mode", "gen"), {}, "invalid choice"),
        ((), {"TABLES_MCP_PER_TABLE_LIMIT": "many"}, "--per-table-limit"),
        (("call", "listTables", "[1]"), {}, "arguments must be a JSON object"),
    ],
)
def test_configuration_mistakes_fail_loudly(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    proc = run_cli(tmp_path / "x.db", *args, **env)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_env_read_only_is_honoured(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "x.db", "tools", TABLES_MCP_READ_ONLY="true")
    assert proc.returncode == 0
    assert "## createTable" not in proc.stdout and "## listTables" in proc.stdout


def test_doctor_on_a_healthy_store(tmp_path: Path) -> None:
    db = tmp_path / "doc.db"
    run_cli(db, "call", "createTable", json.dumps({"name": "Notes", "columns": [{"name": "Text", "type": "TEXT"}]}))
    proc = run_cli(db, "doctor", TABLES_MCP_AUTH_TOKEN="very-secret-token")
    assert proc.returncode == 0, proc.stdout
    assert "ok    read 'Notes'" in proc.stdout and "ok    writes allowed" in proc.stdout
    assert "tools/list is" in proc.stdout and "createRecords_Notes" in proc.stdout
    assert "TABLES_MCP_AUTH_TOKEN=***" in proc.stdout and "very-secret-token" not in proc.stdout
    assert proc.stdout.rstrip().endswith("All checks passed.")


def test_doctor_on_a_broken_configuration(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "doc.db", "doctor", "--tables", "Missing", "--disable-tools", "dropTable")
    assert proc.returncode == 1
    assert "FAIL  tool configuration" in proc.stdout
    assert "no table named Missing" in proc.stdout and "no tool matches 'dropTable'" in proc.stdout
    assert "fix: correct --tables / --disable-tools" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_doctor_names_a_missing_kintone_setting(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "x.db", "doctor", "--backend", "kintone")
    assert proc.returncode == 1
    assert "KINTONE_BASE_URL is not set" in proc.stdout
