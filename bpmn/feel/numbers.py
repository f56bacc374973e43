"""FEEL numbers: decimals (DMN: IEEE 754-2008 decimal128, 34 significant digits), so that
`0.1 + 0.2 = 0.3` holds and `1.1 * 3` is `3.3`, as in Zeebe.

In Python a FEEL number is an int (whole numbers, exact and cheap: the common case of
`count > 3` never touches Decimal), a Decimal (results with a fraction, fractional literals)
or a float (only as it arrives in process variables from JSON). A float means the decimal it
is written as (`0.1` means 0.1, not the nearest binary fraction), which is how Zeebe reads
JSON numbers too. Results leave expressions as int or float (see `plain.py`).
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

# decimal128: 34 digits, exponents -6143..6144. Invalid operations, division by zero and
# overflow raise, and the operations of values.py turn them into null.
CONTEXT = decimal.Context(
    prec=34, rounding=decimal.ROUND_HALF_EVEN, Emin=-6143, Emax=6144,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
# Rounding to a scale (`decimal(n, 6176)`) may need more digits than arithmetic keeps.
SCALE_CONTEXT = decimal.Context(
    prec=12_400, rounding=decimal.ROUND_HALF_EVEN, Emin=-12_400, Emax=12_400,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
# Integral decimals up to this many digits become ints (exact either way, ints are cheaper).
INT_DIGITS_MAX = 34


def to_decimal(value: int | float | Decimal) -> Decimal:
    kind = type(value)
    if kind is Decimal:
        return value  # type: ignore[return-value]
    if kind is float:
        return Decimal(repr(value))
    return Decimal(value)


def from_decimal(value: Decimal) -> Any:
    """A computed decimal as a FEEL number: an int when whole, else the decimal; null when
    not finite."""
    if not value.is_finite():
        return None
    if value == value.to_integral_value() and value.adjusted() < INT_DIGITS_MAX:
        return int(value)
    return value


def to_text(value: Decimal) -> str:
    """Plain notation without trailing zeros: 1.50 is "1.5", 1E+3 is "1000"."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def to_json(value: Decimal) -> Any:
    """A decimal leaving FEEL for a process variable: an int when whole, else the nearest
    float (JSON's number); null when beyond a float's range."""
    whole = from_decimal(value)
    if type(whole) is int:
        return whole
    result = float(value)
    return None if result in (float("inf"), float("-inf")) else result
