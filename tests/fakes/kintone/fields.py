"""Form properties (fields.json) and the scalar formats of field values: numbers, dates, times."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

_TEXT_TYPES = frozenset({"SINGLE_LINE_TEXT", "MULTI_LINE_TEXT", "RICH_TEXT", "LINK"})
_LENGTH_TYPES = frozenset({"SINGLE_LINE_TEXT", "MULTI_LINE_TEXT", "LINK"})
_SINGLE_OPTION_TYPES = frozenset({"RADIO_BUTTON", "DROP_DOWN"})
_MULTI_OPTION_TYPES = frozenset({"CHECK_BOX", "MULTI_SELECT"})
_ENTITY_TYPES = frozenset({"USER_SELECT", "ORGANIZATION_SELECT", "GROUP_SELECT"})
_WRITABLE_TYPES = (
    _TEXT_TYPES
    | _SINGLE_OPTION_TYPES
    | _MULTI_OPTION_TYPES
    | _ENTITY_TYPES
    | {"NUMBER", "DATE", "TIME", "DATETIME", "FILE", "SUBTABLE"}
)
_UNIQUE_TYPES = frozenset({"SINGLE_LINE_TEXT", "NUMBER", "LINK", "DATE", "DATETIME"})
_PROCESS_TYPES = frozenset({"STATUS", "STATUS_ASSIGNEE", "CATEGORY"})
_FORM_ONLY_TYPES = _PROCESS_TYPES | {"GROUP", "REFERENCE_TABLE"}  # never part of a record
_DATETIME_TYPES = frozenset({"DATETIME", "CREATED_TIME", "UPDATED_TIME"})
_NUMERIC_TYPES = frozenset({"NUMBER", "CALC", "RECORD_NUMBER", "__ID__"})

_SYSTEM_FIELDS = (
    ("RECORD_NUMBER", "Record_number"),
    ("CREATOR", "Created_by"),
    ("CREATED_TIME", "Created_datetime"),
    ("MODIFIER", "Updated_by"),
    ("UPDATED_TIME", "Updated_datetime"),
    ("STATUS", "Status"),
    ("STATUS_ASSIGNEE", "Assignee"),
    ("CATEGORY", "Categories"),
)

_TEXT_LIMITS = {"unique": False, "minLength": "", "maxLength": ""}
_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "SINGLE_LINE_TEXT": {"defaultValue": "", **_TEXT_LIMITS, "expression": "", "hideExpression": False},
    "LINK": {"defaultValue": "", **_TEXT_LIMITS, "protocol": "WEB"},
    "MULTI_LINE_TEXT": {"defaultValue": ""},
    "RICH_TEXT": {"defaultValue": ""},
    "NUMBER": {
        "defaultValue": "",
        "unique": False,
        "minValue": "",
        "maxValue": "",
        "digit": False,
        "displayScale": "",
        "unit": "",
        "unitPosition": "BEFORE",
    },
    "CALC": {
        "expression": "",
        "format": "NUMBER",
        "displayScale": "",
        "unit": "",
        "unitPosition": "BEFORE",
        "hideExpression": False,
    },
    "RADIO_BUTTON": {"defaultValue": "", "align": "HORIZONTAL", "options": {}},
    "DROP_DOWN": {"defaultValue": "", "options": {}},
    "CHECK_BOX": {"defaultValue": [], "align": "HORIZONTAL", "options": {}},
    "MULTI_SELECT": {"defaultValue": [], "options": {}},
    "DATE": {"defaultValue": "", "defaultNowValue": False, "unique": False},
    "TIME": {"defaultValue": "", "defaultNowValue": False},
    "DATETIME": {"defaultValue": "", "defaultNowValue": False, "unique": False},
    "USER_SELECT": {"entities": [], "defaultValue": []},
    "ORGANIZATION_SELECT": {"entities": [], "defaultValue": []},
    "GROUP_SELECT": {"entities": [], "defaultValue": []},
    "FILE": {"thumbnailSize": "150"},
}
_STRING_KEYS = ("minLength", "maxLength", "minValue", "maxValue", "displayScale")


def _form_properties(fields: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    properties = {code: _property(code, spec) for code, spec in fields.items()}
    present = {prop["type"] for prop in properties.values()}
    for ftype, code in _SYSTEM_FIELDS:
        if ftype not in present:
            properties[code] = _property(code, {"type": ftype})
    return properties


def _property(code: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    ftype = spec["type"]
    prop: dict[str, Any] = {"type": ftype, "code": code, "label": code, "noLabel": False}
    if ftype in _PROCESS_TYPES:
        prop["enabled"] = False
    elif ftype != "SUBTABLE":
        prop["required"] = False
    prop.update(copy.deepcopy(_TYPE_DEFAULTS.get(ftype, {})))
    prop.update(copy.deepcopy(dict(spec)))
    prop["code"] = code
    for key in _STRING_KEYS:
        if key in prop:
            prop[key] = str(prop[key])
    if ftype == "NUMBER":
        prop["defaultValue"] = str(prop["defaultValue"])
    if "options" in prop:
        prop["options"] = _options(prop["options"])
    if ftype == "SUBTABLE":
        prop["fields"] = {inner: _property(inner, inner_spec) for inner, inner_spec in spec.get("fields", {}).items()}
    return prop


def _options(options: Iterable[str] | Mapping[str, Any]) -> dict[str, dict[str, str]]:
    if isinstance(options, Mapping):
        items = [(key, value.get("label", key)) for key, value in options.items()]
    else:
        items = [(key, key) for key in options]
    return {key: {"label": label, "index": str(index)} for index, (key, label) in enumerate(items)}


# --------------------------------------------------------------------------------------------
# Scalars: numbers, dates, times
# --------------------------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?")


def _parse_decimal(raw: Any) -> Decimal | None:
    """kintone's ``Number(value)``: numbers and numeric strings (surrounding spaces allowed)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        return None
    text = str(raw).strip()
    return Decimal(text) if _NUMBER_RE.fullmatch(text) else None


def _format_decimal(value: Decimal) -> str:
    """``String(Number(value))``: "1.5e1" -> "15", "1.50" -> "1.5"."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:00Z")


def _app_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_datetime(raw: Any) -> str | None:
    """An ISO-8601 date-time as kintone stores it (UTC, minute precision); naive means UTC."""
    if not isinstance(raw, str) or "T" not in raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return _minute(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _parse_date(raw: Any) -> str | None:
    if not isinstance(raw, str) or not _DATE_RE.fullmatch(raw):
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        return None


def _parse_time(raw: Any) -> str | None:
    match = _TIME_RE.fullmatch(raw) if isinstance(raw, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        return None
    return f"{match[1]}:{match[2]}"


def _is_blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def _empty_value(ftype: str) -> Any:
    if ftype in ("DATE", "TIME"):
        return None
    if ftype in _MULTI_OPTION_TYPES | _ENTITY_TYPES | {"FILE", "SUBTABLE"}:
        return []
    return ""


def _loose_int(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
        return int(raw)
    return None
