"""Column value rules of the fake Ozari database: storage coercion per column kind, comparison keys, SQL LIKE.

The real API sits on a SQL database (MySQL-like, by its messages and ``show_form = 'Y'`` configuration); the
fake stands in for it with five column kinds. Every rule here is an assumption (the API publishes no types):
see the package docstring, "Values and comparisons".
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any, Literal

FieldKind = Literal["text", "int", "number", "date", "datetime"]
FIELD_KINDS: frozenset[str] = frozenset({"text", "int", "number", "date", "datetime"})

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ValueRejected(Exception):
    """The database refused a value for a column (answered as a 500 with the database's message)."""


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def format_datetime(moment: datetime) -> str:
    return moment.strftime(_DATETIME_FORMAT)


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_number(value: Any) -> int | float | None:
    """A filter or written value as a number, or None when it has no numeric reading."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        if _INTEGER.fullmatch(value):
            return int(value)
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _as_date(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10]).isoformat()
    except ValueError:
        return None


def _as_datetime(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            return format_datetime(datetime.combine(date.fromisoformat(text), datetime.min.time()))
        return format_datetime(datetime.fromisoformat(text).replace(tzinfo=None, microsecond=0))
    except ValueError:
        return None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return _number_text(value)
    return str(value)


def store(kind: FieldKind, column: str, value: Any) -> Any:
    """The value as the column keeps it; raises :class:`ValueRejected` with a MySQL-style message."""
    if value is None:
        return None
    if kind == "text":
        return _as_text(value)
    if kind == "int":
        number = _as_number(value)
        if number is None:
            raise ValueRejected(f"Incorrect integer value: '{value}' for column '{column}' at row 1")
        return round(number)
    if kind == "number":
        number = _as_number(value)
        if number is None:
            raise ValueRejected(f"Incorrect double value: '{value}' for column '{column}' at row 1")
        return int(number) if isinstance(number, float) and number.is_integer() else number
    parsed = _as_date(value) if kind == "date" else _as_datetime(value)
    if parsed is None:
        raise ValueRejected(f"Incorrect {kind} value: '{value}' for column '{column}' at row 1")
    return parsed


def stored_key(kind: FieldKind, stored: Any) -> Any:
    """What comparisons and sorting use for a stored (non-null) value: text compares case-insensitively."""
    return stored.casefold() if kind == "text" else stored


def filter_key(kind: FieldKind, value: Any) -> Any:
    """A filter value as a comparison key for ``kind``; None when SQL would never match (NULL, no reading)."""
    if value is None:
        return None
    if kind == "text":
        return _as_text(value).casefold()
    if kind in ("int", "number"):
        return _as_number(value)
    if kind == "date":
        return _as_date(value) or (value if isinstance(value, str) else None)
    return _as_datetime(value) or (value if isinstance(value, str) else None)


def like_text(stored: Any) -> str:
    """The text a LIKE pattern is matched against (numbers and dates by their text form)."""
    return _as_text(stored).casefold()


def like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE: ``%`` any run, ``_`` one character, backslash escapes the next character; case-insensitive."""
    parts: list[str] = []
    escaped = False
    for char in pattern.casefold():
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    if escaped:
        parts.append(re.escape("\\"))
    return re.compile("".join(parts), re.DOTALL)
