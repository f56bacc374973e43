"""FEEL values as Python values, and the operations FEEL defines on them.

FEEL types map to Python as: null -> None, number -> int, Decimal or float (see
`numbers.py`: whole results are ints, so `10 / 5` is `2`; others are decimals), string -> str,
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

from propolis.bpmn.feel import numbers, temporal
from propolis.bpmn.feel.numbers import CONTEXT, from_decimal, to_decimal

# Floats beyond this are not made into ints: they are not exact anyway.
EXACT_FLOAT_INT_MAX = 2**53
# A larger integer exponent computes an enormous int (CPU and memory); use floats instead.
INT_EXPONENT_MAX = 1024
# How much of a value a warning quotes.
DESCRIBED_VALUE_CHARS_MAX = 60


def is_number(value: Any) -> bool:
    # `type(...) is` on purpose: bool is a subclass of int, and FEEL booleans are not numbers.
    kind = type(value)
    return kind is int or kind is Decimal or kind is float


def normalize(value: Any) -> Any:
    kind = type(value)
    if kind is Decimal:
        return from_decimal(value)
    if kind is float and value.is_integer() and abs(value) < EXACT_FLOAT_INT_MAX:
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
    if type(value) is Decimal:
        return numbers.to_text(value)
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
# Hot path: type checks are written out (`t is int`) instead of calling is_number, which
# halves the cost of `amount + 1`. Whole numbers stay exact ints; anything else is computed
# in decimal (numbers.py).
def _decimal_operands(tl: type, tr: type) -> bool:
    return (tl is int or tl is Decimal or tl is float) and (tr is int or tr is Decimal or tr is float)


def add(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if tl is int and tr is int:
        return left + right
    if _decimal_operands(tl, tr):
        return _decimal(CONTEXT.add, left, right)
    if tl is str and tr is str:
        return left + right
    return _temporal(temporal.add, left, right)


def subtract(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if tl is int and tr is int:
        return left - right
    if _decimal_operands(tl, tr):
        return _decimal(CONTEXT.subtract, left, right)
    return _temporal(temporal.subtract, left, right)


def multiply(left: Any, right: Any) -> Any:
    tl, tr = type(left), type(right)
    if tl is int and tr is int:
        return left * right
    if _decimal_operands(tl, tr):
        return _decimal(CONTEXT.multiply, left, right)
    return _temporal(temporal.multiply, left, right)


def divide(left: Any, right: Any) -> Any:
    if is_number(left) and is_number(right):
        return _decimal(CONTEXT.divide, left, right) if right != 0 else None
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
    return _decimal(CONTEXT.power, base, exponent)


def negate(value: Any) -> Any:
    if is_number(value):
        return -value
    if type(value) is temporal.YearsMonths:
        return temporal.YearsMonths(-value.months)
    return -value if type(value) is temporal._TD else None


def _decimal(op: Callable[[Decimal, Decimal], Decimal], left: Any, right: Any) -> Any:
    try:
        return from_decimal(op(to_decimal(left), to_decimal(right)))
    except (ArithmeticError, ValueError):
        return None  # e.g. a negative base to a fractional power is complex, not a number


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
_SCALAR_TYPES = frozenset({str, int, float, bool, Decimal})


def equal(left: Any, right: Any) -> Any:
    """FEEL `=`: null equals only null; values of different types are not comparable (null)."""
    if left is None or right is None:
        return left is None and right is None
    tl, tr = type(left), type(right)
    if tl is tr and tl in _SCALAR_TYPES:
        return left == right
    if _decimal_operands(tl, tr):
        if (tl is float and tr is Decimal) or (tl is Decimal and tr is float):
            a, b = _float_and_decimal(left, right)
            return a == b
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
    if (tl is Range or tl is UnaryTest) and (tr is Range or tr is UnaryTest):
        return left == right  # `(< 10)` is no range with a null start: it equals only `(< 10)`
    if temporal.is_temporal(left) and temporal.is_temporal(right):
        return temporal.equal(left, right)
    return None


def _float_and_decimal(left: Any, right: Any) -> tuple[Any, Any]:
    """A float and a decimal made comparable as FEEL means it: the float is the decimal it is
    written as (0.1 is 0.1, not the binary fraction nearest to it).

    Usually the decimal's nearest float decides: rounding keeps order, so a float below that
    float is below the decimal. Only when they are the same float is the comparison made in
    decimal, which costs several times more."""
    approx_left, approx_right = float(left), float(right)
    if approx_left != approx_right:
        return approx_left, approx_right
    return to_decimal(left), to_decimal(right)


def float_comparison(compare: Callable[[Any, Any], Any], constant: Decimal) -> Callable[[Any], Any] | None:
    """`x op constant` for a decimal literal (`price > 9.25`), with the literal's nearest float
    computed once: JSON variables are floats, and this keeps their comparisons as cheap as
    comparing two floats. None when `compare` is not a comparison."""
    if compare not in _FLOAT_COMPARISONS:
        return None
    approx = float(constant)

    def compare_literal(value: Any) -> Any:
        if type(value) is float and value != approx:
            return compare(value, approx)
        return compare(value, constant)

    return compare_literal


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
        if t is int or t is float or t is Decimal:
            tr = type(right)
            if tr is t or tr is int or (t is int and (tr is float or tr is Decimal)):
                return op(left, right)
            if tr is float or tr is Decimal:
                return op(*_float_and_decimal(left, right))
            return None
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

_FLOAT_COMPARISONS = frozenset({equal, not_equal, less, less_or_equal, greater, greater_or_equal})
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


@dataclass(frozen=True, slots=True)
class UnaryTest:
    """A unary test as a value: `(< 10)`, `(= x)`, `(!= "a")`."""

    operator: str
    endpoint: Any

    def matches(self, value: Any) -> Any:
        return COMPARISON[self.operator](value, self.endpoint)

    def __str__(self) -> str:
        return f"{self.operator} {to_text(self.endpoint)}"


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
    if base == "context" and inner:
        # structural: the entries named must be there with their types, others may be too
        for entry in _top_level_parts(inner):
            key, _, entry_type = entry.partition(":")
            key = key.strip()
            # null conforms to any entry type (DMN 1.4, 10.3.2.9.1)
            if key not in value or (value[key] is not None and instance_of(value[key], entry_type.strip()) is not True):
                return False
        return True
    if base == "range" and inner:
        ends = [e for e in (value.start, value.end) if e is not None]
        return all(instance_of(e, inner) is True for e in ends)
    return True


def _top_level_parts(text: str) -> list[str]:
    """`a: string, b: list<number>` split at the commas outside angle brackets."""
    parts, depth, start = [], 0, 0
    for position, char in enumerate(text):
        if char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    parts.append(text[start:])
    return [part for part in parts if part.strip()]
