"""Every exception httpx can raise while a request is sent becomes a TablesError, never an httpx error.

As httpx tests its own mapping of transport errors, this walks every exception class httpx exports and
has a transport raise it during a request, for a read (which may be retried) and for a write (which
must not be, once it may have reached the platform).
"""

from __future__ import annotations

import inspect

import httpx
import pytest

from tables_mcp.errors import ErrorCode, TablesError
from tables_mcp.http import ErrorResponse, HttpClient, HttpSettings, RetryPolicy

FAST = RetryPolicy(attempts=2, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0)
SECRET = "s3cret-token-value"

HTTPX_EXCEPTIONS = sorted(
    (obj for obj in vars(httpx).values() if inspect.isclass(obj) and issubclass(obj, Exception)),
    key=lambda cls: cls.__name__,
)


def make(cls: type[Exception], request: httpx.Request) -> Exception:
    message = f"failure talking to https://example.invalid/?token={SECRET}"
    if cls is httpx.HTTPStatusError:
        return cls(message, request=request, response=httpx.Response(500, request=request))
    for arguments in ({"request": request}, {}):
        try:
            return cls(message, **arguments)
        except TypeError:
            continue
    return cls()  # the stream errors take no message


def mapper(response: ErrorResponse) -> TablesError:
    return TablesError(ErrorCode.BACKEND_ERROR, f"status {response.status}")


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("exception", HTTPX_EXCEPTIONS, ids=lambda cls: cls.__name__)
async def test_every_httpx_exception_becomes_a_tables_error(exception: type[Exception], method: str) -> None:
    def raising(request: httpx.Request) -> httpx.Response:
        raise make(exception, request)

    client = HttpClient(
        HttpSettings(base_url="https://example.invalid", retry=FAST),
        mapper,
        secrets=[SECRET],
        transport=httpx.MockTransport(raising),
    )
    try:
        with pytest.raises(TablesError) as raised:
            await client.request(method, "/records")
    finally:
        await client.aclose()
    error = raised.value
    assert SECRET not in error.message and SECRET not in (error.hint or "")
    assert error.__cause__ is None, "httpx exceptions (their text may hold URLs) are not chained"
    if (
        method == "POST"
        and error.code is ErrorCode.UNAVAILABLE
        and not isinstance(
            make(exception, httpx.Request("GET", "https://x")),
            httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.ProxyError,
        )
    ):
        assert "may have been applied" in error.message, "a write that may have landed says so"


def test_the_walk_covers_the_classes_that_matter() -> None:
    names = {cls.__name__ for cls in HTTPX_EXCEPTIONS}
    assert {
        "ConnectError",
        "ReadTimeout",
        "RemoteProtocolError",
        "DecodingError",
        "InvalidURL",
        "StreamClosed",
    } <= names
