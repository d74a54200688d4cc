"""What the Onnie adapter can do, declared for the tools: operators, sorting, limits, and the notes
shown in describeTable that say how filters, sorts and batches behave on Onnie.
"""

from __future__ import annotations

from ...model import Capabilities, ColumnType
from .paging import MAX_PAGE, MAX_SCAN

RECORDS_PER_REQUEST = 100  # our choice: Onnie publishes no cap for POST records
CREATE_CONCURRENCY = 1  # one request after another: records are stored (and listed) in input order
MAX_CREATE_PER_CALL = 1000
REQUEST_WORDS = f"Onnie creates {RECORDS_PER_REQUEST} records per request, all-or-nothing per request"

_TEXT = ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty")
_ORDERED = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "isEmpty", "isNotEmpty")
_PRESENCE = ("isEmpty", "isNotEmpty")
# Evaluated by tables-mcp (kit.record_filter), so each is exact on every column type listed.
OPERATORS: dict[ColumnType, tuple[str, ...]] = {
    ColumnType.TEXT: _TEXT,
    ColumnType.LONGTEXT: _TEXT,
    ColumnType.EMAIL: _TEXT,
    ColumnType.PHONE: _TEXT,
    ColumnType.URL: _TEXT,
    ColumnType.AI: _TEXT,
    ColumnType.NUMBER: _ORDERED,
    ColumnType.SERIAL: _ORDERED,
    ColumnType.DATETIME: _ORDERED,
    ColumnType.BOOLEAN: ("eq", "ne"),
    ColumnType.SELECT: ("eq", "ne", "in", "isEmpty", "isNotEmpty"),
    ColumnType.MULTISELECT: ("contains", "in", "isEmpty", "isNotEmpty"),
    ColumnType.REFERENCE: ("contains", "isEmpty", "isNotEmpty"),
    # A FORMULA may yield numbers or text: equality is exact for both, a substring of a number is not.
    ColumnType.FORMULA: ("eq", "ne", "in", "isEmpty", "isNotEmpty"),
    ColumnType.FILE: _PRESENCE,
    ColumnType.UNKNOWN: _PRESENCE,
}
SORTABLE = frozenset(
    {
        ColumnType.TEXT,
        ColumnType.EMAIL,
        ColumnType.PHONE,
        ColumnType.URL,
        ColumnType.NUMBER,
        ColumnType.SERIAL,
        ColumnType.DATETIME,
        ColumnType.SELECT,
        ColumnType.BOOLEAN,
        ColumnType.FORMULA,
    }
)

CAPABILITIES = Capabilities(
    create_table=False,
    delete=True,
    patch=True,
    atomic_create=False,
    max_create_batch=MAX_CREATE_PER_CALL,
    max_page_size=MAX_PAGE,
    operators=OPERATORS,
    sortable_types=SORTABLE,
    notes=(
        f"{REQUEST_WORDS}: a create of more records can be partly written, and the result then lists the "
        "written records and the failed indexes exactly.",
        "Onnie's own filter and sort syntax is unpublished, so tables-mcp filters and sorts Onnie records itself, "
        f"exactly: a filtered call reads at most {MAX_SCAN:,} records, so a page may hold fewer records than "
        "limit (even none) while nextCursor goes on; sorting reads the whole table and is refused for tables "
        f"over {MAX_SCAN:,} records.",
        "'contains' on text is a case-insensitive substring match.",
        "REFERENCE values are record ids: one id, or a list of ids where the column holds several.",
        "DATETIME values are returned in UTC; FILE, FORMULA, AI and SERIAL columns are read-only.",
    ),
)
