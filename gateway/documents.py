"""JSON documents in requests and responses (variables, custom headers).

Requests: an empty string means no variables; anything else must be a JSON object no larger
than the configured limit, and the error names the field and what was found. Responses: a JSON
field is never empty (clients parse it unconditionally), "{}" stands for nothing.
"""

from __future__ import annotations

import json
from typing import Any

from propolis.gateway.errors import expected, invalid_argument

_KINDS = {
    list: "a list",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)
_DECODE = json.JSONDecoder().decode
EMPTY_DOCUMENT = "{}"


def _size_bytes(text: str, max_bytes: int) -> int:
    # UTF-8 takes at most 4 bytes a character: short texts need no encoding to be measured.
    if len(text) * 4 <= max_bytes or text.isascii():
        return len(text) if text.isascii() else len(text.encode())
    return len(text.encode())


def parse_document(text: str, field: str, max_bytes: int) -> dict[str, Any]:
    """A JSON object from the request field `field`; "" means none."""
    if not text:
        return {}
    size = _size_bytes(text, max_bytes)
    if size > max_bytes:
        raise invalid_argument(
            expected(
                f"parse '{field}' as a JSON object of at most {max_bytes} bytes",
                f"it has {size} bytes",
            )
        )
    try:
        value = _DECODE(text)
    except ValueError as error:
        where = (
            f": {error.msg} at line {error.lineno} column {error.colno}"
            if isinstance(error, json.JSONDecodeError)
            else f": {error}"
        )
        raise invalid_argument(
            expected(f"parse '{field}' as a JSON object", f"it is not valid JSON{where}")
        ) from None
    if type(value) is not dict:
        kind = _KINDS.get(type(value), type(value).__name__)
        raise invalid_argument(expected(f"parse '{field}' as a JSON object", f"got {kind}"))
    return value


def to_json(value: dict[str, Any] | None) -> str:
    """JSON for a response field; never empty."""
    if not value:
        return EMPTY_DOCUMENT
    return _ENCODER.encode(value)
