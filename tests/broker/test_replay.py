"""State is a cache of the log: rebuilding it from the newest snapshot plus the log must give
exactly the state on disk."""

from __future__ import annotations

import time

from propolis.broker.recovery import compare_states, rebuild_from_snapshot_and_log
from propolis.broker.state.store import Store

from propolis.records import (
    JobIntent,
    MessageIntent,
    ProcessInstanceIntent,
    SignalIntent,
    ValueType,
)
from tests.broker import models
from tests.broker.harness import BrokerHarness


def run_mixed_workload(broker: BrokerHarness, instances: int) -> None:
    broker.deploy(("one.bpmn", models.one_task()), ("par.bpmn", models.parallel()), ("msg.bpmn", models.message_catch()),
                  ("sub.bpmn", models.sub_process()), ("timers.bpmn", models.timers(wait="PT0S", remind="R/PT0.05S")),
                  ("caller.bpmn", models.call_activity()), ("multi.bpmn", models.multi_instance()),
                  ("multi-seq.bpmn", models.multi_instance("multi-seq", sequential=True)),
                  ("events.bpmn", models.events()), ("starts.bpmn", models.event_starts()),
                  ("compensation.bpmn", models.compensation()))
    for n in range(instances):
        broker.create("sub-process", {"n": n})
        broker.create("caller", {"called": n})
        broker.create("multi", {"items": [n, n + 1, n + 2]})
        broker.create("multi-seq", {"items": [n, n + 1]})
        broker.create("timers", {"deadline": "PT0.2S" if n % 2 else "PT30S"})
        broker.create("one-task", {"n": n, "nested": {"list": [1, 2, n]}})
        broker.create("parallel")
        broker.create("message-catch", {"orderId": f"o-{n}"})
    for index, (job_key, _) in enumerate(broker.activate("work", max_jobs=instances)):
        if index % 3 == 0:
            broker.execute(ValueType.JOB, JobIntent.FAIL, {"retries": 0, "errorMessage": "boom"}, key=job_key)
        else:
            broker.complete(job_key, {"done": index})
    for job_key, _ in broker.activate("a", max_jobs=instances):
        broker.complete(job_key)
    for job_key, _ in broker.activate("inner", max_jobs=instances)[::2]:
        broker.complete(job_key, {"fromSub": True})
    for n in range(0, instances, 2):
        broker.execute(ValueType.MESSAGE, MessageIntent.PUBLISH, {"name": "payment-received", "correlationKey": f"o-{n}", "timeToLive": 60_000})
    for job_key, _ in broker.activate("per-item", max_jobs=4 * instances)[::2]:
        broker.complete(job_key)
    time.sleep(0.3)  # timers fire: catch events, interrupting and repeating boundary events
    for job_key, _ in broker.activate("timed-work", max_jobs=instances)[::3]:
        broker.complete(job_key)
    run_event_workload(broker, instances)
    created = broker.create("one-task")
    broker.execute(ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.CANCEL, key=created.value["processInstanceKey"])


def run_event_workload(broker: BrokerHarness, instances: int) -> None:
    """Boundary, gateway, event sub-process and start events (models.events, event_starts)."""
    for n in range(instances):
        broker.create("events", {"key": f"k-{n}"})
        broker.execute(ValueType.MESSAGE, MessageIntent.PUBLISH, {"name": "order", "correlationKey": f"k-{n % 3}", "variables": {"n": n}})
    for n in range(0, instances, 2):  # fires the boundary event and the event sub-process
        broker.execute(ValueType.MESSAGE, MessageIntent.PUBLISH, {"name": "nudge", "correlationKey": f"k-{n}", "timeToLive": 0})
    broker.execute(ValueType.SIGNAL, SignalIntent.BROADCAST, {"signalName": "tick", "variables": {}})
    work = broker.activate("ev-work", max_jobs=instances)
    for index, (job_key, _) in enumerate(work):
        if index % 5 == 0:
            broker.execute(ValueType.JOB, JobIntent.THROW_ERROR, {"errorCode": "bad", "errorMessage": "no"}, key=job_key)
        elif index % 5 == 1:
            continue  # the signal below stops it
        else:
            broker.complete(job_key)
    broker.execute(ValueType.SIGNAL, SignalIntent.BROADCAST, {"signalName": "stop", "variables": {}})
    for n in range(0, instances, 3):
        broker.execute(ValueType.MESSAGE, MessageIntent.PUBLISH, {"name": "go", "correlationKey": f"k-{n}", "timeToLive": 1_000})
    time.sleep(0.3)  # event-based gateways' timers and the timer start event fire
    for job_key, _ in broker.activate("ev-left", max_jobs=instances)[::2]:
        broker.complete(job_key)
    for job_key, _ in broker.activate("ev-right", max_jobs=instances):
        broker.complete(job_key)
    for _ in range(instances):
        broker.create("compensation")
    for _ in range(2):  # both tasks of each instance
        for job_key, _ in broker.activate("comp-work", max_jobs=instances):
            broker.complete(job_key)
    for job_key, _ in broker.activate("comp-undo", max_jobs=2 * instances)[::2]:
        broker.complete(job_key)  # half the handlers: some instances still wait for one


def test_state_rebuilt_from_the_log_equals_the_state_on_disk(tmp_path):
    broker = BrokerHarness(tmp_path / "data").start()
    run_mixed_workload(broker, 20)
    broker.close()
    live = Store(broker.partition_dir() / "state", 1 << 30)
    rebuilt = rebuild_from_snapshot_and_log(broker.partition_dir(), tmp_path / "rebuilt", 1)
    assert compare_states(live, rebuilt) == []


def test_state_rebuilt_from_a_snapshot_and_the_rest_of_the_log_equals_the_state_on_disk(tmp_path):
    broker = BrokerHarness(tmp_path / "data", log_segment_size_bytes_max=64 * 1024).start()
    run_mixed_workload(broker, 20)
    position = broker.broker.partition(1).take_snapshot()
    run_mixed_workload(broker, 10)
    broker.close()
    assert position > 0
    live = Store(broker.partition_dir() / "state", 1 << 30)
    rebuilt = rebuild_from_snapshot_and_log(broker.partition_dir(), tmp_path / "rebuilt", 1)
    assert compare_states(live, rebuilt) == []


def test_a_broker_whose_state_was_deleted_recovers_it_from_snapshot_and_log(tmp_path):
    import shutil

    broker = BrokerHarness(tmp_path / "data").start()
    broker.deploy(("one.bpmn", models.one_task()))
    broker.create("one-task", {"n": 1})
    broker.broker.partition(1).take_snapshot()
    broker.create("one-task", {"n": 2})
    broker.broker.close()
    shutil.rmtree(broker.partition_dir() / "state")
    broker.restart()
    jobs = broker.activate("work")
    assert sorted(job["variables"]["n"] for _, job in jobs) == [1, 2]
    broker.close()


def test_an_incomplete_batch_at_the_end_of_the_log_is_dropped_on_start(tmp_path):
    from propolis.records import Record, RecordType

    broker = BrokerHarness(tmp_path / "data").start()
    broker.deploy(("one.bpmn", models.one_task()))
    broker.broker.close()
    # Simulate a crash in the middle of writing a batch: a command and an event without the
    # batch's end mark.
    from propolis.log.segmented_log import Log

    log = Log.open(broker.partition_dir() / "log")
    last = log.last_position
    partial = [
        Record(RecordType.COMMAND, ValueType.JOB, JobIntent.COMPLETE, 1, {}, position=last + 1),
        Record(RecordType.EVENT, ValueType.JOB, JobIntent.COMPLETED, 1, {}, position=last + 2),
    ]
    log.append_batch([r.encode() for r in partial])
    log.flush()
    log.close()
    broker.restart()
    assert broker.broker.partition(1).log.last_position == last
    assert not broker.create("one-task").rejected
    broker.close()
