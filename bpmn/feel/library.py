"""The rest of FEEL's built-in library (DMN 1.4/1.5): date and time, ranges, contexts, and the
list and number functions that `builtins.py` does not define. Python parameter names are the
FEEL parameter names (spaces as underscores, a trailing underscore on Python keywords), so
named arguments work: `substring(string: "abc", start position: 2)`.

As everywhere in FEEL, a function meeting arguments it does not accept returns null.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import re
from collections.abc import Callable, Mapping
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from typing import Any

from propolis.bpmn.feel import temporal
from propolis.bpmn.feel.builtins import decimal_sum
from propolis.bpmn.feel.numbers import CONTEXT, SCALE_CONTEXT, from_decimal, to_decimal
from propolis.bpmn.feel.values import Range, equal, is_number, less, multiply, to_text

_D, _T, _DT, _TD = datetime.date, datetime.time, datetime.datetime, datetime.timedelta
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _int(value: Any) -> int | None:
    if is_number(value) and float(value).is_integer():
        return int(value)
    return None


# -- conversion -----------------------------------------------------------------------------
def date(from_: Any = None, month: Any = None, day: Any = None, *, year: Any = None) -> Any:
    if year is not None or month is not None:
        year = from_ if year is None else year
        y, m, d = _int(year), _int(month), _int(day)
        if None in (y, m, d):
            return None
        try:
            return _D(y, m, d)
        except ValueError:
            return None
    if isinstance(from_, str):
        return temporal.parse_date(from_)
    if type(from_) is _DT:
        return from_.date()
    if type(from_) is _D:
        return from_
    return None


def time(from_: Any = None, minute: Any = None, second: Any = None, offset: Any = None, *, hour: Any = None) -> Any:
    if hour is not None or minute is not None:
        hour = from_ if hour is None else hour
        h, m = _int(hour), _int(minute)
        if h is None or m is None or not is_number(second):
            return None
        tz = None
        if offset is not None:
            if type(offset) is not _TD:
                return None
            tz = datetime.timezone(offset)
        whole = int(second)
        micro = int(round((float(second) - whole) * 1_000_000))
        try:
            return _T(h, m, whole, micro, tzinfo=tz)
        except ValueError:
            return None
    if isinstance(from_, str):
        return temporal.parse_time(from_)
    if type(from_) is _DT:
        return from_.timetz()
    if type(from_) is _D:
        return _T(0, 0, 0, tzinfo=datetime.UTC)
    if type(from_) is _T:
        return from_
    return None


_ABSENT = object()


def date_and_time(from_: Any = None, time: Any = _ABSENT, *, date: Any = None) -> Any:  # noqa: F811 - FEEL's names
    if time is None:
        return None
    if time is _ABSENT:
        time = None
    if date is not None or time is not None:
        day = from_ if date is None else date
        if type(day) is _DT:
            day = day.date()
        if type(day) is not _D or type(time) is not _T:
            return None
        return _DT.combine(day, time)
    if isinstance(from_, str):
        if "T" not in from_:
            day = temporal.parse_date(from_)
            return _DT.combine(day, _T()) if day is not None else None
        return temporal.parse_date_time(from_)
    if type(from_) is _DT:
        return from_
    if type(from_) is _D:
        return _DT.combine(from_, _T())
    return None


def duration(from_: Any) -> Any:
    if isinstance(from_, str):
        return temporal.parse_duration(from_)
    return from_ if type(from_) in (_TD, temporal.YearsMonths) else None


def years_and_months_duration(from_: Any, to: Any) -> Any:
    if type(from_) not in (_D, _DT) or type(to) not in (_D, _DT):
        return None
    start, end = (from_.date() if type(from_) is _DT else from_), (to.date() if type(to) is _DT else to)
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if months > 0 and end.day < start.day:
        months -= 1
    elif months < 0 and end.day > start.day:
        months += 1
    return temporal.YearsMonths(months)


def now() -> Any:
    return _DT.now(datetime.UTC).replace(microsecond=0)


def today() -> Any:
    return _D.today()


def _day(value: Any) -> Any:
    if type(value) is _DT:
        return value.date()
    return value if type(value) is _D else None


def day_of_year(date: Any) -> Any:
    day = _day(date)
    return None if day is None else day.timetuple().tm_yday


def day_of_week(date: Any) -> Any:
    day = _day(date)
    return None if day is None else _WEEKDAYS[day.weekday()]


def month_of_year(date: Any) -> Any:
    day = _day(date)
    return None if day is None else _MONTHS[day.month - 1]


def week_of_year(date: Any) -> Any:
    day = _day(date)
    return None if day is None else day.isocalendar()[1]


def last_day_of_month(date: Any) -> Any:
    day = _day(date)
    if day is None:
        return None
    following = day.replace(day=28) + _TD(days=4)
    return (following - _TD(days=following.day)).day


def is_(value1: Any, value2: Any) -> Any:
    """Same type and same value; a time or date and time also in the same zone."""
    if value1 is None or value2 is None:
        return value1 is None and value2 is None
    if type(value1) is not type(value2):
        return False
    if type(value1) in (_T, _DT):
        return value1 == value2 and temporal.to_text(value1) == temporal.to_text(value2)
    return equal(value1, value2) is True


# -- numbers ----------------------------------------------------------------------------------
def _rounded(n: Any, scale: Any, mode: str) -> Any:
    places = int(scale) if is_number(scale) else None  # a fractional scale counts its whole part
    if not is_number(n) or places is None or not -6111 <= places <= 6176:
        return None
    try:
        result = to_decimal(n).quantize(Decimal(1).scaleb(-places), rounding=mode, context=SCALE_CONTEXT)
    except ArithmeticError:
        return None
    return from_decimal(result)


def floor(n: Any, scale: Any = 0) -> Any:
    return _rounded(n, scale, ROUND_FLOOR)


def ceiling(n: Any, scale: Any = 0) -> Any:
    return _rounded(n, scale, ROUND_CEILING)


def decimal(n: Any, scale: Any) -> Any:
    return _rounded(n, scale, ROUND_HALF_EVEN)


def round_up(n: Any, scale: Any = 0) -> Any:
    return _rounded(n, scale, ROUND_UP)


def round_down(n: Any, scale: Any = 0) -> Any:
    return _rounded(n, scale, ROUND_DOWN)


def round_half_up(n: Any, scale: Any = 0) -> Any:
    return _rounded(n, scale, ROUND_HALF_UP)


def round_half_down(n: Any, scale: Any = 0) -> Any:
    return _rounded(n, scale, ROUND_HALF_DOWN)


def log(number: Any) -> Any:
    return _computed(Decimal.ln, number) if is_number(number) and number > 0 else None


def exp(number: Any) -> Any:
    return _computed(Decimal.exp, number) if is_number(number) else None


def _computed(function: Callable[[Decimal, Any], Decimal], number: Any) -> Any:
    try:
        return from_decimal(function(to_decimal(number), CONTEXT))
    except ArithmeticError:
        return None


# -- lists -------------------------------------------------------------------------------------
def _items(args: tuple[Any, ...]) -> list | None:
    if len(args) == 1 and isinstance(args[0], list):
        return args[0]
    return list(args) if args else None


def _numbers(args: tuple[Any, ...]) -> list | None:
    items = _items(args)
    if not items or not all(is_number(i) for i in items):
        return None
    return items


def product(*list_: Any) -> Any:
    items = _numbers(list_)
    return None if items is None else functools.reduce(multiply, items, 1)


def median(*list_: Any) -> Any:
    items = _numbers(list_)
    if items is None:
        return None
    ordered = sorted(to_decimal(i) for i in items)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return from_decimal(ordered[middle])
    return from_decimal(CONTEXT.divide(CONTEXT.add(ordered[middle - 1], ordered[middle]), 2))


def stddev(*list_: Any) -> Any:
    """The sample standard deviation, in decimal."""
    items = _numbers(list_)
    if items is None or len(items) < 2:
        return None
    try:
        values = [to_decimal(i) for i in items]
        mean = CONTEXT.divide(to_decimal(decimal_sum(values)), len(values))
        squares = decimal_sum([CONTEXT.power(CONTEXT.subtract(v, mean), 2) for v in values])
        if squares is None:
            return None
        return from_decimal(CONTEXT.sqrt(CONTEXT.divide(to_decimal(squares), len(values) - 1)))
    except (ArithmeticError, TypeError):
        return None


def mode(*list_: Any) -> Any:
    items = _items(list_)
    if items is None:
        return None
    if not items:
        return []
    if not all(is_number(i) for i in items):
        return None
    counts: dict[Any, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    top = max(counts.values())
    return sorted(k for k, c in counts.items() if c == top)


def min_(*list_: Any) -> Any:
    return _extreme(list_, lambda a, b: less(a, b))


def max_(*list_: Any) -> Any:
    return _extreme(list_, lambda a, b: less(b, a))


def _extreme(args: tuple[Any, ...], better: Callable[[Any, Any], Any]) -> Any:
    items = _items(args)
    if not items:
        return None
    best = items[0]
    for item in items[1:]:
        outcome = better(item, best)
        if outcome is None:
            return None
        if outcome:
            best = item
    return best


def insert_before(list_: Any, position: Any, newItem: Any) -> Any:  # noqa: N803 - FEEL's name
    index = _int(position)
    if not isinstance(list_, list) or index is None or index == 0 or abs(index) > len(list_):
        return None
    index = index - 1 if index > 0 else len(list_) + index
    return list_[:index] + [newItem] + list_[index:]


def remove(list_: Any, position: Any) -> Any:
    index = _int(position)
    if not isinstance(list_, list) or index is None or index == 0 or abs(index) > len(list_):
        return None
    index = index - 1 if index > 0 else len(list_) + index
    return list_[:index] + list_[index + 1:]


def list_replace(list_: Any, position: Any, newItem: Any, *, match: Any = None) -> Any:  # noqa: N803 - FEEL's name
    if not isinstance(list_, list):
        return None
    if match is not None or callable(position):
        test = match if match is not None else position
        if not callable(test) or len(getattr(test, "parameters", ["item", "newItem"])) != 2:
            return None
        result = []
        for item in list_:
            outcome = test(item, newItem)
            if not isinstance(outcome, bool):
                return None
            result.append(newItem if outcome else item)
        return result
    if not is_number(position):
        return None
    index = int(position)  # a fractional position counts its whole part, as the TCK has it
    if index == 0 or abs(index) > len(list_):
        return None
    index = index - 1 if index > 0 else len(list_) + index
    return list_[:index] + [newItem] + list_[index + 1:]


def sort(list_: Any, precedes: Any = None) -> Any:
    if not isinstance(list_, list):
        return None
    if precedes is None:
        def precedes(a: Any, b: Any) -> Any:
            return less(a, b)
    if not callable(precedes):
        return None

    def compare(a: Any, b: Any) -> int:
        if precedes(a, b) is True:
            return -1
        if precedes(b, a) is True:
            return 1
        return 0

    for a, b in zip(list_, list_[1:], strict=False):
        if precedes(a, b) is None:
            return None
    return sorted(list_, key=functools.cmp_to_key(compare))


# -- contexts ----------------------------------------------------------------------------------
def get_entries(m: Any) -> Any:
    if not isinstance(m, Mapping):
        return None
    return [{"key": k, "value": v} for k, v in m.items()]


def context(entries: Any) -> Any:
    if isinstance(entries, Mapping):
        entries = [entries]
    if not isinstance(entries, list):
        return None
    result: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("key"), str) or "value" not in entry:
            return None
        if entry["key"] in result:
            return None
        result[entry["key"]] = entry["value"]
    return result


def context_put(context: Any, key: Any, value: Any, *, keys: Any = None) -> Any:  # noqa: F811 - FEEL's name
    path = keys if keys is not None else key
    if isinstance(path, str):
        path = [path]
    if not isinstance(context, Mapping) or not isinstance(path, list) or not path or not all(isinstance(k, str) for k in path):
        return None
    result = dict(context)
    if len(path) == 1:
        result[path[0]] = value
        return result
    inner = result.get(path[0])
    if inner is None:
        inner = {}
    if not isinstance(inner, Mapping):
        return None
    nested = context_put(inner, path[1:], value)
    if nested is None:
        return None
    result[path[0]] = nested
    return result


def context_merge(contexts: Any) -> Any:
    if isinstance(contexts, Mapping):
        contexts = [contexts]
    if not isinstance(contexts, list) or not all(isinstance(c, Mapping) for c in contexts):
        return None
    result: dict[str, Any] = {}
    for item in contexts:
        result.update(item)
    return result


# -- strings -----------------------------------------------------------------------------------
def string(from_: Any) -> Any:
    return None if from_ is None else to_text(from_)


def string_join(list_: Any, delimiter: Any = "") -> Any:
    if isinstance(list_, str):
        list_ = [list_]
    if not isinstance(list_, list) or (delimiter is not None and not isinstance(delimiter, str)):
        return None
    parts = [item for item in list_ if item is not None]
    if not all(isinstance(p, str) for p in parts):
        return None
    return (delimiter or "").join(parts)


# -- ranges ------------------------------------------------------------------------------------
def _point_range(value: Any) -> Range:
    return value if isinstance(value, Range) else Range(value, value, True, True)


def _lt(a: Any, b: Any) -> Any:
    return less(a, b)


def before(point1: Any, point2: Any = None, *, range1: Any = None, range2: Any = None, point: Any = None, range_: Any = None) -> Any:
    left = next(v for v in (point1, range1, point, range_) if v is not None) if any(v is not None for v in (point1, range1, point, range_)) else None
    right = point2 if point2 is not None else (range2 if range2 is not None else (range_ if range_ is not None and left is not range_ else None))
    if left is None or right is None:
        return None
    a, b = _point_range(left), _point_range(right)
    outcome = _lt(a.end, b.start)
    if outcome is None:
        return None
    if outcome:
        return True
    return equal(a.end, b.start) is True and not (a.end_included and b.start_included)


def after(point1: Any, point2: Any = None, **named: Any) -> Any:
    left = point1 if point1 is not None else next((v for v in named.values() if v is not None), None)
    right = point2 if point2 is not None else list(named.values())[-1] if named else None
    if left is None or right is None:
        return None
    return before(right, left)


def meets(range1: Any, range2: Any) -> Any:
    if not isinstance(range1, Range) or not isinstance(range2, Range):
        return None
    return range1.end_included and range2.start_included and equal(range1.end, range2.start) is True


def met_by(range1: Any, range2: Any) -> Any:
    return meets(range2, range1)


def overlaps(range1: Any, range2: Any) -> Any:
    if not isinstance(range1, Range) or not isinstance(range2, Range):
        return None
    first_before = before(range1, range2)
    second_before = before(range2, range1)
    if first_before is None or second_before is None:
        return None
    return not first_before and not second_before


def overlaps_before(range1: Any, range2: Any) -> Any:
    if not isinstance(range1, Range) or not isinstance(range2, Range):
        return None
    starts_first = _lt(range1.start, range2.start) or (equal(range1.start, range2.start) is True and range1.start_included and not range2.start_included)
    ends_inside = (_lt(range2.start, range1.end) or (equal(range1.end, range2.start) is True and range1.end_included and range2.start_included)) and (
        _lt(range1.end, range2.end) or (equal(range1.end, range2.end) is True and (not range1.end_included or range2.end_included))
    )
    return bool(starts_first and ends_inside)


def overlaps_after(range1: Any, range2: Any) -> Any:
    return overlaps_before(range2, range1)


def finishes(point: Any, range_: Any = None, *, range1: Any = None, range2: Any = None) -> Any:
    if range1 is not None:
        point, range_ = range1, range2
    if not isinstance(range_, Range) or point is None:
        return None
    if isinstance(point, Range):
        return point.end_included == range_.end_included and equal(point.end, range_.end) is True and (
            _lt(range_.start, point.start) or (equal(range_.start, point.start) is True and (range_.start_included or not point.start_included))
        )
    return range_.end_included and equal(point, range_.end) is True


def finished_by(range_: Any, point: Any = None, *, range1: Any = None, range2: Any = None) -> Any:
    if range1 is not None:
        range_, point = range1, range2
    return finishes(point, range_)


def includes(range_: Any, point: Any = None, *, range1: Any = None, range2: Any = None) -> Any:
    if range1 is not None:
        range_, point = range1, range2
    if not isinstance(range_, Range) or point is None:
        return None
    if isinstance(point, Range):
        starts_ok = _lt(range_.start, point.start) or (equal(range_.start, point.start) is True and (range_.start_included or not point.start_included))
        ends_ok = _lt(point.end, range_.end) or (equal(point.end, range_.end) is True and (range_.end_included or not point.end_included))
        return bool(starts_ok and ends_ok)
    return range_.contains(point)


def during(point: Any, range_: Any = None, *, range1: Any = None, range2: Any = None) -> Any:
    if range1 is not None:
        point, range_ = range1, range2
    return includes(range_, point)


def starts(point: Any, range_: Any = None, *, range1: Any = None, range2: Any = None) -> Any:
    if range1 is not None:
        point, range_ = range1, range2
    if not isinstance(range_, Range) or point is None:
        return None
    if isinstance(point, Range):
        return point.start_included == range_.start_included and equal(point.start, range_.start) is True and (
            _lt(point.end, range_.end) or (equal(point.end, range_.end) is True and (range_.end_included or not point.end_included))
        )
    return range_.start_included and equal(point, range_.start) is True


def started_by(range_: Any, point: Any = None, *, range1: Any = None, range2: Any = None) -> Any:
    if range1 is not None:
        range_, point = range1, range2
    return starts(point, range_)


def coincides(point1: Any, point2: Any = None, *, range1: Any = None, range2: Any = None) -> Any:
    if range1 is not None:
        point1, point2 = range1, range2
    if point1 is None or point2 is None:
        return None
    if isinstance(point1, Range) and isinstance(point2, Range):
        return point1 == point2
    if isinstance(point1, Range) or isinstance(point2, Range):
        return None
    return equal(point1, point2)


_RANGE_TEXT = re.compile(r"^\s*([\[\(\]])(.*?)\.\.(.*?)([\]\)\[])\s*$")


def range_(from_: Any) -> Any:
    """`range("[1..10]")` (DMN 1.5): a range from its text; its ends are FEEL literals."""
    from propolis.bpmn.feel.compiler import compile_feel  # the compiler imports this module

    if not isinstance(from_, str):
        return None
    match = _RANGE_TEXT.match(from_)
    if not match:
        return None
    ends = []
    for text in (match.group(2).strip(), match.group(3).strip()):
        if not _RANGE_END.fullmatch(text):
            return None  # each end is a literal: a number, a string, a temporal value
        try:
            ends.append(compile_feel(text)({}))
        except Exception:  # noqa: BLE001 - not a literal: not a range
            return None
    low, high = ends
    if low is None and high is None:
        return None
    if low is not None and high is not None:
        if type(low) is not type(high) or less(high, low) is not False:
            return None
    return Range(low, high, match.group(1) == "[", match.group(4) == "]")


_RANGE_END = re.compile(
    r'null|-?(\d+(\.\d+)?|\.\d+)|"(\\.|[^"\\])*"|@"[^"]*"|(date and time|date|time|duration)\(\s*"[^"]*"\s*\)'
)


def abs_(n: Any) -> Any:
    if is_number(n):
        return abs(n)
    if type(n) is _TD:
        return abs(n)
    if type(n) is temporal.YearsMonths:
        return temporal.YearsMonths(abs(n.months))
    return None


def all_(*list_: Any) -> Any:
    if not list_:
        return None
    items = list_[0] if len(list_) == 1 and isinstance(list_[0], list) else list(list_)
    if any(item is False for item in items):
        return False
    return True if all(item is True for item in items) else None


def any_(*list_: Any) -> Any:
    if not list_:
        return None
    items = list_[0] if len(list_) == 1 and isinstance(list_[0], list) else list(list_)
    if any(item is True for item in items):
        return True
    return False if all(item is False for item in items) else None


def number(from_: Any, grouping_separator: Any = None, decimal_separator: Any = None) -> Any:
    if not isinstance(from_, str):
        return None
    if grouping_separator not in (None, " ", ",", ".") or decimal_separator not in (None, ",", "."):
        return None
    if grouping_separator is not None and grouping_separator == decimal_separator:
        return None
    text = from_
    if grouping_separator:
        text = text.replace(grouping_separator, "")
    if decimal_separator and decimal_separator != ".":
        text = text.replace(decimal_separator, ".")
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text.strip()):
        return None
    try:
        return from_decimal(CONTEXT.plus(Decimal(text.strip())))
    except ArithmeticError:
        return None


LIBRARY: dict[str, Callable[..., Any]] = {
    "abs": abs_,
    "all": all_,
    "any": any_,
    "number": number,
    "date": date,
    "time": time,
    "date and time": date_and_time,
    "duration": duration,
    "years and months duration": years_and_months_duration,
    "now": now,
    "today": today,
    "day of year": day_of_year,
    "day of week": day_of_week,
    "month of year": month_of_year,
    "week of year": week_of_year,
    "last day of month": last_day_of_month,
    "is": is_,
    "floor": floor,
    "ceiling": ceiling,
    "decimal": decimal,
    "round up": round_up,
    "round down": round_down,
    "round half up": round_half_up,
    "round half down": round_half_down,
    "log": log,
    "exp": exp,
    "product": product,
    "median": median,
    "stddev": stddev,
    "mode": mode,
    "min": min_,
    "max": max_,
    "insert before": insert_before,
    "remove": remove,
    "list replace": list_replace,
    "sort": sort,
    "get entries": get_entries,
    "context": context,
    "context put": context_put,
    "context merge": context_merge,
    "string": string,
    "string join": string_join,
    "before": before,
    "after": after,
    "meets": meets,
    "met by": met_by,
    "overlaps": overlaps,
    "overlaps before": overlaps_before,
    "overlaps after": overlaps_after,
    "finishes": finishes,
    "finished by": finished_by,
    "includes": includes,
    "during": during,
    "starts": starts,
    "started by": started_by,
    "coincides": coincides,
    "range": range_,
}

# Rounding modes, for `decimal`'s siblings elsewhere.
ROUNDING = {"half even": ROUND_HALF_EVEN, "half up": ROUND_HALF_UP, "half down": ROUND_HALF_DOWN, "up": ROUND_UP, "down": ROUND_DOWN}


# FEEL's parameter names of each built-in (alternatives for the overloaded ones), so that named
# arguments find their place: `substring(string: "abc", start position: 2)`.
PARAMETERS: dict[str, list[list[str]]] = {
    "not": [["negand"]],
    "substring": [["string", "start position", "length"]],
    "string length": [["string"]],
    "upper case": [["string"]],
    "lower case": [["string"]],
    "substring before": [["string", "match"]],
    "substring after": [["string", "match"]],
    "replace": [["input", "pattern", "replacement", "flags"]],
    "contains": [["string", "match"]],
    "starts with": [["string", "match"]],
    "ends with": [["string", "match"]],
    "matches": [["input", "pattern", "flags"]],
    "split": [["string", "delimiter"]],
    "string join": [["list", "delimiter"]],
    "list contains": [["list", "element"]],
    **{name: [["list"]] for name in ("count", "min", "max", "sum", "mean", "all", "any", "product", "median", "stddev", "mode", "reverse", "distinct values", "flatten")},
    "sublist": [["list", "start position", "length"]],
    "insert before": [["list", "position", "newItem"]],
    "remove": [["list", "position"]],
    "index of": [["list", "match"]],
    "sort": [["list", "precedes"]],
    "list replace": [["list", "position", "newItem"], ["list", "match", "newItem"]],
    **{name: [["n", "scale"]] for name in ("decimal", "floor", "ceiling", "round up", "round down", "round half up", "round half down")},
    "abs": [["n"]],
    "modulo": [["dividend", "divisor"]],
    **{name: [["number"]] for name in ("sqrt", "log", "exp", "odd", "even")},
    "number": [["from", "grouping separator", "decimal separator"]],
    "string": [["from"]],
    "date": [["from"], ["year", "month", "day"]],
    "time": [["from"], ["hour", "minute", "second", "offset"]],
    "date and time": [["from"], ["date", "time"]],
    "duration": [["from"]],
    "years and months duration": [["from", "to"]],
    "get value": [["m", "key"]],
    "get entries": [["m"]],
    "context": [["entries"]],
    "context put": [["context", "key", "value"], ["context", "keys", "value"]],
    "context merge": [["contexts"]],
    **{name: [["date"]] for name in ("day of year", "day of week", "month of year", "week of year", "last day of month")},
    "is": [["value1", "value2"]],
    "range": [["from"]],
    **{name: [["point1", "point2"], ["point", "range"], ["range", "point"], ["range1", "range2"]] for name in (
        "before", "after", "meets", "met by", "overlaps", "overlaps before", "overlaps after", "finishes", "finished by",
        "includes", "during", "starts", "started by", "coincides")},
}


# DMN 1.4, 10.3.2.9.4: a single value where a list is expected is a list of one, and a list of
# one where a single value is expected is that value (`upper case(employees[name = "Bob"].name)`).
# Only parameters that take no list are unwrapped: `index of(list, match)` may look for a list.
_SINGLE_VALUE_PARAMETERS = frozenset({"string", "input", "n", "number", "dividend", "divisor", "date"})


def with_conversions(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` applying DMN's singleton-list conversions to its arguments, or `function`
    itself when none of its parameters needs them."""
    if getattr(function, "converts_singletons", False):
        return function
    parameters = PARAMETERS.get(name, [[]])[0]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in inspect.signature(function).parameters.values())
    to_list = [] if variadic else [i for i, p in enumerate(parameters) if p == "list"]
    to_single = [i for i, p in enumerate(parameters) if p in _SINGLE_VALUE_PARAMETERS]
    if not (to_list or to_single):
        return function
    # The common shapes get a lean wrapper: `count(items)` is on conditions' hot path.
    if to_list == [0] and not to_single and len(inspect.signature(function).parameters) == 1:

        @functools.wraps(function)
        def list_only(first: Any) -> Any:
            return function(first if type(first) is list or first is None else [first])

        return list_only
    if to_list == [0] and not to_single:

        @functools.wraps(function)
        def list_first(first: Any, *rest: Any) -> Any:
            if type(first) is not list and first is not None:
                first = [first]
            return function(first, *rest)

        return list_first
    if to_single == [0] and not to_list:

        @functools.wraps(function)
        def single_first(first: Any, *rest: Any) -> Any:
            if type(first) is list and len(first) == 1:
                first = first[0]
            return function(first, *rest)

        return single_first

    @functools.wraps(function)
    def converting(*args: Any) -> Any:
        converted = list(args)
        for i in to_list:
            if i < len(converted) and converted[i] is not None and type(converted[i]) is not list:
                converted[i] = [converted[i]]
        for i in to_single:
            if i < len(converted) and type(converted[i]) is list and len(converted[i]) == 1:
                converted[i] = converted[i][0]
        return function(*converted)

    return converting


def positional(name: str, named: dict[str, Any]) -> list[Any] | None:
    """Named arguments of built-in `name` as positional ones; None if they do not fit."""
    for alternative in PARAMETERS.get(name, []):
        if set(named) <= set(alternative):
            last = max(alternative.index(key) for key in named) if named else -1
            return [named.get(parameter) for parameter in alternative[: last + 1]]
    return None
