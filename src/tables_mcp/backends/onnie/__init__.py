"""Onnie Tables (api.onnie.ai) for tables-mcp: `tables-mcp --backend onnie` with `ONNIE_API_KEY`.

Modules: `settings` (ONNIE_* variables), `api` (endpoints and response shapes), `errors` (Onnie error
bodies), `columns` (tables and the 15 column types), `codec` (record values), `paging` (listRecords:
Onnie's pages, bounded filtered and sorted scans), `capabilities`, `backend` (the Backend protocol;
its docstring lists every assumption made where Onnie's documentation is silent).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..base import Adapter
from .backend import OnnieBackend
from .capabilities import CAPABILITIES
from .settings import OnnieSettings


def open_from_environ(environ: Mapping[str, str], store: str) -> OnnieBackend:
    """A backend (not yet opened) from the ONNIE_* variables; ConfigError naming the fix when one is wrong."""
    settings = OnnieSettings.from_environ(environ)
    return OnnieBackend(settings.api_key.get_secret_value(), settings.base_url)


ADAPTER = Adapter(open=open_from_environ, capabilities=CAPABILITIES, settings=OnnieSettings)

__all__ = ["ADAPTER", "CAPABILITIES", "OnnieBackend", "OnnieSettings", "open_from_environ"]
