"""Index names and templates, named as Zeebe's Elasticsearch exporter names them.

A record goes to `{prefix}_{value-type}_{version}_{yyyy-MM-dd}`, the day of its timestamp in UTC,
e.g. `propolis-record_process-instance_0.1.0_2026-11-22`; its document id is
`{partitionId}-{position}` (so exporting a record again overwrites it) and it is routed by
partition id. At open, the exporter installs a component template named `{prefix}` (shards,
replicas and the mapping of the record envelope) and, per exported value type, an index
template `{prefix}_{value-type}_{version}` for `{prefix}_{value-type}_{version}_*` that uses it
and adds the alias `{prefix}-{value-type}` (all days of one value type).
"""

from __future__ import annotations

import datetime
from importlib import metadata
from typing import Any

from propolis.records import Record, ValueType

DELIMITER = "_"
TEMPLATE_PRIORITY = 20


def propolis_version() -> str:
    try:
        return metadata.version("propolis")
    except metadata.PackageNotFoundError:  # running from a source tree that was not installed
        return "0.0.0"


def value_type_index_name(value_type: ValueType) -> str:
    """PROCESS_INSTANCE -> process-instance."""
    return value_type.name.lower().replace("_", "-")


def index_prefix(prefix: str, value_type: ValueType, version: str) -> str:
    return DELIMITER.join((prefix, value_type_index_name(value_type), version))


def index_for(record: Record, prefix: str, version: str) -> str:
    day = datetime.datetime.fromtimestamp(record.timestamp / 1000, tz=datetime.UTC).strftime("%Y-%m-%d")
    return index_prefix(prefix, ValueType(record.value_type), version) + DELIMITER + day


def document_id(record: Record) -> str:
    return f"{record.partition_id}-{record.position}"


def alias_for(prefix: str, value_type: ValueType) -> str:
    return f"{prefix}-{value_type_index_name(value_type)}"


def component_template(number_of_shards: int, number_of_replicas: int) -> dict[str, Any]:
    """The body of the component template every index template is composed of."""
    return {
        "settings": {"number_of_shards": number_of_shards, "number_of_replicas": number_of_replicas},
        "mappings": {
            "dynamic": True,
            "properties": {
                "position": {"type": "long"},
                "sourceRecordPosition": {"type": "long"},
                "key": {"type": "long"},
                "timestamp": {"type": "date"},
                "partitionId": {"type": "integer"},
                "recordType": {"type": "keyword"},
                "valueType": {"type": "keyword"},
                "intent": {"type": "keyword"},
                "rejectionType": {"type": "keyword"},
                "rejectionReason": {"type": "text"},
                "tenantId": {"type": "keyword"},
                "value": {"type": "object", "dynamic": True},
            },
        },
    }


def index_template(prefix: str, value_type: ValueType, version: str) -> dict[str, Any]:
    """The body of one value type's index template (arguments of `put_index_template`)."""
    return {
        "index_patterns": [index_prefix(prefix, value_type, version) + DELIMITER + "*"],
        "composed_of": [prefix],
        "priority": TEMPLATE_PRIORITY,
        "template": {"aliases": {alias_for(prefix, value_type): {}}},
    }
