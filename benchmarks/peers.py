"""Reference points the benchmarks measure tables-mcp against, in the same run.

  * a minimal MCP server on the official TypeScript SDK (npm `@modelcontextprotocol/sdk`, one no-op
    tool, stdio), installed with `npm install --prefix <temporary dir>` the way the CI installs npm tools;
  * a bare `python -c "import mcp.server"`: the floor of any Python MCP server's cold start.

Both are optional: without npm (or when the install fails) the Node figures say why they are missing.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mcp import StdioServerParameters

NODE_SDK = "@modelcontextprotocol/sdk@1"
NODE_SERVER = """\
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

const server = new McpServer({ name: "node-peer", version: "1.0.0" });
server.registerTool("noop", { description: "Does nothing." }, async () => ({
  content: [{ type: "text", text: "ok" }],
}));
await server.connect(new StdioServerTransport());
"""


def install_node_peer(workdir: Path) -> StdioServerParameters | str:
    """The stdio command of the Node peer, or why there is none."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        return "npm or node not found"
    prefix = workdir / "node-peer"
    prefix.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix), NODE_SDK],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        return f"npm install {NODE_SDK} failed: {(done.stderr or done.stdout).strip()[-200:]}"
    script = prefix / "server.mjs"
    script.write_text(NODE_SERVER)
    return StdioServerParameters(command=node, args=[str(script)])


def node_sdk_version(workdir: Path) -> str:
    package = workdir / "node-peer" / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
    try:
        import json

        return str(json.loads(package.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def bare_import_seconds(runs: int) -> list[float]:
    """Wall time of `python -c "import mcp.server"` in a fresh process, `runs` times."""
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "PYTHONPATH")}
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import mcp.server"], env=env, check=True)
        times.append(time.perf_counter() - t0)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)
