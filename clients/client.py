"""A small typed Python client for the gateway (Zeebe's gRPC protocol).

    with PropolisClient("127.0.0.1:26500") as client:
        client.deploy(Path("order.bpmn"))
        key = client.create_instance("order", variables={"orderId": 7})

Every method is synchronous and thread-safe (one gRPC channel, shared). A gRPC error becomes
`GatewayError(status, message)`. Variables go in as dicts and come back as dicts; on the wire
they are JSON documents, as in Zeebe's protocol.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from propolis.clients.errors import GatewayError
from propolis.gateway.protocol import GatewayStub, pb

DEFAULT_ADDRESS = "127.0.0.1:26500"
# A deadline for every call that does not wait on purpose (long polls and awaited results
# add their own wait to this).
CALL_TIMEOUT_S = 30.0
# Extra time given to a call whose server-side wait is bounded by the request itself.
DEADLINE_SLACK_S = 10.0
ACTIVATE_MAX_JOBS_MAX = 1_000


@dataclass(frozen=True, slots=True)
class DeployedProcess:
    process_id: str
    version: int
    key: int
    resource_name: str
    duplicate: bool  # the same resource was already deployed: nothing new was created
    tenant_id: str = ""


@dataclass(frozen=True, slots=True)
class Deployment:
    key: int
    processes: list[DeployedProcess]
    tenant_id: str = ""


@dataclass(frozen=True, slots=True)
class ProcessInstance:
    key: int
    process_id: str
    version: int
    process_definition_key: int
    variables: dict[str, Any] | None = None  # only for a creation that awaited the result
    tenant_id: str = ""


@dataclass(frozen=True, slots=True)
class Job:
    key: int
    type: str
    process_instance_key: int
    process_id: str
    process_definition_version: int
    process_definition_key: int
    element_id: str
    element_instance_key: int
    custom_headers: dict[str, Any]
    worker: str
    retries: int
    deadline_ms: int  # epoch milliseconds
    variables: dict[str, Any]
    tenant_id: str = ""


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    partition_id: int
    role: str  # LEADER | FOLLOWER | INACTIVE
    health: str  # HEALTHY | UNHEALTHY | DEAD


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int
    version: str
    partitions: list[PartitionInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Topology:
    cluster_size: int
    partitions_count: int
    replication_factor: int
    gateway_version: str
    brokers: list[BrokerInfo]

    def to_dict(self) -> dict[str, Any]:
        return {
            "clusterSize": self.cluster_size,
            "partitionsCount": self.partitions_count,
            "replicationFactor": self.replication_factor,
            "gatewayVersion": self.gateway_version,
            "brokers": [
                {
                    "nodeId": b.node_id,
                    "host": b.host,
                    "port": b.port,
                    "version": b.version,
                    "partitions": [
                        {"partitionId": p.partition_id, "role": p.role, "health": p.health}
                        for p in b.partitions
                    ],
                }
                for b in self.brokers
            ],
        }


def _variables_json(variables: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(variables)) if variables else ""


def _parse_document(text: str) -> dict[str, Any]:
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _gateway_error(error: grpc.RpcError, method: str) -> GatewayError:
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else None
    status = code.name if code is not None else "UNKNOWN"
    return GatewayError(status, details or str(error), method)


class ActivateJobsCall:
    """One ActivateJobs call in progress; `cancel()` may be called from any thread."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()
        self._call.cancel()

    def result(self) -> list[Job]:
        """The jobs that the gateway activated; [] if the call was cancelled."""
        jobs: list[Job] = []
        try:
            for response in self._call:
                jobs.extend(_job(job) for job in response.jobs)
        except grpc.RpcError as error:
            if self._cancelled.is_set():
                return jobs
            raise _gateway_error(error, "ActivateJobs") from None
        return jobs


def _job(job: Any) -> Job:
    return Job(
        key=job.key,
        type=job.type,
        process_instance_key=job.processInstanceKey,
        process_id=job.bpmnProcessId,
        process_definition_version=job.processDefinitionVersion,
        process_definition_key=job.processDefinitionKey,
        element_id=job.elementId,
        element_instance_key=job.elementInstanceKey,
        custom_headers=_parse_document(job.customHeaders),
        worker=job.worker,
        retries=job.retries,
        deadline_ms=job.deadline,
        variables=_parse_document(job.variables),
        tenant_id=job.tenantId,
    )


class PropolisClient:
    """A gRPC connection to one gateway: plaintext, or TLS with `credentials`; with `token`,
    every call carries it as `authorization: Bearer <token>`."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        call_timeout_s: float = CALL_TIMEOUT_S,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
    ):
        self.address = address
        self.call_timeout_s = call_timeout_s
        self._channel = (
            grpc.secure_channel(address, credentials) if credentials is not None else grpc.insecure_channel(address)
        )
        self._stub = GatewayStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> PropolisClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, request: Any, timeout_s: float | None = None) -> Any:
        try:
            return getattr(self._stub, method)(
                request, timeout=timeout_s or self.call_timeout_s, metadata=self._metadata
            )
        except grpc.RpcError as error:
            raise _gateway_error(error, method) from None

    # -- cluster ---------------------------------------------------------------------------

    def topology(self) -> Topology:
        response = self._call("Topology", pb.TopologyRequest())
        role_names = pb.Partition.PartitionBrokerRole
        health_names = pb.Partition.PartitionBrokerHealth
        return Topology(
            cluster_size=response.clusterSize,
            partitions_count=response.partitionsCount,
            replication_factor=response.replicationFactor,
            gateway_version=response.gatewayVersion,
            brokers=[
                BrokerInfo(
                    node_id=broker.nodeId,
                    host=broker.host,
                    port=broker.port,
                    version=broker.version,
                    partitions=[
                        PartitionInfo(
                            partition_id=p.partitionId,
                            role=role_names.Name(p.role),
                            health=health_names.Name(p.health),
                        )
                        for p in broker.partitions
                    ],
                )
                for broker in response.brokers
            ],
        )

    # -- deployments -----------------------------------------------------------------------

    def deploy(
        self, *resources: str | os.PathLike[str] | tuple[str, bytes], tenant_id: str = ""
    ) -> Deployment:
        """Deploy BPMN files (paths) or (name, content) pairs in one deployment."""
        request = pb.DeployResourceRequest(tenantId=tenant_id)
        for resource in resources:
            if isinstance(resource, str | os.PathLike):
                path = Path(resource)
                name, content = path.name, path.read_bytes()
            else:
                name, content = resource
            request.resources.append(pb.Resource(name=name, content=content))
        response = self._call("DeployResource", request)
        processes = [
            DeployedProcess(
                process_id=d.process.bpmnProcessId,
                version=d.process.version,
                key=d.process.processDefinitionKey,
                resource_name=d.process.resourceName,
                # A new process gets its key after the deployment's; a duplicate keeps its old one.
                duplicate=d.process.processDefinitionKey < response.key,
                tenant_id=d.process.tenantId,
            )
            for d in response.deployments
            if d.HasField("process")
        ]
        return Deployment(key=response.key, processes=processes, tenant_id=response.tenantId)

    # -- process instances -----------------------------------------------------------------

    def create_instance(
        self,
        process_id: str,
        variables: Mapping[str, Any] | None = None,
        version: int = -1,
        tenant_id: str = "",
    ) -> ProcessInstance:
        response = self._call(
            "CreateProcessInstance",
            self._creation_request(process_id, variables, version, tenant_id),
        )
        return ProcessInstance(
            key=response.processInstanceKey,
            process_id=response.bpmnProcessId,
            version=response.version,
            process_definition_key=response.processDefinitionKey,
            tenant_id=response.tenantId,
        )

    def create_instance_with_result(
        self,
        process_id: str,
        variables: Mapping[str, Any] | None = None,
        version: int = -1,
        request_timeout_ms: int = 10_000,
        fetch_variables: Iterable[str] = (),
        tenant_id: str = "",
    ) -> ProcessInstance:
        """Create an instance and wait until it completes; its variables come back."""
        request = pb.CreateProcessInstanceWithResultRequest(
            request=self._creation_request(process_id, variables, version, tenant_id),
            requestTimeout=request_timeout_ms,
            fetchVariables=list(fetch_variables),
        )
        response = self._call(
            "CreateProcessInstanceWithResult",
            request,
            timeout_s=request_timeout_ms / 1000 + DEADLINE_SLACK_S,
        )
        return ProcessInstance(
            key=response.processInstanceKey,
            process_id=response.bpmnProcessId,
            version=response.version,
            process_definition_key=response.processDefinitionKey,
            variables=_parse_document(response.variables),
            tenant_id=response.tenantId,
        )

    @staticmethod
    def _creation_request(
        process_id: str, variables: Mapping[str, Any] | None, version: int, tenant_id: str
    ) -> Any:
        return pb.CreateProcessInstanceRequest(
            bpmnProcessId=process_id,
            version=version,
            variables=_variables_json(variables),
            tenantId=tenant_id,
        )

    def cancel_instance(self, process_instance_key: int) -> None:
        self._call(
            "CancelProcessInstance",
            pb.CancelProcessInstanceRequest(processInstanceKey=process_instance_key),
        )

    def set_variables(
        self, element_instance_key: int, variables: Mapping[str, Any], local: bool = False
    ) -> int:
        response = self._call(
            "SetVariables",
            pb.SetVariablesRequest(
                elementInstanceKey=element_instance_key,
                variables=json.dumps(dict(variables)),
                local=local,
            ),
        )
        return response.key

    def resolve_incident(self, incident_key: int) -> None:
        self._call("ResolveIncident", pb.ResolveIncidentRequest(incidentKey=incident_key))

    # -- messages --------------------------------------------------------------------------

    def publish_message(
        self,
        name: str,
        correlation_key: str,
        variables: Mapping[str, Any] | None = None,
        ttl_ms: int = 0,
        message_id: str = "",
        tenant_id: str = "",
    ) -> int:
        response = self._call(
            "PublishMessage",
            pb.PublishMessageRequest(
                name=name,
                correlationKey=correlation_key,
                timeToLive=ttl_ms,
                messageId=message_id,
                variables=_variables_json(variables),
                tenantId=tenant_id,
            ),
        )
        return response.key

    def modify_instance(
        self,
        process_instance_key: int,
        activate: Iterable[tuple[str, Mapping[str, Any] | None]] = (),
        terminate: Iterable[int] = (),
    ) -> None:
        """Activate elements (element id, variables for the process instance) and terminate
        element instances (by key) of a running instance."""
        request = pb.ModifyProcessInstanceRequest(processInstanceKey=process_instance_key)
        for element_id, variables in activate:
            instruction = request.activateInstructions.add(elementId=element_id)
            if variables:
                instruction.variableInstructions.add(variables=_variables_json(variables))
        for element_instance_key in terminate:
            request.terminateInstructions.add(elementInstanceKey=element_instance_key)
        self._call("ModifyProcessInstance", request)

    def delete_resource(self, resource_key: int) -> None:
        """Delete a deployed process definition (by its key) that has no active instances."""
        self._call("DeleteResource", pb.DeleteResourceRequest(resourceKey=resource_key))

    def broadcast_signal(self, name: str, variables: Mapping[str, Any] | None = None, tenant_id: str = "") -> int:
        """Broadcast a signal: every signal start event and waiting signal catch of the
        tenant fires now. Returns the signal's key."""
        response = self._call(
            "BroadcastSignal",
            pb.BroadcastSignalRequest(signalName=name, variables=_variables_json(variables), tenantId=tenant_id),
        )
        return response.key

    # -- jobs ------------------------------------------------------------------------------

    def start_activate_jobs(
        self,
        job_type: str,
        worker: str,
        max_jobs: int,
        timeout_ms: int,
        request_timeout_ms: int = 0,
        fetch_variables: Iterable[str] = (),
        tenant_ids: Iterable[str] = (),
    ) -> ActivateJobsCall:
        """Start a (long-polling) activation; `.result()` waits for it, `.cancel()` ends it.

        `request_timeout_ms` bounds the long poll on the gateway's side: 0 takes the gateway's
        default, a negative value asks for no long polling at all.
        """
        assert 1 <= max_jobs <= ACTIVATE_MAX_JOBS_MAX, max_jobs
        request = pb.ActivateJobsRequest(
            type=job_type,
            worker=worker,
            timeout=timeout_ms,
            maxJobsToActivate=max_jobs,
            fetchVariable=list(fetch_variables),
            requestTimeout=request_timeout_ms,
            tenantIds=list(tenant_ids),
        )
        wait_s = max(request_timeout_ms, 0) / 1000 if request_timeout_ms else self.call_timeout_s
        call = self._stub.ActivateJobs(request, timeout=wait_s + DEADLINE_SLACK_S, metadata=self._metadata)
        return ActivateJobsCall(call)

    def activate_jobs(
        self,
        job_type: str,
        worker: str = "propolis",
        max_jobs: int = 32,
        timeout_ms: int = 300_000,
        request_timeout_ms: int = 0,
        fetch_variables: Iterable[str] = (),
    ) -> list[Job]:
        return self.start_activate_jobs(
            job_type, worker, max_jobs, timeout_ms, request_timeout_ms, fetch_variables
        ).result()

    def complete_job(self, job_key: int, variables: Mapping[str, Any] | None = None) -> None:
        self._call(
            "CompleteJob",
            pb.CompleteJobRequest(jobKey=job_key, variables=_variables_json(variables)),
        )

    def fail_job(
        self,
        job_key: int,
        retries: int,
        error_message: str = "",
        retry_backoff_ms: int = 0,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self._call(
            "FailJob",
            pb.FailJobRequest(
                jobKey=job_key,
                retries=retries,
                errorMessage=error_message,
                retryBackOff=retry_backoff_ms,
                variables=_variables_json(variables),
            ),
        )

    def throw_error(
        self,
        job_key: int,
        error_code: str,
        error_message: str = "",
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self._call(
            "ThrowError",
            pb.ThrowErrorRequest(
                jobKey=job_key,
                errorCode=error_code,
                errorMessage=error_message,
                variables=_variables_json(variables),
            ),
        )

    def update_job_retries(self, job_key: int, retries: int) -> None:
        self._call(
            "UpdateJobRetries", pb.UpdateJobRetriesRequest(jobKey=job_key, retries=retries)
        )
