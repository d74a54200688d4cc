"""The Onnie Tables adapter: every Onnie table the API key can read is a table, each column a column.

It owns the Backend protocol over Onnie's public REST API: tables from all pages of GET /tables and
each table's columns (cached, keep-last-good), records passed through in Onnie's own shape, creates
split into requests of `RECORDS_PER_REQUEST`, patches as PATCH (an atomic merge; never PUT, which
replaces the record), deletes one request per id, and listRecords in `paging`.

Assumptions where Onnie's documentation is silent (BACKENDS.md §3/§3b; the fake copies them):
- POST records takes at most 100 records and is all-or-nothing per request (it validates the whole
  request, then answers 400 with `details.fields` and, when given, `details.index`); a cap is not
  published, so 100 is our choice, and a larger create is split and can be partly written.
- `limit` accepts 1..100; `next_cursor` is null or absent on the last page; cursors are opaque.
- Records list in creation order without `sort`; `filter` and `sort` are never sent (see `paging`).
- PATCH answers the merged record (unconfirmed); when it does not, the record is read again.
- Scopes are checked before the request body, so an empty create (`{"records": []}`) tells whether a
  key may write without writing anything: 403 no, 400 (or 2xx) yes. Scopes are independent.
- Record ids are UUIDs: any other id is answered not_found without a request.
- A 404 on DELETE of a record that existed a moment before means it is gone: reported as deleted.
- No Retry-After header unless Onnie sends one; a 429 is refused before processing, so the http
  layer retries it (POST included) and otherwise the agent gets a short retryAfter.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from ...errors import ErrorCode, FieldError, TablesError, not_found
from ...http import HttpClient, HttpSettings, RetryPolicy
from ...model import ListQuery, Page, Record, Table, WriteProgress
from ..kit.batches import Part, failed_parts, map_bounded, partial_failure, run_parts, split
from ..kit.cursors import CursorCodec, store_key
from ..kit.outcomes import changed_then_read, existing_ids, settle_delete, still_there
from ..kit.schema_cache import SchemaCache
from .api import OnnieApi, is_onnie_id, shape_check
from .capabilities import CAPABILITIES, CREATE_CONCURRENCY, RECORDS_PER_REQUEST, REQUEST_WORDS
from .codec import decode_record, encode_patch, encode_rows
from .columns import table_from_json
from .errors import map_onnie_error
from .paging import MAX_SCAN, Pager
from .settings import DEFAULT_BASE_URL

log = logging.getLogger("tables_mcp.backends.onnie")

SCHEMA_TTL = 30.0
READ_CONCURRENCY = 4
DELETE_CONCURRENCY = 4
MAX_LISTED_IDS = 20  # ids named one by one in a delete failure message; beyond, they are counted


class OnnieBackend:
    """The Backend protocol over Onnie's public REST API; see the module docstring."""

    name = "onnie"
    capabilities = CAPABILITIES

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 8,
        max_scan: int = MAX_SCAN,
        records_per_request: int = RECORDS_PER_REQUEST,
        schema_ttl: float = SCHEMA_TTL,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        settings = HttpSettings(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json", "User-Agent": "tables-mcp"},
            max_concurrency=max_concurrency,
            retry=retry or RetryPolicy(),
        )
        self._http = HttpClient(settings, map_onnie_error, secrets=[api_key, f"Bearer {api_key}"], name="Onnie")
        self.api = OnnieApi(self._http)
        self.records_per_request = min(records_per_request, RECORDS_PER_REQUEST)
        # Keyed by the API base: every replica and restart pointed at the same Onnie reads the same cursors.
        self._pager = Pager(self.api, CursorCodec(store_key("onnie", self.base_url)), max_scan)
        self._schema: SchemaCache[list[Table]] = SchemaCache(self._load_tables, schema_ttl)
        self._write_allowed: bool | None = None
        self._token: tuple[list[Table] | None, str] = (None, "")

    # -- lifecycle ---------------------------------------------------------------------------------

    async def open(self) -> None:
        """Check the key by loading every table; errors here are loud."""
        await self._schema.get(force=True)

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- tables ------------------------------------------------------------------------------------

    async def list_tables(self) -> list[Table]:
        return list(await self._schema.get())

    async def schema_token(self) -> str:
        tables = await self._schema.get()
        if self._token[0] is not tables:  # digested once per schema load, not on every call
            shape = [table.model_dump(mode="json") for table in tables]
            digest = hashlib.sha256(json.dumps(shape, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
            self._token = (tables, digest[:16])
        return self._token[1]

    async def _load_tables(self) -> list[Table]:
        summaries = await self.api.table_summaries()

        async def detail(summary: dict[str, Any]) -> Table | None:
            try:
                body = await self.api.table(str(summary["id"]))
            except TablesError as exc:
                if exc.code is not ErrorCode.NOT_FOUND:
                    raise
                log.info("Onnie table %s vanished while the tables were read; left out", summary["id"])
                return None
            with shape_check("GET /tables/{id}"):
                return table_from_json({**summary, **body})

        found = await map_bounded(detail, summaries, READ_CONCURRENCY)
        return [table for table in found if table is not None]

    async def can_write(self) -> bool | None:
        """Whether the key has tables:write, from an empty create (which writes nothing); see the docstring."""
        if self._write_allowed is not None:
            return self._write_allowed
        tables = await self._schema.get()
        if not tables:
            return None
        try:
            await self.api.probe_write(tables[0].id)
        except TablesError as exc:
            if exc.code is ErrorCode.PERMISSION_DENIED:
                self._write_allowed = False
            elif exc.code is ErrorCode.INVALID_ARGUMENT:
                self._write_allowed = True
            else:
                raise
            return self._write_allowed
        self._write_allowed = True
        return True

    # -- reading records ---------------------------------------------------------------------------

    async def list_records(self, table: Table, query: ListQuery) -> Page:
        with self._table_context(table):
            return await self._pager.page(table, query)

    async def get_record(self, table: Table, record_id: str) -> Record:
        if not is_onnie_id(record_id):
            raise _no_record(table, record_id)
        with self._record_context(table, record_id):
            body = await self.api.record(table.id, record_id.strip())
        return decode_record(table, body)

    # -- writing records ---------------------------------------------------------------------------

    async def create_records(
        self, table: Table, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> list[Record]:
        parts = split(encode_rows(table, rows), self.records_per_request)

        async def send(part: Part) -> list[Any]:
            try:
                body = await self.api.create(table.id, part.items)
            except TablesError as exc:
                part.uncertain = exc.may_have_applied  # sent, and its answer lost (the http layer says so)
                raise
            try:
                with shape_check("POST /tables/{id}/records"):
                    return [decode_record(table, raw) for raw in body["records"]]
            except TablesError:
                part.uncertain = True  # Onnie said 201, so the records are there; which ids, we cannot tell
                raise

        async def wrote(part: Part) -> None:
            if progress is not None:
                await progress.wrote([record["id"] for record in part.results or []])

        with self._table_context(table):
            await run_parts(parts, send, concurrency=CREATE_CONCURRENCY, on_written=wrote)
        written = [record for part in parts for record in part.results or []]
        if not failed_parts(parts):
            return written
        raise _create_failure(parts, written, len(rows))

    async def patch_record(self, table: Table, record_id: str, fields: dict[str, Any]) -> Record:
        if not is_onnie_id(record_id):
            raise _no_record(table, record_id)
        encoded = encode_patch(table, fields)
        with self._record_context(table, record_id):
            body = await self.api.patch(table.id, record_id.strip(), encoded)
        try:
            return decode_record(table, body.get("record", body) if isinstance(body, dict) else body)
        except TablesError:
            # The PATCH answer is unpublished; when it is not the record, read the record.
            return await changed_then_read(self.get_record(table, record_id), record_id)

    async def delete_records(self, table: Table, record_ids: list[str]) -> list[str]:
        wanted = list(dict.fromkeys(record_id.strip() for record_id in record_ids))
        await self._check_exist(table, wanted)
        parts = split(wanted, 1)

        async def send(part: Part) -> list[Any]:
            [record_id] = part.items
            try:
                await self.api.delete(table.id, record_id)
            except TablesError as exc:
                # Not found: gone either way (deleted now, a moment ago by a retry, or by someone else). An answer
                # lost: looking the record up says what happened (raises when that fails too).
                if exc.code is not ErrorCode.NOT_FOUND and not await settle_delete(
                    exc, [record_id], [], partial(self._existing, table)
                ):
                    raise still_there(exc) from None
            return [record_id]

        with self._table_context(table):
            await run_parts(parts, send, concurrency=DELETE_CONCURRENCY)
        if failed_parts(parts):
            raise _delete_failure(parts, wanted)
        return wanted

    async def _existing(self, table: Table, record_ids: list[str]) -> list[str]:
        return await existing_ids(partial(self.api.record, table.id), record_ids, READ_CONCURRENCY)

    async def _check_exist(self, table: Table, record_ids: list[str]) -> None:
        """Every id names a record, or nothing is deleted (the deleteRecords contract)."""
        wellformed = [record_id for record_id in record_ids if is_onnie_id(record_id)]
        there = set(await existing_ids(partial(self.get_record, table), wellformed, READ_CONCURRENCY))
        missing = [record_id for record_id in record_ids if record_id not in there]
        if missing:
            raise not_found(
                f"No record with id {', '.join(missing)} in table '{table.name}'; nothing was deleted.",
                hint="Remove the unknown ids (listRecords shows what exists) and call again.",
            )

    # -- error context -----------------------------------------------------------------------------

    def _table_context(self, table: Table) -> _TableContext:
        return _TableContext(self, table, None)

    def _record_context(self, table: Table, record_id: str) -> _TableContext:
        return _TableContext(self, table, record_id)


class _TableContext:
    """Words a 404 in the agent's terms, and makes the schema be read again when a table may be gone."""

    def __init__(self, backend: OnnieBackend, table: Table, record_id: str | None) -> None:
        self.backend = backend
        self.table = table
        self.record_id = record_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if not isinstance(exc, TablesError) or exc.code is not ErrorCode.NOT_FOUND:
            return
        if self.record_id is not None:
            raise replace(_no_record(self.table, self.record_id), backend_code=exc.backend_code, status=exc.status)
        self.backend._schema.invalidate()
        raise replace(
            exc,
            message=f"Table '{self.table.name}' ({self.table.id}) is no longer in Onnie: {exc.message}",
            hint="Call listTables: the table may have been deleted or the API key may no longer see it.",
        )


def _no_record(table: Table, record_id: str) -> TablesError:
    return not_found(f"No record with id {record_id} in table '{table.name}'.", hint="listRecords shows the ids.")


def _create_failure(parts: list[Part], written: list[Record], total: int) -> TablesError:
    failed = failed_parts(parts)
    first = failed[0].error or failed[0].skipped_because
    nothing_sure = not written and not any(part.uncertain for part in parts)
    if nothing_sure and first is not None and all(_systemic(part) for part in failed):
        # Refused as a whole (no scope, key revoked, outage): one error, not a list of every record.
        return replace(first, message=f"Nothing was written: {first.message}")
    return partial_failure(parts, written, total, REQUEST_WORDS)


def _systemic(part: Part) -> bool:
    cause = part.error or part.skipped_because
    return cause is not None and cause.code not in (ErrorCode.INVALID_ARGUMENT, ErrorCode.NOT_FOUND)


def _delete_failure(parts: list[Part], wanted: Sequence[str]) -> TablesError:
    """Which records were deleted and which were not, and why each was not."""
    deleted = [part.items[0] for part in parts if part.results is not None]
    kept = failed_parts(parts)
    first = kept[0].error or kept[0].skipped_because
    assert first is not None, "a failed part has an error or was skipped"
    not_deleted = [part.items[0] for part in kept]
    problems = [
        FieldError(f"recordIds[{part.start}]", _why_not_deleted(part, part.items[0]), record=None) for part in kept
    ]
    done = (
        ", ".join(deleted) if len(deleted) <= MAX_LISTED_IDS else f"all requested ids but the {len(kept)} listed below"
    )
    unknown = [part.items[0] for part in kept if part.error is not None and part.error.may_have_applied]
    message = (
        f"Deleted {len(deleted)} of {len(wanted)} records ({done or 'none'}); not deleted: "
        f"{', '.join(not_deleted)}"
        + (f" (of which {', '.join(unknown)} may have been: the answer was lost)" if unknown else "")
        + f". First failure: {first.message}"
    )
    return replace(
        first, message=message, field_errors=problems, may_have_applied=bool(unknown) or first.may_have_applied
    )


def _why_not_deleted(part: Part, record_id: str) -> str:
    if part.skipped_because is not None:
        return f"{record_id} not deleted: not sent after an earlier failure ({part.skipped_because.message})"
    assert part.error is not None
    if part.error.may_have_applied:
        return f"{record_id} may have been deleted: {part.error.message}"
    return f"{record_id} not deleted: {part.error.message}"


__all__ = ["OnnieBackend"]
