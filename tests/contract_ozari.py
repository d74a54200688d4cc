"""The Ozari target of the backend contract suite: the adapter against the fake Ozari over loopback HTTP.

`OzariTarget.fresh()` empties the fake and creates the "Tasks" table with the contract's columns that an
Ozari table can hold (one scalar per field: Tags, a list, cannot; the adapter carries neither DATETIME nor
TIME, whose time zone Ozari does not say, so Started and At are left out). Ozari publishes no types, so the
backend is configured as a user would type them, with OZARI_COLUMN_TYPES: Estimate NUMBER, Due DATE, Notes
LONGTEXT, Owner EMAIL; Title and Status stay TEXT (no required flag, no options on Ozari). The fake stores
Estimate as a number and Due as a date, as a database would. `ozari_target` serves the fake once per module.

What the contract should expect of this target, by its capabilities: no deleteRecords (delete=False), creates
not atomic (one insert per record), pages of at most 200, text comparisons case-insensitive (the notes say so),
created_at null.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tables_mcp.backends.ozari import OzariBackend

from .conftest import FAST_RETRY
from .fakes.ozari import FakeOzari, LoggedRequest, serve_fake_ozari
from .fakes.serving import Fault, RequestLogReader

TOKEN = "contract-ozari-token-0123456789"
TASKS = "Tasks"
# The Tasks columns as fields of the fake (kind = how its database keeps them), with their labels.
TASK_FIELDS: dict[str, dict[str, Any]] = {
    "Title": {"labels": "כותרת"},
    "Status": {"labels": "מצב"},
    "Estimate": {"labels": "הערכה", "kind": "number"},
    "Due": {"labels": "תאריך יעד", "kind": "date"},
    "Notes": {"labels": "הערות"},
    "Owner": {"labels": "אחראי"},
}
# ... and the canonical type the adapter gives each (the non-TEXT ones through OZARI_COLUMN_TYPES).
COLUMN_TYPES = {
    "Title": "TEXT",
    "Status": "TEXT",
    "Estimate": "NUMBER",
    "Due": "DATE",
    "Notes": "LONGTEXT",
    "Owner": "EMAIL",
}
RECORD_WRITE_PATHS = "/integration/tables/*/records*"


def is_record_write(request: LoggedRequest) -> bool:
    """An insert (POST .../records) or an update (PATCH .../records/single or /bulk); queries only read."""
    return request.method in ("POST", "PATCH") and "/records" in request.path


def is_write_path(method: str, path: str) -> bool:
    return method in ("POST", "PATCH") and fnmatch.fnmatch(path, RECORD_WRITE_PATHS)


class OzariTarget(RequestLogReader):
    backend_name = "ozari"
    is_record_write = staticmethod(is_record_write)
    # Ozari has no required flag; concurrent inserts get fids out of input order and the default order is fid
    # order; MySQL's _ci collation compares text case-insensitively; Ozari gives no creation time.
    required_columns: frozenset[str] = frozenset()
    ids_follow_input_order = False
    case_insensitive_text = True
    timestamps_known = False
    limits = {
        "Tags": "an Ozari field holds one scalar, not a list",
        "Started": "Ozari does not say the time zone of its date-times",
        "At": "Ozari does not say the time zone of its times",
    }
    columns: dict[str, str] = dict(COLUMN_TYPES)

    def __init__(self, state: FakeOzari, base_url: str) -> None:
        self.state = state
        self.base_url = base_url
        self.tables: list[str] = [TASKS]

    def fresh(self) -> None:
        self.state.reset()
        self.state.add_table(TASKS, "משימות", TASK_FIELDS)
        self.state.add_token(TOKEN)
        self.tables = [TASKS]

    def backend(self, extra_tables: Sequence[str] = ()) -> OzariBackend:
        for name in extra_tables:
            self.state.add_table(name, None, TASK_FIELDS)
            self.tables.append(name)
        typed = [f"{table}.{column}:{kind}" for table in self.tables for column, kind in COLUMN_TYPES.items()]
        environ = {
            "OZARI_API_TOKEN": TOKEN,
            "OZARI_BASE_URL": self.base_url,
            "OZARI_COLUMN_TYPES": ",".join(entry for entry in typed if not entry.endswith(":TEXT")),
        }
        return OzariBackend.from_environ(environ, retry=FAST_RETRY)

    def fail_next_write(self, status: int, after: int = 0) -> None:
        """The insert or update after the next `after` gets `status`: 500 and 4xx with Ozari's envelope, 502-504
        as its proxy's HTML page. An insert is never repeated; an update is retried on 5xx (it cannot write
        twice)."""
        self.state.switchboard.fail_after(after, Fault("server_error", status), is_write_path)


@pytest.fixture(scope="module")
def ozari_target() -> Iterator[OzariTarget]:
    state = FakeOzari()
    with serve_fake_ozari(state) as base_url:
        target = OzariTarget(state, base_url)
        target.fresh()
        yield target
