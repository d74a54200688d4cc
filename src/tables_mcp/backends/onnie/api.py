"""The Onnie public REST endpoints (seed 000, BACKENDS.md §3): paths, bodies, response shapes.

Every call goes through `tables_mcp.http.HttpClient` (timeouts, retries, Retry-After, redaction);
this module knows the URLs and checks that each answer has the documented shape, so that a changed
or broken answer is a `backend_error`, never a crash. Scope errors are worded to name the scope the
call needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ...errors import ErrorCode, TablesError
from ...http import HttpClient
from ..kit.shapes import shape_check as read_answer
from .errors import READ_SCOPE, WRITE_SCOPE, needs_scope

MAX_TABLE_PAGES = 1000  # GET /tables pages followed before giving up on a cursor that never ends
# Onnie ids are UUIDs (seeds 000/001); anything else names no table or record and never reaches a URL.
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class RecordsPage:
    records: list[Any]
    next_cursor: str | None


def is_onnie_id(value: str) -> bool:
    return UUID.fullmatch(value.strip()) is not None


class OnnieApi:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    async def _read(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        with _scope(READ_SCOPE):
            return await self.http.request("GET", path, params=dict(params or {}))

    async def _write(self, method: str, path: str, body: Any, *, idempotent: bool | None = None) -> Any:
        with _scope(WRITE_SCOPE):
            return await self.http.request(method, path, json_body=body, idempotent=idempotent)

    # -- tables ----------------------------------------------------------------------------------

    async def table_summaries(self) -> list[dict[str, Any]]:
        """Every table of GET /tables, all pages."""
        tables: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_TABLE_PAGES):
            body = await self._read("/tables", {"limit": 100, **({"cursor": cursor} if cursor else {})})
            with shape_check("GET /tables"):
                tables += [dict(item) for item in body["tables"] if isinstance(item, Mapping) and item.get("id")]
                cursor = _next_cursor(body)
            if cursor is None:
                return tables
            if cursor in seen:
                break
            seen.add(cursor)
        raise TablesError(ErrorCode.BACKEND_ERROR, "Onnie's GET /tables paging did not end (a cursor repeated).")

    async def table(self, table_id: str) -> dict[str, Any]:
        body = await self._read(f"/tables/{_segment(table_id)}")
        with shape_check("GET /tables/{id}"):
            if not isinstance(body, Mapping) or not isinstance(body.get("columns", []), list):
                raise TypeError("no columns list")
            return dict(body)

    # -- records ---------------------------------------------------------------------------------

    async def records_page(self, table_id: str, limit: int, cursor: str | None) -> RecordsPage:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = await self._read(f"/tables/{_segment(table_id)}/records", params)
        with shape_check("GET /tables/{id}/records"):
            return RecordsPage(list(body["records"]), _next_cursor(body))

    async def record(self, table_id: str, record_id: str) -> Any:
        return await self._read(f"/tables/{_segment(table_id)}/records/{_segment(record_id)}")

    async def create(self, table_id: str, rows: list[dict[str, Any]]) -> Any:
        """POST records (201 `{"records": [...]}`); not repeated after a lost answer (it would write twice)."""
        body = {"records": [{"fields": row} for row in rows]}
        return await self._write("POST", f"/tables/{_segment(table_id)}/records", body)

    async def patch(self, table_id: str, record_id: str, fields: dict[str, Any]) -> Any:
        # PATCH merges the named fields atomically (never PUT, which replaces the record); repeating it
        # after a lost answer sets the same values again, so it may be retried.
        path = f"/tables/{_segment(table_id)}/records/{_segment(record_id)}"
        return await self._write("PATCH", path, {"fields": fields}, idempotent=True)

    async def delete(self, table_id: str, record_id: str) -> None:
        await self._write("DELETE", f"/tables/{_segment(table_id)}/records/{_segment(record_id)}", None)

    async def probe_write(self, table_id: str) -> Any:
        """An empty create: refused for scope (403) or for its empty body (400); it can write nothing."""
        return await self._write("POST", f"/tables/{_segment(table_id)}/records", {"records": []})


def _next_cursor(body: Any) -> str | None:
    cursor = body.get("next_cursor")
    if cursor is None or cursor == "":
        return None
    if not isinstance(cursor, str):
        raise TypeError("next_cursor is not a string")
    return cursor


def _segment(value: str) -> str:
    return quote(str(value), safe="")


@contextmanager
def _scope(scope: str) -> Iterator[None]:
    try:
        yield
    except TablesError as exc:
        raise needs_scope(exc, scope) from None


def shape_check(what: str) -> AbstractContextManager[None]:
    """A body without the documented shape is a backend error, never a crash."""
    return read_answer("Onnie", what)
