"""DingTalk error bodies (`{"code", "requestid", "message"}`) as `TablesError`: the platform's codes as data.

Sources: seed 002's InsertRecords error table, BACKENDS.md Part 2 §1.6 and §3b. Throttling is a 403
(`Forbidden.AccessDenied.QpsLimit*`) and is `rate_limited`, never a permission problem; a body that is
not a DingTalk error (the IP-ban HTML page, `{"status": 1111, "wait": 5}`) is `unavailable`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ...errors import ErrorCode, FieldError, TablesError
from ...http import ErrorResponse
from ..kit.error_table import Rule, code_for_status, error_for

SERVICE = "DingTalk"
INVALID_TOKEN = "InvalidAuthentication"
DUPLICATE_CLIENT_TOKEN = "invalidRequest.duplicateClientToken"
TOKEN_PERMISSION = "Forbidden.AccessDenied.AccessTokenPermissionDenied"
READ_PERMISSION = "Notable.Base.Read.All"
WRITE_PERMISSION = "Notable.Base.Write.All"
THROTTLE_WAIT = 1.0  # DingTalk's advice on a QPS limit: wait one second, then call again
IP_BAN_WAIT = 300.0  # an IP ban lasts five minutes (§3b)
# Answers that refuse a request before it is processed: repeating the same call later is safe.
REFUSED_CODES = frozenset(
    {
        "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
        "Forbidden.AccessDenied.QpsLimitForApi",
        "invalidRequest.document.stillInitializing",
    }
)

_CREDENTIALS = "ask the user to check DINGTALK_APP_KEY and DINGTALK_APP_SECRET (the internal app's credentials)"
_OPERATOR = (
    "DINGTALK_OPERATOR_ID (a unionId) must be a member of the base with edit rights (manage rights where the base "
    "has advanced permissions); ask the user to share the base with that user or set another operator."
)
RULES: dict[str, Rule] = {
    INVALID_TOKEN: Rule(ErrorCode.UNAUTHENTICATED, f"DingTalk refused a freshly fetched access token; {_CREDENTIALS}."),
    "AuthenticationFailed.MissingParameter": Rule(ErrorCode.UNAUTHENTICATED),
    "invalidClientIdOrSecret": Rule(
        ErrorCode.UNAUTHENTICATED, f"DingTalk rejected the app credentials; {_CREDENTIALS}."
    ),
    "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi": Rule(ErrorCode.RATE_LIMITED, retry_after=THROTTLE_WAIT),
    "Forbidden.AccessDenied.QpsLimitForApi": Rule(ErrorCode.RATE_LIMITED, retry_after=THROTTLE_WAIT),
    "Forbidden.AccessDenied.ApiCountLimitForOrg": Rule(
        ErrorCode.RATE_LIMITED,
        "The organisation's monthly DingTalk API quota is used up: calls fail until DingTalk resets it or an admin "
        "raises the plan; retrying soon will not help.",
    ),
    TOKEN_PERMISSION: Rule(
        ErrorCode.PERMISSION_DENIED,
        f"Ask the user to grant the app the API permissions {READ_PERMISSION} and {WRITE_PERMISSION} in the DingTalk "
        "developer console (app > permissions), then publish the app version.",
    ),
    "forbidden.operationIllegal": Rule(ErrorCode.PERMISSION_DENIED, _OPERATOR),
    "invalidRequest.document.typeIllegal": Rule(
        ErrorCode.NOT_FOUND, "DINGTALK_BASE_ID is not the id of an AI table (Notable base); ask the user to check it."
    ),
    "invalidRequest.document.notFound": Rule(
        ErrorCode.NOT_FOUND,
        "Ask the user to check DINGTALK_BASE_ID and that DINGTALK_OPERATOR_ID can open that base.",
    ),
    "invalidRequest.resource.notFound": Rule(ErrorCode.NOT_FOUND),
    "invalidRequest.inputArgs.invalid": Rule(ErrorCode.INVALID_ARGUMENT),
    DUPLICATE_CLIENT_TOKEN: Rule(ErrorCode.CONFLICT),
    "invalidRequest.document.stillInitializing": Rule(ErrorCode.UNAVAILABLE),
    "invalidRequest.document.broken": Rule(
        ErrorCode.BACKEND_ERROR, "DingTalk says the base is damaged; the user has to repair it in DingTalk."
    ),
    "internalError": Rule(ErrorCode.UNAVAILABLE),
    "unknownError": Rule(ErrorCode.UNAVAILABLE),
    "service.timeout": Rule(ErrorCode.UNAVAILABLE),
    "InvalidAction.NotFound": Rule(
        ErrorCode.BACKEND_ERROR, "DingTalk does not know this API path: ask the user to check DINGTALK_API_BASE_URL."
    ),
}

_RECORD_INDEX = re.compile(r"records\[(\d+)\]")
_FIELD_NAME = re.compile(r"field '([^']+)'")


def map_dingtalk_error(failure: ErrorResponse) -> TablesError:
    """One DingTalk error response as a TablesError (see the module docstring)."""
    body = failure.body if isinstance(failure.body, dict) else None
    code = body.get("code") if body is not None and isinstance(body.get("code"), str) else None
    if body is None or code is None:
        return _not_an_api_answer(failure, body)
    message = str(body.get("message") or code)
    fallback = ErrorCode.BACKEND_ERROR if code.startswith("Missing") else code_for_status(failure.status)
    if failure.status == 403 and code not in RULES and "QpsLimit" in code:
        fallback = ErrorCode.RATE_LIMITED  # a throttle code we have not seen yet is still a throttle
    return error_for(
        RULES,
        code,
        f"{SERVICE}: {message} ({code})",
        status=failure.status,
        fallback=fallback,
        retry_after=failure.retry_after,
        field_errors=input_field_errors(message) if code == "invalidRequest.inputArgs.invalid" else None,
    )


def _not_an_api_answer(failure: ErrorResponse, body: dict[str, Any] | None) -> TablesError:
    """A body DingTalk's API would not send: a gateway page, the IP-ban answer, or garbage."""
    banned = failure.status == 403 and (body is None or body.get("status") == 1111)
    shown = f": {failure.text}" if failure.text else ""
    return TablesError(
        ErrorCode.UNAVAILABLE,
        f"{SERVICE} answered HTTP {failure.status} with a body that is not an API answer{shown}",
        status=failure.status,
        retry_after=IP_BAN_WAIT if banned else failure.retry_after,
        hint="DingTalk may have blocked this IP for a few minutes after too many calls; retry later."
        if banned
        else None,
    )


def input_field_errors(message: str) -> list[FieldError]:
    """`records[3]: invalid value for field 'Owner': ...` as a field error of record 3 (when the message says)."""
    field = _FIELD_NAME.search(message)
    record = _RECORD_INDEX.search(message)
    if field is None:
        return []
    return [FieldError(field[1], message, record=int(record[1]) if record else None)]


def needs_permission(error: TablesError, permission: str) -> TablesError:
    """A missing API permission, named: DingTalk's own message may not say which one the call needed."""
    if error.backend_code != TOKEN_PERMISSION or permission in error.message:
        return error
    return replace(error, message=f"{error.message}; this call needs the app permission {permission}")
