"""PROCESS_INSTANCE CANCEL."""

from __future__ import annotations

from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError, expected
from propolis.broker.processing import tenancy
from propolis.broker.processing.bpmn_behavior import BpmnBehavior
from propolis.broker.processing.services import Services

from propolis.records import ProcessInstanceIntent as PI
from propolis.records import Record, RecordType, RejectionType, ValueType


def cancel_instance(ctx: ProcessingContext, services: Services) -> None:
    key = ctx.command.key
    instance = ctx.state.element_instances.get(key)
    if instance is None or instance["flowScopeKey"] >= 0 or not tenancy.may_access(ctx.command, instance["tenantId"]):
        raise RejectionError(RejectionType.NOT_FOUND, expected("cancel a process instance", "no such process was found", key))
    if instance["state"] == "TERMINATING":
        raise RejectionError(RejectionType.INVALID_STATE, expected("cancel a process instance", "it is already being canceled", key))
    bpmn = BpmnBehavior(ctx, services.processes)
    value = {k: instance[k] for k in ("bpmnProcessId", "version", "processDefinitionKey", "processInstanceKey", "elementId", "tenantId")}
    bpmn.terminate(instance)
    bpmn.run()
    ctx.respond(Record(RecordType.EVENT, ValueType.PROCESS_INSTANCE, PI.ELEMENT_TERMINATING, key, value, instance["tenantId"]))
