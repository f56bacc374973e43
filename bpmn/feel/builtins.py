"""FEEL's built-in string, list and number functions, by their FEEL names.

Each function takes FEEL values and returns a FEEL value; arguments of the wrong type give
null, as in FEEL, never an exception. The arity is checked when an expression is compiled
(from the Python signature), so `upper case(a, b)` is a deploy-time error.

`is defined` is not here: it needs to see whether a *name* exists, not a value, so the
compiler builds it (see `compiler.py`). The rest of the DMN library (dates and times,
ranges, contexts, the remaining list and number functions) is in `library.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from propolis.bpmn.feel.numbers import CONTEXT, from_decimal, to_decimal
from propolis.bpmn.feel.values import comparable, equal, is_number, normalize, to_text
from propolis.bpmn.feel.xpath_regex import compile_xpath

_NUMBER_TEXT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")


# -- boolean ------------------------------------------------------------------------------
def _not(value: Any) -> Any:
    return (not value) if type(value) is bool else None


def _all(*args: Any) -> Any:
    values = _items(args)
    if values is None:
        return None
    if any(v is False for v in values):
        return False
    return True if all(v is True for v in values) else None


def _any(*args: Any) -> Any:
    values = _items(args)
    if values is None:
        return None
    if any(v is True for v in values):
        return True
    return False if all(v is False for v in values) else None


# -- strings ------------------------------------------------------------------------------
def _string_length(text: Any) -> Any:
    return len(text) if isinstance(text, str) else None


def _upper_case(text: Any) -> Any:
    return text.upper() if isinstance(text, str) else None


def _lower_case(text: Any) -> Any:
    return text.lower() if isinstance(text, str) else None


def _substring(text: Any, start: Any, length: Any = None) -> Any:
    """1-based start; a negative start counts from the end."""
    if not isinstance(text, str):
        return None
    begin = _start_index(start, len(text))
    if begin is None:
        return None
    if length is None:
        return text[begin:]
    if not is_number(length) or length < 0:
        return None
    return text[begin : begin + int(length)]


def _start_index(start: Any, size: int) -> int | None:
    if not is_number(start) or start == 0:
        return None
    position = int(start)
    if position > 0:
        return position - 1
    return max(size + position, 0)


def _substring_before(text: Any, match: Any) -> Any:
    if not (isinstance(text, str) and isinstance(match, str)):
        return None
    found = text.find(match)
    return text[:found] if found >= 0 else ""


def _substring_after(text: Any, match: Any) -> Any:
    if not (isinstance(text, str) and isinstance(match, str)):
        return None
    found = text.find(match)
    return text[found + len(match) :] if found >= 0 else ""


def _contains(text: Any, match: Any) -> Any:
    return match in text if isinstance(text, str) and isinstance(match, str) else None


def _starts_with(text: Any, match: Any) -> Any:
    return text.startswith(match) if isinstance(text, str) and isinstance(match, str) else None


def _ends_with(text: Any, match: Any) -> Any:
    return text.endswith(match) if isinstance(text, str) and isinstance(match, str) else None


def _string_join(items: Any, delimiter: Any = "") -> Any:
    """Null items are skipped (DMN 1.4); any other non-string makes the result null."""
    if not isinstance(items, list) or not isinstance(delimiter, str):
        return None
    texts = [item for item in items if item is not None]
    if not all(isinstance(item, str) for item in texts):
        return None
    return delimiter.join(texts)


def _regex(pattern: Any, flags: Any) -> re.Pattern[str] | None:
    """An XPath regular expression (fn:matches) compiled; None when it is not valid."""
    flags = "" if flags is None else flags
    if not isinstance(pattern, str) or not isinstance(flags, str):
        return None
    return compile_xpath(pattern, flags)


def _matches(text: Any, pattern: Any, flags: Any = "") -> Any:
    compiled = _regex(pattern, flags)
    return None if compiled is None or not isinstance(text, str) else compiled.search(text) is not None


def _replacement(template: str) -> str:
    """XPath's replacement syntax in Python's: `$1` is group 1, a backslash escapes `$`."""
    return re.sub(r"\\([\\$])|\$(\d+)", lambda m: m.group(1).replace("\\", "\\\\") if m.group(1) else f"\\g<{m.group(2)}>", template)


def _replace(text: Any, pattern: Any, replacement: Any, flags: Any = "") -> Any:
    compiled = _regex(pattern, flags)
    if compiled is None or not isinstance(text, str) or not isinstance(replacement, str):
        return None
    return compiled.sub(_replacement(replacement), text)


def _split(text: Any, delimiter: Any) -> Any:
    compiled = _regex(delimiter, "")
    if compiled is None or not isinstance(text, str):
        return None
    return compiled.split(text)


def _trim(text: Any) -> Any:
    return text.strip() if isinstance(text, str) else None


def _string(value: Any) -> Any:
    return None if value is None else to_text(value)


def _number(value: Any) -> Any:
    if is_number(value):
        return value
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        text = value.strip()
        return from_decimal(Decimal(text)) if "." in text else int(text)
    return None


# -- lists --------------------------------------------------------------------------------
def _items(args: tuple[Any, ...]) -> list | None:
    """Aggregates take one list or several values: `max([1, 2])` is `max(1, 2)`."""
    if len(args) == 1:
        return args[0] if isinstance(args[0], list) else None
    return list(args)


def _numbers(args: tuple[Any, ...]) -> list | None:
    values = _items(args)
    if not values or not all(is_number(v) for v in values):
        return None
    return values


def _list_contains(items: Any, element: Any) -> Any:
    if not isinstance(items, list):
        return None
    return any(equal(item, element) is True for item in items)


def _count(items: Any) -> Any:
    if type(items) is list:
        return len(items)
    return None if items is None else 1  # a single value is a list of one (DMN)


# `count(items) > n` is common in conditions: it converts a single value itself, without the
# wrapper that library.with_conversions would put around it.
_count.converts_singletons = True  # type: ignore[attr-defined]


def _min(*args: Any) -> Any:
    values = _items(args)
    if not values or not all(comparable(values[0], v) for v in values):
        return None
    return min(values)


def _max(*args: Any) -> Any:
    values = _items(args)
    if not values or not all(comparable(values[0], v) for v in values):
        return None
    return max(values)


def _sum(*args: Any) -> Any:
    values = _numbers(args)
    return None if values is None else decimal_sum(values)


def decimal_sum(values: list) -> Any:
    """The exact sum of FEEL numbers (ints stay ints), null when it overflows."""
    if all(type(v) is int for v in values):
        return sum(values)
    total = Decimal(0)
    try:
        for value in values:
            total = CONTEXT.add(total, to_decimal(value))
    except ArithmeticError:
        return None
    return from_decimal(total)


def _mean(*args: Any) -> Any:
    values = _numbers(args)
    if values is None:
        return None
    total = decimal_sum(values)
    return None if total is None else from_decimal(CONTEXT.divide(to_decimal(total), len(values)))


def _sublist(items: Any, start: Any, length: Any = None) -> Any:
    if not isinstance(items, list):
        return None
    begin = _start_index(start, len(items))
    if begin is None:
        return None
    if length is None:
        return items[begin:]
    if not is_number(length) or length < 0:
        return None
    return items[begin : begin + int(length)]


def _append(items: Any, *elements: Any) -> Any:
    return [*items, *elements] if isinstance(items, list) else None


def _concatenate(*lists: Any) -> Any:
    if not all(isinstance(items, list) for items in lists):
        return None
    return [item for items in lists for item in items]


def _reverse(items: Any) -> Any:
    return items[::-1] if isinstance(items, list) else None


def _index_of(items: Any, match: Any) -> Any:
    if not isinstance(items, list):
        return None
    return [position for position, item in enumerate(items, start=1) if equal(item, match) is True]


def _distinct(items: list) -> list:
    distinct: list = []
    for item in items:
        if not any(equal(item, seen) is True for seen in distinct):
            distinct.append(item)
    return distinct


def _distinct_values(items: Any) -> Any:
    return _distinct(items) if isinstance(items, list) else None


def _union(*lists: Any) -> Any:
    joined = _concatenate(*lists)
    return None if joined is None else _distinct(joined)


def _flatten(items: Any) -> Any:
    if not isinstance(items, list):
        return None
    flat: list = []
    for item in items:
        if isinstance(item, list):
            flat.extend(_flatten(item))
        else:
            flat.append(item)
    return flat


# -- numbers ------------------------------------------------------------------------------
def _abs(value: Any) -> Any:
    return abs(value) if is_number(value) else None


def _floor(value: Any) -> Any:
    return from_decimal(to_decimal(value).to_integral_value(rounding="ROUND_FLOOR")) if is_number(value) else None


def _ceiling(value: Any) -> Any:
    return from_decimal(to_decimal(value).to_integral_value(rounding="ROUND_CEILING")) if is_number(value) else None


def _decimal(value: Any, scale: Any) -> Any:
    """Round to `scale` digits after the point, half to even (DMN's `decimal`)."""
    if not (is_number(value) and is_number(scale)):
        return None
    return normalize(round(to_decimal(value), int(scale)))


def _modulo(dividend: Any, divisor: Any) -> Any:
    # FEEL's modulo takes the sign of the divisor, as Python's % does on ints (Decimal's %
    # takes the dividend's, so the remainder is moved over to the divisor's side).
    if not (is_number(dividend) and is_number(divisor)) or divisor == 0:
        return None
    if type(dividend) is int and type(divisor) is int:
        return dividend % divisor
    try:
        a, b = to_decimal(dividend), to_decimal(divisor)
        remainder = CONTEXT.remainder(a, b)
        if remainder and (remainder < 0) != (b < 0):
            remainder = CONTEXT.add(remainder, b)
    except ArithmeticError:
        return None
    return from_decimal(remainder)


def _sqrt(value: Any) -> Any:
    if not is_number(value) or value < 0:
        return None
    return from_decimal(CONTEXT.sqrt(to_decimal(value)))


def _whole(value: Any) -> int | None:
    return int(value) if is_number(value) and value == int(value) else None


def _odd(value: Any) -> Any:
    whole = _whole(value)
    return None if whole is None else whole % 2 == 1


def _even(value: Any) -> Any:
    whole = _whole(value)
    return None if whole is None else whole % 2 == 0


# -- contexts -----------------------------------------------------------------------------
def _get_value(context: Any, key: Any) -> Any:
    if isinstance(context, Mapping) and isinstance(key, str):
        return context.get(key)
    return None


BUILTINS: dict[str, Callable[..., Any]] = {
    # boolean
    "not": _not,
    "all": _all,
    "any": _any,
    # string
    "string length": _string_length,
    "upper case": _upper_case,
    "lower case": _lower_case,
    "substring": _substring,
    "substring before": _substring_before,
    "substring after": _substring_after,
    "contains": _contains,
    "starts with": _starts_with,
    "ends with": _ends_with,
    "string join": _string_join,
    "trim": _trim,
    "matches": _matches,
    "replace": _replace,
    "split": _split,
    # conversion
    "string": _string,
    "number": _number,
    # list
    "list contains": _list_contains,
    "count": _count,
    "min": _min,
    "max": _max,
    "sum": _sum,
    "mean": _mean,
    "sublist": _sublist,
    "append": _append,
    "concatenate": _concatenate,
    "reverse": _reverse,
    "index of": _index_of,
    "union": _union,
    "distinct values": _distinct_values,
    "flatten": _flatten,
    # number
    "abs": _abs,
    "floor": _floor,
    "ceiling": _ceiling,
    "decimal": _decimal,
    "modulo": _modulo,
    "sqrt": _sqrt,
    "odd": _odd,
    "even": _even,
    # context
    "get value": _get_value,
}
