"""The schema cache every adapter uses: tables loaded at most once per TTL, one load at a time, and the
last good schema kept when a refresh fails for a reason that will pass (outage, throttling).

A failed refresh must not turn a working session into errors on every call while the platform hiccups;
a refresh refused for good (credentials revoked, permission removed) is raised, never hidden.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio

from ...errors import TablesError

T = TypeVar("T")
log = logging.getLogger("tables_mcp.schema_cache")


class SchemaCache(Generic[T]):
    def __init__(
        self, load: Callable[[], Awaitable[T]], ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._load = load
        self.ttl = ttl
        self._clock = clock
        self._value: T | None = None
        self._loaded_at = 0.0
        self._lock = anyio.Lock()

    @property
    def current(self) -> T | None:
        return self._value

    def invalidate(self) -> None:
        self._loaded_at = 0.0

    async def get(self, force: bool = False) -> T:
        if not force and self._fresh():
            assert self._value is not None
            return self._value
        started = self._clock()
        async with self._lock:  # single flight: callers waiting here reuse the load that just finished
            if self._value is not None and self._loaded_at >= started and not force:
                return self._value
            if not force and self._fresh():
                assert self._value is not None
                return self._value
            try:
                value = await self._load()
            except TablesError as exc:
                if self._value is None or not exc.retryable:
                    raise
                log.warning("schema refresh failed (%s); keeping the last good schema", exc.message)
                self._loaded_at = self._clock()  # retry after another TTL, not on every call
                return self._value
            self._value, self._loaded_at = value, self._clock()
            return value

    def _fresh(self) -> bool:
        return self._value is not None and self._clock() - self._loaded_at < self.ttl
