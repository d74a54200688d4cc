"""aggregateRecords: the metric and group model, the checks of its arguments, and the bounded scan.

A request is checked against the table (the filter exactly as listRecords checks it), then either
handed to a backend that aggregates where the records live (`RecordAggregator`, SQL GROUP BY in the
embedded store), or computed here by `ScanAggregator` over at most `MAX_SCANNED_RECORDS` records read
through the backend's own list_records, projected to the columns the request needs.

Both ways give the same answer, defined here once:
- numbers are the decimals they show (0.1 is one tenth): sums are exact, an average is the exact
  quotient rounded once, and a whole result within 64 bits is an integer;
- an empty value (null, "", []) is in no sum, count(field), avg, min or max; a sum of nothing is 0,
  an avg, min or max of nothing is null;
- groups are ordered by key ascending, column by column, an empty key after every value;
- at most `limit` groups are returned; `groupCount` says how many there are, `truncated` whether
  some were left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, Inexact, InvalidOperation
from fractions import Fraction
from typing import Any, Protocol

from .errors import ErrorCode, FieldError, TablesError, invalid_argument
from .model import Capabilities, Column, ColumnType, FilterNode, ListQuery, Page, Table
from .query import build_list_query
from .validation import show_value

METRIC_OPS = ("count", "sum", "avg", "min", "max")
MAX_GROUP_BY = 3
MAX_METRICS = 10
DEFAULT_GROUP_LIMIT = 100
MAX_GROUP_LIMIT = 1000
MAX_SCANNED_RECORDS = 10_000
INT64_RANGE = (-(2**63), 2**63 - 1)

NUMERIC_TYPES = frozenset({ColumnType.NUMBER, ColumnType.SERIAL})
ORDERED_TYPES = frozenset({ColumnType.NUMBER, ColumnType.SERIAL, ColumnType.DATE, ColumnType.DATETIME, ColumnType.TIME})
GROUPABLE_TYPES = frozenset(
    {
        ColumnType.TEXT,
        ColumnType.EMAIL,
        ColumnType.PHONE,
        ColumnType.URL,
        ColumnType.USER,
        ColumnType.SELECT,
        ColumnType.BOOLEAN,
        ColumnType.NUMBER,
        ColumnType.DATE,
        ColumnType.DATETIME,
        ColumnType.TIME,
    }
)
# What each op takes, in words for errors.
_TAKES = {
    "sum": "a NUMBER or SERIAL column",
    "avg": "a NUMBER or SERIAL column",
    "min": "a NUMBER, SERIAL, DATE, DATETIME or TIME column",
    "max": "a NUMBER, SERIAL, DATE, DATETIME or TIME column",
}
GROUPABLE_WORDS = "TEXT, EMAIL, PHONE, URL, single USER, SELECT, BOOLEAN, NUMBER, DATE, DATETIME or TIME"

# Exact decimal addition: any sum of JSON numbers fits in these digits; `Inexact` would say otherwise.
EXACT = Context(prec=4000, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact, InvalidOperation])


# -- the model --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    op: str
    column: Column | None = None  # None only for count: the records of the group

    @property
    def name(self) -> str:
        """The key of the metric in a group's values: `count`, or `op(field)`."""
        return self.op if self.column is None else f"{self.op}({self.column.name})"


@dataclass(frozen=True)
class AggregateQuery:
    """A validated aggregateRecords request, in column objects rather than names."""

    filter: FilterNode | None = None
    group_by: tuple[Column, ...] = ()
    metrics: tuple[Metric, ...] = (Metric("count"),)
    limit: int = DEFAULT_GROUP_LIMIT

    def needed_fields(self) -> tuple[str, ...]:
        """The columns the request reads: its groupBy and metric fields."""
        names = [col.name for col in self.group_by]
        names += [metric.column.name for metric in self.metrics if metric.column is not None]
        return tuple(dict.fromkeys(names))


@dataclass
class Group:
    key: dict[str, Any]
    values: dict[str, Any]


@dataclass
class AggregateResult:
    groups: list[Group]
    group_count: int  # all the groups the filter gives, before the limit
    scanned: int | None = None  # records tables-mcp read to compute it; None when the backend aggregated

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "groups": [{"key": group.key, "values": group.values} for group in self.groups],
            "truncated": self.group_count > len(self.groups),
            "groupCount": self.group_count,
        }
        if self.scanned is not None:
            out["scannedRecords"] = self.scanned
        return out


# -- checking the arguments -------------------------------------------------------------------------


def build_aggregate_query(
    table: Table,
    caps: Capabilities,
    filter_arg: Any,
    group_by: Sequence[str] | None,
    metrics: Sequence[dict[str, Any]] | None,
    limit: int | None,
) -> AggregateQuery:
    """The request checked against the table; every problem is one field error of one invalid_argument."""
    problems: list[FieldError] = []
    filter_node = None
    if filter_arg is not None:
        try:
            filter_node = build_list_query(table, caps, {"filter": filter_arg}).filter
        except TablesError as exc:
            if exc.code is not ErrorCode.INVALID_ARGUMENT:
                raise
            problems += exc.field_errors
    columns = _group_columns(table, group_by or [], problems)
    chosen = _metrics(table, metrics if metrics is not None else [{"op": "count"}], problems)
    if problems:
        raise invalid_argument(f"Invalid aggregateRecords arguments: {len(problems)} problem(s).", problems)
    return AggregateQuery(filter_node, columns, chosen, limit or DEFAULT_GROUP_LIMIT)


def groupable(column: Column) -> bool:
    return column.type in GROUPABLE_TYPES and not column.multiple


def metric_applies(op: str, column: Column) -> bool:
    if op == "count":
        return True
    if op in ("sum", "avg"):
        return column.type in NUMERIC_TYPES
    return column.type in ORDERED_TYPES


def _group_columns(table: Table, names: Sequence[str], problems: list[FieldError]) -> tuple[Column, ...]:
    allowed = [col.name for col in table.columns if groupable(col)]
    found = []
    for i, name in enumerate(names):
        column = table.column(name)
        if column is None:
            problems.append(FieldError(f"groupBy[{i}]", f"unknown column {show_value(name)}", allowed=allowed))
        elif not groupable(column):
            kind = "multi-value USER" if column.type is ColumnType.USER else column.type.value
            message = f"cannot group by {kind} column '{column.name}'; groups are made on {GROUPABLE_WORDS} columns"
            problems.append(FieldError(f"groupBy[{i}]", message, allowed=allowed))
        else:
            found.append(column)
    return tuple(found)


def _metrics(table: Table, raw: Sequence[dict[str, Any]], problems: list[FieldError]) -> tuple[Metric, ...]:
    chosen: list[Metric] = []
    for i, item in enumerate(raw):
        metric = _metric(table, item.get("op", ""), item.get("field"), f"metrics[{i}]", problems)
        if metric is None:
            continue
        if any(other.name == metric.name for other in chosen):
            problems.append(FieldError(f"metrics[{i}]", f"'{metric.name}' is asked for twice"))
            continue
        chosen.append(metric)
    return tuple(chosen)


def _metric(table: Table, op: str, name: Any, where: str, problems: list[FieldError]) -> Metric | None:
    if op == "count" and name is None:
        return Metric("count")
    fitting = [col.name for col in table.columns if metric_applies(op, col)]
    if name is None:
        problems.append(FieldError(f"{where}.field", f"'{op}' needs a field: {_TAKES[op]}", allowed=fitting))
        return None
    column = table.column(name)
    if column is None:
        problems.append(FieldError(f"{where}.field", f"unknown column {show_value(name)}", allowed=fitting))
        return None
    if not metric_applies(op, column):
        message = f"'{op}' does not apply to {column.type.value} column '{column.name}'; it takes {_TAKES[op]}"
        problems.append(FieldError(f"{where}.field", message, allowed=fitting))
        return None
    return Metric(op, column)


# -- numbers and values -----------------------------------------------------------------------------


def exact_number(value: Any) -> Decimal:
    """A number as the decimal it shows: a float is the decimal of its shortest repr, 0.1 is one tenth."""
    if isinstance(value, bool):
        raise ValueError(f"{value} is not a number")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{show_value(value)} is not a number") from None
        if number.is_finite():
            return number
    raise ValueError(f"{show_value(value)} is not a number")


def plain_number(value: Decimal | Fraction) -> int | float:
    """A result as JSON shows it: an integer when whole and within 64 bits, else the nearest float."""
    whole = value.denominator == 1 if isinstance(value, Fraction) else value == value.to_integral_value()
    if whole and INT64_RANGE[0] <= value <= INT64_RANGE[1]:
        return int(value)
    try:
        return float(value)
    except OverflowError:
        raise invalid_argument("The result is beyond the range of numbers JSON can carry.") from None


def sum_value(total: Decimal | None) -> int | float:
    return plain_number(total if total is not None else Decimal(0))


def avg_value(total: Decimal | None, count: int) -> int | float | None:
    """The exact mean, rounded once; null for a group without values."""
    if not count or total is None:
        return None
    return plain_number(Fraction(total) / count)


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def key_value(column: Column, value: Any) -> Any:
    """A group key as shown: empty values are null, numbers in their plain form (1.0 and 1 are one group)."""
    if is_empty(value):
        return None
    if column.type in NUMERIC_TYPES:
        try:
            return plain_number(exact_number(value))
        except ValueError:
            return value
    return value


def order_key(column: Column, value: Any) -> tuple[Any, ...]:
    """Where a value sorts among its column's values; empty values last, odd values after real ones."""
    if is_empty(value):
        return (2,)
    try:
        if column.type in NUMERIC_TYPES:
            return (0, exact_number(value))
        if column.type is ColumnType.BOOLEAN:
            return (0, int(bool(value)))
        if column.type is ColumnType.TIME and isinstance(value, str) and len(value) == 5:
            return (0, value + ":00")  # HH:MM and HH:MM:SS kept by different platforms order alike
    except ValueError:
        return (1, str(value))
    return (0, str(value))


def group_order(columns: Sequence[Column], key: Sequence[Any]) -> tuple[tuple[Any, ...], ...]:
    return tuple(order_key(col, value) for col, value in zip(columns, key, strict=True))


# -- the scan ---------------------------------------------------------------------------------------


class RecordLister(Protocol):
    """What the scan needs of a backend: its page size and its own listing."""

    name: str
    capabilities: Capabilities

    async def list_records(self, table: Table, query: ListQuery) -> Page: ...


@dataclass
class _MetricState:
    metric: Metric
    count: int = 0
    total: Decimal = field(default_factory=Decimal)
    best: Any = None
    best_order: tuple[Any, ...] | None = None

    def add(self, fields: dict[str, Any]) -> None:
        column = self.metric.column
        if column is None:
            self.count += 1
            return
        value = fields.get(column.name)
        if is_empty(value):
            return
        self.count += 1
        op = self.metric.op
        if op in ("sum", "avg"):
            try:
                self.total = EXACT.add(self.total, exact_number(value))
            except ValueError as exc:
                message = f"The backend returned a value of column '{column.name}' that is not a number: {exc}."
                raise TablesError(ErrorCode.BACKEND_ERROR, message) from None
        elif op in ("min", "max"):
            order = order_key(column, value)
            if self.best_order is None or (order < self.best_order if op == "min" else order > self.best_order):
                self.best, self.best_order = value, order

    def value(self) -> Any:
        op = self.metric.op
        if op == "count":
            return self.count
        if op == "sum":
            return sum_value(self.total)
        if op == "avg":
            return avg_value(self.total, self.count)
        column = self.metric.column
        return None if self.best is None or column is None else key_value(column, self.best)


class Accumulator:
    """Groups and metric states of the records seen so far."""

    def __init__(self, query: AggregateQuery) -> None:
        self.query = query
        self.groups: dict[tuple[Any, ...], list[_MetricState]] = {}
        if not query.group_by:  # without groupBy there is one group, even of no records
            self._states(())

    def _states(self, key: tuple[Any, ...]) -> list[_MetricState]:
        states = self.groups.get(key)
        if states is None:
            states = self.groups[key] = [_MetricState(metric) for metric in self.query.metrics]
        return states

    def add_all(self, records: Iterable[dict[str, Any]]) -> None:
        columns = self.query.group_by
        for record in records:
            fields = record.get("fields") or {}
            key = tuple(key_value(col, fields.get(col.name)) for col in columns)
            for state in self._states(key):
                state.add(fields)

    def result(self, scanned: int | None = None) -> AggregateResult:
        columns = self.query.group_by
        ordered = sorted(self.groups, key=lambda key: group_order(columns, key))
        shown = [
            Group(
                {col.name: value for col, value in zip(columns, key, strict=True)},
                {state.metric.name: state.value() for state in self.groups[key]},
            )
            for key in ordered[: self.query.limit]
        ]
        return AggregateResult(shown, len(ordered), scanned)


@dataclass
class ScanAggregator:
    """tables-mcp's own aggregation for a backend without one: a bounded scan of its list_records."""

    backend: RecordLister
    max_records: int = MAX_SCANNED_RECORDS

    async def aggregate_records(self, table: Table, query: AggregateQuery) -> AggregateResult:
        fields = query.needed_fields()
        listing = ListQuery(filter=query.filter, fields=fields, limit=self.backend.capabilities.max_page_size)
        accumulator = Accumulator(query)
        scanned = 0
        cursor: str | None = None
        while True:
            page = await self.backend.list_records(table, replace(listing, cursor=cursor))
            if cursor is None and page.total_count is not None:
                if not fields:  # counting records only: the platform's total answers it
                    accumulator.groups[()][0].count = page.total_count
                    return accumulator.result()
                if page.total_count > self.max_records:
                    raise self._too_many(table, page.total_count)
            scanned += len(page.records)
            if scanned > self.max_records:
                raise self._too_many(table, None)
            accumulator.add_all(page.records)
            cursor = page.next_cursor
            if cursor is None:
                return accumulator.result(scanned)

    def _too_many(self, table: Table, total: int | None) -> TablesError:
        limit = f"{self.max_records:,}"
        matching = f"{total:,} records" if total is not None else f"more than {limit} records"
        return invalid_argument(
            f"{matching[0].upper()}{matching[1:]} of '{table.name}' match. The {self.backend.name} backend does not "
            f"aggregate, so tables-mcp reads the records itself, at most {limit}; nothing was computed.",
            [FieldError("filter", f"matches {matching}; at most {limit} can be aggregated here")],
            hint="Narrow the filter (a date range, a status ...) and aggregate each part, then add the parts up.",
        )
