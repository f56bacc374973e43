"""PROCESS_INSTANCE_MODIFICATION MODIFY: activate and terminate elements of a running
instance, as an operator repairs it (Zeebe's ModifyProcessInstance).

Every instruction is checked before anything changes, so a bad one changes nothing. Elements
are activated first, in their flow scope: the process, or the one active instance of their
sub-process (or the `ancestorElementInstanceKey` given), with the instruction's variables set
first (`scopeId` names the element whose scope gets them; empty: the process instance). Then
the element instances to terminate are terminated; a scope left without any token is
terminated too, up to the process instance itself.
"""

from __future__ import annotations

import json
from typing import Any

from propolis.bpmn.model import ElementKind
from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError
from propolis.broker.processing import tenancy
from propolis.broker.processing.bpmn_behavior import BpmnBehavior
from propolis.broker.processing.services import Services

from propolis.records import ProcessInstanceModificationIntent, RejectionType, ValueType

_NOT_ACTIVATABLE = (ElementKind.BOUNDARY_EVENT, ElementKind.START_EVENT, ElementKind.EVENT_SUB_PROCESS)
_ACTIVE = ("ACTIVATING", "ACTIVATED", "COMPLETING")


def modify_instance(ctx: ProcessingContext, services: Services) -> None:
    key = ctx.command.key
    root = ctx.state.element_instances.get(key)
    if root is None or root["flowScopeKey"] >= 0 or not tenancy.may_access(ctx.command, root["tenantId"]):
        raise RejectionError(RejectionType.NOT_FOUND, f"Expected to modify process instance but no process instance found with key '{key}'")
    bpmn = BpmnBehavior(ctx, services.processes)
    process, _ = bpmn.model(root)
    active = _active_descendants(bpmn, key)
    value = tenancy.without_authorizations(ctx.command.value)
    activations = []
    for instruction in value.get("activateInstructions") or []:
        element_id = instruction.get("elementId", "")
        element = process.elements.get(element_id)
        if element is None:
            raise _invalid(f"the element '{element_id}' to activate is not in process '{process.id}'")
        if element.kind in _NOT_ACTIVATABLE:
            raise _invalid(f"the element '{element_id}' is a {element.kind.value.lower().replace('_', ' ')}, which cannot be activated directly")
        scope = _scope_for(process, element, instruction.get("ancestorElementInstanceKey", -1) or -1, root, active)
        variables = []
        for variable_instruction in instruction.get("variableInstructions") or []:
            document = variable_instruction.get("variables") or {}
            if isinstance(document, str):
                try:
                    document = json.loads(document) if document.strip() else {}
                except ValueError as error:
                    raise _invalid(f"the variables for element '{element_id}' are not JSON: {error}") from None
            if not isinstance(document, dict):
                raise _invalid(f"the variables for element '{element_id}' are not a JSON object")
            variables.append((variable_instruction.get("scopeId") or "", document))
        activations.append((element, scope, variables))
    terminations = []
    for instruction in value.get("terminateInstructions") or []:
        instance_key = instruction.get("elementInstanceKey", -1)
        if instance_key not in active:
            raise _invalid(f"the element instance '{instance_key}' to terminate is not an active element instance of process instance '{key}'")
        terminations.append(active[instance_key])
    if not activations and not terminations:
        raise _invalid("no activate or terminate instructions were given")

    record = ctx.event(ValueType.PROCESS_INSTANCE_MODIFICATION, ProcessInstanceModificationIntent.MODIFIED, key, dict(value, processInstanceKey=key), root["tenantId"])
    ctx.respond(record)
    for element, scope, variables in activations:
        for scope_id, document in variables:
            target = scope if scope_id and scope_id == scope["elementId"] else root
            bpmn.set_local_variables(ctx.state.element_instances.get(target["key"]), document)
        bpmn.activate(ctx.state.element_instances.get(scope["key"]), element, [])
    for instance in terminations:
        current = ctx.state.element_instances.get(instance["key"])
        if current is not None and current["state"] in _ACTIVE:
            scope_key = current["flowScopeKey"]
            bpmn.terminate(current)
            _terminate_if_empty(bpmn, scope_key)
    bpmn.run()


def _invalid(what: str) -> RejectionError:
    return RejectionError(RejectionType.INVALID_ARGUMENT, f"Expected to modify the process instance, but {what}")


def _active_descendants(bpmn: BpmnBehavior, root_key: int) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    pending = [root_key]
    while pending:
        for child_key in bpmn.state.element_instances.children(pending.pop()):
            child = bpmn.state.element_instances.get(child_key)
            if child is not None and child["state"] in _ACTIVE:
                found[child_key] = child
                pending.append(child_key)
    return found


def _scope_for(process: Any, element: Any, ancestor_key: int, root: dict[str, Any], active: dict[int, dict[str, Any]]) -> dict[str, Any]:
    if element.parent_id is None:
        return root
    if ancestor_key > 0:
        ancestor = active.get(ancestor_key)
        if ancestor is None or ancestor["elementId"] != element.parent_id:
            raise _invalid(f"the ancestor element instance '{ancestor_key}' is not an active instance of '{element.parent_id}', the scope of '{element.id}'")
        return ancestor
    scopes = [i for i in active.values() if i["elementId"] == element.parent_id and i["bpmnElementType"] != ElementKind.MULTI_INSTANCE_BODY]
    if len(scopes) != 1:
        found = "none is active" if not scopes else f"{len(scopes)} are active"
        raise _invalid(f"'{element.id}' is inside '{element.parent_id}', of which {found}; give ancestorElementInstanceKey, or activate '{element.parent_id}' itself")
    return scopes[0]


def _terminate_if_empty(bpmn: BpmnBehavior, scope_key: int) -> None:
    while scope_key >= 0:
        scope = bpmn.state.element_instances.get(scope_key)
        if scope is None or scope["state"] != "ACTIVATED" or scope["activeChildren"] > 0 or scope["activeFlows"] > 0:
            return
        parent_key = scope["flowScopeKey"]
        bpmn.terminate(scope)
        scope_key = parent_key
