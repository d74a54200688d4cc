"""Ozari's error answers as `TablesError`: the `{"success": false, "error": "..."}` envelope mapped by status.

- 400: invalid_argument; the message is attached to the field it names ("Invalid field name: x", "Unknown
  field: x", "Cannot set primary key column: fid", "Invalid value for field x: ...", or "filter" for a
  message about a query path such as `filters.and[0]`).
- 401, and 403 "Invalid token": unauthenticated (the token is never part of a message).
- 403 "This table is not readable through the integration API": permission_denied (credential tables).
- 404: not_found ("Table not found", "No records match the given filters"); 409 "Multiple records match":
  backend_error (a record id should match one record: this is a bug, not the agent's to fix).
- 500 naming a column ("Incorrect integer value: 'abc' for column 'fqty' at row 1", the database refusing a
  value): invalid_argument on that column; any other 5xx (JSON or a proxy's HTML page): unavailable.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import ErrorCode, FieldError, TablesError
from ...http import ErrorResponse, status_error

SERVICE = "Ozari"
NOT_READABLE = "not readable through the integration API"
NO_MATCH = "No records match"
MULTIPLE_MATCH = "Multiple records match"
TABLE_NOT_FOUND = "Table not found"

# The field a 400 message names, by the platform's wording (and the fake's, where the docs are silent).
_FIELD_MESSAGES = (
    re.compile(r"^Invalid field name: (?P<field>.+)$"),
    re.compile(r"^Unknown field: (?P<field>\w+)$"),
    re.compile(r"^Cannot set primary key column: (?P<field>\w+)$"),
    re.compile(r"^Invalid value for (?:field|filter) (?P<field>\w+):"),
)
_QUERY_PATH = re.compile(r"\bfilters(?:\.(?:and|or)\[\d+\])*|\bsort\[\d+\]|\bselect\[\d+\]|\"(?:filters|sort)\"")
_DATABASE_COLUMN = re.compile(r"for column '(?P<field>\w+)'")

HINTS = {
    ErrorCode.UNAUTHENTICATED: "Ozari rejected the API token; ask the user to check OZARI_API_TOKEN (an integration "
    "token of the Modular 365 company, without the 'Bearer ' prefix).",
    ErrorCode.PERMISSION_DENIED: "This table holds credential data: Ozari never lets the Integration API read it, "
    "whatever the token.",
}


def map_ozari_error(failure: ErrorResponse) -> TablesError:
    """One non-2xx Ozari answer as a TablesError (see the module docstring)."""
    message = _envelope_message(failure.body)
    status = failure.status
    if message is None:
        # A proxy's HTML page (502/503/504) or some other body: the status says all there is.
        return status_error(SERVICE, status, failure.text)
    code, field_errors = _classify(status, message)
    if code is ErrorCode.RATE_LIMITED and failure.retry_after is None:
        retry_after: float | None = 1.0
    else:
        retry_after = failure.retry_after
    return TablesError(
        code,
        f"{SERVICE}: {message}",
        field_errors=field_errors,
        retry_after=retry_after,
        status=status,
        hint=HINTS.get(code),
    )


def _envelope_message(body: Any) -> str | None:
    if isinstance(body, dict) and body.get("success") is False and isinstance(body.get("error"), str):
        return str(body["error"])
    return None


def _classify(status: int, message: str) -> tuple[ErrorCode, list[FieldError]]:
    if status == 400:
        return ErrorCode.INVALID_ARGUMENT, field_errors_for(message)
    if status == 401:
        return ErrorCode.UNAUTHENTICATED, []
    if status == 403:
        return (ErrorCode.PERMISSION_DENIED if NOT_READABLE in message else ErrorCode.UNAUTHENTICATED), []
    if status == 404:
        return ErrorCode.NOT_FOUND, []
    if status == 409:
        return ErrorCode.BACKEND_ERROR, []
    if status == 429:
        return ErrorCode.RATE_LIMITED, []
    if status >= 500:
        column = _DATABASE_COLUMN.search(message)
        if column is not None:
            return ErrorCode.INVALID_ARGUMENT, [FieldError(column["field"], message)]
        return ErrorCode.UNAVAILABLE, []
    return status_error(SERVICE, status, message).code, []


def field_errors_for(message: str) -> list[FieldError]:
    """The field a 400 message is about, if it names one."""
    if message == "Invalid table name":
        return [FieldError("table", message)]
    for pattern in _FIELD_MESSAGES:
        match = pattern.match(message)
        if match is not None:
            return [FieldError(match["field"], message)]
    if _QUERY_PATH.search(message):
        # The path is in the query Ozari received, which the adapter built from the agent's filter.
        return [FieldError("filter", message)]
    return []
