"""Unmodified Zeebe clients (zbctl, pyzeebe, @camunda8/sdk) through a separate `propolis gateway` in front of two
`propolis broker` processes that share four partitions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyzeebe import ZeebeClient, ZeebeWorker

from propolis.records import partition_of_key
from tests.support.cluster import Broker, Gateway, running
from tests.support.dev_server import free_port
from tests.thirdparty.test_camunda8_sdk import run_sdk_script
from tests.thirdparty.test_pyzeebe import (
    FIXTURES,
    POLL_TIMEOUT_MS,
    RESULT_TIMEOUT_MS,
    run,
    with_worker,
)
from tests.thirdparty.test_zbctl import Zbctl

pytestmark = pytest.mark.thirdparty


@pytest.fixture(scope="module")
def gateway_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("cluster-clients")
    ports = [free_port(), free_port()]
    members = ",".join(f"{n}@127.0.0.1:{port}" for n, port in enumerate(ports))
    brokers = [Broker(data / f"b{n}", partitions=4, port=ports[n], node_id=n, cluster=members) for n in (0, 1)]
    gateway = Gateway([b.address for b in brokers])
    with running(*brokers, gateway):
        yield gateway.address


def test_zbctl_status_shows_both_brokers_and_their_partitions(zbctl: Path, gateway_address: str) -> None:
    out = Zbctl(zbctl, gateway_address).run("status").stdout
    assert "Cluster size: 2" in out
    assert "Partitions count: 4" in out
    broker_0, broker_1 = out.split("Broker 0 - ")[1].split("Broker 1 - ")
    assert "Partition 1 : Leader, Healthy" in broker_0 and "Partition 3 : Leader, Healthy" in broker_0
    assert "Partition 2 : Leader, Healthy" in broker_1 and "Partition 4 : Leader, Healthy" in broker_1


def test_pyzeebe_worker_completes_instances_on_both_brokers(gateway_address: str) -> None:
    seen: list[int] = []

    async def scenario(client: ZeebeClient, channel: Any) -> tuple[list[Any], list[Any]]:
        await client.deploy_resource(str(FIXTURES / "one_task.bpmn"))
        worker = ZeebeWorker(channel, name="pyzeebe-cluster", request_timeout=POLL_TIMEOUT_MS)

        @worker.task(task_type="work", timeout_ms=30_000)
        async def double(n: int) -> dict[str, int]:
            seen.append(n)
            return {"doubled": n * 2}

        async def create(numbers: range) -> list[Any]:
            return await asyncio.gather(*(
                client.run_process_with_result("one-task", {"n": n}, timeout=RESULT_TIMEOUT_MS)
                for n in numbers
            ))

        async def create_all() -> tuple[list[Any], list[Any]]:
            # The first round races partition 1's distribution of the deployment to the
            # other broker: whatever partition it lands on, every instance must complete.
            return await create(range(12)), await create(range(12, 24))

        return await with_worker(channel, worker, create_all())

    right_after_deploy, later = run(gateway_address, scenario)
    assert sorted(seen) == list(range(24))
    assert [r.variables["doubled"] for r in right_after_deploy + later] == [n * 2 for n in range(24)]
    assert {partition_of_key(r.process_instance_key) for r in later} == {1, 2, 3, 4}


def test_camunda8_sdk_worker_completes_instances_on_every_partition(camunda8_sdk: Path, gateway_address: str) -> None:
    # The script's first round races the deployment's distribution like the pyzeebe test's;
    # its second starts after the first has completed.
    summary = run_sdk_script(camunda8_sdk, "sdk_cluster.mjs", gateway_address, str(FIXTURES), "12")
    assert summary["topology"] == {"clusterSize": 2, "partitionsCount": 4, "leaders": {"0": [1, 3], "1": [2, 4]}}
    assert summary["deployed"] == ["one-task"]
    results = summary["rightAfterDeploy"] + summary["later"]
    assert summary["handled"] == list(range(24))
    assert [r["variables"] for r in results] == [{"n": n, "doubled": n * 2, "by": "camunda8-sdk"} for n in range(24)]
    assert {partition_of_key(int(r["key"])) for r in summary["later"]} == {1, 2, 3, 4}
