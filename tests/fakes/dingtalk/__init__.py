"""Fake DingTalk Notable (AI table / 多维表) REST API: a real HTTP server on 127.0.0.1 for tests and local runs.

Owns an in-memory DingTalk tenant (:class:`FakeDingTalk`: internal apps with permissions, access tokens, users,
bases with sheets, fields and records, clientToken bookkeeping, fault switches and a request log), the
Starlette app serving it (:func:`build_app`), a context manager running it with uvicorn in a daemon thread
(:func:`serve_fake_dingtalk`), a sample tenant (:func:`sample_tenant`) and a CLI
(``python -m tests.fakes.dingtalk [--port 8082]``).

Typical use in a test::

    state = FakeDingTalk()
    app = state.add_app()                       # app.app_key / app.app_secret, both permissions
    operator = state.add_user("unionid-alice")
    base = state.add_base()
    state.add_sheet(base, "任务", {"标题": "text", "状态": {"type": "singleSelect", "property": {"choices": ["A"]}}})
    with serve_fake_dingtalk(state) as base_url:
        ...  # POST /v1.0/oauth2/accessToken, then /v1.0/notable/bases/{base}/...?operatorId=unionid-alice

One server can serve many tests: call :meth:`FakeDingTalk.reset` between them.

What it copies (``shared/BACKENDS.md`` Part 2 §1, §3b and seed 002):

* Tokens: ``POST /v1.0/oauth2/accessToken`` with a JSON ``{"appKey", "appSecret"}`` answers
  ``{"accessToken", "expireIn"}`` (:attr:`FakeDingTalk.token_ttl`, default 7200 s); asked again while its
  token lives, an app gets the same token with its expiry renewed (DingTalk's documented gettoken behaviour;
  assumed for this endpoint). :attr:`FakeDingTalk.tokens_issued` counts successful grants;
  :meth:`FakeDingTalk.expire_all_tokens` ends every token. A form body is 400 ``Missingbody`` "body is
  mandatory for this action."; a bad key or secret 400 ``invalidClientIdOrSecret``.
* Every Notable call needs ``x-acs-dingtalk-access-token`` (missing: 400 ``AuthenticationFailed.MissingParameter``;
  unknown or expired: 400 ``InvalidAuthentication`` "不合法的access_token"), the app's permission
  (``Notable.Base.Read.All`` for reads, ``Notable.Base.Write.All`` for writes; else 403
  ``Forbidden.AccessDenied.AccessTokenPermissionDenied`` naming it) and ``?operatorId=<unionId>``.
* The notable_1.0 endpoints of §1.2: sheets (list, get by id or name, create), fields (list, create), records
  (GET list, POST list with ``filter``/``fieldIdOrNames``, get one, insert, update (merge), delete) and
  ``changedRecordIds/query``. ``maxResults`` is 1..100 (default 100); pages answer ``hasMore`` and, except on
  the last page, an opaque ``nextToken``. At most 100 records (or record ids) per write.
* Value shapes of §1.5/§3b (``values.py``); filter operators per type (``filters.py``).
* Errors are ``{"code", "requestid", "message"}`` with seed 002's codes: 400 ``invalidRequest.inputArgs.invalid``
  (bad arguments, unknown field on write, bad option, read-only field written, limits), 404
  ``invalidRequest.document.notFound`` (unknown base, or a base the operator is not a member of), 404
  ``invalidRequest.resource.notFound`` (unknown sheet, record, or field named by a filter / ``fieldIdOrNames``),
  409 ``invalidRequest.duplicateClientToken``.
* ``clientToken`` (query of insert): a repeat is not executed again; it answers the ids first written
  (:attr:`FakeDingTalk.duplicate_token_answer` = ``"same_ids"``, default) or 409 (``"conflict"``). The ids
  written under a token are answered by ``changedRecordIds/query`` (an unknown token: an empty list). A first
  attempt that fails validation writes nothing and does not use the token up. Tokens are scoped to a base.

Assumptions where the sources are silent (each also noted where it is implemented):

* ``operatorId`` missing: 400 ``MissingoperatorId`` "operatorId is mandatory for this action." (the gateway's
  pattern for a missing required parameter, as seen for ``body``); a unionId that is no known user: 403
  ``forbidden.operationIllegal``. Check order: route, token, permission, operatorId, body, operator, base.
* ``service.timeout`` is 504 and ``invalidRequest.document.stillInitializing`` 400, as seed 002 lists them
  (``fail_next(status=503)`` gives another status). Unknown paths: 404 ``InvalidAction.NotFound``.
* Batches are all-or-nothing. Empty cells (never written, or written null / "" / []) are left out of
  ``fields``; an unset checkbox is absent. Record ids are ``rec...``, sheet ids ``sht...``, field ids
  ``fld...``; records list in creation order. Date strings without an offset are China Standard Time.
* Attachments cannot be written through the API (DingTalk needs an upload flow): only
  :meth:`FakeDingTalk.add_records` stores them. Formula values come from a ``compute`` function given to
  :meth:`FakeDingTalk.add_field` / ``add_sheet`` (called with the record's other cells in read format);
  creator/lastModifier read ``{"unionId"}``; createdTime/lastModifiedTime epoch ms. ``calcFields`` is ignored.
* bidirectionalLink fields do not maintain the other side; linked ids of deleted records are dropped on read.

Fault switches (queued; each applies to the next ``n`` matching requests, optionally filtered by ``method`` and
by ``path``, a regular expression searched in the decoded path; by default the token endpoint matches too):
:meth:`~FakeDingTalk.delay_next`, :meth:`~FakeDingTalk.throttle_next` (403 ``QpsLimitForAppkeyAndApi``),
:meth:`~FakeDingTalk.fail_next` (500 ``internalError`` ...), :meth:`~FakeDingTalk.reset_next` (TCP reset, nothing
applied), :meth:`~FakeDingTalk.lose_answer_next` (applied, then reset), :meth:`~FakeDingTalk.malformed_next`
(HTML IP-ban page, ``{"status":1111}``, truncated JSON). A request takes at most one delay and one other fault.
:attr:`FakeDingTalk.requests` logs method, decoded path, query, JSON body and headers, secrets ``REDACTED``.
"""

from .errors import DingTalkError
from .model import ALL_PERMISSIONS, READ_PERMISSION, WRITE_PERMISSION, FakeApp
from .sample import SampleTenant, sample_tenant
from .server import build_app, serve_fake_dingtalk
from .state import FakeDingTalk, LoggedRequest

__all__ = [
    "ALL_PERMISSIONS",
    "READ_PERMISSION",
    "WRITE_PERMISSION",
    "DingTalkError",
    "FakeApp",
    "FakeDingTalk",
    "LoggedRequest",
    "SampleTenant",
    "build_app",
    "sample_tenant",
    "serve_fake_dingtalk",
]
