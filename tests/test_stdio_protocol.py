"""Hostile bytes on stdin: every request gets exactly one answer, and the server goes on.

Found by fuzzing the landed server: a lone surrogate, nesting past the parser's depth, an integer
past Python's digit limit, a truncated line, a JSON-RPC batch, bytes that are not UTF-8 and an unknown
method were each dropped without an answer (or answered with the wrong code), leaving the client to
wait for its own timeout.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .test_stdio_cli import command, env_for

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}},
}

# (raw line, the ids and error codes it must be answered with)
HOSTILE: list[tuple[bytes, list[tuple[Any, int]]]] = [
    (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"listTables","arguments":{"t":"\\ud800"}}}',
        [(1, -32602)],
    ),
    (b"[" * 5000 + b"]" * 5000, [(None, -32700)]),
    (
        b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","arguments":{"n":' + b"9" * 5000 + b"}}}",
        [(3, -32700)],
    ),
    (b'{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"listTab', [(4, -32700)]),
    (
        b'[{"jsonrpc":"2.0","id":5,"method":"ping"},{"jsonrpc":"2.0","id":6,"method":"ping"}]',
        [(5, -32600), (6, -32600)],
    ),
    (b'{"jsonrpc":"2.0","id":7,"method":"ping","params":{"x":"\xff\xfe"}}', [(7, -32700)]),
    (b'{"jsonrpc":"2.0","id":8,"method":"no/such/method"}', [(8, -32601)]),
    (b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"noSuchTool","arguments":{}}}', [(9, -32602)]),
    (b'"just a string"', [(None, -32600)]),
]


@pytest.mark.parametrize(("line", "expected"), HOSTILE, ids=[f"line{i}" for i in range(len(HOSTILE))])
def test_each_hostile_line_gets_its_answer_and_the_server_goes_on(
    tmp_path: Path, line: bytes, expected: list[tuple[Any, int]]
) -> None:
    ping = {"jsonrpc": "2.0", "id": 99, "method": "ping"}
    stdin = b"".join(
        [
            json.dumps(INIT).encode(),
            b"\n",
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n',
            line,
            b"\n",
            json.dumps(ping).encode(),
            b"\n",
        ]
    )
    # stdin stays open until the last answer came: closing it would cancel requests still in flight.
    process = subprocess.Popen(
        command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(tmp_path / "f.db")
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(stdin)
    process.stdin.flush()
    answers: list[dict[str, Any]] = []
    awaited = {request_id for request_id, _ in expected if request_id is not None} | {99}
    while not awaited <= {answer.get("id") for answer in answers}:
        text = process.stdout.readline()
        assert text, "the server closed stdout before answering"
        answers.append(json.loads(text))
    process.stdin.close()
    stderr = process.stderr.read() if process.stderr else b""
    assert process.wait(timeout=30) == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr
    by_id: dict[Any, list[dict[str, Any]]] = {}
    for answer in answers:
        if "id" in answer:
            by_id.setdefault(answer["id"], []).append(answer)
    for request_id, code in expected:
        [answer] = by_id.get(request_id, [None])  # exactly one answer
        assert answer is not None and answer["error"]["code"] == code, (request_id, answers)
    assert by_id[99] == [{"jsonrpc": "2.0", "id": 99, "result": {}}], "the server answers the next request"
