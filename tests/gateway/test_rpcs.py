"""Every RPC of the gateway against the fake broker, over a real gRPC channel: which command
each request becomes, what the response carries, and how errors are answered."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from propolis.broker.client import BrokerOverloadedError, BrokerUnavailableError
from propolis.gateway.config import GatewayConfig
from propolis.gateway.protocol import pb

from propolis.records import (
    DEFAULT_TENANT,
    DeploymentIntent,
    IncidentIntent,
    JobIntent,
    MessageIntent,
    ProcessInstanceCreationIntent,
    ProcessInstanceIntent,
    RejectionType,
    ValueType,
    VariableDocumentIntent,
    encode_key,
)
from tests.gateway.fake_broker import FakeBroker, RunningGateway

TIMEOUT_S = 10


def rpc_error(call, request, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=TIMEOUT_S, **kwargs)
    return caught.value


def activated_job_key(fake_broker: FakeBroker, gateway_stub, job_type: str = "charge") -> int:
    fake_broker.add_job(job_type)
    request = pb.ActivateJobsRequest(type=job_type, worker="w", timeout=60_000, maxJobsToActivate=1, requestTimeout=-1)
    [response] = list(gateway_stub.ActivateJobs(request, timeout=TIMEOUT_S))
    return response.jobs[0].key


# -- cluster ---------------------------------------------------------------------------------


def test_topology_answers_the_broker_topology_with_the_gateway_version(gateway_stub):
    topology = gateway_stub.Topology(pb.TopologyRequest(), timeout=TIMEOUT_S)
    assert (topology.clusterSize, topology.partitionsCount, topology.replicationFactor) == (1, 1, 1)
    [broker] = topology.brokers
    assert (broker.nodeId, broker.host, broker.port, broker.version) == (0, "127.0.0.1", 26501, "0.1.0")
    [partition] = broker.partitions
    assert partition.partitionId == 1
    assert partition.role == pb.Partition.LEADER and partition.health == pb.Partition.HEALTHY
    assert topology.gatewayVersion


def test_the_health_service_reports_serving_for_the_server_and_the_gateway_service(gateway_channel):
    health = health_pb2_grpc.HealthStub(gateway_channel)
    for service in ("", "gateway_protocol.Gateway"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_S)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_an_empty_authorization_header_is_ignored(gateway_stub):
    topology = gateway_stub.Topology(pb.TopologyRequest(), timeout=TIMEOUT_S, metadata=[("authorization", "")])
    assert topology.partitionsCount == 1


def test_port_zero_binds_a_free_port_and_start_returns_it(gateway):
    assert gateway.port > 0


def test_a_second_gateway_on_a_taken_port_fails_to_start(gateway, fake_broker):
    with pytest.raises(OSError):
        RunningGateway(fake_broker, GatewayConfig(host="127.0.0.1", port=gateway.port))


# -- deployments -----------------------------------------------------------------------------


def test_deploy_resource_sends_one_deployment_to_partition_one_and_answers_its_processes(fake_broker, gateway_stub):
    request = pb.DeployResourceRequest(resources=[pb.Resource(name="order.bpmn", content=b"<xml/>"), pb.Resource(name="pay.bpmn", content=b"<p/>")])
    response = gateway_stub.DeployResource(request, timeout=TIMEOUT_S)
    [sent] = fake_broker.commands(ValueType.DEPLOYMENT)
    assert (sent.partition_id, sent.intent, sent.key, sent.tenant_id) == (1, DeploymentIntent.CREATE, -1, DEFAULT_TENANT)
    assert sent.value == {"resources": [{"resourceName": "order.bpmn", "resource": b"<xml/>"}, {"resourceName": "pay.bpmn", "resource": b"<p/>"}]}
    assert response.key > 0 and response.tenantId == DEFAULT_TENANT
    assert [(d.process.bpmnProcessId, d.process.version, d.process.resourceName, d.process.tenantId) for d in response.deployments] == [
        ("order", 1, "order.bpmn", DEFAULT_TENANT),
        ("pay", 1, "pay.bpmn", DEFAULT_TENANT),
    ]
    assert all(d.process.processDefinitionKey > 0 for d in response.deployments)


def test_deploy_process_the_older_rpc_sends_the_same_deployment_command(fake_broker, gateway_stub):
    request = pb.DeployProcessRequest(processes=[pb.ProcessRequestObject(name="order.bpmn", definition=b"<xml/>")])
    response = gateway_stub.DeployProcess(request, timeout=TIMEOUT_S)
    [sent] = fake_broker.commands(ValueType.DEPLOYMENT, DeploymentIntent.CREATE)
    assert sent.value == {"resources": [{"resourceName": "order.bpmn", "resource": b"<xml/>"}]}
    assert [p.bpmnProcessId for p in response.processes] == ["order"]


def test_a_deployment_without_resources_is_invalid_argument(fake_broker, gateway_stub):
    error = rpc_error(gateway_stub.DeployResource, pb.DeployResourceRequest())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "Expected to deploy at least one resource, but none given"
    assert fake_broker.sent == []


# -- process instances -----------------------------------------------------------------------


def test_create_process_instance_sends_the_parsed_variables_and_answers_the_instance(fake_broker, gateway_stub):
    request = pb.CreateProcessInstanceRequest(
        bpmnProcessId="order", version=-1, variables='{"orderId": 7, "items": [1, 2]}',
        startInstructions=[pb.ProcessInstanceCreationStartInstruction(elementId="pay")],
    )
    response = gateway_stub.CreateProcessInstance(request, timeout=TIMEOUT_S)
    [sent] = fake_broker.commands(ValueType.PROCESS_INSTANCE_CREATION)
    assert sent.intent == ProcessInstanceCreationIntent.CREATE and sent.key == -1
    assert sent.value == {
        "bpmnProcessId": "order", "version": -1, "processDefinitionKey": -1,
        "variables": {"orderId": 7, "items": [1, 2]}, "startInstructions": [{"elementId": "pay"}],
    }
    assert response.bpmnProcessId == "order" and response.version == 1
    assert response.processInstanceKey > 0 and response.tenantId == DEFAULT_TENANT


def test_create_process_instance_by_definition_key_sends_the_key(fake_broker, gateway_stub):
    key = encode_key(1, 42)
    gateway_stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(processDefinitionKey=key), timeout=TIMEOUT_S)
    [sent] = fake_broker.commands(ValueType.PROCESS_INSTANCE_CREATION)
    assert sent.value["processDefinitionKey"] == key and sent.value["bpmnProcessId"] == ""


def test_a_creation_without_process_id_or_definition_key_is_invalid_argument(fake_broker, gateway_stub):
    error = rpc_error(gateway_stub.CreateProcessInstance, pb.CreateProcessInstanceRequest(version=-1))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "Expected at least a bpmnProcessId or a key greater than -1, but none given"
    assert fake_broker.sent == []


@pytest.mark.parametrize("fake_broker", [FakeBroker(partition_count=3)])
def test_new_process_instances_are_spread_round_robin_over_the_partitions(fake_broker, gateway_stub):
    for _ in range(6):
        gateway_stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="order"), timeout=TIMEOUT_S)
    partitions = [s.partition_id for s in fake_broker.commands(ValueType.PROCESS_INSTANCE_CREATION)]
    assert sorted(partitions) == [1, 1, 2, 2, 3, 3]


def test_create_with_result_returns_only_the_variables_asked_for(fake_broker, gateway_stub):
    request = pb.CreateProcessInstanceWithResultRequest(
        request=pb.CreateProcessInstanceRequest(bpmnProcessId="order", variables='{"orderId": 7, "secret": 1}'),
        fetchVariables=["orderId", "result", "missing"],
        requestTimeout=5_000,
    )
    response = gateway_stub.CreateProcessInstanceWithResult(request, timeout=TIMEOUT_S)
    [sent] = fake_broker.commands(ValueType.PROCESS_INSTANCE_CREATION)
    assert sent.intent == ProcessInstanceCreationIntent.CREATE_WITH_AWAITING_RESULT
    assert sent.value["fetchVariables"] == ["orderId", "result", "missing"]
    assert json.loads(response.variables) == {"orderId": 7, "result": "done"}
    assert response.processInstanceKey > 0 and response.bpmnProcessId == "order"


def test_create_with_result_without_fetch_variables_returns_them_all(fake_broker, gateway_stub):
    request = pb.CreateProcessInstanceWithResultRequest(request=pb.CreateProcessInstanceRequest(bpmnProcessId="order", variables='{"a": 1}'))
    response = gateway_stub.CreateProcessInstanceWithResult(request, timeout=TIMEOUT_S)
    assert json.loads(response.variables) == {"a": 1, "result": "done"}


def test_create_with_result_past_its_request_timeout_is_deadline_exceeded_naming_process_and_timeout(fake_broker, gateway_stub):
    fake_broker.instances_complete = False
    request = pb.CreateProcessInstanceWithResultRequest(request=pb.CreateProcessInstanceRequest(bpmnProcessId="order"), requestTimeout=300)
    started = time.monotonic()
    error = rpc_error(gateway_stub.CreateProcessInstanceWithResult, request)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "'order'" in error.details() and "300 ms" in error.details()
    assert 0.25 <= time.monotonic() - started < 5


@pytest.mark.parametrize("gateway_config", [GatewayConfig(host="127.0.0.1", port=0, request_timeout_ms_default=400)], indirect=True)
def test_create_with_result_and_request_timeout_zero_waits_the_configured_default(fake_broker, gateway_stub):
    fake_broker.instances_complete = False
    request = pb.CreateProcessInstanceWithResultRequest(request=pb.CreateProcessInstanceRequest(bpmnProcessId="order"), requestTimeout=0)
    started = time.monotonic()
    error = rpc_error(gateway_stub.CreateProcessInstanceWithResult, request)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "400 ms" in error.details()
    assert 0.35 <= time.monotonic() - started < 5


def test_cancel_process_instance_goes_to_the_partition_of_its_key(fake_broker, gateway_stub):
    fake_broker.partition_count = 3
    key = encode_key(2, 99)
    assert gateway_stub.CancelProcessInstance(pb.CancelProcessInstanceRequest(processInstanceKey=key), timeout=TIMEOUT_S) == pb.CancelProcessInstanceResponse()
    [sent] = fake_broker.commands(ValueType.PROCESS_INSTANCE)
    assert (sent.partition_id, sent.intent, sent.key, sent.value) == (2, ProcessInstanceIntent.CANCEL, key, {})


@pytest.mark.parametrize(("local", "semantics"), [(True, "LOCAL"), (False, "PROPAGATE")])
def test_set_variables_sends_the_scope_the_document_and_its_semantics(fake_broker, gateway_stub, local, semantics):
    key = encode_key(1, 5)
    response = gateway_stub.SetVariables(pb.SetVariablesRequest(elementInstanceKey=key, variables='{"x": 1}', local=local), timeout=TIMEOUT_S)
    [sent] = fake_broker.commands(ValueType.VARIABLE_DOCUMENT)
    assert sent.intent == VariableDocumentIntent.UPDATE
    assert sent.value == {"scopeKey": key, "variables": {"x": 1}, "updateSemantics": semantics}
    assert response.key > 0


def test_resolve_incident_sends_the_incident_key(fake_broker, gateway_stub):
    key = encode_key(1, 77)
    assert gateway_stub.ResolveIncident(pb.ResolveIncidentRequest(incidentKey=key), timeout=TIMEOUT_S) == pb.ResolveIncidentResponse()
    [sent] = fake_broker.commands(ValueType.INCIDENT)
    assert (sent.intent, sent.key) == (IncidentIntent.RESOLVE, key)


@pytest.mark.parametrize(
    ("call", "request_"),
    [
        ("CancelProcessInstance", pb.CancelProcessInstanceRequest(processInstanceKey=0)),
        ("ResolveIncident", pb.ResolveIncidentRequest(incidentKey=-4)),
        ("SetVariables", pb.SetVariablesRequest(elementInstanceKey=0, variables="{}")),
        ("CompleteJob", pb.CompleteJobRequest(jobKey=0)),
    ],
)
def test_a_key_that_cannot_exist_is_invalid_argument_naming_the_field(fake_broker, gateway_stub, call, request_):
    error = rpc_error(getattr(gateway_stub, call), request_)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    field = request_.DESCRIPTOR.fields[0].name
    assert f"'{field}'" in error.details()
    assert fake_broker.sent == []


# -- messages --------------------------------------------------------------------------------


def test_publish_message_sends_name_correlation_key_ttl_id_and_variables(fake_broker, gateway_stub):
    request = pb.PublishMessageRequest(name="paid", correlationKey="order-7", timeToLive=60_000, messageId="m-1", variables='{"amount": 5}')
    response = gateway_stub.PublishMessage(request, timeout=TIMEOUT_S)
    [sent] = fake_broker.commands(ValueType.MESSAGE)
    assert sent.intent == MessageIntent.PUBLISH and sent.key == -1
    assert sent.value == {"name": "paid", "correlationKey": "order-7", "timeToLive": 60_000, "messageId": "m-1", "variables": {"amount": 5}}
    assert response.key > 0 and response.tenantId == DEFAULT_TENANT


@pytest.mark.parametrize("fake_broker", [FakeBroker(partition_count=5)])
def test_messages_are_routed_by_a_stable_hash_of_their_correlation_key(fake_broker, gateway_stub):
    keys = [f"order-{n}" for n in range(20)]
    for key in keys + keys:
        gateway_stub.PublishMessage(pb.PublishMessageRequest(name="paid", correlationKey=key), timeout=TIMEOUT_S)
    partitions = [s.partition_id for s in fake_broker.commands(ValueType.MESSAGE)]
    assert partitions == [zlib.crc32(key.encode()) % 5 + 1 for key in keys + keys]
    assert len(set(partitions)) > 1


def test_a_duplicate_message_id_is_already_exists_with_the_broker_reason(fake_broker, gateway_stub):
    request = pb.PublishMessageRequest(name="paid", correlationKey="k", messageId="m-1")
    gateway_stub.PublishMessage(request, timeout=TIMEOUT_S)
    error = rpc_error(gateway_stub.PublishMessage, request)
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "'m-1'" in error.details()


def test_a_message_without_a_name_is_invalid_argument(fake_broker, gateway_stub):
    error = rpc_error(gateway_stub.PublishMessage, pb.PublishMessageRequest(correlationKey="k"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "name" in error.details()


# -- jobs ------------------------------------------------------------------------------------


def test_complete_job_sends_the_job_key_and_variables(fake_broker, gateway_stub):
    key = activated_job_key(fake_broker, gateway_stub)
    assert gateway_stub.CompleteJob(pb.CompleteJobRequest(jobKey=key, variables='{"paid": true}'), timeout=TIMEOUT_S) == pb.CompleteJobResponse()
    [sent] = fake_broker.commands(ValueType.JOB, JobIntent.COMPLETE)
    assert (sent.partition_id, sent.key, sent.value) == (1, key, {"variables": {"paid": True}})


def test_fail_job_sends_retries_message_backoff_and_variables(fake_broker, gateway_stub):
    key = activated_job_key(fake_broker, gateway_stub)
    gateway_stub.FailJob(pb.FailJobRequest(jobKey=key, retries=2, errorMessage="boom", retryBackOff=1_500, variables='{"tries": 1}'), timeout=TIMEOUT_S)
    [sent] = fake_broker.commands(ValueType.JOB, JobIntent.FAIL)
    assert sent.key == key
    assert sent.value == {"retries": 2, "errorMessage": "boom", "retryBackoff": 1_500, "variables": {"tries": 1}}


def test_throw_error_sends_code_message_and_variables(fake_broker, gateway_stub):
    key = activated_job_key(fake_broker, gateway_stub)
    gateway_stub.ThrowError(pb.ThrowErrorRequest(jobKey=key, errorCode="NO_STOCK", errorMessage="none left"), timeout=TIMEOUT_S)
    [sent] = fake_broker.commands(ValueType.JOB, JobIntent.THROW_ERROR)
    assert (sent.key, sent.value) == (key, {"errorCode": "NO_STOCK", "errorMessage": "none left", "variables": {}})


def test_throw_error_without_an_error_code_is_invalid_argument(fake_broker, gateway_stub):
    error = rpc_error(gateway_stub.ThrowError, pb.ThrowErrorRequest(jobKey=encode_key(1, 3)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "errorCode" in error.details()


def test_update_job_retries_and_timeout_send_their_values(fake_broker, gateway_stub):
    key = activated_job_key(fake_broker, gateway_stub)
    gateway_stub.UpdateJobRetries(pb.UpdateJobRetriesRequest(jobKey=key, retries=5), timeout=TIMEOUT_S)
    gateway_stub.UpdateJobTimeout(pb.UpdateJobTimeoutRequest(jobKey=key, timeout=90_000), timeout=TIMEOUT_S)
    [retries] = fake_broker.commands(ValueType.JOB, JobIntent.UPDATE_RETRIES)
    [timeout] = fake_broker.commands(ValueType.JOB, JobIntent.UPDATE_TIMEOUT)
    assert (retries.key, retries.value) == (key, {"retries": 5})
    assert (timeout.key, timeout.value) == (key, {"timeout": 90_000})


def test_completing_an_unknown_job_is_not_found_with_the_broker_reason(fake_broker, gateway_stub):
    key = encode_key(1, 12345)
    error = rpc_error(gateway_stub.CompleteJob, pb.CompleteJobRequest(jobKey=key))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == f"Expected to complete job with key '{key}', but no such job was found"


# -- JSON documents --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "found"),
    [
        ("[1, 2]", "but got a list"),
        ('"text"', "but got a string"),
        ("42", "but got a number"),
        ("null", "but got null"),
        ('{"unclosed": ', "but it is not valid JSON"),
    ],
)
def test_variables_that_are_not_a_json_object_are_invalid_argument_naming_the_field_and_what_was_found(fake_broker, gateway_stub, variables, found):
    error = rpc_error(gateway_stub.CreateProcessInstance, pb.CreateProcessInstanceRequest(bpmnProcessId="order", variables=variables))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("Expected to parse 'variables' as a JSON object, ")
    assert found in error.details()
    assert fake_broker.sent == []


@pytest.mark.parametrize(
    ("call", "request_"),
    [
        ("CompleteJob", pb.CompleteJobRequest(jobKey=encode_key(1, 1), variables="[]")),
        ("FailJob", pb.FailJobRequest(jobKey=encode_key(1, 1), variables="[]")),
        ("ThrowError", pb.ThrowErrorRequest(jobKey=encode_key(1, 1), errorCode="E", variables="[]")),
        ("SetVariables", pb.SetVariablesRequest(elementInstanceKey=encode_key(1, 1), variables="[]")),
        ("PublishMessage", pb.PublishMessageRequest(name="m", variables="[]")),
    ],
)
def test_every_rpc_with_variables_checks_them(fake_broker, gateway_stub, call, request_):
    error = rpc_error(getattr(gateway_stub, call), request_)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "Expected to parse 'variables' as a JSON object, but got a list"


def test_empty_variables_mean_no_variables(fake_broker, gateway_stub):
    gateway_stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="order", variables=""), timeout=TIMEOUT_S)
    [sent] = fake_broker.commands(ValueType.PROCESS_INSTANCE_CREATION)
    assert sent.value["variables"] == {}


def test_10_mb_of_variables_are_invalid_argument_naming_the_field_the_size_and_the_limit(fake_broker, gateway_stub):
    huge = '{"blob": "' + "x" * (10 * 1024 * 1024) + '"}'
    error = rpc_error(gateway_stub.CreateProcessInstance, pb.CreateProcessInstanceRequest(bpmnProcessId="order", variables=huge))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'variables'" in error.details()
    assert str(len(huge)) in error.details() and str(4 * 1024 * 1024) in error.details()
    assert fake_broker.sent == []
    gateway_stub.Topology(pb.TopologyRequest(), timeout=TIMEOUT_S)  # still serving


def test_json_fields_in_responses_are_never_empty(fake_broker, gateway_stub):
    fake_broker.add_job("charge")
    request = pb.ActivateJobsRequest(type="charge", worker="w", timeout=1_000, maxJobsToActivate=1, requestTimeout=-1)
    [response] = list(gateway_stub.ActivateJobs(request, timeout=TIMEOUT_S))
    [job] = response.jobs
    assert job.variables == "{}" and job.customHeaders == "{}"
    fake_broker.answers[(ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATE_WITH_AWAITING_RESULT)] = lambda sent: _result_without_variables(sent)
    result = gateway_stub.CreateProcessInstanceWithResult(
        pb.CreateProcessInstanceWithResultRequest(request=pb.CreateProcessInstanceRequest(bpmnProcessId="order")), timeout=TIMEOUT_S
    )
    assert result.variables == "{}"


def _result_without_variables(sent):
    from propolis.broker.client import BrokerResponse

    from propolis.records import ProcessInstanceResultIntent

    value = {"bpmnProcessId": "order", "version": 1, "processDefinitionKey": encode_key(1, 2), "processInstanceKey": encode_key(1, 3)}
    return BrokerResponse(ValueType.PROCESS_INSTANCE_RESULT, ProcessInstanceResultIntent.COMPLETED, encode_key(1, 3), value)


# -- tenants ---------------------------------------------------------------------------------


def test_an_empty_tenant_is_the_default_tenant(fake_broker, gateway_stub):
    gateway_stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="order", tenantId=""), timeout=TIMEOUT_S)
    gateway_stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="order", tenantId=DEFAULT_TENANT), timeout=TIMEOUT_S)
    assert [s.tenant_id for s in fake_broker.sent] == [DEFAULT_TENANT, DEFAULT_TENANT]


def test_another_tenant_is_refused_while_multi_tenancy_is_disabled(fake_broker, gateway_stub):
    error = rpc_error(gateway_stub.DeployResource, pb.DeployResourceRequest(resources=[pb.Resource(name="a.bpmn", content=b"x")], tenantId="acme"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "Expected to handle gRPC request DeployResource with tenant identifier 'acme', but multi-tenancy is disabled"
    assert fake_broker.sent == []


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rejection_type", "code"),
    [
        (RejectionType.INVALID_ARGUMENT, grpc.StatusCode.INVALID_ARGUMENT),
        (RejectionType.NOT_FOUND, grpc.StatusCode.NOT_FOUND),
        (RejectionType.ALREADY_EXISTS, grpc.StatusCode.ALREADY_EXISTS),
        (RejectionType.INVALID_STATE, grpc.StatusCode.FAILED_PRECONDITION),
        (RejectionType.PROCESSING_ERROR, grpc.StatusCode.INTERNAL),
        (RejectionType.EXCEEDED_BATCH_RECORD_SIZE, grpc.StatusCode.INVALID_ARGUMENT),
        (RejectionType.UNAUTHORIZED, grpc.StatusCode.UNAUTHENTICATED),
        (RejectionType.FORBIDDEN, grpc.StatusCode.PERMISSION_DENIED),
    ],
)
def test_a_rejection_answers_the_status_of_its_type_with_the_broker_reason(fake_broker, gateway_stub, rejection_type, code):
    reason = f"Expected to cancel a process instance with key '7', but {rejection_type.name}"
    fake_broker.reject(ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.CANCEL, rejection_type, reason)
    error = rpc_error(gateway_stub.CancelProcessInstance, pb.CancelProcessInstanceRequest(processInstanceKey=encode_key(1, 7)))
    assert (error.code(), error.details()) == (code, reason)


def test_an_overloaded_broker_answers_resource_exhausted(fake_broker, gateway_stub):
    fake_broker.failure = BrokerOverloadedError("partition 1 has 5 commands waiting (limit 4); retry later")
    error = rpc_error(gateway_stub.CreateProcessInstance, pb.CreateProcessInstanceRequest(bpmnProcessId="order"))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "overloaded" in error.details() and "limit 4" in error.details()


def test_an_unavailable_broker_answers_unavailable(fake_broker, gateway_stub):
    fake_broker.failure = BrokerUnavailableError("partition 1 is not accepting commands")
    error = rpc_error(gateway_stub.CompleteJob, pb.CompleteJobRequest(jobKey=encode_key(1, 1)))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "partition 1 is not accepting commands" in error.details()


def test_an_unexpected_error_answers_internal_with_a_message_and_is_logged(fake_broker, gateway_stub, caplog):
    fake_broker.failure = KeyError("processInstanceKey")
    with caplog.at_level(logging.ERROR, logger="propolis.gateway"):
        error = rpc_error(gateway_stub.CreateProcessInstance, pb.CreateProcessInstanceRequest(bpmnProcessId="order"))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "CreateProcessInstance" in error.details() and "KeyError" in error.details()
    [logged] = [r for r in caplog.records if r.name.startswith("propolis.gateway")]
    assert logged.rpc == "CreateProcessInstance" and logged.exc_info is not None


@pytest.mark.parametrize("rpc", ["EvaluateDecision", "MigrateProcessInstance"])
def test_rpcs_propolis_does_not_serve_answer_unimplemented_naming_the_rpc(gateway_stub, rpc):
    error = rpc_error(getattr(gateway_stub, rpc), getattr(pb, f"{rpc}Request")())
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert error.details() == f"{rpc} is not supported by propolis yet"


def test_keys_and_deadlines_keep_their_full_int64_values(fake_broker, gateway_stub):
    fake_broker.partition_count = 3
    key = fake_broker.add_job("charge", partition_id=3)
    assert key > 2**52
    request = pb.ActivateJobsRequest(type="charge", worker="w", timeout=60_000, maxJobsToActivate=5, requestTimeout=-1)
    [response] = list(gateway_stub.ActivateJobs(request, timeout=TIMEOUT_S))
    [job] = response.jobs
    assert job.key == key
    now_ms = int(time.time() * 1000)
    assert now_ms + 50_000 < job.deadline <= now_ms + 60_000


# -- a real client ---------------------------------------------------------------------------


def test_pyzeebe_reads_the_topology_runs_a_process_and_publishes_a_message(fake_broker, gateway):
    from pyzeebe import ZeebeClient, create_insecure_channel

    async def scenario() -> None:
        channel = create_insecure_channel(grpc_address=gateway.address)
        client = ZeebeClient(channel)
        topology = await client.topology()
        assert topology.partitions_count == 1 and topology.gateway_version
        created = await client.run_process("order", variables={"orderId": 7})
        assert created.process_instance_key > 0
        result = await client.run_process_with_result("order", variables={"orderId": 7}, timeout=5_000, variables_to_fetch=["result"])
        assert result.variables == {"result": "done"}
        published = await client.publish_message("paid", "order-7", variables={"amount": 5})
        assert published.key > 0
        await channel.close()

    asyncio.run(scenario())
    [create, with_result] = fake_broker.commands(ValueType.PROCESS_INSTANCE_CREATION)
    assert create.value["variables"] == {"orderId": 7}
    assert with_result.value["fetchVariables"] == ["result"]
    [message] = fake_broker.commands(ValueType.MESSAGE)
    assert message.value["correlationKey"] == "order-7" and message.value["timeToLive"] == 60_000


def test_pyzeebe_activates_and_completes_a_job(fake_broker, gateway):
    from pyzeebe import ZeebeClient, create_insecure_channel

    fake_broker.add_job("charge", variables={"orderId": 7}, custom_headers={"mode": "fast"})

    async def scenario() -> None:
        channel = create_insecure_channel(grpc_address=gateway.address)
        adapter = ZeebeClient(channel).zeebe_adapter
        jobs = [job async for job in adapter.activate_jobs("charge", "w", 60_000, 10, [], 1_000)]
        [job] = jobs
        assert job.variables == {"orderId": 7} and job.custom_headers == {"mode": "fast"}
        await adapter.complete_job(job.key, {"charged": True})
        await channel.close()

    asyncio.run(scenario())
    [complete] = fake_broker.commands(ValueType.JOB, JobIntent.COMPLETE)
    assert complete.value == {"variables": {"charged": True}}
