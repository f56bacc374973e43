"""What the built-in exporters should write for a record: `Record.describe()` with bytes
(deployed resources) in base64, computed here independently of exporters/json_records.py."""

from __future__ import annotations

import base64
from typing import Any


def as_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value
