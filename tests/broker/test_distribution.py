"""Commands between partitions (processing/distribution.py) on a real three-partition broker:
taken once and in order although sent again, sent again until acknowledged (also after a
restart), and the message subscription protocol when a message's way to its instance is cut."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from propolis.broker.client import BrokerResponse

from propolis.records import (
    CommandDistributionIntent,
    DeploymentIntent,
    MessageIntent,
    MessageSubscriptionIntent,
    ProcessInstanceCreationIntent,
    ProcessInstanceIntent,
    Record,
    ValueType,
    partition_of_correlation_key,
)
from tests.broker import models
from tests.broker.harness import BrokerHarness

PARTITIONS = 3
WAIT_S = 5.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[BrokerHarness]:
    harness = BrokerHarness(tmp_path / "data", partition_count=PARTITIONS).start()
    yield harness
    harness.close()


def on(harness: BrokerHarness, partition_id: int, value_type: int, intent: int, value: dict[str, Any] | None = None, key: int = -1) -> BrokerResponse:
    call = harness.client.execute(partition_id, value_type, intent, value or {}, key)
    return harness.loop.run_until_complete(asyncio.wait_for(call, 10))


def create_on(harness: BrokerHarness, partition_id: int, process_id: str, variables: dict[str, Any] | None = None) -> BrokerResponse:
    return on(harness, partition_id, ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATE,
              {"bpmnProcessId": process_id, "version": -1, "variables": variables or {}})


def records(harness: BrokerHarness, partition_id: int) -> list[Record]:
    partition = harness.broker.partition(partition_id)
    return [Record.decode(payload) for _, payload in partition.log.reader(partition.log.first_position)]


def count(harness: BrokerHarness, partition_id: int, value_type: int, intent: int, record_type: int | None = None) -> int:
    return sum(
        1 for r in records(harness, partition_id)
        if r.value_type == value_type and r.intent == intent and (record_type is None or r.record_type == record_type)
    )


def eventually(check: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def cut(harness: BrokerHarness, *targets: int) -> Callable[[], None]:
    """Drop every command sent to `targets` until the returned function is called."""
    originals = {}
    blocked = set(targets)
    for partition_id in range(1, PARTITIONS + 1):
        partition = harness.broker.partition(partition_id)
        original = partition._transport
        originals[partition_id] = original

        def filtered(target: int, command: Record, original=original) -> None:
            if target not in blocked:
                original(target, command)

        partition._transport = filtered

    def restore() -> None:
        blocked.clear()

    return restore


def deployed_on(harness: BrokerHarness, partition_id: int, process_id: str) -> bool:
    return not create_on(harness, partition_id, process_id).rejected


def test_a_deployment_reaches_every_partition_with_the_same_key_and_version(cluster):
    deployment = cluster.deploy(("one.bpmn", models.one_task("dist-one")))
    [meta] = deployment.value["processesMetadata"]
    eventually(lambda: all(deployed_on(cluster, p, "dist-one") for p in (2, 3)))
    for partition_id in (2, 3):
        created = create_on(cluster, partition_id, "dist-one")
        assert created.value["processDefinitionKey"] == meta["processDefinitionKey"]
        assert created.value["version"] == meta["version"]


def test_a_lost_send_is_sent_again_until_acknowledged(cluster):
    restore = cut(cluster, 2)
    cluster.deploy(("one.bpmn", models.one_task("dist-lost")))
    eventually(lambda: deployed_on(cluster, 3, "dist-lost"))
    time.sleep(0.3)
    assert not deployed_on(cluster, 2, "dist-lost")
    restore()
    eventually(lambda: deployed_on(cluster, 2, "dist-lost"))
    # Once acknowledged, nothing is left to send.
    eventually(lambda: count(cluster, 1, ValueType.COMMAND_DISTRIBUTION, CommandDistributionIntent.ACKNOWLEDGED) == 2)


def test_unacknowledged_sends_are_sent_again_after_a_restart(cluster):
    cut(cluster, 2, 3)
    cluster.deploy(("one.bpmn", models.one_task("dist-restart")))
    time.sleep(0.3)
    assert not deployed_on(cluster, 2, "dist-restart")
    cluster.restart()  # the pending distributions are in partition 1's state
    eventually(lambda: deployed_on(cluster, 2, "dist-restart") and deployed_on(cluster, 3, "dist-restart"))


def test_a_command_sent_twice_is_taken_once_and_acknowledged_again(cluster):
    cluster.deploy(("one.bpmn", models.one_task("dist-twice")))
    eventually(lambda: count(cluster, 1, ValueType.COMMAND_DISTRIBUTION, CommandDistributionIntent.ACKNOWLEDGED) == 2)
    [sent] = [r for r in records(cluster, 2) if r.value_type == ValueType.DEPLOYMENT and r.intent == DeploymentIntent.DISTRIBUTE]
    acknowledgements = count(cluster, 1, ValueType.COMMAND_DISTRIBUTION, CommandDistributionIntent.ACKNOWLEDGE)
    partition = cluster.broker.partition(2)
    partition.submit_from_partition(Record.decode(sent.encode()))
    eventually(lambda: count(cluster, 1, ValueType.COMMAND_DISTRIBUTION, CommandDistributionIntent.ACKNOWLEDGE) == acknowledgements + 1)
    # A copy that skips ahead of what the sender sent is left for the resend: nothing happens.
    early = Record.decode(sent.encode())
    early.value["commandDistribution"]["sequence"] += 5
    partition.submit_from_partition(early)
    time.sleep(0.3)
    assert count(cluster, 2, ValueType.DEPLOYMENT, DeploymentIntent.DISTRIBUTED) == 1
    assert count(cluster, 1, ValueType.COMMAND_DISTRIBUTION, CommandDistributionIntent.ACKNOWLEDGE) == acknowledgements + 1


def completed(harness: BrokerHarness, partition_id: int, instance_key: int) -> bool:
    return any(
        r.key == instance_key and r.value_type == ValueType.PROCESS_INSTANCE and r.intent == ProcessInstanceIntent.ELEMENT_COMPLETED
        for r in records(harness, partition_id)
    )


def test_a_message_on_its_way_to_an_instance_that_left_goes_to_another_waiting_instance(cluster):
    cluster.deploy(("msg.bpmn", models.message_catch("dist-msg")))
    eventually(lambda: all(deployed_on(cluster, p, "dist-msg") for p in (2, 3)))
    order = next(f"o-{i}" for i in range(100) if partition_of_correlation_key(f"o-{i}", PARTITIONS) == 1)
    first = create_on(cluster, 2, "dist-msg", {"orderId": order}).key
    second = create_on(cluster, 3, "dist-msg", {"orderId": order}).key
    eventually(lambda: count(cluster, 1, ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CREATED) == 2)
    restore = cut(cluster, 2)
    # The message goes to the first subscription (partition 2's); the offer never arrives.
    published = on(cluster, 1, ValueType.MESSAGE, MessageIntent.PUBLISH, {"name": "payment-received", "correlationKey": order, "timeToLive": 60_000, "variables": {}})
    assert not published.rejected
    assert count(cluster, 1, ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CORRELATING) == 1
    # The first instance goes away: its subscription's DELETE frees the message for the second.
    assert not on(cluster, 2, ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.CANCEL, key=first).rejected
    eventually(lambda: completed(cluster, 3, second))
    restore()
    # The late offer reaches partition 2, which has no such subscription any more: it answers
    # REJECT, which changes nothing now.
    eventually(lambda: count(cluster, 1, ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.REJECT) == 1)
    assert count(cluster, 1, ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.REJECTED) == 0
    assert not completed(cluster, 2, first)
