"""PROCESS_INSTANCE_CREATION CREATE (and CREATE_WITH_AWAITING_RESULT)."""

from __future__ import annotations

from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError, expected
from propolis.broker.processing.bpmn_behavior import BpmnBehavior
from propolis.broker.processing.services import Services

from propolis.records import ProcessInstanceCreationIntent, RejectionType, ValueType
from propolis.records import ProcessInstanceIntent as PI


def create_instance(ctx: ProcessingContext, services: Services) -> None:
    command = ctx.command
    value = command.value
    process_def = _find_process(ctx)
    variables = value.get("variables") or {}
    if not isinstance(variables, dict):
        raise RejectionError(RejectionType.INVALID_ARGUMENT, expected("set variables of a new process instance", f"the variables are not a JSON object: {type(variables).__name__}"))
    process = services.processes.get(ctx.state, process_def["processDefinitionKey"])
    start_ids = [i.get("elementId", "") for i in value.get("startInstructions") or []]
    if not start_ids and process.start_event_id is None:
        raise RejectionError(
            RejectionType.INVALID_STATE,
            f"Expected to create an instance of process '{process.id}' at its none start event, but it has none: "
            "it starts by a message, timer or signal, or give start instructions",
        )
    for element_id in start_ids:
        if element_id not in process.elements:
            raise RejectionError(
                RejectionType.INVALID_ARGUMENT,
                expected(f"create an instance of process '{process.id}' starting at element '{element_id}'", "no element with that id exists in the process"),
            )

    bpmn = BpmnBehavior(ctx, services.processes)
    pi_key = ctx.keys.next()
    instance_value = bpmn.element_value(process_def, process.id, "PROCESS", -1, pi_key)
    ctx.event(ValueType.PROCESS_INSTANCE, PI.ELEMENT_ACTIVATING, pi_key, instance_value)
    instance = ctx.state.element_instances.get(pi_key)
    for name, variable in variables.items():
        bpmn.set_variable(pi_key, name, variable, instance)
    created = {
        "bpmnProcessId": process_def["bpmnProcessId"],
        "version": process_def["version"],
        "processDefinitionKey": process_def["processDefinitionKey"],
        "processInstanceKey": pi_key,
        "variables": variables,
        "startInstructions": value.get("startInstructions") or [],
        "tenantId": process_def["tenantId"],
    }
    record = ctx.event(ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATED, pi_key, created)
    if command.intent == ProcessInstanceCreationIntent.CREATE_WITH_AWAITING_RESULT:
        ctx.awaiting_results[pi_key] = {"requestId": command.request_id, "fetchVariables": value.get("fetchVariables") or []}
        ctx.responded = True  # the answer comes when the instance completes
    else:
        ctx.respond(record)
    instance["startElementIds"] = start_ids
    bpmn.on_activate(instance)
    bpmn.run()


def _find_process(ctx: ProcessingContext) -> dict:
    value = ctx.command.value
    tenant = ctx.command.tenant_id
    processes = ctx.state.processes
    definition_key = value.get("processDefinitionKey", -1) or -1
    if definition_key > 0:
        found = processes.get(definition_key)
        if found is None or found["tenantId"] != tenant:
            raise RejectionError(RejectionType.NOT_FOUND, f"Expected to find process definition with key '{definition_key}', but none found")
        return found
    bpmn_process_id = value.get("bpmnProcessId") or ""
    version = value.get("version", -1)
    if version is None or version < 0:
        found = processes.latest_version(tenant, bpmn_process_id)
        if found is None:
            raise RejectionError(RejectionType.NOT_FOUND, f"Expected to find process definition with process ID '{bpmn_process_id}', but none found")
        return found
    found = processes.by_version(tenant, bpmn_process_id, version)
    if found is None:
        raise RejectionError(
            RejectionType.NOT_FOUND,
            f"Expected to find process definition with process ID '{bpmn_process_id}' and version '{version}', but none found",
        )
    return found


def start_instance(
    bpmn: BpmnBehavior,
    process_def: dict,
    start_id: str,
    variables: dict,
    pi_key: int | None = None,
) -> int:
    """Start an instance of `process_def` at its message, timer or signal start event
    `start_id`, with the trigger's variables; returns the new instance's key."""
    ctx = bpmn.ctx
    pi_key = ctx.keys.next() if pi_key is None else pi_key
    value = bpmn.element_value(process_def, process_def["bpmnProcessId"], "PROCESS", -1, pi_key)
    ctx.event(ValueType.PROCESS_INSTANCE, PI.ELEMENT_ACTIVATING, pi_key, value, process_def["tenantId"])
    instance = ctx.state.element_instances.get(pi_key)
    instance["startElementIds"] = [start_id]
    bpmn.catch_payload = ({}, variables)
    try:
        bpmn.on_activate(instance)
    finally:
        bpmn.catch_payload = None
    return pi_key
