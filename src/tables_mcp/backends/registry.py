"""The one place that names each backend: its name, the package that implements it (imported only when
chosen, so a Kintone user never loads PostgreSQL drivers), and its settings' environment prefix.

`--backend` choices, `doctor`, the manifest check and the contract suite read this table; adding a
platform is one package plus one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .base import Adapter


@dataclass(frozen=True)
class BackendEntry:
    name: str
    package: str
    summary: str
    env_prefix: str | None = None  # the platform's own settings; None: configured by TABLES_MCP_* alone


BACKENDS: dict[str, BackendEntry] = {
    entry.name: entry
    for entry in (
        BackendEntry("local", "tables_mcp.backends.store", "the embedded store: a SQLite file or PostgreSQL"),
        BackendEntry("kintone", "tables_mcp.backends.kintone", "Kintone apps", "KINTONE_"),
        BackendEntry("dingtalk", "tables_mcp.backends.dingtalk", "DingTalk Notable (AI Table) sheets", "DINGTALK_"),
        BackendEntry("onnie", "tables_mcp.backends.onnie", "Onnie Tables", "ONNIE_"),
        BackendEntry("ozari", "tables_mcp.backends.ozari", "Ozari (Modular 365) tables", "OZARI_"),
    )
}


def backend_names() -> list[str]:
    return list(BACKENDS)


def adapter(name: str) -> Adapter:
    """The adapter of a registered backend (its package is imported now)."""
    entry = BACKENDS[name]
    found: Adapter = importlib.import_module(entry.package).ADAPTER
    return found
