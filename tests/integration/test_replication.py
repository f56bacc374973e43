"""Three brokers with every partition replicated three times (Raft), a gateway, and a broker
SIGKILLed while it leads: nothing acknowledged is lost, the other replicas take over within
seconds, the killed broker catches up after its restart, and in the end every replica holds
the same log and the same state."""

from __future__ import annotations

import time
from pathlib import Path

from propolis.clients.client import PropolisClient
from propolis.clients.errors import GatewayError

from propolis.records import partition_of_key
from tests.integration.test_partitions import PAYMENT, jobs_of
from tests.support.cluster import (
    Broker,
    Gateway,
    assert_replica_logs_equal,
    assert_replica_states_equal,
    ports_for_replicated_nodes,
    running,
)

PARTITIONS = 2
FAILOVER_MAX_S = 5.0


def leaders(client: PropolisClient) -> dict[int, int]:
    """partition id -> node id of its healthy leader."""
    return {
        p.partition_id: b.node_id
        for b in client.topology().brokers for p in b.partitions
        if p.role == "LEADER" and p.health == "HEALTHY"
    }


def wait_for(check, timeout_s: float = 20.0, explain=None) -> None:
    """Until `check()`; on timeout the assertion carries `explain()` (the nodes' last output)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time" + (f"\n{explain()}" if explain else "")
        time.sleep(0.1)


def test_a_leader_dies_nothing_acknowledged_is_lost_and_the_replicas_end_equal(tmp_path: Path):
    ports = ports_for_replicated_nodes(3, PARTITIONS)
    members = ",".join(f"{n}@127.0.0.1:{port}" for n, port in enumerate(ports))
    brokers = [
        Broker(tmp_path / f"b{n}", partitions=PARTITIONS, port=ports[n], node_id=n, cluster=members, replication_factor=3)
        for n in range(3)
    ]
    gateway = Gateway([b.address for b in brokers])
    with running(*brokers, gateway), PropolisClient(gateway.address, call_timeout_s=30) as client:
        wait_for(lambda: len(leaders(client)) == PARTITIONS)
        topology = client.topology()
        assert topology.replication_factor == 3 and topology.cluster_size == 3
        assert all(len(b.partitions) == PARTITIONS for b in topology.brokers)

        client.deploy(PAYMENT)
        instances = {client.create_instance("pay-then-ship", {"orderId": f"r-{i}"}).key: f"r-{i}" for i in range(10)}
        assert {partition_of_key(k) for k in instances} == {1, 2}

        victim = brokers[leaders(client)[1]]
        victim.kill()
        killed = time.monotonic()
        # The first command on the dead leader's partition after the kill: the gateway retries
        # until another replica leads.
        while True:
            try:
                created = client.create_instance("pay-then-ship", {"orderId": "r-after"})
            except GatewayError as error:
                assert error.status in ("UNAVAILABLE", "DEADLINE_EXCEEDED"), error
                continue
            if partition_of_key(created.key) == 1:
                break
            instances[created.key] = "r-after"
        failover_s = time.monotonic() - killed
        instances[created.key] = "r-after"
        print(f"failover of partition 1: {failover_s:.2f} s from SIGKILL to the first command processed")
        assert failover_s < FAILOVER_MAX_S
        assert leaders(client)[1] != victim.node_id

        for order in sorted(set(instances.values())):
            client.publish_message("payment", order, ttl_ms=60_000)
        waiting_after = [k for k, o in instances.items() if o == "r-after"]
        jobs = jobs_of(client, "p-ship", len(instances) - len(waiting_after) + 1)
        assert len({j.process_instance_key for j in jobs}) == len(jobs)
        assert {j.process_instance_key for j in jobs} <= set(instances)
        assert set(instances) - {j.process_instance_key for j in jobs} <= set(waiting_after)
        for job in jobs:
            client.complete_job(job.key)

        victim.start()
        wait_for(lambda: all(len([p for p in b.partitions if p.health == "HEALTHY"]) == PARTITIONS
                             for b in client.topology().brokers if b.node_id == victim.node_id)
                 and len(client.topology().brokers) == 3)
        # One more batch on every partition, so the restarted replica has caught up to it.
        for i in range(4):
            client.create_instance("pay-then-ship", {"orderId": f"late-{i}"})
        time.sleep(1.0)

    # All stopped: every replica of a partition has the same log and the same state.
    for partition_id in range(1, PARTITIONS + 1):
        assert_replica_logs_equal([b.data_dir for b in brokers], partition_id)
        assert_replica_states_equal([b.data_dir for b in brokers], partition_id)
