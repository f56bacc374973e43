"""The parser turns models into executable processes, or names every problem and where."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from propolis.bpmn.errors import BpmnParseError, Problem
from propolis.bpmn.model import ElementKind, Process
from propolis.bpmn.parser import parse_bpmn

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn"
# In CI the repository is checked out at X/main and the shared corpus lives at X/shared.
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "bpmn"

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_1" '
    'targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def only_process(content: bytes, name: str = "model.bpmn") -> Process:
    [process] = parse_bpmn(content, name).processes
    return process


def problems_of(content: bytes, name: str = "model.bpmn") -> list[Problem]:
    with pytest.raises(BpmnParseError) as caught:
        parse_bpmn(content, name)
    return caught.value.problems


def process_xml(body: str, process_id: str = "p", after: str = "") -> bytes:
    """A small model, one element per line so that tests can assert on line numbers."""
    return (HEADER + f'<bpmn:process id="{process_id}" isExecutable="true">\n{body}\n</bpmn:process>\n{after}</bpmn:definitions>\n').encode()


def service_task(task_id: str, inner: str = "") -> str:
    return (
        f'<bpmn:serviceTask id="{task_id}"><bpmn:extensionElements>'
        f'<zeebe:taskDefinition type="{task_id}-work" />{inner}</bpmn:extensionElements></bpmn:serviceTask>'
    )


def flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />'
    return (
        f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
    )


def line_of(content: bytes, fragment: str) -> int:
    for number, line in enumerate(content.decode().splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in the model")


# -- valid models --------------------------------------------------------------------------
def test_reads_a_service_task_with_its_job_type_retries_and_headers():
    process = only_process(fixture("one_task.bpmn"), "one_task.bpmn")
    task = process.elements["task"]
    assert process.id == "one-task" and process.name == "One task" and process.start_event_id == "start"
    assert task.kind == ElementKind.SERVICE_TASK and task.name == "Do the work"
    assert task.job_type.is_static and task.job_type.evaluate({}) == "work"
    assert task.job_retries.evaluate({}) == "3"
    assert task.task_headers == {"k": "v"}
    assert task.incoming == ["to-task"] and task.outgoing == ["to-end"]
    assert task.line == line_of(fixture("one_task.bpmn"), '<bpmn:serviceTask id="task"')
    assert process.flows["to-end"].source_id == "task" and process.flows["to-end"].target_id == "end"


def test_reads_a_process_with_only_a_start_and_an_end_event():
    process = only_process(fixture("start_end.bpmn"))
    assert process.id == "start-end"
    assert {e.id: e.kind for e in process.elements.values()} == {"start": ElementKind.START_EVENT, "end": ElementKind.END_EVENT}
    assert process.elements["end"].incoming == ["to-end"]


def test_reads_conditions_and_the_default_flow_of_an_exclusive_gateway():
    process = only_process(fixture("exclusive.bpmn"))
    gateway = process.elements["amount-check"]
    assert gateway.kind == ElementKind.EXCLUSIVE_GATEWAY and gateway.default_flow_id == "to-small"
    assert gateway.outgoing == ["to-big", "to-medium", "to-small"]
    assert process.flows["to-big"].condition.evaluate({"amount": 101}) is True
    assert process.flows["to-medium"].condition.evaluate({"amount": 75}) is True
    assert process.flows["to-medium"].condition.evaluate({"amount": 101}) is False
    assert process.flows["to-small"].condition is None


def test_a_merging_exclusive_gateway_needs_no_conditions():
    merge = only_process(fixture("exclusive.bpmn")).elements["merge"]
    assert merge.incoming == ["big-done", "medium-done", "small-done"] and merge.outgoing == ["to-end"]


def test_reads_a_parallel_fork_and_join():
    process = only_process(fixture("parallel.bpmn"))
    fork, join = process.elements["fork"], process.elements["join"]
    assert fork.kind == join.kind == ElementKind.PARALLEL_GATEWAY
    assert fork.outgoing == ["to-a", "to-b"] and join.incoming == ["a-done", "b-done"]
    assert process.elements["task-b"].job_type.evaluate({}) == "b"


def test_reads_a_message_catch_event_and_a_receive_task_with_name_and_correlation_key():
    process = only_process(fixture("message_catch.bpmn"))
    catch, receive = process.elements["wait-payment"], process.elements["wait-shipment"]
    assert catch.kind == ElementKind.INTERMEDIATE_CATCH_EVENT and receive.kind == ElementKind.RECEIVE_TASK
    assert catch.message.id == "Message_Payment"
    assert catch.message.name.is_static and catch.message.name.evaluate({}) == "payment-received"
    assert catch.message.correlation_key.source == "=orderId"
    assert catch.message.correlation_key.evaluate({"orderId": "o-1"}) == "o-1"
    assert [(m.source.source, m.target) for m in catch.output_mappings] == [("=paid", "paymentReceived")]
    assert receive.message.name.evaluate({"region": "eu"}) == "shipment-eu"
    assert receive.message.correlation_key.evaluate({"orderId": 7}) == "7"


def test_reads_input_and_output_mappings_with_static_and_expression_sources():
    process = only_process(fixture("io_mapping.bpmn"))
    task, end = process.elements["task"], process.elements["end"]
    assert [m.target for m in task.input_mappings] == ["doubled", "currency", "customer.id"]
    variables = {"order": {"total": 2, "customer": {"id": "c-9"}}}
    assert [m.source.evaluate(variables) for m in task.input_mappings] == [4, "EUR", "c-9"]
    assert [m.target for m in task.output_mappings] == ["finalResult", "order.result"]
    assert task.output_mappings[0].source.evaluate({"result": {"total": 12}}) == 12
    assert [(m.source.source, m.target) for m in end.input_mappings] == [("=finalResult", "summary")]


def test_a_mapping_without_source_assigns_null():
    content = process_xml(
        '<bpmn:startEvent id="start" />\n'
        + service_task("task", '<zeebe:ioMapping><zeebe:output target="cleared" /></zeebe:ioMapping>')
    )
    [mapping] = only_process(content).elements["task"].output_mappings
    assert mapping.target == "cleared" and mapping.source.evaluate({"cleared": 1}) is None


def test_job_retries_default_to_three_and_job_types_may_be_expressions():
    content = process_xml(
        '<bpmn:startEvent id="start" />\n'
        '<bpmn:serviceTask id="task"><bpmn:extensionElements>'
        '<zeebe:taskDefinition type="=&quot;charge-&quot; + region" /></bpmn:extensionElements></bpmn:serviceTask>'
    )
    task = only_process(content).elements["task"]
    assert task.job_retries.evaluate({}) == "3"
    assert not task.job_type.is_static and task.job_type.evaluate({"region": "eu"}) == "charge-eu"


def test_an_element_without_outgoing_flow_simply_ends_its_path():
    content = process_xml('<bpmn:startEvent id="start" />\n' + service_task("task") + "\n" + flow("f1", "start", "task"))
    assert only_process(content).elements["task"].outgoing == []


def test_deploys_every_executable_process_of_a_collaboration_and_skips_the_others():
    content = (
        HEADER
        + '<bpmn:collaboration id="c"><bpmn:participant id="p1" processRef="a" />'
        '<bpmn:participant id="p2" processRef="b" /><bpmn:participant id="p3" processRef="c-docs" />'
        '<bpmn:messageFlow id="mf" sourceRef="p1" targetRef="p2" /></bpmn:collaboration>\n'
        '<bpmn:process id="a" isExecutable="true"><bpmn:startEvent id="a-start" /></bpmn:process>\n'
        '<bpmn:process id="b" isExecutable="true"><bpmn:startEvent id="b-start" /></bpmn:process>\n'
        '<bpmn:process id="c-docs" isExecutable="false"><bpmn:userTask id="manual" /></bpmn:process>\n'
        "</bpmn:definitions>\n"
    ).encode()
    assert [p.id for p in parse_bpmn(content, "collab.bpmn").processes] == ["a", "b"]


def test_ignores_documentation_annotations_lanes_data_and_other_vendors_extensions():
    content = process_xml(
        '<bpmn:documentation>What this process does</bpmn:documentation>\n'
        '<bpmn:laneSet id="lanes"><bpmn:lane id="lane"><bpmn:flowNodeRef>start</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>\n'
        '<bpmn:startEvent id="start"><bpmn:documentation>go</bpmn:documentation></bpmn:startEvent>\n'
        '<bpmn:serviceTask id="task" xmlns:acme="http://acme.example/bpmn"><bpmn:extensionElements>'
        '<zeebe:taskDefinition type="work" /><zeebe:properties><zeebe:property name="a" value="b" /></zeebe:properties>'
        '<acme:retryPolicy backoff="5s" /></bpmn:extensionElements>'
        '<bpmn:dataInputAssociation id="dia"><bpmn:sourceRef>data</bpmn:sourceRef></bpmn:dataInputAssociation>'
        "</bpmn:serviceTask>\n"
        '<bpmn:dataObjectReference id="data" dataObjectRef="dataObject" />\n'
        '<bpmn:dataObject id="dataObject" />\n'
        '<bpmn:textAnnotation id="note"><bpmn:text>remember</bpmn:text></bpmn:textAnnotation>\n'
        '<bpmn:association id="assoc" sourceRef="task" targetRef="note" />\n'
        + flow("f1", "start", "task")
    )
    assert set(only_process(content).elements) == {"start", "task"}


def test_does_not_read_external_entities():
    content = (
        '<?xml version="1.0"?>\n<!DOCTYPE bpmn:definitions [<!ENTITY secret SYSTEM "file:///etc/hostname">]>\n'
        + process_xml('<bpmn:startEvent id="start" name="&secret;" />').decode().split("\n", 1)[1]
    ).encode()
    try:
        process = only_process(content)
    except BpmnParseError as error:
        assert all(p.line for p in error.problems)
    else:
        assert not process.elements["start"].name  # the entity stays unexpanded


# -- invalid models ------------------------------------------------------------------------
def test_rejects_malformed_xml_naming_the_line_and_lxmls_message():
    [problem] = problems_of(fixture("invalid/malformed.bpmn"), "malformed.bpmn")
    assert problem.line == 5
    assert "not well-formed" in problem.message and "startEvent" in problem.message
    assert str(problem).startswith("malformed.bpmn line 5: the XML is not well-formed")


@pytest.mark.parametrize("content", [b"", b"   ", b"not xml at all"], ids=["empty", "blank", "text"])
def test_rejects_content_that_is_not_xml_with_a_line(content):
    [problem] = problems_of(content)
    assert problem.line is not None and "not well-formed" in problem.message


def test_rejects_a_document_that_is_not_bpmn_naming_its_root():
    [problem] = problems_of(fixture("invalid/not_bpmn.bpmn"), "discount.bpmn")
    assert "not a BPMN 2.0 document" in problem.message and "<definitions>" in problem.message
    assert "DMN" in problem.message and problem.line == 2
    [html] = problems_of(b"<html><body/></html>")
    assert "<html> without namespace" in html.message


def test_rejects_flow_with_missing_target_naming_the_flow_and_suggesting_a_fix():
    content = fixture("invalid/missing_flow_target.bpmn")
    [problem] = problems_of(content, "missing_flow_target.bpmn")
    assert problem.element_id == "to-end" and problem.element_type == "bpmn:sequenceFlow"
    assert problem.line == line_of(content, '<bpmn:sequenceFlow id="to-end"')
    assert "targetRef" in problem.message and "'endd'" in problem.message
    assert "Did you mean 'end'?" in problem.message


def test_rejects_a_flow_into_another_process():
    content = (
        HEADER
        + '<bpmn:process id="a" isExecutable="true"><bpmn:startEvent id="a-start" />'
        '<bpmn:sequenceFlow id="jump" sourceRef="a-start" targetRef="b-end" /></bpmn:process>\n'
        '<bpmn:process id="b" isExecutable="true"><bpmn:startEvent id="b-start" /><bpmn:endEvent id="b-end" /></bpmn:process>\n'
        "</bpmn:definitions>\n"
    ).encode()
    [problem] = problems_of(content)
    assert problem.element_id == "jump" and "in process 'b'" in problem.message


def test_rejects_a_feel_syntax_error_naming_the_flow_the_attribute_and_the_column():
    content = fixture("invalid/feel_syntax_error.bpmn")
    [problem] = problems_of(content, "feel_syntax_error.bpmn")
    assert problem.element_id == "to-big" and problem.element_type == "bpmn:sequenceFlow"
    assert problem.line == line_of(content, '<bpmn:sequenceFlow id="to-big"')
    assert "conditionExpression of sequence flow 'to-big'" in problem.message
    assert "'=amount > > 100'" in problem.message and "column 11" in problem.message


def test_rejects_a_feel_syntax_error_in_a_mapping_naming_the_element_and_the_target():
    content = process_xml(
        '<bpmn:startEvent id="start" />\n'
        + service_task("task", '<zeebe:ioMapping><zeebe:input source="=a +" target="total" /></zeebe:ioMapping>')
    )
    [problem] = problems_of(content)
    assert problem.element_id == "task" and problem.line == 5
    assert "the source of zeebe:input 'total' is not valid FEEL" in problem.message


def test_a_camunda_user_task_runs_as_a_job_based_user_task():
    # propolis has no task list: a worker for io.camunda.zeebe:userTask completes it.
    process = only_process(fixture("camunda_user_task.bpmn"))
    assert process.elements["approve"].job_type.evaluate({}) == "io.camunda.zeebe:userTask"


def test_reports_every_problem_of_a_resource_at_once():
    content = process_xml(
        '<bpmn:startEvent id="start" />\n'
        '<bpmn:userTask id="approve"><bpmn:extensionElements><zeebe:executionListeners /></bpmn:extensionElements></bpmn:userTask>\n'
        '<bpmn:callActivity id="call" />\n'
        '<bpmn:boundaryEvent id="timeout" attachedToRef="approve" />\n'
        + flow("f1", "start", "approve")
        + "\n"
        + flow("f2", "approve", "finish")
        + "\n"
        + service_task("task", '<zeebe:ioMapping><zeebe:input source="=(" target="x" /></zeebe:ioMapping>')
    )
    problems = problems_of(content)
    located = {(p.element_id, p.element_type, p.line) for p in problems}
    assert ("approve", "bpmn:userTask", 5) in located
    assert ("call", "bpmn:callActivity", 6) in located
    assert ("timeout", "bpmn:boundaryEvent", 7) in located
    assert ("f2", "bpmn:sequenceFlow", 9) in located
    assert ("task", "bpmn:serviceTask", 10) in located
    assert len(problems) == 5


def test_parse_error_lists_every_problem_in_its_message():
    error = BpmnParseError([Problem("a is wrong. Do b", "x", "bpmn:task", 3, "m.bpmn"), Problem("c is wrong", line=9, resource_name="m.bpmn")])
    assert str(error) == "- m.bpmn line 3: element 'x' (bpmn:task): a is wrong. Do b\n- m.bpmn line 9: c is wrong"


@pytest.mark.parametrize(
    ("definition", "missing"),
    [("messageEventDefinition", "messageRef"), ("timerEventDefinition", "timeDuration"), ("signalEventDefinition", "signalRef")],
)
def test_an_incomplete_event_start_event_names_what_is_missing_and_nothing_else(definition, missing):
    content = process_xml(f'<bpmn:startEvent id="start"><bpmn:{definition} /></bpmn:startEvent>')
    [problem] = problems_of(content)
    assert problem.element_id == "start" and missing in problem.message


def test_rejects_a_start_event_kind_that_only_event_sub_processes_have():
    content = process_xml('<bpmn:startEvent id="start"><bpmn:errorEventDefinition /></bpmn:startEvent>')
    [problem] = problems_of(content)
    assert problem.element_id == "start" and "error start event is not supported at the process level" in problem.message


def test_rejects_a_process_with_two_none_start_events_naming_both():
    [problem] = problems_of(process_xml('<bpmn:startEvent id="one" />\n<bpmn:startEvent id="two" />', process_id="twice"))
    assert problem.element_id == "twice" and problem.element_type == "bpmn:process"
    assert "'one' (line 4), 'two' (line 5)" in problem.message


def test_rejects_a_process_without_a_start_event():
    [problem] = problems_of(process_xml(service_task("task")))
    assert problem.element_id == "p" and "has no start event" in problem.message


def test_rejects_a_resource_without_an_executable_process():
    content = fixture("start_end.bpmn").replace(b'isExecutable="true"', b'isExecutable="false"')
    [problem] = problems_of(content)
    assert "no executable process" in problem.message and 'isExecutable="true"' in problem.message
    assert problem.line == 2


def test_rejects_duplicate_ids_naming_the_first_use():
    content = process_xml('<bpmn:startEvent id="start" />\n<bpmn:endEvent id="start" />\n' + flow("f", "start", "start"))
    problems = problems_of(content)
    assert any(p.element_id == "start" and p.line == 5 and "already used by the element on line 4" in p.message for p in problems)


def test_rejects_a_gateway_flow_without_condition_naming_the_flow():
    content = fixture("exclusive.bpmn").replace(b' default="to-small"', b"")
    [problem] = problems_of(content)
    assert problem.element_id == "amount-check" and problem.element_type == "bpmn:exclusiveGateway"
    assert "'to-small' has no condition" in problem.message and "default" in problem.message


def test_rejects_a_default_flow_that_does_not_leave_the_gateway():
    content = fixture("exclusive.bpmn").replace(b'default="to-small"', b'default="to-end"')
    problems = problems_of(content)
    assert any(p.element_id == "amount-check" and "default flow 'to-end' is not an outgoing" in p.message for p in problems)


def test_rejects_a_condition_that_is_not_feel_with_a_hint_for_camunda_7_expressions():
    content = fixture("exclusive.bpmn").replace(b"=amount &gt; 100", b"${approved}")
    [problem] = problems_of(content)
    assert problem.element_id == "to-big" and "not a FEEL expression" in problem.message
    assert "'=approved'" in problem.message


def test_rejects_a_condition_on_a_flow_that_does_not_leave_an_exclusive_gateway():
    content = process_xml(
        '<bpmn:startEvent id="start" />\n<bpmn:endEvent id="end" />\n' + flow("f", "start", "end", "=ok")
    )
    [problem] = problems_of(content)
    assert problem.element_id == "f" and "leaves bpmn:startEvent 'start'" in problem.message


def test_rejects_a_service_task_without_a_task_definition():
    content = process_xml('<bpmn:startEvent id="start" />\n<bpmn:serviceTask id="task" />')
    [problem] = problems_of(content)
    assert problem.element_id == "task" and "no zeebe:taskDefinition" in problem.message and problem.line == 5


def test_rejects_a_static_retries_that_is_not_a_number():
    content = process_xml(
        '<bpmn:startEvent id="start" />\n<bpmn:serviceTask id="task"><bpmn:extensionElements>'
        '<zeebe:taskDefinition type="work" retries="three" /></bpmn:extensionElements></bpmn:serviceTask>'
    )
    [problem] = problems_of(content)
    assert problem.element_id == "task" and "'three'" in problem.message


def test_rejects_a_message_without_correlation_key_once_however_many_elements_wait_for_it():
    message = '<bpmn:message id="Msg" name="paid" />\n'
    content = process_xml(
        '<bpmn:startEvent id="start" />\n<bpmn:receiveTask id="one" messageRef="Msg" />\n'
        '<bpmn:receiveTask id="two" messageRef="Msg" />',
        after=message,
    )
    [problem] = problems_of(content)
    assert (problem.element_id, problem.element_type) == ("Msg", "bpmn:message")
    assert "no correlation key" in problem.message and "zeebe:subscription" in problem.message


def test_rejects_a_static_correlation_key_suggesting_the_expression():
    content = fixture("message_catch.bpmn").replace(b'correlationKey="=orderId"', b'correlationKey="orderId"')
    [problem] = problems_of(content)
    assert problem.element_id == "Message_Payment" and "is a static value" in problem.message
    assert "'=orderId'" in problem.message


def test_rejects_a_message_ref_that_names_no_message():
    content = fixture("message_catch.bpmn").replace(b'messageRef="Message_Shipment"', b'messageRef="Message_Shipmnet"')
    [problem] = problems_of(content)
    assert problem.element_id == "wait-shipment" and "Did you mean 'Message_Shipment'?" in problem.message


def test_rejects_a_timer_catch_event_without_a_time():
    content = process_xml(
        '<bpmn:startEvent id="start" />\n<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition />'
        "</bpmn:intermediateCatchEvent>"
    )
    [problem] = problems_of(content)
    assert problem.element_id == "wait" and "the timer has no timeDuration, timeDate or timeCycle" in problem.message


def test_rejects_multi_instance_and_execution_listeners_rather_than_running_the_task_once():
    content = process_xml(
        '<bpmn:startEvent id="start" />\n'
        + service_task("task", '<zeebe:executionListeners><zeebe:executionListener eventType="start" type="audit" /></zeebe:executionListeners>')
        .replace("</bpmn:serviceTask>", "<bpmn:multiInstanceLoopCharacteristics /></bpmn:serviceTask>")
    )
    problems = problems_of(content)
    assert {p.element_id for p in problems} == {"task"}
    assert any("multi-instance" in p.message for p in problems) and any("execution listeners" in p.message for p in problems)


def test_rejects_a_mapping_target_that_is_not_a_name_or_a_path():
    content = process_xml(
        '<bpmn:startEvent id="start" />\n'
        + service_task("task", '<zeebe:ioMapping><zeebe:output source="=x" target="a b" /></zeebe:ioMapping>')
    )
    [problem] = problems_of(content)
    assert problem.element_id == "task" and "'a b'" in problem.message


def test_rejects_flows_into_a_start_event_and_out_of_an_end_event():
    content = process_xml('<bpmn:startEvent id="start" />\n<bpmn:endEvent id="end" />\n' + flow("back", "end", "start"))
    messages = {p.element_id: p.message for p in problems_of(content)}
    assert "cannot have incoming" in messages["start"] and "cannot have outgoing" in messages["end"]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("invalid/*.bpmn")), ids=lambda p: p.name)
def test_every_invalid_fixture_is_rejected_with_a_located_problem(path):
    problems = problems_of(path.read_bytes(), path.name)
    assert problems and all(p.line is not None for p in problems)
    assert all(str(p).startswith(f"{path.name} line {p.line}: ") for p in problems)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.bpmn")), ids=lambda p: p.name)
def test_every_valid_fixture_parses(path):
    assert parse_bpmn(path.read_bytes(), path.name).processes


@pytest.mark.skipif(not CORPUS.exists(), reason="the shared BPMN corpus is not beside this checkout")
def test_every_corpus_model_parses_or_is_rejected_with_located_problems():
    outcomes: Counter[str] = Counter()
    for path in sorted(CORPUS.rglob("*.bpmn")):
        try:
            parse_bpmn(path.read_bytes(), path.name)
            outcomes["deployable"] += 1
        except BpmnParseError as error:
            outcomes["rejected"] += 1
            unlocated = [p for p in error.problems if p.line is None and not p.element_id]
            assert not unlocated, f"{path}: {unlocated}"
            assert error.problems, path
    print(f"corpus {CORPUS}: {dict(outcomes)}")
    assert outcomes["deployable"] > 0


@pytest.mark.parametrize(
    ("body", "element_id", "words"),
    [
        ('<bpmn:boundaryEvent id="undo" attachedToRef="t"><bpmn:compensateEventDefinition /></bpmn:boundaryEvent>', "undo", "has no compensation handler"),
        ('<bpmn:intermediateThrowEvent id="comp"><bpmn:compensateEventDefinition activityRef="nope" /></bpmn:intermediateThrowEvent>', "comp", "activityRef 'nope' names no activity"),
        ('<bpmn:transaction id="tx" />', "tx", "bpmn:transaction is not supported"),
        ('<bpmn:complexGateway id="cg" />', "cg", "bpmn:complexGateway is not supported"),
        ('<bpmn:adHocSubProcess id="adhoc" />', "adhoc", "bpmn:adHocSubProcess is not supported"),
    ],
)
def test_elements_propolis_does_not_run_or_that_are_incomplete_are_refused_naming_the_element(body, element_id, words):
    problems = problems_of(process_xml('<bpmn:startEvent id="s" />\n' + service_task("t") + "\n" + body))
    assert [(p.element_id, words in p.message) for p in problems] == [(element_id, True)]


def test_zeebe_properties_are_metadata_and_do_not_stop_a_deployment():
    properties = '<zeebe:properties><zeebe:property name="owner" value="billing" /></zeebe:properties>'
    [process] = parse_bpmn(process_xml('<bpmn:startEvent id="s" />\n' + service_task("t", properties)), "m.bpmn").processes
    assert process.elements["t"].kind == ElementKind.SERVICE_TASK


def test_an_event_sub_process_needs_exactly_one_event_start_event_and_no_flows():
    body = (
        '<bpmn:startEvent id="s" />\n<bpmn:endEvent id="e" />\n<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e" />\n'
        '<bpmn:subProcess id="ev" triggeredByEvent="true"><bpmn:startEvent id="inner" /></bpmn:subProcess>'
    )
    [problem] = problems_of(process_xml(body))
    assert problem.element_id == "ev" and "exactly one start event with an event definition" in problem.message


def test_an_event_based_gateway_may_only_lead_to_catch_events():
    body = (
        '<bpmn:startEvent id="s" />\n<bpmn:eventBasedGateway id="g" />\n' + service_task("t") + "\n"
        '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1M</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n'
        '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g" /><bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="t" />'
        '<bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="wait" />'
    )
    [problem] = problems_of(process_xml(body))
    assert problem.element_id == "g" and "'f2' leads to 't'" in problem.message


def test_signal_and_escalation_references_are_checked_with_a_did_you_mean():
    body = (
        '<bpmn:startEvent id="s" />\n'
        '<bpmn:intermediateThrowEvent id="sig"><bpmn:signalEventDefinition signalRef="Signal_1x" /></bpmn:intermediateThrowEvent>\n'
        '<bpmn:endEvent id="esc"><bpmn:escalationEventDefinition escalationRef="Nope" /></bpmn:endEvent>'
    )
    problems = problems_of(process_xml(body, after='<bpmn:signal id="Signal_1" name="go" />\n'))
    by_id = {p.element_id: p.message for p in problems}
    assert "Did you mean 'Signal_1'?" in by_id["sig"]
    assert "escalationRef 'Nope' names no bpmn:escalation" in by_id["esc"]
