"""Adaptive backpressure: the AIMD limit itself, and a real partition that sheds new work
under overload while job completions always get in."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import pytest
from propolis.broker.backpressure import AimdLimiter, LimitSettings
from propolis.broker.client import BrokerOverloadedError
from propolis.broker.work_admission import WorkAdmission, WorkAdmissionSettings

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


def _admission(target_ms: float = 100.0) -> WorkAdmission:
    return WorkAdmission(WorkAdmissionSettings(job_wait_target_ms=target_ms, window_ms=500.0, new_work_rate_min_per_s=50.0))


def _offer_new_work(admission: WorkAdmission, per_s: float, from_s: float, to_s: float) -> tuple[int, int]:
    """New work arriving at `per_s`; returns (admitted, refused)."""
    admitted = refused = 0
    at = from_s
    while at < to_s:
        if admission.admits_new_work(at):
            admitted += 1
        else:
            refused += 1
        at += 1 / per_s
    return admitted, refused


def test_new_work_is_admitted_while_workers_take_jobs_quickly():
    admission = _admission()
    for i in range(100):
        now_s = i * 0.01
        admission.job_activatable(i, now_s)
        admission.job_activated(i, now_s + 0.02)
        assert admission.admits_new_work(now_s + 0.02)


def test_new_work_is_refused_while_jobs_wait_long_for_a_worker_and_admitted_once_the_backlog_is_gone():
    admission = _admission()
    for i in range(100):  # a backlog: created at once, activated one every 10 ms
        admission.job_activatable(i, 0.0)
    _offer_new_work(admission, 400, 0.0, 1.1)  # under a load well over the minimum rate
    for i in range(100):
        admission.job_activated(i, 0.1 + i * 0.01)
    assert admission.mean_job_wait_ms(1.1) > 100
    assert not admission.admits_new_work(1.1)
    # No job waits any more (nothing activated within the window): the gate opens again.
    assert admission.admits_new_work(1.7)


def test_light_new_work_is_never_refused_however_long_jobs_wait():
    admission = _admission()
    for i in range(100):
        admission.job_activatable(i, 0.0)
    for i in range(100):
        admission.job_activated(i, 1.0 + i * 0.01)
    assert admission.mean_job_wait_ms(2.0) > 100
    admitted, refused = _offer_new_work(admission, 40, 1.0, 2.0)
    assert refused == 0 and admitted >= 40


def test_jobs_nobody_takes_never_make_the_partition_refuse_new_work():
    admission = _admission()
    for i in range(1_000):
        admission.job_activatable(i, i * 0.01)
    assert admission.admits_new_work(60.0)
    assert admission.mean_job_wait_ms(60.0) is None


def test_a_job_that_ended_without_activation_gives_no_sample_and_a_job_made_activatable_again_waits_from_then():
    admission = _admission()
    admission.job_activatable(1, 0.0)
    admission.job_gone(1)
    admission.job_activated(1, 10.0)
    assert admission.mean_job_wait_ms(10.0) is None
    admission.job_activatable(2, 0.0)
    admission.job_activatable(2, 9.99)  # timed out and activatable again
    admission.job_activated(2, 10.0)
    assert admission.mean_job_wait_ms(10.0) == pytest.approx(10.0)


def test_the_tracked_jobs_are_bounded_by_forgetting_the_oldest():
    admission = WorkAdmission(WorkAdmissionSettings(tracked_jobs_max=10))
    for i in range(20):
        admission.job_activatable(i, 0.0)
    admission.job_activated(0, 5.0)  # forgotten: no sample
    assert admission.mean_job_wait_ms(5.0) is None
    admission.job_activated(19, 5.0)
    assert admission.mean_job_wait_ms(5.0) == pytest.approx(5000.0)


def test_a_target_of_zero_turns_the_gate_off():
    admission = _admission(target_ms=0)
    admission.job_activatable(1, 0.0)
    admission.job_activated(1, 100.0)
    assert admission.admits_new_work(100.0)


def test_a_partition_whose_jobs_wait_refuses_creations_but_takes_activations_and_completions(tmp_path: Path):
    harness = BrokerHarness(tmp_path / "data", backpressure_job_wait_target_ms=50, backpressure_new_work_rate_min_per_s=0).start()
    try:
        harness.deploy(("one.bpmn", models.one_task()))
        for _ in range(5):
            harness.create("one-task")
        time.sleep(0.3)  # the jobs wait for a worker longer than the target
        jobs = harness.activate("work")
        assert len(jobs) == 5
        partition = harness.broker.partition(1)
        creation = partition.submit(Record(RecordType.COMMAND, ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATE,
                                           value={"bpmnProcessId": "one-task", "version": -1, "variables": {}}))
        error = creation.exception(timeout=10)
        assert isinstance(error, BrokerOverloadedError) and "waited" in str(error)
        for job_key, _ in jobs:
            completion = partition.submit(Record(RecordType.COMMAND, ValueType.JOB, JobIntent.COMPLETE, key=job_key, value={"variables": {}}))
            assert completion.result(timeout=30).intent == JobIntent.COMPLETED
    finally:
        harness.close()
