"""One handler per RPC of `gateway_protocol.Gateway`: validate the request, send one command
to the right partition, and turn the broker's event into the response.

Routing: deployments to partition 1; new instances round-robin; commands on a key to the
key's partition; messages to `crc32(correlationKey) % partitions + 1`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import zlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from propolis.broker.client import BrokerClient, BrokerResponse, partition_for_key
from propolis.gateway.config import GatewayConfig
from propolis.gateway.documents import parse_document, to_json
from propolis.gateway.errors import GatewayError, invalid_argument, rejection_error
from propolis.gateway.jobs import JobActivator
from propolis.gateway.protocol import pb

from propolis.records import (
    DEFAULT_TENANT,
    DeploymentIntent,
    IncidentIntent,
    JobIntent,
    MessageIntent,
    ProcessInstanceCreationIntent,
    ProcessInstanceIntent,
    ValueType,
    VariableDocumentIntent,
)

GATEWAY_VERSION = "8.4.13-propolis"
NOT_SUPPORTED = ("EvaluateDecision", "ModifyProcessInstance", "MigrateProcessInstance", "DeleteResource", "BroadcastSignal")


def tenant_of(tenant_id: str, rpc: str) -> str:
    if tenant_id in ("", DEFAULT_TENANT):
        return DEFAULT_TENANT
    raise invalid_argument(
        f"Expected to handle gRPC request {rpc} with tenant identifier '{tenant_id}', but multi-tenancy is disabled"
    )


class Handlers:
    def __init__(self, client: BrokerClient, config: GatewayConfig, jobs: JobActivator) -> None:
        self.client = client
        self.config = config
        self.jobs = jobs
        self._round_robin = itertools.count()

    async def _execute(self, partition_id: int, value_type: int, intent: int, value: dict[str, Any], key: int = -1, tenant_id: str = DEFAULT_TENANT) -> BrokerResponse:
        response = await self.client.execute(partition_id, value_type, intent, value, key, tenant_id)
        if response.rejected:
            raise rejection_error(response.rejection_type, response.rejection_reason)
        return response

    def _variables(self, text: str, field: str = "variables") -> dict[str, Any]:
        return parse_document(text, field, self.config.max_variables_bytes)

    def _next_partition(self) -> int:
        return next(self._round_robin) % self.client.partition_count + 1

    def _keyed(self, key: int, what: str) -> int:
        if key <= 0:
            raise invalid_argument(f"Expected {what} to be a positive key, but it was {key}")
        return partition_for_key(key, self.client.partition_count)

    # -- cluster --------------------------------------------------------------------------
    async def Topology(self, request: Any, context: Any) -> Any:
        topology = self.client.topology()
        brokers = [
            pb.BrokerInfo(
                nodeId=b["nodeId"],
                host=b["host"],
                port=b["port"],
                version=b["version"],
                partitions=[
                    pb.Partition(
                        partitionId=p["partitionId"],
                        role=getattr(pb.Partition, p["role"]),
                        health=getattr(pb.Partition, p["health"]),
                    )
                    for p in b["partitions"]
                ],
            )
            for b in topology["brokers"]
        ]
        return pb.TopologyResponse(
            brokers=brokers,
            clusterSize=topology["clusterSize"],
            partitionsCount=topology["partitionsCount"],
            replicationFactor=topology["replicationFactor"],
            gatewayVersion=GATEWAY_VERSION,
        )

    # -- deployments ----------------------------------------------------------------------
    async def _deploy(self, resources: list[tuple[str, bytes]], tenant_id: str) -> BrokerResponse:
        if not resources:
            raise invalid_argument("Expected to deploy at least one resource, but none given")
        value = {"resources": [{"resourceName": name, "resource": content} for name, content in resources]}
        return await self._execute(1, ValueType.DEPLOYMENT, DeploymentIntent.CREATE, value, tenant_id=tenant_id)

    async def DeployResource(self, request: Any, context: Any) -> Any:
        tenant = tenant_of(request.tenantId, "DeployResource")
        response = await self._deploy([(r.name, r.content) for r in request.resources], tenant)
        deployments = [pb.Deployment(process=pb.ProcessMetadata(**_process_metadata(m))) for m in response.value["processesMetadata"]]
        return pb.DeployResourceResponse(key=response.key, deployments=deployments, tenantId=tenant)

    async def DeployProcess(self, request: Any, context: Any) -> Any:
        response = await self._deploy([(p.name, p.definition) for p in request.processes], DEFAULT_TENANT)
        processes = [pb.ProcessMetadata(**_process_metadata(m)) for m in response.value["processesMetadata"]]
        return pb.DeployProcessResponse(key=response.key, processes=processes)

    # -- process instances ----------------------------------------------------------------
    def _creation_value(self, request: Any) -> tuple[dict[str, Any], str]:
        tenant = tenant_of(request.tenantId, "CreateProcessInstance")
        if not request.bpmnProcessId and request.processDefinitionKey <= 0:
            raise invalid_argument("Expected either a bpmnProcessId or a processDefinitionKey, but none given")
        value = {
            "bpmnProcessId": request.bpmnProcessId,
            "processDefinitionKey": request.processDefinitionKey if request.processDefinitionKey > 0 else -1,
            "version": request.version if request.version > 0 else -1,
            "variables": self._variables(request.variables),
            "startInstructions": [{"elementId": i.elementId} for i in request.startInstructions],
        }
        return value, tenant

    async def CreateProcessInstance(self, request: Any, context: Any) -> Any:
        value, tenant = self._creation_value(request)
        partition = self._next_partition() if request.processDefinitionKey <= 0 else partition_for_key(request.processDefinitionKey, self.client.partition_count)
        response = await self._execute(partition, ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATE, value, tenant_id=tenant)
        v = response.value
        return pb.CreateProcessInstanceResponse(
            processDefinitionKey=v["processDefinitionKey"],
            bpmnProcessId=v["bpmnProcessId"],
            version=v["version"],
            processInstanceKey=v["processInstanceKey"],
            tenantId=tenant,
        )

    async def CreateProcessInstanceWithResult(self, request: Any, context: Any) -> Any:
        value, tenant = self._creation_value(request.request)
        value["fetchVariables"] = list(request.fetchVariables)
        timeout_ms = request.requestTimeout if request.requestTimeout > 0 else self.config.request_timeout_ms_default
        call = self._execute(self._next_partition(), ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATE_WITH_AWAITING_RESULT, value, tenant_id=tenant)
        try:
            response = await asyncio.wait_for(call, timeout_ms / 1000)
        except TimeoutError:
            raise GatewayError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"Expected the instance of process '{request.request.bpmnProcessId or request.request.processDefinitionKey}' "
                f"to complete within the request timeout of {timeout_ms} ms, but it did not; the instance goes on running",
            ) from None
        v = response.value
        return pb.CreateProcessInstanceWithResultResponse(
            processDefinitionKey=v["processDefinitionKey"],
            bpmnProcessId=v["bpmnProcessId"],
            version=v["version"],
            processInstanceKey=v["processInstanceKey"],
            variables=to_json(v.get("variables")),
            tenantId=tenant,
        )

    async def CancelProcessInstance(self, request: Any, context: Any) -> Any:
        key = request.processInstanceKey
        await self._execute(self._keyed(key, "processInstanceKey"), ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.CANCEL, {}, key)
        return pb.CancelProcessInstanceResponse()

    async def SetVariables(self, request: Any, context: Any) -> Any:
        key = request.elementInstanceKey
        value = {
            "scopeKey": key,
            "variables": self._variables(request.variables),
            "updateSemantics": "LOCAL" if request.local else "PROPAGATE",
        }
        response = await self._execute(self._keyed(key, "elementInstanceKey"), ValueType.VARIABLE_DOCUMENT, VariableDocumentIntent.UPDATE, value)
        return pb.SetVariablesResponse(key=response.key)

    async def ResolveIncident(self, request: Any, context: Any) -> Any:
        key = request.incidentKey
        await self._execute(self._keyed(key, "incidentKey"), ValueType.INCIDENT, IncidentIntent.RESOLVE, {}, key)
        return pb.ResolveIncidentResponse()

    # -- messages -------------------------------------------------------------------------
    async def PublishMessage(self, request: Any, context: Any) -> Any:
        tenant = tenant_of(request.tenantId, "PublishMessage")
        if not request.name:
            raise invalid_argument("Expected a message name, but it was empty")
        value = {
            "name": request.name,
            "correlationKey": request.correlationKey,
            "timeToLive": max(0, request.timeToLive),
            "messageId": request.messageId,
            "variables": self._variables(request.variables),
        }
        partition = zlib.crc32(request.correlationKey.encode()) % self.client.partition_count + 1
        response = await self._execute(partition, ValueType.MESSAGE, MessageIntent.PUBLISH, value, tenant_id=tenant)
        return pb.PublishMessageResponse(key=response.key, tenantId=tenant)

    # -- jobs -----------------------------------------------------------------------------
    def _activation(self, request: Any, max_jobs: int, fetch: Any) -> tuple[dict[str, Any], str]:
        if not request.type:
            raise invalid_argument("Expected to activate jobs of a type, but the type was empty")
        if request.timeout < 1:
            raise invalid_argument(f"Expected the job timeout to be at least 1 ms, but it was {request.timeout}")
        tenants = [tenant_of(t, "ActivateJobs") for t in request.tenantIds] or [DEFAULT_TENANT]
        value = {
            "type": request.type,
            "worker": request.worker,
            "timeout": request.timeout,
            "maxJobsToActivate": max_jobs,
            "fetchVariables": list(fetch),
            "tenantIds": sorted(set(tenants)),
        }
        return value, DEFAULT_TENANT

    async def ActivateJobs(self, request: Any, context: Any) -> AsyncIterator[Any]:
        if request.maxJobsToActivate < 1:
            raise invalid_argument(f"Expected to activate at least 1 job, but maxJobsToActivate was {request.maxJobsToActivate}")
        max_jobs = min(request.maxJobsToActivate, self.config.max_jobs_to_activate_max)
        value, tenant = self._activation(request, max_jobs, request.fetchVariable)
        if request.requestTimeout < 0:
            timeout_s = None
        elif request.requestTimeout == 0:
            timeout_s = self.config.long_poll_timeout_ms_default / 1000
        else:
            timeout_s = request.requestTimeout / 1000
        jobs = await self.jobs.activate_waiting(value, tenant, timeout_s)
        yield pb.ActivateJobsResponse(jobs=[activated_job(job) for job in jobs])

    async def StreamActivatedJobs(self, request: Any, context: Any) -> AsyncIterator[Any]:
        value, tenant = self._activation(request, self.config.stream_batch_jobs_max, request.fetchVariable)
        # aclosing: when the client goes away, the job source is closed at once and gives
        # back the jobs it activated but did not hand out, instead of whenever it is collected.
        async with contextlib.aclosing(self.jobs.stream(value, tenant, self.config.stream_batch_jobs_max)) as jobs:
            async for job in jobs:
                yield activated_job(job)

    async def CompleteJob(self, request: Any, context: Any) -> Any:
        key = request.jobKey
        value = {"variables": self._variables(request.variables)}
        await self._execute(self._keyed(key, "jobKey"), ValueType.JOB, JobIntent.COMPLETE, value, key)
        return pb.CompleteJobResponse()

    async def FailJob(self, request: Any, context: Any) -> Any:
        key = request.jobKey
        value = {
            "retries": request.retries,
            "errorMessage": request.errorMessage,
            "retryBackoff": max(0, request.retryBackOff),
            "variables": self._variables(request.variables),
        }
        await self._execute(self._keyed(key, "jobKey"), ValueType.JOB, JobIntent.FAIL, value, key)
        return pb.FailJobResponse()

    async def ThrowError(self, request: Any, context: Any) -> Any:
        key = request.jobKey
        if not request.errorCode:
            raise invalid_argument("Expected an errorCode to throw, but it was empty")
        value = {"errorCode": request.errorCode, "errorMessage": request.errorMessage, "variables": self._variables(request.variables)}
        await self._execute(self._keyed(key, "jobKey"), ValueType.JOB, JobIntent.THROW_ERROR, value, key)
        return pb.ThrowErrorResponse()

    async def UpdateJobRetries(self, request: Any, context: Any) -> Any:
        key = request.jobKey
        await self._execute(self._keyed(key, "jobKey"), ValueType.JOB, JobIntent.UPDATE_RETRIES, {"retries": request.retries}, key)
        return pb.UpdateJobRetriesResponse()

    async def UpdateJobTimeout(self, request: Any, context: Any) -> Any:
        key = request.jobKey
        await self._execute(self._keyed(key, "jobKey"), ValueType.JOB, JobIntent.UPDATE_TIMEOUT, {"timeout": request.timeout}, key)
        return pb.UpdateJobTimeoutResponse()


def _process_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "bpmnProcessId": metadata["bpmnProcessId"],
        "version": metadata["version"],
        "processDefinitionKey": metadata["processDefinitionKey"],
        "resourceName": metadata["resourceName"],
        "tenantId": metadata["tenantId"],
    }


def activated_job(job: dict[str, Any]) -> Any:
    return pb.ActivatedJob(
        key=job["key"],
        type=job["type"],
        processInstanceKey=job["processInstanceKey"],
        bpmnProcessId=job["bpmnProcessId"],
        processDefinitionVersion=job["processDefinitionVersion"],
        processDefinitionKey=job["processDefinitionKey"],
        elementId=job["elementId"],
        elementInstanceKey=job["elementInstanceKey"],
        customHeaders=to_json(job.get("customHeaders")),
        worker=job.get("worker", ""),
        retries=job["retries"],
        deadline=job["deadline"],
        variables=to_json(job.get("variables")),
        tenantId=job["tenantId"],
    )
