"""Record shapes: the one place that defines what a log record looks like.

Every fact in propolis is a record in a partition's log. Names follow Zeebe's protocol so that
exported data reads like Zeebe's: value types, intents (commands imperative, events in the past
tense), record types and rejection types.

A record is encoded with msgpack as a fixed-order list so that it is compact and fast to decode.
Values are plain dicts whose field names follow Zeebe's record values (camelCase).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import msgpack

DEFAULT_TENANT = "<default>"
# In the value of a command on an existing key: the tenants its caller may use (multi-tenancy
# on); the broker treats a key of any other tenant as not found (broker/processing/tenancy.py).
AUTHORIZED_TENANTS_FIELD = "authorizedTenantIds"
PARTITION_BITS = 51
KEY_COUNTER_MASK = (1 << PARTITION_BITS) - 1


def encode_key(partition_id: int, counter: int) -> int:
    """A key names its partition: `(partition_id << 51) + counter`."""
    return (partition_id << PARTITION_BITS) + counter


def partition_of_key(key: int) -> int:
    return key >> PARTITION_BITS


def partition_of_correlation_key(correlation_key: str, partition_count: int) -> int:
    """The partition of messages with this correlation key, and of the subscriptions that wait
    for them: stable across gateways, brokers and restarts."""
    return zlib.crc32(correlation_key.encode()) % partition_count + 1


class RecordType(IntEnum):
    COMMAND = 1
    EVENT = 2
    COMMAND_REJECTION = 3


class RejectionType(IntEnum):
    NULL_VAL = 0
    INVALID_ARGUMENT = 1
    NOT_FOUND = 2
    ALREADY_EXISTS = 3
    INVALID_STATE = 4
    PROCESSING_ERROR = 5
    EXCEEDED_BATCH_RECORD_SIZE = 6
    UNAUTHORIZED = 7
    FORBIDDEN = 8


class ValueType(IntEnum):
    DEPLOYMENT = 1
    PROCESS = 2
    PROCESS_INSTANCE = 3
    PROCESS_INSTANCE_CREATION = 4
    PROCESS_INSTANCE_RESULT = 5
    JOB = 6
    JOB_BATCH = 7
    VARIABLE = 8
    VARIABLE_DOCUMENT = 9
    INCIDENT = 10
    MESSAGE = 11
    MESSAGE_SUBSCRIPTION = 12
    PROCESS_MESSAGE_SUBSCRIPTION = 13
    TIMER = 14
    SIGNAL = 15
    ERROR = 16
    # numbered apart from the rest: value types added by the cluster work take the next ones
    SIGNAL_SUBSCRIPTION = 30
    MESSAGE_START_EVENT_SUBSCRIPTION = 31
    ESCALATION = 32
    RESOURCE_DELETION = 33
    PROCESS_INSTANCE_MODIFICATION = 34
    COMPENSATION_SUBSCRIPTION = 35
    # Commands one partition sends another (deployment and signal distribution, the message
    # subscription protocol), with their delivery bookkeeping.
    COMMAND_DISTRIBUTION = 36


class DeploymentIntent(IntEnum):
    CREATE = 0
    CREATED = 1
    # Partition 1 sends what it deployed to every other partition.
    DISTRIBUTE = 2
    DISTRIBUTED = 3


class ProcessIntent(IntEnum):
    CREATED = 0
    DELETING = 1
    DELETED = 2


class ProcessInstanceIntent(IntEnum):
    CANCEL = 0
    SEQUENCE_FLOW_TAKEN = 1
    ELEMENT_ACTIVATING = 2
    ELEMENT_ACTIVATED = 3
    ELEMENT_COMPLETING = 4
    ELEMENT_COMPLETED = 5
    ELEMENT_TERMINATING = 6
    ELEMENT_TERMINATED = 7


class ProcessInstanceCreationIntent(IntEnum):
    CREATE = 0
    CREATED = 1
    CREATE_WITH_AWAITING_RESULT = 2


class ProcessInstanceResultIntent(IntEnum):
    COMPLETED = 0


class JobIntent(IntEnum):
    CREATED = 0
    COMPLETE = 1
    COMPLETED = 2
    TIME_OUT = 3
    TIMED_OUT = 4
    FAIL = 5
    FAILED = 6
    UPDATE_RETRIES = 7
    RETRIES_UPDATED = 8
    CANCELED = 9
    THROW_ERROR = 10
    ERROR_THROWN = 11
    RECUR_AFTER_BACKOFF = 12
    RECURRED_AFTER_BACKOFF = 13
    YIELD = 14
    YIELDED = 15
    UPDATE_TIMEOUT = 16
    TIMEOUT_UPDATED = 17


class JobBatchIntent(IntEnum):
    ACTIVATE = 0
    ACTIVATED = 1


class VariableIntent(IntEnum):
    CREATED = 0
    UPDATED = 1


class VariableDocumentIntent(IntEnum):
    UPDATE = 0
    UPDATED = 1


class IncidentIntent(IntEnum):
    CREATED = 0
    RESOLVE = 1
    RESOLVED = 2


class MessageIntent(IntEnum):
    PUBLISH = 0
    PUBLISHED = 1
    EXPIRE = 2
    EXPIRED = 3


class MessageSubscriptionIntent(IntEnum):
    CREATED = 0
    CORRELATED = 1
    DELETED = 2
    # The protocol between an instance's partition and the message's partition when they
    # differ (see broker/processing/message_subscription.py).
    CREATE = 3
    CORRELATING = 4
    CORRELATE = 5
    REJECT = 6
    REJECTED = 7
    DELETE = 8


class ProcessMessageSubscriptionIntent(IntEnum):
    CREATED = 0
    CORRELATED = 1
    DELETED = 2
    CORRELATE = 3


class TimerIntent(IntEnum):
    CREATED = 0
    TRIGGER = 1
    TRIGGERED = 2
    CANCELED = 3


class SignalIntent(IntEnum):
    BROADCAST = 0
    BROADCASTED = 1


class SignalSubscriptionIntent(IntEnum):
    CREATED = 0
    DELETED = 1


class MessageStartEventSubscriptionIntent(IntEnum):
    CREATED = 0
    CORRELATED = 1
    DELETED = 2


class EscalationIntent(IntEnum):
    ESCALATED = 0
    NOT_ESCALATED = 1


class ResourceDeletionIntent(IntEnum):
    DELETE = 0
    DELETED = 1


class ProcessInstanceModificationIntent(IntEnum):
    MODIFY = 0
    MODIFIED = 1


class CompensationSubscriptionIntent(IntEnum):
    CREATED = 0
    TRIGGERED = 1
    COMPLETED = 2
    DELETED = 3


class CommandDistributionIntent(IntEnum):
    DISTRIBUTING = 0  # the sender: a command for another partition, kept until acknowledged
    ACKNOWLEDGE = 1  # the receiver tells the sender it has the command
    ACKNOWLEDGED = 2
    RECEIVED = 3  # the receiver: the command's sequence number, so a resent copy is skipped


class ErrorIntent(IntEnum):
    CREATED = 0


INTENTS: dict[ValueType, type[IntEnum]] = {
    ValueType.DEPLOYMENT: DeploymentIntent,
    ValueType.PROCESS: ProcessIntent,
    ValueType.PROCESS_INSTANCE: ProcessInstanceIntent,
    ValueType.PROCESS_INSTANCE_CREATION: ProcessInstanceCreationIntent,
    ValueType.PROCESS_INSTANCE_RESULT: ProcessInstanceResultIntent,
    ValueType.JOB: JobIntent,
    ValueType.JOB_BATCH: JobBatchIntent,
    ValueType.VARIABLE: VariableIntent,
    ValueType.VARIABLE_DOCUMENT: VariableDocumentIntent,
    ValueType.INCIDENT: IncidentIntent,
    ValueType.MESSAGE: MessageIntent,
    ValueType.MESSAGE_SUBSCRIPTION: MessageSubscriptionIntent,
    ValueType.PROCESS_MESSAGE_SUBSCRIPTION: ProcessMessageSubscriptionIntent,
    ValueType.TIMER: TimerIntent,
    ValueType.SIGNAL: SignalIntent,
    ValueType.ERROR: ErrorIntent,
    ValueType.SIGNAL_SUBSCRIPTION: SignalSubscriptionIntent,
    ValueType.MESSAGE_START_EVENT_SUBSCRIPTION: MessageStartEventSubscriptionIntent,
    ValueType.ESCALATION: EscalationIntent,
    ValueType.RESOURCE_DELETION: ResourceDeletionIntent,
    ValueType.PROCESS_INSTANCE_MODIFICATION: ProcessInstanceModificationIntent,
    ValueType.COMPENSATION_SUBSCRIPTION: CompensationSubscriptionIntent,
    ValueType.COMMAND_DISTRIBUTION: CommandDistributionIntent,
}


def intent_name(value_type: int, intent: int) -> str:
    return INTENTS[ValueType(value_type)](intent).name


@dataclass(slots=True)
class Record:
    """One log record. `position` is assigned by the log on append (0 until then)."""

    record_type: int
    value_type: int
    intent: int
    key: int = -1
    value: dict[str, Any] = field(default_factory=dict)
    tenant_id: str = DEFAULT_TENANT
    position: int = 0
    source_position: int = -1
    timestamp: int = 0  # ms since epoch
    partition_id: int = 1
    rejection_type: int = 0
    rejection_reason: str = ""
    # True on the last record of each appended batch: recovery drops a batch whose end is
    # missing (a torn write), so a command is never seen with only part of its events.
    batch_end: bool = False
    # Not persisted: routes the response back to the waiting caller on this node.
    request_id: int = -1

    def encode(self) -> bytes:
        return msgpack.packb(
            [
                self.position,
                self.source_position,
                self.key,
                self.timestamp,
                self.partition_id,
                self.record_type,
                self.value_type,
                self.intent,
                self.rejection_type,
                self.rejection_reason,
                self.tenant_id,
                self.value,
                self.batch_end,
            ],
            use_bin_type=True,
        )

    @staticmethod
    def decode(data: bytes) -> Record:
        (
            position,
            source_position,
            key,
            timestamp,
            partition_id,
            record_type,
            value_type,
            intent,
            rejection_type,
            rejection_reason,
            tenant_id,
            value,
            batch_end,
        ) = msgpack.unpackb(data, raw=False, strict_map_key=False)
        return Record(
            record_type=record_type,
            value_type=value_type,
            intent=intent,
            key=key,
            value=value,
            tenant_id=tenant_id,
            position=position,
            source_position=source_position,
            timestamp=timestamp,
            partition_id=partition_id,
            rejection_type=rejection_type,
            rejection_reason=rejection_reason,
            batch_end=batch_end,
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly view with names instead of numbers (for logs, exporters, tests)."""
        return {
            "position": self.position,
            "sourceRecordPosition": self.source_position,
            "key": self.key,
            "timestamp": self.timestamp,
            "partitionId": self.partition_id,
            "recordType": RecordType(self.record_type).name,
            "valueType": ValueType(self.value_type).name,
            "intent": intent_name(self.value_type, self.intent),
            "rejectionType": RejectionType(self.rejection_type).name,
            "rejectionReason": self.rejection_reason,
            "tenantId": self.tenant_id,
            "value": self.value,
        }
