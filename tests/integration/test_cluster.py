"""Brokers and a gateway as separate processes, end to end through the gateway with the
project's gRPC client: one broker with three partitions; two brokers sharing four partitions
(deployments, signals and message correlation between processes); a broker restart that the
gateway hides by retrying."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from propolis.clients.client import PropolisClient

from propolis.records import partition_of_correlation_key, partition_of_key
from tests.integration.test_partitions import PAYMENT, SIGNALLED, jobs_of
from tests.support.cluster import Broker, Gateway, running
from tests.support.dev_server import free_port


def orders_over(prefix: str, count: int, partitions: int) -> list[str]:
    orders = [f"{prefix}-{i}" for i in range(count)]
    assert {partition_of_correlation_key(o, partitions) for o in orders} == set(range(1, partitions + 1))
    return orders


def run_payments(client: PropolisClient, prefix: str, count: int, partitions: int) -> None:
    """Instances on every partition wait for messages published on every partition."""
    client.deploy(PAYMENT)
    orders = orders_over(prefix, count, partitions)
    instances = {client.create_instance("pay-then-ship", {"orderId": o}).key: o for o in orders}
    assert {partition_of_key(k) for k in instances} == set(range(1, partitions + 1))
    for order in orders:
        client.publish_message("payment", order, {"paidFor": order}, ttl_ms=60_000)
    jobs = jobs_of(client, "p-ship", count)
    assert sorted(j.process_instance_key for j in jobs) == sorted(instances)
    for job in jobs:
        assert job.variables["paidFor"] == instances[job.process_instance_key]
        client.complete_job(job.key)


def test_a_gateway_process_serves_a_broker_process_with_three_partitions(tmp_path: Path):
    broker = Broker(tmp_path / "b0", partitions=3)
    gateway = Gateway([broker.address])
    with running(broker, gateway), PropolisClient(gateway.address) as client:
        topology = client.topology()
        assert topology.partitions_count == 3
        [node] = topology.brokers
        assert (node.node_id, node.host, node.port) == (0, "127.0.0.1", broker.port)
        assert [(p.partition_id, p.role, p.health) for p in node.partitions] == [
            (p, "LEADER", "HEALTHY") for p in (1, 2, 3)
        ]
        run_payments(client, "one-broker", 15, 3)


def test_two_broker_processes_share_the_partitions_and_talk_to_each_other(tmp_path: Path):
    ports = [free_port(), free_port()]
    members = ",".join(f"{n}@127.0.0.1:{port}" for n, port in enumerate(ports))
    brokers = [Broker(tmp_path / f"b{n}", partitions=4, port=ports[n], node_id=n, cluster=members) for n in (0, 1)]
    gateway = Gateway([brokers[1].address])  # one contact point is enough to find both
    with running(*brokers, gateway), PropolisClient(gateway.address) as client:
        deadline = time.monotonic() + 10
        while len(client.topology().brokers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        topology = client.topology()
        assert topology.cluster_size == 2
        assert {b.node_id: [p.partition_id for p in b.partitions] for b in topology.brokers} == {0: [1, 3], 1: [2, 4]}
        run_payments(client, "two-brokers", 16, 4)
        client.deploy(SIGNALLED)
        keys = [client.create_instance("wait-for-signal").key for _ in range(4)]
        client.broadcast_signal("go-now")
        jobs = jobs_of(client, "p-after-signal", 4)
        assert sorted(j.process_instance_key for j in jobs) == sorted(keys)


def test_the_gateway_retries_while_its_broker_restarts(tmp_path: Path):
    broker = Broker(tmp_path / "b0", partitions=2)
    gateway = Gateway([broker.address])
    with running(broker, gateway), PropolisClient(gateway.address, call_timeout_s=30) as client:
        client.deploy(PAYMENT)
        before = client.create_instance("pay-then-ship", {"orderId": "r-1"}).key
        broker.kill()
        restart = threading.Timer(1.0, broker.start)
        restart.start()
        started = time.monotonic()
        # Sent while no broker runs: the gateway holds it until the broker is back.
        during = client.create_instance("pay-then-ship", {"orderId": "r-2"}).key
        waited_s = time.monotonic() - started
        restart.join()
        assert waited_s >= 0.9, "the command was answered while no broker ran"
        for order in ("r-1", "r-2"):
            client.publish_message("payment", order, ttl_ms=60_000)
        jobs = jobs_of(client, "p-ship", 2)
        assert sorted(j.process_instance_key for j in jobs) == sorted([before, during])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _until(url: str, status: int, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        code, body = _get(url)
        if code == status or time.monotonic() > deadline:
            assert code == status, body
            return json.loads(body)
        time.sleep(0.2)


def test_a_gateway_process_serves_its_metrics_and_health_over_http(tmp_path: Path):
    broker = Broker(tmp_path / "b0", partitions=2)
    monitoring_port = free_port()
    gateway = Gateway([broker.address], env={"PROPOLIS_GATEWAY_MONITORING_PORT": str(monitoring_port)})
    base = f"http://127.0.0.1:{monitoring_port}"
    with running(broker, gateway):
        assert re.search(rf"monitoring on \S+:{monitoring_port}\b", "".join(gateway.output))
        health = _until(f"{base}/health", 200, 10)
        assert health == {"status": "UP", "partitions": {"1": "HEALTHY", "2": "HEALTHY"}}
        assert _get(f"{base}/ready")[0] == 200
        with PropolisClient(gateway.address) as client:
            client.topology()
        code, metrics = _get(f"{base}/metrics")
        assert code == 200
        assert 'propolis_gateway_requests_total{code="OK",rpc="Topology"} 1.0' in metrics
        # The overload limit's latency target: the configured 20 ms until the broker is seen quiet.
        assert "propolis_gateway_overload_latency_target_seconds 0.02" in metrics
        # Without its broker the gateway knows no leader: not healthy, and it says so.
        broker.kill()
        health = _until(f"{base}/health", 503, 20)
        assert health == {"status": "DOWN", "partitions": {"1": "UNHEALTHY", "2": "UNHEALTHY"}}
