"""The DingTalk Notable REST conversation: access tokens, `operatorId`, paths, and answers refused for now.

`NotableApi` owns two `HttpClient`s of the shared http layer: one for `POST /v1.0/oauth2/accessToken`
(never signed) and one for the notable_1.0 endpoints, signed by the kit's `RefreshingTokenAuth` with
the `x-acs-dingtalk-access-token` header (a token DingTalk calls `InvalidAuthentication` is refreshed
once, single flight, and the request repeated once). Every Notable call carries `operatorId`.

Answers that refuse a request before DingTalk processes it (403 `QpsLimit*`, 400
`document.stillInitializing`) are retried here, whatever the method, after DingTalk's advised wait of
one second, a few times; the http layer retries 5xx and lost connections only for requests marked
repeatable. A missing API permission is reported naming the one the call needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import httpx

from ...errors import ErrorCode, TablesError
from ...http import HttpClient, HttpSettings, RetryPolicy
from ..kit.shapes import shape_check as read_answer
from ..kit.token_auth import AccessToken, RefreshingTokenAuth
from .errors import (
    INVALID_TOKEN,
    READ_PERMISSION,
    REFUSED_CODES,
    SERVICE,
    THROTTLE_WAIT,
    WRITE_PERMISSION,
    map_dingtalk_error,
    needs_permission,
)
from .settings import DingTalkSettings

T = TypeVar("T")

TOKEN_PATH = "/v1.0/oauth2/accessToken"
TOKEN_HEADER = "x-acs-dingtalk-access-token"
# 500 internalError and 504 service.timeout are DingTalk's "try again later" answers (seed 002).
DEFAULT_RETRY = RetryPolicy(retry_statuses=frozenset({500, 502, 503, 504}))


@dataclass(frozen=True)
class ApiTuning:
    """How hard to try: the http layer's policy, and the retries of refused answers."""

    retry: RetryPolicy = field(default_factory=lambda: DEFAULT_RETRY)
    refused_attempts: int = 4  # the first try included
    refused_wait: float = THROTTLE_WAIT
    max_concurrency: int = 8


class NotableApi:
    """The endpoints of BACKENDS.md Part 2 §1.2 this adapter uses, for one base and one operator."""

    def __init__(
        self,
        settings: DingTalkSettings,
        tuning: ApiTuning | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.tuning = tuning or ApiTuning()
        self._settings = settings
        secret = settings.app_secret.get_secret_value()
        http_settings = HttpSettings(
            base_url=settings.api_base_url,
            headers={"User-Agent": "tables-mcp", "Accept": "application/json"},
            max_concurrency=self.tuning.max_concurrency,
            retry=self.tuning.retry,
        )
        self._token_http = HttpClient(
            http_settings, map_dingtalk_error, secrets=[secret], name=SERVICE, transport=transport
        )
        self.auth = RefreshingTokenAuth(
            self._fetch_token, header=TOKEN_HEADER, register_secret=self._register, is_rejected=_token_rejected
        )
        self._http = HttpClient(
            http_settings, map_dingtalk_error, secrets=[secret], name=SERVICE, transport=transport, auth=self.auth
        )
        self._base_path = f"/v1.0/notable/bases/{_segment(settings.base_id)}"

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._token_http.aclose()

    # -- tokens ------------------------------------------------------------------------------------------------

    def _register(self, token: str) -> None:
        self._http.add_secret(token)
        self._token_http.add_secret(token)

    async def _fetch_token(self) -> AccessToken:
        credentials = {"appKey": self._settings.app_key, "appSecret": self._settings.app_secret.get_secret_value()}
        # Asking again while a token lives gives the same token: repeating the grant is harmless. A throttled
        # grant fails the Notable call that needed it, which `_call` then retries.
        body = await self._token_http.request("POST", TOKEN_PATH, json_body=credentials, idempotent=True)
        token = body.get("accessToken") if isinstance(body, dict) else None
        lifetime = body.get("expireIn") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float):
            raise TablesError(ErrorCode.BACKEND_ERROR, f"{SERVICE} answered the token request with an unexpected body.")
        return AccessToken(token, float(lifetime))

    # -- sheets and fields -------------------------------------------------------------------------------------

    async def sheets(self) -> list[dict[str, Any]]:
        body = await self._call("GET", "/sheets", permission=READ_PERMISSION)
        return _list_of_objects(body.get("value"), "GetAllSheets")

    async def fields(self, sheet_id: str) -> list[dict[str, Any]]:
        body = await self._call("GET", f"/sheets/{_segment(sheet_id)}/fields", permission=READ_PERMISSION)
        return _list_of_objects(body.get("value"), "GetAllFields")

    # -- records -----------------------------------------------------------------------------------------------

    async def list_records(self, sheet_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call(
            "POST", f"/sheets/{_segment(sheet_id)}/records/list", body=request, idempotent=True
        )  # a read, though a POST

    async def get_record(self, sheet_id: str, record_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/sheets/{_segment(sheet_id)}/records/{_segment(record_id)}")

    async def insert(self, sheet_id: str, records: Sequence[Mapping[str, Any]], client_token: str) -> list[str]:
        """Insert records under `client_token`: DingTalk executes a repeat of the same token only once, so this
        request may be repeated after a lost answer (the repeat carries the same token)."""
        body = await self._call(
            "POST",
            f"/sheets/{_segment(sheet_id)}/records",
            params={"clientToken": client_token},
            body={"records": [{"fields": dict(fields)} for fields in records]},
            idempotent=True,
            permission=WRITE_PERMISSION,
        )
        return record_ids(body.get("value"), "InsertRecords")

    async def update(self, sheet_id: str, records: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        body = {"records": [{"id": record_id, "fields": dict(fields)} for record_id, fields in records]}
        # Setting the same cells again is harmless: an update may be repeated.
        await self._call("PUT", f"/sheets/{_segment(sheet_id)}/records", body=body, permission=WRITE_PERMISSION)

    async def delete(self, sheet_id: str, ids: Sequence[str]) -> None:
        # Not repeated after a lost answer: a repeat of an applied delete would answer "not found".
        await self._call(
            "POST",
            f"/sheets/{_segment(sheet_id)}/records/delete",
            body={"recordIds": list(ids)},
            idempotent=False,
            permission=WRITE_PERMISSION,
        )

    async def changed_record_ids(self, client_token: str) -> list[str]:
        """The ids of the records written under `client_token` (empty if nothing was)."""
        body = await self._call("POST", "/changedRecordIds/query", body={"clientToken": client_token}, idempotent=True)
        return record_ids(body.get("changedRecordIds") or [], "QueryChangedRecordIdsByClientToken")

    # -- plumbing ----------------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
        permission: str = READ_PERMISSION,
    ) -> dict[str, Any]:
        query = {"operatorId": self._settings.operator_id, **(params or {})}

        async def send() -> Any:
            return await self._http.request(
                method, self._base_path + path, params=query, json_body=body, idempotent=idempotent
            )

        try:
            answer = await self._refused_retry(send)
        except TablesError as exc:
            raise needs_permission(exc, permission) from None
        if not isinstance(answer, dict):
            raise TablesError(ErrorCode.BACKEND_ERROR, f"{SERVICE} answered {method} {path} with an unexpected body.")
        return answer

    async def _refused_retry(self, send: Callable[[], Awaitable[T]]) -> T:
        """`send()`, repeated after a short wait while DingTalk refuses it for now (throttling, initialising)."""
        for attempt in range(1, self.tuning.refused_attempts + 1):
            try:
                return await send()
            except TablesError as exc:
                if exc.backend_code not in REFUSED_CODES or attempt == self.tuning.refused_attempts:
                    raise
            await anyio.sleep(self.tuning.refused_wait)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _token_rejected(response: httpx.Response) -> bool:
    """DingTalk answers an expired or unknown token with 400 (sometimes 401) `InvalidAuthentication`."""
    if response.status_code not in (400, 401):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("code") == INVALID_TOKEN


def _segment(value: str) -> str:
    """One path segment, escaped: ids come from agents and must never change the path."""
    return quote(value, safe="")


def _list_of_objects(value: Any, action: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise TablesError(ErrorCode.BACKEND_ERROR, f"{SERVICE} answered {action} with an unexpected body.")
    return value


def record_ids(value: Any, action: str) -> list[str]:
    """Record ids from `[{"id"}]` or `["rec..."]` (changedRecordIds' shape is not documented)."""
    if not isinstance(value, list):
        raise TablesError(ErrorCode.BACKEND_ERROR, f"{SERVICE} answered {action} with an unexpected body.")
    ids = [item.get("id") if isinstance(item, dict) else item for item in value]
    found = [record_id for record_id in ids if isinstance(record_id, str) and record_id]
    if len(found) != len(ids):
        raise TablesError(ErrorCode.BACKEND_ERROR, f"{SERVICE} answered {action} with an unexpected body.")
    return found


def shape_check(action: str) -> AbstractContextManager[None]:
    """A body without the documented shape is a backend error, never a crash."""
    return read_answer(SERVICE, action)
