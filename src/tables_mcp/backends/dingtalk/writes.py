"""Inserting records exactly once: one fresh `clientToken` per request, and the ids recovered when an answer is lost.

Each insert request carries a new UUID v4 `clientToken` (query parameter); DingTalk executes a
repeated token only once (seed 002). So:
- the http layer may repeat an insert whose answer was lost (reset, timeout, 5xx): the repeat carries
  the same token, and DingTalk answers it with the ids first written, or with 409
  `invalidRequest.duplicateClientToken` (§3b: both happen);
- a 409 for our own token, or any failure that does not prove DingTalk refused the request (no
  answer, a 5xx, a garbled 200), is settled by asking `changedRecordIds/query` for that token: the ids
  written under it are the request's outcome. All of them: written. None (and no 409): not written.
  Anything else, or no answer to the question either: the part is `uncertain` ("may have been written").

The ids DingTalk lists for a token are taken to be in the order the records were sent (assumed).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ...errors import ErrorCode, TablesError
from ..kit.batches import Part
from .api import NotableApi
from .errors import DUPLICATE_CLIENT_TOKEN, SERVICE

log = logging.getLogger("tables_mcp.backends.dingtalk")

RECORDS_PER_WRITE = 100  # what DingTalk's own CLI and its users send per request (§3b)


def new_client_token() -> str:
    return str(uuid.uuid4())


async def insert_part(
    api: NotableApi, sheet_id: str, part: Part, client_token: Callable[[], str] = new_client_token
) -> list[str]:
    """Insert one part's encoded rows; its ids, or a TablesError (the part marked uncertain when it may be written)."""
    token = client_token()
    rows: Sequence[Mapping[str, Any]] = part.items
    try:
        return await api.insert(sheet_id, rows, token)
    except TablesError as exc:
        repeat = exc.backend_code == DUPLICATE_CLIENT_TOKEN
        if not repeat and _refused(exc):
            raise
        return await _settle(api, token, len(rows), exc, repeat, part)


def _refused(error: TablesError) -> bool:
    """DingTalk answered with one of its own 4xx errors: it did not execute the request."""
    return error.status is not None and 400 <= error.status < 500 and error.backend_code is not None


async def _settle(
    api: NotableApi, token: str, expected: int, cause: TablesError, repeat: bool, part: Part
) -> list[str]:
    try:
        ids = await api.changed_record_ids(token)
    except TablesError as exc:
        log.warning("%s: could not ask which records clientToken %s wrote: %s", SERVICE, token, exc.message)
        part.uncertain = True
        raise cause from None
    if len(ids) == expected:
        log.info("%s: clientToken %s had written %d record(s); answer recovered", SERVICE, token, expected)
        return ids
    if not ids and not repeat:
        raise cause  # nothing was written under this token: the part failed and can be sent again
    part.uncertain = True
    raise replace(
        cause,
        code=ErrorCode.BACKEND_ERROR if repeat else cause.code,
        message=f"{cause.message} (DingTalk lists {len(ids)} of {expected} records written under this request's "
        "clientToken)",
    ) from None
