"""The engine end to end through the broker's client seam: real log, real LMDB, real BPMN."""

from __future__ import annotations

import time

import pytest

from propolis.records import (
    IncidentIntent,
    JobIntent,
    MessageIntent,
    ProcessInstanceIntent,
    RejectionType,
    ValueType,
    VariableDocumentIntent,
)
from tests.broker import models
from tests.broker.harness import BrokerHarness


@pytest.fixture
def broker(tmp_path):
    harness = BrokerHarness(tmp_path / "data", scheduler_interval_ms=20).start()
    yield harness
    harness.close()


def completed_instances(broker: BrokerHarness, process_id: str) -> list[int]:
    return [
        r["key"]
        for r in broker.records()
        if r["valueType"] == "PROCESS_INSTANCE"
        and r["intent"] == "ELEMENT_COMPLETED"
        and r["value"]["bpmnElementType"] == "PROCESS"
        and r["value"]["bpmnProcessId"] == process_id
    ]


def incidents(broker: BrokerHarness) -> list[dict]:
    created = {r["key"]: r for r in broker.records() if r["valueType"] == "INCIDENT" and r["intent"] == "CREATED"}
    for r in broker.records():
        if r["valueType"] == "INCIDENT" and r["intent"] == "RESOLVED":
            created.pop(r["key"], None)
    return list(created.values())


def test_deploying_twice_the_same_content_returns_the_existing_version(broker):
    first = broker.deploy(("one.bpmn", models.one_task()))
    again = broker.deploy(("one.bpmn", models.one_task()))
    changed = broker.deploy(("one.bpmn", models.one_task(job_type="other")))
    meta = [r.value["processesMetadata"][0] for r in (first, again, changed)]
    assert [m["version"] for m in meta] == [1, 1, 2]
    assert meta[1]["isDuplicate"] and meta[0]["processDefinitionKey"] == meta[1]["processDefinitionKey"]
    assert meta[2]["processDefinitionKey"] != meta[0]["processDefinitionKey"]


def test_rejects_invalid_bpmn_naming_the_resource(broker):
    response = broker.deploy(("broken.bpmn", b"<bpmn:definitions"))
    assert response.rejection_type == RejectionType.INVALID_ARGUMENT
    assert "broken.bpmn" in response.rejection_reason


def test_rejects_creating_an_instance_of_an_unknown_process(broker):
    response = broker.create("nope")
    assert response.rejection_type == RejectionType.NOT_FOUND
    assert "'nope'" in response.rejection_reason


def test_start_to_end_completes_at_once(broker):
    broker.deploy(("se.bpmn", models.start_end()))
    created = broker.create("start-end")
    assert not created.rejected
    assert completed_instances(broker, "start-end") == [created.value["processInstanceKey"]]


def test_job_completion_completes_the_instance_and_merges_variables(broker):
    broker.deploy(("one.bpmn", models.one_task()))
    result_call = broker.client.execute(1, ValueType.PROCESS_INSTANCE_CREATION, 2, {"bpmnProcessId": "one-task", "variables": {"orderId": 7}})
    pending = broker.loop.create_task(result_call)
    broker.loop.run_until_complete(__import__("asyncio").sleep(0.05))
    [(job_key, job)] = broker.activate("work")
    assert job["variables"] == {"orderId": 7}
    assert job["customHeaders"] == {"k": "v"}
    assert job["elementId"] == "task" and job["retries"] == 3
    assert not broker.complete(job_key, {"charged": True}).rejected
    result = broker.loop.run_until_complete(pending)
    assert result.value["variables"] == {"orderId": 7, "charged": True}
    again = broker.complete(job_key)
    assert again.rejection_type == RejectionType.NOT_FOUND
    assert f"'{job_key}'" in again.rejection_reason


def test_fetch_variables_limits_what_a_job_carries(broker):
    broker.deploy(("one.bpmn", models.one_task()))
    broker.create("one-task", {"a": 1, "b": 2})
    [(_, job)] = broker.activate("work", fetch=["b", "missing"])
    assert job["variables"] == {"b": 2}


def test_failing_without_retries_raises_an_incident_that_resolving_retries(broker):
    broker.deploy(("one.bpmn", models.one_task()))
    broker.create("one-task")
    [(job_key, _)] = broker.activate("work")
    broker.execute(ValueType.JOB, JobIntent.FAIL, {"retries": 1, "errorMessage": "first"}, key=job_key)
    [(again_key, again)] = broker.activate("work")
    assert again_key == job_key and again["retries"] == 1
    broker.execute(ValueType.JOB, JobIntent.FAIL, {"retries": 0, "errorMessage": "card declined"}, key=job_key)
    assert broker.activate("work") == []
    [incident] = incidents(broker)
    assert incident["value"]["errorType"] == "JOB_NO_RETRIES"
    assert incident["value"]["errorMessage"] == "card declined"
    refused = broker.execute(ValueType.INCIDENT, IncidentIntent.RESOLVE, key=incident["key"])
    assert refused.rejection_type == RejectionType.INVALID_STATE
    broker.execute(ValueType.JOB, JobIntent.UPDATE_RETRIES, {"retries": 2}, key=job_key)
    assert not broker.execute(ValueType.INCIDENT, IncidentIntent.RESOLVE, key=incident["key"]).rejected
    [(key, job)] = broker.activate("work")
    assert key == job_key and job["retries"] == 2
    broker.complete(key)
    assert len(completed_instances(broker, "one-task")) == 1


def test_failed_job_with_backoff_comes_back_after_the_backoff(broker):
    broker.deploy(("one.bpmn", models.one_task()))
    broker.create("one-task")
    [(job_key, _)] = broker.activate("work")
    broker.execute(ValueType.JOB, JobIntent.FAIL, {"retries": 2, "retryBackoff": 300}, key=job_key)
    assert broker.activate("work") == []
    deadline = time.monotonic() + 5
    while not (jobs := broker.activate("work")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [key for key, _ in jobs] == [job_key]


def test_a_timed_out_job_can_be_activated_again(broker):
    broker.deploy(("one.bpmn", models.one_task()))
    broker.create("one-task")
    [(job_key, _)] = broker.activate("work", timeout_ms=100)
    deadline = time.monotonic() + 5
    while not (jobs := broker.activate("work")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [key for key, _ in jobs] == [job_key]
    assert any(r["intent"] == "TIMED_OUT" for r in broker.records() if r["valueType"] == "JOB")


def test_thrown_error_without_a_catch_raises_an_incident(broker):
    broker.deploy(("one.bpmn", models.one_task()))
    broker.create("one-task")
    [(job_key, _)] = broker.activate("work")
    broker.execute(ValueType.JOB, JobIntent.THROW_ERROR, {"errorCode": "NO_STOCK", "errorMessage": "empty"}, key=job_key)
    [incident] = incidents(broker)
    assert incident["value"]["errorType"] == "UNHANDLED_ERROR_EVENT"
    assert "NO_STOCK" in incident["value"]["errorMessage"]


def test_exclusive_gateway_takes_the_matching_flow_or_the_default(broker):
    broker.deploy(("ex.bpmn", models.exclusive()))
    broker.create("exclusive", {"amount": 500})
    broker.create("exclusive", {"amount": 5})
    assert len(broker.activate("big")) == 1
    assert len(broker.activate("small")) == 1


def test_exclusive_gateway_without_a_match_raises_an_incident_resolved_after_fixing_variables(broker):
    broker.deploy(("ex.bpmn", models.exclusive_without_default()))
    created = broker.create("exclusive-strict", {"x": 3})
    [incident] = incidents(broker)
    assert incident["value"]["errorType"] == "CONDITION_ERROR"
    assert incident["value"]["elementId"] == "gw"
    pi_key = created.value["processInstanceKey"]
    update = broker.execute(ValueType.VARIABLE_DOCUMENT, VariableDocumentIntent.UPDATE, {"scopeKey": pi_key, "variables": {"x": 2}, "updateSemantics": "PROPAGATE"})
    assert not update.rejected
    broker.execute(ValueType.INCIDENT, IncidentIntent.RESOLVE, key=incident["key"])
    assert completed_instances(broker, "exclusive-strict") == [pi_key]
    taken = [r["value"]["elementId"] for r in broker.records() if r["intent"] == "SEQUENCE_FLOW_TAKEN"]
    assert "to-b" in taken


def test_parallel_join_waits_for_every_branch(broker):
    broker.deploy(("par.bpmn", models.parallel()))
    broker.create("parallel")
    [(a_key, _)] = broker.activate("a")
    [(b_key, _)] = broker.activate("b")
    broker.complete(a_key)
    assert completed_instances(broker, "parallel") == []
    broker.complete(b_key)
    assert len(completed_instances(broker, "parallel")) == 1


@pytest.mark.parametrize("receive_task", [False, True])
def test_message_published_before_or_after_correlates_once(broker, receive_task):
    broker.deploy(("msg.bpmn", models.message_catch(receive_task=receive_task)))
    broker.execute(ValueType.MESSAGE, MessageIntent.PUBLISH, {"name": "payment-received", "correlationKey": "order-1", "timeToLive": 60_000, "variables": {"paid": 10}})
    first = broker.create("message-catch", {"orderId": "order-1"}).value["processInstanceKey"]
    second = broker.create("message-catch", {"orderId": "order-1"}).value["processInstanceKey"]
    assert completed_instances(broker, "message-catch") == [first]
    broker.execute(ValueType.MESSAGE, MessageIntent.PUBLISH, {"name": "payment-received", "correlationKey": "order-1", "timeToLive": 0})
    assert completed_instances(broker, "message-catch") == [first, second]


def test_message_ids_are_unique_while_buffered_and_messages_expire(broker):
    publish = {"name": "payment-received", "correlationKey": "k", "timeToLive": 200, "messageId": "m-1"}
    assert not broker.execute(ValueType.MESSAGE, MessageIntent.PUBLISH, publish).rejected
    duplicate = broker.execute(ValueType.MESSAGE, MessageIntent.PUBLISH, publish)
    assert duplicate.rejection_type == RejectionType.ALREADY_EXISTS
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(r["intent"] == "EXPIRED" for r in broker.records()):
        time.sleep(0.05)
    broker.deploy(("msg.bpmn", models.message_catch()))
    broker.create("message-catch", {"orderId": "k"})
    assert completed_instances(broker, "message-catch") == []
    assert not broker.execute(ValueType.MESSAGE, MessageIntent.PUBLISH, publish).rejected


def test_cancel_terminates_the_instance_and_its_job(broker):
    broker.deploy(("one.bpmn", models.one_task()))
    pi_key = broker.create("one-task").value["processInstanceKey"]
    cancel = broker.execute(ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.CANCEL, key=pi_key)
    assert not cancel.rejected
    assert broker.activate("work") == []
    again = broker.execute(ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.CANCEL, key=pi_key)
    assert again.rejection_type == RejectionType.NOT_FOUND
    assert any(r["intent"] == "CANCELED" for r in broker.records() if r["valueType"] == "JOB")


def test_local_variables_stay_in_their_scope_and_propagated_ones_reach_the_defining_scope(broker):
    broker.deploy(("one.bpmn", models.one_task()))
    pi_key = broker.create("one-task", {"shared": 1}).value["processInstanceKey"]
    [(job_key, job)] = broker.activate("work")
    task_key = job["elementInstanceKey"]
    broker.execute(ValueType.VARIABLE_DOCUMENT, VariableDocumentIntent.UPDATE, {"scopeKey": task_key, "variables": {"local": 1}, "updateSemantics": "LOCAL"})
    broker.execute(ValueType.VARIABLE_DOCUMENT, VariableDocumentIntent.UPDATE, {"scopeKey": task_key, "variables": {"shared": 2, "fresh": 3}, "updateSemantics": "PROPAGATE"})
    variables = [r for r in broker.records() if r["valueType"] == "VARIABLE"]
    scopes = {(r["value"]["name"], r["value"]["value"]): r["value"]["scopeKey"] for r in variables}
    assert scopes[("local", 1)] == task_key
    assert scopes[("shared", 2)] == pi_key
    assert scopes[("fresh", 3)] == pi_key
    missing = broker.execute(ValueType.VARIABLE_DOCUMENT, VariableDocumentIntent.UPDATE, {"scopeKey": 12345, "variables": {}})
    assert missing.rejection_type == RejectionType.NOT_FOUND


def test_input_and_output_mappings_shape_what_the_task_sees_and_returns(broker):
    broker.deploy(("io.bpmn", models.io_mapping()))
    broker.create("io-mapping", {"order": {"total": 21}})
    [(job_key, job)] = broker.activate("io")
    assert job["variables"]["doubled"] == 42
    broker.complete(job_key, {"result": 1})
    root_vars = {
        r["value"]["name"]: r["value"]["value"]
        for r in broker.records()
        if r["valueType"] == "VARIABLE" and r["value"]["scopeKey"] == job["processInstanceKey"]
    }
    assert root_vars["finalResult"] == 2
    assert "result" not in root_vars and "doubled" not in root_vars


def test_state_survives_a_restart(broker):
    broker.deploy(("one.bpmn", models.one_task()))
    broker.create("one-task", {"n": 1})
    broker.restart()
    [(job_key, job)] = broker.activate("work")
    assert job["variables"] == {"n": 1}
    broker.complete(job_key)
    created = broker.create("one-task")
    assert not created.rejected


def test_sub_processes_complete_and_a_terminate_end_event_cuts_only_its_own_scope(broker):
    broker.deploy(("sub.bpmn", models.sub_process()))
    created = broker.create("sub-process")
    [(job_key, job)] = broker.activate("inner")
    assert job["variables"]["local"] == 1
    assert broker.activate("never") == []  # the terminate end event ended it at once
    broker.complete(job_key, {"fromSub": True})
    assert completed_instances(broker, "sub-process") == [created.value["processInstanceKey"]]
    ended = [r for r in broker.records() if r["intent"] in ("ELEMENT_COMPLETED", "ELEMENT_TERMINATED")]
    assert [r["value"]["elementId"] for r in ended if r["intent"] == "ELEMENT_TERMINATED"] == ["never"]


def wait_for_jobs(broker: BrokerHarness, job_type: str, count: int, timeout_s: float = 10) -> list:
    found: list = []
    deadline = time.monotonic() + timeout_s
    while len(found) < count and time.monotonic() < deadline:
        found += broker.activate(job_type)
        time.sleep(0.05)
    return found


def test_timers_fire_and_boundary_timers_interrupt_or_repeat(broker):
    broker.deploy(("timers.bpmn", models.timers()))
    created = broker.create("timers", {"deadline": "PT1.5S"})
    [(job_key, _)] = wait_for_jobs(broker, "timed-work", 1)
    # The repeating non-interrupting timer fired twice, and the task is still there.
    reminders = wait_for_jobs(broker, "remind", 2)
    assert len(reminders) == 2
    [(late_key, _)] = wait_for_jobs(broker, "late", 1)
    # The interrupting deadline ended the task: its job is gone.
    assert broker.complete(job_key).rejection_type == RejectionType.NOT_FOUND
    for key, _ in reminders + [(late_key, None)]:
        broker.complete(key)
    assert completed_instances(broker, "timers") == [created.value["processInstanceKey"]]
    timer_intents = [r["intent"] for r in broker.records() if r["valueType"] == "TIMER" and r["recordType"] == "EVENT"]
    assert timer_intents.count("CREATED") == 4 and timer_intents.count("TRIGGERED") == 4


def test_a_completed_task_cancels_its_boundary_timers(broker):
    broker.deploy(("timers.bpmn", models.timers(remind="R/PT10S")))
    broker.create("timers", {"deadline": "PT10S"})
    [(job_key, _)] = wait_for_jobs(broker, "timed-work", 1)
    broker.complete(job_key)
    canceled = [r for r in broker.records() if r["valueType"] == "TIMER" and r["intent"] == "CANCELED"]
    assert sorted(r["value"]["targetElementId"] for r in canceled) == ["deadline", "remind"]
    assert broker.broker.partition(1).state is not None


def test_a_timer_due_while_the_broker_was_down_fires_after_the_restart(broker):
    broker.deploy(("timers.bpmn", models.timers(wait="PT0.5S")))
    broker.create("timers", {"deadline": "PT10S"})
    broker.broker.close()
    time.sleep(0.7)
    broker.restart()
    assert len(wait_for_jobs(broker, "timed-work", 1)) == 1


def test_a_timer_expression_that_is_not_a_duration_raises_an_incident(broker):
    broker.deploy(("timers.bpmn", models.timers()))
    broker.create("timers", {"deadline": "soon"})
    deadline = time.monotonic() + 10
    while not incidents(broker) and time.monotonic() < deadline:
        time.sleep(0.05)
    [incident] = incidents(broker)
    assert incident["value"]["elementId"] == "task"
    assert "timeDuration of element 'deadline'" in incident["value"]["errorMessage"] and "'soon'" in incident["value"]["errorMessage"]
