"""Multi-instance activities, as Zeebe runs them: entering the activity enters its body
(bpmnElementType MULTI_INSTANCE_BODY), which runs one inner instance of the activity per item
of the inputCollection, all at once (parallel) or one after another (sequential). Each inner
instance has the item as `inputElement` and `loopCounter` (1-based) as local variables. The
body collects each `outputElement` into `outputCollection` by position, counts
numberOfInstances / numberOfActiveInstances / numberOfCompletedInstances for the
completionCondition, and leaves by the activity's outgoing flows when the last inner instance
completes or the condition holds (the others are terminated)."""

from __future__ import annotations

from typing import Any

from propolis.bpmn.model import Element
from propolis.broker.processing.bpmn_behavior import BpmnBehavior, ExpressionFailure
from propolis.broker.processing.elements import ElementBehavior

from propolis.records import ProcessInstanceIntent as PI
from propolis.records import ValueType

BODY = "MULTI_INSTANCE_BODY"
INPUT_ITEMS = "__inputItems"  # the evaluated inputCollection, kept on the body for sequential runs


def is_inner(bpmn: BpmnBehavior, instance: dict[str, Any]) -> bool:
    scope = bpmn.state.element_instances.get(instance["flowScopeKey"])
    return scope is not None and scope["bpmnElementType"] == BODY and scope["elementId"] == instance["elementId"]


class MultiInstanceBodyBehavior(ElementBehavior):
    def activate(self, bpmn: BpmnBehavior, body: dict[str, Any], element: Element) -> None:
        spec = element.multi_instance
        variables = bpmn.variables_for(body["flowScopeKey"])
        items = bpmn.evaluate(spec.input_collection, variables, f"inputCollection of element '{element.id}'")
        if not isinstance(items, list):
            raise ExpressionFailure(
                "EXTRACT_VALUE_ERROR",
                f"Expected the inputCollection of element '{element.id}' ({spec.input_collection.source}) to be a list, but it was {items!r}",
            )
        bpmn.transition(body, PI.ELEMENT_ACTIVATED)
        local = {"numberOfInstances": len(items), "numberOfCompletedInstances": 0, "numberOfTerminatedInstances": 0}
        if spec.output_collection:
            local[spec.output_collection] = [None] * len(items)
        if spec.sequential:
            local[INPUT_ITEMS] = items
        bpmn.set_local_variables(body, local)
        if not items:
            bpmn.complete(body)
            return
        for index, item in enumerate(items[:1] if spec.sequential else items):
            activate_inner(bpmn, body, element, item, index + 1)


def activate_inner(bpmn: BpmnBehavior, body: dict[str, Any], element: Element, item: Any, loop_counter: int) -> None:
    key = bpmn.ctx.keys.next()
    value = bpmn.child_value(body, element)
    value["takenFlowIds"] = []
    bpmn.ctx.event(ValueType.PROCESS_INSTANCE, PI.ELEMENT_ACTIVATING, key, value, body["tenantId"])
    inner = bpmn.state.element_instances.get(key)
    local = {"loopCounter": loop_counter}
    if element.multi_instance.input_element:
        local[element.multi_instance.input_element] = item
    bpmn.set_local_variables(inner, local)
    bpmn.on_activate(inner)


def collect_output(bpmn: BpmnBehavior, inner: dict[str, Any], element: Element) -> None:
    """Before an inner instance leaves: its outputElement into the body's outputCollection."""
    spec = element.multi_instance
    if not spec.output_collection:
        return
    variables = bpmn.variables_for(inner["key"])
    value = None
    if spec.output_element is not None:
        value = bpmn.evaluate(spec.output_element, variables, f"outputElement of element '{element.id}'")
    counter = variables.get("loopCounter")
    body = bpmn.state.element_instances.get(inner["flowScopeKey"])
    collection = list(bpmn.variables_for_scope_only(body["key"]).get(spec.output_collection) or [])
    if isinstance(counter, int) and 1 <= counter <= len(collection):
        collection[counter - 1] = value
        bpmn.set_variable(body["key"], spec.output_collection, collection, body)


def after_inner_completed(bpmn: BpmnBehavior, body_key: int, element: Element) -> None:
    """Count, then go on: the next item (sequential), or end early on the completionCondition."""
    body = bpmn.state.element_instances.get(body_key)
    if body is None or body["state"] != "ACTIVATED":
        return
    spec = element.multi_instance
    own = bpmn.variables_for_scope_only(body_key)
    completed = (own.get("numberOfCompletedInstances") or 0) + 1
    bpmn.set_variable(body_key, "numberOfCompletedInstances", completed, body)
    active = [k for k in bpmn.state.element_instances.children(body_key)]
    bpmn.set_variable(body_key, "numberOfActiveInstances", len(active), body)
    if spec.completion_condition is not None:
        done = bpmn.evaluate(spec.completion_condition, bpmn.variables_for(body_key), f"completionCondition of element '{element.id}'")
        if done is True:
            for key in active:
                child = bpmn.state.element_instances.get(key)
                if child is not None:
                    bpmn.terminate(child)
            return  # no children left: the scope check queued by the inner's completion ends the body
    if spec.sequential:
        items = own.get(INPUT_ITEMS) or []
        if completed < len(items):
            activate_inner(bpmn, body, element, items[completed], completed + 1)


def output_of_body(bpmn: BpmnBehavior, body: dict[str, Any], element: Element) -> dict[str, Any]:
    """What the body hands to its flow scope when it completes: the outputCollection."""
    spec = element.multi_instance
    if not spec.output_collection:
        return {}
    return {spec.output_collection: bpmn.variables_for_scope_only(body["key"]).get(spec.output_collection)}


MULTI_INSTANCE_BODY = MultiInstanceBodyBehavior()
