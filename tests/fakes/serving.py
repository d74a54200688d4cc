"""Serving a fake platform, shared by every fake: uvicorn in a daemon thread on a loopback socket, an app that
sends every request to the fake, and the connection reset its fault switches use."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

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
