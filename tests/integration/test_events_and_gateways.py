"""Message, signal, timer and escalation events, event-based and inclusive gateways, and event
sub-processes, end to end: models deployed through the gateway of a real `propolis dev`,
driven by the project's gRPC client. Each test watches what a user would: which jobs appear
(with which variables), which do not, and how the instance ends."""

from __future__ import annotations

import time

import pytest
from propolis.clients.client import Job, PropolisClient
from propolis.clients.errors import GatewayError

from tests.integration.test_tasks_and_subprocesses import flows, job_task, model, open_incidents


@pytest.fixture(scope="module")
def client(propolis_dev_module) -> PropolisClient:
    with PropolisClient(propolis_dev_module.address) as client:
        yield client


def one_job(client: PropolisClient, job_type: str, timeout_ms: int = 8_000) -> Job:
    jobs = client.activate_jobs(job_type, request_timeout_ms=timeout_ms)
    assert len(jobs) == 1, f"expected one job of type {job_type}, got {len(jobs)}"
    return jobs[0]


def no_job(client: PropolisClient, job_type: str, wait_ms: int = 300) -> None:
    assert client.activate_jobs(job_type, request_timeout_ms=wait_ms) == []


def message(message_id: str, name: str, key: str = "=orderId") -> str:
    return (
        f'<bpmn:message id="{message_id}" name="{name}"><bpmn:extensionElements>'
        f'<zeebe:subscription correlationKey="{key}" /></bpmn:extensionElements></bpmn:message>\n'
    )


def service(task_id: str, job_type: str) -> str:
    return job_task("serviceTask", task_id, job_type)


def test_an_interrupting_message_boundary_event_cancels_the_task_and_takes_its_path(client):
    client.deploy(model(
        "mb-interrupt",
        '<bpmn:startEvent id="s" />' + service("work", "mb-work")
        + '<bpmn:boundaryEvent id="cancelled" attachedToRef="work"><bpmn:messageEventDefinition messageRef="M" /></bpmn:boundaryEvent>'
        + service("undo", "mb-undo") + '<bpmn:endEvent id="e1" /><bpmn:endEvent id="e2" />'
        + flows(("s", "work"), ("work", "e1"), ("cancelled", "undo"), ("undo", "e2")),
        message("M", "order-cancelled"),
    ))
    client.create_instance("mb-interrupt", {"orderId": "o-1"})
    work = one_job(client, "mb-work")
    client.publish_message("order-cancelled", "o-1", {"reason": "customer"})
    undo = one_job(client, "mb-undo")
    assert undo.variables["reason"] == "customer"
    with pytest.raises(GatewayError) as gone:
        client.complete_job(work.key)
    assert gone.value.status == "NOT_FOUND"


def test_a_non_interrupting_message_boundary_event_fires_each_time_and_the_task_goes_on(client):
    client.deploy(model(
        "mb-keep",
        '<bpmn:startEvent id="s" />' + service("work", "mbk-work")
        + '<bpmn:boundaryEvent id="nudge" attachedToRef="work" cancelActivity="false"><bpmn:messageEventDefinition messageRef="M" /></bpmn:boundaryEvent>'
        + service("notify", "mbk-notify") + service("after", "mbk-after") + '<bpmn:endEvent id="e1" /><bpmn:endEvent id="e2" />'
        + flows(("s", "work"), ("work", "after"), ("after", "e1"), ("nudge", "notify"), ("notify", "e2")),
        message("M", "nudge"),
    ))
    client.create_instance("mb-keep", {"orderId": "o-2"})
    work = one_job(client, "mbk-work")
    # Each message's variables reach the instance (as in Zeebe), so read each job before the next.
    client.publish_message("nudge", "o-2", {"n": 1})
    assert one_job(client, "mbk-notify").variables["n"] == 1
    client.publish_message("nudge", "o-2", {"n": 2})
    assert one_job(client, "mbk-notify").variables["n"] == 2
    client.complete_job(work.key)
    one_job(client, "mbk-after")


def test_an_event_based_gateway_takes_the_path_of_the_first_event(client):
    client.deploy(model(
        "ebg",
        '<bpmn:startEvent id="s" /><bpmn:eventBasedGateway id="g" />'
        '<bpmn:intermediateCatchEvent id="paid"><bpmn:messageEventDefinition messageRef="M" /></bpmn:intermediateCatchEvent>'
        '<bpmn:intermediateCatchEvent id="late"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>'
        + service("ship", "ebg-ship") + service("remind", "ebg-remind") + '<bpmn:endEvent id="e1" /><bpmn:endEvent id="e2" />'
        + flows(("s", "g"), ("g", "paid"), ("g", "late"), ("paid", "ship"), ("late", "remind"), ("ship", "e1"), ("remind", "e2")),
        message("M", "payment"),
    ))
    client.create_instance("ebg", {"orderId": "o-3"})
    client.publish_message("payment", "o-3", {"amount": 10})
    ship = one_job(client, "ebg-ship")
    assert ship.variables["amount"] == 10
    client.create_instance("ebg", {"orderId": "o-4"})  # nobody pays: the timer wins
    remind = one_job(client, "ebg-remind")
    assert remind.variables["orderId"] == "o-4"
    no_job(client, "ebg-remind", wait_ms=1_500)  # the first instance's timer was cancelled
    no_job(client, "ebg-ship")


def test_a_message_start_event_starts_one_instance_per_correlation_key_at_a_time(client):
    client.deploy(model(
        "msg-start",
        '<bpmn:startEvent id="s"><bpmn:messageEventDefinition messageRef="M" /></bpmn:startEvent>'
        + service("handle", "ms-handle") + '<bpmn:endEvent id="e" />' + flows(("s", "handle"), ("handle", "e")),
        '<bpmn:message id="M" name="order-placed" />\n',
    ))
    client.publish_message("order-placed", "k-1", {"item": "book"})
    first = one_job(client, "ms-handle")
    assert first.variables == {"item": "book"} and first.process_id == "msg-start"
    client.publish_message("order-placed", "k-1", {"item": "again"})  # k-1's instance is active
    no_job(client, "ms-handle")
    client.publish_message("order-placed", "k-2", {"item": "pen"})
    assert one_job(client, "ms-handle").variables == {"item": "pen"}
    client.complete_job(first.key)
    time.sleep(0.2)
    client.publish_message("order-placed", "k-1", {"item": "later"})
    assert one_job(client, "ms-handle").variables == {"item": "later"}


def test_a_process_with_only_a_message_start_event_cannot_be_created_directly(client):
    client.deploy(model(
        "msg-only",
        '<bpmn:startEvent id="s"><bpmn:messageEventDefinition messageRef="M" /></bpmn:startEvent><bpmn:endEvent id="e" />' + flows(("s", "e")),
        '<bpmn:message id="M" name="only-by-message" />\n',
    ))
    with pytest.raises(GatewayError) as refused:
        client.create_instance("msg-only")
    assert "none start event" in refused.value.message


def test_a_timer_start_event_creates_instances_on_its_cycle(client):
    client.deploy(model(
        "timer-start",
        '<bpmn:startEvent id="tick"><bpmn:timerEventDefinition><bpmn:timeCycle>R2/PT0.5S</bpmn:timeCycle>'
        "</bpmn:timerEventDefinition></bpmn:startEvent>" + service("t", "ts-work") + '<bpmn:endEvent id="e" />' + flows(("tick", "t"), ("t", "e")),
    ))
    jobs: list[Job] = []
    deadline = time.monotonic() + 10
    while len(jobs) < 2 and time.monotonic() < deadline:
        jobs += client.activate_jobs("ts-work", max_jobs=5, request_timeout_ms=2_000)
    assert len(jobs) == 2 and len({j.process_instance_key for j in jobs}) == 2
    no_job(client, "ts-work", wait_ms=1_200)  # R2: two repetitions only


def test_a_new_version_replaces_the_timer_start_event_of_the_one_before(client):
    unbounded = (
        '<bpmn:startEvent id="tick"><bpmn:timerEventDefinition><bpmn:timeCycle>R/PT0.3S</bpmn:timeCycle>'
        "</bpmn:timerEventDefinition></bpmn:startEvent>" + service("t", "tr-work") + '<bpmn:endEvent id="e" />' + flows(("tick", "t"), ("t", "e"))
    )
    client.deploy(model("timer-replaced", unbounded))
    one_job(client, "tr-work")
    client.deploy(model("timer-replaced", '<bpmn:startEvent id="tick" />' + service("t", "tr-work") + '<bpmn:endEvent id="e" />' + flows(("tick", "t"), ("t", "e"))))
    time.sleep(0.4)
    while client.activate_jobs("tr-work", max_jobs=50, request_timeout_ms=100):
        pass  # instances started before the new version was deployed
    no_job(client, "tr-work", wait_ms=1_500)


def test_signals_start_processes_and_reach_waiting_catch_and_boundary_events(client):
    client.deploy(model(
        "sig-start",
        '<bpmn:startEvent id="s"><bpmn:signalEventDefinition signalRef="S" /></bpmn:startEvent>'
        + service("t", "sig-started") + '<bpmn:endEvent id="e" />' + flows(("s", "t"), ("t", "e")),
        '<bpmn:signal id="S" name="stock-arrived" />\n',
    ))
    client.deploy(model(
        "sig-wait",
        '<bpmn:startEvent id="s" /><bpmn:intermediateCatchEvent id="wait"><bpmn:signalEventDefinition signalRef="S" /></bpmn:intermediateCatchEvent>'
        + service("t", "sig-waited") + '<bpmn:endEvent id="e" />' + flows(("s", "wait"), ("wait", "t"), ("t", "e")),
        '<bpmn:signal id="S" name="stock-arrived" />\n',
    ))
    client.deploy(model(
        "sig-boundary",
        '<bpmn:startEvent id="s" />' + service("work", "sig-long")
        + '<bpmn:boundaryEvent id="stop" attachedToRef="work"><bpmn:signalEventDefinition signalRef="S" /></bpmn:boundaryEvent>'
        + service("t", "sig-stopped") + '<bpmn:endEvent id="e1" /><bpmn:endEvent id="e2" />'
        + flows(("s", "work"), ("work", "e1"), ("stop", "t"), ("t", "e2")),
        '<bpmn:signal id="S" name="stock-arrived" />\n',
    ))
    client.create_instance("sig-wait")
    client.create_instance("sig-boundary")
    long_job = one_job(client, "sig-long")
    client.broadcast_signal("stock-arrived", {"sku": "A-1"})
    for job_type in ("sig-started", "sig-waited", "sig-stopped"):
        assert one_job(client, job_type).variables["sku"] == "A-1", job_type
    with pytest.raises(GatewayError):
        client.complete_job(long_job.key)
    client.broadcast_signal("stock-arrived")  # the waiting instances are gone: only a new start
    one_job(client, "sig-started")
    no_job(client, "sig-waited")


def test_a_signal_end_event_of_one_process_resumes_another(client):
    client.deploy(model(
        "sig-thrower",
        '<bpmn:startEvent id="s" /><bpmn:endEvent id="done"><bpmn:signalEventDefinition signalRef="S" /></bpmn:endEvent>' + flows(("s", "done")),
        '<bpmn:signal id="S" name="batch-done" />\n',
    ))
    client.deploy(model(
        "sig-listener",
        '<bpmn:startEvent id="s" /><bpmn:intermediateCatchEvent id="wait"><bpmn:signalEventDefinition signalRef="S" /></bpmn:intermediateCatchEvent>'
        + service("t", "sig-listened") + '<bpmn:endEvent id="e" />' + flows(("s", "wait"), ("wait", "t"), ("t", "e")),
        '<bpmn:signal id="S" name="batch-done" />\n',
    ))
    listener = client.create_instance("sig-listener")
    client.create_instance_with_result("sig-thrower")
    assert one_job(client, "sig-listened").process_instance_key == listener.key


INCLUSIVE = (
    '<bpmn:startEvent id="s" /><bpmn:inclusiveGateway id="fork" default="f-fork-c" />'
    + service("a", "inc-a") + service("b", "inc-b") + service("c", "inc-c")
    + '<bpmn:inclusiveGateway id="join" />' + service("after", "inc-joined") + '<bpmn:endEvent id="e" />'
    '<bpmn:sequenceFlow id="f-fork-a" sourceRef="fork" targetRef="a"><bpmn:conditionExpression>=wantA</bpmn:conditionExpression></bpmn:sequenceFlow>'
    '<bpmn:sequenceFlow id="f-fork-b" sourceRef="fork" targetRef="b"><bpmn:conditionExpression>=wantB</bpmn:conditionExpression></bpmn:sequenceFlow>'
    '<bpmn:sequenceFlow id="f-fork-c" sourceRef="fork" targetRef="c" />'
    + flows(("s", "fork"), ("a", "join"), ("b", "join"), ("c", "join"), ("join", "after"), ("after", "e"))
)


def test_an_inclusive_gateway_takes_every_true_flow_and_its_join_waits_only_for_those(client):
    client.deploy(model("inclusive", INCLUSIVE))
    client.create_instance("inclusive", {"wantA": True, "wantB": True})
    a, b = one_job(client, "inc-a"), one_job(client, "inc-b")
    no_job(client, "inc-c")
    client.complete_job(a.key)
    no_job(client, "inc-joined")  # b can still arrive
    client.complete_job(b.key)
    joined = one_job(client, "inc-joined")
    client.complete_job(joined.key)

    client.create_instance("inclusive", {"wantA": True, "wantB": False})
    client.complete_job(one_job(client, "inc-a").key)
    one_job(client, "inc-joined")  # nothing else can arrive: the join goes on at once
    no_job(client, "inc-b")

    client.create_instance("inclusive", {"wantA": False, "wantB": False})
    client.complete_job(one_job(client, "inc-c").key)  # no condition true: the default flow
    one_job(client, "inc-joined")


def test_escalations_are_caught_by_boundary_events_and_uncaught_ones_let_the_process_go_on(client, propolis_dev_module):
    escalation = '<bpmn:escalation id="Esc" name="Esc" escalationCode="late" />\n'
    client.deploy(model(
        "escalate",
        '<bpmn:startEvent id="s" /><bpmn:subProcess id="sub"><bpmn:startEvent id="ss" />'
        '<bpmn:intermediateThrowEvent id="raise"><bpmn:escalationEventDefinition escalationRef="Esc" /></bpmn:intermediateThrowEvent>'
        + service("inner", "esc-inner") + '<bpmn:endEvent id="se" />' + flows(("ss", "raise"), ("raise", "inner"), ("inner", "se"))
        + "</bpmn:subProcess>"
        '<bpmn:boundaryEvent id="noticed" attachedToRef="sub" cancelActivity="false"><bpmn:escalationEventDefinition escalationRef="Esc" /></bpmn:boundaryEvent>'
        + service("manager", "esc-manager") + '<bpmn:endEvent id="e1" /><bpmn:endEvent id="e2" />'
        + flows(("s", "sub"), ("sub", "e1"), ("noticed", "manager"), ("manager", "e2")),
        escalation,
    ))
    client.create_instance("escalate")
    one_job(client, "esc-manager")
    one_job(client, "esc-inner")  # non-interrupting: the sub-process went on
    client.deploy(model(
        "escalate-uncaught",
        '<bpmn:startEvent id="s" /><bpmn:intermediateThrowEvent id="raise"><bpmn:escalationEventDefinition escalationRef="Esc" /></bpmn:intermediateThrowEvent>'
        '<bpmn:endEvent id="e" />' + flows(("s", "raise"), ("raise", "e")),
        escalation,
    ))
    assert client.create_instance_with_result("escalate-uncaught", {"x": 1}).variables == {"x": 1}


def test_an_escalation_end_event_caught_by_an_interrupting_boundary_ends_the_sub_process(client):
    client.deploy(model(
        "escalate-end",
        '<bpmn:startEvent id="s" /><bpmn:subProcess id="sub"><bpmn:startEvent id="ss" />'
        '<bpmn:endEvent id="raise"><bpmn:escalationEventDefinition escalationRef="Esc" /></bpmn:endEvent>' + flows(("ss", "raise"))
        + "</bpmn:subProcess>"
        '<bpmn:boundaryEvent id="caught" attachedToRef="sub"><bpmn:escalationEventDefinition /></bpmn:boundaryEvent>'
        '<bpmn:endEvent id="normal" /><bpmn:endEvent id="escalated" />'
        + flows(("s", "sub"), ("sub", "normal"), ("caught", "escalated")),
        '<bpmn:escalation id="Esc" name="Esc" escalationCode="too-big" />\n',
    ))
    result = client.create_instance_with_result("escalate-end", {"size": 9})
    assert result.variables == {"size": 9}


def test_an_interrupting_message_event_sub_process_ends_the_other_tokens_of_its_scope(client):
    client.deploy(model(
        "evsub-msg",
        '<bpmn:startEvent id="s" />' + service("main", "evm-main") + '<bpmn:endEvent id="e" />' + flows(("s", "main"), ("main", "e"))
        + '<bpmn:subProcess id="onCancel" triggeredByEvent="true">'
        '<bpmn:startEvent id="cs"><bpmn:messageEventDefinition messageRef="M" /></bpmn:startEvent>'
        + service("cleanup", "evm-cleanup") + '<bpmn:endEvent id="ce" />' + flows(("cs", "cleanup"), ("cleanup", "ce"))
        + "</bpmn:subProcess>",
        message("M", "cancel-request"),
    ))
    client.create_instance("evsub-msg", {"orderId": "o-9"})
    main = one_job(client, "evm-main")
    client.publish_message("cancel-request", "o-9", {"why": "fraud"})
    cleanup = one_job(client, "evm-cleanup")
    assert cleanup.variables["why"] == "fraud"
    with pytest.raises(GatewayError):
        client.complete_job(main.key)
    client.complete_job(cleanup.key)


def test_a_non_interrupting_timer_event_sub_process_runs_beside_the_main_path(client):
    client.deploy(model(
        "evsub-timer",
        '<bpmn:startEvent id="s" />' + service("main", "evt-main") + '<bpmn:endEvent id="e" />' + flows(("s", "main"), ("main", "e"))
        + '<bpmn:subProcess id="reminder" triggeredByEvent="true">'
        '<bpmn:startEvent id="ts" isInterrupting="false"><bpmn:timerEventDefinition><bpmn:timeDuration>PT0.5S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:startEvent>'
        + service("remind", "evt-remind") + '<bpmn:endEvent id="te" />' + flows(("ts", "remind"), ("remind", "te"))
        + "</bpmn:subProcess>",
    ))
    client.create_instance("evsub-timer")
    main = one_job(client, "evt-main")
    remind = one_job(client, "evt-remind")
    client.complete_job(remind.key)
    client.complete_job(main.key)  # the main path was not interrupted


def test_an_error_event_sub_process_catches_a_job_error_with_its_code(client):
    client.deploy(model(
        "evsub-error",
        '<bpmn:startEvent id="s" />' + service("charge", "eve-charge") + '<bpmn:endEvent id="e" />' + flows(("s", "charge"), ("charge", "e"))
        + '<bpmn:subProcess id="onError" triggeredByEvent="true">'
        '<bpmn:startEvent id="es"><bpmn:errorEventDefinition errorRef="Err" /><bpmn:extensionElements><zeebe:ioMapping>'
        '<zeebe:output source="=errorCode" target="caughtCode" /></zeebe:ioMapping></bpmn:extensionElements></bpmn:startEvent>'
        + service("refund", "eve-refund") + '<bpmn:endEvent id="ee" />' + flows(("es", "refund"), ("refund", "ee"))
        + "</bpmn:subProcess>",
        '<bpmn:error id="Err" errorCode="card-declined" />\n',
    ))
    client.create_instance("evsub-error")
    charge = one_job(client, "eve-charge")
    client.throw_error(charge.key, "card-declined", "insufficient funds")
    refund = one_job(client, "eve-refund")
    assert refund.variables["caughtCode"] == "card-declined"


def test_an_error_from_a_called_process_is_caught_at_the_call_activity(client, propolis_dev_module):
    client.deploy(model(
        "child-fails",
        '<bpmn:startEvent id="s" />' + service("t", "child-work") + '<bpmn:endEvent id="e" />' + flows(("s", "t"), ("t", "e")),
    ))
    client.deploy(model(
        "parent-catches",
        '<bpmn:startEvent id="s" /><bpmn:callActivity id="call"><bpmn:extensionElements><zeebe:calledElement processId="child-fails" />'
        "</bpmn:extensionElements></bpmn:callActivity>"
        '<bpmn:boundaryEvent id="failed" attachedToRef="call"><bpmn:errorEventDefinition /></bpmn:boundaryEvent>'
        + service("recover", "parent-recover") + '<bpmn:endEvent id="e1" /><bpmn:endEvent id="e2" />'
        + flows(("s", "call"), ("call", "e1"), ("failed", "recover"), ("recover", "e2")),
    ))
    parent = client.create_instance("parent-catches")
    child_job = one_job(client, "child-work")
    client.throw_error(child_job.key, "boom", "child failed")
    recover = one_job(client, "parent-recover")
    assert recover.process_instance_key == parent.key
    assert open_incidents(propolis_dev_module.console_url, parent.key, timeout_s=0.5) == []


def test_modify_process_instance_moves_a_token_from_one_task_to_another(client):
    client.deploy(model(
        "modify-me",
        '<bpmn:startEvent id="s" />' + service("stuck", "mod-stuck") + service("fixed", "mod-fixed") + '<bpmn:endEvent id="e" />'
        + flows(("s", "stuck"), ("stuck", "fixed"), ("fixed", "e")),
    ))
    instance = client.create_instance("modify-me", {"a": 1})
    stuck = one_job(client, "mod-stuck")
    client.modify_instance(instance.key, activate=[("fixed", {"repaired": True})], terminate=[stuck.element_instance_key])
    fixed = one_job(client, "mod-fixed")
    assert fixed.process_instance_key == instance.key and fixed.variables == {"a": 1, "repaired": True}
    with pytest.raises(GatewayError) as gone:
        client.complete_job(stuck.key)
    assert gone.value.status == "NOT_FOUND"
    with pytest.raises(GatewayError) as bad:
        client.modify_instance(instance.key, activate=[("no-such-element", None)])
    assert bad.value.status == "INVALID_ARGUMENT" and "'no-such-element'" in bad.value.message
    client.complete_job(fixed.key)


def test_terminating_the_last_token_by_modification_ends_the_instance(client, propolis_dev_module):
    client.deploy(model("modify-end", '<bpmn:startEvent id="s" />' + service("t", "mod-end") + '<bpmn:endEvent id="e" />' + flows(("s", "t"), ("t", "e"))))
    instance = client.create_instance("modify-end")
    job = one_job(client, "mod-end")
    client.modify_instance(instance.key, terminate=[job.element_instance_key])
    with pytest.raises(GatewayError) as gone:  # the instance is over: nothing to cancel
        client.cancel_instance(instance.key)
    assert gone.value.status == "NOT_FOUND"


def test_delete_resource_removes_a_version_without_instances_and_the_previous_one_is_latest_again(client):
    body = '<bpmn:startEvent id="s" />' + service("t", "{}") + '<bpmn:endEvent id="e" />' + flows(("s", "t"), ("t", "e"))
    first = client.deploy(model("deletable", body.format("del-v1"))).processes[0]
    second = client.deploy(model("deletable", body.format("del-v2"))).processes[0]
    instance = client.create_instance("deletable")
    with pytest.raises(GatewayError) as busy:
        client.delete_resource(second.key)
    assert busy.value.status == "FAILED_PRECONDITION" and "1 active process instance" in busy.value.message
    client.cancel_instance(instance.key)
    client.delete_resource(second.key)
    assert client.create_instance("deletable").version == first.version
    one_job(client, "del-v1")
    with pytest.raises(GatewayError) as unknown:
        client.delete_resource(second.key)
    assert unknown.value.status == "NOT_FOUND"
    third = client.deploy(model("deletable", body.format("del-v3"))).processes[0]
    assert third.version == second.version + 1  # a deleted version number is not reused


def compensable(task_id: str, job_type: str, undo_type: str) -> str:
    return (
        service(task_id, job_type)
        + f'<bpmn:boundaryEvent id="{task_id}-comp" attachedToRef="{task_id}"><bpmn:compensateEventDefinition /></bpmn:boundaryEvent>'
        + f'<bpmn:serviceTask id="{task_id}-undo" isForCompensation="true"><bpmn:extensionElements><zeebe:taskDefinition type="{undo_type}" />'
        "</bpmn:extensionElements></bpmn:serviceTask>"
        + f'<bpmn:association id="{task_id}-assoc" associationDirection="One" sourceRef="{task_id}-comp" targetRef="{task_id}-undo" />'
    )


def test_a_compensation_throw_event_runs_the_handlers_of_completed_activities_and_waits_for_them(client):
    client.deploy(model(
        "compensate",
        '<bpmn:startEvent id="s" />' + compensable("book", "cmp-book", "cmp-unbook") + compensable("charge", "cmp-charge", "cmp-refund")
        + '<bpmn:intermediateThrowEvent id="undo-all"><bpmn:compensateEventDefinition /></bpmn:intermediateThrowEvent>'
        + service("after", "cmp-after") + '<bpmn:endEvent id="e" />'
        + flows(("s", "book"), ("book", "charge"), ("charge", "undo-all"), ("undo-all", "after"), ("after", "e")),
    ))
    client.create_instance("compensate")
    client.complete_job(one_job(client, "cmp-book").key, {"booking": "B-1"})
    client.complete_job(one_job(client, "cmp-charge").key)
    refund, unbook = one_job(client, "cmp-refund"), one_job(client, "cmp-unbook")
    assert unbook.variables["booking"] == "B-1"
    client.complete_job(refund.key)
    no_job(client, "cmp-after")  # still waiting for the other handler
    client.complete_job(unbook.key)
    client.complete_job(one_job(client, "cmp-after").key)


def test_a_compensation_end_event_with_an_activity_ref_compensates_only_that_activity(client):
    client.deploy(model(
        "compensate-one",
        '<bpmn:startEvent id="s" />' + compensable("book", "cmo-book", "cmo-unbook") + compensable("charge", "cmo-charge", "cmo-refund")
        + '<bpmn:endEvent id="undo-charge"><bpmn:compensateEventDefinition activityRef="charge" /></bpmn:endEvent>'
        + flows(("s", "book"), ("book", "charge"), ("charge", "undo-charge")),
    ))
    client.create_instance("compensate-one")
    client.complete_job(one_job(client, "cmo-book").key)
    client.complete_job(one_job(client, "cmo-charge").key)
    client.complete_job(one_job(client, "cmo-refund").key)
    no_job(client, "cmo-unbook")


def test_signal_and_escalation_event_sub_processes_start_inside_a_sub_process(client):
    client.deploy(model(
        "evsub-signal-escalation",
        '<bpmn:startEvent id="s" /><bpmn:subProcess id="sub"><bpmn:startEvent id="ss" />'
        + service("inner", "eve2-inner")
        + '<bpmn:intermediateThrowEvent id="raise"><bpmn:escalationEventDefinition escalationRef="Esc" /></bpmn:intermediateThrowEvent>'
        + service("after-raise", "eve2-after") + '<bpmn:endEvent id="se" />'
        + flows(("ss", "inner"), ("inner", "raise"), ("raise", "after-raise"), ("after-raise", "se"))
        + '<bpmn:subProcess id="on-signal" triggeredByEvent="true"><bpmn:startEvent id="sig-start" isInterrupting="false">'
        '<bpmn:signalEventDefinition signalRef="Sig" /></bpmn:startEvent>' + service("noticed", "eve2-signal") + '<bpmn:endEvent id="ne" />'
        + flows(("sig-start", "noticed"), ("noticed", "ne")) + "</bpmn:subProcess>"
        '<bpmn:subProcess id="on-escalation" triggeredByEvent="true"><bpmn:startEvent id="esc-start" isInterrupting="false">'
        '<bpmn:escalationEventDefinition escalationRef="Esc" /></bpmn:startEvent>' + service("escalated", "eve2-escalated") + '<bpmn:endEvent id="ee" />'
        + flows(("esc-start", "escalated"), ("escalated", "ee")) + "</bpmn:subProcess>"
        + "</bpmn:subProcess><bpmn:endEvent id=\"e\" />" + flows(("s", "sub"), ("sub", "e")),
        '<bpmn:signal id="Sig" name="audit-now" /><bpmn:escalation id="Esc" name="Esc" escalationCode="slow" />\n',
    ))
    client.create_instance("evsub-signal-escalation")
    inner = one_job(client, "eve2-inner")
    client.broadcast_signal("audit-now", {"auditor": "ann"})
    assert one_job(client, "eve2-signal").variables["auditor"] == "ann"
    client.complete_job(inner.key)  # non-interrupting: the sub-process went on
    one_job(client, "eve2-escalated")
    one_job(client, "eve2-after")  # the escalation did not interrupt either


def test_feel_dates_and_durations_in_a_script_task_become_iso_text_in_the_variables(client):
    client.deploy(model(
        "feel-dates",
        '<bpmn:startEvent id="s" /><bpmn:scriptTask id="due"><bpmn:extensionElements>'
        '<zeebe:script expression="=date(ordered) + duration(&quot;P30D&quot;)" resultVariable="dueDate" /></bpmn:extensionElements></bpmn:scriptTask>'
        '<bpmn:scriptTask id="late"><bpmn:extensionElements>'
        '<zeebe:script expression="=date(dueDate) &lt; date(&quot;2024-03-01&quot;) and (every x in lines satisfies x.qty &gt; 0)" resultVariable="ok" />'
        "</bpmn:extensionElements></bpmn:scriptTask>"
        '<bpmn:endEvent id="e" />' + flows(("s", "due"), ("due", "late"), ("late", "e")),
    ))
    result = client.create_instance_with_result("feel-dates", {"ordered": "2024-01-15", "lines": [{"qty": 1}, {"qty": 2}]})
    assert result.variables["dueDate"] == "2024-02-14" and result.variables["ok"] is True


def test_feel_decimals_in_a_script_task_add_up_and_come_back_as_json_numbers(client):
    client.deploy(model(
        "feel-decimals",
        '<bpmn:startEvent id="s" /><bpmn:scriptTask id="total"><bpmn:extensionElements>'
        '<zeebe:script expression="={sum: sum(prices), taxed: price * 1.1, exact: 0.1 + 0.2 = 0.3, whole: 2.5 * 2}" resultVariable="totals" />'
        "</bpmn:extensionElements></bpmn:scriptTask>"
        '<bpmn:endEvent id="e" />' + flows(("s", "total"), ("total", "e")),
    ))
    result = client.create_instance_with_result("feel-decimals", {"prices": [0.1, 0.2], "price": 3.3})
    totals = result.variables["totals"]
    # as decimals: 0.1 + 0.2 is 0.3 and 3.3 * 1.1 is 3.63 (binary floats give 0.30000000000000004, 3.6300000000000003)
    assert totals == {"sum": 0.3, "taxed": 3.63, "exact": True, "whole": 5}
    assert type(totals["whole"]) is int
