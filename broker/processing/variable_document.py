"""VARIABLE_DOCUMENT UPDATE: set variables on an element instance, locally or propagating."""

from __future__ import annotations

from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError, expected
from propolis.broker.processing import tenancy
from propolis.broker.processing.bpmn_behavior import BpmnBehavior
from propolis.broker.processing.services import Services

from propolis.records import RejectionType, ValueType, VariableDocumentIntent


def update_variables(ctx: ProcessingContext, services: Services) -> None:
    value = tenancy.without_authorizations(ctx.command.value)
    scope_key = int(value.get("scopeKey", -1))
    instance = ctx.state.element_instances.get(scope_key)
    if instance is None or not tenancy.may_access(ctx.command, instance["tenantId"]):
        raise RejectionError(RejectionType.NOT_FOUND, expected("update variables for element", "no such element was found", scope_key))
    variables = value.get("variables") or {}
    if not isinstance(variables, dict):
        raise RejectionError(RejectionType.INVALID_ARGUMENT, f"Expected variables to be a JSON object, but got {type(variables).__name__}")
    bpmn = BpmnBehavior(ctx, services.processes)
    if value.get("updateSemantics") == "LOCAL":
        bpmn.set_local_variables(instance, variables)
    else:
        bpmn.propagate_variables(scope_key, variables, instance)
    record = ctx.event(ValueType.VARIABLE_DOCUMENT, VariableDocumentIntent.UPDATED, ctx.keys.next(), dict(value, variables=variables), instance["tenantId"])
    ctx.respond(record)
