"""Date-time values in the one form every adapter shows: UTC, `YYYY-MM-DDTHH:MM:SSZ`, four-digit years.

The year is always written with four digits (strftime's `%Y` writes year 999 as `999` on glibc, and
then text order is no longer time order). A value without an offset is UTC. A moment outside the
years 1 to 9999 once converted to UTC is a ValueError, never an OverflowError escaping a request.

Platforms that keep only minutes compare against whole minutes: `datetime_minute_bound` and
`time_minute_bound` move a bound with seconds to the whole minute that selects the same values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

MINUTE = timedelta(minutes=1)
LAST_MINUTE = datetime.max.replace(second=0, microsecond=0, tzinfo=UTC)
# A time of day is compared as a moment of one fixed day; its last minute is 23:59 of that day.
_TIME_DAY = "2000-01-01"
LAST_MINUTE_OF_DAY = datetime.fromisoformat(f"{_TIME_DAY}T23:59").replace(tzinfo=UTC)

MinuteBound = tuple[str, str] | None


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 / RFC 3339 date-time as an aware UTC datetime (no offset means UTC)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{value} is outside the years 1 to 9999 once converted to UTC") from exc


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
