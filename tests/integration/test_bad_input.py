"""Bad input gets a precise error, the broker keeps serving, and nothing stored changes."""

from __future__ import annotations

import grpc
import pytest
from propolis.gateway.protocol import GatewayStub, pb

from tests.broker import models
from tests.support.dev_server import DevServer

FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "bpmn"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    server = DevServer(tmp_path_factory.mktemp("bad-input") / "data")
    server.start()
    channel = grpc.insecure_channel(server.address, options=[("grpc.max_send_message_length", 64 << 20)])
    stub = GatewayStub(channel)
    stub.DeployResource(pb.DeployResourceRequest(resources=[pb.Resource(name="one.bpmn", content=models.one_task("bad-input-ok"))]), timeout=10)
    yield stub
    channel.close()
    assert server.stop() == 0


def rpc_error(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=10)
    return caught.value


def deploy_request(name: str, content: bytes) -> object:
    return pb.DeployResourceRequest(resources=[pb.Resource(name=name, content=content)])


def still_serving(stub) -> None:
    created = stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="bad-input-ok", version=-1), timeout=10)
    assert created.version == 1  # the earlier deployment is untouched


def test_malformed_xml_is_rejected_naming_the_resource_and_line(gateway):
    error = rpc_error(gateway.DeployResource, deploy_request("broken.bpmn", b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="x">\n<oops'))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "broken.bpmn" in error.details()
    assert "line" in error.details()
    still_serving(gateway)


def test_a_sequence_flow_with_a_missing_target_is_rejected_naming_the_flow(gateway):
    content = models.one_task("missing-target").replace(b'targetRef="end"', b'targetRef="the-end"')
    error = rpc_error(gateway.DeployResource, deploy_request("missing.bpmn", content))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "f2" in error.details() and "the-end" in error.details()
    still_serving(gateway)


def test_a_feel_syntax_error_is_rejected_naming_the_element(gateway):
    content = models.exclusive("feel-error").replace(b"=amount &gt; 100", b"=amount &gt; &gt; 100")
    error = rpc_error(gateway.DeployResource, deploy_request("feel.bpmn", content))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "to-big" in error.details()
    still_serving(gateway)


@pytest.mark.parametrize("variables", ['[1, 2]', '{"unclosed": ', '"text"'])
def test_variables_that_are_not_a_json_object_are_rejected_naming_the_field(gateway, variables):
    error = rpc_error(gateway.CreateProcessInstance, pb.CreateProcessInstanceRequest(bpmnProcessId="bad-input-ok", version=-1, variables=variables))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "variables" in error.details()
    still_serving(gateway)


def test_unknown_keys_answer_not_found_naming_the_key(gateway):
    for call, request, key in [
        (gateway.CompleteJob, pb.CompleteJobRequest(jobKey=2251799813685999), 2251799813685999),
        (gateway.CancelProcessInstance, pb.CancelProcessInstanceRequest(processInstanceKey=2251799813686000), 2251799813686000),
        (gateway.ResolveIncident, pb.ResolveIncidentRequest(incidentKey=2251799813686001), 2251799813686001),
        (gateway.SetVariables, pb.SetVariablesRequest(elementInstanceKey=2251799813686002, variables="{}"), 2251799813686002),
    ]:
        error = rpc_error(call, request)
        assert error.code() == grpc.StatusCode.NOT_FOUND, (call, error.details())
        assert str(key) in error.details()
    still_serving(gateway)


def test_a_10_mb_payload_is_rejected_and_the_broker_keeps_serving(gateway):
    huge = '{"blob": "' + "x" * (10 * 1024 * 1024) + '"}'
    error = rpc_error(gateway.CreateProcessInstance, pb.CreateProcessInstanceRequest(bpmnProcessId="bad-input-ok", version=-1, variables=huge))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "variables" in error.details()
    still_serving(gateway)
