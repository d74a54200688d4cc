"""The Backend protocol over Ozari's (Modular 365) Integration API.

Reads: tables and columns come from Get Tables and Get Fields (see `fields`), cached by the kit's
SchemaCache; listRecords is one query (two when an agent changes `limit` mid-way, see `list_records`);
getRecord is a query on `fid`. Writes: createRecords sends one insert per record, a few at a time, through
the kit's batch runner (parts of one record), then reads the written rows back by `fid` in one query per
200; patchRecord is `PATCH /records/single` with the flat filter `{"fid": id}`, then a read-back. There is
no delete, no table creation and no column change: those raise `unsupported` and the capabilities keep
their tools away.

Assumptions where the sources are silent (each written where the code relies on it):
- `fid` is the primary key of every table and a positive integer (the docs' examples and "Get one record");
  `insertedId` is that fid. When it is null the record cannot be addressed, so it is reported with id null.
- `total` counts every match at the time of the query, and page N with a sort ending in `fid` is stable.
  `per_page` is never sent above 200; an answer paging by another size is refused as a backend error rather
  than trusted, because page arithmetic would then skip or repeat rows.
- The query endpoint passes values as parameters (no SQL text), so LIKE's default escape, the backslash,
  is the escape character of `contains`.
- A 502 or 504 answering an insert, an answer lost after sending it, or a 2xx body that cannot be read,
  may hide a written record: that record is reported as "may have been written", never as not written.
- `flastmodify` exists on most tables (the docs use it for change polling); where a row lacks it,
  updated_at is null. Credential tables (403 on every table endpoint) and tables that vanish between
  Get Tables and Get Fields are left out of the list.
- Cursors are keyed by the base URL and the company that auth/test names, so every replica of the same
  tenant reads the same cursors.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ...errors import ConfigError, ErrorCode, TablesError, not_found
from ...http import RetryPolicy
from ...model import ListQuery, Page, Record, Table, WriteProgress
from ..kit.batches import Part, failed_parts, map_bounded, partial_failure, run_parts, split
from ..kit.cursors import CursorCodec, not_ours, query_scope, store_key
from ..kit.outcomes import changed_then_read
from ..kit.schema_cache import SchemaCache
from .api import MAX_PER_PAGE, OzariApi, shape_check
from .capabilities import CAPABILITIES
from .codec import decode_row, encode_fields, encode_rows, record_from_input, record_key
from .errors import MULTIPLE_MATCH, NO_MATCH, SERVICE, TABLE_NOT_FOUND
from .fields import PRIMARY_KEY, TableEntry, build_table, table_entries, unknown_configured_columns
from .query import filter_tree, sort_list
from .settings import OzariSettings

log = logging.getLogger("tables_mcp.backends.ozari")

SCHEMA_TTL = 30.0
READ_CONCURRENCY = 4
CREATE_CONCURRENCY = 4
REQUEST_WORDS = "one insert request per record; each record is written or not on its own"


@dataclass(frozen=True)
class _Schema:
    tables: list[Table]
    token: str


class OzariBackend:
    """See the module docstring."""

    name = "ozari"
    capabilities = CAPABILITIES

    def __init__(
        self,
        settings: OzariSettings,
        *,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 10,
        schema_ttl: float = SCHEMA_TTL,
        create_concurrency: int = CREATE_CONCURRENCY,
    ) -> None:
        self.settings = settings
        self.create_concurrency = create_concurrency
        self._api = OzariApi(
            settings.base_url, settings.api_token.get_secret_value(), retry=retry, max_concurrency=max_concurrency
        )
        self._types = settings.typed_columns()
        self._schema = SchemaCache(self._load_schema, ttl=schema_ttl)
        self._cursors = CursorCodec(store_key(SERVICE, settings.base_url))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **options: Any) -> OzariBackend:
        """A backend from OZARI_* variables (ConfigError naming the fix when one is wrong)."""
        return cls(OzariSettings.from_environ(environ), **options)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def open(self) -> None:
        """Check the token (auth/test), the label language and OZARI_COLUMN_TYPES; load every table."""
        answer = await self._api.auth_test()
        company = answer.get("company")
        self._cursors = CursorCodec(store_key(SERVICE, self.settings.base_url, str(company or "")))
        await self._check_language()
        schema = await self._schema.get(force=True)
        unknown = unknown_configured_columns(schema.tables, self._types)
        if unknown:
            raise ConfigError(
                f"OZARI_COLUMN_TYPES names {', '.join(unknown)}, which Ozari does not list; use table.field names "
                "from Get Tables and Get Fields (listTables and describeTable show them)"
            )

    async def _check_language(self) -> None:
        codes = [str(item.get("code")) for item in await self._api.languages() if isinstance(item, dict)]
        if codes and self.settings.lang not in codes:
            raise ConfigError(
                f"OZARI_LANG={self.settings.lang!r} is not a language of this Ozari company; "
                f"set it to one of: {', '.join(codes)}"
            )

    async def aclose(self) -> None:
        await self._api.aclose()

    # -- tables ------------------------------------------------------------------------------------

    async def list_tables(self) -> list[Table]:
        return list((await self._schema.get()).tables)

    async def schema_token(self) -> str:
        return (await self._schema.get()).token

    async def can_write(self) -> bool | None:
        return None  # the API has no dry run and no permission listing: only a write would tell

    async def _load_schema(self) -> _Schema:
        lang = self.settings.lang
        entries = table_entries(await self._api.tables(lang))

        async def load(entry: TableEntry) -> Table | None:
            try:
                raw_fields = await self._api.fields(entry.name, lang)
            except TablesError as exc:
                if exc.code not in (ErrorCode.PERMISSION_DENIED, ErrorCode.NOT_FOUND):
                    raise
                log.info("Ozari table %s is left out: %s", entry.name, exc.message)
                return None
            return build_table(entry, raw_fields, self._types)

        tables = [table for table in await map_bounded(load, entries, READ_CONCURRENCY) if table is not None]
        shape = [table.model_dump(mode="json") for table in tables]
        digest = hashlib.sha256(json.dumps(shape, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
        return _Schema(tables, digest[:16])

    # -- reading -----------------------------------------------------------------------------------

    async def list_records(self, table: Table, query: ListQuery) -> Page:
        """One page at the cursor's offset. Pages are numbered in units of `limit`; an offset that is not a
        multiple of it (the agent changed `limit` while paging) is served from two consecutive pages."""
        scope = query_scope(table.id, query)
        offset = self._offset(query.cursor, scope)
        limit = max(1, min(query.limit, MAX_PER_PAGE))
        body: dict[str, Any] = {"sort": sort_list(query.sort)}
        if query.filter is not None:
            body["filters"] = filter_tree(query.filter)
        before, skip = divmod(offset, limit)
        rows, total = await self._page(table, body, before + 1, limit)
        rows = rows[skip:]
        if skip and len(rows) < limit and offset + len(rows) < total:
            more, total = await self._page(table, body, before + 2, limit)
            rows += more[: limit - len(rows)]
        records = [decode_row(table, row, query.fields) for row in rows]
        after = offset + len(records)
        next_cursor = self._cursors.encode(scope, {"o": after}) if records and after < total else None
        return Page(records=records, next_cursor=next_cursor, total_count=total)

    def _offset(self, cursor: str | None, scope: str) -> int:
        if cursor is None:
            return 0
        offset = self._cursors.decode(cursor, scope).get("o")
        if type(offset) is not int or offset < 0:
            raise not_ours()
        return offset

    async def _page(
        self, table: Table, body: dict[str, Any], page: int, per_page: int
    ) -> tuple[list[dict[str, Any]], int]:
        answer = await self._query(table, {**body, "page": page, "per_page": per_page})
        with shape_check("query"):
            rows = [row for row in answer["records"] if isinstance(row, dict)]
            total = int(answer["total"])
            served = int(answer.get("per_page", per_page))
        if served != per_page:
            raise TablesError(
                ErrorCode.BACKEND_ERROR, f"{SERVICE} paged by {served} rows when asked for {per_page}; paging stopped."
            )
        return rows, total

    async def _query(self, table: Table, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._api.query(table.id, body)
        except TablesError as exc:
            self._forget_vanished_table(exc)
            raise

    def _forget_vanished_table(self, exc: TablesError) -> None:
        if exc.code is ErrorCode.NOT_FOUND and TABLE_NOT_FOUND in exc.message:
            self._schema.invalidate()

    async def get_record(self, table: Table, record_id: str) -> Record:
        key = record_key(record_id)
        if key is None:
            raise _no_record(table, record_id)
        found = await self._rows_by_id(table, [key])
        if key not in found:
            raise _no_record(table, record_id)
        return decode_row(table, found[key])

    async def _rows_by_id(self, table: Table, keys: list[int]) -> dict[int, dict[str, Any]]:
        """The rows with these fids (at most 200), by fid."""
        if not keys:
            return {}
        condition = {"field": PRIMARY_KEY, "op": "eq", "value": keys[0]}
        if len(keys) > 1:
            condition = {"field": PRIMARY_KEY, "op": "in", "value": keys}
        body = {"filters": {"and": [condition]}, "sort": sort_list(()), "page": 1, "per_page": len(keys)}
        answer = await self._query(table, body)
        with shape_check("query"):
            rows = [row for row in answer["records"] if isinstance(row, dict)]
        return {key: row for row in rows if (key := record_key(row.get(PRIMARY_KEY))) is not None}

    # -- writing -----------------------------------------------------------------------------------

    async def create_records(
        self, table: Table, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> list[Record]:
        encoded = encode_rows(table, rows)  # every name and value checked before the first request
        parts = split(encoded, 1)

        async def send(part: Part) -> list[Any]:
            return [await self._insert(table, part)]

        async def wrote(part: Part) -> None:
            if progress is not None:
                await progress.wrote([str(key) for key in part.results or () if key is not None])

        await run_parts(parts, send, concurrency=self.create_concurrency, on_written=wrote)
        written = await self._written_records(table, encoded, parts)
        if failed_parts(parts):
            raise partial_failure(parts, written, len(rows), REQUEST_WORDS)
        return written

    async def _insert(self, table: Table, part: Part) -> int | None:
        """One insert; the new fid, or None when Ozari answers `insertedId: null`."""
        try:
            answer = await self._api.insert(table.id, part.items[0])
        except TablesError as exc:
            self._forget_vanished_table(exc)
            part.uncertain = _may_have_been_written(exc)
            # Field errors name the one record of this part; the batch runner rebases them.
            raise replace(exc, field_errors=[replace(fe, record=0) for fe in exc.field_errors]) from None
        inserted = answer.get("insertedId")
        key = record_key(inserted)
        if key is None and inserted is not None:
            log.warning("Ozari answered insertedId %r, which is not a record id", inserted)
        return key

    async def _written_records(self, table: Table, encoded: list[dict[str, Any]], parts: list[Part]) -> list[Record]:
        """The written records in input order, as Ozari stored them where they can be read back by fid."""
        done = [part for part in parts if part.results is not None]
        keys = [part.results[0] for part in done if part.results and part.results[0] is not None]
        found: dict[int, dict[str, Any]] = {}
        try:
            for start in range(0, len(keys), MAX_PER_PAGE):
                found.update(await self._rows_by_id(table, keys[start : start + MAX_PER_PAGE]))
        except TablesError as exc:
            log.warning("Reading %d created Ozari records back failed: %s", len(keys), exc.message)
        records = []
        for part in done:
            key = part.results[0] if part.results else None
            row = found.get(key) if key is not None else None
            sent = encoded[part.start]
            records.append(decode_row(table, row) if row else record_from_input(_text(key), table, sent))
        return records

    async def patch_record(self, table: Table, record_id: str, fields: dict[str, Any]) -> Record:
        key = record_key(record_id)
        if key is None:
            raise _no_record(table, record_id)
        values = encode_fields(table, fields)
        try:
            answer = await self._api.update_single(table.id, key, values)
        except TablesError as exc:
            self._forget_vanished_table(exc)
            if exc.code is ErrorCode.NOT_FOUND and NO_MATCH in exc.message:
                raise replace(_no_record(table, record_id), status=exc.status) from None
            if MULTIPLE_MATCH in exc.message:
                raise _several_records(table, record_id, exc) from None
            raise
        # `updated` is 0 when the values were already those: still a success, as long as one row matched.
        if answer.get("matched", 1) != 1:
            raise _several_records(table, record_id, None)
        return await changed_then_read(self.get_record(table, record_id), record_id)


def _may_have_been_written(exc: TablesError) -> bool:
    """Whether a failed insert may still have been applied (see the module docstring)."""
    if exc.code is ErrorCode.BACKEND_ERROR and exc.status is None:
        return True  # a 2xx answer without success: true: the platform accepted the request
    # Sent, then the answer was lost (timeout, reset), unreadable, or lost behind a gateway (502/504).
    return exc.may_have_applied


def _text(key: Any) -> str | None:
    return None if key is None else str(key)


def _no_record(table: Table, record_id: str) -> TablesError:
    return not_found(f"No record with id {record_id} in table '{table.name}'.", hint="listRecords shows the ids.")


def _several_records(table: Table, record_id: str, cause: TablesError | None) -> TablesError:
    return TablesError(
        ErrorCode.BACKEND_ERROR,
        f"Ozari matched more than one record of table '{table.name}' with fid {record_id}, so nothing was changed; "
        "fid should be the table's unique key.",
        status=cause.status if cause else None,
        hint="Report this to the Modular 365 administrator: the table's fid is not unique.",
    )
