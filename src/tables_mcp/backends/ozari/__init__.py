"""Ozari (Modular 365) backend: each table of the company's Integration API is a table, each form field a column.

Modules: `settings` (OZARI_* variables), `api` (the endpoints over the shared http layer), `errors` (the
error envelope as TablesError), `fields` (tables and columns), `codec` (values and records), `query`
(filters, sort and paging of the query endpoint), `capabilities` (what is declared to the tools, with the
notes agents read) and `backend` (the Backend protocol, with the assumptions made where the sources are
silent). `tables-mcp --backend ozari` opens it through `ADAPTER`.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..base import Adapter
from .backend import OzariBackend
from .capabilities import CAPABILITIES
from .settings import OzariSettings


def _open(environ: Mapping[str, str], store: str) -> OzariBackend:
    return OzariBackend.from_environ(environ)


ADAPTER = Adapter(open=_open, capabilities=CAPABILITIES, settings=OzariSettings)

__all__ = ["ADAPTER", "CAPABILITIES", "OzariBackend", "OzariSettings"]
