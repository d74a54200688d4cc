"""Column definitions -> JSON Schema, for every canonical type, checked with a real validator."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from tables_mcp.model import Capabilities, Column, ColumnType, Table
from tables_mcp.schema import create_schema, list_schema, patch_schema, value_schema

CAPS = Capabilities()


def col(kind: ColumnType, **extra: Any) -> Column:
    return Column(name="c", type=kind, native_type=f"test:{kind}", **extra)


# (column, accepted values, rejected values)
CASES: list[tuple[Column, list[Any], list[Any]]] = [
    (col(ColumnType.TEXT, max_length=5), ["", "abc"], [1, None, "toolong"]),
    (col(ColumnType.LONGTEXT), ["line\nline"], [True]),
    (col(ColumnType.EMAIL), ["a@b.io"], ["nope", 3]),
    (col(ColumnType.PHONE), ["+81 3-1234-5678"], [3]),
    (col(ColumnType.URL), ["https://example.com/x?y=1"], ["not a url", "example.com"]),
    (col(ColumnType.NUMBER, minimum=0, maximum=10), [0, 2.5, 10], [-1, 11, "5", None]),
    (col(ColumnType.BOOLEAN), [True, False], ["true", 0]),
    (col(ColumnType.DATE), ["2026-02-28"], ["2026-02-30", "28/02/2026"]),
    (col(ColumnType.DATETIME), ["2026-02-28T10:00:00Z", "2026-02-28T10:00:00+09:00"], ["2026-02-28", "10:00"]),
    (col(ColumnType.TIME), ["09:30", "23:59:59"], ["24:00", "9:30", "09:30:00Z"]),
    (col(ColumnType.SELECT, options=("a", "b")), ["a"], ["c", None, ["a"]]),
    (col(ColumnType.MULTISELECT, options=("a", "b")), [[], ["a", "b"]], [["a", "a"], ["c"], "a"]),
    (col(ColumnType.REFERENCE, reference_table="t1"), ["12", ["1", "2"]], [12, [1]]),
    (col(ColumnType.USER), ["ana"], [1, ["ana"]]),
    (col(ColumnType.USER, multiple=True), ["ana", ["ana", "li"]], [1, [1]]),
]


@pytest.mark.parametrize(("column", "good", "bad"), CASES, ids=[c[0].type.value for c in CASES])
def test_value_schema_accepts_and_rejects(column: Column, good: list[Any], bad: list[Any]) -> None:
    validator = jsonschema_rs.validator_for(value_schema(column), validate_formats=True)
    for value in good:
        assert validator.is_valid(value), value
    for value in bad:
        assert not validator.is_valid(value), value


@pytest.mark.parametrize("kind", [ColumnType.FORMULA, ColumnType.AI, ColumnType.SERIAL, ColumnType.UNKNOWN])
def test_computed_columns_are_absent_from_writes(kind: ColumnType) -> None:
    table = Table(
        id="t",
        name="T",
        columns=(
            col(ColumnType.TEXT).model_copy(update={"name": "a"}),
            col(kind).model_copy(update={"name": "computed", "required": True}),
        ),
    )
    row = create_schema(table, CAPS)["properties"]["records"]["items"]
    assert list(row["properties"]) == ["a"] and "required" not in row
    assert row["additionalProperties"] is False
    assert "computed" not in patch_schema(table)["properties"]["fields"]["properties"]


def test_read_only_and_file_columns_are_absent_from_writes() -> None:
    table = Table(
        id="t", name="T", columns=(col(ColumnType.TEXT, read_only=True), col(ColumnType.FILE, read_only=True))
    )
    assert create_schema(table, CAPS)["properties"]["records"]["items"]["properties"] == {}


def test_patch_allows_null_for_optional_columns_only() -> None:
    table = Table(
        id="t",
        name="T",
        columns=(
            Column(name="opt", type=ColumnType.SELECT, native_type="x", options=("a",)),
            Column(name="req", type=ColumnType.NUMBER, native_type="x", required=True),
        ),
    )
    fields = patch_schema(table)["properties"]["fields"]
    validator = jsonschema_rs.validator_for(fields)
    assert validator.is_valid({"opt": None})
    assert not validator.is_valid({"req": None})
    assert not validator.is_valid({})


def test_subtable_rows_are_typed() -> None:
    sub = Column(
        name="Items",
        type=ColumnType.SUBTABLE,
        native_type="SUBTABLE",
        subcolumns=(
            Column(name="Qty", type=ColumnType.NUMBER, native_type="NUMBER", required=True),
            Column(name="Sum", type=ColumnType.FORMULA, native_type="CALC"),
        ),
    )
    validator = jsonschema_rs.validator_for(value_schema(sub))
    assert validator.is_valid([{"Qty": 2}])
    assert not validator.is_valid([{"Qty": "2"}])
    assert not validator.is_valid([{"Qty": 2, "Sum": 3}])


def test_typed_filter_schema_lists_fields_and_operators_per_type() -> None:
    table = Table(
        id="t",
        name="T",
        columns=(
            Column(name="Status", type=ColumnType.SELECT, native_type="x", options=("a", "b")),
            Column(name="Amount", type=ColumnType.NUMBER, native_type="x"),
        ),
    )
    schema = list_schema(table, CAPS)
    validator = jsonschema_rs.validator_for(schema)
    assert validator.is_valid({"filter": {"field": "Amount", "op": "gt", "value": 3}})
    assert validator.is_valid(
        {
            "filter": {
                "and": [
                    {"field": "Status", "op": "in", "value": ["a"]},
                    {"or": [{"field": "Amount", "op": "lt", "value": 1}]},
                ]
            }
        }
    )
    assert not validator.is_valid({"filter": {"field": "Status", "op": "gt", "value": "a"}})
    assert not validator.is_valid({"filter": {"field": "Nope", "op": "eq", "value": 1}})
    assert not validator.is_valid({"fields": ["Nope"]})
