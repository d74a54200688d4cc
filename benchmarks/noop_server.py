"""tables-mcp's MCP layer with nothing behind it: the server `tables-mcp` runs over stdio (the same session,
transport, call gate, catalogue and validation), on a throw-away embedded store, plus one benchmark-only tool,
`noop`, that checks its (empty) arguments and answers `{}`. `bench_local.py` starts it beside the TypeScript
SDK's minimal server, whose one tool is a no-op too, so that the two tools/call round trips compare the two
MCP layers and nothing else.

    python benchmarks/noop_server.py STORE.db
"""

from __future__ import annotations

import gc
import sys

import anyio

from tables_mcp.backends.store import open_store
from tables_mcp.server import serve_stdio
from tables_mcp.tools import Catalogue, ToolOptions, ToolSpec
from tables_mcp.tools.specs import READ, BoundCall, CallHooks, Payload
from tables_mcp.validation import ArgumentValidator

NOOP_SCHEMA = {"type": "object", "properties": {}, "additionalProperties": False}


class NoopArguments:
    """What an audit line would name: nothing (the tool only reads)."""

    def audited_table(self) -> str | None:
        return None

    def audited_ids(self) -> list[str]:
        return []


async def _nothing(hooks: CallHooks) -> Payload:
    return {}


def noop_spec() -> ToolSpec:
    return ToolSpec(
        name="noop",
        description="Does nothing (benchmark only).",
        input_schema=NOOP_SCHEMA,
        hints=READ,
        bind=lambda arguments: BoundCall(NoopArguments(), _nothing),
        validator=ArgumentValidator(NOOP_SCHEMA),
    )


class NoopCatalogue(Catalogue):
    def _build_specs(self) -> list[ToolSpec]:
        return [*super()._build_specs(), noop_spec()]


async def main(path: str) -> None:
    backend = open_store(path)
    await backend.open()
    try:
        catalogue = NoopCatalogue(backend, ToolOptions())
        await catalogue.refresh(force=True)
        gc.freeze()  # as `tables-mcp` does before it serves (cli.tune_collector; any source has gc)
        gc.set_threshold(50_000, *gc.get_threshold()[1:])
        await serve_stdio(catalogue)
    finally:
        await backend.aclose()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
