"""The events an element instance waits for while it is active, and what happens when one
fires.

Entering an element opens the triggers of its catch events: its own (a message, timer or
signal catch event, a receive task), those of its boundary events, those of the events after
an event-based gateway, and those of the start events of the event sub-processes of a process
or sub-process. Leaving it closes whatever is still open. Each trigger names its target event
(`elementId` of a subscription, `targetElementId` of a timer), and `trigger` decides from the
target what firing means: complete the waiting element, take a boundary event, pass an
event-based gateway towards the event, or start an event sub-process.

Everything that can fail (a timer or a correlation key expression) is evaluated by `plan`
before any event is written, so a failure becomes an incident on entering the element.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from propolis.bpmn.model import Element, ElementKind, Process
from propolis.bpmn.timers import parse_cycle, to_text
from propolis.broker.processing.bpmn_behavior import BpmnBehavior, ExpressionFailure

from propolis.records import MessageSubscriptionIntent, SignalSubscriptionIntent, ValueType


@dataclass(slots=True)
class Plan:
    timers: list[tuple[str, int, int]] = field(default_factory=list)  # (target, due, repetitions)
    messages: list[dict[str, Any]] = field(default_factory=list)  # subscription values
    signals: list[dict[str, Any]] = field(default_factory=list)  # subscription values


def target_ids(process: Process, element: Element, instance: dict[str, Any]) -> list[str]:
    """The ids of the events whose triggers belong to this element instance."""
    kind = instance["bpmnElementType"]
    if kind == ElementKind.PROCESS:
        return process.catch_ids
    if kind == ElementKind.MULTI_INSTANCE_BODY:
        return element.boundary_ids  # the body holds the boundary events
    if element.multi_instance is not None:
        return element.catch_ids  # an inner instance: its own events only
    if not element.boundary_ids:
        return element.catch_ids
    return element.catch_ids + element.boundary_ids


def is_interrupting(target: Element) -> bool:
    if target.kind in (ElementKind.BOUNDARY_EVENT, ElementKind.START_EVENT):
        return target.cancel_activity
    return True


def plan(bpmn: BpmnBehavior, instance: dict[str, Any], process: Process, ids: list[str]) -> Plan:
    from propolis.broker.processing import timers

    result = Plan()
    variables = None
    for target_id in ids:
        target = process.elements[target_id]
        if target.timer is not None:
            result.timers.append((target_id, *timers.first_due(bpmn, instance, target, target.timer)))
            continue
        if target.message is None and target.signal_name is None:
            continue  # errors and escalations are caught when thrown, nothing to open
        if variables is None:
            variables = bpmn.variables_for(instance["key"])
        common = {
            "elementInstanceKey": instance["key"],
            "processInstanceKey": instance["processInstanceKey"],
            "processDefinitionKey": instance["processDefinitionKey"],
            "bpmnProcessId": instance["bpmnProcessId"],
            "tenantId": instance["tenantId"],
        }
        if target.message is not None:
            name, correlation_key = message_of(bpmn, target, variables)
            result.messages.append({
                "messageName": name,
                "correlationKey": correlation_key,
                **common,
                "elementId": target_id,
                "messageKey": -1,
                "variables": {},
                "interrupting": is_interrupting(target),
            })
        else:
            name = signal_name_of(bpmn, target, variables)
            result.signals.append({"signalName": name, **common, "catchEventId": target_id, "catchEventInstanceKey": instance["key"], "interrupting": is_interrupting(target)})
    return result


def message_of(bpmn: BpmnBehavior, target: Element, variables: Any) -> tuple[str, str]:
    message = target.message
    name = bpmn.evaluate(message.name, variables, f"message name of element '{target.id}'")
    if not isinstance(name, str) or not name:
        raise ExpressionFailure("EXTRACT_VALUE_ERROR", f"Expected the message name of element '{target.id}' to be a non-empty string, but it was {name!r}")
    correlation_key: Any = ""
    if message.correlation_key is not None:
        correlation_key = bpmn.evaluate(message.correlation_key, variables, f"correlation key of element '{target.id}'")
        if isinstance(correlation_key, bool) or not isinstance(correlation_key, (str, int, float)):
            raise ExpressionFailure(
                "EXTRACT_VALUE_ERROR",
                f"Failed to extract the correlation key for '{message.correlation_key.source}' of element '{target.id}': "
                f"the value must be either a string or a number, but was {correlation_key!r}",
            )
        if isinstance(correlation_key, float) and correlation_key.is_integer():
            correlation_key = int(correlation_key)
    return name, str(correlation_key)


def signal_name_of(bpmn: BpmnBehavior, target: Element, variables: Any) -> str:
    name = bpmn.evaluate(target.signal_name, variables, f"signal name of element '{target.id}'")
    if not isinstance(name, str) or not name:
        raise ExpressionFailure("EXTRACT_VALUE_ERROR", f"Expected the signal name of element '{target.id}' to be a non-empty string, but it was {name!r}")
    return name


def open_triggers(bpmn: BpmnBehavior, instance: dict[str, Any], planned: Plan) -> None:
    from propolis.broker.processing import message_subscription, timers

    for target_id, due_ms, repetitions in planned.timers:
        timers.create_timer(bpmn, instance, target_id, due_ms, repetitions)
    for subscription in planned.messages:
        bpmn.ctx.event(ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CREATED, instance["key"], subscription, instance["tenantId"])
        if message_subscription.open_remote(bpmn.ctx, subscription):
            continue  # the message's partition correlates a buffered message
        # A message published before the subscription opened correlates now, once per process;
        # after this step, so that the element is fully entered first.
        bpmn.defer(lambda subscription=subscription: correlate_buffered(bpmn, subscription))
    for subscription in planned.signals:
        bpmn.ctx.event(ValueType.SIGNAL_SUBSCRIPTION, SignalSubscriptionIntent.CREATED, instance["key"], subscription, instance["tenantId"])


def close_triggers(bpmn: BpmnBehavior, instance: dict[str, Any], only: set[str] | None = None) -> None:
    """Close the open triggers of an element instance (only those of the events in `only`)."""
    from propolis.broker.processing import message_subscription, timers

    key = instance["key"]
    timers.cancel_timers(bpmn, instance, only)
    for subscription in list(bpmn.state.messages.subscriptions_of(key)):
        if only is None or subscription["elementId"] in only:
            bpmn.ctx.event(ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.DELETED, key, subscription, subscription["tenantId"])
            message_subscription.close_remote(bpmn.ctx, subscription)
    for subscription in list(bpmn.state.signals.subscriptions_of(key)):
        if only is None or subscription["catchEventId"] in only:
            bpmn.ctx.event(ValueType.SIGNAL_SUBSCRIPTION, SignalSubscriptionIntent.DELETED, key, subscription, subscription["tenantId"])


def correlate_buffered(bpmn: BpmnBehavior, subscription: dict[str, Any]) -> None:
    messages = bpmn.state.messages
    for message_key in messages.buffered(subscription["tenantId"], subscription["messageName"], subscription["correlationKey"]):
        stored = messages.get(message_key)
        if stored is None or stored["deadline"] <= bpmn.ctx.now_ms:
            continue
        if messages.correlated_to(message_key, subscription["bpmnProcessId"]):
            continue
        correlate(bpmn, subscription, message_key, stored.get("variables") or {})
        return


def correlate(bpmn: BpmnBehavior, subscription: dict[str, Any], message_key: int, variables: dict[str, Any]) -> bool:
    """Hand a message to a waiting element instance; False if it no longer waits."""
    instance = bpmn.state.element_instances.get(subscription["elementInstanceKey"])
    if instance is None or instance["state"] != "ACTIVATED":
        return False
    still_open = any(s["elementId"] == subscription["elementId"] for s in bpmn.state.messages.subscriptions_of(instance["key"]))
    if not still_open:
        return False
    correlated = dict(subscription, messageKey=message_key, variables=variables)
    bpmn.ctx.event(
        ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CORRELATED,
        subscription["elementInstanceKey"], correlated, subscription["tenantId"],
    )
    trigger(bpmn, instance, subscription["elementId"], variables)
    return True


def trigger(bpmn: BpmnBehavior, instance: dict[str, Any], target_id: str, variables: dict[str, Any] | None, timer: dict[str, Any] | None = None) -> None:
    """The trigger of event `target_id`, opened by the active `instance`, fired."""
    process, element = bpmn.model(instance)
    target = process.elements[target_id]
    if target.kind == ElementKind.BOUNDARY_EVENT:
        fire_boundary_event(bpmn, instance, target, ({}, variables or {}), timer)
    elif target.kind == ElementKind.START_EVENT:
        start_event_sub_process(bpmn, instance, target, ({}, variables or {}), timer)
    elif element.kind == ElementKind.EVENT_BASED_GATEWAY and instance["bpmnElementType"] != ElementKind.PROCESS:
        # The gateway completes towards the event that fired; that event is entered already
        # triggered and passes its payload on.
        instance["chosenFlowId"] = next(f for f in element.outgoing if process.flows[f].target_id == target_id)
        bpmn.entered_by_trigger[(instance["flowScopeKey"], target_id)] = variables or {}
        bpmn.complete(instance)
    else:  # the element itself waited: a catch event or a receive task
        bpmn.complete(instance, variables or None)


def reschedule(bpmn: BpmnBehavior, instance: dict[str, Any], target: Element, timer: dict[str, Any] | None) -> None:
    """A non-interrupting cycle timer fires again."""
    from propolis.broker.processing import timers

    if timer is None or timer["repetitions"] == 1 or target.timer is None:
        return
    what = f"timeCycle of element '{target.id}'"
    cycle = parse_cycle(to_text(bpmn.evaluate(target.timer.value, bpmn.variables_for(instance["key"]), what), what))
    repetitions = timer["repetitions"] - 1 if timer["repetitions"] > 0 else -1
    timers.create_timer(bpmn, instance, target.id, cycle.next_due(timer["dueDate"]), repetitions)


def fire_boundary_event(bpmn: BpmnBehavior, instance: dict[str, Any], boundary: Element, payload: tuple[dict[str, Any], dict[str, Any]], timer: dict[str, Any] | None = None) -> None:
    """Take a boundary event of the active `instance`: an interrupting one terminates the
    activity first; a non-interrupting one leaves it running."""
    scope_key = instance["flowScopeKey"]
    if boundary.cancel_activity:
        bpmn.terminate(instance)
    else:
        reschedule(bpmn, instance, boundary, timer)
    bpmn.catch_payload = payload
    try:
        bpmn.activate(bpmn.state.element_instances.get(scope_key), boundary, [])
    finally:
        bpmn.catch_payload = None


def start_event_sub_process(bpmn: BpmnBehavior, scope: dict[str, Any], start: Element, payload: tuple[dict[str, Any], dict[str, Any]], timer: dict[str, Any] | None = None) -> None:
    """Start the event sub-process of `start` in `scope`: an interrupting one first ends every
    other token of the scope and closes the scope's other event sub-processes."""
    process, element = bpmn.model(scope)
    if start.cancel_activity:
        for child_key in list(bpmn.state.element_instances.children(scope["key"])):
            child = bpmn.state.element_instances.get(child_key)
            if child is not None and child["state"] not in ("TERMINATING", "COMPLETED", "TERMINATED"):
                bpmn.terminate(child)
        own = process.catch_ids if scope["bpmnElementType"] == ElementKind.PROCESS else element.catch_ids
        close_triggers(bpmn, scope, only=set(own))
    else:
        reschedule(bpmn, scope, start, timer)
    bpmn.catch_payload = payload
    try:
        bpmn.activate(bpmn.state.element_instances.get(scope["key"]), process.elements[start.parent_id], [])
    finally:
        bpmn.catch_payload = None
