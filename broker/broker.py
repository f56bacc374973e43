"""A broker node: the partitions it hosts, its topology, and job-availability news for the
gateway's long polls and job streams."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from propolis.broker.client import JobAvailableListener
from propolis.broker.config import BrokerConfig
from propolis.broker.exporting.loader import configure_exporters
from propolis.broker.metrics import BrokerMetrics
from propolis.broker.partition import CommandTransport, Partition, ReplicatorFactory

from propolis.records import Record

log = logging.getLogger(__name__)

VERSION = "0.1.0"


class Broker:
    """Hosts `hosted` partitions (default: all of them). Commands for partitions hosted
    elsewhere go through `remote` (see cluster/partition_transport.py); `members` (nodeId,
    host, port of every node, this one included) is what the topology tells gateways."""

    def __init__(
        self,
        config: BrokerConfig,
        hosted: list[int] | None = None,
        remote: CommandTransport | None = None,
        members: list[dict[str, Any]] | None = None,
        replicator_factory: ReplicatorFactory | None = None,
        replication_factor: int = 1,
    ) -> None:
        self.config = config
        self.partition_count = config.partition_count
        self.hosted = list(hosted) if hosted is not None else list(range(1, config.partition_count + 1))
        self._remote = remote
        self._replicator_factory = replicator_factory
        self.replication_factor = replication_factor
        self.members = members or [{"nodeId": config.node_id, "host": config.host, "port": config.port}]
        self._partitions: dict[int, Partition] = {}
        self._listeners: list[JobAvailableListener] = []
        self._listeners_lock = threading.Lock()
        self.metrics = BrokerMetrics()

    def start(self) -> None:
        # Every exporter is loaded and configured before any partition opens: a wrong
        # className or args stops the start (ExporterStartupError) with nothing half-running.
        exporters = {
            partition_id: configure_exporters(self.config.exporters, partition_id)
            for partition_id in self.hosted
        }
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        for partition_id in self.hosted:
            partition = Partition(
                partition_id, self.config, self._jobs_available, self.metrics, exporters[partition_id],
                self._deliver, self._replicator_factory,
            )
            partition.open()
            self._partitions[partition_id] = partition

    def close(self) -> None:
        for partition in self._partitions.values():
            partition.close()
        self._partitions.clear()

    def _deliver(self, partition_id: int, command: Record) -> None:
        """Hand a command to another partition of this broker. A copy through the encoding,
        as over the network: the receiver owns what it gets."""
        partition = self._partitions.get(partition_id)
        if partition is not None and partition.is_leader:
            partition.submit_from_partition(Record.decode(command.encode()))
        elif self._remote is not None:
            self._remote(partition_id, command)

    def leads(self, partition_id: int) -> bool:
        """Whether commands for `partition_id` are processed here now."""
        partition = self._partitions.get(partition_id)
        return partition is not None and partition.is_leader

    def partition_health(self) -> dict[int, bool]:
        return {pid: p.healthy for pid, p in sorted(self._partitions.items())}

    def partition(self, partition_id: int) -> Partition:
        return self._partitions[partition_id]

    def topology(self) -> dict[str, Any]:
        return {
            "clusterSize": len(self.members),
            "partitionsCount": self.partition_count,
            "replicationFactor": self.replication_factor,
            "brokers": [
                {
                    "nodeId": self.config.node_id,
                    "host": self.config.host,
                    "port": self.config.port,
                    "version": VERSION,
                    "partitions": [
                        {
                            "partitionId": pid,
                            "role": "LEADER" if p.is_leader else "FOLLOWER",
                            "health": "HEALTHY" if p.healthy else "UNHEALTHY",
                        }
                        for pid, p in sorted(self._partitions.items())
                    ],
                }
            ],
            "members": self.members,
        }

    def add_job_available_listener(self, listener: JobAvailableListener) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def _jobs_available(self, job_types: set[str]) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for job_type in job_types:
            for listener in listeners:
                try:
                    listener(job_type)
                except Exception:  # a listener's bug must not stop the partition
                    log.exception("job-available listener failed")
