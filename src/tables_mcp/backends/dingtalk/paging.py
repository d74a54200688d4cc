"""listRecords on DingTalk: `records/list` pages behind the kit cursor, and sorting over a bounded scan.

- Without a sort, a page is one to five `records/list` requests of at most 100 records (`maxResults`),
  the filter sent as DingTalk's own (`filters.py`), `fieldIdOrNames` for a projection; the cursor
  carries DingTalk's `nextToken`, which continues after the last record returned whatever
  `maxResults` the next request asks (assumed), so no offset is kept.
- DingTalk's records/list has no sort, so with a sort tables-mcp reads every matching record (the
  filter still applied by DingTalk), at most `max_scan` of them, and sorts them itself with the
  embedded store's rules (`kit.record_filter`: empty values first ascending, stable). More matches
  than that are refused, saying so: a sort over part of a table would be wrong. Sorted pages are
  offsets into the sorted matches, checked against the id of the last record returned.
"""

from __future__ import annotations

from typing import Any

from ...errors import FieldError, TablesError, invalid_argument
from ...model import ListQuery, Page, Record, Table
from ..kit.cursors import CursorCodec, not_ours, position_refused, query_scope, resume_after
from ..kit.record_filter import sort_records
from .api import NotableApi, shape_check
from .codec import decode_record
from .filters import platform_filter

MAX_PER_REQUEST = 100  # maxResults 1..100, and at most 100 names in fieldIdOrNames (listrecords doc)
MAX_PAGE = 500  # a listRecords page: up to five requests
MAX_SCAN = 1_000  # records one sorted listRecords call reads: ten requests
MAX_TOKEN_CHARS = 2048


class Pager:
    def __init__(self, api: NotableApi, codec: CursorCodec, max_scan: int = MAX_SCAN) -> None:
        self.api = api
        self.codec = codec
        self.max_scan = max_scan

    async def page(self, table: Table, query: ListQuery) -> Page:
        scope = query_scope(table.id, query)
        state = self.codec.decode(query.cursor, scope) if query.cursor else None
        limit = max(1, min(query.limit, MAX_PAGE))
        if query.sort:
            return await self._sorted(table, query, limit, scope, state)
        token = _next_token(state) if state is not None else None
        records, token = await self._read(table, query, limit, token, query.fields)
        return Page(records, self.codec.encode(scope, {"m": "t", "n": token}) if token else None)

    async def _read(
        self, table: Table, query: ListQuery, limit: int, token: str | None, fields: tuple[str, ...] | None
    ) -> tuple[list[Record], str | None]:
        """Up to `limit` matching records from the position `token`, and the position after them."""
        request: dict[str, Any] = {}
        if query.filter is not None:
            request["filter"] = platform_filter(query.filter)
        if fields is not None and len(fields) <= MAX_PER_REQUEST:
            request["fieldIdOrNames"] = list(fields)
        records: list[Record] = []
        for _ in range(-(-limit // MAX_PER_REQUEST) + 2):  # a bound, should DingTalk answer short pages
            body = {**request, "maxResults": min(MAX_PER_REQUEST, limit - len(records))}
            if token:
                body["nextToken"] = token
            with position_refused("DingTalk", token):
                answer = await self.api.list_records(table.id, body)
            with shape_check("ListRecords"):
                records += [decode_record(table, raw, fields) for raw in answer["records"]]
            more = answer.get("hasMore") is True and isinstance(answer.get("nextToken"), str)
            token = str(answer["nextToken"]) if more else None
            if token is None or len(records) >= limit:
                break
        return records, token

    async def _sorted(
        self, table: Table, query: ListQuery, limit: int, scope: str, state: dict[str, Any] | None
    ) -> Page:
        records, more = await self._read(table, query, self.max_scan, None, None)
        if more is not None:
            raise _too_many_to_sort(table, self.max_scan)
        ordered = sort_records(records, query.sort)
        start = resume_after(ordered, state) if state is not None else 0
        shown = ordered[start : start + limit]
        end = start + len(shown)
        following = self.codec.encode(scope, {"m": "s", "o": end, "a": shown[-1]["id"]}) if end < len(ordered) else None
        return Page([_project(record, query.fields) for record in shown], following, total_count=len(ordered))


def _project(record: Record, wanted: tuple[str, ...] | None) -> Record:
    if wanted is None:
        return record
    return {**record, "fields": {name: value for name, value in record["fields"].items() if name in wanted}}


# -- cursor payloads: untrusted input, checked field by field -----------------------------------------------------


def _next_token(state: dict[str, Any]) -> str:
    token = state.get("n")
    if state.get("m") != "t" or not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
        raise not_ours()
    return token


def _too_many_to_sort(table: Table, max_scan: int) -> TablesError:
    return invalid_argument(
        f"DingTalk cannot sort records, so tables-mcp sorts them itself, reading at most {max_scan:,} matching "
        f"records per call; '{table.name}' has more.",
        [FieldError("sort", f"leave sort out, or filter to at most {max_scan:,} records")],
        hint="Call listRecords with a narrower filter, or without sort (records then come in the sheet's order).",
    )
