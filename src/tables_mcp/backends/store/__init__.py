"""The embedded store as the registry sees it: `TABLES_MCP_DB` picks SQLite (a file path) or PostgreSQL
(a `postgresql://` URL); both engines share one SQL layer and behave alike."""

from __future__ import annotations

from collections.abc import Mapping

from ..base import Adapter, Backend
from ..local import describe_store, open_local_store
from ..sql import CAPABILITIES


def _open(environ: Mapping[str, str], store: str) -> Backend:
    return open_local_store(store)


ADAPTER = Adapter(open=_open, capabilities=CAPABILITIES)

__all__ = ["ADAPTER", "describe_store", "open_local_store"]
