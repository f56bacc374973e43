"""BPMN errors and escalations, thrown and caught up the scope tree.

An error is thrown by a job worker (ThrowError) or an error end event; an escalation by an
escalation throw or end event. From where it was thrown, each enclosing element instance is
asked in turn, as in Zeebe: a scope's event sub-processes first, then the boundary events of
the activity, an exact code before a catch-all; a called process hands it on to its call
activity. A caught error ends the catching activity (or, through an event sub-process, the
scope's other tokens) with `errorCode` and `errorMessage` as local variables of the catch
event. An error nobody catches is an UNHANDLED_ERROR_EVENT incident; an escalation nobody
catches is recorded as NOT_ESCALATED and the process goes on.
"""

from __future__ import annotations

from typing import Any

from propolis.bpmn.model import Element, ElementKind
from propolis.broker.processing.bpmn_behavior import BpmnBehavior

from propolis.records import EscalationIntent, ValueType


def _catches(event: Element, kind: str, code: str) -> tuple[bool, bool]:
    """(matches exactly, matches as a catch-all) for an event of `kind` and a thrown `code`."""
    if event.event_type != kind:
        return False, False
    if kind == "ERROR":
        expression, catch_all = event.error_code, event.catches_all_errors
    else:
        expression, catch_all = event.escalation_code, event.catches_all_escalations
    if catch_all:
        return False, True
    return expression is not None and expression.source == code, False


def find_catch(bpmn: BpmnBehavior, start: dict[str, Any], code: str, kind: str = "ERROR") -> tuple[dict[str, Any], Element] | None:
    """The element instance (from `start` up) and its event that catch `code`."""
    instance: dict[str, Any] | None = start
    while instance is not None:
        process, element = bpmn.model(instance)
        is_body = instance["bpmnElementType"] == ElementKind.MULTI_INSTANCE_BODY
        if element.multi_instance is not None and not is_body and instance["flowScopeKey"] >= 0:
            instance = bpmn.state.element_instances.get(instance["flowScopeKey"])  # its body catches
            continue
        groups = []
        if instance["bpmnElementType"] == ElementKind.PROCESS:
            groups.append(process.catch_ids)
        elif not is_body and element.kind in (ElementKind.SUB_PROCESS, ElementKind.EVENT_SUB_PROCESS):
            groups.append([i for i in element.catch_ids if process.elements[i].kind == ElementKind.START_EVENT])
        if instance["flowScopeKey"] >= 0:
            groups.append(element.boundary_ids)
        for ids in groups:
            catch_all = None
            for event_id in ids:
                event = process.elements[event_id]
                exact, fallback = _catches(event, kind, code)
                if exact:
                    return instance, event
                if fallback and catch_all is None:
                    catch_all = event
            if catch_all is not None:
                return instance, catch_all
        if instance["flowScopeKey"] >= 0:
            instance = bpmn.state.element_instances.get(instance["flowScopeKey"])
        elif instance.get("parentElementInstanceKey", -1) >= 0:
            instance = bpmn.state.element_instances.get(instance["parentElementInstanceKey"])
        else:
            instance = None
    return None


def _fire(bpmn: BpmnBehavior, catching: dict[str, Any], event: Element, local: dict[str, Any], variables: dict[str, Any]) -> None:
    if event.kind == ElementKind.START_EVENT:
        bpmn.catch_events.start_event_sub_process(bpmn, catching, event, (local, variables))
    else:
        bpmn.catch_events.fire_boundary_event(bpmn, catching, event, (local, variables))


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
    catching, event = caught
    _fire(bpmn, catching, event, {"errorCode": code, "errorMessage": message}, variables or {})
    return True


def throw_escalation(bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
    """An escalation throw or end event: the nearest catcher up from its scope takes it."""
    from propolis.broker.processing.elements import thrown_code

    code = thrown_code(bpmn, instance, element, element.escalation_code, "escalation code")
    scope = bpmn.state.element_instances.get(instance["flowScopeKey"])
    caught = find_catch(bpmn, scope, code, kind="ESCALATION")
    value = {
        "processInstanceKey": instance["processInstanceKey"],
        "escalationCode": code,
        "throwElementId": element.id,
        "catchElementId": caught[1].id if caught else "",
        "tenantId": instance["tenantId"],
    }
    intent = EscalationIntent.ESCALATED if caught else EscalationIntent.NOT_ESCALATED
    bpmn.ctx.event(ValueType.ESCALATION, intent, bpmn.ctx.keys.next(), value, instance["tenantId"])
    if caught is not None:
        _fire(bpmn, caught[0], caught[1], {}, {})


def unhandled_message(code: str, message: str) -> str:
    return (
        f"Expected to throw an error event with the code '{code}' with message '{message}', but it was not caught. "
        "No error events are available in the scope."
    )
