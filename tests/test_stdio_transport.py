"""The stdio transport's two ways of moving lines: the event loop's pipes, and worker threads for anything else.

A pipe gets lines in pieces and several at once; a regular file (stdout redirected to a file) cannot go on the
event loop's pipe transports and must still be served, through the fallback.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import mcp.types as types

from tables_mcp.stdio import encode_message

from .test_stdio_cli import command, env_for

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def _ping(request_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "ping"}


def test_lines_split_across_writes_and_packed_into_one_are_each_answered(tmp_path: Path) -> None:
    process = subprocess.Popen(
        command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(tmp_path / "p.db")
    )
    assert process.stdin is not None and process.stdout is not None
    first = _line(INIT) + _line(INITIALIZED)
    process.stdin.write(first[:7])  # a line in pieces
    process.stdin.flush()
    time.sleep(0.05)
    process.stdin.write(first[7:] + _line(_ping(1)) + _line(_ping(2)) + _line(_ping(3)))  # lines packed together
    process.stdin.flush()
    answers = [json.loads(process.stdout.readline()) for _ in range(4)]
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    assert [answer["id"] for answer in answers] == [0, 1, 2, 3]
    assert answers[1:] == [{"jsonrpc": "2.0", "id": i, "result": {}} for i in (1, 2, 3)]


def test_stdout_to_a_regular_file_is_served_through_the_fallback(tmp_path: Path) -> None:
    answers_file = tmp_path / "answers.jsonl"
    with answers_file.open("wb") as stdout:
        process = subprocess.Popen(
            command(), stdin=subprocess.PIPE, stdout=stdout, stderr=subprocess.PIPE, env=env_for(tmp_path / "f.db")
        )
        assert process.stdin is not None
        process.stdin.write(_line(INIT) + _line(INITIALIZED) + _line(_ping(1)))
        process.stdin.flush()
        deadline = time.monotonic() + 30
        while answers_file.read_bytes().count(b"\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.stdin.close()  # only once both answers are written: closing stdin ends requests in flight
        assert process.wait(timeout=30) == 0
    answers = [json.loads(line) for line in answers_file.read_bytes().splitlines()]
    assert [answer["id"] for answer in answers] == [0, 1]


def test_a_response_is_encoded_to_the_bytes_the_sdk_model_gives() -> None:
    result = {"structuredContent": {"records": [{"id": "1", "fields": {"名前": "Ωmega", "n": None}}], "next": None}}
    response = types.JSONRPCMessage(types.JSONRPCResponse(jsonrpc="2.0", id=7, result=result))
    notification = types.JSONRPCMessage(types.JSONRPCNotification(jsonrpc="2.0", method="x", params={"a": None}))
    for message in (response, notification):
        assert encode_message(message) == message.model_dump_json(by_alias=True, exclude_none=True).encode()
