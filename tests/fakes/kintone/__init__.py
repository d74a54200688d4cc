"""Fake Kintone REST API: a real HTTP server on 127.0.0.1 for tests and local runs.

Owns an in-memory kintone "domain" (:class:`FakeKintone`: apps with form fields and records, API
tokens, users, cursors, fault switches and a request log), the Starlette app serving it
(:func:`build_app`), a context manager running that app with uvicorn in a daemon thread
(:func:`serve_fake_kintone`), sample data (:func:`sample_domain`) and a CLI serving it
(``python -m tests.fakes.kintone [--port 8081]``).

Typical use in a test::

    state = FakeKintone()
    app = state.add_app("Tasks", {"title": {"type": "SINGLE_LINE_TEXT", "required": True}})
    token = state.add_token(app, {"view", "add"})
    with serve_fake_kintone(state) as base_url:
        ...  # talk to base_url with X-Cybozu-API-Token: token; assert on state.requests

One server can serve many tests: call :meth:`FakeKintone.reset` between them.

It copies the behaviour documented in ``shared/BACKENDS.md`` Part 1:

* §1 auth and URL layout: ``X-Cybozu-API-Token`` (comma-joined, one token per app),
  ``X-Cybozu-Authorization`` (wins over tokens), an optional Basic layer (:attr:`FakeKintone.basic_auth`);
  ``/k/v1/<api>.json`` and ``/k/guest/<space>/v1/<api>.json``; GET/DELETE parameters from the
  query string with ``name[i]`` indexing or from a JSON body; ``POST`` + ``X-HTTP-Method-Override: GET``.
* §2 endpoints and limits: app.json, apps.json (password auth only), app/form/fields.json (and its
  ``preview/`` twin), record.json GET/POST/PUT, records.json GET/POST/PUT/DELETE (at most 100,
  all-or-nothing, optimistic revisions, PUT merge semantics, upsert), records/cursor.json
  (size ≤ 500, 10 live cursors per domain, 10 minute expiry), bulkRequest.json (≤ 20 requests,
  rollback); the query language (see below); at most :attr:`FakeKintone.max_concurrency`
  requests in flight (429 ``GAIA_TO04``) and ``X-ConcurrencyLimit-*`` headers on every response.
* §3 value shapes: every field is ``{"type", "value"}``; NUMBER, ids, revisions and totalCount are
  strings; DATETIME is UTC with minute precision; DROP_DOWN is null when empty; SUBTABLE rows carry
  ids; ``$id``/``$revision`` are typed ``__ID__``/``__REVISION__`` (emulator capture, §10 of its notes).
  Unknown field codes in writes are ignored (seed 004); read-only fields (CALC, RECORD_NUMBER,
  STATUS, STATUS_ASSIGNEE, CATEGORY, and CREATOR/MODIFIER/CREATED_TIME/UPDATED_TIME on PUT) are
  ignored; defaults are applied on POST when a key is absent.
* §4 errors: ``{code, id, message, errors?}`` with the real ``errors`` key grammar
  (``records[0].title.value``, ``record[num].value``, ``record.tags.values[1].value`` ...), English or
  Japanese messages (:attr:`FakeKintone.language`).

Deliberate simplifications, each one documented where it is implemented:

* ``like`` is a word match: an ASCII term must match whole words in order, case-insensitively
  (``like "key"`` does not match "keyword"); a term with non-ASCII characters is a case-insensitive
  substring match, standing in for kintone's morphological full-text index.
* ``and`` binds tighter than ``or``; text ``=`` is case-sensitive; empty values sort first.
* Query functions: ``LOGINUSER() NOW() TODAY() YESTERDAY() TOMORROW()`` (user time zone = UTC);
  the other documented functions are answered as a query syntax error.
* CALC: ``+ - * /``, parentheses, numbers and NUMBER/CALC field codes (empty counts as 0, quotients
  are rounded to 4 places, division by zero gives ""); any other expression evaluates to "".
* No file upload: a non-empty FILE value is rejected with GAIA_BL01. Process management is off:
  STATUS/STATUS_ASSIGNEE/CATEGORY are listed in fields.json with ``enabled: false``, never in records.
* Codes and messages no source confirms are marked "unconfirmed" next to their definition.

Modules: ``messages`` (codes, messages, error bodies), ``model`` (what the domain holds), ``state``
(:class:`FakeKintone`), ``fields`` (form properties, scalar formats), ``writes``, ``query`` (rendering and
the query language), ``endpoints`` (auth, parameters, handlers, the app) and ``sample`` (serving, sample data,
the CLI).
"""

from __future__ import annotations

from .endpoints import build_app
from .messages import KintoneError
from .model import ALL_PERMISSIONS, ApiToken, FakeApp, FakeUser, LoggedRequest, StoredRecord
from .sample import SampleDomain, sample_domain, serve_fake_kintone
from .state import FakeKintone

__all__ = [
    "ALL_PERMISSIONS",
    "ApiToken",
    "FakeApp",
    "FakeKintone",
    "FakeUser",
    "KintoneError",
    "LoggedRequest",
    "SampleDomain",
    "StoredRecord",
    "build_app",
    "sample_domain",
    "serve_fake_kintone",
]
