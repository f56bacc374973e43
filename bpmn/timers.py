"""Timer definitions as BPMN and Zeebe write them: ISO 8601 dates, durations and repeating
intervals (`R5/PT10S`, `R/PT1M`, `R3/2026-01-01T09:00:00Z/P1D`), and cron expressions for
cycles (Spring's six fields, seconds first, as Zeebe accepts them).

All functions take "now" in epoch milliseconds and never read the clock: the engine passes
the command's timestamp, so replaying the log computes the same due dates.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from propolis.bpmn.errors import BpmnError

_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<years>\d+(?:\.\d+)?)Y)?(?:(?P<months>\d+(?:\.\d+)?)M)?(?:(?P<weeks>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_REPEAT = re.compile(r"^R(?P<count>\d*)/(?P<rest>.+)$")


class TimerValueError(BpmnError):
    """A timer's value is not a date, a duration or a cycle; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Duration:
    """An ISO 8601 duration: calendar months (years included) plus an exact time span."""

    months: int
    millis: int

    def after(self, start_ms: int) -> int:
        if not self.months:
            return start_ms + self.millis
        start = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC)
        month_index = start.month - 1 + self.months
        year, month = start.year + month_index // 12, month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        moved = start.replace(year=year, month=month, day=day)
        return int(moved.timestamp() * 1000) + self.millis


@dataclass(frozen=True, slots=True)
class Cycle:
    """A repeating timer: `repetitions` (-1 = unbounded) of `interval`, or a cron expression."""

    repetitions: int
    interval: Duration | None = None
    start_ms: int | None = None
    cron: str | None = None

    def first_due(self, now_ms: int) -> int:
        if self.cron is not None:
            return _cron_next(self.cron, now_ms)
        if self.start_ms is not None:
            return self.start_ms  # a start in the past fires at once, like any late timer
        return self.interval.after(now_ms)

    def next_due(self, previous_due_ms: int) -> int:
        if self.cron is not None:
            return _cron_next(self.cron, previous_due_ms)
        return self.interval.after(previous_due_ms)


def parse_duration(text: str) -> Duration:
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise TimerValueError(f"'{text}' is not an ISO 8601 duration such as 'PT10S', 'PT5M' or 'P1D'")
    parts = {k: float(v) for k, v in match.groupdict().items() if v and k != "sign"}
    months = int(parts.get("years", 0) * 12 + parts.get("months", 0))
    seconds = (
        parts.get("weeks", 0) * 7 * 86400
        + parts.get("days", 0) * 86400
        + parts.get("hours", 0) * 3600
        + parts.get("minutes", 0) * 60
        + parts.get("seconds", 0)
    )
    if match.group("sign"):
        raise TimerValueError(f"'{text}' is a negative duration; a timer needs a duration of zero or more")
    return Duration(months=months, millis=round(seconds * 1000))


def parse_date(text: str) -> int:
    """An ISO 8601 date-time (with an offset or Z; without one it is read as UTC) in ms."""
    value = text.strip()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise TimerValueError(f"'{text}' is not an ISO 8601 date and time such as '2026-12-01T09:00:00Z'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def parse_cycle(text: str) -> Cycle:
    value = text.strip()
    match = _REPEAT.match(value)
    if match is None:
        return Cycle(repetitions=-1, cron=_checked_cron(value))
    count = int(match.group("count")) if match.group("count") else -1
    rest = match.group("rest").split("/")
    if len(rest) == 1:
        return Cycle(repetitions=count, interval=parse_duration(rest[0]))
    if len(rest) == 2:
        if rest[0].startswith("P"):
            raise TimerValueError(f"'{text}': an end date after the interval is not supported; write 'R<n>/<start>/<interval>' or 'R<n>/<interval>'")
        return Cycle(repetitions=count, interval=parse_duration(rest[1]), start_ms=parse_date(rest[0]))
    raise TimerValueError(f"'{text}' is not a repeating interval such as 'R5/PT10S' or 'R/PT1M', nor a cron expression")


def _checked_cron(value: str) -> str:
    from croniter import croniter

    fields = value.split()
    if len(fields) not in (5, 6) or not croniter.is_valid(value, second_at_beginning=len(fields) == 6):
        raise TimerValueError(
            f"'{value}' is neither a repeating interval such as 'R5/PT10S' nor a cron expression such as '0 0 9 * * MON-FRI'"
        )
    return value


def _cron_next(expression: str, after_ms: int) -> int:
    from croniter import croniter

    start = dt.datetime.fromtimestamp(after_ms / 1000, dt.UTC)
    iterator = croniter(expression, start, second_at_beginning=len(expression.split()) == 6)
    return int(iterator.get_next(float) * 1000)


def to_text(value: Any, what: str) -> str:
    """A FEEL result as a timer value: strings as they are; durations and dates in ISO form."""
    if isinstance(value, str):
        return value
    if isinstance(value, dt.timedelta):
        return f"PT{value.total_seconds()}S"
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return iso()
    if value is not None and type(value).__name__.lower().endswith("duration"):
        return str(value)
    raise TimerValueError(f"the {what} evaluated to {value!r}, which is not a date, a duration or a cycle")
