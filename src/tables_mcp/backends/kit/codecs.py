"""Date-time values in the one form every adapter shows: UTC, `YYYY-MM-DDTHH:MM:SSZ`, four-digit years.

The year is always written with four digits (strftime's `%Y` writes year 999 as `999` on glibc, and
then text order is no longer time order). A value without an offset is UTC. A moment outside the
years 1 to 9999 once converted to UTC is a ValueError, never an OverflowError escaping a request.
A leap second (`23:59:60`, which RFC 3339 allows and Python cannot hold) is read as `23:59:59` of the
same minute, as java.time's ISO parser does; `t` and `z` are read as `T` and `Z`.

`is_datetime_argument` and `is_date_argument` are the checks the tools' JSON Schemas use for the
`date-time` and `date` formats: RFC 3339 text that also converts here (years 0001 to 9999 in UTC), so
that a value an agent may send is one every adapter can encode and compare.

Platforms that keep only minutes compare against whole minutes: `datetime_minute_bound` and
`time_minute_bound` move a bound with seconds to the whole minute that selects the same values.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

MINUTE = timedelta(minutes=1)
LAST_MINUTE = datetime.max.replace(second=0, microsecond=0, tzinfo=UTC)
# A time of day is compared as a moment of one fixed day; its last minute is 23:59 of that day.
_TIME_DAY = "2000-01-01"
LAST_MINUTE_OF_DAY = datetime.fromisoformat(f"{_TIME_DAY}T23:59").replace(tzinfo=UTC)

MinuteBound = tuple[str, str] | None
YEARS = "the years 1 to 9999"

_LEAP_SECOND = re.compile(r"(?<=^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:)60")
_RFC3339_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_RFC3339_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 / RFC 3339 date-time as an aware UTC datetime (no offset means UTC)."""
    text = _LEAP_SECOND.sub("59", value.upper())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{value[:40]!r} is not an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{value} is outside {YEARS} once converted to UTC") from exc


def is_datetime_argument(value: str) -> bool:
    """RFC 3339 date-time text within the years 0001 to 9999 in UTC; a leap second only at 23:59:60 UTC."""
    found = _RFC3339_DATETIME.match(value.upper())
    if found is None:
        return False
    try:
        moment = parse_datetime(value)
    except ValueError:
        return False
    return found.group(1) != "60" or (moment.hour, moment.minute) == (23, 59)


def is_date_argument(value: str) -> bool:
    """A `YYYY-MM-DD` day of the years 0001 to 9999 (RFC 3339 allows year 0000, no platform does)."""
    if _RFC3339_DATE.match(value) is None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def format_datetime(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` in UTC (a naive moment is UTC), to the second."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def utc_datetime(value: str) -> str:
    """Date-time text in the canonical form; ValueError if it is not one or is out of range."""
    return format_datetime(parse_datetime(value))


def minute_bound(op: str, moment: datetime, last_minute: datetime = LAST_MINUTE) -> tuple[str, datetime] | None:
    """The operator and whole-minute bound that select, among values kept to the minute, what
    `value <op> moment` selects: `< 09:30:30` is `< 09:31`, `<= 09:30:30` is `<= 09:30`.

    None when `op` is eq or ne and the moment has seconds: no value kept to the minute equals it.
    At `last_minute` (no later minute exists) `< x:30` becomes `<= last` and `>= x:30` becomes `> last`.
    """
    floor = moment.replace(second=0, microsecond=0)
    if moment == floor:
        return op, floor
    if op in ("eq", "ne"):
        return None
    if op in ("lt", "gte"):
        if floor >= last_minute:
            return ("lte" if op == "lt" else "gt"), floor
        return op, floor + MINUTE
    return op, floor


def datetime_minute_bound(op: str, value: str) -> MinuteBound:
    """`minute_bound` for date-time text; the bound comes back in the canonical form (seconds 00)."""
    bound = minute_bound(op, parse_datetime(value))
    return None if bound is None else (bound[0], format_datetime(bound[1]))


def time_minute_bound(op: str, value: str) -> MinuteBound:
    """`minute_bound` for a time of day (`HH:MM[:SS]`); the bound comes back as `HH:MM`."""
    moment = datetime.fromisoformat(f"{_TIME_DAY}T{value}").replace(tzinfo=UTC)
    bound = minute_bound(op, moment, LAST_MINUTE_OF_DAY)
    return None if bound is None else (bound[0], bound[1].strftime("%H:%M"))
