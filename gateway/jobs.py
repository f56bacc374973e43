"""Job activation for ActivateJobs (long polling) and StreamActivatedJobs (push).

Activation fans out over every partition, starting at a rotating one, asking each for the jobs
still missing until the request's maximum is reached. A long poll or stream that finds nothing
parks (see long_polling.py) and tries again on news of its job type, on a probe interval, and,
for a long poll, answers empty at its request timeout.

Jobs are never lost by the gateway: jobs activated for a caller that went away (a cancelled
stream, a long poll whose response could not be written, an activation whose caller was
cancelled while the broker worked) are given back with JOB YIELD, which makes them activatable
at once instead of after their timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from propolis.broker.client import (
    BrokerClient,
    BrokerOverloadedError,
    BrokerResponse,
    BrokerUnavailableError,
)
from propolis.gateway.config import GatewayConfig
from propolis.gateway.errors import GatewayError, expected, rejection_error
from propolis.gateway.long_polling import JobNotifications, JobWaiter
from propolis.gateway.requests import Command, JobActivation, job_batch_activate, job_yield
from propolis.gateway.routing import Router

from propolis.records import DEFAULT_TENANT

log = logging.getLogger(__name__)

_BUSY = grpc.StatusCode.RESOURCE_EXHAUSTED

HeldJob = tuple[int, dict[str, Any]]
"""(job key, job value) of a job activated by the gateway for one of its callers."""


def _tenants(activation: JobActivation) -> tuple[str, ...]:
    """The group of an activation's waiter: the tenants it asks for (long_polling.py)."""
    return tuple(activation.value.get("tenantIds") or ())


class JobActivator:
    def __init__(
        self,
        client: BrokerClient,
        router: Router,
        config: GatewayConfig,
        notifications: JobNotifications,
    ) -> None:
        self._client = client
        self._router = router
        self._notifications = notifications
        self._probe_interval_s = config.long_poll_probe_interval_ms / 1000
        self._yield_attempts_max = max(1, config.job_yield_attempts_max)
        self._yield_retry_delay_s = config.job_yield_retry_delay_ms / 1000
        self._stream_retry_delay_s = config.stream_retry_delay_ms / 1000
        self._give_backs: set[asyncio.Task[None]] = set()

    # -- one pass -------------------------------------------------------------------------
    async def activate(self, activation: JobActivation) -> tuple[list[HeldJob], bool]:
        """One pass over the partitions. Returns the jobs and whether more may be waiting
        (the batch is full or a partition truncated its answer)."""
        jobs: list[HeldJob] = []
        more = False
        answered = 0
        overloaded = False
        unavailable: BrokerUnavailableError | None = None
        for partition_id in self._router.activation_order():
            missing = activation.max_jobs - len(jobs)
            if missing <= 0:
                more = True
                break
            command = job_batch_activate(partition_id, activation, missing)
            try:
                response = await self._execute_activation(command)
            except BrokerOverloadedError:
                overloaded = True
                continue
            except BrokerUnavailableError as error:
                unavailable = error
                log.warning(
                    "could not activate jobs on a partition",
                    extra={
                        "partition_id": partition_id,
                        "job_type": activation.job_type,
                        "error": str(error),
                    },
                )
                continue
            if response.rejected:
                if not jobs:
                    raise rejection_error(response.rejection_type, response.rejection_reason)
                log.warning(
                    "job activation rejected on a partition after others activated jobs",
                    extra={"partition_id": partition_id, "reason": response.rejection_reason},
                )
                continue
            answered += 1
            value = response.value
            jobs.extend(zip(value["jobKeys"], value["jobs"], strict=True))
            if value.get("truncated"):
                more = True
        if len(jobs) >= activation.max_jobs:
            more = True
        if not jobs:
            if overloaded:
                raise GatewayError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    expected(
                        f"activate jobs of type '{activation.job_type}'",
                        "no jobs available and at least one broker returned "
                        "'RESOURCE_EXHAUSTED'. Please try again later.",
                    ),
                )
            if unavailable is not None and answered == 0:
                raise unavailable
        return jobs, more

    async def _execute_activation(self, command: Command) -> BrokerResponse:
        """Execute a JOB_BATCH ACTIVATE; if our caller is cancelled while the broker works,
        the jobs it activates anyway are given back when they arrive."""
        task = asyncio.ensure_future(
            self._client.execute(
                command.partition_id,
                command.value_type,
                command.intent,
                command.value,
                command.key,
                command.tenant_id,
            )
        )
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(self._give_back_orphaned)
            raise

    def _give_back_orphaned(self, task: asyncio.Future[BrokerResponse]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        response = task.result()
        if not response.rejected and response.value.get("jobKeys"):
            self.give_back(
                list(zip(response.value["jobKeys"], response.value["jobs"], strict=True))
            )

    # -- long polling and streams ---------------------------------------------------------
    async def long_poll(self, activation: JobActivation) -> list[HeldJob]:
        """ActivateJobs: jobs at once if there are any; otherwise wait for some up to the
        request timeout (no wait when it is None) and answer empty then."""
        if activation.request_timeout_ms is None:
            jobs, more = await self.activate(activation)
            if more:
                self._notifications.notify(activation.job_type, tenants=_tenants(activation))
            return jobs
        loop = asyncio.get_running_loop()
        deadline = loop.time() + activation.request_timeout_ms / 1000
        waiter = self._notifications.register(activation.job_type, _tenants(activation))
        try:
            return await self._until_jobs(activation, waiter, deadline)
        finally:
            self._notifications.unregister(waiter)

    async def stream(
        self, activation: JobActivation, write: Callable[[HeldJob], Awaitable[None]]
    ) -> None:
        """StreamActivatedJobs: push each job as it becomes activatable, until cancelled.
        A job is handed to `write` one at a time; jobs not yet written when the stream ends
        (including the one whose write failed) are given back. While the broker sheds load or
        is unavailable the stream stays open and tries again every `stream_retry_delay_ms`."""
        waiter = self._notifications.register(activation.job_type, _tenants(activation))
        held: deque[HeldJob] = deque()
        try:
            while True:
                try:
                    held.extend(await self._until_jobs(activation, waiter, None))
                except (GatewayError, BrokerUnavailableError) as error:
                    # A busy or unavailable broker is a pause for a stream, not its end.
                    if isinstance(error, GatewayError) and error.code != _BUSY:
                        raise
                    log.info(
                        "job stream waits for the broker",
                        extra={"job_type": activation.job_type, "error": str(error)},
                    )
                    await asyncio.sleep(self._stream_retry_delay_s)
                    continue
                while held:
                    await write(held[0])
                    held.popleft()
        finally:
            self._notifications.unregister(waiter)
            if held:
                self.give_back(list(held))

    async def _until_jobs(
        self, activation: JobActivation, waiter: JobWaiter, deadline: float | None
    ) -> list[HeldJob]:
        loop = asyncio.get_running_loop()
        while True:
            waiter.consume()  # this attempt covers all news up to now
            try:
                jobs, more = await self.activate(activation)
            except BrokerUnavailableError:
                # Every partition's leader is gone (a broker leading all of them died): a long
                # poll waits out the failover within its request timeout, as other commands
                # do; activating again is safe (jobs lost with an answer time out).
                if deadline is None or loop.time() >= deadline:
                    raise
                jobs, more = [], False
            if jobs:
                # More may wait, or news came during the attempt: the next parked one looks.
                if waiter.consume() or more:
                    self._notifications.notify(activation.job_type, passed_by=waiter)
                return jobs
            wait_s = self._probe_interval_s
            if deadline is not None:
                remaining_s = deadline - loop.time()
                if remaining_s <= 0:
                    return []
                wait_s = min(wait_s, remaining_s)
            await waiter.park(wait_s)

    # -- giving jobs back -----------------------------------------------------------------
    def give_back(self, jobs: list[HeldJob]) -> None:
        """Make jobs that no caller will get activatable again (JOB YIELD), in the background."""
        if not jobs:
            return
        log.info(
            "giving back jobs that could not be delivered",
            extra={"job_keys": [key for key, _ in jobs]},
        )
        task = asyncio.get_running_loop().create_task(self._yield_all(jobs))
        self._give_backs.add(task)
        task.add_done_callback(self._give_backs.discard)

    async def _yield_all(self, jobs: list[HeldJob]) -> None:
        await asyncio.gather(*(self._yield_one(key, job) for key, job in jobs))

    async def _yield_one(self, key: int, job: dict[str, Any]) -> None:
        command = job_yield(key, self._router.for_key(key), job.get("tenantId", DEFAULT_TENANT))
        for attempt in range(1, self._yield_attempts_max + 1):
            try:
                response = await self._client.execute(
                    command.partition_id,
                    command.value_type,
                    command.intent,
                    command.value,
                    command.key,
                    command.tenant_id,
                )
            except (BrokerOverloadedError, BrokerUnavailableError) as error:
                if attempt == self._yield_attempts_max:
                    log.warning(
                        "could not give a job back; it comes back at its timeout",
                        extra={"job_key": key, "error": str(error)},
                    )
                    return
                await asyncio.sleep(self._yield_retry_delay_s * attempt)
                continue
            except Exception:
                log.exception("giving a job back failed", extra={"job_key": key})
                return
            if response.rejected:  # completed or timed out meanwhile: nothing to give back
                log.info(
                    "a job to give back was no longer activated",
                    extra={"job_key": key, "reason": response.rejection_reason},
                )
            return

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) for jobs being given back, e.g. before the broker closes."""
        if self._give_backs:
            await asyncio.wait(set(self._give_backs), timeout=timeout_s)
