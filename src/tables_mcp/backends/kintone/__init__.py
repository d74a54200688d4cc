"""Kintone adapter: each Kintone app is a table, each form field a column, over the REST API.

Modules: `settings` (KINTONE_* variables), `api` (requests), `paging` (pages, offsets and Kintone
cursors), `errors` (Kintone codes -> TablesError), `fields` (forms -> columns), `codec` (values both
ways), `query` (filters and sorts in Kintone's query language), `backend` (the Backend protocol and
its capabilities). Batches, cursors and settings come from the adapter kit (`backends.kit`).

It owns the translation between Kintone and the canonical model: field types to column types,
`{"code": {"type", "value"}}` records to plain values, structured filters to Kintone's query
language, pages to limit/offset, `$id` seeking or cursors, batches to 100-record requests, and
Kintone error bodies to `TablesError`. Network, retries and redaction belong to `tables_mcp.http`.

Value shapes an agent sees (reads) and sends (writes):
- TEXT / LONGTEXT / EMAIL / PHONE / URL: strings (RICH_TEXT is HTML). LINK maps by protocol.
- NUMBER: a JSON number on read ("42" -> 42, "1.5" -> 1.5). A value a double cannot hold exactly
  (more than 15-17 significant digits, or an integer beyond 2**53) is returned as the exact decimal
  string instead, so no digit is ever silently lost. Writes take numbers.
- DATE "YYYY-MM-DD", TIME "HH:MM" (Kintone keeps minutes: seconds sent are dropped), DATETIME
  "YYYY-MM-DDTHH:MM:SSZ" in UTC (Kintone keeps minutes; writes accept any RFC 3339 offset).
- SELECT: the option string; MULTISELECT: a list of option strings.
- USER (USER_SELECT, ORGANIZATION_SELECT, GROUP_SELECT, STATUS_ASSIGNEE): a list of codes on read
  (["alice", "bob"]); CREATOR / MODIFIER: one code string. Writes take one code or a list of codes.
- FILE: read-only list of {"name", "contentType", "size", "fileKey"} (no upload).
- SUBTABLE: a list of rows, each a plain {inner code: value} object; writing it replaces every row.
- FORMULA (CALC, auto-calculated text): read-only; a number when the formula yields a number.
Empty values ("" / null / []) are omitted from `fields`; `id` is `$id`; `created_at` and
`updated_at` come from the app's CREATED_TIME / UPDATED_TIME fields (null if it has none).

Paging: without a sort, pages seek on `$id` (no offset limit at all). With a sort, pages use
limit/offset up to Kintone's 10,000 offset cap, then a Kintone cursor (records/cursor.json) that
this process keeps open and reads forward; at most a few are kept, each read to its end or
deleted, because Kintone allows only 10 live cursors per domain.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..base import Adapter
from .backend import CAPABILITIES, KintoneBackend
from .codec import decode_record, encode_row, encode_value, kintone_number
from .errors import map_kintone_error, parse_error_key
from .fields import column_from_property
from .query import quote, render_filter
from .settings import KintoneSettings


def open_from_environ(environ: Mapping[str, str], store: str) -> KintoneBackend:
    """A backend (not yet opened) from the KINTONE_* variables; ConfigError naming the fix when one is wrong."""
    return KintoneBackend.from_env(environ)


ADAPTER = Adapter(open=open_from_environ, capabilities=CAPABILITIES, settings=KintoneSettings)

__all__ = [
    "ADAPTER",
    "CAPABILITIES",
    "KintoneBackend",
    "KintoneSettings",
    "column_from_property",
    "decode_record",
    "encode_row",
    "encode_value",
    "kintone_number",
    "map_kintone_error",
    "open_from_environ",
    "parse_error_key",
    "quote",
    "render_filter",
]
