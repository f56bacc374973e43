"""The partition's command queue shares the partition between tenants."""

from __future__ import annotations

import threading
import time

from propolis.broker.command_queue import FairCommandQueue

from propolis.records import AUTHORIZED_TENANTS_FIELD, Record, RecordType, ValueType


def command(tenant: str, n: int = 0, on_key: bool = False) -> Record:
    value = {"n": n}
    if on_key:
        value[AUTHORIZED_TENANTS_FIELD] = [tenant]
        tenant = "<default>"
    return Record(RecordType.COMMAND, ValueType.PROCESS_INSTANCE_CREATION, 0, value=value, tenant_id=tenant)


def test_a_light_tenants_command_goes_into_the_next_batch_behind_a_flood() -> None:
    queue = FairCommandQueue(contended_batch_commands_max=8)
    for n in range(1_000):
        queue.put(command("flood", n))
    queue.put(command("light", 1))
    batch = queue.take(0.1, batch_commands_max=500)
    assert len(batch) == 8  # contended: a short batch
    assert [c.tenant_id for c in batch].count("light") == 1
    assert [c.value["n"] for c in batch if c.tenant_id == "flood"] == list(range(7))  # FIFO within a tenant


def test_one_tenant_alone_gets_full_batches_in_order() -> None:
    queue = FairCommandQueue(contended_batch_commands_max=8)
    for n in range(600):
        queue.put(command("only", n))
    assert [c.value["n"] for c in queue.take(0.1, 500)] == list(range(500))
    assert queue.qsize() == 100


def test_turns_alternate_between_waiting_tenants() -> None:
    queue = FairCommandQueue(contended_batch_commands_max=100)
    for n in range(3):
        queue.put(command("a", n))
        queue.put(command("b", n))
    queue.put(command("b", 3))
    assert [(c.tenant_id, c.value["n"]) for c in queue.take(0.1, 100)] == [
        ("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2), ("b", 3)]


def test_at_the_limit_a_tenant_under_its_share_still_gets_in_and_the_flood_does_not() -> None:
    queue = FairCommandQueue(contended_batch_commands_max=8)
    for _ in range(100):
        queue.put(command("flood"))
    assert not queue.within_share(command("flood"), limit=100)  # alone: the limit is its own
    assert queue.within_share(command("light"), limit=100)  # under its share of 100 / 2
    queue.put(command("light"))
    assert not queue.within_share(command("flood"), limit=100)
    # Commands on keys count for the tenants their callers may use.
    assert queue.waiting("light") == 1
    queue.put(command("light", on_key=True))
    assert queue.waiting("light") == 2


def test_without_fairness_it_is_one_fifo_with_one_limit() -> None:
    queue = FairCommandQueue(contended_batch_commands_max=2, fair=False)
    for n in range(10):
        queue.put(command("flood", n))
    assert not queue.within_share(command("light"), limit=10)
    assert [c.value["n"] for c in queue.take(0.1, 500)] == list(range(10))


def test_take_waits_for_the_first_command_and_gives_up_after_the_timeout() -> None:
    queue = FairCommandQueue(8)
    started = time.monotonic()
    assert queue.take(0.05, 10) == []
    assert time.monotonic() - started >= 0.04
    threading.Timer(0.05, lambda: queue.put(command("a"))).start()
    assert len(queue.take(2.0, 10)) == 1


def test_fairness_is_turned_off_by_environment(monkeypatch) -> None:
    from propolis.broker.config import BrokerConfig

    monkeypatch.setenv("PROPOLIS_TENANT_FAIRNESS", "false")
    assert BrokerConfig().tenant_fairness is False
    monkeypatch.setenv("PROPOLIS_TENANT_FAIRNESS", "true")
    assert BrokerConfig().tenant_fairness is True
