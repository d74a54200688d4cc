"""Fake Ozari (Modular 365) Integration API: a real HTTP server on 127.0.0.1 for tests and local runs.

Owns one in-memory tenant (:class:`FakeOzari`: company, tokens, languages, tables with labelled fields and
rows, switches, queued faults, a request log), the Starlette app serving it (:func:`build_app`), a context
manager running it with uvicorn in a daemon thread (:func:`serve_fake_ozari`), a sample tenant
(:func:`sample_tenant`) and a CLI (``python -m tests.fakes.ozari [--port 8082] [--token T]``, which prints
``export OZARI_API_TOKEN=...`` and ``export OZARI_BASE_URL=...`` on stdout and serves until Ctrl-C).

Typical use in a test::

    state = FakeOzari()
    token = state.add_token()
    state.add_table("tcust", {"he": "לקוחות", "en": "Customers"}, {"fname": "שם לקוח", "fcity": "עיר"})
    state.add_rows("tcust", [{"fname": "דוד כהן", "fcity": "חיפה"}])
    with serve_fake_ozari(state) as base_url:
        ...  # Authorization: Bearer <token> to f"{base_url}/integration/..."; assert on state.rows("tcust")

One server can serve many tests: call :meth:`FakeOzari.reset` between them.

Sources: ``shared/BACKENDS.md`` Part 2 §2 and §3b, seed ``003`` (insert record), and the vendor docs repo
``modular365-agent/api-docs`` (``docs/authentication.md``, ``docs/api/*.md``), whose messages are copied
verbatim: "Missing or invalid Authorization header" (401), "Invalid token" (403), "Invalid table name",
"Invalid field name: my-field", "Cannot set primary key column: fid", ``"fields" is required``,
``"filters" is required`` (400), "Table not found" (404), "This table is not readable through the integration
API" (403), "No records match the given filters" (404, ``matched: 0``), "Multiple records match the given
filters. Use /records/bulk for multi-update." (409, ``matched: n``), and in query paths "Invalid field name in
filters.and[0]: ...", "Unsupported operator in filters.and[0]: regexp", ``filters.and[0]: "between" needs a
"value" array of exactly 2 scalars``.

Endpoints (all under ``/integration/``): GET ``auth/test``, GET ``languages``, GET ``tables?lang=``, GET
``tables/:table/fields?lang=``, POST ``tables/:table/query``, POST ``tables/:table/records`` (201), PATCH
``tables/:table/records/single``, PATCH ``tables/:table/records/bulk``. There is no delete and no get-by-id:
anything else is 404. Every error is ``{"success": false, "error": "..."}`` (+ ``matched`` on single updates).

Assumptions where the sources are silent (the adapter must not rely on them beyond what is documented):

Routing and auth
  * Auth runs first on every ``/integration/...`` path, so an undocumented path answers 401/403 before 404.
    404 for an unknown route or method is ``{"success": false, "error": "Cannot DELETE /integration/..."}``
    (Express's wording, put in the envelope). A trailing slash is ignored; paths are case-sensitive.
  * The header must be exactly ``Bearer <token>`` (case-sensitive scheme, one space, no spaces in the token);
    anything else is 401. Unknown or revoked tokens are 403 "Invalid token"; the token is never echoed and is
    ``REDACTED`` in the request log (so are cookies).
  * Order of checks: auth, route, table name (400), table exists (404), credential table (403), body (400),
    then the operation. Credential tables are listed by Get Tables but answer 403 on every table endpoint
    (fields, query, insert, both updates).
  * Bodies are parsed only with a JSON content type (``application/json`` or ``*+json``), as express.json()
    does; any other body reads as ``{}`` (so a query answers the first 50 rows and an insert says
    ``"fields" is required``). Unparsable JSON is 400 "Invalid JSON body".

Metadata
  * ``lang`` defaults to "he" (also when empty); a label missing for that language falls back to the internal
    name, for tables and fields alike. The language list defaults to Hebrew only (the docs' "no lang_config"
    case); :meth:`FakeOzari.add_language` adds or replaces entries.
  * Get Fields lists only ``show_form`` fields, sorted by ``order`` (ties keep declaration order); ``fid`` and
    ``flastmodify`` are columns but never listed. Hidden fields are real columns: writable and queryable.

Body validation (Joi-style; messages other than the documented ones are guesses)
  * Unknown top-level keys: ``"perPage" is not allowed``; a non-object body: ``"value" must be of type
    object``; ``"fields" must be of type object``; ``"fields" must have at least 1 key``; ``"page" must be a
    number`` / ``must be an integer`` / ``must be greater than or equal to 1``; ``"per_page" must be less than
    or equal to 200`` (refused rather than capped, the safer reading of "capped at 200";
    :attr:`FakeOzari.clamp_per_page` switches to capping, and the answer's ``per_page`` then says 200).
    Numeric strings are accepted for ``page``/``per_page`` (Joi converts). Schema keys are checked before
    unknown keys; ``filters`` before ``fields``.
  * Write and equality-filter names are checked in order: pattern (``Invalid field name: x``), primary key in
    ``fields`` (``Cannot set primary key column: fid``), existence (``Unknown field: x``), scalar value
    (``Invalid value for field x: objects and arrays are not accepted``; ``... for filter x: ...``). A filter
    tree sent to ``/records/single`` or ``/records/bulk`` therefore fails as ``Unknown field: and``.
  * Insert answers ``fields`` exactly as sent and ``insertedId`` = the new fid (``null`` while
    :attr:`FakeOzari.inserted_id_null` is set; the row is stored either way). ``flastmodify`` may be written.

Query
  * Other messages follow the documented pattern: ``Unknown field in filters.and[0]: x``, ``filters.and[0]:
    "eq" needs a scalar "value"``, ``"like" needs a string "value"``, ``"in" needs a "value" array of 1 to 200
    scalars``, ``"is_null" takes no "value"``, ``filters.and[0]: unknown key "x"``, ``filters...: filters nest
    deeper than 5 groups`` (the top group is depth 1), ``Too many conditions in filters: at most 50``, a group
    must have exactly one key ``and``/``or`` with a non-empty array (an empty group is refused). ``select``
    (non-empty, names checked like ``Invalid field name in select[0]: x``), ``sort`` items ``{field,
    direction}`` with direction ``asc`` (default) or ``desc`` (``Invalid sort direction in sort[0]: up``).
  * Rows are flat maps with every column (absent values are ``null``): fid, the declared fields, flastmodify.
    Without ``sort`` rows come in fid order, or a seeded shuffle when :attr:`FakeOzari.shuffle_unsorted` is set
    (the database's order is unspecified). Sort is stable; NULL sorts first ascending, last descending.
    Pages past the end are empty; ``total`` counts all matches.

Values and comparisons (the API publishes no types; a MySQL-like database is assumed)
  * Column kinds: text (default), int, number, date, datetime; ``fid`` is int, ``flastmodify`` datetime.
    Writes are coerced: text keeps strings and stores numbers/booleans as text ("5", "1"); int/number accept
    numbers, booleans and numeric strings; dates are returned as ``YYYY-MM-DD`` and datetimes as ``YYYY-MM-DD
    HH:MM:SS`` (the real driver might answer ISO strings with a zone: unconfirmed; a written zone offset is
    dropped, not converted). A value the column
    refuses is 500 with a MySQL message (``Incorrect integer value: 'abc' for column 'fqty' at row 1``).
  * Text compares case-insensitively (a ``_ci`` collation) for eq/neq/gt../in/between/like and sorting, and is
    returned byte-exact (Hebrew and other non-ASCII text is stored and answered as UTF-8 JSON, unescaped).
    Filter values are converted to the column's kind; a number against a text column compares as its text
    (MySQL would compare numerically). A value with no reading for the kind never matches.
  * LIKE is SQL LIKE: ``%`` any run, ``_`` exactly one character, backslash escapes; matched against the
    whole value.
  * SQL NULL logic: a NULL column matches only ``is_null``; neq, not_like and not_in never match NULL rows;
    ``eq null`` matches nothing (use ``is_null``); ``not_in`` with a null among its values matches nothing.
    The same equality rules apply to the flat ``filters`` of ``/records/single`` and ``/records/bulk``.
  * ``updated`` counts rows whose stored values actually changed (0 while ``matched`` is 1 is a success);
    ``flastmodify`` moves to the clock only for changed rows, like ``ON UPDATE CURRENT_TIMESTAMP``. The clock
    (default UTC now) is :attr:`FakeOzari.clock`.

Faults (:meth:`FakeOzari.fail_next`, queued; each request takes at most one, the first matching its method
and path glob): ``latency`` (delay, then serve), ``error`` (500 as the API's envelope "Internal server
error"; 400/401/403/404/409 as the envelope with that status's documented message; 502/503/504 as an nginx HTML
page; nothing applied), ``reset`` (TCP reset before applying), ``lost``
(applied, then the connection is reset before the answer), ``malformed`` (truncated JSON, status 200 by
default, nothing applied). The log entry of a request records the fault it took and the status produced.
"""

from .errors import OzariError
from .sample import SampleTenant, sample_tenant
from .server import build_app, serve_fake_ozari
from .state import FakeField, FakeOzari, FakeTable, Language, LoggedRequest

__all__ = [
    "FakeField",
    "FakeOzari",
    "FakeTable",
    "Language",
    "LoggedRequest",
    "OzariError",
    "SampleTenant",
    "build_app",
    "sample_tenant",
    "serve_fake_ozari",
]
