"""FEEL values as the JSON values that leave an expression: process variables, job types,
timer values. Decimals become ints or floats (JSON numbers); dates, times and durations become
their ISO 8601 text (as Zeebe writes them); ranges and functions, which JSON cannot hold,
become null."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from propolis.bpmn.feel import numbers, temporal

PLAIN_TYPES = frozenset({int, float, str, bool, type(None)})


def to_plain(value: Any) -> Any:
    if type(value) in PLAIN_TYPES:
        return value
    if type(value) is Decimal:
        return numbers.to_json(value)
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if temporal.is_temporal(value):
        return temporal.to_text(value)
    return None
