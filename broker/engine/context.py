"""What a processor gets: read-only state (by convention) and writers.

`event()` appends an event and applies it at once, so the rest of the processing of the same
command sees its effect (as Zeebe's state writer does). `reject()` answers the command with a
rejection; `respond()` sends a record to the command's requester after commit. Side effects
(job-type notifications, awaited results) run only after the batch is durable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from propolis.broker.appliers import apply_event
from propolis.broker.state import State

from propolis.records import KEY_COUNTER_MASK, Record, RecordType, encode_key


class KeyGenerator:
    """Keys come from a counter that survives restarts: recovery sets it from the log."""

    def __init__(self, partition_id: int, counter: int) -> None:
        self.partition_id = partition_id
        self.counter = counter

    def next(self) -> int:
        self.counter += 1
        return encode_key(self.partition_id, self.counter)

    def observe(self, key: int) -> None:
        if key > 0 and (key >> 51) == self.partition_id:
            self.counter = max(self.counter, key & KEY_COUNTER_MASK)


@dataclass(slots=True)
class Response:
    request_id: int
    record: Record


@dataclass
class Outputs:
    """Everything one batch produced, in order."""

    records: list[Record] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    job_types_available: set[str] = field(default_factory=set)
    # Commands for other partitions (target partition, command), sent once the batch is durable.
    sends: list[tuple[int, Record]] = field(default_factory=list)


class ProcessingContext:
    def __init__(
        self,
        state: State,
        keys: KeyGenerator,
        outputs: Outputs,
        command: Record,
        next_position: int,
        awaiting_results: dict[int, dict[str, Any]],
        partition_count: int = 1,
    ) -> None:
        self.state = state
        self.keys = keys
        self.outputs = outputs
        self.command = command
        self.now_ms = command.timestamp
        self.next_position = next_position
        self.awaiting_results = awaiting_results
        self.responded = False
        self.partition_count = partition_count

    def _append(self, record: Record) -> Record:
        record.position = self.next_position
        self.next_position += 1
        record.source_position = self.command.position
        record.timestamp = self.now_ms
        record.partition_id = self.command.partition_id
        self.outputs.records.append(record)
        return record

    def event(self, value_type: int, intent: int, key: int, value: dict[str, Any], tenant_id: str | None = None) -> Record:
        record = Record(
            record_type=RecordType.EVENT,
            value_type=value_type,
            intent=intent,
            key=key,
            value=value,
            tenant_id=tenant_id if tenant_id is not None else self.command.tenant_id,
        )
        self._append(record)
        apply_event(self.state, record)
        return record

    def reject(self, rejection_type: int, reason: str) -> None:
        command = self.command
        record = Record(
            record_type=RecordType.COMMAND_REJECTION,
            value_type=command.value_type,
            intent=command.intent,
            key=command.key,
            value=command.value,
            tenant_id=command.tenant_id,
            rejection_type=rejection_type,
            rejection_reason=reason,
        )
        self._append(record)
        self.respond(record)

    def respond(self, record: Record, request_id: int | None = None) -> None:
        request_id = self.command.request_id if request_id is None else request_id
        if request_id >= 0:
            self.outputs.responses.append(Response(request_id, record))
        if request_id == self.command.request_id:
            self.responded = True

    def send(self, partition_id: int, command: Record) -> None:
        """Send a command to another partition after commit (see processing/distribution.py
        for delivery that survives restarts)."""
        self.outputs.sends.append((partition_id, command))

    def job_available(self, job_type: str) -> None:
        self.outputs.job_types_available.add(job_type)
