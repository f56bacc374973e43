"""Records as JSON documents, the way the built-in exporters write them: `Record.describe()`'s
fields and names, with deployed resources (bytes) in base64 as in Zeebe's JSON records.

This runs once per exported record on the director's thread, which shares the interpreter
with processing, so it avoids `describe()`'s enum look-ups (names come from tables filled on
first use) and lets `json.dumps` call back only for bytes instead of copying every value.
A test checks that the documents equal `describe()`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from propolis.records import Record, RecordType, RejectionType, ValueType, intent_name

_RECORD_TYPES = {int(member): member.name for member in RecordType}
_VALUE_TYPES = {int(member): member.name for member in ValueType}
_REJECTION_TYPES = {int(member): member.name for member in RejectionType}
_INTENTS: dict[tuple[int, int], str] = {}


def record_document(record: Record) -> dict[str, Any]:
    """The record as a dict equal to `record.describe()` (bytes still bytes)."""
    value_type, intent = record.value_type, record.intent
    intent_text = _INTENTS.get((value_type, intent))
    if intent_text is None:
        intent_text = _INTENTS[(value_type, intent)] = intent_name(value_type, intent)
    return {
        "position": record.position,
        "sourceRecordPosition": record.source_position,
        "key": record.key,
        "timestamp": record.timestamp,
        "partitionId": record.partition_id,
        "recordType": _RECORD_TYPES[record.record_type],
        "valueType": _VALUE_TYPES[value_type],
        "intent": intent_text,
        "rejectionType": _REJECTION_TYPES[record.rejection_type],
        "rejectionReason": record.rejection_reason,
        "tenantId": record.tenant_id,
        "value": record.value,
    }


def record_json(record: Record) -> str:
    """The record's document as compact JSON text."""
    return json.dumps(record_document(record), separators=(",", ":"), ensure_ascii=False, default=_bytes_in_base64)


def _bytes_in_base64(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
