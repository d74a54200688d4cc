"""A tool result's wire dict, assembled by `ToolResult` instead of walked by pydantic, is the one pydantic gives."""

from __future__ import annotations

from typing import Any

import mcp.types as types
import pytest

from tables_mcp.server import ToolResult

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
