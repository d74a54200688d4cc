"""Fake Onnie Tables public REST API: a real HTTP server on 127.0.0.1 for tests and local runs.

Owns an in-memory Onnie workspace (:class:`FakeOnnie`: API keys with scopes, tables with typed
columns and records, a token-bucket limiter, queued faults, a request log), the Starlette app
serving it under ``/api/public/v1`` (:func:`build_app`), a context manager running it with uvicorn
in a daemon thread (:func:`serve_fake_onnie`), sample data (:func:`sample_workspace`) and a CLI
(``python -m tests.fakes.onnie [--port 8082]``).

Typical use in a test::

    state = FakeOnnie()
    tasks = state.add_table("Tasks", [{"name": "Title", "type": "TEXT", "required": True}])
    key = state.add_key({"tables:read", "tables:write"})
    with serve_fake_onnie(state) as base_url:  # http://127.0.0.1:<port>/api/public/v1
        ...  # Authorization: Bearer <key>; assert on state.records(tasks) and state.requests

One server can serve many tests: call :meth:`FakeOnnie.reset` between them.

Copied from the sources (``shared/BACKENDS.md`` Part 2 §3 and §3b, seeds ``000`` create records and
``001`` tables/records/fields concepts):

* Bearer keys ``onn_live_<48 hex>``, scopes ``tables:read`` / ``tables:write`` (and the unused
  ``pages:read skills:read tasks:read``), revocable at once, ``last_used_at`` debounced 60 s.
* GET /tables, GET /tables/{id} (columns and views), GET/POST /tables/{id}/records,
  GET/PUT/PATCH/DELETE /tables/{id}/records/{rid}; POST answers 201, DELETE ``{"deleted": true, "id"}``;
  PUT replaces, PATCH is an atomic merge.
* Records ``{"id", "fields": {<column name>: value}, "created_at", "updated_at"}``, times ISO-8601 UTC
  with milliseconds and ``Z``; the 15 column types and their JSON shapes; FORMULA, AI and SERIAL
  are computed and FILE is read-only: all four are returned and refused on writes.
* Codes 400 ``bad_request`` ("Validation failed; see details.fields"), 401 ``unauthorized``,
  403 ``forbidden``, 404 ``not_found``, 429 ``rate_limited`` ("Token bucket exhausted").

Assumptions where the sources are silent (the adapter must not depend on them):

* Error body: :attr:`FakeOnnie.error_layout` "nested" (default) ``{"error": {"code", "message",
  "details"}}`` or "flat" ``{"code", "message", "details"}``. ``details`` is always an object (``{}``
  when there is nothing to add). Messages other than the documented ones are invented: 401 "Missing or
  invalid API key." (never echoes the key), 403 "API key lacks required scope: tables:write" with
  ``details.required_scope``, 404 "Table not found." / "Record not found." / "Route not found.".
* Order of checks: outside ``/api/public/v1`` → 404; then the key (401), the key's token bucket (429),
  the route (404; an unsupported method on a known path is 404 too), the scope (403), then the handler.
  Scopes are independent: ``tables:write`` does not imply ``tables:read``.
* ``limit``: default 50, 1..100; anything else → 400 ``bad_request`` with ``details.parameter``
  "limit". ``next_cursor`` is an opaque string, ``null`` on the last page (never a cursor to an
  empty page); a cursor from another listing or garbage → 400 "Invalid cursor".
* Order: tables and records in creation order. Without ``sort`` the records cursor means "after
  this record", so deleting records between pages skips nothing; with ``sort`` it is an offset.
* ``filter`` (syntax unpublished; fake only): a JSON object of column name to value, e.g.
  ``{"Status":"Done"}``; a record matches when each value equals the column's value, or is one element
  of an array value (MULTISELECT, multiple REFERENCE). Unknown column → 400 with ``details.fields``.
* ``sort`` (fake only): comma-separated column names (or ``created_at`` / ``updated_at``), ``-`` for
  descending, e.g. ``-Estimate,Title``; nulls last either way. ``view`` is accepted and ignored.
* POST records: at most 100 per request (101 → 400 ``bad_request``, ``details.max_records``); an empty
  or missing ``records`` array → 400. All or nothing: the first invalid record fails the batch and
  ``details.index`` names its position next to ``details.fields``.
* Validation messages in ``details.fields``: "Unknown column", "FORMULA columns are computed and
  cannot be written" (same for AI, SERIAL), "FILE columns are read-only in v1", "Required", "Expected a
  number" and the like. Every invalid column of a record is named, not only the first.
* Values: null clears any writable column. Required columns refuse null, "" and [] on create and
  PUT; PATCH checks only the columns it sends. ``default_value`` fills a column absent on create
  (not one sent as null; never on PUT). Every record shows every column, null when unset.
  EMAIL is ``x@y.z``; URL starts ``http://`` or ``https://``; NUMBER is a JSON number (not bool);
  DATETIME is anything ``datetime.fromisoformat`` reads, stored and returned as UTC ``...sssZ``
  (no zone = UTC); SELECT must name an option, MULTISELECT is an array of option names (kept as
  sent); REFERENCE is one UUID (an array when ``settings.multiple``) of an existing record of
  ``settings.target_table_id``. Deleting a record leaves references to it as they are.
* Column settings: SELECT/MULTISELECT ``{"options": [{"name"}]}``, REFERENCE ``{"target_table_id",
  "multiple"}``, FORMULA ``{"expression"}``, AI ``{"prompt"}``. Column ids are ints unique in the
  workspace; the first column is primary unless one is marked. Each table has one default grid view.
* Computed: SERIAL numbers records 1, 2, ... per table in creation order (never reused). FORMULA
  evaluates ``+ - * /`` and parentheses over numbers and ``{Column}`` references; a null or non-number
  reference, division by zero or bad syntax gives null; integral results are ints. AI returns the
  column spec's ``ai_value`` (default null). PUT keeps FILE metadata (it cannot be sent).
* ``alias_id`` is ``<slug of the name>-<6 hex>``; every table shares the workspace's ``project_id``.
* Rate limit: off unless :meth:`FakeOnnie.set_rate_limit` is called; one bucket per key; the 429
  carries ``Retry-After`` (whole seconds) only when asked for; no rate-limit headers otherwise.
* 5xx answers (fault switch) have code ``internal_error``; the "not_json" malformed body is an HTML
  page standing in for a proxy error.
"""

from __future__ import annotations

from .api import BASE_PATH, DEFAULT_LIMIT, MAX_BATCH, MAX_LIMIT
from .columns import COLUMN_TYPES, Column
from .errors import OnnieError
from .sample import SampleWorkspace, sample_workspace
from .server import build_app, serve_fake_onnie
from .state import READ_WRITE, SCOPES, ApiKey, FakeOnnie, Fault, LoggedRequest
from .store import FakeTable, StoredRecord

__all__ = [
    "BASE_PATH",
    "COLUMN_TYPES",
    "DEFAULT_LIMIT",
    "MAX_BATCH",
    "MAX_LIMIT",
    "READ_WRITE",
    "SCOPES",
    "ApiKey",
    "Column",
    "FakeOnnie",
    "FakeTable",
    "Fault",
    "LoggedRequest",
    "OnnieError",
    "SampleWorkspace",
    "StoredRecord",
    "build_app",
    "sample_workspace",
    "serve_fake_onnie",
]
