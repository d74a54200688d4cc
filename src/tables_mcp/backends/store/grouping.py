"""aggregateRecords on the embedded store: one SQL `GROUP BY` statement per request, on either engine.

The statement groups by the groupBy columns, orders the groups by key ascending with NULL (empty)
last, counts all groups with a window (`COUNT(*) OVER ()`) and returns at most `limit` of them. Sums
are exact on both engines: PostgreSQL's numeric SUM is, and SQLite gets `ExactSum`, a decimal
aggregate function registered on its connection, where its own SUM would add binary floats. What the
numbers become (plain form, exact mean rounded once, empty results) is `tables_mcp.aggregate`'s rule,
the same as for the scan of other backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import Any

from ...aggregate import EXACT, AggregateQuery, AggregateResult, Group, Metric, avg_value, exact_number, key_value
from ...aggregate import sum_value as finish_sum
from ...model import ColumnType, Table
from .sql import Dialect, PostgresDialect, filter_sql, table_sql_name

EXACT_SUM_FUNCTION = "tm_exact_sum"


class ExactSum:
    """SQLite aggregate: the exact decimal sum of a column's numbers, as text (NULL when there are none).

    Called once per row, so a row costs as little as it can: whole numbers are added as Python ints, and
    floats are gathered and turned into decimals a batch at a time, in one loop at C speed."""

    BATCH = 4096

    def __init__(self) -> None:
        self.whole = 0
        self.floats: list[float] = []
        self.total: Decimal | None = None
        self.seen = False

    def step(self, value: Any, /) -> None:
        kind = type(value)
        if kind is float:
            self.floats.append(value)
            if len(self.floats) >= self.BATCH:
                self._add_floats()
        elif kind is int:
            self.whole += value
        elif value is None:
            return
        else:  # text in a NUMERIC column: never written by tables-mcp, still summed exactly
            self._add(exact_number(value))
        self.seen = True

    def _add_floats(self) -> None:
        self._add(sum_floats(self.floats))
        self.floats.clear()

    def _add(self, value: Decimal) -> None:
        self.total = value if self.total is None else EXACT.add(self.total, value)

    def finalize(self) -> Any:  # text or NULL (the stubs expect SQLite aggregates to give integers)
        if not self.seen:
            return None
        if self.floats:
            self._add_floats()
        return str(EXACT.add(self.total or Decimal(0), Decimal(self.whole)))


def sum_floats(values: list[float]) -> Decimal:
    """The exact sum of floats taken as the decimals they show (their shortest repr)."""
    with localcontext(EXACT):
        return sum(map(Decimal, map(repr, values)), Decimal(0))


def _exact_sum(dialect: Dialect, col: str) -> str:
    if isinstance(dialect, PostgresDialect):
        return f"SUM({col})::text"
    return f"{EXACT_SUM_FUNCTION}({col})"


def _metric_sql(dialect: Dialect, metric: Metric, sql_names: dict[str, str]) -> list[str]:
    """The select-list items of one metric (avg takes two: its exact sum and its count)."""
    if metric.column is None:
        return ["COUNT(*)"]
    col = f'"{sql_names[metric.column.name]}"'
    if metric.op == "count":
        return [f"COUNT({col})"]
    if metric.op == "sum":
        return [_exact_sum(dialect, col)]
    if metric.op == "avg":
        return [_exact_sum(dialect, col), f"COUNT({col})"]
    return [f"{metric.op.upper()}({col})"]


class AggregatePlan:
    """One aggregateRecords request: the SQL, its parameters, and how to turn the rows into a result."""

    __slots__ = ("dialect", "params", "query", "sql")

    def __init__(self, dialect: Dialect, table: Table, sql_names: dict[str, str], query: AggregateQuery) -> None:
        self.dialect, self.query = dialect, query
        keys = [f'"{sql_names[col.name]}"' for col in query.group_by]
        items = list(keys)
        if keys:
            items.append("COUNT(*) OVER ()")
        for metric in query.metrics:
            items += _metric_sql(dialect, metric, sql_names)
        sql = f"SELECT {', '.join(items)} FROM {table_sql_name(table.id)}"
        params: list[Any] = []
        if query.filter is not None:
            clause, params = filter_sql(dialect, query.filter, sql_names)
            sql += f" WHERE {clause}"
        if keys:
            order = ", ".join(f"({key} IS NULL), {key}" for key in keys)
            sql += f" GROUP BY {', '.join(keys)} ORDER BY {order} LIMIT {dialect.param(ColumnType.TEXT)}"
            params.append(query.limit)
        self.sql, self.params = sql, params

    def result(self, rows: Sequence[Sequence[Any]]) -> AggregateResult:
        columns = self.query.group_by
        groups = []
        for row in rows:
            key = {
                col.name: key_value(col, None if raw is None else self.dialect.decoder(col.type)(raw))
                for col, raw in zip(columns, row, strict=False)
            }
            groups.append(Group(key, self._values(row[len(columns) + (1 if columns else 0) :])))
        count = int(rows[0][len(columns)]) if columns and rows else len(groups)
        return AggregateResult(groups, count)

    def _values(self, cells: Sequence[Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        at = 0
        for metric in self.query.metrics:
            raw = cells[at]
            at += 1
            if metric.op == "count":
                values[metric.name] = int(raw)
            elif metric.op == "sum":
                values[metric.name] = finish_sum(_decimal(raw))
            elif metric.op == "avg":
                values[metric.name] = avg_value(_decimal(raw), int(cells[at]))
                at += 1
            elif metric.column is not None:  # min and max always name a column
                column = metric.column
                values[metric.name] = None if raw is None else key_value(column, self.dialect.decoder(column.type)(raw))
        return values


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)
