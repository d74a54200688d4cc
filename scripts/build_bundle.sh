#!/usr/bin/env bash
# Build dist/tables-mcp.mcpb, an MCP Bundle for Claude Desktop (double-click it, or drag it onto Settings > Extensions).
#
#   scripts/build_bundle.sh [OUTPUT]          # default OUTPUT: dist/tables-mcp.mcpb
#
# The bundle is manifest.json (server type "python") plus server/main.py, the entry point, and server/lib, which holds
# tables-mcp and every dependency, installed by `pip install --target` with the Python that will run the bundle
# (PYTHON, default python3). Some dependencies are compiled (pydantic-core, jsonschema-rs, cryptography, psycopg), so
# the bundle runs on this OS and CPU with this CPython minor version only; the bundled manifest's `compatibility` says
# which, and server/main.py refuses any other Python with a message saying so. Build it on the machine (or the kind of
# machine) that will run it. server/main.py restarts itself with `python -I -S`, so the server imports from server/lib
# and the standard library only, never from the host Python's site-packages, user site, .pth files or sitecustomize.
#
# Needs: PYTHON with pip, network access to the package index, and npm (the mcpb CLI is npm-installed into a throw-away
# prefix) unless MCPB names an mcpb executable.
set -euo pipefail
cd "$(dirname "$0")/.."

output=${1:-dist/tables-mcp.mcpb}
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mcpb=${MCPB:-}
if [ -z "$mcpb" ]; then
  command -v npm >/dev/null || { echo "build_bundle.sh: npm is needed for the mcpb CLI (or set MCPB=/path/to/mcpb)" >&2; exit 1; }
  echo "+ npm install @anthropic-ai/mcpb@2 (into a temporary prefix)"
  npm install --silent --no-audit --no-fund --prefix "$work/npm" @anthropic-ai/mcpb@2 >/dev/null
  mcpb="$work/npm/node_modules/.bin/mcpb"
fi

# Install from a copy of the sources, so the build leaves no build/ or *.egg-info behind in the checkout.
mkdir -p "$work/source" "$work/bundle/server"
cp -R pyproject.toml README.md src "$work/source/"
find "$work/source" -name __pycache__ -prune -exec rm -rf {} +
echo "+ $python -m pip install --target server/lib ."
"$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-warn-conflicts \
  --no-warn-script-location --no-compile --target "$work/bundle/server/lib" "$work/source"
rm -rf "$work/bundle/server/lib/bin"   # console scripts whose shebang names this machine's Python
# Bytecode checked by hash, not by the source's mtime (which unzipping resets), so the first start need not compile.
"$python" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$work/bundle/server/lib" >/dev/null
cp manifest.json "$work/bundle/manifest.json"

# Write the entry point and narrow the bundled manifest's compatibility to what server/lib was built for.
"$python" - "$work/bundle" <<'PY'
import json
import platform
import sys
from pathlib import Path

bundle = Path(sys.argv[1])
built_for = {
    "platform": sys.platform,
    "machine": platform.machine().lower(),
    "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    "implementation": sys.implementation.name,
}
if built_for["implementation"] != "cpython":
    sys.exit(f"build_bundle.sh: {sys.executable} is {built_for['implementation']}; build with CPython")
manifest_path = bundle / "manifest.json"
manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
major, minor = sys.version_info[:2]
manifest["compatibility"] = {
    **manifest.get("compatibility", {}),
    "platforms": [sys.platform],
    "runtimes": {"python": f">={major}.{minor},<{major}.{minor + 1}"},
}
manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

ENTRY_POINT = '''\
"""tables-mcp bundle entry point: run tables-mcp from server/lib and the standard library, nothing else of the host's.

Written by scripts/build_bundle.sh. server/lib holds tables-mcp and its dependencies, some of them compiled for
BUILT_FOR only.

The host starts `python3 server/main.py`, and by then that interpreter has applied the PYTHON* variables and run
`site`: the host's site-packages (Debian's dist-packages too) and user site are on sys.path, and its .pth files and
sitecustomize have been executed. Any module the server imports, even one it only tries (httpx tries pygments and rich
for its command line), could then come from the host, in whatever version the host has. So main() first starts the
same command line again with -I -S, which leaves the standard library alone on sys.path, and then adds server/lib.
"""

import os
import platform
import re
import sys
from pathlib import Path

BUILT_FOR = __BUILT_FOR__
LIB = Path(__file__).resolve().parent / "lib"
PLACEHOLDER = re.compile(r"\\$\\{user_config\\.[^}]*\\}")
# -I: ignore PYTHON* variables and the user site, and keep the script's directory off sys.path. -S: no `site`, so no
# site-packages, no .pth files, no sitecustomize or usercustomize; all else `site` does is the interactive builtins
# (exit, help, ...), which neither tables-mcp nor its dependencies use.
ISOLATED = ["-I", "-S"]


def main() -> None:
    refuse_another_python()
    if not (sys.flags.isolated and sys.flags.no_site):
        restart_isolated()
    sys.path.append(str(LIB))  # after the standard library, where site-packages would be, so it shadows none of it
    drop_unset_settings()
    from tables_mcp.cli import main as cli_main

    cli_main()


def refuse_another_python() -> None:
    here = {
        "platform": sys.platform,
        "machine": platform.machine().lower(),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "implementation": sys.implementation.name,
    }
    if here != BUILT_FOR:
        sys.exit(
            f"tables-mcp bundle: built for {describe(BUILT_FOR)}, but started with {describe(here)} "
            f"({sys.executable}). Rebuild it with scripts/build_bundle.sh on this machine (PYTHON=... picks the "
            "Python), or configure the client to run tables-mcp from a virtual environment or with uvx (see README)."
        )


def restart_isolated() -> None:
    """Replace this process by the same interpreter and command line (with the host's own options) plus ISOLATED."""
    command = [sys.executable, *ISOLATED, *sys.orig_argv[1:]]
    if sys.platform == "win32":
        # Windows has no exec: os.execv would start a new process and end this one, which the host takes for the
        # server exiting. Run the server as a child on the same stdin and stdout instead.
        import subprocess

        sys.exit(subprocess.call(command))
    os.execv(sys.executable, command)


def drop_unset_settings() -> None:
    # A setting left empty in the host's form arrives as "" (or, from a host that leaves it unsubstituted, as the
    # ${user_config.X} placeholder). Both mean "not set", so the server's own default applies; tables-mcp would
    # otherwise read TABLES_MCP_TABLES="" as an empty allow-list and TABLES_MCP_READ_ONLY="" as an error.
    for name in [key for key in os.environ if key.upper().startswith(("TABLES_MCP_", "KINTONE_"))]:
        value = os.environ[name].strip()
        if not value or PLACEHOLDER.fullmatch(value):
            del os.environ[name]


def describe(target: dict) -> str:
    return f"{target['implementation']} {target['python']} on {target['platform']} {target['machine']}"


if __name__ == "__main__":
    main()
'''
(bundle / "server" / "main.py").write_text(ENTRY_POINT.replace("__BUILT_FOR__", repr(built_for)), encoding="utf-8")
print(f"+ server/lib built for {built_for}")
PY

mkdir -p "$(dirname "$output")"
"$mcpb" pack "$work/bundle" "$output" | grep -vE '^ +[0-9.]+[kMG]?B ' # the per-file listing is long; keep the summary
