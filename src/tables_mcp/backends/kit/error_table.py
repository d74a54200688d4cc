"""Error tables: a platform's error codes mapped to `TablesError` codes, retryability and hints.

Each adapter writes its platform's codes as data (`{"GAIA_RE01": Rule(NOT_FOUND, ...)}`) and maps a
response with `error_for`; what an agent then sees is decided by `errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...errors import ErrorCode, FieldError, TablesError


@dataclass(frozen=True)
class Rule:
    code: ErrorCode
    hint: str | None = None
    retry_after: float | None = None  # a wait the platform documents when it sends none itself


def error_for(
    table: Mapping[str, Rule],
    platform_code: str | None,
    message: str,
    *,
    status: int | None,
    fallback: ErrorCode,
    retry_after: float | None = None,
    field_errors: list[FieldError] | None = None,
) -> TablesError:
    """The TablesError for one platform error; `fallback` when the code is not in the table."""
    rule = table.get(platform_code or "")
    code = rule.code if rule else fallback
    wait = retry_after if retry_after is not None else (rule.retry_after if rule else None)
    return TablesError(
        code,
        message,
        field_errors=field_errors or [],
        retry_after=wait,
        backend_code=platform_code,
        status=status,
        hint=rule.hint if rule else None,
    )


def code_for_status(status: int) -> ErrorCode:
    """What an HTTP status means when the body says nothing more."""
    if status in (401,):
        return ErrorCode.UNAUTHENTICATED
    if status == 403:
        return ErrorCode.PERMISSION_DENIED
    if status == 404:
        return ErrorCode.NOT_FOUND
    if status == 409:
        return ErrorCode.CONFLICT
    if status == 429:
        return ErrorCode.RATE_LIMITED
    if status >= 500:
        return ErrorCode.UNAVAILABLE
    return ErrorCode.INVALID_ARGUMENT if 400 <= status < 500 else ErrorCode.BACKEND_ERROR
