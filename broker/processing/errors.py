"""BPMN errors: thrown by a job worker (ThrowError) or an error end event, caught by the
nearest error boundary event up the scope tree whose code matches (an exact code before a
catch-all, as in Zeebe). The catching activity is terminated and the boundary event taken,
with `errorCode` and `errorMessage` as its local variables for its output mappings. An error
nobody catches is an UNHANDLED_ERROR_EVENT incident.
"""

from __future__ import annotations

from typing import Any

from propolis.bpmn.model import Element
from propolis.broker.processing.bpmn_behavior import BpmnBehavior


def find_catch(bpmn: BpmnBehavior, start: dict[str, Any], code: str) -> tuple[dict[str, Any], Element] | None:
    """The element instance (from `start` up) whose error boundary event catches `code`."""
    instance: dict[str, Any] | None = start
    while instance is not None and instance["flowScopeKey"] >= 0:
        process, element = bpmn.model(instance)
        if element.multi_instance is not None and instance["bpmnElementType"] != "MULTI_INSTANCE_BODY":
            instance = bpmn.state.element_instances.get(instance["flowScopeKey"])  # its body catches
            continue
        catch_all = None
        for boundary_id in element.boundary_ids:
            boundary = process.elements[boundary_id]
            if boundary.event_type != "ERROR":
                continue
            if boundary.catches_all_errors:
                catch_all = catch_all or boundary
            elif boundary.error_code is not None and boundary.error_code.source == code:
                return instance, boundary
        if catch_all is not None:
            return instance, catch_all
        instance = bpmn.state.element_instances.get(instance["flowScopeKey"])
    return None


def throw(
    bpmn: BpmnBehavior,
    start: dict[str, Any],
    code: str,
    message: str,
    variables: dict[str, Any] | None = None,
) -> bool:
    """Throw error `code` from `start` (the task whose job threw it, or the scope of an error
    end event). True if caught; the caller raises the incident otherwise."""
    caught = find_catch(bpmn, start, code)
    if caught is None:
        return False
    catching, boundary = caught
    scope = bpmn.state.element_instances.get(catching["flowScopeKey"])
    bpmn.terminate(catching)
    bpmn.catch_payload = ({"errorCode": code, "errorMessage": message}, variables or {})
    try:
        bpmn.activate(bpmn.state.element_instances.get(scope["key"]), boundary, [])
    finally:
        bpmn.catch_payload = None
    return True


def unhandled_message(code: str, message: str) -> str:
    return (
        f"Expected to throw an error event with the code '{code}' with message '{message}', but it was not caught. "
        "No error events are available in the scope."
    )
