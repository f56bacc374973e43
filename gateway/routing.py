"""Which partition a command goes to.

- deployments: partition 1, which distributes them to the others;
- new process instances: round-robin over the partitions;
- commands on an existing key: the partition encoded in the key;
- messages: `crc32(correlationKey) % partitions + 1`, stable across gateways and restarts, so
  that a message and the subscriptions for its correlation key meet on one partition;
- job activation: every partition, starting at a rotating one for fairness.
"""

from __future__ import annotations

import itertools

from propolis.broker.client import BrokerClient, partition_for_key

from propolis.records import partition_of_correlation_key

DEPLOYMENT_PARTITION_ID = 1


class Router:
    def __init__(self, client: BrokerClient) -> None:
        self._client = client
        self._instances = itertools.count()
        self._activations = itertools.count()

    @property
    def partition_count(self) -> int:
        return self._client.partition_count

    def deployment(self) -> int:
        return DEPLOYMENT_PARTITION_ID

    def new_instance(self) -> int:
        return next(self._instances) % self._client.partition_count + 1

    def for_key(self, key: int) -> int:
        return partition_for_key(key, self._client.partition_count)

    def for_correlation_key(self, correlation_key: str) -> int:
        return partition_of_correlation_key(correlation_key, self._client.partition_count)

    def activation_order(self) -> list[int]:
        """All partitions, starting at the next one in turn."""
        count = self._client.partition_count
        start = next(self._activations) % count
        return [(start + offset) % count + 1 for offset in range(count)]
