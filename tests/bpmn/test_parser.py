"""The parser turns models into executable processes, or names every problem and where."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from propolis.bpmn.errors import BpmnParseError
from propolis.bpmn.model import ElementKind
from propolis.bpmn.parser import parse_bpmn

from tests.broker import models

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "bpmn"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn"


def problems_of(content: bytes, name: str = "model.bpmn") -> list:
    with pytest.raises(BpmnParseError) as caught:
        parse_bpmn(content, name)
    return caught.value.problems


def test_reads_a_service_task_with_its_job_type_retries_and_headers():
    [process] = parse_bpmn(models.one_task(), "one.bpmn").processes
    task = process.elements["task"]
    assert process.id == "one-task" and process.start_event_id == "start"
    assert task.kind == ElementKind.SERVICE_TASK
    assert task.job_type.evaluate({}) == "work" and task.job_retries.evaluate({}) == "3"
    assert task.task_headers == {"k": "v"}
    assert task.incoming == ["f1"] and task.outgoing == ["f2"]


def test_reads_conditions_and_the_default_flow_of_an_exclusive_gateway():
    [process] = parse_bpmn(models.exclusive(), "ex.bpmn").processes
    gateway = process.elements["gw"]
    assert gateway.default_flow_id == "to-small"
    assert process.flows["to-big"].condition.evaluate({"amount": 101}) is True


def test_reads_message_catches_with_name_and_correlation_key():
    for receive in (False, True):
        [process] = parse_bpmn(models.message_catch(receive_task=receive), "m.bpmn").processes
        message = process.elements["wait"].message
        assert message.name.evaluate({}) == "payment-received"
        assert message.correlation_key.evaluate({"orderId": "o-1"}) == "o-1"


def test_reads_input_and_output_mappings():
    [process] = parse_bpmn(models.io_mapping(), "io.bpmn").processes
    task = process.elements["task"]
    assert [m.target for m in task.input_mappings] == ["doubled"]
    assert task.input_mappings[0].source.evaluate({"order": {"total": 2}}) == 4
    assert [m.target for m in task.output_mappings] == ["finalResult"]


def test_rejects_malformed_xml_naming_the_line():
    [problem] = problems_of(b'<?xml version="1.0"?>\n<definitions>\n<broken', "broken.bpmn")
    assert problem.line is not None and "malformed" in problem.message
    assert "broken.bpmn" in str(problem)


def test_rejects_a_document_that_is_not_bpmn():
    [problem] = problems_of(b"<html><body/></html>")
    assert "BPMN 2.0" in problem.message and "<html>" in problem.message


def test_rejects_flow_with_missing_target_naming_the_flow_and_suggesting_a_fix():
    content = models.one_task().replace(b'targetRef="end"', b'targetRef="endd"')
    [problem] = problems_of(content)
    assert problem.element_id == "f2" and problem.line is not None
    assert "'endd'" in problem.message and "did you mean 'end'" in problem.message


def test_rejects_a_feel_syntax_error_naming_the_flow_and_attribute():
    content = models.exclusive().replace(b"=amount &gt; 100", b"=amount &gt;")
    [problem] = problems_of(content)
    assert problem.element_id == "to-big"
    assert "conditionExpression" in problem.message and "amount >" in problem.message


def test_rejects_unsupported_elements_naming_id_type_and_line_and_reports_all_of_them():
    content = models.one_task().replace(
        b'<bpmn:endEvent id="end" />', b'<bpmn:userTask id="approve" />\n<bpmn:endEvent id="end" />\n<bpmn:callActivity id="call" />'
    )
    problems = problems_of(content)
    described = {(p.element_id, p.element_type) for p in problems}
    assert ("approve", "bpmn:userTask") in described and ("call", "bpmn:callActivity") in described
    assert all(p.line for p in problems)


def test_rejects_a_gateway_flow_without_condition():
    content = models.exclusive().replace(b' default="to-small"', b"")
    problems = problems_of(content)
    assert any(p.element_id == "gw" and "'to-small'" in p.message for p in problems)


def test_rejects_a_resource_without_executable_process():
    problems = problems_of(models.start_end().replace(b'isExecutable="true"', b'isExecutable="false"'))
    assert "executable" in problems[0].message


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("invalid/*.bpmn")), ids=lambda p: p.name)
def test_every_invalid_fixture_is_rejected_with_a_located_problem(path):
    problems = problems_of(path.read_bytes(), path.name)
    assert all(p.line is not None or p.element_id for p in problems)


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
    print(f"corpus: {dict(outcomes)}")
    assert outcomes["deployable"] > 0
