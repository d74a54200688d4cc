"""What tables-mcp can do on Ozari, declared: the tools, operators, limits and the notes agents read.

Ozari's Integration API documents no delete and no get-by-id (reads are a query on `fid`), takes one record
per insert, pages 200 rows at most, and publishes no column types. The server registers no deleteRecords,
createTable or addColumns for it, and the notes say so wherever tables are described.
"""

from __future__ import annotations

from ...model import Capabilities, ColumnType

MAX_PAGE = 200  # the query endpoint's per_page cap
MAX_CREATE_BATCH = 500  # one insert request per record: a larger call would take minutes against the real API

_TEXT_OPERATORS = ("eq", "ne", "contains", "in", "isEmpty", "isNotEmpty")
_ORDERED_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "isEmpty", "isNotEmpty")
OPERATORS: dict[ColumnType, tuple[str, ...]] = {
    ColumnType.TEXT: _TEXT_OPERATORS,
    ColumnType.LONGTEXT: _TEXT_OPERATORS,
    ColumnType.EMAIL: _TEXT_OPERATORS,
    ColumnType.PHONE: _TEXT_OPERATORS,
    ColumnType.URL: _TEXT_OPERATORS,
    ColumnType.NUMBER: _ORDERED_OPERATORS,
    ColumnType.DATE: _ORDERED_OPERATORS,
    ColumnType.SERIAL: ("eq", "ne", "lt", "lte", "gt", "gte", "in"),  # fid is never empty
}
SORTABLE = frozenset(
    {
        ColumnType.TEXT,
        ColumnType.EMAIL,
        ColumnType.PHONE,
        ColumnType.URL,
        ColumnType.NUMBER,
        ColumnType.DATE,
        ColumnType.SERIAL,
    }
)

NOTES = (
    "Ozari's Integration API cannot delete records, so there is no deleteRecords tool: records can be listed, "
    "read, created and changed, and are deleted in Modular 365 itself.",
    "Tables and columns are defined in Modular 365; tables-mcp cannot create or change them.",
    "Ozari publishes no column types: columns are text unless the server's OZARI_COLUMN_TYPES types them, and "
    "the database may still refuse a value its column cannot hold (the error names the column).",
    "Text comparisons (eq, ne, in, contains) and sorting follow the database's collation, usually "
    "case-insensitive: eq 'abc' also matches 'ABC'.",
    "Each record is created by a request of its own, so a create is not all-or-nothing: a failed create "
    "lists the records written and the indexes that were not.",
    "Records of one create are inserted a few at a time, so their ids (and listRecords' default order, by id) "
    "need not follow the order they were sent in; each result matches its input by position.",
    "A record's id is its fid; created_at is always null (Ozari keeps no creation time) and updated_at is the "
    "table's flastmodify, in the platform's time zone.",
    "If Ozari does not return a new record's id, the created record comes back with id null and the values "
    "sent: it was written, but cannot be read back by id; find it with listRecords.",
)

CAPABILITIES = Capabilities(
    create_table=False,
    delete=False,
    patch=True,
    atomic_create=False,
    max_create_batch=MAX_CREATE_BATCH,
    max_page_size=MAX_PAGE,
    operators=OPERATORS,
    sortable_types=SORTABLE,
    notes=NOTES,
)
