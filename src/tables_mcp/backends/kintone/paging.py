"""Listing records a page at a time, and the cursors that carry the position between calls.

Without a sort, pages seek on `$id` (no offset limit at all). With a sort, pages use limit/offset up
to Kintone's 10,000 offset cap, then a Kintone cursor (records/cursor.json) that this process keeps
open and reads forward; at most a few are kept, each read to its end or deleted, because Kintone
allows only 10 live cursors per domain. Replicas (stateless HTTP) keep none: the next page of a
listing may reach another process, so past the cap a sorted listing is refused with what to do instead.
Every position a cursor carries is checked as untrusted input.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import anyio

from ...errors import FieldError, TablesError, invalid_argument
from ...model import ListQuery, Page, Table
from ..kit.cursors import CursorCodec, not_ours, query_scope
from .api import KintoneApi
from .codec import decode_record
from .errors import shape_check
from .query import query_code, record_key, render_filter, request_fields

log = logging.getLogger("tables_mcp.backends.kintone")

MAX_PAGE = 500  # Kintone's `limit` cap
MAX_OFFSET = 10_000  # Kintone's `offset` cap
CURSOR_SIZE = 500
MAX_LIVE_CURSORS = 3  # ours; Kintone allows 10 per domain, shared with every other client


@dataclass
class LiveCursor:
    """A Kintone cursor this process reads forward, with records fetched but not yet handed out."""

    kintone_id: str
    scope: str
    position: int
    buffer: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    lock: anyio.Lock = field(default_factory=anyio.Lock)


class Pager:
    """Pages of one domain's records; holds the Kintone cursors this process reads forward."""

    def __init__(self, api: KintoneApi, cursor_codec: CursorCodec, max_offset: int) -> None:
        self._api = api
        self._cursor_codec = cursor_codec
        self.max_offset = min(max_offset, MAX_OFFSET)
        self._cursors: dict[str, LiveCursor] = {}
        self.live_cursors = True  # False on replicas: no Kintone cursor held between calls

    async def aclose(self) -> None:
        for handle in list(self._cursors):
            await self._drop_cursor(handle)

    async def list_records(self, table: Table, query: ListQuery) -> Page:
        """One page of `table` for `query` (its cursor, if any, checked first)."""
        scope = query_scope(table.id, query)
        state = self._read_cursor_state(query.cursor, scope)
        where = render_filter(query.filter) if query.filter is not None else ""
        codes = request_fields(table, query.fields)
        limit = max(1, min(query.limit, MAX_PAGE))
        if not query.sort:
            return await self._seek_page(table, query, where, codes, limit, state, scope)
        order = ", ".join(f"{query_code(key.column)} {'desc' if key.descending else 'asc'}" for key in query.sort)
        order += ", $id asc"
        if state.get("m") == "c":
            if not self.live_cursors:
                raise replicas_stop_at_the_offset_cap(self.max_offset)
            return await self._cursor_page(table, query, f"{where} order by {order}", codes, limit, state, scope)
        return await self._offset_page(table, query, where, order, codes, limit, state, scope)

    def _read_cursor_state(self, cursor: str | None, scope: str) -> dict[str, Any]:
        """A cursor's positions, each checked as untrusted input: `a` goes into the query text, so only a
        record id passes; `o` is an offset; `h` names a Kintone cursor this process holds."""
        if cursor is None:
            return {}
        state = self._cursor_codec.decode(cursor, scope)
        mode = state.get("m")
        if mode == "s":
            after = record_key(state["a"]) if isinstance(state.get("a"), str) else None
            if after is not None:
                return {"m": mode, "a": after}
        elif mode in ("o", "c"):
            offset, handle = state.get("o"), state.get("h")
            if type(offset) is int and offset >= 0 and (handle is None or isinstance(handle, str)):
                return {"m": mode, "o": offset, "h": handle}
        raise not_ours()

    async def _seek_page(
        self,
        table: Table,
        query: ListQuery,
        where: str,
        codes: list[str] | None,
        limit: int,
        state: dict[str, Any],
        scope: str,
    ) -> Page:
        after = state.get("a")  # a canonical record id: checked by _read_cursor_state
        condition = where
        if after is not None:
            condition = f"$id > {after}" + (f" and ({where})" if where else "")
        text = f"{condition} order by $id asc limit {min(limit + 1, MAX_PAGE)}"
        raws, total = await self._api.records_page(table.id, text, codes, first=query.cursor is None)
        records = [decode_record(table, raw, query.fields) for raw in raws[:limit]]
        more = len(raws) > limit or len(raws) == MAX_PAGE
        next_cursor = None
        if more and records:
            next_cursor = self._cursor_codec.encode(scope, {"m": "s", "a": records[-1]["id"]})
        return Page(records=records, next_cursor=next_cursor, total_count=total)

    async def _offset_page(
        self,
        table: Table,
        query: ListQuery,
        where: str,
        order: str,
        codes: list[str] | None,
        limit: int,
        state: dict[str, Any],
        scope: str,
    ) -> Page:
        offset = int(state.get("o") or 0)
        text = f"{where} order by {order} limit {min(limit + 1, MAX_PAGE)} offset {offset}"
        raws, total = await self._api.records_page(table.id, text, codes, first=query.cursor is None)
        records = [decode_record(table, raw, query.fields) for raw in raws[:limit]]
        more = len(raws) > limit or len(raws) == MAX_PAGE
        next_cursor = None
        if more and records:
            next_offset = offset + len(records)
            # Past Kintone's offset cap the next page comes from a Kintone cursor.
            mode = "o" if next_offset <= self.max_offset else "c"
            next_cursor = self._cursor_codec.encode(scope, {"m": mode, "o": next_offset})
        return Page(records=records, next_cursor=next_cursor, total_count=total)

    async def _cursor_page(
        self,
        table: Table,
        query: ListQuery,
        query_text: str,
        codes: list[str] | None,
        limit: int,
        state: dict[str, Any],
        scope: str,
    ) -> Page:
        position = int(state.get("o") or 0)
        handle = state.get("h")
        if handle is None:
            handle = await self._open_cursor(table, query_text, codes, scope, position)
        live = self._cursors.get(str(handle))
        if live is None or live.scope != scope:
            raise stale_cursor()
        async with live.lock:
            if live.position != position or self._cursors.get(str(handle)) is not live:
                raise stale_cursor()  # this page was already read (or the cursor was given up)
            while len(live.buffer) < limit and not live.done:
                await self._read_cursor(str(handle), live)
            taken, live.buffer = live.buffer[:limit], live.buffer[limit:]
            live.position += len(taken)
            more = bool(live.buffer) or not live.done
        if not more:
            self._cursors.pop(str(handle), None)  # Kintone frees a cursor once it is read to the end
        records = [decode_record(table, raw, query.fields) for raw in taken]
        next_cursor = None
        if more:
            next_cursor = self._cursor_codec.encode(scope, {"m": "c", "o": live.position, "h": handle})
        return Page(records=records, next_cursor=next_cursor)

    async def _open_cursor(self, table: Table, query_text: str, codes: list[str] | None, scope: str, skip: int) -> str:
        while len(self._cursors) >= MAX_LIVE_CURSORS:
            await self._drop_cursor(next(iter(self._cursors)))
        body: dict[str, Any] = {"app": table.id, "query": query_text.strip(), "size": CURSOR_SIZE}
        if codes is not None:
            body["fields"] = codes
        created = await self._api.send("POST", "records/cursor", body=body)
        with shape_check("records/cursor"):
            live = LiveCursor(str(created["id"]), scope, 0)
        handle = secrets.token_urlsafe(9)
        self._cursors[handle] = live
        # The cursor starts at the first record; skip what the offset pages already showed.
        while live.position + len(live.buffer) < skip and not live.done:
            await self._read_cursor(handle, live)
            drop = min(len(live.buffer), skip - live.position)
            live.buffer = live.buffer[drop:]
            live.position += drop
        live.position = skip
        return handle

    async def _read_cursor(self, handle: str, live: LiveCursor) -> None:
        # Reading a cursor advances it: a GET whose answer was lost may have consumed a page, so it
        # is not repeated blindly, and after such a failure the cursor is given up.
        try:
            body = await self._api.get("records/cursor", {"id": live.kintone_id}, idempotent=False)
        except TablesError as exc:
            if exc.backend_code == "CB_IL02":
                self._cursors.pop(handle, None)
                raise stale_cursor() from None
            if exc.status is None:  # no answer: the page may be gone
                await self._drop_cursor(handle)
            raise
        with shape_check("records/cursor"):
            live.buffer.extend(body["records"])
            live.done = not body.get("next")

    async def _drop_cursor(self, handle: str) -> None:
        live = self._cursors.pop(handle, None)
        if live is None or live.done:
            return
        try:
            await self._api.send("DELETE", "records/cursor", body={"id": live.kintone_id})
        except TablesError as exc:  # it expires on its own within 10 minutes
            log.info("Could not delete a Kintone cursor: %s", exc.message)


def replicas_stop_at_the_offset_cap(max_offset: int) -> TablesError:
    return invalid_argument(
        f"Past the first {max_offset:,} records a sorted listing needs a Kintone cursor held open by one server "
        "process, and this server runs as a replica (--stateless), where the next call may reach another one.",
        [
            FieldError(
                "cursor",
                "list without a sort (pages then seek by record id, with no limit), or narrow the filter, e.g. to "
                "a range of the sort column, so that fewer records match",
            )
        ],
    )


def stale_cursor() -> TablesError:
    return invalid_argument(
        "This cursor can no longer be read: beyond 10,000 records Kintone pages forward only, each page once, "
        "and its cursors expire after 10 minutes.",
        [FieldError("cursor", "call listRecords again without a cursor (or with a narrower filter)")],
    )
