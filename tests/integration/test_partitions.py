"""Several partitions in one `propolis dev --partitions 3`, end to end through its gateway with
the project's gRPC client: deployments reach every partition, instances spread over them,
messages meet their instances across partitions, signals reach all, jobs are found on every
partition, and all of it survives a SIGKILL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from propolis.clients.client import Job, PropolisClient

from propolis.records import partition_of_correlation_key, partition_of_key
from tests.integration.test_tasks_and_subprocesses import flows, job_task, model
from tests.support.running import running_propolis_dev

PARTITIONS = 3
ENV = {"PROPOLIS_PARTITION_COUNT": str(PARTITIONS)}
INSTANCES = 30


def message(message_id: str, name: str, key: str = "=orderId") -> str:
    return (
        f'<bpmn:message id="{message_id}" name="{name}"><bpmn:extensionElements>'
        f'<zeebe:subscription correlationKey="{key}" /></bpmn:extensionElements></bpmn:message>\n'
    )


PAYMENT = model(
    "pay-then-ship",
    '<bpmn:startEvent id="s" />'
    '<bpmn:intermediateCatchEvent id="paid"><bpmn:messageEventDefinition messageRef="M" /></bpmn:intermediateCatchEvent>'
    + job_task("serviceTask", "ship", "p-ship") + '<bpmn:endEvent id="e" />'
    + flows(("s", "paid"), ("paid", "ship"), ("ship", "e")),
    message("M", "payment"),
)

SIGNALLED = model(
    "wait-for-signal",
    '<bpmn:startEvent id="s" />'
    '<bpmn:intermediateCatchEvent id="go"><bpmn:signalEventDefinition signalRef="S" /></bpmn:intermediateCatchEvent>'
    + job_task("serviceTask", "after", "p-after-signal") + '<bpmn:endEvent id="e" />'
    + flows(("s", "go"), ("go", "after"), ("after", "e")),
    '<bpmn:signal id="S" name="go-now" />\n',
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with running_propolis_dev(tmp_path_factory.mktemp("partitions") / "data", env=ENV) as server:
        yield server


@pytest.fixture(scope="module")
def client(server) -> Iterator[PropolisClient]:
    with PropolisClient(server.address) as client:
        yield client


def jobs_of(client: PropolisClient, job_type: str, count: int, timeout_s: float = 20) -> list[Job]:
    """Activate until `count` jobs of that type arrived (the gateway fans out over partitions)."""
    jobs: list[Job] = []
    deadline = time.monotonic() + timeout_s
    while len(jobs) < count and time.monotonic() < deadline:
        jobs += client.activate_jobs(job_type, max_jobs=count - len(jobs), request_timeout_ms=2_000)
    return jobs


def order_ids_spread_over_partitions(prefix: str, count: int) -> list[str]:
    ids = [f"{prefix}-{i}" for i in range(count)]
    assert {partition_of_correlation_key(i, PARTITIONS) for i in ids} == set(range(1, PARTITIONS + 1))
    return ids


def test_topology_reports_every_partition(client):
    topology = client.topology()
    assert topology.partitions_count == PARTITIONS
    [broker] = topology.brokers
    assert [(p.partition_id, p.role, p.health) for p in broker.partitions] == [
        (pid, "LEADER", "HEALTHY") for pid in range(1, PARTITIONS + 1)
    ]


def test_instances_spread_over_partitions_and_messages_find_them_across_partitions(client):
    deployment = client.deploy(PAYMENT)
    assert partition_of_key(deployment.key) == 1
    orders = order_ids_spread_over_partitions("order", INSTANCES)
    # Half the messages come before their instance (buffered on the message's partition),
    # half after (the instance's subscription reaches the message's partition first).
    early, late = orders[: INSTANCES // 2], orders[INSTANCES // 2:]
    for order in early:
        client.publish_message("payment", order, {"paidFor": order}, ttl_ms=60_000)
    instances = {client.create_instance("pay-then-ship", {"orderId": order}).key: order for order in orders}
    assert {partition_of_key(key) for key in instances} == set(range(1, PARTITIONS + 1))
    # Instances and their messages are on different partitions for most orders.
    crossing = [o for k, o in instances.items() if partition_of_key(k) != partition_of_correlation_key(o, PARTITIONS)]
    assert len(crossing) >= INSTANCES // 2
    for order in late:
        client.publish_message("payment", order, {"paidFor": order}, ttl_ms=60_000)

    jobs = jobs_of(client, "p-ship", INSTANCES)
    assert sorted(j.process_instance_key for j in jobs) == sorted(instances)
    for job in jobs:
        assert job.variables["paidFor"] == instances[job.process_instance_key]
        client.complete_job(job.key)
    # Each message correlated once per process: nothing more arrives.
    assert client.activate_jobs("p-ship", request_timeout_ms=500) == []


def test_a_message_with_ttl_correlates_once_per_process_even_with_instances_on_every_partition(client):
    client.deploy(PAYMENT)
    # Three instances with the same order id, one per partition, and one message.
    keys = [client.create_instance("pay-then-ship", {"orderId": "shared"}).key for _ in range(PARTITIONS)]
    assert {partition_of_key(k) for k in keys} == set(range(1, PARTITIONS + 1))
    client.publish_message("payment", "shared", {"paidFor": "shared"}, ttl_ms=60_000)
    [first] = jobs_of(client, "p-ship", 1)
    assert client.activate_jobs("p-ship", request_timeout_ms=1_000) == []
    # Each further message goes to one more waiting instance.
    client.publish_message("payment", "shared", ttl_ms=60_000)
    client.publish_message("payment", "shared", ttl_ms=60_000)
    rest = jobs_of(client, "p-ship", 2)
    assert sorted(j.process_instance_key for j in [first, *rest]) == sorted(keys)
    for job in [first, *rest]:
        client.complete_job(job.key)


def test_a_signal_reaches_instances_on_every_partition(client):
    client.deploy(SIGNALLED)
    keys = [client.create_instance("wait-for-signal").key for _ in range(2 * PARTITIONS)]
    assert {partition_of_key(k) for k in keys} == set(range(1, PARTITIONS + 1))
    time.sleep(0.3)  # the subscriptions are open once the instances are created; be generous
    client.broadcast_signal("go-now", {"signalled": True})
    jobs = jobs_of(client, "p-after-signal", len(keys))
    assert sorted(j.process_instance_key for j in jobs) == sorted(keys)
    assert all(j.variables["signalled"] is True for j in jobs)
    for job in jobs:
        client.complete_job(job.key)


def test_everything_survives_a_kill_with_subscriptions_open_across_partitions(tmp_path: Path):
    data = tmp_path / "data"
    orders = order_ids_spread_over_partitions("kill", 12)
    with running_propolis_dev(data, env=ENV) as server, PropolisClient(server.address) as client:
        client.deploy(PAYMENT)
        instances = {client.create_instance("pay-then-ship", {"orderId": o}).key: o for o in orders}
        client.publish_message("payment", orders[0], {"paidFor": orders[0]})
        [job] = jobs_of(client, "p-ship", 1)
        assert job.variables["paidFor"] == orders[0]
        client.complete_job(job.key)
        server.kill()
        server.start()  # same data, same port
        # The deployment reached every partition before the kill: new instances anywhere run.
        later = order_ids_spread_over_partitions("after", 6)
        more = {client.create_instance("pay-then-ship", {"orderId": o}).key: o for o in later}
        for order in orders[1:] + later:
            client.publish_message("payment", order, {"paidFor": order}, ttl_ms=60_000)
        waiting = {**instances, **more}
        del waiting[job.process_instance_key]
        jobs = jobs_of(client, "p-ship", len(waiting))
        assert sorted(j.process_instance_key for j in jobs) == sorted(waiting)
        for job in jobs:
            assert job.variables["paidFor"] == waiting[job.process_instance_key]
            client.complete_job(job.key)
