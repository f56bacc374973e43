"""The Elasticsearch exporter's args, with Zeebe's names and defaults where Zeebe has them:

    args:
      url: http://localhost:9200             # several: comma-separated
      requestTimeoutMs: 10000
      retries: 3                              # the client's own retries (connection errors, 429, 502-504)
      bulk: {size: 1000, delay: 5, memoryLimit: 10485760}   # records, seconds, bytes
      authentication: {username: elastic, password: secret}
      index:
        prefix: propolis-record
        createTemplate: true
        numberOfShards: 3
        numberOfReplicas: 0
        command: false                        # record types
        event: true
        rejection: false
        processInstance: true                 # value types, camelCase (see VALUE_TYPE_DEFAULTS)
        jobBatch: false

Every mistake raises ExporterConfigError naming the field by its dotted path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from propolis.exporters.api import ExporterConfigError

from propolis.records import RecordType, ValueType

DEFAULT_PREFIX = "propolis-record"

RECORD_TYPE_DEFAULTS = {"command": False, "event": True, "rejection": False}
_RECORD_TYPES = {"command": RecordType.COMMAND, "event": RecordType.EVENT, "rejection": RecordType.COMMAND_REJECTION}

# As Zeebe's exporter: everything but job batches and instance results by default.
VALUE_TYPE_DEFAULTS = {
    "deployment": True,
    "process": True,
    "processInstance": True,
    "processInstanceCreation": True,
    "processInstanceResult": False,
    "job": True,
    "jobBatch": False,
    "variable": True,
    "variableDocument": True,
    "incident": True,
    "message": True,
    "messageSubscription": True,
    "processMessageSubscription": True,
    "timer": True,
    "signal": True,
    "error": True,
}


def value_type_arg(value_type: ValueType) -> str:
    """PROCESS_INSTANCE -> processInstance (the key in `index`)."""
    first, *rest = value_type.name.lower().split("_")
    return first + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True)
class ElasticsearchConfig:
    urls: tuple[str, ...]
    request_timeout_ms: int
    retries: int
    bulk_size: int
    bulk_delay_ms: int
    bulk_memory_limit_bytes: int
    username: str | None
    password: str | None
    prefix: str
    create_template: bool
    number_of_shards: int
    number_of_replicas: int
    record_types: frozenset[RecordType]
    value_types: frozenset[ValueType]


def parse_config(args: dict[str, Any]) -> ElasticsearchConfig:
    reader = _Reader(args, "")
    urls = tuple(part.strip() for part in reader.string("url", "http://localhost:9200").split(",") if part.strip())
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ExporterConfigError(f"url: expected http(s)://host:port, got {url!r}")
    if not urls:
        raise ExporterConfigError("url: expected at least one http(s)://host:port")
    bulk = reader.section("bulk")
    authentication = reader.section("authentication")
    index = reader.section("index")
    username = authentication.optional_string("username")
    password = authentication.optional_string("password")
    if (username is None) != (password is None):
        raise ExporterConfigError("authentication: expected both username and password, or neither")
    delay_s = bulk.number("delay", 5, minimum=0)
    prefix = index.string("prefix", DEFAULT_PREFIX)
    if not prefix or prefix != prefix.lower() or any(c in prefix for c in ' "*\\<|,>/?_'):
        raise ExporterConfigError(
            f"index.prefix: expected a lower-case Elasticsearch index name without '_' or any of "
            f"' \"*\\<|,>/?', got {prefix!r}"
        )
    record_types = frozenset(
        record_type for name, record_type in _RECORD_TYPES.items() if index.boolean(name, RECORD_TYPE_DEFAULTS[name])
    )
    value_types = frozenset(
        value_type for value_type in ValueType
        if index.boolean(value_type_arg(value_type), VALUE_TYPE_DEFAULTS.get(value_type_arg(value_type), True))
    )
    config = ElasticsearchConfig(
        urls=urls,
        request_timeout_ms=reader.integer("requestTimeoutMs", 10_000, minimum=1),
        retries=reader.integer("retries", 3, minimum=0),
        bulk_size=bulk.integer("size", 1_000, minimum=1),
        bulk_delay_ms=int(delay_s * 1000),
        bulk_memory_limit_bytes=bulk.integer("memoryLimit", 10 * 1024 * 1024, minimum=1),
        username=username,
        password=password,
        prefix=prefix,
        create_template=index.boolean("createTemplate", True),
        number_of_shards=index.integer("numberOfShards", 3, minimum=1),
        number_of_replicas=index.integer("numberOfReplicas", 0, minimum=0),
        record_types=record_types,
        value_types=value_types,
    )
    for section in (reader, bulk, authentication, index):
        section.refuse_unknown()
    return config


class _Reader:
    """Reads one mapping of args, remembering which keys were used."""

    def __init__(self, values: dict[str, Any], path: str) -> None:
        self._values = values
        self._path = path
        self._used: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self._path}{key}"

    def _get(self, key: str, default: Any) -> Any:
        self._used.add(key)
        return self._values.get(key, default)

    def section(self, key: str) -> _Reader:
        value = self._get(key, None)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ExporterConfigError(f"{self._name(key)}: expected a mapping, got {value!r}")
        return _Reader(value, f"{self._name(key)}.")

    def string(self, key: str, default: str) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise ExporterConfigError(f"{self._name(key)}: expected a string, got {value!r}")
        return value

    def optional_string(self, key: str) -> str | None:
        value = self._get(key, None)
        if value is not None and not isinstance(value, str):
            raise ExporterConfigError(f"{self._name(key)}: expected a string, got {value!r}")
        return value

    def integer(self, key: str, default: int, minimum: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ExporterConfigError(f"{self._name(key)}: expected a whole number >= {minimum}, got {value!r}")
        return value

    def number(self, key: str, default: float, minimum: float) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise ExporterConfigError(f"{self._name(key)}: expected a number >= {minimum}, got {value!r}")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise ExporterConfigError(f"{self._name(key)}: expected true or false, got {value!r}")
        return value

    def refuse_unknown(self) -> None:
        unknown = sorted(set(self._values) - self._used)
        if unknown:
            known = ", ".join(sorted(self._used))
            raise ExporterConfigError(f"{self._name(unknown[0])}: unknown setting; expected one of {known}")
