"""Adaptive backpressure: the AIMD limit itself, and a real partition that sheds new work
under overload while job completions always get in."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

from propolis.broker.backpressure import AimdLimiter, LimitSettings
from propolis.broker.client import BrokerOverloadedError

from propolis.records import JobIntent, ProcessInstanceCreationIntent, Record, RecordType, ValueType
from tests.broker import models
from tests.broker.harness import BrokerHarness


def test_slow_commands_shrink_the_limit_down_to_its_minimum():
    limiter = AimdLimiter(LimitSettings(initial=100, minimum=10, maximum=1000, latency_target_ms=20))
    for _ in range(100):
        assert limiter.try_acquire()
        limiter.release(0.5)
    assert limiter.limit == 10


def test_quick_commands_raise_the_limit_only_while_the_partition_is_busy():
    limiter = AimdLimiter(LimitSettings(initial=10, minimum=1, maximum=1000, latency_target_ms=20))
    for _ in range(50):  # one at a time: never busy
        limiter.try_acquire()
        limiter.release(0.001)
    assert limiter.limit == 10
    for _ in range(10):
        limiter.try_acquire()
    for _ in range(10):
        limiter.release(0.001)
    assert limiter.limit > 10


def test_over_the_limit_new_work_is_refused_but_work_that_finishes_jobs_is_not():
    limiter = AimdLimiter(LimitSettings(initial=2, minimum=1, maximum=10))
    assert limiter.try_acquire() and limiter.try_acquire()
    assert not limiter.try_acquire()
    assert limiter.try_acquire(sheddable=False)
    assert limiter.in_flight == 3


def test_an_overloaded_partition_refuses_creations_at_once_and_still_takes_job_completions(tmp_path: Path):
    harness = BrokerHarness(tmp_path / "data", backpressure_limit_initial=20, backpressure_limit_min=20).start()
    try:
        harness.deploy(("one.bpmn", models.one_task()))
        harness.create("one-task")
        [(job_key, _)] = harness.activate("work")
        partition = harness.broker.partition(1)
        creations = [
            partition.submit(Record(RecordType.COMMAND, ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATE,
                                    value={"bpmnProcessId": "one-task", "version": -1, "variables": {}}))
            for _ in range(2_000)
        ]
        completion = partition.submit(Record(RecordType.COMMAND, ValueType.JOB, JobIntent.COMPLETE, key=job_key, value={"variables": {}}))
        assert completion.result(timeout=30).intent == JobIntent.COMPLETED
        refused = [f for f in creations if f.done() and isinstance(f.exception(timeout=0), BrokerOverloadedError)]
        assert refused, "2,000 creations at once over a limit of 20 were all taken"
        concurrent.futures.wait(creations, timeout=60)
        assert all(f.done() for f in creations)
    finally:
        harness.close()
