"""The shared HTTP layer: retries and their limits, Retry-After, error mapping, limits, redaction."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest

from tables_mcp.errors import ErrorCode, FieldError, TablesError
from tables_mcp.http import (
    ErrorResponse,
    HttpClient,
    HttpSettings,
    RateLimiter,
    RetryPolicy,
    parse_retry_after,
    status_error,
)

from .conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

SECRET = "tok3nS3cretValue"


def mapper(failure: ErrorResponse) -> TablesError:
    body = failure.body if isinstance(failure.body, dict) else {}
    error = status_error("fake", failure.status, str(body.get("message") or failure.text), body.get("code"))
    if body.get("field"):
        error.field_errors.append(FieldError(body["field"], f"bad value near {body['field_detail']}"))
    return error


class Script:
    """A MockTransport handler that plays responses (or raises) in order and counts calls."""

    def __init__(self, *steps: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.steps = list(steps)
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        step = self.steps[min(len(self.calls), len(self.steps)) - 1]
        if isinstance(step, Exception):
            raise step
        if callable(step) and not isinstance(step, httpx.Response):
            return step(request)
        return step


def make_client(script: Any, policy: RetryPolicy = FAST_RETRY, **settings: Any) -> HttpClient:
    return HttpClient(
        HttpSettings(base_url="http://fake.test", retry=policy, **settings),
        mapper,
        secrets=[SECRET],
        name="Fake",
        transport=httpx.MockTransport(script),
    )


def ok(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {"ok": True})


def fail(status: int, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    return httpx.Response(status, json=body or {"message": "nope"}, headers=headers)


async def raises(client: HttpClient, method: str = "GET", **kwargs: Any) -> TablesError:
    with pytest.raises(TablesError) as info:
        await client.request(method, "/x.json", **kwargs)
    return info.value


# -- retries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_get_is_retried_on_transient_statuses(status: int) -> None:
    script = Script(fail(status), ok({"n": 1}))
    client = make_client(script)
    assert await client.request("GET", "/x.json") == {"n": 1}
    assert len(script.calls) == 2


async def test_retries_are_bounded_and_the_last_error_is_mapped() -> None:
    script = Script(fail(503, code="BUSY", message="overloaded"))
    error = await raises(make_client(script))
    assert len(script.calls) == FAST_RETRY.attempts
    assert error.code is ErrorCode.UNAVAILABLE and error.retryable
    assert error.backend_code == "BUSY" and error.status == 503


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_post_is_not_retried_after_it_may_have_been_applied(status: int) -> None:
    script = Script(fail(status), ok())
    error = await raises(make_client(script), "POST", json_body={"a": 1})
    assert len(script.calls) == 1
    assert error.code is ErrorCode.UNAVAILABLE


async def test_post_refused_with_429_is_retried() -> None:
    script = Script(fail(429, {"Retry-After": "0"}), ok({"ids": ["1"]}))
    assert await make_client(script).request("POST", "/x.json", json_body={}) == {"ids": ["1"]}
    assert len(script.calls) == 2


async def test_post_that_never_connected_is_retried() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), ok())
    assert await make_client(script).request("POST", "/x.json", json_body={}) == {"ok": True}
    assert len(script.calls) == 3


async def test_post_read_timeout_is_not_retried_and_says_it_may_have_been_applied() -> None:
    script = Script(httpx.ReadTimeout("timed out"), ok())
    error = await raises(make_client(script), "POST", json_body={})
    assert len(script.calls) == 1
    assert error.code is ErrorCode.UNAVAILABLE
    assert "may have been applied" in error.message
    assert error.may_have_applied and not error.retryable, "an unknown outcome is never retried blindly"
    assert error.to_payload()["error"]["mayHaveBeenApplied"] is True


@pytest.mark.parametrize(("status", "unknown"), [(500, False), (503, False), (502, True), (504, True)])
async def test_a_gateway_that_lost_a_posts_answer_says_it_may_have_been_applied(status: int, unknown: bool) -> None:
    error = await raises(make_client(Script(fail(status))), "POST", json_body={})
    assert error.may_have_applied is unknown


async def test_a_put_whose_earlier_answer_was_lost_says_so_whatever_the_last_answer() -> None:
    script = Script(httpx.ReadTimeout("timed out"), fail(404, message="no such record"))
    error = await raises(make_client(script), "PUT", json_body={})
    assert len(script.calls) == 2 and error.code is ErrorCode.NOT_FOUND
    assert error.may_have_applied and "earlier attempt" in error.message


async def test_a_retried_status_the_mapper_calls_a_refusal_is_not_retried() -> None:
    def refusing(failure: ErrorResponse) -> TablesError:
        return TablesError(ErrorCode.INVALID_ARGUMENT, "Incorrect integer value for column 'fqty'")

    script = Script(fail(500), ok())
    client = HttpClient(
        HttpSettings(base_url="http://fake.test", retry=replace(FAST_RETRY, retry_statuses=frozenset({500}))),
        refusing,
        transport=httpx.MockTransport(script),
    )
    error = await raises(client, "PUT", json_body={})
    assert len(script.calls) == 1 and error.code is ErrorCode.INVALID_ARGUMENT


async def test_an_attempt_past_its_timeout_is_abandoned() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(5)
        return ok()

    class SlowTransport(httpx.AsyncBaseTransport):
        calls = 0

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            SlowTransport.calls += 1
            return await slow(request)

    client = HttpClient(
        HttpSettings(base_url="http://fake.test", retry=replace(FAST_RETRY, attempt_timeout=0.05)),
        mapper,
        transport=SlowTransport(),
    )
    with anyio.fail_after(4):
        error = await raises(client, "POST", json_body={})
    assert SlowTransport.calls == 1 and error.may_have_applied and "0.05 s" in error.message


async def test_get_read_timeout_and_dropped_connection_are_retried() -> None:
    script = Script(httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("disconnected"), ok())
    assert await make_client(script).request("GET", "/x.json") == {"ok": True}
    assert len(script.calls) == 3


async def test_idempotent_override_both_ways() -> None:
    script = Script(fail(503), ok())
    assert await make_client(script).request("POST", "/x.json", json_body={}, idempotent=True) == {"ok": True}
    assert len(script.calls) == 2
    script = Script(fail(503), ok())
    await raises(make_client(script), "PUT", json_body={}, idempotent=False)
    assert len(script.calls) == 1


async def test_client_errors_are_not_retried() -> None:
    script = Script(fail(400, code="CB_VA01", message="Missing or invalid input."))
    error = await raises(make_client(script))
    assert len(script.calls) == 1
    assert error.code is ErrorCode.INVALID_ARGUMENT and error.backend_code == "CB_VA01"


# -- Retry-After -------------------------------------------------------------------------------------


async def test_retry_after_seconds_replaces_the_backoff() -> None:
    script = Script(fail(503, {"Retry-After": "0.4"}), ok())
    started = time.monotonic()
    await make_client(script).request("GET", "/x.json")
    assert time.monotonic() - started >= 0.38
    assert len(script.calls) == 2


async def test_a_long_retry_after_is_handed_to_the_agent_instead_of_slept() -> None:
    script = Script(fail(429, {"Retry-After": "120"}), ok())
    started = time.monotonic()
    error = await raises(make_client(script))
    assert time.monotonic() - started < 1
    assert len(script.calls) == 1
    assert error.code is ErrorCode.RATE_LIMITED and error.retry_after == 120
    assert error.to_payload()["error"]["retryAfter"] == 120


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("-3") == 0
    for bad in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(bad) is None


# -- error mapping -----------------------------------------------------------------------------------


async def test_non_json_success_body_is_a_backend_error() -> None:
    script = Script(httpx.Response(200, text="<html>login</html>"))
    error = await raises(make_client(script))
    assert error.code is ErrorCode.BACKEND_ERROR and "not JSON" in error.message
    assert len(script.calls) == FAST_RETRY.attempts, "a spoilt answer to a read is asked again"


async def test_a_spoilt_answer_to_a_post_says_it_was_probably_applied() -> None:
    script = Script(httpx.Response(201, text='{"records": [{"id'))
    error = await raises(make_client(script), "POST", json_body={})
    assert len(script.calls) == 1 and error.may_have_applied and "probably applied" in error.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"n": 123456789012345678901234567890, "x": 0.1, "s": "\\u65e5"}',
            {"n": 123456789012345678901234567890, "x": 0.1, "s": "\u65e5"},
        ),
        (b'{"lone": "\\ud800"}', {"lone": "\ud800"}),  # the faster parser refuses it; json takes it, as before
        ('\ufeff{"bom": 1}'.encode(), {"bom": 1}),  # a UTF-8 byte-order mark, which json skips
        ('{"wide": "\u65e5"}'.encode("utf-16"), {"wide": "\u65e5"}),  # UTF-16, which json detects
    ],
)
async def test_success_bodies_parse_as_json_parses_them(body: bytes, expected: Any) -> None:
    answer = await make_client(Script(httpx.Response(200, content=body))).request("GET", "/x.json")
    assert answer == expected and repr(answer) == repr(expected)


async def test_empty_success_body_is_none() -> None:
    assert await make_client(Script(httpx.Response(200))).request("DELETE", "/x.json") is None


async def test_non_json_error_body_reaches_the_mapper_as_text() -> None:
    script = Script(httpx.Response(502, text="<html>Bad gateway</html>"))
    error = await raises(make_client(script))
    assert error.code is ErrorCode.UNAVAILABLE and "Bad gateway" in error.message and error.status == 502


async def test_a_failing_mapper_falls_back_to_the_status() -> None:
    def broken(failure: ErrorResponse) -> TablesError:
        raise KeyError("code")

    client = HttpClient(
        HttpSettings(base_url="http://fake.test", retry=FAST_RETRY),
        broken,
        transport=httpx.MockTransport(Script(fail(404))),
    )
    error = await raises(client)
    assert error.code is ErrorCode.NOT_FOUND


async def test_misconfigured_url_is_a_backend_error_without_retry() -> None:
    client = HttpClient(HttpSettings(base_url="ftp://fake.test", retry=FAST_RETRY), mapper)
    error = await raises(client)
    assert error.code is ErrorCode.BACKEND_ERROR and "misconfigured" in error.message


async def test_connection_refused_over_real_loopback_is_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on once the socket closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = HttpClient(HttpSettings(base_url=f"http://127.0.0.1:{port}", retry=FAST_RETRY), mapper)
    error = await raises(client, "POST", json_body={})
    assert error.code is ErrorCode.UNAVAILABLE and error.retryable
    assert "Cannot reach" in error.message
    await client.aclose()


# -- redaction ---------------------------------------------------------------------------------------


async def test_secrets_are_redacted_from_mapped_errors() -> None:
    body = {"code": "X", "message": f"token {SECRET} rejected", "field": "f", "field_detail": SECRET}
    error = await raises(make_client(Script(httpx.Response(400, json=body))))
    text = error.to_text() + str(error.to_payload())
    assert SECRET not in text and "***" in error.message


async def test_secrets_are_redacted_from_transport_errors_and_raw_bodies(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    script = Script(httpx.ConnectError(f"cannot connect with {SECRET}"))
    error = await raises(make_client(script), "GET")
    assert SECRET not in error.message and error.__cause__ is None and error.__suppress_context__
    error = await raises(make_client(Script(httpx.Response(200, text=f"oops {SECRET}"))))
    assert SECRET not in error.message
    assert SECRET not in caplog.text


def test_short_values_are_not_treated_as_secrets() -> None:
    client = make_client(Script(ok()))
    client.add_secret("ab")
    client.add_secret(None)
    assert client.redact("a cab") == "a cab"
    client.add_secret("abcdef")
    client.add_secret("abcdefgh")
    assert client.redact("xabcdefghx abcdef") == "x***x ***"


# -- limits ------------------------------------------------------------------------------------------


async def test_concurrency_limit_caps_requests_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.02)
        in_flight -= 1
        return ok()

    client = make_client(slow, max_concurrency=2)
    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(client.request, "GET", "/x.json")
    assert peak == 2


async def test_rate_limiter_spaces_requests() -> None:
    limiter = RateLimiter(rate=50, burst=2)
    started = anyio.current_time()
    for _ in range(7):
        await limiter.acquire()
    # Two from the burst, then five at 50/s.
    assert anyio.current_time() - started >= 0.09


async def test_client_rate_limit_applies_to_requests() -> None:
    client = make_client(Script(ok()), rate_per_second=40, rate_burst=1)
    started = anyio.current_time()
    for _ in range(5):
        await client.request("GET", "/x.json")
    assert anyio.current_time() - started >= 0.09


def test_rate_limiter_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)
