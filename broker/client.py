"""The broker's client side: the only part of `broker/` that the gateway may use.

The gateway turns each gRPC request into one command (value type, intent, key, value) for one
partition and turns the broker's answer (the event that the command produced, or a rejection)
back into a gRPC response. Everything that crosses this seam is plain data (ints, strings,
dicts, lists, bytes) so that the same calls can be carried over the network in a cluster; the
in-process implementation below is what `propolis dev` uses.

Contract of `BrokerClient.execute`:
- It returns once the command's effects are durable (fsync'd), never earlier.
- A processed command answers with a `BrokerResponse`: either the event that the command
  produced (`rejection_type == 0`) or a rejection with a reason written for the user.
- It raises `BrokerOverloadedError` when the partition sheds load (the gateway answers
  RESOURCE_EXHAUSTED) and `BrokerUnavailableError` when no leader can take the command.
- For PROCESS_INSTANCE_CREATION CREATE_WITH_AWAITING_RESULT it returns when the instance
  completes; the caller bounds the wait (asyncio.wait_for) and answers DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from propolis.records import DEFAULT_TENANT, Record, RecordType, partition_of_key


class BrokerClientError(Exception):
    """Root of the errors that the broker's client side raises."""


class BrokerOverloadedError(BrokerClientError):
    """The partition is over its in-flight limit; retry later."""


class BrokerUnavailableError(BrokerClientError):
    """No partition leader could take the command (starting, stopping, or in an election)."""


@dataclass(slots=True)
class BrokerResponse:
    value_type: int
    intent: int
    key: int
    value: dict[str, Any] = field(default_factory=dict)
    tenant_id: str = DEFAULT_TENANT
    partition_id: int = 1
    rejection_type: int = 0
    rejection_reason: str = ""

    @property
    def rejected(self) -> bool:
        return self.rejection_type != 0

    @staticmethod
    def from_record(record: Record) -> BrokerResponse:
        return BrokerResponse(
            value_type=record.value_type,
            intent=record.intent,
            key=record.key,
            value=record.value,
            tenant_id=record.tenant_id,
            partition_id=record.partition_id,
            rejection_type=record.rejection_type
            if record.record_type == RecordType.COMMAND_REJECTION
            else 0,
            rejection_reason=record.rejection_reason,
        )


JobAvailableListener = Callable[[str], None]
"""Called with a job type whenever jobs of that type may have become activatable. It runs on a
broker thread: a listener must only hand the news over (e.g. `loop.call_soon_threadsafe`)."""


class BrokerClient(Protocol):
    @property
    def partition_count(self) -> int: ...

    def topology(self) -> dict[str, Any]:
        """{clusterSize, partitionsCount, replicationFactor, brokers: [{nodeId, host, port,
        version, partitions: [{partitionId, role: LEADER|FOLLOWER|INACTIVE,
        health: HEALTHY|UNHEALTHY|DEAD}]}]}"""
        ...

    async def execute(
        self,
        partition_id: int,
        value_type: int,
        intent: int,
        value: dict[str, Any],
        key: int = -1,
        tenant_id: str = DEFAULT_TENANT,
    ) -> BrokerResponse: ...

    def add_job_available_listener(self, listener: JobAvailableListener) -> Callable[[], None]:
        """Register a listener; returns a function that removes it."""
        ...


class PartitionHandle(Protocol):
    """What the in-process client needs of a local partition."""

    def submit(self, command: Record) -> concurrent.futures.Future[Record]: ...


class LocalBroker(Protocol):
    partition_count: int

    def partition(self, partition_id: int) -> PartitionHandle: ...

    def topology(self) -> dict[str, Any]: ...

    def add_job_available_listener(self, listener: JobAvailableListener) -> Callable[[], None]: ...


class InProcessBrokerClient:
    """Calls partitions of a broker that runs in this process."""

    def __init__(self, broker: LocalBroker) -> None:
        self._broker = broker

    @property
    def partition_count(self) -> int:
        return self._broker.partition_count

    def topology(self) -> dict[str, Any]:
        return self._broker.topology()

    async def execute(
        self,
        partition_id: int,
        value_type: int,
        intent: int,
        value: dict[str, Any],
        key: int = -1,
        tenant_id: str = DEFAULT_TENANT,
    ) -> BrokerResponse:
        command = Record(
            record_type=RecordType.COMMAND,
            value_type=value_type,
            intent=intent,
            key=key,
            value=value,
            tenant_id=tenant_id,
            partition_id=partition_id,
        )
        future = self._broker.partition(partition_id).submit(command)
        record = await asyncio.wrap_future(future)
        return BrokerResponse.from_record(record)

    def add_job_available_listener(self, listener: JobAvailableListener) -> Callable[[], None]:
        return self._broker.add_job_available_listener(listener)


def partition_for_key(key: int, partition_count: int) -> int:
    """The partition that owns a key; keys without a partition go to partition 1."""
    partition_id = partition_of_key(key)
    return partition_id if 1 <= partition_id <= partition_count else 1
