"""Durations as people type them: `500ms`, `10s`, `5m`, `1h`, `1m30s`."""

from __future__ import annotations

import re

_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration_ms(text: str) -> int:
    """`"1m30s"` -> 90000. Raises ValueError with a readable message for anything else."""
    cleaned = text.strip().lower()
    if cleaned == "0":
        return 0
    position = 0
    total_ms = 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        total_ms += float(match.group(1)) * _UNIT_MS[match.group(2)]
        position = match.end()
    if position == 0 or position != len(cleaned):
        raise ValueError(f"expected a duration like 500ms, 10s, 5m, 1h or 1m30s, got {text!r}")
    return int(round(total_ms))


def format_duration_ms(duration_ms: int) -> str:
    """90000 -> `"1m30s"`; the inverse of `parse_duration_ms` for whole milliseconds."""
    if duration_ms == 0:
        return "0s"
    parts = []
    remaining = duration_ms
    for unit in ("h", "m", "s", "ms"):
        size = _UNIT_MS[unit]
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
