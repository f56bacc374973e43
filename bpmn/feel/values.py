"""FEEL values as Python values, and the operations FEEL defines on them.

FEEL types map to Python as: null -> None, number -> int or float (an integral literal stays
an int; a whole-valued float result becomes an int, so `10 / 5` is `2`), string -> str,
boolean -> bool, list -> list, context -> dict. Every operation returns None (FEEL null) for
operands of the wrong type instead of raising: a model's expression meeting unexpected data
is not a bug in propolis. `describe_failure` says why an operation gave null, for warnings.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from propolis.bpmn.feel import temporal

# Floats beyond this are not made into ints: they are not exact anyway.
EXACT_FLOAT_INT_MAX = 2**53
# A larger integer exponent computes an enormous int (CPU and memory); use floats instead.
INT_EXPONENT_MAX = 1024
# How much of a value a warning quotes.
DESCRIBED_VALUE_CHARS_MAX = 60


def is_number(value: Any) -> bool:
    # `type(...) is` on purpose: bool is a subclass of int, and FEEL booleans are not numbers.
    kind = type(value)
    return kind is int or kind is float


def normalize(value: Any) -> Any:
    if type(value) is float and value.is_integer() and abs(value) < EXACT_FLOAT_INT_MAX:
        return int(value)
    return value


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "context"
    return temporal.type_name(value) or type(value).__name__


def to_text(value: Any) -> str:
    """FEEL's rendering of a value: what `string(x)` returns for non-strings."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if type(value) is float:
        if math.isnan(value) or math.isinf(value):
            return "null"
        text = repr(normalize(value))
        # No exponent notation: FEEL prints numbers as plain decimals.
        return format(Decimal(text), "f") if "e" in text else text
    if is_number(value):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_quoted(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}:{_quoted(item)}" for key, item in value.items()) + "}"
    return temporal.to_text(value)


def _quoted(value: Any) -> str:
    return '"' + value.replace('"', '\\"') + '"' if isinstance(value, str) else to_text(value)


def describe(value: Any) -> str:
    """A value as a warning quotes it: its FEEL text (shortened) and its type."""
    text = _quoted(value)
    if len(text) > DESCRIBED_VALUE_CHARS_MAX:
        text = text[: DESCRIBED_VALUE_CHARS_MAX - 3] + "..."
    return text if value is None else f"{text} ({type_name(value)})"


# -- arithmetic ---------------------------------------------------------------------------
# Hot path: type checks are written out (`t is int or t is float`) instead of calling
# is_number, which halves the cost of `amount > 100`.
def add(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if tl is int and tr is int:
        return left + right
    if (tl is int or tl is float) and (tr is int or tr is float):
        return _float(left, right, _plus)
    if tl is str and tr is str:
        return left + right
    return _temporal(temporal.add, left, right)


def subtract(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if tl is int and tr is int:
        return left - right
    if (tl is int or tl is float) and (tr is int or tr is float):
        return _float(left, right, _minus)
    return _temporal(temporal.subtract, left, right)


def multiply(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if tl is int and tr is int:
        return left * right
    if (tl is int or tl is float) and (tr is int or tr is float):
        return _float(left, right, _times)
    return _temporal(temporal.multiply, left, right)


def divide(left: Any, right: Any) -> Any:
    if is_number(left) and is_number(right):
        return _float(left, right, _over) if right != 0 else None
    return normalize(_temporal(temporal.divide, left, right))


def _temporal(op: Callable[[Any, Any], Any], left: Any, right: Any) -> Any:
    if left is None or right is None or isinstance(left, bool) or isinstance(right, bool):
        return None
    try:
        return op(left, right)
    except (OverflowError, ValueError, TypeError, ArithmeticError):
        return None


def power(base: Any, exponent: Any) -> Any:
    if not (is_number(base) and is_number(exponent)):
        return None
    if type(base) is int and type(exponent) is int and 0 <= exponent <= INT_EXPONENT_MAX:
        return base**exponent
    if base == 0 and exponent < 0:
        return None
    return _float(base, exponent, _raised)


def negate(value: Any) -> Any:
    if is_number(value):
        return -value
    if type(value) is temporal.YearsMonths:
        return temporal.YearsMonths(-value.months)
    return -value if type(value) is temporal._TD else None


def _plus(a: float, b: float) -> float:
    return a + b


def _minus(a: float, b: float) -> float:
    return a - b


def _times(a: float, b: float) -> float:
    return a * b


def _over(a: float, b: float) -> float:
    return a / b


def _raised(a: float, b: float) -> Any:
    return float(a) ** float(b)


def _float(left: Any, right: Any, op: Callable[[float, float], Any]) -> Any:
    try:
        result = op(left, right)
    except (OverflowError, ZeroDivisionError, ValueError):
        return None
    if type(result) is not float or math.isnan(result) or math.isinf(result):
        return None  # e.g. a negative base to a fractional power is complex, not a number
    return normalize(result)


ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": add, "-": subtract, "*": multiply, "/": divide, "**": power,
}
ARITHMETIC_VERB = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "**": "raise"}


def describe_arithmetic_failure(op: str, left: Any, right: Any) -> str | None:
    """Why `left op right` is null, or None when a null operand explains it already."""
    if left is None or right is None:
        return None
    if op == "/" and is_number(left) and is_number(right) and right == 0:
        return f"division by zero: {describe(left)} / {describe(right)}"
    if is_number(left) and is_number(right):
        return f"{describe(left)} {op} {describe(right)} is not a finite number"
    return f"cannot {ARITHMETIC_VERB[op]} {describe(left)} and {describe(right)}"


# -- comparison ---------------------------------------------------------------------------
_SCALAR_TYPES = frozenset({str, int, float, bool})


def equal(left: Any, right: Any) -> Any:
    """FEEL `=`: null equals only null; values of different types are not comparable (null)."""
    if left is None or right is None:
        return left is None and right is None
    tl, tr = type(left), type(right)
    if tl is tr and tl in _SCALAR_TYPES:
        return left == right
    if (tl is int or tl is float) and (tr is int or tr is float):
        return left == right
    if tl is bool or tr is bool:
        return None
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return False
        return _all_equal(zip(left, right, strict=True))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        if left.keys() != right.keys():
            return False
        return _all_equal((left[key], right[key]) for key in left)
    if tl is Range and tr is Range:
        return left == right
    if temporal.is_temporal(left) and temporal.is_temporal(right):
        return temporal.equal(left, right)
    return None


def _all_equal(pairs: Any) -> Any:
    unknown = False
    for a, b in pairs:
        result = equal(a, b)
        if result is False:
            return False
        if result is None:
            unknown = True
    return None if unknown else True


def not_equal(left: Any, right: Any) -> Any:
    result = equal(left, right)
    return None if result is None else not result


def comparable(left: Any, right: Any) -> bool:
    """Whether FEEL orders these two values (`<`, `between`): numbers, strings, and dates,
    times and durations of the same kind."""
    if is_number(left):
        return is_number(right)
    if type(left) is str:
        return type(right) is str
    return temporal.comparable(left, right)


def _ordering(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def compare(left: Any, right: Any) -> Any:
        t = type(left)
        if t is int or t is float:
            t = type(right)
            return op(left, right) if t is int or t is float else None
        if t is str:
            return op(left, right) if type(right) is str else None
        if temporal.comparable(left, right):
            try:
                return op(left, right)
            except TypeError:
                return None
        return None

    return compare


less = _ordering(operator.lt)
less_or_equal = _ordering(operator.le)
greater = _ordering(operator.gt)
greater_or_equal = _ordering(operator.ge)

COMPARISON: dict[str, Callable[[Any, Any], Any]] = {
    "=": equal, "!=": not_equal, "<": less, "<=": less_or_equal, ">": greater, ">=": greater_or_equal,
}


def describe_comparison_failure(left: Any, right: Any) -> str | None:
    if left is None or right is None:
        return None
    return f"cannot compare {describe(left)} with {describe(right)}"


def lookup(container: Any, key: str) -> Any:
    """`container.key`: a context's entry; on a list, the entry of every item (FEEL maps);
    on a date, time, duration or range, its property (`date.year`, `range.start`)."""
    if type(container) is dict:
        return container.get(key)
    if isinstance(container, Mapping):
        return container.get(key)
    if isinstance(container, list):
        return [lookup(item, key) for item in container]
    if container is not None:
        return temporal.property_of(container, key) if not isinstance(container, Range) else container.property(key)
    return None


@dataclass(frozen=True, slots=True)
class Range:
    """A FEEL range (interval): `[1..10]`, `(a..b]`; an open end has no value (None)."""

    start: Any
    end: Any
    start_included: bool = True
    end_included: bool = True

    def contains(self, value: Any) -> Any:
        if value is None or self.start is None or self.end is None:
            return None  # an end written as null is unknown
        if self.start is not None:
            below = (less_or_equal if self.start_included else less)(self.start, value)
            if below is not True:
                return below
        if self.end is not None:
            above = (less_or_equal if self.end_included else less)(value, self.end)
            if above is not True:
                return above
        return True

    def property(self, key: str) -> Any:
        return {
            "start": self.start, "end": self.end,
            "start included": self.start_included, "end included": self.end_included,
        }.get(key)

    def __str__(self) -> str:
        return ("[" if self.start_included else "(") + f"{to_text(self.start)}..{to_text(self.end)}" + ("]" if self.end_included else ")")


def describe_lookup_failure(container: Any, key: str) -> str | None:
    if container is None:
        return None
    if isinstance(container, Mapping):
        if key in container:
            return None  # present, its value is null
        keys = ", ".join(f"'{k}'" for k in list(container)[:10])
        available = f"; the context has {keys}" if keys else "; the context is empty"
        return f"no context entry found with key '{key}'{available}"
    if isinstance(container, list):
        return None
    return f"cannot read '{key}' of {describe(container)}: only a context has entries"


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "number": is_number,
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "date": lambda v: type(v) is temporal._D,
    "time": lambda v: type(v) is temporal._T,
    "date and time": lambda v: type(v) is temporal._DT,
    "days and time duration": lambda v: type(v) is temporal._TD,
    "years and months duration": lambda v: type(v) is temporal.YearsMonths,
    "list": lambda v: isinstance(v, list),
    "context": lambda v: isinstance(v, Mapping),
    "range": lambda v: isinstance(v, Range),
    "function": callable,
    "Any": lambda v: v is not None,
    "Null": lambda v: v is None,
}


def instance_of(value: Any, type_name: str) -> Any:
    """`value instance of type`: FEEL's type names, with list<T>, range<T> and the base of
    other generic types."""
    base, _, inner = type_name.partition("<")
    base = base.strip()
    if value is None:
        return base == "Null"
    check = _TYPE_CHECKS.get(base)
    if check is None:
        return False
    if not check(value):
        return False
    inner = inner.rsplit(">", 1)[0].strip() if inner else ""
    if base == "list" and inner:
        return all(instance_of(item, inner) is True for item in value)
    if base == "range" and inner:
        ends = [e for e in (value.start, value.end) if e is not None]
        return all(instance_of(e, inner) is True for e in ends)
    return True
