"""The DingTalk Notable (AI table / 多维表) adapter: each sheet of one base is a table, each field a column.

It owns the Backend protocol on top of `api.NotableApi`: tables from the sheet and field lists (kit
schema cache: 30 s TTL, one load at a time, last good schema kept through outages), records read
(listing: paging.py), inserted (writes.py: exactly once), updated and deleted, and the capabilities
agents are told about.

Assumptions where the sources are silent (each said again where it is implemented):
- A create is split into requests of 100 records, each all-or-nothing (§3b; the fake's behaviour);
  the ids DingTalk lists under a clientToken come in the order the records were sent.
- `nextToken` continues after the last record returned whatever `maxResults` the next request asks,
  so a page of any size maps onto requests of at most 100 with no offset kept.
- Days are those of China Standard Time (UTC+8); date filters compare by day.
- The records/list API has no sort: tables-mcp sorts at most 1,000 matching records itself (paging.py).
- Record ids are opaque (`rec...`); a record written is read back by id, one GET per record, to
  return what DingTalk stored (formulas, timestamps); if that read fails, the values as sent are
  returned with null timestamps.
- A delete request is all-or-nothing; when it answers "not found", each of its ids is looked up to
  name the missing ones; a delete of more than 100 ids checks that all exist first.
- Fields carry no "required" flag on DingTalk, so no column is required.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from ...errors import ErrorCode, TablesError, not_found
from ...model import Capabilities, ColumnType, ListQuery, Page, Record, Table, WriteProgress
from ..kit.batches import Part, failed_parts, map_bounded, partial_failure, run_parts, split
from ..kit.cursors import CursorCodec, store_key
from ..kit.outcomes import changed_then_read, existing_ids, settle_delete, still_there
from ..kit.schema_cache import SchemaCache
from .api import ApiTuning, NotableApi, shape_check
from .codec import decode_record, decode_value, encode_fields, encode_value
from .fields import table_from_sheet
from .filters import OPERATORS
from .paging import MAX_PAGE, MAX_SCAN, Pager
from .settings import DingTalkSettings
from .writes import RECORDS_PER_WRITE, insert_part

log = logging.getLogger("tables_mcp.backends.dingtalk")

MAX_CREATE = 1000
SCHEMA_TTL = 30.0
READ_CONCURRENCY = 4  # DingTalk allows 20 calls per second per app and API (standard edition, §3b)
WRITE_CONCURRENCY = 1  # one insert after another: records are stored (and listed) in input order
REQUEST_WORDS = "100 records per request, all-or-nothing per request"

# Sorted by tables-mcp over a bounded scan (paging.py): single values only, no lists.
SORTABLE = frozenset(
    {
        ColumnType.TEXT,
        ColumnType.EMAIL,
        ColumnType.PHONE,
        ColumnType.URL,
        ColumnType.NUMBER,
        ColumnType.DATE,
        ColumnType.DATETIME,
        ColumnType.SELECT,
        ColumnType.BOOLEAN,
    }
)
CAPABILITIES = Capabilities(
    create_table=False,
    delete=True,
    patch=True,
    atomic_create=False,
    max_create_batch=MAX_CREATE,
    max_page_size=MAX_PAGE,
    operators=dict(OPERATORS),
    sortable_types=SORTABLE,
    notes=(
        "DingTalk writes 100 records per request, all-or-nothing per request: a larger create can be partly "
        "written, and the result then lists the written records and the failed indexes.",
        f"DingTalk cannot sort: with a sort, tables-mcp reads the matching records (at most {MAX_SCAN:,}) and "
        "sorts them itself; without one, records come in the sheet's order.",
        "Filters are one level deep on DingTalk: conditions joined all by 'and' or all by 'or'. 'in' on text or "
        "numbers and 'ne' on dates work alone or inside 'or' only. DATETIME columns filter by isEmpty/isNotEmpty.",
        "DATE values are days in China Standard Time (UTC+8); DATETIME values are returned in UTC.",
        "USER values are unionIds (department columns: deptIds); REFERENCE values are record ids; a URL column "
        "holds the link (its display text is set to the link when written).",
    ),
)


@dataclass(frozen=True)
class _Schema:
    tables: list[Table]
    token: str


class DingTalkBackend:
    """The Backend protocol over DingTalk Notable; see the module docstring."""

    name = "dingtalk"
    capabilities = CAPABILITIES

    def __init__(
        self,
        settings: DingTalkSettings,
        *,
        tuning: ApiTuning | None = None,
        schema_ttl: float = SCHEMA_TTL,
        write_concurrency: int = WRITE_CONCURRENCY,
        max_scan: int = MAX_SCAN,
    ) -> None:
        self.settings = settings
        self.api = NotableApi(settings, tuning)
        self.write_concurrency = write_concurrency
        self._schema = SchemaCache(self._load_schema, schema_ttl)
        # Keyed by the host and base, so that every replica and restart reads the same cursors.
        cursors = CursorCodec(store_key("dingtalk", settings.api_base_url, settings.base_id))
        self._pager = Pager(self.api, cursors, max_scan)

    # -- lifecycle and tables --------------------------------------------------------------------------------

    async def open(self) -> None:
        """Fetch a token and read every sheet's fields: bad credentials, ids or permissions fail here, loudly."""
        await self._schema.get(force=True)

    async def aclose(self) -> None:
        await self.api.aclose()

    async def list_tables(self) -> list[Table]:
        return list((await self._schema.get()).tables)

    async def schema_token(self) -> str:
        return (await self._schema.get()).token

    async def can_write(self) -> bool | None:
        return None  # DingTalk has no dry run, and an app's permissions cannot be read back

    async def _load_schema(self) -> _Schema:
        sheets = await self.api.sheets()

        async def fields(sheet: dict[str, Any]) -> list[dict[str, Any]]:
            return await self.api.fields(str(sheet.get("id")))

        with shape_check("GetAllSheets"):
            listed = [sheet for sheet in sheets if sheet.get("id") and sheet.get("name")]
        all_fields = await map_bounded(fields, listed, READ_CONCURRENCY)
        with shape_check("GetAllFields"):
            tables = [table_from_sheet(sheet, found) for sheet, found in zip(listed, all_fields, strict=True)]
        shape = json.dumps([listed, all_fields], sort_keys=True, ensure_ascii=False, default=str)
        return _Schema(tables, hashlib.sha256(shape.encode()).hexdigest()[:16])

    # -- reading records -------------------------------------------------------------------------------------

    async def list_records(self, table: Table, query: ListQuery) -> Page:
        return await self._pager.page(table, query)

    async def get_record(self, table: Table, record_id: str) -> Record:
        with _record_context(table, record_id):
            raw = await self.api.get_record(table.id, record_id)
        with shape_check("GetRecord"):
            return decode_record(table, raw)

    # -- writing records -------------------------------------------------------------------------------------

    async def create_records(
        self, table: Table, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> list[Record]:
        encoded = [encode_fields(table, row, keep_empty=False) for row in rows]
        parts = split(encoded, RECORDS_PER_WRITE)

        async def send(part: Part) -> list[str]:
            return await insert_part(self.api, table.id, part)

        async def wrote(part: Part) -> None:
            if progress is not None:
                await progress.wrote(list(part.results or []))

        await run_parts(parts, send, concurrency=self.write_concurrency, on_written=wrote)
        written = await self._written_records(table, rows, parts)
        if not failed_parts(parts):
            return written
        raise partial_failure(parts, written, len(rows), REQUEST_WORDS)

    async def _written_records(self, table: Table, rows: list[dict[str, Any]], parts: list[Part]) -> list[Record]:
        """The records written, as DingTalk now holds them (formulas, timestamps), in the order sent."""
        ids = [
            (part.start + offset, record_id) for part in parts for offset, record_id in enumerate(part.results or [])
        ]

        async def reread(item: tuple[int, str]) -> Record:
            index, record_id = item
            try:
                return await self.get_record(table, record_id)
            except TablesError as exc:
                log.warning("Re-reading created DingTalk record %s failed: %s", record_id, exc.message)
                return _record_from_input(table, record_id, rows[index])

        return await map_bounded(reread, ids, READ_CONCURRENCY)

    async def patch_record(self, table: Table, record_id: str, fields: dict[str, Any]) -> Record:
        cells = encode_fields(table, fields, keep_empty=True)
        with _record_context(table, record_id):
            await self.api.update(table.id, [(record_id, cells)])
        return await changed_then_read(self.get_record(table, record_id), record_id)

    async def delete_records(self, table: Table, record_ids: list[str]) -> list[str]:
        wanted = list(dict.fromkeys(record_ids))
        if len(wanted) > RECORDS_PER_WRITE:
            await self._all_exist(table, wanted)  # several requests: nothing is deleted unless all exist
        deleted: list[str] = []
        for start in range(0, len(wanted), RECORDS_PER_WRITE):
            batch = wanted[start : start + RECORDS_PER_WRITE]
            try:
                await self.api.delete(table.id, batch)
            except TablesError as exc:
                if exc.may_have_applied:  # the answer was lost: what is left says what the request did
                    gone = await settle_delete(exc, batch, deleted, partial(self._existing, table))
                    deleted += gone
                    if gone == batch:
                        continue
                    exc = still_there(exc)
                elif exc.code is ErrorCode.NOT_FOUND:
                    await self._all_exist(table, batch, deleted)
                if deleted:
                    raise TablesError(
                        exc.code,
                        f"Deleted {len(deleted)} record(s) ({', '.join(deleted)}) before a failure: {exc.message}",
                        status=exc.status,
                        backend_code=exc.backend_code,
                    ) from None
                raise exc from None
            deleted += batch
        return deleted

    async def _existing(self, table: Table, ids: list[str]) -> list[str]:
        return await existing_ids(partial(self.api.get_record, table.id), ids, READ_CONCURRENCY)

    async def _all_exist(self, table: Table, ids: list[str], deleted: Sequence[str] = ()) -> None:
        """not_found naming every id of `ids` that is not in the table (and what was deleted before)."""
        there = set(await self._existing(table, ids))
        absent = [record_id for record_id in ids if record_id not in there]
        if absent:
            done = f"deleted before: {', '.join(deleted)}" if deleted else "nothing was deleted"
            raise not_found(
                f"No record with id {', '.join(absent)} in table '{table.name}'; {done}.",
                hint="Remove the unknown ids (listRecords shows what exists) and call again.",
            )


def _record_from_input(table: Table, record_id: str, row: dict[str, Any]) -> Record:
    """A written record from the values sent (normalised as DingTalk would hold them), when it cannot be read."""
    fields = {}
    for name, value in row.items():
        column = table.column(name)
        if column is not None and value not in (None, "", []):
            fields[name] = decode_value(column, encode_value(column, value))
    return {"id": record_id, "fields": fields, "created_at": None, "updated_at": None}


@contextmanager
def _record_context(table: Table, record_id: str) -> Iterator[None]:
    """A record-level "not found" in words an agent can act on."""
    try:
        yield
    except TablesError as exc:
        if exc.code is not ErrorCode.NOT_FOUND or exc.backend_code != "invalidRequest.resource.notFound":
            raise
        raise not_found(
            f"No record with id '{record_id}' in table '{table.name}' ({exc.message}).",
            hint="listRecords shows the records that exist and their ids.",
        ) from None
