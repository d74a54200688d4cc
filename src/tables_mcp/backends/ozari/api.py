"""The Ozari Integration API endpoints the adapter uses, over the shared `HttpClient`.

Each method is one request and returns the checked success body. Which requests may be repeated after a
lost answer or a 5xx (the http layer's `idempotent`) is decided here: reads (GETs and the query POST) and
the single update (it sets the same values again) may; an insert may not, since a repeat would add a
second record. Every success body is checked for `"success": true` (the docs ask for it even on 200).
Table names go into URL paths only after matching the platform's `^[A-Za-z0-9_]+$`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from ...errors import ErrorCode, TablesError, invalid_argument
from ...http import HttpClient, HttpSettings, RetryPolicy
from ..kit.shapes import shape_check as read_answer
from .errors import SERVICE, map_ozari_error
from .settings import NAME_PATTERN

PREFIX = "/integration"
MAX_PER_PAGE = 200
# The API's own advice is to retry a 500 (database timeouts); only repeatable requests are retried.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

Body = dict[str, Any]


class OzariApi:
    """One tenant's Integration API (the token names the tenant)."""

    def __init__(
        self, base_url: str, token: str, *, retry: RetryPolicy | None = None, max_concurrency: int = 10
    ) -> None:
        policy = retry or RetryPolicy()
        settings = HttpSettings(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "tables-mcp"},
            max_concurrency=max_concurrency,
            retry=replace(policy, retry_statuses=policy.retry_statuses | RETRY_STATUSES),
        )
        self.http = HttpClient(settings, map_ozari_error, secrets=[token, f"Bearer {token}"], name=SERVICE)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _send(self, method: str, path: str, *, params: Any = None, body: Any = None, idempotent: bool) -> Body:
        answer = await self.http.request(
            method, f"{PREFIX}{path}", params=params, json_body=body, idempotent=idempotent
        )
        if not isinstance(answer, dict) or answer.get("success") is not True:
            raise TablesError(
                ErrorCode.BACKEND_ERROR, f"{SERVICE} answered {method} {PREFIX}{path} without success: true."
            )
        return answer

    # -- metadata ----------------------------------------------------------------------------------

    async def auth_test(self) -> Body:
        return await self._send("GET", "/auth/test", idempotent=True)

    async def languages(self) -> list[Any]:
        answer = await self._send("GET", "/languages", idempotent=True)
        with shape_check("languages"):
            return list(answer["languages"])

    async def tables(self, lang: str) -> list[Any]:
        answer = await self._send("GET", "/tables", params={"lang": lang}, idempotent=True)
        with shape_check("tables"):
            return list(answer["tables"])

    async def fields(self, table: str, lang: str) -> list[Any]:
        answer = await self._send("GET", f"/tables/{table_path(table)}/fields", params={"lang": lang}, idempotent=True)
        with shape_check("fields"):
            return list(answer["fields"])

    # -- records -----------------------------------------------------------------------------------

    async def query(self, table: str, body: Body) -> Body:
        """One page of rows: `records`, `total`, `page`, `per_page` (the POST only reads)."""
        return await self._send("POST", f"/tables/{table_path(table)}/query", body=body, idempotent=True)

    async def insert(self, table: str, fields: Body) -> Body:
        """One new row: `insertedId` (a number, or null) and the `fields` as sent. Never repeated."""
        return await self._send(
            "POST", f"/tables/{table_path(table)}/records", body={"fields": fields}, idempotent=False
        )

    async def update_single(self, table: str, fid: int, fields: Body) -> Body:
        """Exactly one row, found by the flat equality filter `{"fid": id}`: `matched`, `updated`."""
        body = {"filters": {"fid": fid}, "fields": fields}
        return await self._send("PATCH", f"/tables/{table_path(table)}/records/single", body=body, idempotent=True)


def table_path(table: str) -> str:
    """A table name fit for the URL path; anything else would be refused by Ozari or change the path."""
    if not NAME_PATTERN.fullmatch(table):
        raise invalid_argument(f"{table!r} is not an Ozari table name (letters, digits and _ only).")
    return table


def shape_check(endpoint: str) -> AbstractContextManager[None]:
    """A body without the documented shape is a backend error, never a crash."""
    return read_answer(SERVICE, endpoint)
