"""Serving a fake platform, shared by every fake: uvicorn in a daemon thread on a loopback socket, an app that
sends every request to the fake, the connection reset its fault switches use, and the `Switchboard` of random,
seeded faults (5xx, throttling, expired credentials, resets before the platform applies a request; answers
lost, late or malformed after it did) that every fake consults with its own wording of each refusal."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send


@contextlib.contextmanager
def serve_in_thread(app: Any, name: str, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serves the ASGI `app` until the block ends; yields its root URL (``http://127.0.0.1:<port>``)."""
    # proto=IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP; without it
    # every keep-alive request waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", http="h11", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"fake-{name}")
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the fake {name} server did not start")
            time.sleep(0.005)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


RAW_SEND = "fake.raw_send"


class _ResettableApp(Starlette):
    """Starlette that keeps the server's own ``send`` in the scope, so that a fault can reset the socket."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[RAW_SEND] = send
        await super().__call__(scope, receive, send)


def catch_all_app(serve: Callable[[Request], Awaitable[Response]], path: str = "/{rest:path}") -> Starlette:
    """An app sending every method on `path` to `serve` (each fake dispatches and answers errors itself)."""
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return _ResettableApp(routes=[Route(path, serve, methods=methods)])


async def reset_connection(scope: Scope) -> None:
    """Drops the TCP connection with a reset (SO_LINGER 0), using uvicorn's h11 transport."""
    transport = getattr(getattr(scope.get(RAW_SEND), "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("a connection reset needs uvicorn's h11 protocol (serve the fake with serve_in_thread)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await asyncio.sleep(0.01)  # let connection_lost mark the request cycle disconnected


# -- the fault switchboard: one per fake, the same for all ------------------------------------------------------

FaultKind = Literal["server_error", "throttle", "auth_expired", "reset", "lost_answer", "slow", "malformed"]
# Faults that stop a request before the platform applies it; the others apply it and then spoil the answer.
BEFORE_APPLY: frozenset[str] = frozenset({"server_error", "throttle", "auth_expired", "reset"})
AFTER_APPLY: frozenset[str] = frozenset({"lost_answer", "slow", "malformed"})


@dataclass(frozen=True)
class Fault:
    """What the switchboard decided for one request."""

    kind: FaultKind
    status: int | None = None  # a refusal with this HTTP status instead of the platform's usual one

    @property
    def before_apply(self) -> bool:
        return self.kind in BEFORE_APPLY


Eligible = Callable[[str, str], bool]  # (method, path) -> may this request get a fault?
# How a platform words a refusal (server_error, throttle, auth_expired): its own answer, or None when the fake
# changed its state instead (DingTalk expires its access tokens) and the request is served as usual.
Voice = Callable[[Fault], Response | None]


class Switchboard:
    """Random faults, seeded: a decision per request, before-apply / after-apply / none.

    Off until `arm`. Each decision is drawn from a `random.Random` seeded by the seed, the request's method
    and body, and how many requests with the same method and body came before, so that a run repeats itself
    where the platform makes ids at random and, mostly, where an adapter sends requests concurrently.
    `injected` counts the faults by kind, `decisions` the requests decided.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.disarm()

    def arm(
        self,
        seed: int,
        rates: Mapping[FaultKind, float],
        *,
        eligible: Eligible = lambda method, path: True,
        slow_seconds: float = 0.5,
        write_jitter: float = 0.0,
    ) -> None:
        """From now on each eligible request gets fault `kind` with probability `rates[kind]`; a request other
        than a GET first waits up to `write_jitter` seconds, as a real network varies, so that requests sent
        at once may arrive in another order."""
        if sum(rates.values()) > 1:
            raise ValueError("the fault rates add up to more than 1")
        with self._lock:
            self._seed = seed
            self._rates = dict(rates)
            self._eligible = eligible
            self.slow_seconds = slow_seconds
            self.write_jitter = write_jitter
            self._seen: Counter[str] = Counter()

    def fail_after(self, passed: int, fault: Fault, eligible: Eligible) -> None:
        """The eligible request that comes after the next `passed` eligible ones gets `fault` (once)."""
        with self._lock:
            self._planned = (passed, fault, eligible)

    def disarm(self) -> None:
        """No more faults; the counts start again."""
        with self._lock:
            self._planned: tuple[int, Fault, Eligible] | None = None
            self._seed: int | None = None
            self._rates: dict[FaultKind, float] = {}
            self._eligible: Eligible = lambda method, path: False
            self.slow_seconds = 0.0
            self.write_jitter = 0.0
            self._seen = Counter()
            self.injected: Counter[str] = Counter()
            self.decisions = 0

    def decide(self, method: str, path: str, body: bytes) -> tuple[Fault | None, float]:
        """This request's fault (or None), and how long it waits before anything else happens."""
        with self._lock:
            if self._planned is not None and self._planned[2](method, path):
                passed, fault, eligible = self._planned
                self._planned = None if passed == 0 else (passed - 1, fault, eligible)
                if passed == 0:
                    self.injected[fault.kind] += 1
                    return fault, 0.0
            if self._seed is None or not self._eligible(method, path):
                return None, 0.0
            # Not the path: it holds ids that some platforms make at random (Onnie's UUIDs).
            fingerprint = f"{method} {hashlib.sha256(body).hexdigest()}"
            self._seen[fingerprint] += 1
            rng = random.Random(f"{self._seed}|{fingerprint}|{self._seen[fingerprint]}")
            draw = rng.random()
            delay = rng.uniform(0, self.write_jitter) if method != "GET" else 0.0
            self.decisions += 1
            for kind, rate in self._rates.items():
                if draw < rate:
                    self.injected[kind] += 1
                    return Fault(kind), delay
                draw -= rate
            return None, delay

    async def serve(self, request: Request, body: bytes, apply: Callable[[], Response], voice: Voice) -> Response:
        """`apply()` (the platform serving the request) under this request's fault, if it gets one."""
        fault, delay = self.decide(request.method, request.url.path, body)
        if delay:
            await asyncio.sleep(delay)
        if fault is None:
            return apply()
        if fault.kind == "reset":
            await reset_connection(request.scope)
            return Response(status_code=500)  # never delivered: the connection is gone
        if fault.before_apply:
            refusal = voice(fault)
            return apply() if refusal is None else refusal
        response = apply()
        if fault.kind == "lost_answer":
            await reset_connection(request.scope)
            return Response(status_code=500)  # never delivered, though the platform applied the request
        if fault.kind == "slow":
            await asyncio.sleep(self.slow_seconds)  # applied at once; the answer comes after the client gave up
            return response
        cut = bytes(response.body)[: max(1, len(response.body) // 2)]  # malformed: the answer cut in half
        return Response(cut, response.status_code, media_type=response.media_type)


class RequestLogReader:
    """The contract Target's view of a fake's request log, for targets that set `state` (a fake with `requests`
    and `clear_log()`) and name their platform's record writes with `is_record_write`."""

    state: Any

    @staticmethod
    def is_record_write(request: Any) -> bool:
        raise NotImplementedError

    def clear_log(self) -> None:
        self.state.clear_log()

    def network_requests(self) -> int:
        return len(self.state.requests)

    def network_writes(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in list(self.state.requests) if self.is_record_write(r)]
