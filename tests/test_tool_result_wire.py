"""A tool result's wire dict, assembled by `ToolResult` instead of walked by pydantic, is the one pydantic gives."""

from __future__ import annotations

import json
from typing import Any

import mcp.types as types
import pydantic_core
import pytest

from tables_mcp.server import ToolResult
from tables_mcp.stdio import EncodedJSON, encode_message

SDK_DUMP: dict[str, Any] = {"by_alias": True, "mode": "json", "exclude_none": True}
PAYLOADS = [
    {
        "records": [{"id": "1", "fields": {"名前": "Ωmega", "n": None, "tags": ["a"]}, "created_at": None}],
        "nextCursor": None,
    },
    {"error": {"code": "invalid_argument", "message": "bad", "fieldErrors": [{"field": "x", "record": 0}]}},
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("is_error", [False, True])
def test_the_assembled_dict_is_the_one_pydantic_dumps(payload: dict[str, Any], is_error: bool) -> None:
    result = types.CallToolResult(
        content=[types.TextContent(type="text", text="{}")], structuredContent=payload, isError=is_error
    )
    dumped = ToolResult(result).model_dump(**SDK_DUMP)
    expected = types.ServerResult(result).model_dump(**SDK_DUMP)
    assert dumped == expected and list(dumped) == list(expected)


def test_other_dumps_and_other_results_go_the_usual_way() -> None:
    annotated = types.CallToolResult(
        content=[types.TextContent(type="text", text="x", annotations=types.Annotations(priority=0.5))]
    )
    assert ToolResult(annotated).model_dump(**SDK_DUMP) == types.ServerResult(annotated).model_dump(**SDK_DUMP)
    plain = types.CallToolResult(content=[types.TextContent(type="text", text="x")], structuredContent={"a": None})
    assert ToolResult(plain).model_dump() == types.ServerResult(plain).model_dump()


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("is_error", [False, True])
def test_the_stdio_line_splices_the_payload_json_to_the_bytes_pydantic_writes(
    payload: dict[str, Any], is_error: bool
) -> None:
    """What the SDK does with the dict (a JSONRPCResponse around it) and what our stdio writer makes of it: the
    payload's own JSON is spliced in (no second encoding of its records), and the line is the usual one."""
    encoded = pydantic_core.to_json(payload)
    result = ToolResult(
        types.CallToolResult(
            content=[types.TextContent(type="text", text="data:\n" + encoded.decode())],
            structuredContent=payload,
            isError=is_error,
        )
    )
    result._encoded = encoded
    wire = result.model_dump(**SDK_DUMP)
    response = types.JSONRPCMessage(types.JSONRPCResponse(jsonrpc="2.0", id=7, result=wire))
    assert type(response.root.result["structuredContent"]) is EncodedJSON  # it survives the SDK's model
    line = encode_message(response)
    plain = types.JSONRPCMessage(types.JSONRPCResponse(jsonrpc="2.0", id=7, result=json.loads(json.dumps(wire))))
    assert line == encode_message(plain) == plain.model_dump_json(by_alias=True, exclude_none=True).encode()
