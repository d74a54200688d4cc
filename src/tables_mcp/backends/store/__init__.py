"""The embedded store: tables kept as real, typed SQL tables, on SQLite (`sqlite.SqliteStore`, one file, no
account, no network) or PostgreSQL (`postgres.PostgresStore`, "when one machine is not enough"); both engines
share one SQL layer (`sql.py`) and behave alike. Users still call it the `local` backend.

This module owns the choice of engine: `open_store(db)` reads `TABLES_MCP_DB`'s value, a `postgresql://` URL
selects PostgreSQL and anything else is a SQLite file path (or ":memory:"); and `ADAPTER`, what the registry
imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..base import Adapter, Backend
from .sql import CAPABILITIES
from .sqlite import SqliteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(db: str | Path) -> bool:
    return _as_url(db) is not None


def _as_url(db: str | Path) -> str | None:
    """`db` as a PostgreSQL URL, or None. A URL that went through Path() lost one slash; it is restored,
    so that it never becomes a SQLite file named after the connection string (password included)."""
    text = str(db)
    if text.lower().startswith(POSTGRES_SCHEMES):
        return text
    if isinstance(db, Path) and text.lower().startswith(("postgresql:/", "postgres:/")):
        scheme, _, rest = text.partition(":/")
        return f"{scheme}://{rest}"
    return None


def open_store(db: str | Path) -> Backend:
    """The embedded store on the engine `db` names: a `postgresql://` URL, or a SQLite file path / ":memory:".

    This is what TABLES_MCP_DB selects. The store still has to be opened (`await store.open()`);
    psycopg is imported only for PostgreSQL, so that the SQLite path starts as fast as before.
    """
    url = _as_url(db)
    if url is not None:
        from .postgres import PostgresStore

        return PostgresStore(url)
    return SqliteStore(Path(db).expanduser() if str(db) != ":memory:" else ":memory:")


def describe_store(db: str | Path) -> str:
    """Where the store is, fit to print or log: a file path, or the URL without its password."""
    url = _as_url(db)
    if url is None:
        return str(db)
    from .postgres import redact_dsn

    return redact_dsn(url)


def _open(environ: Mapping[str, str], store: str) -> Backend:
    return open_store(store)


ADAPTER = Adapter(open=_open, capabilities=CAPABILITIES)

__all__ = ["ADAPTER", "describe_store", "is_postgres_url", "open_store"]
