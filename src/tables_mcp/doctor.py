"""`tables-mcp doctor`: checks the configuration and the backend, one line per finding with its fix.

It opens the backend as the server would (credentials accepted?), lists the tables, reads one
record of each, checks that writes would be allowed where the backend can tell without writing, and
prints the tools a client would see with the size of tools/list. Secrets are shown redacted. The exit
status is non-zero when anything is wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .backends.base import Backend
from .backends.registry import BACKENDS
from .config import Settings, tool_options
from .errors import ConfigError, ErrorCode, TablesError
from .model import ListQuery
from .server import in_process_client
from .tools import Catalogue

MAX_TABLES_PROBED = 25
SETTINGS_PREFIXES = ("TABLES_MCP_", *(entry.env_prefix for entry in BACKENDS.values() if entry.env_prefix))
SECRET_NAMES = ("TOKEN", "PASSWORD", "SECRET", "KEY")
FIXES: dict[ErrorCode, str] = {
    ErrorCode.UNAUTHENTICATED: "check the token / password variables; they were rejected",
    ErrorCode.PERMISSION_DENIED: "grant the configured user or token the permission, or narrow --tables",
    ErrorCode.NOT_FOUND: "check the ids in the configuration (app ids, table names)",
    ErrorCode.UNAVAILABLE: "check the base URL and that the service is reachable from here",
    ErrorCode.RATE_LIMITED: "wait a moment and run doctor again",
}


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    problems: int = 0

    def ok(self, what: str) -> None:
        self.lines.append(f"ok    {what}")

    def note(self, what: str) -> None:
        self.lines.append(f"note  {what}")

    def fail(self, what: str, fix: str) -> None:
        self.problems += 1
        self.lines.append(f"FAIL  {what}\n      fix: {fix}")


def redacted_environment(environ: dict[str, str]) -> list[str]:
    """The settings variables that are set, secrets shown as ***."""
    shown = []
    for name in sorted(environ):
        if not name.startswith(SETTINGS_PREFIXES):
            continue
        secret = any(part in name for part in SECRET_NAMES)
        shown.append(f"{name}={'***' if secret else environ[name]}")
    return shown


async def run_doctor(settings: Settings, open_backend: Callable[[Settings], Backend], print_: Any = print) -> int:
    report = Report()
    report.ok(
        f"configuration: backend={settings.backend}, transport={settings.transport}, "
        f"tool mode={settings.tool_mode}, read-only={settings.read_only}"
    )
    for line in redacted_environment(dict(os.environ)):
        report.note(f"environment {line}")
    backend = await _open(settings, open_backend, report)
    if backend is not None:
        try:
            await _check_backend(backend, settings, report)
        finally:
            await backend.aclose()
    for line in report.lines:
        print_(line)
    print_(f"\n{report.problems} problem(s) found." if report.problems else "\nAll checks passed.")
    return 1 if report.problems else 0


async def _open(settings: Settings, open_backend: Callable[[Settings], Backend], report: Report) -> Backend | None:
    try:
        backend = open_backend(settings)
        await backend.open()
    except ConfigError as exc:
        report.fail(f"backend settings: {exc}", "set the variable named above")
        return None
    except TablesError as exc:
        report.fail(f"connecting to {settings.backend}: {exc.message}", FIXES.get(exc.code, exc.hint or "see above"))
        return None
    report.ok(f"connected to {settings.backend}; credentials accepted")
    return backend


async def _check_backend(backend: Backend, settings: Settings, report: Report) -> None:
    catalogue = Catalogue(backend, tool_options(settings))
    try:
        await catalogue.refresh(force=True)
        catalogue.check_options()
    except TablesError as exc:
        details = "; ".join(fe.describe() for fe in exc.field_errors)
        report.fail(f"tool configuration: {exc.message} {details}".strip(), "correct --tables / --disable-tools")
        return
    tables = catalogue.tables
    if tables:
        report.ok(
            f"{len(tables)} table(s) visible: {', '.join(t.name for t in tables[:10])}"
            + (" ..." if len(tables) > 10 else "")
        )
    elif backend.capabilities.create_table:
        report.note("no tables yet: an agent can create one with createTable")
    else:
        report.fail("no tables visible", "check the permissions, KINTONE_APP_IDS or --tables")
    for table in tables[:MAX_TABLES_PROBED]:
        try:
            await backend.list_records(table, ListQuery(limit=1))
            report.ok(f"read '{table.name}'")
        except TablesError as exc:
            report.fail(f"read '{table.name}': {exc.message}", FIXES.get(exc.code, "see above"))
    if len(tables) > MAX_TABLES_PROBED:
        report.note(f"read checked on the first {MAX_TABLES_PROBED} tables only")
    await _write_check(backend, settings, report)
    await _tools_summary(catalogue, report)


async def _write_check(backend: Backend, settings: Settings, report: Report) -> None:
    if settings.read_only:
        report.ok("writes: off (read-only mode); no write tools are registered")
        return
    try:
        allowed = await backend.can_write()
    except TablesError as exc:
        report.fail(f"write check: {exc.message}", FIXES.get(exc.code, "see above"))
        return
    if allowed is False:
        report.fail("writes are not allowed with these credentials", "grant write access, or run with --read-only")
    elif allowed is None:
        report.note(
            f"writes: {settings.backend} cannot confirm write permission without writing; the first write will tell"
        )
    else:
        report.ok("writes allowed")


async def _tools_summary(catalogue: Catalogue, report: Report) -> None:
    async with in_process_client(catalogue) as client:
        tools = await client.list_tools()
    size = len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False).encode())
    report.ok(f"{len(tools)} tools exposed, tools/list is {size:,} bytes: {', '.join(t['name'] for t in tools)}")
    if size > 32_000:
        report.note("tools/list is large; agents pay for it on every turn: consider --tool-mode generic or --tables")
