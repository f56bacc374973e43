"""Synthetic records for large read models: many instances without running a broker."""

from __future__ import annotations

from collections.abc import Iterator

from propolis.records import ProcessInstanceIntent, Record, RecordType, ValueType, encode_key

DEFINITION_KEY = encode_key(1, 1)
STATES = ("ACTIVE", "COMPLETED", "CANCELED")


def instance_records(count: int, start_ms: int = 1_700_000_000_000, same_ms_every: int = 3) -> Iterator[Record]:
    """`count` instances of process 'bench' (every `same_ms_every` share a start time, so the
    cursor's tie-break on key matters); instance i ends COMPLETED when i % 3 == 1 and
    CANCELED when i % 3 == 2, and has a variable `n = i % 10`."""
    position = 0
    for i in range(count):
        key = encode_key(1, 10 + 3 * i)
        timestamp = start_ms + i // same_ms_every
        base = {
            "bpmnProcessId": "bench", "version": 1, "processDefinitionKey": DEFINITION_KEY,
            "processInstanceKey": key, "elementId": "bench", "flowScopeKey": -1,
            "bpmnElementType": "PROCESS", "parentProcessInstanceKey": -1,
        }
        position += 1
        yield Record(RecordType.EVENT, ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.ELEMENT_ACTIVATING,
                     key, base, position=position, timestamp=timestamp)
        position += 1
        yield Record(RecordType.EVENT, ValueType.VARIABLE, 0, key + 1,
                     {"name": "n", "value": i % 10, "scopeKey": key, "processInstanceKey": key,
                      "processDefinitionKey": DEFINITION_KEY, "bpmnProcessId": "bench"},
                     position=position, timestamp=timestamp)
        if i % 3:
            intent = ProcessInstanceIntent.ELEMENT_COMPLETED if i % 3 == 1 else ProcessInstanceIntent.ELEMENT_TERMINATED
            position += 1
            yield Record(RecordType.EVENT, ValueType.PROCESS_INSTANCE, intent, key, base,
                         position=position, timestamp=timestamp + 5)
