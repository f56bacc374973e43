"""From a gRPC request to the broker command it stands for: validation and mapping, no IO.

Each method takes one request message of `gateway_protocol` and returns the `Command` (partition,
value type, intent, key, value, tenant) that broker/COMMANDS.md lists for it, or raises an
INVALID_ARGUMENT `GatewayError` whose message names the field and what was found. The gateway
checks what it can see without state (shapes, JSON, tenants, key ranges); everything that needs
state (does the job exist, is the process deployed) is the broker's to reject.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from propolis.gateway.authorization import tenant_for
from propolis.gateway.config import GatewayConfig
from propolis.gateway.documents import parse_document
from propolis.gateway.errors import expected, invalid_argument
from propolis.gateway.routing import Router

from propolis.records import (
    DEFAULT_TENANT,
    DeploymentIntent,
    IncidentIntent,
    JobBatchIntent,
    JobIntent,
    MessageIntent,
    ProcessInstanceCreationIntent,
    ProcessInstanceIntent,
    ProcessInstanceModificationIntent,
    ResourceDeletionIntent,
    SignalIntent,
    ValueType,
    VariableDocumentIntent,
)


@dataclass(slots=True)
class Command:
    partition_id: int
    value_type: int
    intent: int
    value: dict[str, Any]
    key: int = -1
    tenant_id: str = DEFAULT_TENANT
    # A command on something that exists (a key, or SetVariables' scope key in its value): with
    # auth on it carries the caller's tenants, and the broker hides other tenants' keys.
    on_existing: bool = False

    def __post_init__(self) -> None:
        if self.key > 0:
            self.on_existing = True


@dataclass(slots=True)
class AwaitedCreation:
    """CreateProcessInstanceWithResult: the command, how long to wait, what to return."""

    command: Command
    timeout_ms: int
    fetch_variables: list[str]
    process: str  # the process as the request named it, for messages


@dataclass(slots=True)
class JobActivation:
    """ActivateJobs / StreamActivatedJobs: a JOB_BATCH ACTIVATE value to send to every partition
    (its maxJobsToActivate is set per partition), how many jobs in all, and how long to wait
    for jobs (None: answer at once)."""

    job_type: str
    value: dict[str, Any]
    max_jobs: int
    request_timeout_ms: int | None = None


def tenant_of(tenant_id: str, rpc: str) -> str:
    """The request's tenant; empty is the default tenant. With auth off (multi-tenancy off)
    any other tenant is refused as Zeebe refuses it; with auth on, a tenant the caller may
    not use is PERMISSION_DENIED (gateway/authorization.py)."""
    return tenant_for(tenant_id, rpc)


def _checked_key(key: int, field_name: str, to: str) -> int:
    if key <= 0:
        raise invalid_argument(
            expected(f"{to} with key '{key}'", f"'{field_name}' must be a positive key")
        )
    return key


class Requests:
    def __init__(self, config: GatewayConfig, router: Router) -> None:
        self._max_variables_bytes = config.max_variables_bytes
        self._config = config
        self._router = router

    def _variables(self, text: str, field_name: str = "variables") -> dict[str, Any]:
        return parse_document(text, field_name, self._max_variables_bytes)

    # -- deployments ----------------------------------------------------------------------
    def _deployment(self, resources: list[tuple[str, bytes]], tenant_id: str) -> Command:
        if not resources:
            raise invalid_argument(expected("deploy at least one resource", "none given"))
        value = {
            "resources": [
                {"resourceName": name, "resource": content} for name, content in resources
            ]
        }
        return Command(
            self._router.deployment(),
            ValueType.DEPLOYMENT,
            DeploymentIntent.CREATE,
            value,
            tenant_id=tenant_id,
        )

    def deploy_resource(self, request: Any) -> Command:
        tenant = tenant_of(request.tenantId, "DeployResource")
        return self._deployment([(r.name, r.content) for r in request.resources], tenant)

    def deploy_process(self, request: Any) -> Command:
        tenant = tenant_of("", "DeployProcess")
        return self._deployment([(p.name, p.definition) for p in request.processes], tenant)

    # -- process instances ----------------------------------------------------------------
    def _creation_value(self, request: Any) -> dict[str, Any]:
        if not request.bpmnProcessId and request.processDefinitionKey <= 0:
            raise invalid_argument(
                "Expected at least a bpmnProcessId or a key greater than -1, but none given"
            )
        return {
            "bpmnProcessId": request.bpmnProcessId,
            "version": request.version if request.version > 0 else -1,
            "processDefinitionKey": (
                request.processDefinitionKey if request.processDefinitionKey > 0 else -1
            ),
            "variables": self._variables(request.variables),
            "startInstructions": [{"elementId": i.elementId} for i in request.startInstructions],
        }

    def create_process_instance(self, request: Any) -> Command:
        tenant = tenant_of(request.tenantId, "CreateProcessInstance")
        return Command(
            self._router.new_instance(),
            ValueType.PROCESS_INSTANCE_CREATION,
            ProcessInstanceCreationIntent.CREATE,
            self._creation_value(request),
            tenant_id=tenant,
        )

    def create_process_instance_with_result(self, request: Any) -> AwaitedCreation:
        inner = request.request
        tenant = tenant_of(inner.tenantId, "CreateProcessInstanceWithResult")
        value = self._creation_value(inner)
        fetch = list(request.fetchVariables)
        value["fetchVariables"] = fetch
        command = Command(
            self._router.new_instance(),
            ValueType.PROCESS_INSTANCE_CREATION,
            ProcessInstanceCreationIntent.CREATE_WITH_AWAITING_RESULT,
            value,
            tenant_id=tenant,
        )
        timeout_ms = (
            request.requestTimeout
            if request.requestTimeout > 0
            else self._config.request_timeout_ms_default
        )
        process = (
            f"'{inner.bpmnProcessId}'"
            if inner.bpmnProcessId
            else f"with key '{inner.processDefinitionKey}'"
        )
        return AwaitedCreation(command, timeout_ms, fetch, process)

    def cancel_process_instance(self, request: Any) -> Command:
        key = _checked_key(
            request.processInstanceKey, "processInstanceKey", "cancel process instance"
        )
        return Command(
            self._router.for_key(key),
            ValueType.PROCESS_INSTANCE,
            ProcessInstanceIntent.CANCEL,
            {},
            key,
        )

    def modify_process_instance(self, request: Any) -> Command:
        key = _checked_key(request.processInstanceKey, "processInstanceKey", "modify process instance")
        activate = []
        for index, instruction in enumerate(request.activateInstructions):
            variables = [
                {"scopeId": v.scopeId, "variables": self._variables(v.variables, f"activateInstructions[{index}].variableInstructions.variables")}
                for v in instruction.variableInstructions
            ]
            activate.append({
                "elementId": instruction.elementId,
                "ancestorElementInstanceKey": instruction.ancestorElementInstanceKey or -1,
                "variableInstructions": variables,
            })
        terminate = [{"elementInstanceKey": t.elementInstanceKey} for t in request.terminateInstructions]
        value = {"activateInstructions": activate, "terminateInstructions": terminate}
        return Command(self._router.for_key(key), ValueType.PROCESS_INSTANCE_MODIFICATION, ProcessInstanceModificationIntent.MODIFY, value, key)

    def delete_resource(self, request: Any) -> Command:
        key = _checked_key(request.resourceKey, "resourceKey", "delete resource")
        return Command(self._router.deployment(), ValueType.RESOURCE_DELETION, ResourceDeletionIntent.DELETE, {}, key)

    def set_variables(self, request: Any) -> Command:
        key = _checked_key(
            request.elementInstanceKey, "elementInstanceKey", "set variables of element instance"
        )
        value = {
            "scopeKey": key,
            "variables": self._variables(request.variables),
            "updateSemantics": "LOCAL" if request.local else "PROPAGATE",
        }
        return Command(
            self._router.for_key(key),
            ValueType.VARIABLE_DOCUMENT,
            VariableDocumentIntent.UPDATE,
            value,
            on_existing=True,
        )

    def resolve_incident(self, request: Any) -> Command:
        key = _checked_key(request.incidentKey, "incidentKey", "resolve incident")
        return Command(
            self._router.for_key(key), ValueType.INCIDENT, IncidentIntent.RESOLVE, {}, key
        )

    # -- messages -------------------------------------------------------------------------
    def publish_message(self, request: Any) -> Command:
        tenant = tenant_of(request.tenantId, "PublishMessage")
        if not request.name:
            raise invalid_argument(expected("publish a message with a name", "the name was empty"))
        value = {
            "name": request.name,
            "correlationKey": request.correlationKey,
            "timeToLive": request.timeToLive if request.timeToLive > 0 else 0,
            "messageId": request.messageId,
            "variables": self._variables(request.variables),
        }
        return Command(
            self._router.for_correlation_key(request.correlationKey),
            ValueType.MESSAGE,
            MessageIntent.PUBLISH,
            value,
            tenant_id=tenant,
        )

    def broadcast_signal(self, request: Any) -> Command:
        tenant = tenant_of(request.tenantId, "BroadcastSignal")
        if not request.signalName:
            raise invalid_argument(expected("broadcast a signal with a name", "the name was empty"))
        value = {"signalName": request.signalName, "variables": self._variables(request.variables)}
        # One partition: the deployment partition, where signal subscriptions are opened too.
        return Command(self._router.deployment(), ValueType.SIGNAL, SignalIntent.BROADCAST, value, tenant_id=tenant)

    # -- jobs -----------------------------------------------------------------------------
    def _activation(self, request: Any, rpc: str, max_jobs: int) -> JobActivation:
        if not request.type:
            raise invalid_argument(
                "Expected to activate job batch with type to be present, but it was blank"
            )
        if request.timeout < 1:
            raise invalid_argument(
                "Expected to activate job batch with timeout to be greater than zero, "
                f"but it was '{request.timeout}'"
            )
        tenants = sorted({tenant_of(t, rpc) for t in request.tenantIds}) or [DEFAULT_TENANT]
        value = {
            "type": request.type,
            "worker": request.worker,
            "timeout": request.timeout,
            "maxJobsToActivate": max_jobs,
            "fetchVariables": list(request.fetchVariable),
            "tenantIds": tenants,
        }
        return JobActivation(request.type, value, max_jobs)

    def activate_jobs(self, request: Any) -> JobActivation:
        if request.maxJobsToActivate < 1:
            raise invalid_argument(
                "Expected to activate job batch with max jobs to activate to be greater than "
                f"zero, but it was '{request.maxJobsToActivate}'"
            )
        max_jobs = min(request.maxJobsToActivate, self._config.max_jobs_to_activate_max)
        activation = self._activation(request, "ActivateJobs", max_jobs)
        if request.requestTimeout < 0:
            activation.request_timeout_ms = None  # no long polling: answer at once
        elif request.requestTimeout == 0:
            activation.request_timeout_ms = self._config.long_poll_timeout_ms_default
        else:
            activation.request_timeout_ms = request.requestTimeout
        return activation

    def stream_activated_jobs(self, request: Any) -> JobActivation:
        return self._activation(request, "StreamActivatedJobs", self._config.stream_batch_jobs_max)

    def _job_key(self, request: Any, to: str) -> tuple[int, int]:
        key = _checked_key(request.jobKey, "jobKey", to)
        return key, self._router.for_key(key)

    def complete_job(self, request: Any) -> Command:
        key, partition = self._job_key(request, "complete job")
        value = {"variables": self._variables(request.variables)}
        return Command(partition, ValueType.JOB, JobIntent.COMPLETE, value, key)

    def fail_job(self, request: Any) -> Command:
        key, partition = self._job_key(request, "fail job")
        value = {
            "retries": request.retries,
            "errorMessage": request.errorMessage,
            "retryBackoff": request.retryBackOff if request.retryBackOff > 0 else 0,
            "variables": self._variables(request.variables),
        }
        return Command(partition, ValueType.JOB, JobIntent.FAIL, value, key)

    def throw_error(self, request: Any) -> Command:
        key, partition = self._job_key(request, "throw an error for job")
        if not request.errorCode:
            raise invalid_argument(
                expected(f"throw an error for job with key '{key}'", "the errorCode was empty")
            )
        value = {
            "errorCode": request.errorCode,
            "errorMessage": request.errorMessage,
            "variables": self._variables(request.variables),
        }
        return Command(partition, ValueType.JOB, JobIntent.THROW_ERROR, value, key)

    def update_job_retries(self, request: Any) -> Command:
        key, partition = self._job_key(request, "update the retries of job")
        return Command(
            partition, ValueType.JOB, JobIntent.UPDATE_RETRIES, {"retries": request.retries}, key
        )

    def update_job_timeout(self, request: Any) -> Command:
        key, partition = self._job_key(request, "update the timeout of job")
        return Command(
            partition, ValueType.JOB, JobIntent.UPDATE_TIMEOUT, {"timeout": request.timeout}, key
        )


def job_batch_activate(partition_id: int, activation: JobActivation, max_jobs: int) -> Command:
    """The JOB_BATCH ACTIVATE command for one partition, asking for `max_jobs` jobs."""
    value = activation.value
    if value["maxJobsToActivate"] != max_jobs:
        value = dict(value, maxJobsToActivate=max_jobs)
    return Command(partition_id, ValueType.JOB_BATCH, JobBatchIntent.ACTIVATE, value)


def job_yield(key: int, partition_id: int, tenant_id: str) -> Command:
    """Give an activated job back: it becomes activatable again at once."""
    return Command(partition_id, ValueType.JOB, JobIntent.YIELD, {}, key, tenant_id)
