"""Stored shapes of the fake DingTalk Notable: apps, bases, sheets, fields and records, and the field types known.

A record keeps its cells by field id in a canonical form (see ``values.py``), so renders always key by the
field's current name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import invalid_args

READ_PERMISSION = "Notable.Base.Read.All"
WRITE_PERMISSION = "Notable.Base.Write.All"
ALL_PERMISSIONS: frozenset[str] = frozenset({READ_PERMISSION, WRITE_PERMISSION})

WRITABLE_TYPES = frozenset(
    {
        "text",
        "number",
        "currency",
        "singleSelect",
        "multipleSelect",
        "date",
        "checkbox",
        "user",
        "department",
        "unidirectionalLink",
        "bidirectionalLink",
        "url",
    }
)
COMPUTED_TYPES = frozenset({"formula", "creator", "lastModifier", "createdTime", "lastModifiedTime"})
FIELD_TYPES = WRITABLE_TYPES | COMPUTED_TYPES | {"attachment"}
SELECT_TYPES = frozenset({"singleSelect", "multipleSelect"})
LINK_TYPES = frozenset({"unidirectionalLink", "bidirectionalLink"})

# A formula field's value: computed by a test-supplied function from the record's other rendered cells.
Compute = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class FakeApp:
    """An internal app: its credentials and the API permissions granted to it."""

    app_key: str
    app_secret: str
    permissions: frozenset[str]


@dataclass
class FakeField:
    id: str
    name: str
    type: str
    property: dict[str, Any]  # as GET fields shows it; select choices carry ids
    compute: Compute | None = None

    def describe(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        if self.property:
            shown["property"] = self.property
        return shown

    def option_id(self, id_or_name: str) -> str | None:
        """The id of the choice named (or id'd) ``id_or_name``; names win, as a user types names."""
        choices = self.property.get("choices", [])
        by_name = next((choice["id"] for choice in choices if choice["name"] == id_or_name), None)
        return by_name or next((choice["id"] for choice in choices if choice["id"] == id_or_name), None)

    def option_name(self, option_id: str) -> str:
        return str(next(choice["name"] for choice in self.property["choices"] if choice["id"] == option_id))

    def allows_many(self) -> bool:
        return bool(self.property.get("multiple", True))


@dataclass
class StoredRecord:
    id: str
    seq: int  # creation order; paging tokens continue after a seq, so deletes between pages skip nothing
    values: dict[str, Any]  # field id -> canonical value
    created_time: int
    created_by: str
    modified_time: int
    modified_by: str


@dataclass
class FakeSheet:
    id: str
    name: str
    fields: dict[str, FakeField] = field(default_factory=dict)  # by id, in creation order
    records: dict[str, StoredRecord] = field(default_factory=dict)  # by id, in creation order
    next_seq: int = 1

    def describe(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}

    def field(self, id_or_name: str) -> FakeField | None:
        found = self.fields.get(id_or_name)
        return found or next((f for f in self.fields.values() if f.name == id_or_name), None)


@dataclass
class FakeBase:
    id: str
    name: str
    members: frozenset[str] | None  # unionIds that may open it; None: every known user
    sheets: dict[str, FakeSheet] = field(default_factory=dict)
    client_tokens: dict[str, list[str]] = field(default_factory=dict)  # clientToken -> ids it inserted

    def sheet(self, id_or_name: str) -> FakeSheet | None:
        found = self.sheets.get(id_or_name)
        return found or next((s for s in self.sheets.values() if s.name == id_or_name), None)


def normalise_property(ftype: str, raw: Mapping[str, Any] | None, new_id: Callable[[str], str]) -> dict[str, Any]:
    """Checks a field's ``property`` and gives select choices ids; ``choices`` may be plain names."""
    if ftype not in FIELD_TYPES:
        raise invalid_args(f"unsupported field type '{ftype}'")
    prop = dict(raw or {})
    if ftype in SELECT_TYPES:
        prop["choices"] = [_choice(choice, new_id) for choice in prop.get("choices", [])]
    if ftype in LINK_TYPES and not isinstance(prop.get("linkedSheetId"), str):
        raise invalid_args(f"a {ftype} field needs property.linkedSheetId")
    return prop


def _choice(raw: Any, new_id: Callable[[str], str]) -> dict[str, str]:
    name = raw if isinstance(raw, str) else raw.get("name") if isinstance(raw, Mapping) else None
    if not isinstance(name, str) or not name:
        raise invalid_args(f"a choice needs a name, got {raw!r}")
    given = raw.get("id") if isinstance(raw, Mapping) else None
    return {"id": given if isinstance(given, str) else new_id(""), "name": name}
