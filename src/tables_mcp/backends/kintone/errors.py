"""Kintone error bodies (`code`, `id`, `message`, `errors`) as TablesError: the code families, the hints
that name the user's fix, field errors with their record index, and record-not-found worded for agents.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any

from ...errors import ErrorCode, FieldError, TablesError, not_found
from ...http import ErrorResponse, status_error
from ...model import Table
from ..kit.error_table import Rule, error_for
from ..kit.shapes import shape_check as read_answer

DEFAULT_RATE_RETRY = 1.0  # seconds; Kintone's throttling answers carry no Retry-After
RECORDS_PER_WRITE = 100  # Kintone's limit for POST/PUT/DELETE records.json, and so per write of a bulkRequest
_AUTH_HINT = (
    "Kintone rejected the configured credentials; ask the user to check KINTONE_API_TOKEN (one token per app, "
    "comma-separated) or KINTONE_USERNAME / KINTONE_PASSWORD."
)
_PERMISSION_HINT = (
    "The configured Kintone user or API token lacks this permission (view, add, edit or delete); ask the user to "
    "grant it in the app's settings."
)


def _rules(codes: str, rule: Rule) -> dict[str, Rule]:
    return dict.fromkeys(codes.split(), rule)


# Kintone's error codes (BACKENDS.md, Kintone) as data; a code not here falls back to the HTTP status.
RULES: dict[str, Rule] = {
    **_rules("CB_AU01 CB_WA01 GAIA_IA02 GAIA_DA03", Rule(ErrorCode.UNAUTHENTICATED, _AUTH_HINT)),
    **_rules("CB_NO02 GAIA_NO01", Rule(ErrorCode.PERMISSION_DENIED, _PERMISSION_HINT)),
    **_rules("GAIA_RE01 GAIA_BL01 GAIA_RE02 GAIA_RE20 CB_IL02", Rule(ErrorCode.NOT_FOUND)),
    "GAIA_AP01": Rule(
        ErrorCode.NOT_FOUND,
        "The app does not exist (or was deleted); listTables shows the apps, and KINTONE_APP_IDS names them.",
    ),
    "GAIA_CO02": Rule(ErrorCode.CONFLICT),
    **_rules("GAIA_TO04 GAIA_TM12", Rule(ErrorCode.RATE_LIMITED, retry_after=DEFAULT_RATE_RETRY)),
    "GAIA_IL23": Rule(
        ErrorCode.BACKEND_ERROR,
        "The app is in a guest space: ask the user to set KINTONE_GUEST_SPACE_ID to that space's id.",
    ),
}
# Kintone's CB_VA01 message for a value a "prohibit duplicate values" field already holds (English and Japanese
# user languages): a conflict with another record, as the embedded store's unique columns answer it.
_DUPLICATE_MESSAGES = ("already exists in another record", "ほかのレコードと重複")
_DUPLICATE_HINT = (
    "The field prohibits duplicate values and another record already holds this one: use that record "
    "(listRecords with an eq filter finds it) or upsertRecords with the field as keyField."
)


def _is_duplicate(message: str) -> bool:
    return any(words in message for words in _DUPLICATE_MESSAGES)


_STATUS_HINTS = {ErrorCode.UNAUTHENTICATED: _AUTH_HINT, ErrorCode.PERMISSION_DENIED: _PERMISSION_HINT}


def map_kintone_error(failure: ErrorResponse) -> TablesError:
    """A Kintone error body (`code`, `id`, `message`, `errors`) as a TablesError."""
    body = failure.body if isinstance(failure.body, dict) else {}
    if isinstance(body.get("results"), list) and "code" not in body:
        return _bulk_error(failure, body["results"])
    code = body.get("code") if isinstance(body.get("code"), str) else None
    message = body.get("message") if isinstance(body.get("message"), str) else None
    if code is None or message is None:
        return status_error("Kintone", failure.status, failure.text)
    fallback = status_error("Kintone", failure.status, "").code
    error = error_for(
        RULES,
        code,
        f"Kintone: {message} ({code})",
        status=failure.status,
        fallback=fallback,
        retry_after=failure.retry_after,
        field_errors=parse_field_errors(body.get("errors")),
    )
    if code in RULES:
        return error
    if error.field_errors and all(_is_duplicate(fe.message) for fe in error.field_errors):
        return replace(error, code=ErrorCode.CONFLICT, hint=_DUPLICATE_HINT)
    # A code Kintone added since: the status decides, with the hint and wait that status implies.
    wait = error.retry_after
    if fallback is ErrorCode.RATE_LIMITED and wait is None:
        wait = DEFAULT_RATE_RETRY
    return replace(error, hint=_STATUS_HINTS.get(fallback), retry_after=wait)


def _bulk_error(failure: ErrorResponse, results: list[Any]) -> TablesError:
    """A failed bulkRequest answers `{"results": [{}, <the failing write's error>, {}...]}` and writes nothing: the
    failing write's error, its record indexes counted across the whole bulk (each write holds 100 records)."""
    for index, result in enumerate(results):
        if isinstance(result, dict) and isinstance(result.get("code"), str):
            error = map_kintone_error(replace(failure, body=result))
            shift = index * RECORDS_PER_WRITE
            field_errors = [
                replace(fe, record=fe.record + shift) if fe.record is not None else fe for fe in error.field_errors
            ]
            return replace(error, field_errors=field_errors)
    return status_error("Kintone", failure.status, failure.text)


_RECORD_PREFIX = re.compile(r"records\[(\d+)\]\.?")
_FIELD_HEAD = re.compile(r"\[([^\]]+)\]|([^.\[]+)")
_SUBTABLE_TAIL = re.compile(r"\.value\[(\d+)\]\.value\.([^.\[]+)")


def parse_field_errors(errors: Any) -> list[FieldError]:
    """Kintone's `errors` map (`records[3].Status.value` -> messages) as field errors.

    The record index is the one within the request; callers that split batches rebase it.
    """
    if not isinstance(errors, dict):
        return []
    out: list[FieldError] = []
    seen: set[tuple[int | None, str, str]] = set()
    for key, detail in errors.items():
        record, field_name = parse_error_key(str(key))
        messages = detail.get("messages") if isinstance(detail, dict) else None
        text = " ".join(str(m) for m in messages) if isinstance(messages, list) and messages else "invalid value"
        if (record, field_name, text) not in seen:
            seen.add((record, field_name, text))
            out.append(FieldError(field_name, text, record=record))
    return out


def parse_error_key(key: str) -> tuple[int | None, str]:
    """`records[3].Items.value[1].value.Qty.value` -> (3, "Items[1].Qty"); `record[Num].value` -> (None, "Num")."""
    record: int | None = None
    match = _RECORD_PREFIX.match(key)
    if match:
        record, rest = int(match[1]), key[match.end() :]
    elif key.startswith("record.") or key.startswith("record["):
        rest = key[len("record.") :] if key.startswith("record.") else key[len("record") :]
    else:
        return None, key  # a request parameter such as `app`, `records` or `query`
    head = _FIELD_HEAD.match(rest)
    if head is None:
        return record, rest
    code = head[1] or head[2]
    sub = _SUBTABLE_TAIL.match(rest, head.end())
    return record, f"{code}[{sub[1]}].{sub[2]}" if sub else code


def no_record(table: Table, record_id: str) -> TablesError:
    return not_found(f"No record with id {record_id} in table '{table.name}'.", hint="listRecords shows the ids.")


@contextmanager
def record_context(table: Table, record_id: str) -> Iterator[None]:
    """Words Kintone's record-not-found in the agent's terms (same code and backend code)."""
    try:
        yield
    except TablesError as exc:
        if exc.backend_code == "GAIA_RE01":
            raise replace(no_record(table, record_id), backend_code="GAIA_RE01", status=exc.status) from None
        raise


def shape_check(endpoint: str) -> AbstractContextManager[None]:
    """A body without the documented shape is a backend error, never a crash."""
    return read_answer("Kintone", endpoint)
