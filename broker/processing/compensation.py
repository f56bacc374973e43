"""Compensation, as Zeebe runs it: an activity with a compensation boundary event that
completes is remembered (COMPENSATION_SUBSCRIPTION CREATED). A compensation throw or end event
runs the handlers (isForCompensation activities) of the completed activities in its scope,
nested sub-processes included (or only of its activityRef), the most recent first, and waits
until every handler has completed; then it goes on. An activity compensates once.
"""

from __future__ import annotations

from typing import Any

from propolis.bpmn.model import Element, Process
from propolis.broker.processing.bpmn_behavior import BpmnBehavior

from propolis.records import CompensationSubscriptionIntent, ValueType


def remember(bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
    """A compensable activity completed."""
    value = {
        "processInstanceKey": instance["processInstanceKey"],
        "elementInstanceKey": instance["key"],
        "flowScopeKey": instance["flowScopeKey"],
        "elementId": element.id,
        "compensationHandlerId": element.compensation_handler_id,
        "throwEventInstanceKey": -1,
        "tenantId": instance["tenantId"],
    }
    bpmn.ctx.event(ValueType.COMPENSATION_SUBSCRIPTION, CompensationSubscriptionIntent.CREATED, instance["key"], value, instance["tenantId"])


def _in_scope(process: Process, activity_id: str, scope_id: str | None) -> bool:
    if scope_id is None:
        return True
    parent = process.elements[activity_id].parent_id
    while parent is not None:
        if parent == scope_id:
            return True
        parent = process.elements[parent].parent_id
    return False


def throw(bpmn: BpmnBehavior, thrower: dict[str, Any], element: Element) -> bool:
    """Start the handlers a compensation throw event calls for; True if it must wait."""
    process, _ = bpmn.model(thrower)
    pending = [
        s for s in bpmn.state.compensations.of_instance(thrower["processInstanceKey"])
        if s["throwEventInstanceKey"] < 0
        and _in_scope(process, s["elementId"], element.parent_id)
        and (element.compensation_activity_ref is None or s["elementId"] == element.compensation_activity_ref)
    ]
    scope = bpmn.state.element_instances.get(thrower["flowScopeKey"])
    for subscription in reversed(pending):  # the most recently completed first
        triggered = dict(subscription, throwEventInstanceKey=thrower["key"])
        bpmn.ctx.event(ValueType.COMPENSATION_SUBSCRIPTION, CompensationSubscriptionIntent.TRIGGERED, subscription["elementInstanceKey"], triggered, triggered["tenantId"])
        # The handler runs where its activity ran if that scope is still active, else beside
        # the throw event.
        home = bpmn.state.element_instances.get(subscription["flowScopeKey"])
        target_scope = home if home is not None and home["state"] == "ACTIVATED" else scope
        bpmn.activate(target_scope, process.elements[subscription["compensationHandlerId"]], [])
    return bool(pending)


def handler_completed(bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
    """A handler finished: once all that its throw event started are done, the event goes on."""
    running = [
        s for s in bpmn.state.compensations.of_instance(instance["processInstanceKey"])
        if s["throwEventInstanceKey"] >= 0 and s["compensationHandlerId"] == element.id
    ]
    if not running:
        return
    done = running[0]
    bpmn.ctx.event(ValueType.COMPENSATION_SUBSCRIPTION, CompensationSubscriptionIntent.COMPLETED, done["elementInstanceKey"], done, done["tenantId"])
    thrower_key = done["throwEventInstanceKey"]
    if any(s["throwEventInstanceKey"] == thrower_key for s in bpmn.state.compensations.of_instance(instance["processInstanceKey"])):
        return

    def resume() -> None:
        thrower = bpmn.state.element_instances.get(thrower_key)
        if thrower is not None and thrower["state"] == "ACTIVATED":
            bpmn.complete(thrower)

    bpmn.defer(resume)
