"""The Kintone adapter's Backend: each Kintone app is a table, each form field a column.

It owns the Backend protocol on top of `api.KintoneApi`: tables from the apps' forms (kit SchemaCache: checked
again every 30 s, the last good schema kept through outages), records read (`paging`), created in
100-record requests (kit batches: all-or-nothing per request, the exact outcome reported when a
create fails part-way), patched and deleted, and the capabilities agents are told about.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import anyio
import anyio.abc

from ...errors import ConfigError, ErrorCode, TablesError, not_found, version_conflict
from ...http import RetryPolicy
from ...model import Capabilities, Column, ColumnType, ListQuery, Page, Record, Table, Upserted, WriteProgress
from ..kit.batches import Part, failed_parts, map_bounded, partial_failure, partial_upsert_failure, run_parts, split
from ..kit.cursors import CursorCodec, store_key
from ..kit.outcomes import changed_then_read, settle_delete, still_there
from ..kit.schema_cache import SchemaCache
from .api import KintoneApi
from .codec import decode_record, encode_row, encode_rows, encode_upserts, record_from_input
from .errors import RECORDS_PER_WRITE, no_record, record_context, shape_check
from .fields import AppForm, plain_text, table_from_form
from .paging import MAX_OFFSET, MAX_PAGE, Pager
from .query import OPERATORS, SORTABLE, id_list, record_key
from .settings import KintoneSettings

log = logging.getLogger("tables_mcp.backends.kintone")

WRITES_PER_BULK = 20  # bulkRequest.json: at most 20 writes, in one transaction
RECORDS_PER_BULK = RECORDS_PER_WRITE * WRITES_PER_BULK
REQUEST_WORDS = "Kintone writes 100 per request, all-or-nothing per request"
BULK_WORDS = "Kintone writes up to 2,000 records per bulk request, all-or-nothing per bulk request"
CREATE_CONCURRENCY = 1  # one request after another: Kintone numbers records as it stores them, in input order
READ_CONCURRENCY = 4
SCHEMA_CHECK_INTERVAL = 30.0

CAPABILITIES = Capabilities(
    create_table=False,
    delete=True,
    patch=True,
    versions=True,  # $revision
    upsert=True,  # PUT records.json with upsert and updateKey
    upsert_key_types=frozenset({ColumnType.TEXT, ColumnType.NUMBER}),  # unique SINGLE_LINE_TEXT or NUMBER fields
    atomic_create=True,  # max_create_batch records are one bulkRequest: one transaction
    atomic_upsert=False,  # PUT records.json, 100 per request
    max_create_batch=1000,
    max_page_size=MAX_PAGE,
    operators=dict(OPERATORS),
    sortable_types=SORTABLE,
    notes=(
        "Kintone writes 100 records per request, all-or-nothing per request: a larger create can be partly "
        "written, and the result then lists the written records and the failed indexes.",
        "'contains' on text is Kintone's word search: it matches whole words, not parts of words.",
        "USER values are user codes: read as a list of codes, written as one code or a list of codes.",
        "DATETIME and TIME values are kept to the minute; DATETIME is returned in UTC.",
        "Writing a SUBTABLE column replaces all of its rows.",
    ),
)
# createRecords is atomic only while one call fits one bulkRequest.
assert CAPABILITIES.max_create_batch <= RECORDS_PER_BULK


@dataclass(frozen=True)
class _Schema:
    tables: list[Table]
    token: str  # changes whenever an app's form changes


class KintoneBackend:
    """The Backend protocol over the Kintone REST API; see the package docstring."""

    name = "kintone"
    capabilities = CAPABILITIES

    def __init__(
        self,
        base_url: str,
        *,
        api_tokens: Sequence[str] = (),
        username: str | None = None,
        password: str | None = None,
        guest_space_id: str | int | None = None,
        app_ids: Sequence[str | int] | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 10,
        schema_check_interval: float = SCHEMA_CHECK_INTERVAL,
        max_offset: int = MAX_OFFSET,
        create_concurrency: int = CREATE_CONCURRENCY,
    ) -> None:
        self.settings = KintoneSettings.of(base_url, api_tokens, username, password, guest_space_id, app_ids)
        self._api = KintoneApi(self.settings, retry, max_concurrency)
        self.create_concurrency = create_concurrency
        self._schema: SchemaCache[_Schema] = SchemaCache(self._load_schema, schema_check_interval)
        # Keyed by the domain (and guest space), so every replica and restart reads the same cursors.
        space = self.settings.guest_space_id or ""
        self._cursor_codec = CursorCodec(store_key("kintone", self.settings.base_url, space))
        self._pager = Pager(self._api, self._cursor_codec, max_offset)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **options: Any) -> KintoneBackend:
        """A backend from KINTONE_* variables (raises ConfigError naming the fix when one is wrong)."""
        return cls.from_settings(KintoneSettings.from_environ(environ), **options)

    @classmethod
    def from_settings(cls, settings: KintoneSettings, **options: Any) -> KintoneBackend:
        return cls(
            settings.base_url,
            api_tokens=settings.api_tokens,
            username=settings.username,
            password=settings.password_text,
            guest_space_id=settings.guest_space_id,
            app_ids=settings.app_ids,
            **options,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        """Check the credentials by loading every app's form; errors here are loud."""
        await self._schema.get(force=True)

    def serve_replicated(self) -> None:
        """Replicas page by seek and offset only: a Kintone cursor lives in the process that opened it."""
        self._pager.live_cursors = False

    async def aclose(self) -> None:
        await self._pager.aclose()
        await self._api.aclose()

    # -- tables ----------------------------------------------------------------------------------

    async def list_tables(self) -> list[Table]:
        return list((await self._schema.get()).tables)

    async def schema_token(self) -> str:
        return (await self._schema.get()).token

    async def can_write(self) -> bool | None:
        # Kintone has no dry run, and API-token rights cannot be read back: only a write would tell.
        return None

    async def _load_schema(self) -> _Schema:
        # The first load is strict: apps named in KINTONE_APP_IDS must be readable at start; later they may vanish.
        forms = await self._fetch_forms(strict=self._schema.current is None)
        shape = [(f.app_id, f.name, f.revision, f.properties) for f in forms.values()]
        digest = hashlib.sha256(json.dumps(shape, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        return _Schema([table_from_form(form) for form in forms.values()], digest[:16])

    async def _fetch_forms(self, strict: bool) -> dict[str, AppForm]:
        apps = await self._list_apps()
        discovered = self.settings.app_ids is None

        async def form(app: dict[str, Any]) -> AppForm | None:
            app_id = str(app["appId"])
            try:
                fields = await self._api.get("app/form/fields", {"app": app_id})
            except TablesError as exc:
                # Apps found by listing may sit in a guest space (another URL) or deny this user: skip
                # them. Apps named in KINTONE_APP_IDS must work at start; later they may vanish.
                unreadable = exc.backend_code == "GAIA_IL23" or exc.code in (
                    ErrorCode.NOT_FOUND,
                    ErrorCode.PERMISSION_DENIED,
                )
                if not unreadable or (strict and not discovered):
                    raise
                log.warning("Kintone app %s is not readable here and is left out: %s", app_id, exc.message)
                return None
            with shape_check("app/form/fields"):
                return AppForm(
                    app_id,
                    str(app.get("name") or f"App {app_id}"),
                    plain_text(app.get("description")),
                    dict(fields["properties"]),
                    str(fields.get("revision", "")),
                )

        forms = await map_bounded(form, apps, READ_CONCURRENCY)
        return {f.app_id: f for f in forms if f is not None}

    async def _list_apps(self) -> list[dict[str, Any]]:
        if self.settings.app_ids is not None:

            async def app_info(app_id: str) -> dict[str, Any]:
                return await self._api.get("app", {"id": app_id})

            return await map_bounded(app_info, self.settings.app_ids, READ_CONCURRENCY)
        apps: list[dict[str, Any]] = []
        while True:
            try:
                page = await self._api.get("apps", {"limit": 100, "offset": len(apps)})
            except TablesError as exc:
                if not self.settings.password_auth and exc.code in (
                    ErrorCode.PERMISSION_DENIED,
                    ErrorCode.UNAUTHENTICATED,
                    ErrorCode.INVALID_ARGUMENT,
                ):
                    raise ConfigError(
                        "KINTONE_APP_IDS is required with API-token auth (Kintone does not list apps for tokens); "
                        "set KINTONE_APP_IDS to the ids of the apps your tokens belong to, e.g. 12,15"
                    ) from None
                raise
            with shape_check("apps"):
                batch = list(page["apps"])
            apps += batch
            if len(batch) < 100:
                return apps

    # -- reading records -------------------------------------------------------------------------

    async def get_record(self, table: Table, record_id: str) -> Record:
        key = record_key(record_id)
        if key is None:
            raise no_record(table, record_id)
        with record_context(table, record_id):
            body = await self._api.get("record", {"app": table.id, "id": key})
        with shape_check("record"):
            return decode_record(table, body["record"], None)

    async def list_records(self, table: Table, query: ListQuery) -> Page:
        return await self._pager.list_records(table, query)

    # -- writing records -------------------------------------------------------------------------

    async def create_records(
        self, table: Table, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> list[Record]:
        # One bulkRequest writes up to 20 x 100 records in one transaction: a 1,000-record create is one request.
        parts = split(encode_rows(table, rows), RECORDS_PER_BULK)

        async def send(part: Part) -> list[str]:
            if len(part.items) <= RECORDS_PER_WRITE:  # one write: records.json itself
                body = await self._api.send("POST", "records", body={"app": table.id, "records": part.items})
                results = [body]
            else:
                writes = [
                    self._api.bulk_item("POST", "records", {"app": table.id, "records": write.items})
                    for write in split(part.items, RECORDS_PER_WRITE)
                ]
                answer = await self._api.send("POST", "bulkRequest", body={"requests": writes})
                with shape_check("bulkRequest"):
                    results = answer["results"]
            with shape_check("records"):
                return [str(record_id) for result in results for record_id in result["ids"]]

        # Kintone's POST answers ids and revisions only, while the result holds the records as stored (computed
        # fields, defaults, the times): written parts are read back as they add up, overlapping the POSTs to go.
        async with anyio.create_task_group() as reading:
            read_back = _ReadBack(self, table, rows, reading, lambda part: list(part.results or []))

            async def wrote(part: Part) -> None:
                read_back.add(part)
                if progress is not None:
                    await progress.wrote(list(part.results or []))

            await run_parts(parts, send, concurrency=self.create_concurrency, on_written=wrote)
            read_back.flush()
        written = [record for part in parts if part.results for record in read_back.records[part.start]]
        if not failed_parts(parts):
            return written
        raise partial_failure(parts, written, len(rows), BULK_WORDS)

    async def upsert_records(
        self, table: Table, key: Column, rows: list[dict[str, Any]], progress: WriteProgress | None = None
    ) -> Upserted:
        """Kintone's own upsert: PUT records.json with `upsert: true`, each item naming its record by `updateKey`,
        100 per request (all-or-nothing per request); each answer says INSERT or UPDATE per record."""
        parts = split(encode_upserts(table, key, rows), RECORDS_PER_WRITE)

        async def send(part: Part) -> list[tuple[str, str]]:
            # A repeat after a lost answer is harmless: it finds the records the first try created, and updates them.
            body = await self._api.send("PUT", "records", body={"app": table.id, "upsert": True, "records": part.items})
            with shape_check("records"):
                return [(str(item["id"]), str(item["operation"])) for item in body["records"]]

        def ids_of(part: Part) -> list[str]:
            return [record_id for record_id, _ in part.results or []]

        # As for creates: written parts are read back as they add up (the answer has ids and revisions only).
        async with anyio.create_task_group() as reading:
            read_back = _ReadBack(self, table, rows, reading, ids_of)

            async def wrote(part: Part) -> None:
                read_back.add(part)
                if progress is not None:
                    await progress.wrote(ids_of(part))

            await run_parts(parts, send, concurrency=self.create_concurrency, on_written=wrote)
            read_back.flush()
        created: list[Record] = []
        updated: list[Record] = []
        for part in parts:
            for record, (_, operation) in zip(read_back.records.get(part.start, []), part.results or [], strict=True):
                (created if operation == "INSERT" else updated).append(record)
        if failed_parts(parts):
            raise partial_upsert_failure(parts, created, updated, len(rows), REQUEST_WORDS)
        return Upserted(created, updated)

    async def _records_by_id(self, table: Table, ids: list[str]) -> dict[str, Record]:
        if not ids:
            return {}
        text = f"$id in ({id_list(ids)}) order by $id asc limit {len(ids)}"
        raws, _ = await self._api.records_page(table.id, text, None, first=False)
        records = [decode_record(table, raw, None) for raw in raws]
        return {record["id"]: record for record in records}

    async def patch_record(self, table: Table, record_id: str, fields: dict[str, Any]) -> Record:
        key = record_key(record_id)
        if key is None:
            raise no_record(table, record_id)
        body = {"app": table.id, "id": key, "record": encode_row(table, fields, None)}
        with record_context(table, record_id):
            # No revision is sent: the agent patches named fields, so a repeat after a lost answer is harmless.
            await self._api.send("PUT", "record", body=body)
        return await changed_then_read(self.get_record(table, record_id), record_id)

    async def patch_record_at(
        self, table: Table, record_id: str, fields: dict[str, Any], expected_version: str
    ) -> Record:
        """PUT record.json with `revision`: Kintone writes nothing when the record is at another one (409 GAIA_CO02)."""
        key = record_key(record_id)
        if key is None:
            raise no_record(table, record_id)
        revision = expected_version.strip()
        if not (revision.isascii() and revision.isdigit()):  # no revision Kintone gave; -1 would skip the check
            raise version_conflict(await self.get_record(table, record_id), expected_version)
        body = {"app": table.id, "id": key, "record": encode_row(table, fields, None), "revision": revision}
        try:
            with record_context(table, record_id):
                # Not retried blindly: after a lost answer the repeat would meet its own write as a conflict.
                await self._api.send("PUT", "record", body=body, idempotent=False)
        except TablesError as exc:
            if exc.backend_code != "GAIA_CO02":
                raise
            conflict = version_conflict(await self.get_record(table, record_id), expected_version)
            raise replace(conflict, backend_code=exc.backend_code, status=exc.status) from None
        return await changed_then_read(self.get_record(table, record_id), record_id)

    async def delete_records(self, table: Table, record_ids: list[str]) -> list[str]:
        wanted = list(dict.fromkeys(record_ids))
        keys = {record_id: record_key(record_id) for record_id in wanted}
        valid = list(dict.fromkeys(key for key in keys.values() if key is not None))
        batches = split(valid, RECORDS_PER_WRITE)

        async def existing_in(part: Part) -> list[str]:
            return await self._existing_ids(table, part.items)

        existing = {key for found in await map_bounded(existing_in, batches, READ_CONCURRENCY) for key in found}
        missing = [record_id for record_id, key in keys.items() if key is None or key not in existing]
        if missing:
            raise not_found(
                f"No record with id {', '.join(missing)} in table '{table.name}'; nothing was deleted.",
                hint="Remove the unknown ids (listRecords shows what exists) and call again.",
            )
        deleted: list[str] = []
        # One request at a time, stopping at the first failure, so an error names exactly what was deleted.
        for part in batches:
            batch: list[str] = part.items
            try:
                await self._api.send("DELETE", "records", params={"app": table.id, "ids": batch})
            except TablesError as exc:
                # A repeat after a lost answer finds the records gone (GAIA_RE01): what is left settles it.
                gone = await settle_delete(exc, batch, deleted, partial(self._existing_ids, table))
                deleted += gone
                if gone == batch:
                    continue
                exc = still_there(exc)
                if not deleted:
                    raise exc from None
                done = f"Deleted {len(deleted)} record(s) ({', '.join(deleted)}) before a failure: {exc.message}"
                raise replace(exc, message=done) from None
            deleted += batch
        return deleted

    async def _existing_ids(self, table: Table, ids: list[str]) -> list[str]:
        text = f"$id in ({id_list(ids)}) limit {len(ids)}"
        raws, _ = await self._api.records_page(table.id, text, ["$id"], first=False)
        with shape_check("records"):
            return [str(raw["$id"]["value"]) for raw in raws]


class _ReadBack:
    """Written parts' records as Kintone now has them (computed fields included), in input order, read 500 at a
    time (one records.json GET each, Kintone's limit), the reads of the first parts overlapping the writes still
    to go: a 1,000-record create needs 2 GETs. A record the read misses is shown as it was sent."""

    def __init__(
        self,
        backend: KintoneBackend,
        table: Table,
        rows: list[dict[str, Any]],
        group: anyio.abc.TaskGroup,
        ids_of: Callable[[Part], list[str]],
    ) -> None:
        self.records: dict[int, list[Record]] = {}  # by part start
        self._backend, self._table, self._rows, self._group, self._ids_of = backend, table, rows, group, ids_of
        self._waiting: list[Part] = []
        self._limiter = anyio.CapacityLimiter(READ_CONCURRENCY)

    def add(self, part: Part) -> None:
        self._waiting.append(part)
        if sum(len(waiting.items) for waiting in self._waiting) >= MAX_PAGE:
            self.flush()

    def flush(self) -> None:
        if self._waiting:
            self._group.start_soon(self._read, self._waiting)
            self._waiting = []

    async def _read(self, parts: list[Part]) -> None:
        ids = [record_id for part in parts for record_id in self._ids_of(part)]
        found: dict[str, Record] = {}

        async def read(chunk: list[str]) -> None:
            async with self._limiter:
                try:
                    found.update(await self._backend._records_by_id(self._table, chunk))
                except TablesError as exc:
                    log.warning("Re-reading created Kintone records failed: %s", exc.message)

        async with anyio.create_task_group() as reads:
            for start in range(0, len(ids), MAX_PAGE):
                reads.start_soon(read, ids[start : start + MAX_PAGE])
        for part in parts:
            self.records[part.start] = [
                found.get(record_id) or record_from_input(record_id, self._rows[part.start + offset])
                for offset, record_id in enumerate(self._ids_of(part))
            ]
