"""Appliers for commands sent between partitions."""

from __future__ import annotations

from propolis.broker.state import State

from propolis.records import CommandDistributionIntent, Record, ValueType


def distributing(state: State, record: Record) -> None:
    state.distributions.put_pending(record.value)


def acknowledged(state: State, record: Record) -> None:
    state.distributions.acknowledge(record.value["partitionId"], record.value["sequence"])


def received(state: State, record: Record) -> None:
    state.distributions.set_received(record.value["sourcePartitionId"], record.value["sequence"])


APPLIERS = {
    (ValueType.COMMAND_DISTRIBUTION, CommandDistributionIntent.DISTRIBUTING): distributing,
    (ValueType.COMMAND_DISTRIBUTION, CommandDistributionIntent.ACKNOWLEDGED): acknowledged,
    (ValueType.COMMAND_DISTRIBUTION, CommandDistributionIntent.RECEIVED): received,
}
