"""Requests to Kintone's REST API: the auth headers, the `/k/v1/` or guest-space path, query strings in
Kintone's `name[0]=a` form, long GETs sent as POST with X-HTTP-Method-Override, and one page of records.

Network, retries and redaction belong to `tables_mcp.http`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from ...errors import ErrorCode, TablesError
from ...http import HttpClient, HttpSettings, RetryPolicy
from .errors import map_kintone_error, shape_check
from .settings import KintoneSettings

MAX_URL_LENGTH = 4000  # beyond this, GET is sent as POST + X-HTTP-Method-Override (as the SDK does)


class KintoneApi:
    """One domain (and guest space) over HTTP; answers are JSON objects or a TablesError."""

    def __init__(self, settings: KintoneSettings, retry: RetryPolicy | None, max_concurrency: int) -> None:
        http_settings = HttpSettings(
            base_url=settings.base_url,
            headers={**settings.auth_headers(), "Accept-Language": "en", "User-Agent": "tables-mcp"},
            max_concurrency=max_concurrency,
            retry=retry or RetryPolicy(),
        )
        self._http = HttpClient(http_settings, map_kintone_error, secrets=settings.secrets(), name="Kintone")
        space = settings.guest_space_id
        self._prefix = f"/k/guest/{space}/v1/" if space else "/k/v1/"

    async def aclose(self) -> None:
        await self._http.aclose()

    def _path(self, endpoint: str) -> str:
        return f"{self._prefix}{endpoint}.json"

    def bulk_item(self, method: str, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One write of a bulkRequest.json (its `api` is the endpoint's path, guest space included)."""
        return {"method": method, "api": self._path(endpoint), "payload": payload}

    async def send(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        return await self._send(method, endpoint, query_params(params) if params else None, body, idempotent)

    async def _send(
        self, method: str, endpoint: str, query: list[tuple[str, str]] | None, body: Any, idempotent: bool | None
    ) -> dict[str, Any]:
        result = await self._http.request(
            method, self._path(endpoint), params=query, json_body=body, idempotent=idempotent
        )
        if not isinstance(result, dict):
            raise TablesError(ErrorCode.BACKEND_ERROR, f"Kintone answered {method} {endpoint} with an unexpected body.")
        return result

    async def get(self, endpoint: str, params: Mapping[str, Any], *, idempotent: bool = True) -> dict[str, Any]:
        query = query_params(params)
        if _fits_in_url(self._path(endpoint), query):
            return await self._send("GET", endpoint, query, None, idempotent)
        # Long queries (many `in` values) go in a body, as Kintone's SDK does.
        result = await self._http.request(
            "POST",
            self._path(endpoint),
            json_body=dict(params),
            headers={"X-HTTP-Method-Override": "GET"},
            idempotent=idempotent,
        )
        if not isinstance(result, dict):
            raise TablesError(ErrorCode.BACKEND_ERROR, f"Kintone answered GET {endpoint} with an unexpected body.")
        return result

    async def records_page(
        self, app_id: str, query_text: str, codes: list[str] | None, first: bool
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One records.json answer: the raw records, and the total count when `first` asks for it."""
        params: dict[str, Any] = {"app": app_id, "query": query_text.strip()}
        if codes is not None:
            params["fields"] = codes
        if first:
            params["totalCount"] = True
        body = await self.get("records", params)
        with shape_check("records"):
            raws = list(body["records"])
            total = int(body["totalCount"]) if first and body.get("totalCount") is not None else None
        return raws, total


def _fits_in_url(path: str, query: list[tuple[str, str]]) -> bool:
    """Whether the query fits in a GET's URL; most are short enough to tell without encoding them (a character
    is at most twelve once percent-encoded: four UTF-8 bytes of three characters each)."""
    longest = len(path) + sum(12 * (len(name) + len(value)) + 2 for name, value in query)
    return longest <= MAX_URL_LENGTH or len(path) + len(urlencode(query)) <= MAX_URL_LENGTH


def query_params(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Kintone's query-string form: lists as `name[0]=a&name[1]=b`, booleans as true/false."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if isinstance(value, list | tuple):
            out += [(f"{key}[{i}]", _param_text(item)) for i, item in enumerate(value)]
        else:
            out.append((key, _param_text(value)))
    return out


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
