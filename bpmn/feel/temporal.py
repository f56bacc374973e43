"""FEEL's temporal values: date, time, date and time, and the two kinds of duration.

Python types carry them: `datetime.date`, `datetime.time` and `datetime.datetime` (with a
fixed offset or an IANA zone as tzinfo, or none for local values), `datetime.timedelta` for a
days and time duration, and `YearsMonths` for a years and months duration. Parsing follows
FEEL's literal syntax (ISO 8601 with FEEL's `@Zone/Id` suffix); rendering gives the strings
`string()` returns. A value that cannot be parsed is None (FEEL null), never an exception.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from propolis.bpmn.feel import numbers


@dataclass(frozen=True, slots=True, order=True)
class YearsMonths:
    """A years and months duration, as a signed number of months."""

    months: int

    def __str__(self) -> str:
        sign = "-" if self.months < 0 else ""
        years, months = divmod(abs(self.months), 12)
        if not years and not months:
            return "P0M"
        return f"{sign}P" + (f"{years}Y" if years else "") + (f"{months}M" if months else "")


# XML Schema years: four digits, or more without a leading zero
_DATE = re.compile(r"^(-?(?:[1-9]\d{4,8}|\d{4}))-(\d{2})-(\d{2})$")
_TIME = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2}(?::\d{2})?)?(?:@([A-Za-z_+\-/0-9]+))?$")
_DT_DURATION = re.compile(r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?$")
_YM_DURATION = re.compile(r"^(-)?P(?:(\d+)Y)?(?:(\d+)M)?$")


def _zone(offset: str | None, zone_id: str | None) -> datetime.tzinfo | None | bool:
    """The tzinfo for an offset or zone id; False if it is not valid."""
    if zone_id:
        try:
            return ZoneInfo(zone_id)
        except (ZoneInfoNotFoundError, ValueError):
            return False
    if not offset:
        return None
    if offset == "Z":
        return datetime.UTC
    sign = -1 if offset[0] == "-" else 1
    parts = [int(p) for p in offset[1:].split(":")]
    delta = datetime.timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2] if len(parts) > 2 else 0)
    if delta > datetime.timedelta(hours=18):
        return False
    return datetime.timezone(sign * delta)


def parse_date(text: str) -> datetime.date | None:
    match = _DATE.match(text)
    if not match:
        return None
    try:
        return datetime.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def parse_time(text: str) -> datetime.time | None:
    match = _TIME.match(text)
    if not match:
        return None
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3))
    fraction = match.group(4)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    zone = _zone(match.group(5), match.group(6))
    if zone is False or (match.group(5) and match.group(6)):
        return None
    if hour == 24 and minute == 0 and second == 0 and micro == 0:
        hour = 0
    try:
        return datetime.time(hour, minute, second, micro, tzinfo=zone)
    except ValueError:
        return None


def parse_date_time(text: str) -> datetime.datetime | datetime.date | None:
    if "T" not in text:
        return None
    day, _, clock = text.partition("T")
    date = parse_date(day)
    time = parse_time(clock)
    if date is None or time is None:
        return None
    if clock.startswith("24:"):
        date = date + datetime.timedelta(days=1)
    return datetime.datetime.combine(date, time)


def parse_duration(text: str) -> datetime.timedelta | YearsMonths | None:
    match = _YM_DURATION.match(text)
    if match and (match.group(2) or match.group(3)):
        months = int(match.group(2) or 0) * 12 + int(match.group(3) or 0)
        return YearsMonths(-months if match.group(1) else months)
    match = _DT_DURATION.match(text)
    if not match or not any(match.group(i) for i in range(2, 6)) or text.endswith("T"):
        return None
    seconds = Decimal(match.group(5) or 0)
    delta = datetime.timedelta(
        days=int(match.group(2) or 0), hours=int(match.group(3) or 0), minutes=int(match.group(4) or 0),
        seconds=int(seconds), microseconds=int((seconds % 1) * 1_000_000),
    )
    return -delta if match.group(1) else delta


def parse_temporal(text: str) -> Any:
    """An `@"..."` literal: a date, a time, a date and time or a duration."""
    if text.startswith(("P", "-P")):
        return parse_duration(text)
    if "T" in text:
        return parse_date_time(text)
    if ":" in text:
        return parse_time(text)
    return parse_date(text)


# -- rendering ------------------------------------------------------------------------------
def _offset_text(tz: datetime.tzinfo | None, moment: datetime.datetime | None) -> str:
    if tz is None:
        return ""
    if isinstance(tz, ZoneInfo):
        return "@" + tz.key
    offset = tz.utcoffset(moment)
    if offset == datetime.timedelta(0):
        return "Z"
    sign = "-" if offset < datetime.timedelta(0) else "+"
    total = abs(int(offset.total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def _clock(value: datetime.time | datetime.datetime) -> str:
    text = f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text


def to_text(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return f"{value.date().isoformat()}T{_clock(value)}{_offset_text(value.tzinfo, value)}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return _clock(value) + _offset_text(value.tzinfo, None)
    if isinstance(value, datetime.timedelta):
        return duration_text(value)
    return str(value)


def duration_text(delta: datetime.timedelta) -> str:
    sign = "-" if delta < datetime.timedelta(0) else ""
    delta = abs(delta)
    days = delta.days
    seconds = delta.seconds
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if secs or delta.microseconds:
        fraction = f".{delta.microseconds:06d}".rstrip("0") if delta.microseconds else ""
        clock += f"{secs}{fraction}S"
    if clock:
        text += "T" + clock
    return text if text not in ("P", "-P") else "PT0S"


def same_instant_and_zone(left: Any, right: Any) -> bool:
    if left.tzinfo is None or right.tzinfo is None:
        return left.tzinfo is None and right.tzinfo is None and left == right
    return left == right and to_text(left) == to_text(right)


# -- arithmetic and comparison -------------------------------------------------------------
_DT = datetime.datetime
_D = datetime.date
_T = datetime.time
_TD = datetime.timedelta
_EPOCH = datetime.datetime(1970, 1, 1)


def is_temporal(value: Any) -> bool:
    return isinstance(value, (_D, _T, _TD, YearsMonths))


def add_months(moment: Any, months: int) -> Any:
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month + 1, day=day)
        except ValueError:
            day -= 1  # the 31st of a shorter month: its last day
            if day < 28:
                return None


def _time_as_delta(value: _T) -> _TD:
    return _TD(hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond)


def _time_plus(value: _T, delta: _TD) -> _T:
    total = (_time_as_delta(value) + delta) % _TD(days=1)
    moment = _EPOCH + total
    return moment.time().replace(tzinfo=value.tzinfo)


def _aware_pair(left: Any, right: Any) -> bool:
    return (left.tzinfo is None) == (right.tzinfo is None)


def add(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if tl is _TD and tr is _TD:
        return left + right
    if tl is YearsMonths and tr is YearsMonths:
        return YearsMonths(left.months + right.months)
    if tr in (_DT, _D, _T) and tl in (_TD, YearsMonths):
        return add(right, left)
    if tl is _DT:
        if tr is _TD:
            return left + right
        if tr is YearsMonths:
            return add_months(left, right.months)
    if tl is _D:
        if tr is _TD:
            return (_DT.combine(left, _T()) + right).date()
        if tr is YearsMonths:
            return add_months(left, right.months)
    if tl is _T and tr is _TD:
        return _time_plus(left, right)
    return None


def subtract(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if tl is _TD and tr is _TD:
        return left - right
    if tl is YearsMonths and tr is YearsMonths:
        return YearsMonths(left.months - right.months)
    if tl is _DT:
        if tr is _DT:
            return left - right if _aware_pair(left, right) else None
        if tr is _D:  # the date as its midnight in UTC, as the TCK expects
            return subtract(left, _DT.combine(right, _T(tzinfo=datetime.UTC)))
        if tr is _TD:
            return left - right
        if tr is YearsMonths:
            return add_months(left, -right.months)
    if tl is _D:
        if tr is _D:
            return _TD(days=(left - right).days)
        if tr is _DT:
            return subtract(_DT.combine(left, _T(tzinfo=datetime.UTC)), right)
        if tr is _TD:
            return (_DT.combine(left, _T()) - right).date()
        if tr is YearsMonths:
            return add_months(left, -right.months)
    if tl is _T:
        if tr is _TD:
            return _time_plus(left, -right)
        if tr is _T:
            if not _aware_pair(left, right):
                return None
            base = _DT(2000, 1, 1)
            return _DT.combine(base, left) - _DT.combine(base, right)
    return None


def multiply(left: Any, right: Any) -> Any:
    if type(left) in _NUMBERS and type(right) in (_TD, YearsMonths):
        left, right = right, left
    if type(right) not in _NUMBERS:
        return None
    if type(left) is _TD:
        return _TD(microseconds=round(_micros(left) * right))
    if type(left) is YearsMonths:
        return YearsMonths(int(left.months * right))
    return None


_NUMBERS = (int, Decimal, float)


def _quotient(left: int, right: int) -> Decimal:
    return numbers.CONTEXT.divide(Decimal(left), Decimal(right))


def _micros(delta: _TD) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def divide(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if tl is _TD and tr is _TD:
        return None if not right else _quotient(_micros(left), _micros(right))
    if tl is YearsMonths and tr is YearsMonths:
        return None if not right.months else _quotient(left.months, right.months)
    if tr in _NUMBERS and right != 0:
        if tl is _TD:
            return _TD(microseconds=round(_micros(left) / right))
        if tl is YearsMonths:
            return YearsMonths(int(left.months / right))
    return None


def comparable(left: Any, right: Any) -> bool:
    tl, tr = type(left), type(right)
    if tl is not tr:
        return False
    if tl in (_DT, _T):
        return _aware_pair(left, right)
    return tl in (_D, _TD, YearsMonths)


def equal(left: Any, right: Any) -> Any:
    if not comparable(left, right):
        if type(left) is type(right) and type(left) in (_DT, _T):
            return False  # a local and a zoned value are never the same
        return None
    return left == right


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def type_name(value: Any) -> str | None:
    if isinstance(value, _DT):
        return "date and time"
    if isinstance(value, _D):
        return "date"
    if isinstance(value, _T):
        return "time"
    if isinstance(value, _TD):
        return "days and time duration"
    if isinstance(value, YearsMonths):
        return "years and months duration"
    return None


def _offset(value: Any) -> Any:
    if value.tzinfo is None:
        return None
    moment = value if isinstance(value, _DT) else None
    offset = value.tzinfo.utcoffset(moment)
    return offset


def property_of(value: Any, key: str) -> Any:
    """FEEL's properties of temporal values (`d.year`, `t.hour`, `dur.days`)."""
    if isinstance(value, (_D, _DT)) and key in ("year", "month", "day"):
        return getattr(value, key)
    if isinstance(value, (_D, _DT)) and key == "weekday":
        return value.isoweekday()
    if isinstance(value, (_T, _DT)):
        if key in ("hour", "minute", "second"):
            return getattr(value, key)
        if key == "time offset":
            return _offset(value)
        if key == "timezone":
            return value.tzinfo.key if isinstance(value.tzinfo, ZoneInfo) else None
    if isinstance(value, _TD):
        total = abs(_micros(value)) // 1_000_000
        sign = -1 if value < _TD(0) else 1
        parts = {"days": total // 86_400, "hours": total % 86_400 // 3600, "minutes": total % 3600 // 60, "seconds": total % 60}
        return sign * parts[key] if key in parts else None
    if isinstance(value, YearsMonths):
        sign = -1 if value.months < 0 else 1
        if key == "years":
            return sign * (abs(value.months) // 12)
        if key == "months":
            return sign * (abs(value.months) % 12)
    return None
