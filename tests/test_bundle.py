"""The MCP Bundle: manifest.json as the real mcpb CLI validates it, and the built bundle run the way a host runs it.

The mcpb CLI comes from npm into a temporary prefix, once per session. Without npm these tests skip, except under
CI=true, where they fail: CI must prove the bundle works. The bundle is built with and run by PYTHON (default: the
python3 on PATH), so running these tests with Debian's /usr/bin/python3 first on PATH checks the bundle against a host
Python with packages of its own in dist-packages, a sitecustomize and .pth files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tables_mcp.backends.registry import BACKENDS, adapter
from tables_mcp.config import known_env_names

from .conftest import TASK_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
PLACEHOLDER = re.compile(r"\$\{user_config\.([^}]+)\}")
SITE_DIRS = {"site-packages", "dist-packages"}  # where a Python keeps installed packages, not its standard library

# What the host does with mcp_config, done by the mcpb library itself (the code Claude Desktop's bundle support uses).
SUBSTITUTE_JS = """
import { getMcpConfigForManifest } from "@anthropic-ai/mcpb";
import { readFileSync } from "fs";
const [manifestPath, extensionPath, userConfig] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(manifestPath, "utf-8"));
const home = process.env.HOME || "/";
const config = await getMcpConfigForManifest({
  manifest, extensionPath, userConfig: JSON.parse(userConfig), pathSeparator: "/",
  systemDirs: { HOME: home, DESKTOP: home, DOCUMENTS: home, DOWNLOADS: home },
});
process.stdout.write(JSON.stringify(config ?? null));
"""

# Runs the entry point given after it, then writes where every module loaded by then came from. Started the way the
# host starts server/main.py, it runs again in the process the entry point restarts into (the entry point restarts its
# own command line, sys.orig_argv), so the report is the server's, after a whole MCP session.
MODULE_REPORT_PY = """
import json, runpy, signal, sys
report, entry = sys.argv[1], sys.argv[2]
sys.argv = sys.argv[2:]
# The client sends SIGTERM if the server takes over 2 s to end after stdin closes (a busy machine): report then too.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
try:
    runpy.run_path(entry, run_name="__main__")
finally:
    import sysconfig
    files = {
        name: [f for f in [getattr(m, "__file__", None), *(getattr(m, "__path__", None) or [])] if isinstance(f, str)]
        for name, m in list(sys.modules.items()) if name != "__main__"
    }
    loaded = {
        "stdlib": [sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")],
        "sys_path": sys.path,
        "flags": {"isolated": sys.flags.isolated, "no_site": sys.flags.no_site},
        "modules": files,
    }
    try:  # where exec is not available (Windows), the launching process ends after the server, which reported first
        with open(report, "x", encoding="utf-8") as out:
            json.dump(loaded, out)
    except FileExistsError:
        pass
"""


@dataclass
class Mcpb:
    prefix: Path

    @property
    def cli(self) -> Path:
        return self.prefix / "node_modules" / ".bin" / "mcpb"

    def run(self, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.cli), *args], cwd=cwd, capture_output=True, text=True, timeout=120)

    def mcp_config(self, manifest: Path, bundle_dir: Path, user_config: dict[str, Any]) -> dict[str, Any]:
        script = self.prefix / "substitute.mjs"
        if not script.exists():
            script.write_text(SUBSTITUTE_JS, encoding="utf-8")
        done = subprocess.run(
            ["node", str(script), str(manifest), str(bundle_dir), json.dumps(user_config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        config: dict[str, Any] = json.loads(done.stdout)
        return config


@pytest.fixture(scope="session")
def mcpb(tmp_path_factory: pytest.TempPathFactory) -> Mcpb:
    if shutil.which("npm") is None or shutil.which("node") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npm and node are needed to validate and build the MCP Bundle (CI=true)")
        pytest.skip("npm/node not available: cannot install the mcpb CLI")
    prefix = tmp_path_factory.mktemp("mcpb")
    subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix), "@anthropic-ai/mcpb@2"],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return Mcpb(prefix)


@dataclass
class Bundle:
    archive: Path
    root: Path
    build_output: str

    @property
    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / "manifest.json").read_text(encoding="utf-8"))
        return data

    @property
    def lib(self) -> Path:
        return self.root / "server" / "lib"


def bundle_python() -> str:
    """The Python the bundle is built with and run by: scripts/build_bundle.sh's PYTHON, as a host's python3."""
    found = shutil.which(os.environ.get("PYTHON", "python3"))
    assert found, "python3 is not on PATH"
    return found


@pytest.fixture(scope="session")
def bundle(mcpb: Mcpb, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    out = tmp_path_factory.mktemp("bundle")
    archive = out / "tables-mcp.mcpb"
    built = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_bundle.sh"), str(archive)],
        cwd=ROOT,
        env={**os.environ, "MCPB": str(mcpb.cli), "PYTHON": bundle_python()},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    root = out / "unpacked"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(root)
    return Bundle(archive, root, built.stdout)


def host_env(config_env: dict[str, str]) -> dict[str, str]:
    """The client's environment (without our settings or Python paths) plus the manifest's env."""
    drop = ("TABLES_MCP_", "KINTONE_", "PYTHON", "VIRTUAL_ENV")
    return {**{k: v for k, v in os.environ.items() if not k.upper().startswith(drop)}, **config_env}


# -- the manifest -----------------------------------------------------------------------------------------------


def test_manifest_passes_mcpb_validate(mcpb: Mcpb) -> None:
    done = mcpb.run("validate", "manifest.json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Manifest schema validation passes!" in done.stdout


def test_manifest_version_is_the_package_version() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert MANIFEST["version"] == pyproject["project"]["version"]
    assert MANIFEST["license"] == pyproject["project"]["license"]


def test_manifest_env_uses_only_names_the_server_reads() -> None:
    """Every variable the bundle passes is one tables-mcp or a registered platform's settings read:
    a name they do not know would stop the server at start (unknown prefixed variables are refused)."""
    env: dict[str, str] = MANIFEST["server"]["mcp_config"]["env"]
    ours = {name for name in env if name != "PYTHONPATH"}
    tables_mcp = {name for name in ours if name.startswith("TABLES_MCP_")}
    assert tables_mcp <= known_env_names()
    assert {"TABLES_MCP_BACKEND", "TABLES_MCP_DB", "TABLES_MCP_READ_ONLY", "TABLES_MCP_TABLES"} <= tables_mcp
    platform_names = ours - tables_mcp
    for name, entry in BACKENDS.items():
        if entry.env_prefix is None:
            continue
        passed = {key for key in platform_names if key.startswith(entry.env_prefix)}
        settings = adapter(name).settings
        assert settings is not None, f"{name} declares its settings class"
        assert passed and passed <= set(settings.known_names()), (name, passed - set(settings.known_names()))
        platform_names -= passed
    assert not platform_names, f"variables no backend reads: {platform_names}"


def test_user_config_and_env_refer_to_each_other() -> None:
    user_config: dict[str, dict[str, Any]] = MANIFEST["user_config"]
    env: dict[str, str] = MANIFEST["server"]["mcp_config"]["env"]
    used = {key for value in env.values() for key in PLACEHOLDER.findall(value)}
    assert used == set(user_config), "every user_config key is passed to the server, and only those"
    for key, option in user_config.items():
        # Without a default, an unset optional key reaches the server as the literal "${user_config.KEY}".
        assert "default" in option, key
        assert not option.get("required"), f"{key}: a required key the user skips drops the whole server config"
    assert user_config["kintone_api_token"]["sensitive"] and user_config["kintone_password"]["sensitive"]
    assert user_config["read_only"]["type"] == "boolean" and user_config["db"]["type"] == "file"


# -- the bundle -------------------------------------------------------------------------------------------------


def test_bundle_contains_what_the_entry_point_needs(bundle: Bundle) -> None:
    manifest = bundle.manifest
    assert {k: v for k, v in manifest.items() if k != "compatibility"} == {
        k: v for k, v in MANIFEST.items() if k != "compatibility"
    }
    assert manifest["compatibility"]["platforms"] == [sys.platform]
    assert (bundle.root / manifest["server"]["entry_point"]).is_file()
    assert (bundle.lib / "tables_mcp" / "cli.py").is_file()
    assert not (bundle.lib / "bin").exists()
    assert not (bundle.root / ".venv").exists() and not (bundle.root / "tests").exists()

    # The modules no stdio session imports (the PostgreSQL store) are there too, psycopg with its compiled libpq, and
    # load from server/lib and the standard library with sys.path as the entry point's restart leaves it.
    probe = (
        "import json, sys, sysconfig; sys.path.append(sys.argv[1]); "
        "import tables_mcp.cli, tables_mcp.backends.store.postgres, psycopg; assert psycopg.pq.__impl__ == 'binary'; "
        "print(json.dumps({'stdlib': [sysconfig.get_path('stdlib'), sysconfig.get_path('platstdlib')], "
        "'sys_path': sys.path, 'modules': {n: [getattr(m, '__file__', None)] for n, m in sys.modules.items()}}))"
    )
    done = subprocess.run(
        [bundle_python(), "-I", "-S", "-c", probe, str(bundle.lib)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    outside = loaded_from_elsewhere(loaded, bundle)
    assert not outside, f"imported from outside the bundle: {outside}"
    assert "mcp" in loaded["modules"] and "pydantic_core" in loaded["modules"] and "jsonschema_rs" in loaded["modules"]


def loaded_from_elsewhere(loaded: dict[str, Any], bundle: Bundle) -> dict[str, list[str]]:
    """The modules (and sys.path entries) of a module report that are neither in the bundle nor the standard library."""
    bundle_root = bundle.root.resolve()
    stdlib = [Path(path).resolve() for path in loaded["stdlib"]]

    def is_ours(file: str) -> bool:
        path = Path(file).resolve()  # a symlink counts where it points: Debian's stdlib sitecustomize.py is in /etc
        # site-packages sits inside the standard library's directory in most builds (not Debian's dist-packages).
        in_stdlib = any(path.is_relative_to(d) for d in stdlib) and SITE_DIRS.isdisjoint(path.parts)
        return path.is_relative_to(bundle_root) or in_stdlib

    found = {name: [f for f in files if f and not is_ours(f)] for name, files in loaded["modules"].items()}
    # "" is the working directory; an entry that does not exist (python3XX.zip, usually) holds no module.
    entries = [entry or "." for entry in loaded["sys_path"]]
    found["sys.path"] = [entry for entry in entries if Path(entry).exists() and not is_ours(entry)]
    return {name: files for name, files in found.items() if files}


@pytest.mark.anyio
async def test_bundle_serves_mcp_as_a_host_starts_it(bundle: Bundle, mcpb: Mcpb, tmp_path: Path) -> None:
    """initialize + tools/list + calls over stdio, with the command, args and env the host derives from the manifest."""
    db = tmp_path / "bundle.db"
    config = mcpb.mcp_config(bundle.root / "manifest.json", bundle.root, {"db": str(db), "tool_mode": "generic"})
    assert config["args"] == [str(bundle.root / "server" / "main.py")]
    # Optional settings left empty arrive as "", which the entry point must treat as unset.
    assert config["env"]["TABLES_MCP_TABLES"] == "" and config["env"]["KINTONE_BASE_URL"] == ""
    assert config["command"] == ("python" if sys.platform == "win32" else "python3")
    params = StdioServerParameters(command=bundle_python(), args=config["args"], env=host_env(config["env"]))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        assert init.serverInfo.name == "tables-mcp" and init.serverInfo.version == MANIFEST["version"]
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert {tool["name"] for tool in MANIFEST["tools"]} <= names
        created = await session.call_tool("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
        assert not created.isError
        listed = await session.call_tool("listTables", {})
        assert [t["name"] for t in listed.structuredContent["tables"]] == ["Tasks"]  # type: ignore[index]
    assert db.exists()


@pytest.mark.anyio
async def test_bundle_server_loads_nothing_of_the_host_python(bundle: Bundle, mcpb: Mcpb, tmp_path: Path) -> None:
    """A whole session (initialize, tools/list, tool calls), started as the host starts it, loads every module from
    the bundle or the standard library: none from the host's site-packages or user site, no sitecustomize, no .pth."""
    report = tmp_path / "modules.json"
    reporter = tmp_path / "module_report.py"
    reporter.write_text(MODULE_REPORT_PY, encoding="utf-8")
    config = mcpb.mcp_config(bundle.root / "manifest.json", bundle.root, {"db": str(tmp_path / "isolated.db")})
    args = [str(reporter), str(report), *config["args"]]
    params = StdioServerParameters(command=bundle_python(), args=args, env=host_env(config["env"]))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert (await session.list_tools()).tools
        created = await session.call_tool("createTable", {"name": "Tasks", "columns": TASK_COLUMNS})
        assert not created.isError
        added = await session.call_tool(
            "createRecords", {"table": "Tasks", "records": [{"Title": "isolated", "Status": "Todo"}]}
        )
        assert not added.isError, added.content
    loaded = json.loads(report.read_text(encoding="utf-8"))
    outside = loaded_from_elsewhere(loaded, bundle)
    assert not outside, f"the server loaded files from outside the bundle: {outside}"
    assert loaded["flags"] == {"isolated": 1, "no_site": 1}, "the server runs without site and the PYTHON* variables"
    assert {"tables_mcp.server", "mcp", "httpx", "pydantic_core", "jsonschema_rs"} <= set(loaded["modules"])


def test_bundle_settings_reach_the_server(bundle: Bundle, mcpb: Mcpb, tmp_path: Path) -> None:
    """Read-only and the allow-list, set in the host's form, hold in the bundled server."""
    db = tmp_path / "settings.db"
    table = {"name": "A", "columns": [{"name": "Title", "type": "TEXT"}]}
    env = host_env({"TABLES_MCP_DB": str(db)})
    subprocess.run(
        [bundle_python(), str(bundle.root / "server" / "main.py"), "call", "createTable", json.dumps(table)],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    user = {"db": str(db), "read_only": True, "tables": "A", "tool_mode": "per-table"}
    config = mcpb.mcp_config(bundle.root / "manifest.json", bundle.root, user)
    assert config["env"]["TABLES_MCP_READ_ONLY"] == "true"
    done = subprocess.run(
        [bundle_python(), *config["args"], "tools"],
        env=host_env(config["env"]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    names = set(re.findall(r"^## (\S+)", done.stdout, flags=re.MULTILINE))
    assert "listRecords_A" in names and not names & {"createTable", "deleteRecords", "createRecords_A"}


def test_entry_point_refuses_another_python(bundle: Bundle, tmp_path: Path) -> None:
    entry = (bundle.root / "server" / "main.py").read_text(encoding="utf-8")
    other = tmp_path / "server" / "main.py"
    other.parent.mkdir()
    other.write_text(re.sub(r"'python': '[0-9.]+'", "'python': '2.7'", entry), encoding="utf-8")
    done = subprocess.run([bundle_python(), str(other)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "built for cpython 2.7" in done.stderr and "scripts/build_bundle.sh" in done.stderr
