"""listRecords on Onnie: Onnie's own paging when nothing is filtered or sorted, a bounded scan otherwise.

Onnie's `filter` and `sort` syntax is unpublished, so tables-mcp never sends them: it reads the
table's records in Onnie's order (creation order) and filters and sorts them itself, with the
embedded store's semantics (`kit.record_filter`). A filtered request never returns a record that
does not match, and no call reads more than `max_scan` records:

- no filter, no sort: Onnie's pages, as many as fill `limit` (asking Onnie for no more than is missing,
  so a page always ends where an Onnie page ends); the cursor carries Onnie's `next_cursor`;
- filter, no sort: Onnie pages are read until the page is full or `max_scan` records were read in
  this call; the cursor carries the Onnie page to resume at and short digests of the records of that
  page already returned (so deleting returned records between calls skips nothing, and nothing is
  returned twice). Such a page may hold fewer records than `limit`, even none, while nextCursor
  continues the scan;
- sort (with or without a filter): the whole table is read, up to `max_scan` records, then sorted;
  a larger table is refused with an error saying so (sorting cannot be done on part of a table).
  Pages are offsets into the sorted matches, checked against the id of the last record returned.

Every cursor is the kit's signed envelope, bound to the table and the query's filter, sort and fields.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from ...errors import FieldError, TablesError, invalid_argument
from ...model import ListQuery, Page, Record, Table
from ..kit.cursors import CursorCodec, not_ours, position_refused, query_scope, resume_after
from ..kit.record_filter import matches, sort_records
from .api import OnnieApi, RecordsPage
from .codec import decode_record

MAX_PAGE = 500  # records per listRecords page; more than one Onnie request when over ONNIE_PAGE
ONNIE_PAGE = 100  # Onnie's `limit` bound is unpublished; 100 is the largest page tables-mcp asks Onnie for
SCAN_PAGE = ONNIE_PAGE  # records per Onnie request while scanning (always the same: cursor digests refer to it)
MAX_SCAN = 5_000  # records read by one filtered or sorted listRecords call
MAX_ONNIE_CURSOR = 2048
DIGEST_CHARS = 8


@dataclass
class _Scan:
    """Where a filtered scan stands: the Onnie page it is in and what of that page was already returned."""

    onnie_cursor: str | None
    returned: list[str]


class Pager:
    def __init__(self, api: OnnieApi, codec: CursorCodec, max_scan: int = MAX_SCAN) -> None:
        self.api = api
        self.codec = codec
        self.max_scan = max_scan

    async def page(self, table: Table, query: ListQuery) -> Page:
        scope = query_scope(table.id, query)
        state = self.codec.decode(query.cursor, scope) if query.cursor else {}
        limit = max(1, min(query.limit, MAX_PAGE))
        if query.sort:
            return await self._sorted(table, query, limit, scope, state)
        if query.filter is not None:
            return await self._filtered(table, query, limit, scope, state)
        return await self._plain(table, query, limit, scope, state)

    # -- no filter, no sort: Onnie's own pages ------------------------------------------------------

    async def _plain(self, table: Table, query: ListQuery, limit: int, scope: str, state: dict[str, Any]) -> Page:
        onnie_cursor = _onnie_cursor(state, "p") if state else None
        records: list[Record] = []
        while True:
            page = await self._fetch(table, min(limit - len(records), ONNIE_PAGE), onnie_cursor)
            records += [decode_record(table, raw, query.fields) for raw in page.records]
            onnie_cursor = page.next_cursor
            if onnie_cursor is None or len(records) >= limit or not page.records:
                break
        following = self.codec.encode(scope, {"m": "p", "c": onnie_cursor}) if onnie_cursor else None
        return Page(records, following)

    # -- filter: a bounded forward scan --------------------------------------------------------------

    async def _filtered(self, table: Table, query: ListQuery, limit: int, scope: str, state: dict[str, Any]) -> Page:
        assert query.filter is not None
        scan = _read_scan(state) if state else _Scan(None, [])
        found: list[Record] = []
        read = 0
        while True:
            page = await self._fetch(table, SCAN_PAGE, scan.onnie_cursor)
            read += len(page.records)
            skipped = set(scan.returned)
            more_here = False
            for raw in page.records:
                record = decode_record(table, raw)
                if _digest(record["id"]) in skipped or not matches(query.filter, record["fields"]):
                    continue
                if len(found) == limit:
                    more_here = True
                    break
                found.append(_project(record, query.fields))
                scan.returned.append(_digest(record["id"]))
            if more_here:
                return Page(found, self._scan_cursor(scope, scan))
            if page.next_cursor is None:
                return Page(found, None)
            scan = _Scan(page.next_cursor, [])
            if len(found) == limit or read >= self.max_scan:
                return Page(found, self._scan_cursor(scope, scan))

    def _scan_cursor(self, scope: str, scan: _Scan) -> str:
        return self.codec.encode(scope, {"m": "f", "c": scan.onnie_cursor, "r": scan.returned})

    # -- sort: the whole table, bounded ---------------------------------------------------------------

    async def _sorted(self, table: Table, query: ListQuery, limit: int, scope: str, state: dict[str, Any]) -> Page:
        records = await self._whole_table(table)
        if query.filter is not None:
            records = [record for record in records if matches(query.filter, record["fields"])]
        ordered = sort_records(records, query.sort)
        start = resume_after(ordered, state) if state else 0
        shown = ordered[start : start + limit]
        end = start + len(shown)
        following = None
        if end < len(ordered):
            following = self.codec.encode(scope, {"m": "s", "o": end, "a": shown[-1]["id"]})
        return Page([_project(record, query.fields) for record in shown], following, total_count=len(ordered))

    async def _whole_table(self, table: Table) -> list[Record]:
        records: list[Record] = []
        onnie_cursor: str | None = None
        while True:
            page = await self._fetch(table, SCAN_PAGE, onnie_cursor)
            records += [decode_record(table, raw) for raw in page.records]
            if page.next_cursor is None:
                return records
            if len(records) >= self.max_scan:
                raise _too_many_to_sort(table, self.max_scan)
            onnie_cursor = page.next_cursor

    async def _fetch(self, table: Table, limit: int, onnie_cursor: str | None) -> RecordsPage:
        with position_refused("Onnie", onnie_cursor):
            return await self.api.records_page(table.id, limit, onnie_cursor)


def _project(record: Record, wanted: tuple[str, ...] | None) -> Record:
    if wanted is None:
        return record
    return {**record, "fields": {name: value for name, value in record["fields"].items() if name in wanted}}


def _digest(record_id: str) -> str:
    """48 bits of the record id: enough to tell apart the at most 100 records of one Onnie page."""
    raw = hashlib.sha256(record_id.encode()).digest()[:6]
    return base64.urlsafe_b64encode(raw).decode()


# -- cursor payloads: untrusted input, checked field by field -----------------------------------------


def _onnie_cursor(state: dict[str, Any], mode: str) -> str | None:
    if state.get("m") != mode:
        raise not_ours()
    cursor = state.get("c")
    if cursor is None or (isinstance(cursor, str) and 0 < len(cursor) <= MAX_ONNIE_CURSOR):
        return cursor
    raise not_ours()


def _read_scan(state: dict[str, Any]) -> _Scan:
    cursor = _onnie_cursor(state, "f")
    returned = state.get("r")
    if not isinstance(returned, list) or len(returned) > SCAN_PAGE:
        raise not_ours()
    if not all(isinstance(item, str) and len(item) == DIGEST_CHARS for item in returned):
        raise not_ours()
    return _Scan(cursor, list(returned))


def _too_many_to_sort(table: Table, max_scan: int) -> TablesError:
    return invalid_argument(
        f"Onnie cannot sort records, so tables-mcp sorts them itself, reading at most {max_scan:,} records of a "
        f"table per call; '{table.name}' has more.",
        [FieldError("sort", f"leave sort out for tables over {max_scan:,} records (they then come in creation order)")],
        hint="Call listRecords without sort; a filter alone works on a table of any size.",
    )
