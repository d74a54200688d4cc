"""A tool result's wire dict, assembled by `tool_answer` instead of dumped by pydantic, is the one pydantic gives,
and the line the stdio writer makes of it (the payload's JSON spliced in) is the line pydantic writes."""

from __future__ import annotations

import json
from typing import Any

import anyio
import mcp.types as types
import pydantic_core
import pytest
from mcp.shared.message import SessionMessage

from tables_mcp.server import tool_answer
from tables_mcp.stdio import EncodedJSON, LineWriter, encode_message
from tables_mcp.tools import ToolOutcome

SDK_DUMP: dict[str, Any] = {"by_alias": True, "mode": "json", "exclude_none": True}
PAYLOADS = [
    {
        "records": [{"id": "1", "fields": {"名前": "Ωmega", "n": None, "tags": ["a"]}, "created_at": None}],
        "nextCursor": None,
    },
    {"error": {"code": "invalid_argument", "message": "bad", "fieldErrors": [{"field": "x", "record": 0}]}},
]


def sdk_wire(outcome: ToolOutcome) -> dict[str, Any]:
    """What the SDK sends for the same result: pydantic's dump of the CallToolResult."""
    result = types.CallToolResult(
        content=[types.TextContent(type="text", text=outcome.text)],
        structuredContent=outcome.payload,
        isError=outcome.is_error,
    )
    dumped: dict[str, Any] = types.ServerResult(result).model_dump(**SDK_DUMP)
    return dumped


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("is_error", [False, True])
@pytest.mark.parametrize("encoded", [False, True])
def test_the_assembled_dict_is_the_one_pydantic_dumps(payload: dict[str, Any], is_error: bool, encoded: bool) -> None:
    json_bytes = pydantic_core.to_json(payload) if encoded else None
    outcome = ToolOutcome(payload, "data:\n{}", is_error=is_error, encoded=json_bytes)
    wire = tool_answer(outcome).wire
    expected = sdk_wire(outcome)
    assert wire == expected and list(wire) == list(expected)
    assert (type(wire["structuredContent"]) is EncodedJSON) is encoded


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("is_error", [False, True])
def test_the_stdio_line_splices_the_payload_json_to_the_bytes_pydantic_writes(
    payload: dict[str, Any], is_error: bool
) -> None:
    """What our session does with the dict (a JSONRPCResponse around it) and what our stdio writer makes of it:
    the payload's own JSON is spliced in (no second encoding of its records), and the line is the usual one."""
    encoded = pydantic_core.to_json(payload)
    wire = tool_answer(ToolOutcome(payload, "data:\n" + encoded.decode(), is_error=is_error, encoded=encoded)).wire
    response = types.JSONRPCMessage(types.JSONRPCResponse(jsonrpc="2.0", id=7, result=wire))
    assert type(response.root.result["structuredContent"]) is EncodedJSON  # it survives the SDK's model
    line = encode_message(response)
    plain = types.JSONRPCMessage(types.JSONRPCResponse(jsonrpc="2.0", id=7, result=json.loads(json.dumps(wire))))
    assert line == encode_message(plain) == plain.model_dump_json(by_alias=True, exclude_none=True).encode()


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("request_id", [7, "req-7"])
def test_a_result_sent_straight_to_the_line_is_the_line_the_sdk_message_gives(
    payload: dict[str, Any], request_id: int | str
) -> None:
    """Over stdio our session hands a tool's wire dict to `LineWriter.send_result`, skipping the SDK's message
    models: the line must be byte for byte the one `send` writes for the JSONRPCResponse around it."""
    encoded = pydantic_core.to_json(payload)
    wire = tool_answer(ToolOutcome(payload, "data:\n" + encoded.decode(), encoded=encoded)).wire
    written: list[bytes] = []

    async def sink(data: bytes) -> None:
        written.append(data)

    async def both() -> None:
        writer = LineWriter(sink)
        await writer.send_result(request_id, wire)
        response = types.JSONRPCResponse(jsonrpc="2.0", id=request_id, result=wire)
        await writer.send(SessionMessage(types.JSONRPCMessage(response)))

    anyio.run(both)
    plain = types.JSONRPCResponse(jsonrpc="2.0", id=request_id, result=json.loads(json.dumps(wire)))
    assert written[0] == written[1] == plain.model_dump_json(by_alias=True, exclude_none=True).encode() + b"\n"
    assert json.loads(written[0])["result"]["structuredContent"] == payload
