"""Starts the real `tables-mcp` command as an HTTP server on 127.0.0.1 for tests, and clients for it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

TOKEN = "test-token-4f9a2c7e1b"


def command() -> list[str]:
    script = Path(sys.executable).with_name("tables-mcp")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tables_mcp"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[str]
    transport: str
    token: str | None
    stderr_path: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then the exit status and whatever the server wrote on stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode, self.stderr_path.read_text()

    @asynccontextmanager
    async def session(
        self, message_handler: Any = None, elicitation_callback: Any = None
    ) -> AsyncIterator[ClientSession]:
        if self.transport == "sse":
            async with sse_client(f"{self.url}/sse", headers=self.headers) as (read, write):
                async with ClientSession(
                    read, write, message_handler=message_handler, elicitation_callback=elicitation_callback
                ) as session:
                    await session.initialize()
                    yield session
            return
        async with httpx.AsyncClient(headers=self.headers, timeout=60) as http:
            async with streamable_http_client(f"{self.url}/mcp", http_client=http) as (read, write, _):
                async with ClientSession(
                    read, write, message_handler=message_handler, elicitation_callback=elicitation_callback
                ) as session:
                    await session.initialize()
                    yield session


def start_server(
    db: Path, *args: str, transport: str = "http", token: str | None = TOKEN, env: dict[str, str] | None = None
) -> RunningServer:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TABLES_MCP_")}
    environment.update({"TABLES_MCP_DB": str(db), **(env or {})})
    if token:
        environment["TABLES_MCP_AUTH_TOKEN"] = token
    # stderr goes to a file: a pipe nobody reads fills up and blocks the server's logging.
    stderr_path = db.with_name(f"{db.name}.{port}.stderr")
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [*command(), "--transport", transport, "--port", str(port), *args],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {stderr_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return RunningServer(url, process, transport, token, stderr_path)
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start")


@contextmanager
def running(db: Path, *args: str, **kwargs: Any) -> Iterator[RunningServer]:
    server = start_server(db, *args, **kwargs)
    try:
        yield server
    finally:
        server.stop()
