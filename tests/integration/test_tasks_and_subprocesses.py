"""Task types, throw/terminate end events and embedded sub-processes, end to end: models
deployed through the gateway of a real `propolis dev`, driven by the project's gRPC client."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from propolis.clients.client import PropolisClient
from propolis.clients.errors import GatewayError

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


def model(process_id: str, body: str, extra: str = "") -> tuple[str, bytes]:
    xml = HEADER + f'<bpmn:process id="{process_id}" isExecutable="true">\n{body}\n</bpmn:process>\n{extra}</bpmn:definitions>\n'
    return f"{process_id}.bpmn", xml.encode()


def flows(*pairs: tuple[str, str]) -> str:
    return "".join(f'<bpmn:sequenceFlow id="f-{a}-{b}" sourceRef="{a}" targetRef="{b}" />' for a, b in pairs)


def job_task(tag: str, task_id: str, job_type: str, extra: str = "") -> str:
    return (
        f'<bpmn:{tag} id="{task_id}"><bpmn:extensionElements>'
        f'<zeebe:taskDefinition type="{job_type}" />{extra}</bpmn:extensionElements></bpmn:{tag}>'
    )


@pytest.fixture(scope="module")
def client(propolis_dev_module) -> PropolisClient:
    with PropolisClient(propolis_dev_module.address) as client:
        yield client


def complete_all(client: PropolisClient, job_type: str, variables: dict | None = None) -> list:
    jobs = client.activate_jobs(job_type, request_timeout_ms=5_000)
    for job in jobs:
        client.complete_job(job.key, variables)
    return jobs


def test_pass_through_tasks_and_a_script_task_complete_without_workers(client):
    client.deploy(model(
        "script-and-manual",
        '<bpmn:startEvent id="start" /><bpmn:manualTask id="manual" /><bpmn:task id="plain" />'
        '<bpmn:scriptTask id="script"><bpmn:extensionElements>'
        '<zeebe:script expression="=sum(items) * 2" resultVariable="total" />'
        "</bpmn:extensionElements></bpmn:scriptTask>"
        '<bpmn:intermediateThrowEvent id="milestone" /><bpmn:endEvent id="end" />'
        + flows(("start", "manual"), ("manual", "plain"), ("plain", "script"), ("script", "milestone"), ("milestone", "end")),
    ))
    result = client.create_instance_with_result("script-and-manual", {"items": [1, 2, 3]})
    assert result.variables == {"items": [1, 2, 3], "total": 12}


def test_a_script_with_an_unknown_function_is_refused_at_deploy_time_naming_element_and_attribute(client):
    with pytest.raises(GatewayError) as refused:
        client.deploy(model(
            "unknown-function",
            '<bpmn:startEvent id="start" /><bpmn:scriptTask id="calc"><bpmn:extensionElements>'
            '<zeebe:script expression="=frobnicate(x)" resultVariable="y" />'
            '</bpmn:extensionElements></bpmn:scriptTask><bpmn:endEvent id="end" />'
            + flows(("start", "calc"), ("calc", "end")),
        ))
    assert refused.value.status == "INVALID_ARGUMENT"
    assert "calc" in refused.value.message and "zeebe:script expression" in refused.value.message


def test_user_task_is_a_job_with_zeebes_assignment_headers(client):
    client.deploy(model(
        "approve",
        '<bpmn:startEvent id="start" /><bpmn:userTask id="review"><bpmn:extensionElements>'
        '<zeebe:assignmentDefinition assignee="=owner" candidateGroups="managers, auditors" />'
        '<zeebe:taskSchedule dueDate="2026-12-01T10:00:00Z" />'
        '<zeebe:formDefinition formKey="camunda-forms:bpmn:review-form" />'
        '</bpmn:extensionElements></bpmn:userTask><bpmn:endEvent id="end" />'
        + flows(("start", "review"), ("review", "end")),
    ))
    instance = client.create_instance("approve", {"owner": "ada"})
    [job] = client.activate_jobs("io.camunda.zeebe:userTask", request_timeout_ms=5_000)
    assert job.process_instance_key == instance.key and job.element_id == "review"
    headers = job.custom_headers
    assert headers["io.camunda.zeebe:assignee"] == "ada"
    assert json.loads(headers["io.camunda.zeebe:candidateGroups"]) == ["managers", "auditors"]
    assert headers["io.camunda.zeebe:dueDate"] == "2026-12-01T10:00:00Z"
    assert headers["io.camunda.zeebe:formKey"] == "camunda-forms:bpmn:review-form"
    client.complete_job(job.key, {"approved": True})


def test_send_business_rule_tasks_and_message_events_are_done_by_job_workers(client):
    client.deploy(model(
        "notify",
        '<bpmn:startEvent id="start" />'
        + job_task("sendTask", "send", "send-mail")
        + job_task("businessRuleTask", "rate", "rate-risk")
        + '<bpmn:intermediateThrowEvent id="tell"><bpmn:extensionElements><zeebe:taskDefinition type="publish" />'
        '</bpmn:extensionElements><bpmn:messageEventDefinition id="m1" /></bpmn:intermediateThrowEvent>'
        '<bpmn:endEvent id="end"><bpmn:extensionElements><zeebe:taskDefinition type="publish-end" />'
        '</bpmn:extensionElements><bpmn:messageEventDefinition id="m2" /></bpmn:endEvent>'
        + flows(("start", "send"), ("send", "rate"), ("rate", "tell"), ("tell", "end")),
    ))
    instance = client.create_instance("notify")
    for job_type, element_id in (("send-mail", "send"), ("rate-risk", "rate"), ("publish", "tell"), ("publish-end", "end")):
        [job] = complete_all(client, job_type, {"done": element_id})
        assert (job.process_instance_key, job.element_id) == (instance.key, element_id)
    # Nothing is left waiting: the instance completed with its end event's job.
    assert client.activate_jobs("publish-end", request_timeout_ms=-1) == []


def test_embedded_sub_process_runs_in_its_own_scope_and_continues_after_it(client):
    client.deploy(model(
        "with-sub",
        '<bpmn:startEvent id="start" />'
        '<bpmn:subProcess id="sub"><bpmn:extensionElements><zeebe:ioMapping>'
        '<zeebe:input source="=order.id" target="orderId" /><zeebe:output source="=checked" target="result" />'
        "</zeebe:ioMapping></bpmn:extensionElements>"
        '<bpmn:startEvent id="sub-start" />' + job_task("serviceTask", "check", "check")
        + '<bpmn:endEvent id="sub-end" />' + flows(("sub-start", "check"), ("check", "sub-end"))
        + '</bpmn:subProcess>'
        + job_task("serviceTask", "after", "after") + '<bpmn:endEvent id="end" />'
        + flows(("start", "sub"), ("sub", "after"), ("after", "end")),
    ))
    instance = client.create_instance("with-sub", {"order": {"id": 42}})
    [check] = client.activate_jobs("check", request_timeout_ms=5_000)
    assert check.variables["orderId"] == 42 and check.process_instance_key == instance.key
    client.complete_job(check.key, {"checked": "ok"})
    [after] = client.activate_jobs("after", request_timeout_ms=5_000)
    # The output mapping carried the result out; the sub-process's local orderId stayed inside,
    # and the job's variable reached the process scope (no scope defined it), as in Zeebe.
    assert after.variables == {"order": {"id": 42}, "checked": "ok", "result": "ok"}
    client.complete_job(after.key)


def test_terminate_end_event_ends_the_other_branches_of_its_scope(client):
    client.deploy(model(
        "race",
        '<bpmn:startEvent id="start" /><bpmn:parallelGateway id="fork" />'
        + job_task("serviceTask", "slow", "slow-path")
        + '<bpmn:endEvent id="done"><bpmn:terminateEventDefinition id="t1" /></bpmn:endEvent>'
        '<bpmn:endEvent id="slow-end" />'
        '<bpmn:subProcess id="sub"><bpmn:startEvent id="s-start" /><bpmn:parallelGateway id="s-fork" />'
        + job_task("serviceTask", "inner", "inner-wait")
        + '<bpmn:endEvent id="s-stop"><bpmn:terminateEventDefinition id="t2" /></bpmn:endEvent>'
        '<bpmn:endEvent id="s-end" />'
        + flows(("s-start", "s-fork"), ("s-fork", "inner"), ("s-fork", "s-stop"), ("inner", "s-end"))
        + '</bpmn:subProcess>'
        + job_task("serviceTask", "after-sub", "after-sub")
        + flows(("start", "fork"), ("fork", "slow"), ("fork", "sub"), ("slow", "slow-end"), ("sub", "after-sub"), ("after-sub", "done")),
    ))
    client.create_instance("race")
    # Inside the sub-process the terminate end event ended 'inner' and the sub-process went on.
    [after] = client.activate_jobs("after-sub", request_timeout_ms=5_000)
    assert client.activate_jobs("inner-wait", request_timeout_ms=-1) == []
    [slow] = client.activate_jobs("slow-path", request_timeout_ms=5_000)
    client.complete_job(after.key)
    # The process-level terminate end event cancelled the slow path's job.
    with pytest.raises(GatewayError) as gone:
        client.complete_job(slow.key)
    assert gone.value.status == "NOT_FOUND"


def test_flows_that_cross_a_sub_process_boundary_are_refused_with_where(client):
    with pytest.raises(GatewayError) as refused:
        client.deploy(model(
            "crossing",
            '<bpmn:startEvent id="start" /><bpmn:subProcess id="sub"><bpmn:startEvent id="s-start" />'
            '<bpmn:endEvent id="s-end" />' + flows(("s-start", "s-end")) + '</bpmn:subProcess>'
            '<bpmn:endEvent id="end" />' + flows(("start", "s-end"), ("sub", "end")),
        ))
    assert refused.value.status == "INVALID_ARGUMENT"
    details = refused.value.message
    assert "f-start-s-end" in details and "sub-process 'sub'" in details and "line" in details


def test_timer_catch_and_an_interrupting_timer_boundary_event_through_the_gateway(client):
    client.deploy(model(
        "escalation-by-timer",
        '<bpmn:startEvent id="start" />'
        '<bpmn:intermediateCatchEvent id="cool-off"><bpmn:timerEventDefinition><bpmn:timeDuration>=pause</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        + job_task("serviceTask", "answer", "answer-ticket")
        + '<bpmn:boundaryEvent id="too-slow" attachedToRef="answer"><bpmn:timerEventDefinition>'
        "<bpmn:timeDuration>PT0.3S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        + job_task("serviceTask", "escalate", "escalate-ticket")
        + '<bpmn:endEvent id="answered" /><bpmn:endEvent id="escalated" />'
        + flows(("start", "cool-off"), ("cool-off", "answer"), ("answer", "answered"), ("too-slow", "escalate"), ("escalate", "escalated")),
    ))
    instance = client.create_instance("escalation-by-timer", {"pause": "PT0.2S"})
    [answer] = client.activate_jobs("answer-ticket", request_timeout_ms=10_000)
    [escalate] = client.activate_jobs("escalate-ticket", request_timeout_ms=10_000)
    assert escalate.process_instance_key == instance.key
    with pytest.raises(GatewayError) as gone:
        client.complete_job(answer.key)
    assert gone.value.status == "NOT_FOUND"
    client.complete_job(escalate.key)


def test_an_invalid_static_timer_is_refused_at_deploy_time_naming_the_element(client):
    with pytest.raises(GatewayError) as refused:
        client.deploy(model(
            "bad-timer",
            '<bpmn:startEvent id="start" /><bpmn:intermediateCatchEvent id="nap"><bpmn:timerEventDefinition>'
            "<bpmn:timeDuration>10 seconds</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
            '<bpmn:endEvent id="end" />' + flows(("start", "nap"), ("nap", "end")),
        ))
    assert refused.value.status == "INVALID_ARGUMENT"
    assert "'nap'" in refused.value.message and "timeDuration" in refused.value.message and "'10 seconds'" in refused.value.message


ERRORS = (
    '<bpmn:error id="err-card" name="Card declined" errorCode="CARD_DECLINED" />'
    '<bpmn:error id="err-stock" name="Out of stock" errorCode="OUT_OF_STOCK" />'
)


def error_boundary(boundary_id: str, attached_to: str, error_ref: str | None, io: str = "") -> str:
    ref = f' errorRef="{error_ref}"' if error_ref else ""
    ext = f"<bpmn:extensionElements>{io}</bpmn:extensionElements>" if io else ""
    return f'<bpmn:boundaryEvent id="{boundary_id}" attachedToRef="{attached_to}">{ext}<bpmn:errorEventDefinition{ref} /></bpmn:boundaryEvent>'


@pytest.fixture(scope="module")
def error_model(client):
    client.deploy(model(
        "payment",
        '<bpmn:startEvent id="start" />'
        '<bpmn:subProcess id="checkout"><bpmn:startEvent id="c-start" />'
        + job_task("serviceTask", "charge", "charge-card")
        + error_boundary("declined", "charge", "err-card", '<zeebe:ioMapping><zeebe:output source="=errorMessage" target="reason" /></zeebe:ioMapping>')
        + job_task("serviceTask", "ask-again", "ask-for-card")
        + '<bpmn:exclusiveGateway id="stock-gw" default="to-ok" />'
        '<bpmn:endEvent id="no-stock"><bpmn:errorEventDefinition errorRef="err-stock" /></bpmn:endEvent>'
        '<bpmn:endEvent id="c-end" /><bpmn:endEvent id="c-asked" />'
        + flows(("c-start", "charge"), ("charge", "stock-gw"), ("declined", "ask-again"), ("ask-again", "c-asked"))
        + '<bpmn:sequenceFlow id="to-no-stock" sourceRef="stock-gw" targetRef="no-stock">'
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">=stock = 0</bpmn:conditionExpression></bpmn:sequenceFlow>'
        '<bpmn:sequenceFlow id="to-ok" sourceRef="stock-gw" targetRef="c-end" />'
        "</bpmn:subProcess>"
        + error_boundary("any-error", "checkout", None)
        + job_task("serviceTask", "refund", "refund")
        + '<bpmn:endEvent id="end" /><bpmn:endEvent id="refunded" />'
        + flows(("start", "checkout"), ("checkout", "end"), ("any-error", "refund"), ("refund", "refunded")),
        ERRORS,
    ))


def test_a_job_error_is_caught_by_the_matching_boundary_event_with_its_message(client, error_model):
    instance = client.create_instance("payment", {"stock": 1})
    [charge] = client.activate_jobs("charge-card", request_timeout_ms=5_000)
    client.throw_error(charge.key, "CARD_DECLINED", "insufficient funds")
    [ask] = client.activate_jobs("ask-for-card", request_timeout_ms=5_000)
    assert ask.process_instance_key == instance.key
    assert ask.variables["reason"] == "insufficient funds"
    client.complete_job(ask.key)


def test_an_error_end_event_and_an_unmatched_code_reach_the_catch_all_on_the_sub_process(client, error_model):
    client.create_instance("payment", {"stock": 0})
    [charge] = client.activate_jobs("charge-card", request_timeout_ms=5_000)
    client.complete_job(charge.key)  # the gateway then takes the error end event OUT_OF_STOCK
    [refund] = client.activate_jobs("refund", request_timeout_ms=5_000)
    client.complete_job(refund.key)
    client.create_instance("payment", {"stock": 1})
    [charge] = client.activate_jobs("charge-card", request_timeout_ms=5_000)
    client.throw_error(charge.key, "TIMEOUT", "the bank did not answer")
    [refund] = client.activate_jobs("refund", request_timeout_ms=5_000)
    assert refund.variables["stock"] == 1
    client.complete_job(refund.key)


def test_an_error_nobody_catches_raises_an_incident(client):
    client.deploy(model("uncaught", '<bpmn:startEvent id="start" />' + job_task("serviceTask", "work", "uncaught-work") + '<bpmn:endEvent id="end" />' + flows(("start", "work"), ("work", "end"))))
    client.create_instance("uncaught")
    [job] = client.activate_jobs("uncaught-work", request_timeout_ms=5_000)
    client.throw_error(job.key, "NOPE", "no handler")
    # The job is kept for the incident: completing it now is refused as Zeebe does.
    with pytest.raises(GatewayError) as refused:
        client.complete_job(job.key)
    assert refused.value.status == "FAILED_PRECONDITION"


def test_a_link_throw_event_continues_at_the_link_catch_event_of_the_same_name(client):
    client.deploy(model(
        "linked",
        '<bpmn:startEvent id="start" />'
        '<bpmn:intermediateThrowEvent id="go"><bpmn:linkEventDefinition name="page-2" /></bpmn:intermediateThrowEvent>'
        '<bpmn:intermediateCatchEvent id="arrive"><bpmn:linkEventDefinition name="page-2" /></bpmn:intermediateCatchEvent>'
        + job_task("serviceTask", "after-link", "after-link") + '<bpmn:endEvent id="end" />'
        + flows(("start", "go"), ("arrive", "after-link"), ("after-link", "end")),
    ))
    instance = client.create_instance("linked")
    [job] = client.activate_jobs("after-link", request_timeout_ms=5_000)
    assert job.process_instance_key == instance.key
    client.complete_job(job.key)
    with pytest.raises(GatewayError) as refused:
        client.deploy(model(
            "broken-link",
            '<bpmn:startEvent id="start" />'
            '<bpmn:intermediateThrowEvent id="go"><bpmn:linkEventDefinition name="page2" /></bpmn:intermediateThrowEvent>'
            '<bpmn:intermediateCatchEvent id="arrive"><bpmn:linkEventDefinition name="page-2" /></bpmn:intermediateCatchEvent>'
            '<bpmn:endEvent id="end" />' + flows(("start", "go"), ("arrive", "end")),
        ))
    assert "no link catch event named 'page2'" in refused.value.message and "Did you mean 'page-2'?" in refused.value.message


def call(process_id_attr: str, extra: str = "", io: str = "") -> str:
    return (
        f'<bpmn:callActivity id="call"><bpmn:extensionElements><zeebe:calledElement processId="{process_id_attr}" {extra} />{io}'
        "</bpmn:extensionElements></bpmn:callActivity>"
    )


def test_a_call_activity_runs_the_called_process_and_takes_its_variables_back(client):
    client.deploy(model("billing", '<bpmn:startEvent id="s" />' + job_task("serviceTask", "bill", "bill") + '<bpmn:endEvent id="e" />' + flows(("s", "bill"), ("bill", "e"))))
    client.deploy(model(
        "order-with-billing",
        '<bpmn:startEvent id="start" />' + call("=child") + job_task("serviceTask", "ship", "ship-order") + '<bpmn:endEvent id="end" />'
        + flows(("start", "call"), ("call", "ship"), ("ship", "end")),
    ))
    parent = client.create_instance("order-with-billing", {"child": "billing", "amount": 30})
    [bill] = client.activate_jobs("bill", request_timeout_ms=5_000)
    assert bill.process_id == "billing" and bill.process_instance_key != parent.key
    assert bill.variables == {"child": "billing", "amount": 30}  # all parent variables, by default
    client.complete_job(bill.key, {"invoice": "INV-1"})
    [ship] = client.activate_jobs("ship-order", request_timeout_ms=5_000)
    assert ship.process_instance_key == parent.key and ship.variables["invoice"] == "INV-1"
    client.complete_job(ship.key)


def test_call_activity_mappings_limit_what_goes_down_and_up_and_cancel_reaches_the_child(client):
    client.deploy(model("scoring", '<bpmn:startEvent id="s" />' + job_task("serviceTask", "score", "score") + '<bpmn:endEvent id="e" />' + flows(("s", "score"), ("score", "e"))))
    client.deploy(model(
        "loan",
        '<bpmn:startEvent id="start" />'
        + call("scoring", 'propagateAllChildVariables="false" propagateAllParentVariables="false"',
               '<zeebe:ioMapping><zeebe:input source="=applicant.name" target="name" />'
               '<zeebe:output source="=score" target="creditScore" /></zeebe:ioMapping>')
        + job_task("serviceTask", "decide", "decide-loan") + '<bpmn:endEvent id="end" />'
        + flows(("start", "call"), ("call", "decide"), ("decide", "end")),
    ))
    client.create_instance("loan", {"applicant": {"name": "Ada", "ssn": "secret"}})
    [score] = client.activate_jobs("score", request_timeout_ms=5_000)
    assert score.variables == {"name": "Ada"}
    client.complete_job(score.key, {"score": 710, "internalNote": "x"})
    [decide] = client.activate_jobs("decide-loan", request_timeout_ms=5_000)
    assert decide.variables == {"applicant": {"name": "Ada", "ssn": "secret"}, "creditScore": 710}
    client.complete_job(decide.key)
    # Cancelling the parent terminates the called instance and its job.
    cancelled = client.create_instance("loan", {"applicant": {"name": "Bo"}})
    [score] = client.activate_jobs("score", request_timeout_ms=5_000)
    client.cancel_instance(cancelled.key)
    with pytest.raises(GatewayError) as gone:
        client.complete_job(score.key)
    assert gone.value.status == "NOT_FOUND"


def open_incidents(console_url: str, instance_key: int, timeout_s: float = 10) -> list[dict]:
    """The instance's open incidents as the console's read model shows them."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{console_url}/api/instances/{instance_key}") as response:
                found = [i for i in json.load(response)["incidents"] if i["state"] == "OPEN"]
            if found:
                return found
        except urllib.error.HTTPError:
            pass  # not exported yet
        time.sleep(0.1)
    return []


def test_calling_a_process_that_is_not_deployed_is_an_incident_resolved_by_deploying_it(client, propolis_dev_module):
    client.deploy(model("needs-later", '<bpmn:startEvent id="start" />' + call("later-process") + '<bpmn:endEvent id="end" />' + flows(("start", "call"), ("call", "end"))))
    instance = client.create_instance("needs-later")
    [incident] = open_incidents(propolis_dev_module.console_url, instance.key)
    assert incident["error_type"] == "CALLED_ELEMENT_ERROR" and "'later-process'" in incident["error_message"]
    client.deploy(model("later-process", '<bpmn:startEvent id="s" />' + job_task("serviceTask", "t", "later-work") + '<bpmn:endEvent id="e" />' + flows(("s", "t"), ("t", "e"))))
    client.resolve_incident(incident["key"])
    [job] = client.activate_jobs("later-work", request_timeout_ms=5_000)
    assert job.process_id == "later-process"
    client.complete_job(job.key)


def multi_task(job_type: str, sequential: bool = False, condition: str = "", output: bool = True) -> str:
    out = ' outputCollection="results" outputElement="=result"' if output else ""
    cond = f"<bpmn:completionCondition>{condition}</bpmn:completionCondition>" if condition else ""
    return (
        f'<bpmn:serviceTask id="each"><bpmn:extensionElements><zeebe:taskDefinition type="{job_type}" />'
        "</bpmn:extensionElements>"
        f'<bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}"><bpmn:extensionElements>'
        f'<zeebe:loopCharacteristics inputCollection="=items" inputElement="item"{out} />'
        f"</bpmn:extensionElements>{cond}</bpmn:multiInstanceLoopCharacteristics></bpmn:serviceTask>"
    )


def test_parallel_multi_instance_runs_one_job_per_item_and_collects_results_in_order(client):
    client.deploy(model(
        "fan-out", '<bpmn:startEvent id="start" />' + multi_task("per-item") + job_task("serviceTask", "after", "after-fan-out")
        + '<bpmn:endEvent id="end" />' + flows(("start", "each"), ("each", "after"), ("after", "end")),
    ))
    client.create_instance("fan-out", {"items": ["a", "b", "c"]})
    jobs = client.activate_jobs("per-item", max_jobs=10, request_timeout_ms=5_000)
    assert sorted((j.variables["item"], j.variables["loopCounter"]) for j in jobs) == [("a", 1), ("b", 2), ("c", 3)]
    for job in reversed(jobs):  # completion order does not change the result order
        client.complete_job(job.key, {"result": job.variables["item"].upper()})
    [after] = client.activate_jobs("after-fan-out", request_timeout_ms=5_000)
    assert after.variables["results"] == ["A", "B", "C"]
    client.complete_job(after.key)


def test_sequential_multi_instance_runs_one_item_at_a_time(client):
    client.deploy(model(
        "one-by-one", '<bpmn:startEvent id="start" />' + multi_task("in-turn", sequential=True) + '<bpmn:endEvent id="end" />'
        + flows(("start", "each"), ("each", "end")),
    ))
    client.create_instance("one-by-one", {"items": [1, 2, 3]})
    seen = []
    for _ in range(3):
        [job] = client.activate_jobs("in-turn", max_jobs=10, request_timeout_ms=5_000)
        seen.append(job.variables["item"])
        client.complete_job(job.key, {"result": job.variables["item"] * 10})
    assert seen == [1, 2, 3]
    assert client.activate_jobs("in-turn", request_timeout_ms=-1) == []


def test_a_completion_condition_ends_the_remaining_instances(client):
    client.deploy(model(
        "first-two", '<bpmn:startEvent id="start" />'
        + multi_task("quorum", condition="=numberOfCompletedInstances &gt;= 2", output=False)
        + job_task("serviceTask", "after", "after-quorum") + '<bpmn:endEvent id="end" />'
        + flows(("start", "each"), ("each", "after"), ("after", "end")),
    ))
    client.create_instance("first-two", {"items": ["x", "y", "z"]})
    jobs = client.activate_jobs("quorum", max_jobs=10, request_timeout_ms=5_000)
    assert len(jobs) == 3
    client.complete_job(jobs[0].key)
    client.complete_job(jobs[1].key)
    [after] = client.activate_jobs("after-quorum", request_timeout_ms=5_000)
    with pytest.raises(GatewayError) as gone:
        client.complete_job(jobs[2].key)
    assert gone.value.status == "NOT_FOUND"
    client.complete_job(after.key)


def test_an_empty_collection_skips_the_activity_and_a_non_list_is_an_incident(client, propolis_dev_module):
    client.deploy(model(
        "maybe-none", '<bpmn:startEvent id="start" />' + multi_task("never-run") + job_task("serviceTask", "after", "after-none")
        + '<bpmn:endEvent id="end" />' + flows(("start", "each"), ("each", "after"), ("after", "end")),
    ))
    client.create_instance("maybe-none", {"items": []})
    [after] = client.activate_jobs("after-none", request_timeout_ms=5_000)
    assert after.variables["results"] == []
    client.complete_job(after.key)
    broken = client.create_instance("maybe-none", {"items": "abc"})
    [incident] = open_incidents(propolis_dev_module.console_url, broken.key)
    assert "inputCollection" in incident["error_message"] and "list" in incident["error_message"]
