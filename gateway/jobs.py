"""Job activation for ActivateJobs (long polling) and StreamActivatedJobs (push).

A long poll registers a waiter for its job type *before* trying to activate, so a job that
appears between the attempt and the wait still wakes it. The broker announces job types that
may have become activatable; the announcement arrives on a broker thread and is handed to the
event loop. Activation fans out over every partition until the request's maximum is reached.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from propolis.broker.client import BrokerClient
from propolis.gateway.errors import rejection_error

from propolis.records import JobBatchIntent, JobIntent, ValueType

log = logging.getLogger(__name__)


class JobActivator:
    def __init__(self, client: BrokerClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._remove_listener = client.add_job_available_listener(self._on_jobs_available)
        self._next_partition = 0

    def close(self) -> None:
        self._remove_listener()

    def _on_jobs_available(self, job_type: str) -> None:
        # Called on a broker thread: only hand the news over to the loop.
        self._loop.call_soon_threadsafe(self._wake, job_type)

    def _wake(self, job_type: str) -> None:
        for event in self._waiters.get(job_type, ()):
            event.set()

    async def activate(self, request: dict[str, Any], tenant_id: str) -> list[dict[str, Any]]:
        """One pass over the partitions, starting at a rotating one for fairness."""
        jobs: list[dict[str, Any]] = []
        wanted = request["maxJobsToActivate"]
        count = self._client.partition_count
        start = self._next_partition
        self._next_partition = (start + 1) % count
        for offset in range(count):
            if len(jobs) >= wanted:
                break
            partition_id = (start + offset) % count + 1
            value = dict(request, maxJobsToActivate=wanted - len(jobs))
            response = await self._client.execute(partition_id, ValueType.JOB_BATCH, JobBatchIntent.ACTIVATE, value, -1, tenant_id)
            if response.rejected:
                raise rejection_error(response.rejection_type, response.rejection_reason)
            for key, job in zip(response.value["jobKeys"], response.value["jobs"], strict=True):
                jobs.append(dict(job, key=key))
        return jobs

    async def activate_waiting(self, request: dict[str, Any], tenant_id: str, timeout_s: float | None) -> list[dict[str, Any]]:
        """Activate; if nothing is there, wait for news of the type up to `timeout_s`
        (None: do not wait)."""
        if timeout_s is None:
            return await self.activate(request, tenant_id)
        event = asyncio.Event()
        waiters = self._waiters[request["type"]]
        waiters.add(event)
        deadline = self._loop.time() + timeout_s
        try:
            while True:
                event.clear()
                jobs = await self.activate(request, tenant_id)
                remaining = deadline - self._loop.time()
                if jobs or remaining <= 0:
                    return jobs
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    return []
        finally:
            waiters.discard(event)
            if not waiters:
                self._waiters.pop(request["type"], None)

    async def stream(self, request: dict[str, Any], tenant_id: str, batch_max: int) -> AsyncIterator[dict[str, Any]]:
        """Jobs, pushed as they become activatable, until the caller stops iterating. Jobs
        activated for the stream but not handed out are yielded back to the broker."""
        pending: list[dict[str, Any]] = []
        try:
            while True:
                pending = await self.activate_waiting(dict(request, maxJobsToActivate=batch_max), tenant_id, timeout_s=3600)
                while pending:
                    job = pending[0]
                    yield job
                    pending.pop(0)
        finally:
            if pending:
                keys = [job["key"] for job in pending]
                self._loop.create_task(self._give_back(keys, tenant_id))

    async def _give_back(self, job_keys: list[int], tenant_id: str) -> None:
        from propolis.broker.client import partition_for_key

        for key in job_keys:
            try:
                await self._client.execute(
                    partition_for_key(key, self._client.partition_count), ValueType.JOB, JobIntent.YIELD, {}, key, tenant_id
                )
            except Exception:  # the job times out and comes back anyway
                log.warning("could not give back a job of a closed stream", extra={"job_key": key})
