"""Records as JSON documents, the way the built-in exporters write them."""

from __future__ import annotations

import base64
from typing import Any

from propolis.records import Record


def record_document(record: Record) -> dict[str, Any]:
    """`record.describe()` with only JSON types: bytes (deployed resources) become base64, as
    in Zeebe's JSON records."""
    return _json_safe(record.describe())


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    return value
