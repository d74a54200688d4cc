"""Kintone forms as tables: each app's fields.json properties as columns (types, options, limits,
read-only rules for lookups, formulas and process fields), and the field-type families the codec uses.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...model import Column, ColumnType, Table

FIELD_TYPES: dict[str, ColumnType] = {
    "SINGLE_LINE_TEXT": ColumnType.TEXT,
    "MULTI_LINE_TEXT": ColumnType.LONGTEXT,
    "RICH_TEXT": ColumnType.LONGTEXT,
    "NUMBER": ColumnType.NUMBER,
    "CALC": ColumnType.FORMULA,
    "RADIO_BUTTON": ColumnType.SELECT,
    "DROP_DOWN": ColumnType.SELECT,
    "CHECK_BOX": ColumnType.MULTISELECT,
    "MULTI_SELECT": ColumnType.MULTISELECT,
    "DATE": ColumnType.DATE,
    "TIME": ColumnType.TIME,
    "DATETIME": ColumnType.DATETIME,
    "USER_SELECT": ColumnType.USER,
    "ORGANIZATION_SELECT": ColumnType.USER,
    "GROUP_SELECT": ColumnType.USER,
    "FILE": ColumnType.FILE,
    "SUBTABLE": ColumnType.SUBTABLE,
    "RECORD_NUMBER": ColumnType.SERIAL,
    "__ID__": ColumnType.SERIAL,
    "__REVISION__": ColumnType.SERIAL,
    "CREATOR": ColumnType.USER,
    "MODIFIER": ColumnType.USER,
    "CREATED_TIME": ColumnType.DATETIME,
    "UPDATED_TIME": ColumnType.DATETIME,
    "STATUS": ColumnType.SELECT,
    "STATUS_ASSIGNEE": ColumnType.USER,
    "CATEGORY": ColumnType.MULTISELECT,
}
LINK_TYPES = {"WEB": ColumnType.URL, "MAIL": ColumnType.EMAIL, "CALL": ColumnType.PHONE}
NOT_COLUMNS = frozenset({"LABEL", "SPACER", "HR", "GROUP", "REFERENCE_TABLE"})
PROCESS_TYPES = frozenset({"STATUS", "STATUS_ASSIGNEE", "CATEGORY"})
WRITABLE_TYPES = frozenset(
    {
        "SINGLE_LINE_TEXT",
        "MULTI_LINE_TEXT",
        "RICH_TEXT",
        "LINK",
        "NUMBER",
        "RADIO_BUTTON",
        "DROP_DOWN",
        "CHECK_BOX",
        "MULTI_SELECT",
        "DATE",
        "TIME",
        "DATETIME",
        "USER_SELECT",
        "ORGANIZATION_SELECT",
        "GROUP_SELECT",
        "SUBTABLE",
    }
)
LIST_TYPES = frozenset(
    {
        "CHECK_BOX",
        "MULTI_SELECT",
        "CATEGORY",
        "USER_SELECT",
        "ORGANIZATION_SELECT",
        "GROUP_SELECT",
        "STATUS_ASSIGNEE",
        "FILE",
        "SUBTABLE",
    }
)
ENTITY_LIST_TYPES = frozenset({"USER_SELECT", "ORGANIZATION_SELECT", "GROUP_SELECT", "STATUS_ASSIGNEE"})
NUMERIC_TYPES = frozenset({"NUMBER", "RECORD_NUMBER", "__ID__", "__REVISION__"})


@dataclass
class AppForm:
    """One app as read at start or at a schema check: its form's properties and their revision."""

    app_id: str
    name: str
    description: str | None
    properties: dict[str, Any]
    revision: str


def table_from_form(form: AppForm) -> Table:
    copy_targets = _lookup_targets(form.properties)
    columns = [column_from_property(prop, copy_targets) for prop in form.properties.values() if isinstance(prop, dict)]
    return Table(
        id=form.app_id,
        name=form.name,
        description=form.description,
        columns=tuple(col for col in columns if col is not None),
    )


def column_from_property(prop: Mapping[str, Any], copy_targets: frozenset[str] = frozenset()) -> Column | None:
    """One fields.json property as a column, or None for layout-only and disabled process fields."""
    native = str(prop.get("type", ""))
    code = prop.get("code")
    if native in NOT_COLUMNS or not isinstance(code, str) or not code:
        return None
    if native in PROCESS_TYPES and prop.get("enabled") is False:
        return None  # process management is off: the field never holds a value
    kind = _column_type(prop)
    read_only = native not in WRITABLE_TYPES or code in copy_targets or kind is ColumnType.FORMULA
    subcolumns = None
    if native == "SUBTABLE":
        inner = as_mapping(prop.get("fields"))
        built = [column_from_property(sub, copy_targets) for sub in inner.values() if isinstance(sub, dict)]
        subcolumns = tuple(col for col in built if col is not None)
    return Column(
        name=code,
        type=kind,
        native_type=native,
        required=bool(prop.get("required")) and not read_only,
        read_only=read_only,
        options=_options(prop) if kind in (ColumnType.SELECT, ColumnType.MULTISELECT) and "options" in prop else None,
        description=_describe(prop, code),
        minimum=_number_limit(prop.get("minValue")),
        maximum=_number_limit(prop.get("maxValue")),
        max_length=_int_limit(prop.get("maxLength")),
        multiple=native in ENTITY_LIST_TYPES,
        unique=prop.get("unique") in (True, "true"),  # "prohibit duplicate values"
        subcolumns=subcolumns,
    )


def _column_type(prop: Mapping[str, Any]) -> ColumnType:
    native = str(prop.get("type", ""))
    if native == "LINK":
        return LINK_TYPES.get(str(prop.get("protocol", "WEB")), ColumnType.URL)
    if native == "SINGLE_LINE_TEXT" and prop.get("expression"):
        return ColumnType.FORMULA  # "calculate automatically": Kintone ignores written values
    return FIELD_TYPES.get(native, ColumnType.UNKNOWN)


def _lookup_targets(properties: Mapping[str, Any]) -> frozenset[str]:
    """Fields a lookup copies into: Kintone fills them, so they are read-only."""
    targets: set[str] = set()
    for prop in properties.values():
        if not isinstance(prop, dict):
            continue
        lookup = prop.get("lookup")
        if isinstance(lookup, dict):
            for mapping in lookup.get("fieldMappings") or []:
                if isinstance(mapping, dict) and isinstance(mapping.get("field"), str):
                    targets.add(mapping["field"])
        if prop.get("type") == "SUBTABLE" and isinstance(prop.get("fields"), dict):
            targets |= _lookup_targets(prop["fields"])
    return frozenset(targets)


def _options(prop: Mapping[str, Any]) -> tuple[str, ...]:
    raw = prop.get("options")
    if not isinstance(raw, dict):
        return ()

    def index(item: tuple[str, Any]) -> int:
        try:
            return int(item[1].get("index", 0)) if isinstance(item[1], dict) else 0
        except (TypeError, ValueError):
            return 0

    return tuple(key for key, _ in sorted(raw.items(), key=index))


def _describe(prop: Mapping[str, Any], code: str) -> str | None:
    parts = []
    label = prop.get("label")
    if isinstance(label, str) and label and label != code:
        parts.append(label)
    if prop.get("type") == "RICH_TEXT":
        parts.append("HTML text")
    if prop.get("unit"):
        parts.append(f"unit: {prop['unit']}")
    lookup = prop.get("lookup")
    if isinstance(lookup, dict) and isinstance(lookup.get("relatedApp"), dict):
        parts.append(f"lookup key into app {lookup['relatedApp'].get('app')}")
    return "; ".join(parts) or None


def _number_limit(raw: Any) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _int_limit(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def plain_text(description: Any) -> str | None:
    """App descriptions are HTML; agents get short plain text."""
    if not isinstance(description, str) or not description.strip():
        return None
    text = html.unescape(re.sub(r"<[^>]+>", " ", description))
    text = " ".join(text.split())
    return (text[:497] + "...") if len(text) > 500 else (text or None)


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
