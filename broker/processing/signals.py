"""SIGNAL BROADCAST: a signal reaches every subscription of its tenant and name at once:
signal start events of the latest process versions start instances; waiting catch events,
boundary events, event-based gateways and event sub-processes fire. Signals are not buffered:
one broadcast before anything waits reaches nothing, as in Zeebe.
"""

from __future__ import annotations

from typing import Any

from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError
from propolis.broker.processing.bpmn_behavior import BpmnBehavior
from propolis.broker.processing.distribution import distribute, distributed_by
from propolis.broker.processing.services import Services

from propolis.records import RejectionType, SignalIntent, ValueType


def broadcast_signal(ctx: ProcessingContext, services: Services) -> None:
    value = ctx.command.value
    name = value.get("signalName") or ""
    variables = value.get("variables") or {}
    if not name:
        raise RejectionError(RejectionType.INVALID_ARGUMENT, "Expected to broadcast a signal with a name, but the name was empty")
    if not isinstance(variables, dict):
        raise RejectionError(RejectionType.INVALID_ARGUMENT, f"Expected variables to be a JSON object, but got {type(variables).__name__}")
    bpmn = BpmnBehavior(ctx, services.processes)
    record = broadcast(bpmn, ctx.command.tenant_id, name, variables, sent_by_partition=distributed_by(ctx.command) is not None)
    ctx.respond(record)
    bpmn.run()


def broadcast(bpmn: BpmnBehavior, tenant_id: str, name: str, variables: dict[str, Any], sent_by_partition: bool = False) -> Any:
    """Write SIGNAL BROADCASTED and fire every subscription that waited for it; send the
    signal on to every other partition unless it came from one. Signal start events start
    an instance on the partition where the signal was broadcast only, so one signal starts
    one instance per process, as on a single partition."""
    from propolis.broker.processing.process_instance_creation import start_instance

    ctx = bpmn.ctx
    record = ctx.event(ValueType.SIGNAL, SignalIntent.BROADCASTED, ctx.keys.next(), {"signalName": name, "variables": variables, "tenantId": tenant_id}, tenant_id)
    if not sent_by_partition:
        for partition_id in range(1, ctx.partition_count + 1):
            if partition_id != ctx.command.partition_id:
                distribute(ctx, partition_id, ValueType.SIGNAL, SignalIntent.BROADCAST, -1, {"signalName": name, "variables": variables}, tenant_id)
    # Fired in the order they were opened; a firing may close later ones (an interrupting
    # boundary event ends its activity), so each is checked again before it fires.
    for subscription in list(bpmn.state.signals.subscriptions(tenant_id, name)):
        if subscription["elementInstanceKey"] < 0:
            if sent_by_partition:
                continue
            process_def = bpmn.state.processes.get(subscription["processDefinitionKey"])
            if process_def is not None:
                start_instance(bpmn, process_def, subscription["catchEventId"], variables)
            continue
        owner = subscription["elementInstanceKey"]
        if not any(s["catchEventId"] == subscription["catchEventId"] for s in bpmn.state.signals.subscriptions_of(owner)):
            continue
        instance = bpmn.state.element_instances.get(owner)
        if instance is None or instance["state"] != "ACTIVATED":
            continue
        if subscription["interrupting"]:
            bpmn.catch_events.close_triggers(bpmn, instance, only={subscription["catchEventId"]})
        bpmn.catch_events.trigger(bpmn, instance, subscription["catchEventId"], variables)
    return record
