"""Structured logging for every propolis process: one JSON object per line, on stderr.

    {"ts": "2026-11-22T11:20:03.512Z", "level": "warning", "logger": "propolis.broker.partition",
     "msg": "partition 1 is over its in-flight limit", "partition": 1}

Quiet by default (WARNING). `--log-level` or `PROPOLIS_LOG_LEVEL` changes it. Fields passed
with `extra={...}` become keys of the object.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, TextIO

LOG_LEVEL_ENV = "PROPOLIS_LOG_LEVEL"
DEFAULT_LEVEL = "WARNING"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        seconds = time.gmtime(record.created)
        millis = int(record.msecs)
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{millis:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRS and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def resolve_level(level: str | None) -> str:
    """The flag wins, then the environment, then WARNING. Raises ValueError for unknown names."""
    name = (level or os.environ.get(LOG_LEVEL_ENV) or DEFAULT_LEVEL).strip().upper()
    if name not in LEVELS:
        raise ValueError(f"unknown log level {name.lower()!r}; expected one of: "
                         + ", ".join(lv.lower() for lv in LEVELS))
    return name


def setup_logging(level: str | None = None, stream: TextIO | None = None) -> None:
    """Configure the root logger; safe to call more than once."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(resolve_level(level))
