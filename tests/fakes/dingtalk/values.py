"""Cell values of the fake DingTalk Notable: the write formats accepted per field type, the canonical form
stored, and the read formats returned (BACKENDS.md Part 2 §1.5 and §3b).

Canonical forms: text str; number/currency Decimal (read back as a string, "123"); singleSelect an option id;
multipleSelect a list of option ids; date epoch ms; checkbox bool; user a list of unionIds; department a list
of deptIds; links a list of record ids; url ``{"text", "link"}``; attachment the list given by the test set-up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from .model import LINK_TYPES, FakeBase, FakeField, FakeSheet, StoredRecord

# Date strings without an offset are read in China Standard Time, the zone of the DingTalk tenant (assumed).
CHINA = timezone(timedelta(hours=8))
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d", "%Y/%m/%d %H:%M")


class InvalidValue(Exception):
    """A cell value the field does not accept; the message says what was wrong."""


@dataclass(frozen=True)
class WriteContext:
    base: FakeBase
    users: Container[str]
    allow_attachments: bool  # only the test set-up may store attachments: the API needs an upload flow


def coerce(ctx: WriteContext, field: FakeField, raw: Any) -> Any:
    """The canonical value for a written ``raw``; None clears the cell (null, "" and [] all clear it)."""
    if (field.type == "attachment" and not ctx.allow_attachments) or field.type not in _COERCERS:
        raise InvalidValue(f"the field is read-only (type {field.type})")
    if raw is None or raw == "" or raw == []:
        return None
    return _COERCERS[field.type](ctx, field, raw)


def _shown(raw: Any) -> str:
    return json.dumps(raw, ensure_ascii=False)


def _text(ctx: WriteContext, field: FakeField, raw: Any) -> str:
    if not isinstance(raw, str):
        raise InvalidValue(f"expects a string, got {_shown(raw)}")
    return raw


def parse_number(raw: Any) -> Decimal | None:
    """A number from an int, float or numeric string (bools are not numbers)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def format_number(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _number(ctx: WriteContext, field: FakeField, raw: Any) -> Decimal:
    number = parse_number(raw)
    if number is None:
        raise InvalidValue(f"expects a number, got {_shown(raw)}")
    return number


def _option(field: FakeField, raw: Any) -> str:
    option_id = field.option_id(raw) if isinstance(raw, str) else None
    if option_id is None:
        allowed = ", ".join(choice["name"] for choice in field.property.get("choices", []))
        raise InvalidValue(f"{_shown(raw)} is not an option; allowed: {allowed}")
    return option_id


def _single_select(ctx: WriteContext, field: FakeField, raw: Any) -> str:
    return _option(field, raw)


def _multiple_select(ctx: WriteContext, field: FakeField, raw: Any) -> list[str]:
    if not isinstance(raw, list):
        raise InvalidValue(f"expects a list of option names, got {_shown(raw)}")
    return list(dict.fromkeys(_option(field, item) for item in raw))


def parse_date(raw: Any) -> int | None:
    """Epoch ms from epoch ms or a date string ("YYYY-MM-DD", "YYYY-MM-DD HH:mm", ISO 8601)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return int(raw)
    if not isinstance(raw, str):
        return None
    moment = _parse_date_text(raw.strip())
    if moment is None:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=CHINA)).timestamp() * 1000)


def _parse_date_text(text: str) -> datetime | None:
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _date(ctx: WriteContext, field: FakeField, raw: Any) -> int:
    moment = parse_date(raw)
    if moment is None:
        raise InvalidValue(f"expects epoch milliseconds or a 'YYYY-MM-DD HH:mm' string, got {_shown(raw)}")
    return moment


def _checkbox(ctx: WriteContext, field: FakeField, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise InvalidValue(f"expects true or false, got {_shown(raw)}")
    return raw


def _entity_ids(field: FakeField, raw: Any, key: str) -> list[str]:
    if not isinstance(raw, list) or not all(
        isinstance(item, Mapping) and isinstance(item.get(key), str) for item in raw
    ):
        raise InvalidValue(f'expects a list of {{"{key}": ...}} objects, got {_shown(raw)}')
    ids = list(dict.fromkeys(item[key] for item in raw))
    if len(ids) > 1 and not field.allows_many():
        raise InvalidValue("takes one entry only (property.multiple is false)")
    return ids


def _users(ctx: WriteContext, field: FakeField, raw: Any) -> list[str]:
    ids = _entity_ids(field, raw, "unionId")
    unknown = [union_id for union_id in ids if union_id not in ctx.users]
    if unknown:
        raise InvalidValue(f"unknown unionId {', '.join(unknown)}")
    return ids


def _departments(ctx: WriteContext, field: FakeField, raw: Any) -> list[str]:
    return _entity_ids(field, raw, "deptId")


def _links(ctx: WriteContext, field: FakeField, raw: Any) -> list[str]:
    ids = raw.get("linkedRecordIds") if isinstance(raw, Mapping) else None
    if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
        raise InvalidValue(f'expects {{"linkedRecordIds": [...]}}, got {_shown(raw)}')
    if len(ids) > 1 and not field.allows_many():
        raise InvalidValue("takes one linked record only (property.multiple is false)")
    linked = ctx.base.sheets.get(field.property["linkedSheetId"])
    missing = [record_id for record_id in ids if linked is None or record_id not in linked.records]
    if missing:
        raise InvalidValue(f"no record {', '.join(missing)} in the linked sheet")
    return list(dict.fromkeys(ids))


def _url(ctx: WriteContext, field: FakeField, raw: Any) -> dict[str, str]:
    link = raw.get("link") if isinstance(raw, Mapping) else None
    text = raw.get("text", link) if isinstance(raw, Mapping) else None
    if not isinstance(link, str) or not link or not isinstance(text, str):
        raise InvalidValue(f'expects {{"text": ..., "link": ...}}, got {_shown(raw)}')
    return {"text": text, "link": link}


def _attachments(ctx: WriteContext, field: FakeField, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise InvalidValue('expects [{"filename", "size", "type", "url"}]')
    return [dict(item) for item in raw]


_COERCERS: dict[str, Callable[[WriteContext, FakeField, Any], Any]] = {
    "text": _text,
    "number": _number,
    "currency": _number,
    "singleSelect": _single_select,
    "multipleSelect": _multiple_select,
    "date": _date,
    "checkbox": _checkbox,
    "user": _users,
    "department": _departments,
    "unidirectionalLink": _links,
    "bidirectionalLink": _links,
    "url": _url,
    "attachment": _attachments,
}


# -- reading --------------------------------------------------------------------------------------------------


def stored_value(field: FakeField, record: StoredRecord) -> Any:
    """The canonical value of a cell, system fields included (formulas excepted: see :func:`render_record`)."""
    match field.type:
        case "creator":
            return [record.created_by]
        case "lastModifier":
            return [record.modified_by]
        case "createdTime":
            return record.created_time
        case "lastModifiedTime":
            return record.modified_time
    return record.values.get(field.id)


def render_cell(base: FakeBase, field: FakeField, value: Any) -> Any:
    """The read format of a canonical value."""
    match field.type:
        case "number" | "currency":
            return format_number(value)
        case "singleSelect":
            return {"id": value, "name": field.option_name(value)}
        case "multipleSelect":
            return [{"id": option, "name": field.option_name(option)} for option in value]
        case "user":
            return [{"unionId": union_id} for union_id in value]
        case "department":
            return [{"deptId": dept_id} for dept_id in value]
        case "creator" | "lastModifier":
            return {"unionId": value[0]}  # shape assumed: like the record's createdBy
        case field_type if field_type in LINK_TYPES:
            linked = base.sheets.get(field.property["linkedSheetId"])
            return {"linkedRecordIds": [rid for rid in value if linked is not None and rid in linked.records]}
        case "url":
            return dict(value)
        case "attachment":
            return [dict(item) for item in value]
    return value


def render_fields(base: FakeBase, sheet: FakeSheet, record: StoredRecord) -> dict[str, Any]:
    """Every non-empty cell keyed by field name; formulas see the other cells in read format."""
    cells: dict[str, Any] = {}
    for field in sheet.fields.values():
        value = stored_value(field, record)
        if field.type != "formula" and value is not None and value != []:
            cells[field.name] = render_cell(base, field, value)
    for field in sheet.fields.values():
        if field.type == "formula" and field.compute is not None:
            computed = field.compute(dict(cells))
            if computed is not None:
                cells[field.name] = computed
    return cells


def render_record(
    base: FakeBase, sheet: FakeSheet, record: StoredRecord, only: Container[str] | None = None
) -> dict[str, Any]:
    """The record as GET record answers it; ``only`` restricts ``fields`` to those field names."""
    cells = render_fields(base, sheet, record)
    if only is not None:
        cells = {name: value for name, value in cells.items() if name in only}
    return {
        "id": record.id,
        "fields": cells,
        "createdTime": record.created_time,
        "createdBy": {"unionId": record.created_by},
        "lastModifiedTime": record.modified_time,
        "lastModifiedBy": {"unionId": record.modified_by},
    }
