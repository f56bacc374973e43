"""pyzeebe (from PyPI, unmodified) against a real `propolis dev --partitions 3`: a worker
completes jobs from every partition and messages meet instances across partitions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyzeebe import ZeebeClient, ZeebeWorker

from propolis.records import partition_of_correlation_key, partition_of_key
from tests.support.running import running_propolis_dev
from tests.thirdparty.test_pyzeebe import (
    FIXTURES,
    POLL_TIMEOUT_MS,
    RESULT_TIMEOUT_MS,
    run,
    with_worker,
)

pytestmark = pytest.mark.thirdparty

PARTITIONS = 3


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("pyzeebe-partitions") / "data"
    with running_propolis_dev(data, env={"PROPOLIS_PARTITION_COUNT": str(PARTITIONS)}) as server:
        yield server.address


def test_topology_shows_three_partitions(address: str) -> None:
    async def topology(client: ZeebeClient, _channel: Any) -> Any:
        return await client.topology()

    response = run(address, topology)
    assert [p.partition_id for p in response.brokers[0].partitions] == [1, 2, 3]


def test_a_worker_completes_instances_on_every_partition(address: str) -> None:
    seen: list[int] = []

    async def scenario(client: ZeebeClient, channel: Any) -> list[Any]:
        await client.deploy_resource(str(FIXTURES / "one_task.bpmn"))
        worker = ZeebeWorker(channel, name="pyzeebe-partitions", request_timeout=POLL_TIMEOUT_MS)

        @worker.task(task_type="work", timeout_ms=30_000)
        async def double(n: int) -> dict[str, int]:
            seen.append(n)
            return {"doubled": n * 2}

        async def create_all() -> list[Any]:
            return await asyncio.gather(*(
                client.run_process_with_result("one-task", {"n": n}, timeout=RESULT_TIMEOUT_MS)
                for n in range(12)
            ))

        return await with_worker(channel, worker, create_all())

    results = run(address, scenario)
    assert sorted(seen) == list(range(12))
    assert sorted(r.variables["doubled"] for r in results) == [n * 2 for n in range(12)]
    assert {partition_of_key(r.process_instance_key) for r in results} == {1, 2, 3}


def test_messages_complete_instances_waiting_on_other_partitions(address: str) -> None:
    orders = [f"pz-{i}" for i in range(9)]
    assert {partition_of_correlation_key(o, PARTITIONS) for o in orders} == {1, 2, 3}

    async def scenario(client: ZeebeClient, _channel: Any) -> list[Any]:
        await client.deploy_resource(str(Path(FIXTURES) / "message_wait.bpmn"))
        waiting = [
            asyncio.create_task(client.run_process_with_result("wait-for-payment", {"orderId": o}, timeout=RESULT_TIMEOUT_MS))
            for o in orders
        ]
        await asyncio.sleep(0.5)
        for n, order in enumerate(orders):
            await client.publish_message("payment-received", order, {"paid": n}, time_to_live_in_milliseconds=60_000)
        return await asyncio.gather(*waiting)

    results = run(address, scenario)
    assert [r.variables for r in results] == [{"orderId": o, "paid": n} for n, o in enumerate(orders)]
    assert {partition_of_key(r.process_instance_key) for r in results} == {1, 2, 3}
