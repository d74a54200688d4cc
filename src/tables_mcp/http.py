"""The shared HTTP layer: the only code in tables-mcp that talks to the network.

It owns, for each backend, one `httpx.AsyncClient` (connect/read/write/pool timeouts, connection
limits), a client-side concurrency limit (`anyio.CapacityLimiter`), an optional rate limit, bounded
retries, `Retry-After`, the translation of every transport failure and non-2xx response into a
`TablesError`, and the redaction of secrets. Adapters call `HttpClient.request` and receive
parsed JSON or a `TablesError`; no httpx exception ever leaves this module.

Retry rules (a write must never be applied twice because we retried it):
- A request that provably never reached the server (connect error, connect or pool timeout,
  proxy refusal) is retried whatever its method.
- A response whose status the policy lists as *refused* (429 by default: rate limiters reject
  before processing) is retried whatever the method.
- 502/503/504, read timeouts, dropped connections and 2xx answers whose body cannot be read are
  retried only for idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE by default; an adapter
  overrides this per call, e.g. a POST that only reads, or a PUT guarded by a revision that would
  turn a repeat into a conflict).
- A status the policy retries is not retried when the adapter's mapper says the answer is not
  retryable (a platform that words a refused value as a 500: the same value would be refused again).
- A request that is not repeated and whose answer was lost after it was sent (timeout, dropped
  connection, an unreadable 2xx body, a gateway's 502/504) raises a `TablesError` with
  `may_have_applied`: the platform may have applied it, so nobody may repeat it blindly.
- Waits grow exponentially with random jitter; `Retry-After` (seconds or an HTTP date) replaces
  the computed wait; a `Retry-After` longer than the policy allows, or past the retry budget, is
  not slept through but returned to the agent as `retry_after`.

Libraries: retries run on `stamina` (well kept, async and Trio aware, exponential backoff with
jitter, attempt and time budgets, and a hook whose float return value becomes the next wait,
which is exactly what `Retry-After` needs). The rate limiter is a small anyio token bucket here
rather than `aiolimiter`, because aiolimiter is tied to asyncio internals while the rest of the
stack is anyio; the platforms we target mostly limit concurrency, which the CapacityLimiter covers.

Redaction: every secret an adapter registers (tokens, passwords, the encoded auth header) is
replaced by `***` in each message, hint, field error and log line this module produces, and
httpx exceptions are never chained onto the errors we raise (their text can hold URLs).
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pydantic_core
import stamina

from .errors import RETRYABLE_CODES, ErrorCode, TablesError

log = logging.getLogger("tables_mcp.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
REDACTED = "***"
# Shorter values would garble every message ("a" everywhere) and are not meaningful secrets.
MIN_SECRET_LENGTH = 4
MAX_BODY_IN_MESSAGE = 300

# Transport failures after which the server provably never saw the request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# Failures that point at our configuration, not at the network: retrying cannot help.
_MISCONFIGURED = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
# Gateway answers that may hide a request the platform applied (its own answer was lost behind the gateway).
_GATEWAY_LOST = frozenset({502, 504})
_REPEATABLE_WRITES = frozenset({"PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try again; `attempts` counts the first try."""

    attempts: int = 4
    wait_initial: float = 0.2
    wait_max: float = 5.0
    wait_jitter: float = 0.3
    budget: float = 30.0
    max_retry_after: float = 20.0
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    refused_statuses: frozenset[int] = frozenset({429})
    # Each attempt is abandoned after this many seconds, first byte sent to last byte read (httpx's own
    # timeouts are per phase: an answer trickling in would never trip them). None: httpx's timeouts only.
    attempt_timeout: float | None = None


NO_RETRY = RetryPolicy(attempts=1)


@dataclass(frozen=True)
class HttpSettings:
    """Connection settings of one backend's client."""

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    write_timeout: float = 30.0
    pool_timeout: float = 10.0
    max_connections: int = 20
    max_concurrency: int = 10
    rate_per_second: float | None = None
    rate_burst: int = 1
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class ErrorResponse:
    """A non-2xx response as the adapter's error mapper sees it (text already redacted)."""

    status: int
    body: Any
    text: str
    headers: httpx.Headers
    retry_after: float | None


ErrorMapper = Callable[[ErrorResponse], TablesError]


class RateLimiter:
    """A token bucket: on average `rate` acquisitions per second, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated: float | None = None
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        # The lock makes waiters queue in order instead of all waking for the same token.
        async with self._lock:
            now = anyio.current_time()
            elapsed = 0.0 if self._updated is None else now - self._updated
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            wait = (1 - self._tokens) / self.rate
            await anyio.sleep(wait)
            self._tokens = 0.0
            self._updated = now + wait


class _Retry(Exception):
    """Internal: this attempt failed in a way worth another try; carries the final error."""

    def __init__(self, error: TablesError, wait: float | None) -> None:
        super().__init__(error.message)
        self.error = error
        self.wait = wait

    def __repr__(self) -> str:
        # stamina logs repr(cause) on each retry; the message is already redacted.
        return f"_Retry({self.error.code.value}: {self.error.message!r})"


_NO_TIME_LEFT = 1e-6  # the retry budget spent by the first attempt: stamina then stops at the first failure


def _retry_hook(exc: Exception) -> bool | float:
    if isinstance(exc, _Retry):
        return exc.wait if exc.wait is not None else True
    return False


class HttpClient:
    """One backend's connection to its platform; see the module docstring for the rules."""

    def __init__(
        self,
        settings: HttpSettings,
        error_mapper: ErrorMapper,
        *,
        secrets: Iterable[str] = (),
        name: str = "backend",
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        """`auth` signs each request (a token that expires is refreshed there); an auth flow that fetches a
        token must register it with `add_secret` so that no message can show it."""
        self.settings = settings
        self.name = name
        self.secrets: set[str] = set()
        for secret in secrets:
            self.add_secret(secret)
        self._map_error = error_mapper
        self._client = httpx.AsyncClient(
            base_url=settings.base_url,
            headers=dict(settings.headers),
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.write_timeout,
                pool=settings.pool_timeout,
            ),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections,
            ),
            follow_redirects=False,
            transport=transport,
            auth=auth,
        )
        base = str(self._client.base_url)
        self._base = base if base.endswith("/") else f"{base}/"  # the path httpx would join: "/" at least
        self._limiter = anyio.CapacityLimiter(settings.max_concurrency)
        self._rate = RateLimiter(settings.rate_per_second, settings.rate_burst) if settings.rate_per_second else None

    # -- redaction -------------------------------------------------------------------------------

    def add_secret(self, value: str | None) -> None:
        """Register a value that must never appear in a message (tokens, passwords, auth headers)."""
        if value and len(value) >= MIN_SECRET_LENGTH:
            self.secrets.add(value)

    def redact(self, text: str) -> str:
        # Longest first, so a secret containing another is replaced whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def redact_error(self, error: TablesError) -> TablesError:
        """The same error with every secret in any of its texts (field names and allowed values too) as `***`."""
        return error.redacted(self.redact)

    # -- requests --------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request (retrying per the policy) and return its parsed JSON body.

        `idempotent` overrides the method's default: pass True for a POST that only reads, False
        for a PUT/DELETE whose repetition would not be harmless.
        """
        method = method.upper()
        repeatable = idempotent if idempotent is not None else method in IDEMPOTENT_METHODS
        policy = self.settings.retry
        deadline = anyio.current_time() + policy.budget
        url, params = self._url(path, params)
        call = _Call(method, path, url, params, json_body, dict(headers) if headers else None, repeatable, deadline)
        try:
            try:
                return await self._attempt(call)
            except _Retry as first:
                failed = first
            # stamina's retry loop costs a request ~50 us to set up, so only a retry pays for it: the loop starts
            # with the first attempt's failure replayed, and schedules the backoff (or Retry-After) as it would.
            async for attempt in stamina.retry_context(
                on=_retry_hook,
                attempts=policy.attempts,
                timeout=max(call.deadline - anyio.current_time(), _NO_TIME_LEFT),
                wait_initial=policy.wait_initial,
                wait_max=policy.wait_max,
                wait_jitter=policy.wait_jitter,
            ):
                with attempt:
                    if attempt.num == 1:
                        raise failed
                    log.info("%s: retrying %s %s (attempt %d)", self.name, method, self.redact(path), attempt.num)
                    return await self._attempt(call)
        except _Retry as exc:
            raise self._final(exc.error, call) from None
        except TablesError as exc:
            raise self._final(exc, call) from None
        raise AssertionError("unreachable: stamina either returns or raises")

    def _final(self, error: TablesError, call: _Call) -> TablesError:
        """The error a repeated PUT/PATCH/DELETE ends with, saying that an earlier attempt may have been applied
        (its answer was lost): the agent must not read "unavailable" or "not found" as "nothing happened".
        A POST marked idempotent reads, or carries its own idempotency key and settles its outcome itself."""
        if not call.maybe_applied or error.may_have_applied or call.method not in _REPEATABLE_WRITES:
            return error
        message = f"{error.message} An earlier attempt's answer was lost, so the change may have been applied."
        return replace(error, message=message, may_have_applied=True, hint=_CHECK_FIRST)

    async def _attempt(self, call: _Call) -> Any:
        await self._take_slot()
        try:
            if self._rate is not None:
                await self._rate.acquire()
            timeout = self.settings.retry.attempt_timeout
            try:
                # A cancel scope costs a trip round the event loop's timers even with no deadline: only when needed.
                with anyio.fail_after(timeout) if timeout is not None else contextlib.nullcontext():
                    response = await self._client.request(
                        call.method, call.url, params=call.params, json=call.json_body, headers=call.headers
                    )
            except TimeoutError:
                raise self._transport_failure(httpx.ReadTimeout(f"no complete answer in {timeout:g} s"), call) from None
            except httpx.HTTPError as exc:
                raise self._transport_failure(exc, call) from None
            except httpx.InvalidURL as exc:
                raise self._misconfigured(exc) from None
            except (httpx.StreamError, httpx.CookieConflict) as exc:
                # Misuse of httpx on our side, not the platform's fault: reported, never retried.
                detail = self.redact(f"{type(exc).__name__}: {exc}")
                raise TablesError(
                    ErrorCode.BACKEND_ERROR, f"Internal error talking to {self.name} ({detail})."
                ) from None
        finally:
            self._limiter.release()
        return self._handle(response, call)

    def _url(self, path: str, params: Any) -> tuple[str, Any]:
        """The request's URL, and the params httpx still has to add (None when they are in the URL already).

        A path under the base URL becomes the whole URL here, its query encoded as httpx encodes `params`, so that
        httpx parses it once: given a relative path and params it parses the URL three times (joining it to the
        base, then adding the query), some 60 us of a request. Anything else (an absolute URL, a path carrying
        its own query, params that encode to nothing) is left to httpx as it was given."""
        if not path.startswith("/") or "?" in path or "#" in path:
            return path, params
        if not params:
            return f"{self._base}{path[1:]}", None
        query = str(httpx.QueryParams(params))
        return (f"{self._base}{path[1:]}?{query}", None) if query else (path, params)

    async def _take_slot(self) -> None:
        """A free slot is taken at once; `async with` on the limiter always yields to the event loop first."""
        try:
            self._limiter.acquire_nowait()
        except anyio.WouldBlock:
            await self._limiter.acquire()

    def _handle(self, response: httpx.Response, call: _Call) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            return self._parse_success(response, call)
        error = self._error_for(response)
        policy = self.settings.retry
        if status in _GATEWAY_LOST:
            call.maybe_applied = True
            if not call.repeatable:
                error = replace(error, may_have_applied=True, hint=_CHECK_FIRST)
        retry = call.repeatable or status in policy.refused_statuses
        if status in policy.retry_statuses and retry and error.code in RETRYABLE_CODES:
            # Only the server's own Retry-After replaces the backoff; a mapper's default hint is for the agent.
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > min(policy.max_retry_after, call.deadline - anyio.current_time()):
                # Sleeping that long would stall the agent; it gets retryAfter instead.
                raise error
            raise _Retry(error, wait)
        raise error

    def _parse_success(self, response: httpx.Response, call: _Call) -> Any:
        if not response.content.strip():
            return None
        try:
            return _json_body(response)
        except (json.JSONDecodeError, UnicodeDecodeError):
            shown = _shorten(self.redact(response.text))
            message = f"{self.name} answered HTTP {response.status_code} with a body that is not JSON: {shown!r}"
            call.maybe_applied = True
            if call.repeatable:  # the answer was spoilt on its way: asking again is harmless
                raise _Retry(TablesError(ErrorCode.BACKEND_ERROR, message, status=response.status_code), None) from None
            raise TablesError(
                ErrorCode.BACKEND_ERROR,
                f"{message}; {self.name} accepted the request, so it was probably applied.",
                status=response.status_code,
                hint=_CHECK_FIRST,
                may_have_applied=True,
            ) from None

    def _error_for(self, response: httpx.Response) -> TablesError:
        # Redact before shortening: a cut could leave half a secret that no longer matches.
        text = _shorten(self.redact(response.text))
        try:
            body: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        failure = ErrorResponse(response.status_code, body, text, response.headers, retry_after)
        try:
            error = self._map_error(failure)
        except Exception:  # a mapper bug must not hide the platform's answer
            log.exception("%s: error mapper failed on HTTP %d", self.name, response.status_code)
            error = status_error(self.name, response.status_code, text)
        if error.status is None:
            error = replace(error, status=response.status_code)
        if error.retry_after is None and retry_after is not None:
            error = replace(error, retry_after=retry_after)
        return self.redact_error(error)

    def _transport_failure(self, exc: httpx.HTTPError, call: _Call) -> Exception:
        detail = self.redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        where = f"{call.method} {self.redact(call.path)}"
        if isinstance(exc, _MISCONFIGURED):
            return self._misconfigured(exc)
        if isinstance(exc, httpx.DecodingError):
            return TablesError(
                ErrorCode.BACKEND_ERROR, f"{self.name} sent a response that cannot be decoded ({detail}) for {where}."
            )
        if isinstance(exc, _NOT_SENT):
            error = TablesError(ErrorCode.UNAVAILABLE, f"Cannot reach {self.name} ({detail}) for {where}.")
            return _Retry(error, None)
        call.maybe_applied = True
        if call.repeatable:
            error = TablesError(ErrorCode.UNAVAILABLE, f"{self.name} did not answer ({detail}) for {where}.")
            return _Retry(error, None)
        return TablesError(
            ErrorCode.UNAVAILABLE,
            f"{self.name} did not answer ({detail}) for {where}; the request was sent, so it may have been applied.",
            hint=_CHECK_FIRST,
            may_have_applied=True,
        )

    def _misconfigured(self, exc: Exception) -> TablesError:
        detail = self.redact(f"{type(exc).__name__}: {exc}")
        return TablesError(
            ErrorCode.BACKEND_ERROR,
            f"The {self.name} connection is misconfigured ({detail}).",
            hint="Ask the user to check the backend's base URL setting.",
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def _json_body(response: httpx.Response) -> Any:
    """The body's JSON: pydantic_core's parser first (a third faster on a page of 500 records), and what it refuses
    goes to `json` (httpx's own way), whose verdict and error stand: it takes a lone surrogate escape, say."""
    try:
        return pydantic_core.from_json(response.content)
    except ValueError:
        return response.json()


_CHECK_FIRST = "Check whether the change happened (listRecords / getRecord) before repeating it."


@dataclass
class _Call:
    method: str
    path: str
    url: str
    params: Any
    json_body: Any
    headers: dict[str, str] | None  # None: the client's own (httpx merges even an empty dict)
    repeatable: bool
    deadline: float
    maybe_applied: bool = False  # an attempt reached the platform and its answer was lost


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date), or None."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


_STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.INVALID_ARGUMENT,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    409: ErrorCode.CONFLICT,
    422: ErrorCode.INVALID_ARGUMENT,
    429: ErrorCode.RATE_LIMITED,
}


def status_error(service: str, status: int, detail: str, backend_code: str | None = None) -> TablesError:
    """A fallback mapping from HTTP status alone, for bodies an adapter does not recognise."""
    if status >= 500:
        code = ErrorCode.UNAVAILABLE
    else:
        code = _STATUS_CODES.get(status, ErrorCode.BACKEND_ERROR)
    shown = f": {detail}" if detail else ""
    return TablesError(code, f"{service} answered HTTP {status}{shown}", backend_code=backend_code, status=status)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_BODY_IN_MESSAGE else text[: MAX_BODY_IN_MESSAGE - 3] + "..."


__all__ = [
    "NO_RETRY",
    "ErrorMapper",
    "ErrorResponse",
    "HttpClient",
    "HttpSettings",
    "RateLimiter",
    "RetryPolicy",
    "parse_retry_after",
    "status_error",
]
