"""A real broker (real log, real LMDB) in a temporary folder, driven through its client seam."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from propolis.broker.broker import Broker
from propolis.broker.client import BrokerResponse, InProcessBrokerClient
from propolis.broker.config import BrokerConfig

from propolis.records import (
    DeploymentIntent,
    JobBatchIntent,
    JobIntent,
    ProcessInstanceCreationIntent,
    ValueType,
)


class BrokerHarness:
    def __init__(self, data_dir: Path, **config: Any) -> None:
        self.config = BrokerConfig(data_dir=data_dir, **config)
        self.broker = Broker(self.config)
        self.client = InProcessBrokerClient(self.broker)
        self.loop = asyncio.new_event_loop()

    def start(self) -> BrokerHarness:
        self.broker.start()
        return self

    def close(self) -> None:
        self.broker.close()
        self.loop.close()

    def restart(self) -> None:
        self.broker.close()
        self.broker = Broker(self.config)
        self.client = InProcessBrokerClient(self.broker)
        self.broker.start()

    def execute(self, value_type: int, intent: int, value: dict[str, Any] | None = None, key: int = -1, timeout_s: float = 10) -> BrokerResponse:
        call = self.client.execute(1, value_type, intent, value or {}, key)
        return self.loop.run_until_complete(asyncio.wait_for(call, timeout_s))

    def deploy(self, *resources: tuple[str, bytes]) -> BrokerResponse:
        response = self.execute(
            ValueType.DEPLOYMENT, DeploymentIntent.CREATE,
            {"resources": [{"resourceName": name, "resource": content} for name, content in resources]},
        )
        return response

    def create(self, process_id: str, variables: dict[str, Any] | None = None, with_result: bool = False, timeout_s: float = 10) -> BrokerResponse:
        intent = ProcessInstanceCreationIntent.CREATE_WITH_AWAITING_RESULT if with_result else ProcessInstanceCreationIntent.CREATE
        return self.execute(
            ValueType.PROCESS_INSTANCE_CREATION, intent,
            {"bpmnProcessId": process_id, "version": -1, "variables": variables or {}}, timeout_s=timeout_s,
        )

    def activate(self, job_type: str, max_jobs: int = 10, timeout_ms: int = 60_000, fetch: list[str] | None = None) -> list[tuple[int, dict[str, Any]]]:
        response = self.execute(
            ValueType.JOB_BATCH, JobBatchIntent.ACTIVATE,
            {"type": job_type, "worker": "test", "timeout": timeout_ms, "maxJobsToActivate": max_jobs, "fetchVariables": fetch or []},
        )
        assert not response.rejected, response.rejection_reason
        return list(zip(response.value["jobKeys"], response.value["jobs"], strict=True))

    def complete(self, job_key: int, variables: dict[str, Any] | None = None) -> BrokerResponse:
        return self.execute(ValueType.JOB, JobIntent.COMPLETE, {"variables": variables or {}}, key=job_key)

    def partition_dir(self) -> Path:
        return self.config.data_dir / "partition-1"

    def records(self) -> list[dict[str, Any]]:
        """Every record in the partition's log, described with names."""
        from propolis.records import Record

        partition = self.broker.partition(1)
        return [Record.decode(payload).describe() for _, payload in partition.log.reader(partition.log.first_position)]
