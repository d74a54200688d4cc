"""Command line: parse flags into Settings, open the backend, run a transport or a subcommand.

`tables-mcp` serves MCP over stdio; `tools`, `call` and `demo` drive the same server through a
real in-process MCP client session. Start-up problems are one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import anyio
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from . import __version__
from .audit import AuditLog
from .backends.base import Backend, ReplicaAware
from .backends.registry import adapter
from .config import ConfigError, Settings, load_settings, tool_options
from .doctor import run_doctor
from .errors import TablesError
from .server import CallGate, CallLimits, in_process_client, serve_stdio
from .tools import Catalogue
from .transports import HttpOptions, is_loopback, serve_http

log = logging.getLogger("tables_mcp")


def settings_flags() -> dict[str, dict[str, Any]]:
    """One flag per Settings field (`--read-only` for `read_only`), typed and described by the field itself.

    Secrets have no flag: a value on the command line would show in `ps` and shell history."""
    flags: dict[str, dict[str, Any]] = {}
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if annotation is not None and SecretStr in (annotation, *get_args(annotation)):
            continue
        flags["--" + name.replace("_", "-")] = _flag_options(field)
    return flags


def _flag_options(field: FieldInfo) -> dict[str, Any]:
    help_text = field.description or ""
    if field.default not in (None, (), False) and "default" not in help_text:
        help_text += f" (default {field.default})"
    options: dict[str, Any] = {"help": help_text}
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if field.annotation is bool:
        options.update(action="store_const", const=True)
    elif get_origin(field.annotation) is Literal or "choices" in extra:
        choices = [str(choice) for choice in extra.get("choices") or get_args(field.annotation)]  # type: ignore[union-attr]
        options.update(choices=choices, type=_any_case(choices))
    elif field.annotation in (int, float):
        options["type"] = field.annotation
    return options


def _any_case(choices: list[str]) -> Any:
    """`--log-level info` means INFO: a choice matched regardless of case (argparse reports any other value)."""
    by_lower = {choice.lower(): choice for choice in choices}
    return lambda value: by_lower.get(value.lower(), value)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    for flag, options in settings_flags().items():
        # SUPPRESS: a flag given before the command must not be reset by the command's own copy of it.
        common.add_argument(flag, default=argparse.SUPPRESS, **options)
    parser = argparse.ArgumentParser(
        prog="tables-mcp",
        description="MCP server giving AI agents typed access to tables. With no command it serves MCP.",
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
    commands.add_parser("doctor", parents=[common], help="check the configuration and the backend, with fixes")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    flags = {name: getattr(args, name, None) for name in Settings.model_fields}
    try:
        if args.command == "demo":
            flags["db"] = str(Path(tempfile.mkdtemp(prefix="tables-mcp-demo-")) / "demo.db")
        settings = load_settings(flags)
        logging.basicConfig(
            stream=sys.stderr, level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        # stamina reports every scheduled retry at WARNING; retries are routine, so only verbose runs show them.
        logging.getLogger("stamina").setLevel(
            logging.INFO if settings.log_level in ("DEBUG", "INFO") else logging.ERROR
        )
        serving = args.command in (None, "serve")
        if serving:
            check_network_safety(settings)
        if args.command == "doctor":
            code = anyio.run(run_doctor, settings, open_backend)
        else:
            code = anyio.run(_run, args, settings)
    except ConfigError as exc:
        print(f"tables-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except TablesError as exc:
        details = "".join(f"; {fe.describe()}" for fe in exc.field_errors)
        print(f"tables-mcp: {exc.message}{details} {exc.hint or ''}".rstrip(), file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # `tables-mcp tools | head`: the reader left. Exit as a piped command does, without a traceback; stdout
        # goes to /dev/null so that the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    raise SystemExit(code)


def check_network_safety(settings: Settings) -> None:
    """Refuse to serve over the network without a token: anyone who can reach the port could write."""
    if settings.transport == "stdio" or settings.auth_token is not None or is_loopback(settings.host):
        return
    raise ConfigError(
        f"refusing to listen on {settings.host} without authentication; set TABLES_MCP_AUTH_TOKEN to a long random "
        "secret (clients then send 'Authorization: Bearer <token>'), or listen on --host 127.0.0.1"
    )


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    serving = args.command in (None, "serve")
    audit = AuditLog(settings.audit_log) if serving else None
    async with open_catalogue(settings, audit) as catalogue:
        if serving:
            await _serve(catalogue, settings)
            return 0
        if args.command == "tools":
            return await _print_tools(catalogue)
        if args.command == "call":
            return await _call(catalogue, args.tool, args.arguments)
        from .demo import run_demo

        return await run_demo(catalogue)


# Containers alive at once before the collector looks for cycles (Python's default: 700). A call frees what it made
# as it ends, so small calls never get there; a 1,000-record call holds some 8,000 containers while it runs.
YOUNG_COLLECTION_THRESHOLD = 50_000


def tune_collector() -> None:
    """Set the garbage collector for serving.

    What exists once the server is ready to serve (modules, the SDK's and pydantic's types, the catalogue) lives
    as long as the process: frozen out of the collector's sight, a full collection no longer walks it all (two in
    thirty 1,000-record creates took 9 of their 50 ms per call; 1.3 ms frozen). With the default threshold, the
    records a big call holds were still walked, generation by generation, about twelve times per 1,000-record
    create: 1.8 ms of its ~30 ms, and 0.2 ms of a 500-record listRecords. Nothing in them is a cycle; the
    collector still runs for whatever is."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


async def _serve(catalogue: Catalogue, settings: Settings) -> None:
    tune_collector()
    gate = CallGate(CallLimits(max_concurrency=settings.max_concurrency, read_timeout=settings.request_timeout))
    if settings.transport == "stdio":
        _greet_terminal(settings)
        await serve_stdio(catalogue, gate)
        return
    options = HttpOptions(
        transport=settings.transport,
        host=settings.host,
        port=settings.port,
        auth_token=settings.auth_token.get_secret_value() if settings.auth_token else None,
        stateless=settings.stateless,
        max_body_bytes=settings.max_body_bytes,
        header_timeout=settings.header_timeout,
        max_connections=settings.max_connections,
        session_idle_timeout=settings.session_idle_timeout,
        allowed_hosts=settings.allowed_hosts,
    )
    await serve_http(catalogue, gate, options)


def open_backend(settings: Settings) -> Backend:
    return adapter(settings.backend).open(os.environ, settings.store)


@asynccontextmanager
async def open_catalogue(settings: Settings, audit: AuditLog | None = None) -> AsyncIterator[Catalogue]:
    backend = open_backend(settings)
    if settings.stateless and settings.transport == "http" and isinstance(backend, ReplicaAware):
        backend.serve_replicated()
    await backend.open()
    try:
        catalogue = Catalogue(backend, tool_options(settings), audit=audit)
        await catalogue.refresh(force=True)
        catalogue.check_options()
        yield catalogue
    finally:
        await backend.aclose()
        if audit is not None:
            audit.close()


def _greet_terminal(settings: Settings) -> None:
    if not sys.stdin.isatty():
        return
    if settings.backend == "local":
        from .backends.store import describe_store

        store = describe_store(settings.store)
        env = {"TABLES_MCP_DB": store}
    else:
        store, env = settings.backend, {"TABLES_MCP_BACKEND": settings.backend}
    config = {"mcpServers": {"tables": {"command": "tables-mcp", "env": env}}}
    print(
        "tables-mcp is an MCP server and is now waiting for an MCP client on stdin/stdout.\n"
        f"Store: {store}\n"
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
