"""An `httpx.Auth` for platforms whose access token is fetched with app credentials and expires.

`RefreshingTokenAuth` signs each request with a header holding the current token. It owns:
- fetching on first use, and caching the token until shortly before the lifetime the platform gave;
- single flight: however many requests find the token missing, stale or rejected at once, one fetch
  runs and the others wait for it and reuse its token;
- one repeat: when the platform rejects a request's token (`is_rejected`), the token is refreshed
  (unless another request already did) and the request is sent once more, never more.

Fetching is the caller's `fetch` coroutine (it talks to the token endpoint through its own HTTP
client, so that the token request is never signed with a token); every token it returns is handed
to `register_secret` before any request carries it, so that no message can ever show it. A fetch
that fails raises its `TablesError`, which reaches the caller of the signed request unchanged.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass

import anyio
import httpx

# Refresh this long before the platform's expiry (at most half the lifetime), so no request is signed
# with a token that expires on the way.
REFRESH_MARGIN = 300.0


@dataclass(frozen=True)
class AccessToken:
    value: str
    lifetime: float  # seconds the platform says the token lives, counted from the fetch


class RefreshingTokenAuth(httpx.Auth):
    """See the module docstring."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[AccessToken]],
        *,
        header: str,
        register_secret: Callable[[str], None],
        is_rejected: Callable[[httpx.Response], bool] = lambda response: response.status_code == 401,
        margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._header = header
        self._register = register_secret
        self._is_rejected = is_rejected
        self._margin = margin
        self._clock = clock
        self._token: str | None = None
        self._good_until = 0.0
        self._lock = anyio.Lock()
        self.fetches = 0  # tokens fetched so far (for diagnostics and tests)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._current()
        request.headers[self._header] = token
        response = yield request
        await response.aread()  # some platforms tell a rejected token only in the body
        if self._is_rejected(response):
            request.headers[self._header] = await self._renew(rejected=token)
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("RefreshingTokenAuth works with httpx.AsyncClient only")

    async def _current(self) -> str:
        if self._token is not None and self._clock() < self._good_until:
            return self._token
        return await self._renew(rejected=None)

    async def _renew(self, rejected: str | None) -> str:
        """A fresh token: the one another caller fetched meanwhile, or a newly fetched one."""
        async with self._lock:
            fresh = self._token is not None and self._clock() < self._good_until
            if fresh and self._token != rejected:
                assert self._token is not None
                return self._token
            started = self._clock()
            got = await self._fetch()
            self.fetches += 1
            self._register(got.value)
            margin = min(self._margin, max(got.lifetime, 0.0) / 2)
            self._token, self._good_until = got.value, started + got.lifetime - margin
            return got.value
