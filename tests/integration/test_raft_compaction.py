"""Three brokers, one partition replicated three times, pysyncobj's Raft log compacted every
few entries: a follower SIGKILLed while the leader goes on (and compacts past it) catches up
from a snapshot after its restart, can then lead, and every replica ends with the same log and
state; the Raft journals stay small however long the history.

Twice: with the leader's log whole (the follower gets the records it lacks) and with the
leader's log compacted after frequent state snapshots (the follower gets the leader's state)."""

from __future__ import annotations

from pathlib import Path

import pytest
from propolis.clients.client import PropolisClient
from propolis.clients.errors import GatewayError
from propolis.log.segment import DamagedHeader, scan_segment
from propolis.log.segmented_log import Log

from tests.integration.test_partitions import PAYMENT, jobs_of
from tests.integration.test_replication import leaders, wait_for
from tests.support.cluster import (
    Broker,
    Gateway,
    assert_replica_states_equal,
    ports_for_replicated_nodes,
    running,
)

COMPACTION_ENTRIES_MIN = 20
CAUGHT_UP_MARKS = {
    "whole": "caught up from a Raft snapshot",
    "compacted": "installed the leader's state",
}
LEADER_LOG_COMPACTED = {
    "PROPOLIS_SNAPSHOT_INTERVAL_S": "0.5",
    "PROPOLIS_SNAPSHOT_RECORDS_MIN": "50",
    "PROPOLIS_LOG_SEGMENT_SIZE_BYTES_MAX": str(32 * 1024),
}


def create(client: PropolisClient, order: str) -> int:
    """Create an instance, retrying while the partition has no leader."""
    while True:
        try:
            return client.create_instance("pay-then-ship", {"orderId": order}).key
        except GatewayError as error:
            assert error.status in ("UNAVAILABLE", "DEADLINE_EXCEEDED"), error


def healthy_everywhere(client: PropolisClient, node_id: int) -> bool:
    brokers = client.topology().brokers
    return len(brokers) == 3 and any(
        b.node_id == node_id and b.partitions and all(p.health == "HEALTHY" for p in b.partitions) for b in brokers
    )


@pytest.mark.parametrize("leader_log", ["whole", "compacted"])
def test_a_follower_that_fell_behind_compaction_catches_up_from_a_snapshot_and_can_lead(tmp_path: Path, leader_log: str):
    ports = ports_for_replicated_nodes(3, 1)
    members = ",".join(f"{n}@127.0.0.1:{port}" for n, port in enumerate(ports))
    env = {"PROPOLIS_RAFT_LOG_COMPACTION_ENTRIES_MIN": str(COMPACTION_ENTRIES_MIN), "PROPOLIS_LOG_LEVEL": "INFO"}
    if leader_log == "compacted":
        env |= LEADER_LOG_COMPACTED
    brokers = [
        Broker(tmp_path / f"b{n}", partitions=1, port=ports[n], node_id=n, cluster=members, replication_factor=3, env=env)
        for n in range(3)
    ]
    gateway = Gateway([b.address for b in brokers])
    orders: dict[int, str] = {}
    with running(*brokers, gateway), PropolisClient(gateway.address, call_timeout_s=30) as client:
        wait_for(lambda: 1 in leaders(client))
        client.deploy(PAYMENT)
        for i in range(10):
            orders[create(client, f"before-{i}")] = f"before-{i}"

        leader = leaders(client)[1]
        lagging = brokers[(leader + 1) % 3]
        lagging.kill()
        lagging_last = _last_position(lagging.data_dir)
        for i in range(150):  # one batch each: several times the compaction threshold
            orders[create(client, f"while-down-{i}")] = f"while-down-{i}"
        leader_dir = brokers[leaders(client)[1]].data_dir / "partition-1"
        assert (leader_dir / "raft-journal.snapshot").exists(), "the leader never compacted its Raft log"
        if leader_log == "compacted":
            wait_for(lambda: _first_position(leader_dir) > lagging_last + 1)

        lagging.start()
        wait_for(lambda: healthy_everywhere(client, lagging.node_id), timeout_s=30)
        # Once seen to time out in a full-suite run (not reproduced alone, nor under CPU load):
        # the nodes' last lines say why if it happens again.
        wait_for(lambda: any(CAUGHT_UP_MARKS[leader_log] in line for line in lagging.output), timeout_s=30,
                 explain=lambda: "\n".join(f"node {b.node_id}:\n" + "".join(b.output[-40:]) for b in brokers))
        for i in range(5):
            orders[create(client, f"after-{i}")] = f"after-{i}"

        # The caught-up replica can lead: kill the others' leader until it is elected.
        for attempt in range(8):
            current = leaders(client).get(1)
            if current == lagging.node_id:
                break
            if current is not None:
                victim = brokers[current]
                victim.kill()
                orders[create(client, f"failover-{attempt}")] = f"failover-{attempt}"
                victim.start()
                wait_for(lambda v=victim: healthy_everywhere(client, v.node_id), timeout_s=30)
            wait_for(lambda: 1 in leaders(client))
        assert leaders(client)[1] == lagging.node_id, "the caught-up replica was never elected"

        # It goes on where the others stopped: every instance waits for exactly one payment,
        # then has exactly one job.
        for i in range(5):
            orders[create(client, f"led-by-caught-up-{i}")] = f"led-by-caught-up-{i}"
        for order in sorted(set(orders.values())):
            client.publish_message("payment", order, ttl_ms=60_000)
        jobs = jobs_of(client, "p-ship", len(orders), timeout_s=60)
        assert sorted(j.process_instance_key for j in jobs) == sorted(orders)
        for job in jobs:
            client.complete_job(job.key)
        client.create_instance("pay-then-ship", {"orderId": "last"})
        wait_for(lambda: len({_last_position(b.data_dir) for b in brokers}) == 1, timeout_s=30)

    # All stopped: the replicas' logs hold the same records where they overlap (a compacted
    # log starts later) and end at the same position; the states are equal.
    records = [_records(b.data_dir) for b in brokers]
    common = max(min(r) for r in records)
    assert len({max(r) for r in records}) == 1
    assert all(r[p] == records[0][p] for r in records for p in range(common, max(r) + 1)), "the logs differ"
    assert_replica_states_equal([b.data_dir for b in brokers], 1)
    # Each Raft journal holds about the entries since its last compaction, not the history.
    for broker in brokers:
        journal_bytes = (broker.data_dir / "partition-1" / "raft-journal").stat().st_size
        history_bytes = sum(len(payload) for payload in _records(broker.data_dir).values())
        print(f"node {broker.node_id}: Raft journal {journal_bytes} bytes, log {history_bytes} bytes of records")
        if leader_log == "whole":
            assert journal_bytes < history_bytes / 4


def _segments(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "partition-1" / "log").glob("*.log"))


def _first_position(partition_dir: Path) -> int:
    return int(sorted((partition_dir / "log").glob("*.log"))[0].stem)


def _last_position(data_dir: Path) -> int:
    """Of a log another process has open (read-only scan of its last segment). A segment
    without its header yet (being created, or its creation cut by a SIGKILL) holds no record:
    the one before it has the last."""
    for segment in reversed(_segments(data_dir)):
        try:
            return scan_segment(segment, int(segment.stem), 1 << 20).segment.last_position
        except DamagedHeader:
            continue
    raise AssertionError(f"no readable segment in {data_dir}")


def _records(data_dir: Path) -> dict[int, bytes]:
    with Log.open(data_dir / "partition-1" / "log") as log:
        return dict(log.reader(log.first_position))
