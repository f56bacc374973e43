"""JSON documents in requests and responses (variables, custom headers)."""

from __future__ import annotations

import json
from typing import Any

from propolis.gateway.errors import invalid_argument

_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean", type(None): "null"}
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def parse_document(text: str, field: str, max_bytes: int) -> dict[str, Any]:
    """A JSON object from a request field; empty means none. Errors name the field."""
    if not text:
        return {}
    size = len(text.encode()) if not text.isascii() else len(text)
    if size > max_bytes:
        raise invalid_argument(
            f"Expected '{field}' to be a JSON document of at most {max_bytes} bytes, but it has {size} bytes"
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise invalid_argument(
            f"Expected to parse '{field}' as a JSON object, but it is not valid JSON: "
            f"{error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(value, dict):
        raise invalid_argument(
            f"Expected to parse '{field}' as a JSON object, but got {_JSON_TYPES.get(type(value), type(value).__name__)}"
        )
    return value


def to_json(value: Any) -> str:
    """JSON for a response field; never empty (clients parse it), "{}" for nothing."""
    if not value:
        return "{}"
    return _ENCODER.encode(value)
