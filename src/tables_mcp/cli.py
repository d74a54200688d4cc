"""Command line: parse flags into Settings, open the backend, run a transport or a subcommand.

`tables-mcp` serves MCP over stdio; `tools`, `call` and `demo` drive the same server through a
real in-process MCP client session. Start-up problems are one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from . import __version__
from .backends.base import Backend
from .backends.local import LocalBackend
from .config import ConfigError, Settings, load_settings
from .errors import TablesError
from .server import in_process_client, serve_stdio
from .tools import Catalogue, ToolOptions

log = logging.getLogger("tables_mcp")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", choices=["local"], help="tables backend (env TABLES_MCP_BACKEND)")
    common.add_argument("--transport", choices=["stdio"], help="MCP transport (env TABLES_MCP_TRANSPORT)")
    common.add_argument("--db", help="embedded store file (env TABLES_MCP_DB)")
    common.add_argument("--read-only", action="store_const", const=True, help="register no write tools")
    common.add_argument("--tables", help="comma-separated table ids or names to expose (default: all)")
    common.add_argument("--disable-tools", help="comma-separated tool names to leave out")
    common.add_argument("--tool-mode", choices=["auto", "generic", "per-table"])
    common.add_argument("--per-table-limit", type=int, help="auto mode: per-table tools up to this many tables")
    common.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (logs go to stderr)")

    parser = argparse.ArgumentParser(
        prog="tables-mcp",
        description="MCP server giving AI agents typed access to tables. With no command it serves MCP on stdio.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"tables-mcp {__version__}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", parents=[common], help="serve MCP (the default)")
    commands.add_parser("tools", parents=[common], help="print the tool catalogue")
    call = commands.add_parser("call", parents=[common], help="call one tool and print its result")
    call.add_argument("tool")
    call.add_argument("arguments", nargs="?", default="{}", help="JSON object of arguments")
    commands.add_parser("demo", parents=[common], help="run a short scripted session on a throw-away store")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    flags = {
        key: getattr(args, key, None)
        for key in (
            "backend",
            "transport",
            "db",
            "read_only",
            "tables",
            "disable_tools",
            "tool_mode",
            "per_table_limit",
            "log_level",
        )
    }
    try:
        if args.command == "demo":
            flags["db"] = str(Path(tempfile.mkdtemp(prefix="tables-mcp-demo-")) / "demo.db")
        settings = load_settings(flags)
        logging.basicConfig(
            stream=sys.stderr, level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        code = anyio.run(_run, args, settings)
    except ConfigError as exc:
        print(f"tables-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except TablesError as exc:
        print(f"tables-mcp: {exc.message} {exc.hint or ''}".rstrip(), file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    async with open_catalogue(settings) as catalogue:
        if args.command in (None, "serve"):
            _greet_terminal(settings)
            await serve_stdio(catalogue)
            return 0
        if args.command == "tools":
            return await _print_tools(catalogue)
        if args.command == "call":
            return await _call(catalogue, args.tool, args.arguments)
        from .demo import run_demo

        return await run_demo(catalogue)


def open_backend(settings: Settings) -> Backend:
    return LocalBackend(settings.db_path)


@asynccontextmanager
async def open_catalogue(settings: Settings) -> AsyncIterator[Catalogue]:
    backend = open_backend(settings)
    await backend.open()
    try:
        options = ToolOptions(
            mode=settings.tool_mode,
            per_table_limit=settings.per_table_limit,
            read_only=settings.read_only,
            tables=settings.tables,
            disabled_tools=settings.disable_tools,
        )
        catalogue = Catalogue(backend, options)
        await catalogue.refresh(force=True)
        yield catalogue
    finally:
        await backend.aclose()


def _greet_terminal(settings: Settings) -> None:
    if not sys.stdin.isatty():
        return
    config = {"mcpServers": {"tables": {"command": "tables-mcp", "env": {"TABLES_MCP_DB": str(settings.db_path)}}}}
    print(
        "tables-mcp is an MCP server and is now waiting for an MCP client on stdin/stdout.\n"
        f"Store: {settings.db_path}\n"
        "Add it to a client (Claude Desktop's claude_desktop_config.json, Cursor's mcp.json) like this:\n"
        f"{json.dumps(config, indent=2)}\n"
        "Or try it here: `tables-mcp demo`, `tables-mcp tools`, `tables-mcp call listTables`. Ctrl-C stops.",
        file=sys.stderr,
    )


async def _print_tools(catalogue: Catalogue) -> int:
    async with in_process_client(catalogue) as client:
        for tool in await client.list_tools():
            print(f"## {tool['name']}\n{tool.get('description', '')}")
            print(json.dumps(tool["inputSchema"], ensure_ascii=False, indent=2), end="\n\n")
    return 0


async def _call(catalogue: Catalogue, tool: str, raw_arguments: str) -> int:
    try:
        arguments: Any = json.loads(raw_arguments)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"arguments must be a JSON object: {exc}") from exc
    if not isinstance(arguments, dict):
        raise ConfigError('arguments must be a JSON object, like \'{"table": "Tasks"}\'')
    async with in_process_client(catalogue) as client:
        result = await client.call(tool, arguments)
    if result.payload is not None:
        print(json.dumps(result.payload, ensure_ascii=False, indent=2))
    else:
        print(result.text)
    if result.is_error:
        print(result.text, file=sys.stderr)
    return 1 if result.is_error else 0
