"""pyzeebe (from PyPI, unmodified) against a real `propolis dev`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pyzeebe import ZeebeClient, ZeebeWorker, create_insecure_channel
from pyzeebe.errors import ProcessInstanceNotFoundError

pytestmark = pytest.mark.thirdparty

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli"
RESULT_TIMEOUT_MS = 20_000
# The worker's long poll; short, so that stopping the worker does not wait long.
POLL_TIMEOUT_MS = 1_000

T = TypeVar("T")


def run(address: str, scenario: Callable[[ZeebeClient, Any], Awaitable[T]]) -> T:
    """Run `scenario(client, channel)` on a fresh event loop with a fresh channel."""

    async def main() -> T:
        channel = create_insecure_channel(grpc_address=address)
        try:
            return await asyncio.wait_for(scenario(ZeebeClient(channel), channel), timeout=90)
        finally:
            await channel.close()

    return asyncio.run(main())


async def with_worker(channel: Any, worker: ZeebeWorker, body: Awaitable[T]) -> T:
    work = asyncio.create_task(worker.work())
    try:
        return await body
    finally:
        await worker.stop()
        await asyncio.wait_for(work, timeout=30)


@pytest.fixture(scope="module")
def address(propolis_dev_module) -> str:
    async def deploy(client: ZeebeClient, _channel: Any) -> Any:
        return await client.deploy_resource(
            str(FIXTURES / "one_task.bpmn"), str(FIXTURES / "flaky_task.bpmn"),
            str(FIXTURES / "waiting_task.bpmn"), str(FIXTURES / "message_wait.bpmn"),
        )

    response = run(propolis_dev_module.address, deploy)
    assert {p.bpmn_process_id for p in response.deployments} == {
        "one-task", "flaky-task", "waiting-task", "wait-for-payment"
    }
    return propolis_dev_module.address


def test_healthcheck_says_serving(address: str) -> None:
    async def check(client: ZeebeClient, _channel: Any) -> Any:
        return await client.healthcheck()

    assert run(address, check).status == 1  # grpc.health.v1 SERVING


def test_topology(address: str) -> None:
    async def topology(client: ZeebeClient, _channel: Any) -> Any:
        return await client.topology()

    response = run(address, topology)
    assert response.cluster_size == 1
    assert len(response.brokers) == 1
    assert [p.partition_id for p in response.brokers[0].partitions][0] == 1


def test_deploying_the_same_file_again_keeps_its_version(address: str) -> None:
    async def deploy(client: ZeebeClient, _channel: Any) -> Any:
        return await client.deploy_resource(str(FIXTURES / "one_task.bpmn"))

    [process] = run(address, deploy).deployments
    assert process.bpmn_process_id == "one-task"
    assert process.version == 1


def test_create_instance_returns_its_key(address: str) -> None:
    async def create(client: ZeebeClient, _channel: Any) -> Any:
        return await client.run_process("waiting-task", {"orderId": 1})

    response = run(address, create)
    assert response.bpmn_process_id == "waiting-task"
    assert response.process_instance_key > 0


def test_a_task_completes_jobs_and_the_result_comes_back(address: str) -> None:
    calls: list[int] = []

    async def scenario(client: ZeebeClient, channel: Any) -> list[Any]:
        worker = ZeebeWorker(channel, name="pyzeebe-test", request_timeout=POLL_TIMEOUT_MS)

        @worker.task(task_type="work", timeout_ms=30_000)
        async def double(n: int) -> dict[str, int]:
            calls.append(n)
            return {"doubled": n * 2}

        async def create_all() -> list[Any]:
            return await asyncio.gather(*(
                client.run_process_with_result("one-task", {"n": n}, timeout=RESULT_TIMEOUT_MS)
                for n in (1, 2, 3)
            ))

        return await with_worker(channel, worker, create_all())

    results = run(address, scenario)
    assert sorted(calls) == [1, 2, 3]
    assert [r.variables for r in results] == [
        {"n": 1, "doubled": 2}, {"n": 2, "doubled": 4}, {"n": 3, "doubled": 6}
    ]


def test_a_failing_task_is_retried_until_its_retries_run_out(address: str) -> None:
    attempts: list[int] = []

    async def scenario(client: ZeebeClient, channel: Any) -> int:
        worker = ZeebeWorker(channel, name="pyzeebe-flaky", request_timeout=POLL_TIMEOUT_MS)

        @worker.task(task_type="flaky", timeout_ms=30_000)
        async def flaky(attempt: int = 0) -> dict[str, Any]:
            attempts.append(attempt)
            raise RuntimeError("the card was declined")

        async def body() -> int:
            created = await client.run_process("flaky-task", {"attempt": 1})
            deadline = asyncio.get_running_loop().time() + 30
            while len(attempts) < 2 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # no third attempt: the job waits on an incident
            return created.process_instance_key

        key = await with_worker(channel, worker, body())
        await client.cancel_process_instance(key)  # an instance on an incident can be cancelled
        return key

    run(address, scenario)
    assert len(attempts) == 2  # flaky-task's job has retries="2"


def test_a_published_message_completes_a_waiting_instance(address: str) -> None:
    async def scenario(client: ZeebeClient, _channel: Any) -> Any:
        waiting = asyncio.create_task(client.run_process_with_result(
            "wait-for-payment", {"orderId": "py-1"}, timeout=RESULT_TIMEOUT_MS
        ))
        await asyncio.sleep(0.3)
        published = await client.publish_message(
            "payment-received", "py-1", {"paid": 7}, time_to_live_in_milliseconds=60_000,
            message_id="py-1-payment",
        )
        assert published.key > 0
        return await waiting

    result = run(address, scenario)
    assert result.variables == {"orderId": "py-1", "paid": 7}


def test_cancel_a_process_instance(address: str) -> None:
    async def scenario(client: ZeebeClient, _channel: Any) -> None:
        created = await client.run_process("waiting-task")
        await client.cancel_process_instance(created.process_instance_key)
        with pytest.raises(ProcessInstanceNotFoundError):
            await client.cancel_process_instance(created.process_instance_key)

    run(address, scenario)
