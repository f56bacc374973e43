"""Zeebe protocol semantics that clients rely on, against a real `propolis dev`."""

from __future__ import annotations

import json
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from propolis.gateway.protocol import GatewayStub, pb

from tests.broker import models
from tests.support.dev_server import DevServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    dev = DevServer(tmp_path_factory.mktemp("gateway") / "data")
    dev.start()
    yield dev
    assert dev.stop() == 0


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(server.address)
    stub = GatewayStub(channel)
    resources = [
        pb.Resource(name="one.bpmn", content=models.one_task("gw-one", "gw-work")),
        pb.Resource(name="poll.bpmn", content=models.one_task("gw-poll", "gw-poll-work")),
        pb.Resource(name="stream.bpmn", content=models.one_task("gw-stream", "gw-stream-work")),
        pb.Resource(name="msg.bpmn", content=models.message_catch("gw-msg")),
    ]
    stub.DeployResource(pb.DeployResourceRequest(resources=resources), timeout=10)
    yield stub
    channel.close()


def activate(stub, job_type: str, request_timeout_ms: int, max_jobs: int = 10) -> list:
    request = pb.ActivateJobsRequest(type=job_type, worker="t", timeout=60_000, maxJobsToActivate=max_jobs, requestTimeout=request_timeout_ms)
    return [job for response in stub.ActivateJobs(request, timeout=30) for job in response.jobs]


def test_health_service_reports_serving(server):
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        assert health.Check(health_pb2.HealthCheckRequest(service="gateway_protocol.Gateway"), timeout=5).status == health_pb2.HealthCheckResponse.SERVING


def test_topology_shows_the_broker_leading_its_partition(stub):
    topology = stub.Topology(pb.TopologyRequest(), timeout=5)
    assert topology.clusterSize == 1 and topology.partitionsCount == 1
    [partition] = topology.brokers[0].partitions
    assert partition.role == pb.Partition.LEADER and partition.health == pb.Partition.HEALTHY


def test_a_long_poll_is_answered_as_soon_as_a_job_appears(stub):
    found: list = []
    poller = threading.Thread(target=lambda: found.extend(activate(stub, "gw-poll-work", 20_000)))
    started = time.monotonic()
    poller.start()
    time.sleep(0.5)
    instance = stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="gw-poll", version=-1), timeout=5)
    poller.join(timeout=25)
    assert [job.processInstanceKey for job in found] == [instance.processInstanceKey]
    assert time.monotonic() - started < 15  # woken by the job, well before the 20 s poll ended


def test_a_long_poll_without_jobs_ends_empty_at_its_request_timeout(stub):
    started = time.monotonic()
    assert activate(stub, "nobody-has-this-type", 700) == []
    assert 0.6 <= time.monotonic() - started < 10


def test_a_negative_request_timeout_answers_at_once(stub):
    started = time.monotonic()
    assert activate(stub, "nobody-has-this-type", -1) == []
    assert time.monotonic() - started < 5


def test_json_fields_are_never_empty(stub):
    stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="gw-one", version=-1), timeout=5)
    [job] = activate(stub, "gw-work", -1, max_jobs=1)
    assert json.loads(job.variables) == {}
    assert json.loads(job.customHeaders) == {"k": "v"}
    stub.CompleteJob(pb.CompleteJobRequest(jobKey=job.key), timeout=5)


def test_create_with_result_past_its_request_timeout_is_deadline_exceeded(stub):
    request = pb.CreateProcessInstanceWithResultRequest(
        request=pb.CreateProcessInstanceRequest(bpmnProcessId="gw-msg", version=-1, variables='{"orderId": "never"}'),
        requestTimeout=500,
    )
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateProcessInstanceWithResult(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "gw-msg" in caught.value.details()


def test_create_with_result_returns_the_variables_it_was_asked_for(stub):
    result: dict = {}

    def create() -> None:
        request = pb.CreateProcessInstanceWithResultRequest(
            request=pb.CreateProcessInstanceRequest(bpmnProcessId="gw-msg", version=-1, variables='{"orderId": "o-9", "extra": 1}'),
            requestTimeout=10_000,
            fetchVariables=["paid"],
        )
        result["response"] = stub.CreateProcessInstanceWithResult(request, timeout=15)

    creator = threading.Thread(target=create)
    creator.start()
    time.sleep(0.3)
    stub.PublishMessage(pb.PublishMessageRequest(name="payment-received", correlationKey="o-9", variables='{"paid": 42}', timeToLive=10_000), timeout=5)
    creator.join(timeout=20)
    assert json.loads(result["response"].variables) == {"paid": 42}


def test_a_job_stream_pushes_jobs_as_they_appear_and_stops_taking_jobs_once_closed(server, stub):
    channel = grpc.insecure_channel(server.address)
    stream = GatewayStub(channel).StreamActivatedJobs(pb.StreamActivatedJobsRequest(type="gw-stream-work", worker="s", timeout=600_000), timeout=30)
    time.sleep(0.3)
    created = stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="gw-stream", version=-1), timeout=5)
    first = next(stream)
    assert first.processInstanceKey == created.processInstanceKey
    assert json.loads(first.variables) == {}
    stream.cancel()
    channel.close()
    time.sleep(0.5)
    later = stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="gw-stream", version=-1), timeout=5)
    jobs = activate(stub, "gw-stream-work", 2_000)
    assert [job.processInstanceKey for job in jobs] == [later.processInstanceKey]


@pytest.mark.parametrize("rpc", ["EvaluateDecision", "MigrateProcessInstance"])
def test_rpcs_not_built_yet_answer_unimplemented_naming_the_rpc(stub, rpc):
    request = getattr(pb, f"{rpc}Request")()
    with pytest.raises(grpc.RpcError) as caught:
        getattr(stub, rpc)(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert rpc in caught.value.details()


def test_an_empty_authorization_header_is_ignored(stub):
    topology = stub.Topology(pb.TopologyRequest(), timeout=5, metadata=[("authorization", "")])
    assert topology.clusterSize == 1


def test_a_duplicate_message_id_is_already_exists(stub):
    request = pb.PublishMessageRequest(name="dup", correlationKey="k", messageId="m-1", timeToLive=60_000)
    stub.PublishMessage(request, timeout=5)
    with pytest.raises(grpc.RpcError) as caught:
        stub.PublishMessage(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "'m-1'" in caught.value.details()


def test_overload_is_resource_exhausted_not_a_hang(tmp_path):
    dev = DevServer(tmp_path / "data", env={"PROPOLIS_INFLIGHT_COMMANDS_MAX": "1"})
    dev.start()
    try:
        channel = grpc.insecure_channel(dev.address)
        stub = GatewayStub(channel)
        stub.DeployResource(pb.DeployResourceRequest(resources=[pb.Resource(name="se.bpmn", content=models.start_end())]), timeout=10)
        futures = [
            stub.CreateProcessInstance.future(pb.CreateProcessInstanceRequest(bpmnProcessId="start-end", version=-1), timeout=20)
            for _ in range(300)
        ]
        codes = []
        for future in futures:
            try:
                future.result()
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                codes.append(error.code())
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
        channel.close()
    finally:
        assert dev.stop() == 0
