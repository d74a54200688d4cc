"""Onnie error bodies as `TablesError`: the documented codes, both candidate body layouts, field errors.

Onnie documents the codes (`bad_request`, `unauthorized`, `forbidden`, `not_found`, `rate_limited`)
and `details.fields`, not the body around them, so a body is read whether it is nested
(`{"error": {"code", "message", "details"}}`) or flat (`{"code", "message", "details"}`); a body that is
neither (an HTML proxy page, cut-off JSON) still gives an error naming the HTTP status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ...errors import ErrorCode, FieldError, TablesError
from ...http import ErrorResponse, status_error
from ..kit.error_table import Rule, code_for_status, error_for

READ_SCOPE, WRITE_SCOPE = "tables:read", "tables:write"
DEFAULT_RATE_WAIT = 1.0  # Onnie sends no Retry-After by default (unpublished); a short wait suits a token bucket
KEY_HINT = (
    "Onnie rejected ONNIE_API_KEY (missing, mistyped or revoked); ask the user to check it in Onnie's API key "
    "settings (keys look like onn_live_...)."
)
RULES: dict[str, Rule] = {
    "bad_request": Rule(ErrorCode.INVALID_ARGUMENT),
    "unauthorized": Rule(ErrorCode.UNAUTHENTICATED, KEY_HINT),
    "forbidden": Rule(ErrorCode.PERMISSION_DENIED),
    "not_found": Rule(ErrorCode.NOT_FOUND),
    "rate_limited": Rule(
        ErrorCode.RATE_LIMITED,
        "Onnie's rate limit (a token bucket per key) is exhausted; wait retryAfter seconds, then retry.",
        retry_after=DEFAULT_RATE_WAIT,
    ),
    "conflict": Rule(ErrorCode.CONFLICT),
    "internal_error": Rule(ErrorCode.UNAVAILABLE),
}
_SCOPE_IN_TEXT = re.compile(r"\b(tables:(?:read|write))\b")


def map_onnie_error(failure: ErrorResponse) -> TablesError:
    """One non-2xx Onnie answer as a TablesError (the http layer redacts it afterwards)."""
    error = _error_object(failure.body)
    code = error.get("code") if isinstance(error.get("code"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    if code is None and message is None:
        unreadable = status_error("Onnie", failure.status, failure.text)
        if unreadable.code is ErrorCode.RATE_LIMITED and failure.retry_after is None:
            unreadable = replace(unreadable, retry_after=DEFAULT_RATE_WAIT)
        return unreadable
    raw_details = error.get("details")
    details: Mapping[str, Any] = raw_details if isinstance(raw_details, Mapping) else {}
    text = f"Onnie: {message or code}" + (f" ({code})" if code else "")
    found = error_for(
        RULES,
        code,
        text,
        status=failure.status,
        fallback=code_for_status(failure.status),
        retry_after=failure.retry_after,
        field_errors=field_errors(details),
    )
    if found.code is ErrorCode.PERMISSION_DENIED:
        scope = required_scope(details, message or "")
        if scope:
            found = replace(found, hint=scope_hint(scope))
    return found


def _error_object(body: Any) -> Mapping[str, Any]:
    """The object holding code/message/details, nested under "error" or not."""
    if not isinstance(body, Mapping):
        return {}
    inner = body.get("error")
    if isinstance(inner, Mapping):
        return inner
    if isinstance(inner, str) and "code" not in body:
        return {**body, "code": inner}  # {"error": "rate_limited", "message": ...}
    return body


def field_errors(details: Mapping[str, Any]) -> list[FieldError]:
    """`details.fields` (column name -> message, or a list of {field, message}) as field errors.

    Onnie keys fields by column name, the agent's own names; `details.index` (when present) is the
    record's position in the request, which the batch runner rebases onto the agent's list.
    """
    raw = details.get("fields")
    index = details.get("index")
    record = index if isinstance(index, int) and not isinstance(index, bool) else None
    pairs: list[tuple[str, Any]] = []
    if isinstance(raw, Mapping):
        pairs = [(str(name), detail) for name, detail in raw.items()]
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping):
                name = item.get("field") or item.get("name") or item.get("column")
                pairs.append((str(name or "(record)"), item.get("message") or item.get("messages")))
    return [FieldError(name, _message_text(detail), record=record) for name, detail in pairs]


def _message_text(detail: Any) -> str:
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        return "; ".join(_message_text(item) for item in detail)
    if isinstance(detail, Mapping):
        return _message_text(detail.get("message") or detail.get("messages"))
    return "invalid value"


def required_scope(details: Mapping[str, Any], message: str) -> str | None:
    scope = details.get("required_scope")
    if isinstance(scope, str) and scope:
        return scope
    found = _SCOPE_IN_TEXT.search(message)
    return found[1] if found else None


def scope_hint(scope: str) -> str:
    if scope == WRITE_SCOPE:
        return (
            "The Onnie API key has no tables:write scope, so it can read but not write; ask the user for a key "
            "with tables:write, or run tables-mcp with --read-only."
        )
    return f"The Onnie API key lacks the {scope} scope; ask the user for a key that has it."


def needs_scope(error: TablesError, scope: str) -> TablesError:
    """A permission error of a request that needs `scope`, worded to name it even if Onnie's body did not."""
    if error.code is not ErrorCode.PERMISSION_DENIED or scope in error.message:
        return error
    message = f"{error.message} This needs the API key scope {scope}."
    return replace(error, message=message, hint=scope_hint(scope))
