"""Commands that one partition sends another, delivered exactly once and in order.

The sender writes COMMAND_DISTRIBUTION DISTRIBUTING (kept in its state until acknowledged)
and sends the command after the batch is durable; it sends again every retry interval until
the receiver acknowledges, and again after a restart. Each command carries its number in the
sender's sequence for that receiver (`commandDistribution` in the command's value). The
receiver takes a command only if it is the next number it expects from that sender: it writes
RECEIVED with the command's own events and acknowledges; a copy it already took is only
acknowledged again; one that arrives before an earlier command is left for the resend.

So a receiver sees each sender's commands once, in the order they were written, which the
message subscription protocol relies on (a DELETE never overtakes its CREATE).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from propolis.broker.engine.context import ProcessingContext
from propolis.broker.processing.services import Services
from propolis.broker.state import State

from propolis.records import CommandDistributionIntent, Record, RecordType, ValueType

DISTRIBUTION_FIELD = "commandDistribution"
# Deployments enter the cluster here and are distributed from here; timer start events fire here.
DEPLOYMENT_PARTITION_ID = 1


class Receipt(Enum):
    TAKE = "take"
    DUPLICATE = "duplicate"
    EARLY = "early"


def distributed_by(command: Record) -> dict[str, int] | None:
    """{sourcePartitionId, sequence} of a command another partition sent; None otherwise."""
    if command.record_type != RecordType.COMMAND:
        return None
    return command.value.get(DISTRIBUTION_FIELD)


def receipt(state: State, distribution: dict[str, int]) -> Receipt:
    expected_sequence = state.distributions.received(distribution["sourcePartitionId"]) + 1
    if distribution["sequence"] < expected_sequence:
        return Receipt.DUPLICATE
    if distribution["sequence"] > expected_sequence:
        return Receipt.EARLY
    return Receipt.TAKE


def acknowledgement(own_partition_id: int, distribution: dict[str, int]) -> Record:
    return Record(
        RecordType.COMMAND,
        ValueType.COMMAND_DISTRIBUTION,
        CommandDistributionIntent.ACKNOWLEDGE,
        -1,
        {"partitionId": own_partition_id, "sequence": distribution["sequence"]},
    )


def mark_received(ctx: ProcessingContext, distribution: dict[str, int]) -> None:
    """The receiver's side: take the command (its events follow) and acknowledge it."""
    ctx.event(
        ValueType.COMMAND_DISTRIBUTION,
        CommandDistributionIntent.RECEIVED,
        ctx.command.key,
        {"sourcePartitionId": distribution["sourcePartitionId"], "sequence": distribution["sequence"]},
    )
    ctx.send(distribution["sourcePartitionId"], acknowledgement(ctx.command.partition_id, distribution))


def distribute(
    ctx: ProcessingContext,
    partition_id: int,
    value_type: int,
    intent: int,
    key: int,
    value: dict[str, Any],
    tenant_id: str | None = None,
) -> None:
    """Send a command to another partition, once it is durable here, until it is acknowledged."""
    own = ctx.command.partition_id
    assert partition_id != own, "a partition does not distribute to itself"
    sequence = ctx.state.distributions.next_sequence(partition_id)
    tenant = tenant_id if tenant_id is not None else ctx.command.tenant_id
    command_value = dict(value)
    command_value[DISTRIBUTION_FIELD] = {"sourcePartitionId": own, "sequence": sequence}
    distribution = {
        "partitionId": partition_id,
        "sequence": sequence,
        "valueType": value_type,
        "intent": intent,
        "commandKey": key,
        "commandValue": command_value,
        "tenantId": tenant,
    }
    ctx.event(ValueType.COMMAND_DISTRIBUTION, CommandDistributionIntent.DISTRIBUTING, key, distribution, tenant)
    ctx.send(partition_id, command_of(distribution))


def command_of(distribution: dict[str, Any]) -> Record:
    """The command a DISTRIBUTING event stands for, ready to send (again)."""
    return Record(
        RecordType.COMMAND,
        distribution["valueType"],
        distribution["intent"],
        distribution["commandKey"],
        distribution["commandValue"],
        distribution["tenantId"],
    )


def acknowledge(ctx: ProcessingContext, services: Services) -> None:
    """COMMAND_DISTRIBUTION ACKNOWLEDGE: the receiver has everything up to `sequence`."""
    value = ctx.command.value
    oldest = ctx.state.distributions.oldest_pending(value["partitionId"])
    if oldest is None or oldest > value["sequence"]:
        return  # a repeated acknowledgement: nothing is waiting for it
    ctx.event(
        ValueType.COMMAND_DISTRIBUTION,
        CommandDistributionIntent.ACKNOWLEDGED,
        ctx.command.key,
        {"partitionId": value["partitionId"], "sequence": value["sequence"]},
    )


def without_distribution(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != DISTRIBUTION_FIELD}
