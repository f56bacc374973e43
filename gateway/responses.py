"""From the broker's answer (the event a command produced) to the gRPC response.

Keys are int64, deadlines epoch milliseconds, JSON fields never empty ("{}" for nothing).
"""

from __future__ import annotations

from typing import Any

from propolis.broker.client import BrokerResponse
from propolis.gateway.documents import to_json
from propolis.gateway.protocol import pb

from propolis.records import DEFAULT_TENANT

GATEWAY_VERSION = "8.4.13-propolis"

_CANCEL = pb.CancelProcessInstanceResponse()
_COMPLETE = pb.CompleteJobResponse()
_FAIL = pb.FailJobResponse()
_THROW_ERROR = pb.ThrowErrorResponse()
_UPDATE_RETRIES = pb.UpdateJobRetriesResponse()
_UPDATE_TIMEOUT = pb.UpdateJobTimeoutResponse()
_RESOLVE_INCIDENT = pb.ResolveIncidentResponse()


def topology(topology: dict[str, Any]) -> Any:
    brokers = [
        pb.BrokerInfo(
            nodeId=broker["nodeId"],
            host=broker["host"],
            port=broker["port"],
            version=broker.get("version", ""),
            partitions=[
                pb.Partition(
                    partitionId=partition["partitionId"],
                    role=pb.Partition.PartitionBrokerRole.Value(partition["role"]),
                    health=pb.Partition.PartitionBrokerHealth.Value(partition["health"]),
                )
                for partition in broker["partitions"]
            ],
        )
        for broker in topology["brokers"]
    ]
    return pb.TopologyResponse(
        brokers=brokers,
        clusterSize=topology["clusterSize"],
        partitionsCount=topology["partitionsCount"],
        replicationFactor=topology["replicationFactor"],
        gatewayVersion=GATEWAY_VERSION,
    )


def _process_metadata(metadata: dict[str, Any]) -> Any:
    return pb.ProcessMetadata(
        bpmnProcessId=metadata["bpmnProcessId"],
        version=metadata["version"],
        processDefinitionKey=metadata["processDefinitionKey"],
        resourceName=metadata["resourceName"],
        tenantId=metadata.get("tenantId", DEFAULT_TENANT),
    )


def deploy_resource(response: BrokerResponse) -> Any:
    metadata = response.value.get("processesMetadata", ())
    return pb.DeployResourceResponse(
        key=response.key,
        deployments=[pb.Deployment(process=_process_metadata(m)) for m in metadata],
        tenantId=response.tenant_id,
    )


def deploy_process(response: BrokerResponse) -> Any:
    metadata = response.value.get("processesMetadata", ())
    return pb.DeployProcessResponse(
        key=response.key, processes=[_process_metadata(m) for m in metadata]
    )


def create_process_instance(response: BrokerResponse) -> Any:
    value = response.value
    return pb.CreateProcessInstanceResponse(
        processDefinitionKey=value["processDefinitionKey"],
        bpmnProcessId=value["bpmnProcessId"],
        version=value["version"],
        processInstanceKey=value["processInstanceKey"],
        tenantId=response.tenant_id,
    )


def create_process_instance_with_result(response: BrokerResponse, fetch: list[str]) -> Any:
    value = response.value
    variables = value.get("variables")
    if fetch and variables:
        # The broker filters already; filtering again keeps the promise whatever it sends.
        variables = {name: variables[name] for name in fetch if name in variables}
    return pb.CreateProcessInstanceWithResultResponse(
        processDefinitionKey=value["processDefinitionKey"],
        bpmnProcessId=value["bpmnProcessId"],
        version=value["version"],
        processInstanceKey=value["processInstanceKey"],
        variables=to_json(variables),
        tenantId=response.tenant_id,
    )


def cancel_process_instance(response: BrokerResponse) -> Any:
    return _CANCEL


def set_variables(response: BrokerResponse) -> Any:
    return pb.SetVariablesResponse(key=response.key)


def resolve_incident(response: BrokerResponse) -> Any:
    return _RESOLVE_INCIDENT


def publish_message(response: BrokerResponse) -> Any:
    return pb.PublishMessageResponse(key=response.key, tenantId=response.tenant_id)


def modify_process_instance(response: BrokerResponse) -> Any:
    return pb.ModifyProcessInstanceResponse()


def delete_resource(response: BrokerResponse) -> Any:
    return pb.DeleteResourceResponse()


def broadcast_signal(response: BrokerResponse) -> Any:
    return pb.BroadcastSignalResponse(key=response.key, tenantId=response.tenant_id)


def complete_job(response: BrokerResponse) -> Any:
    return _COMPLETE


def fail_job(response: BrokerResponse) -> Any:
    return _FAIL


def throw_error(response: BrokerResponse) -> Any:
    return _THROW_ERROR


def update_job_retries(response: BrokerResponse) -> Any:
    return _UPDATE_RETRIES


def update_job_timeout(response: BrokerResponse) -> Any:
    return _UPDATE_TIMEOUT


def activated_job(key: int, job: dict[str, Any]) -> Any:
    return pb.ActivatedJob(
        key=key,
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
        tenantId=job.get("tenantId", DEFAULT_TENANT),
    )


def activate_jobs(jobs: list[tuple[int, dict[str, Any]]]) -> Any:
    return pb.ActivateJobsResponse(jobs=[activated_job(key, job) for key, job in jobs])
