"""Timer catch events and timer boundary events: TIMER CREATED when the element (or the
activity a boundary event is attached to) is entered, TIMER TRIGGER from the partition's
scheduler when due, TIMER CANCELED when the element leaves first.

Due dates come from the command's timestamp, never the clock, so replay computes the same
ones; a timer that came due while the broker was down fires as soon as it is back.
"""

from __future__ import annotations

from typing import Any

from propolis.bpmn.model import Element, ElementKind, TimerDefinition
from propolis.bpmn.timers import TimerValueError, parse_cycle, parse_date, parse_duration, to_text
from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError, expected
from propolis.broker.processing.bpmn_behavior import BpmnBehavior, ExpressionFailure
from propolis.broker.processing.services import Services

from propolis.records import RejectionType, TimerIntent, ValueType


def first_due(bpmn: BpmnBehavior, instance: dict[str, Any], owner: Element, timer: TimerDefinition) -> tuple[int, int]:
    """(due date in ms, repetitions) for a timer of `owner` (an event) entered now."""
    variables = bpmn.variables_for(instance["key"])
    what = f"time{timer.kind.capitalize()} of element '{owner.id}'"
    text = to_text_or_fail(bpmn.evaluate(timer.value, variables, what), what)
    now = bpmn.ctx.now_ms
    try:
        if timer.kind == "duration":
            return parse_duration(text).after(now), 1
        if timer.kind == "date":
            return parse_date(text), 1
        cycle = parse_cycle(text)
        return cycle.first_due(now), cycle.repetitions
    except TimerValueError as error:
        raise ExpressionFailure("EXTRACT_VALUE_ERROR", f"Expected the {what} to be a valid timer value, but {error}") from None


def to_text_or_fail(value: Any, what: str) -> str:
    try:
        return to_text(value, what)
    except TimerValueError as error:
        raise ExpressionFailure("EXTRACT_VALUE_ERROR", str(error)) from None


def planned_timers(bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> list[tuple[str, int, int]]:
    """(target element id, due, repetitions) of the timers entering `element` opens: its own
    (a timer catch event) and those of its timer boundary events. May raise ExpressionFailure,
    before anything is written."""
    process, _ = bpmn.model(instance)
    planned = []
    if element.timer is not None and element.kind != ElementKind.BOUNDARY_EVENT:
        planned.append((element.id, *first_due(bpmn, instance, element, element.timer)))
    for boundary_id in element.boundary_ids:
        boundary = process.elements[boundary_id]
        if boundary.timer is not None:
            planned.append((boundary_id, *first_due(bpmn, instance, boundary, boundary.timer)))
    return planned


def create_timer(bpmn: BpmnBehavior, instance: dict[str, Any], target_id: str, due_ms: int, repetitions: int) -> None:
    value = {
        "elementInstanceKey": instance["key"],
        "processInstanceKey": instance["processInstanceKey"],
        "processDefinitionKey": instance["processDefinitionKey"],
        "bpmnProcessId": instance["bpmnProcessId"],
        "targetElementId": target_id,
        "dueDate": due_ms,
        "repetitions": repetitions,
        "tenantId": instance["tenantId"],
    }
    bpmn.ctx.event(ValueType.TIMER, TimerIntent.CREATED, bpmn.ctx.keys.next(), value, instance["tenantId"])


def cancel_timers(bpmn: BpmnBehavior, instance: dict[str, Any]) -> None:
    timers = bpmn.state.timers
    for timer_key in list(timers.of_element_instance(instance["key"])):
        timer = timers.get(timer_key)
        if timer is not None:
            bpmn.ctx.event(ValueType.TIMER, TimerIntent.CANCELED, timer_key, timer, timer["tenantId"])


def trigger_timer(ctx: ProcessingContext, services: Services) -> None:
    timer = ctx.state.timers.get(ctx.command.key)
    if timer is None:
        raise RejectionError(RejectionType.NOT_FOUND, expected("trigger timer", "no such timer exists (it was cancelled)", ctx.command.key))
    if timer["dueDate"] > ctx.now_ms:
        raise RejectionError(RejectionType.INVALID_STATE, expected("trigger timer", "it is not due yet", ctx.command.key))
    bpmn = BpmnBehavior(ctx, services.processes)
    instance = ctx.state.element_instances.get(timer["elementInstanceKey"])
    if instance is None or instance["state"] != "ACTIVATED":
        ctx.event(ValueType.TIMER, TimerIntent.CANCELED, ctx.command.key, timer, timer["tenantId"])
        return
    ctx.event(ValueType.TIMER, TimerIntent.TRIGGERED, ctx.command.key, timer, timer["tenantId"])
    process, element = bpmn.model(instance)
    target = process.elements[timer["targetElementId"]]
    if target.id == element.id:  # a timer catch event: its own timer fired
        bpmn.complete(instance)
    else:
        fire_boundary_event(bpmn, instance, target, timer)
    bpmn.run()


def fire_boundary_event(bpmn: BpmnBehavior, instance: dict[str, Any], boundary: Element, timer: dict[str, Any]) -> None:
    """Enter a boundary event of the active `instance`: an interrupting one terminates the
    activity first; a non-interrupting repeating timer is scheduled again."""
    scope = bpmn.state.element_instances.get(instance["flowScopeKey"])
    if boundary.cancel_activity:
        bpmn.terminate(instance)
    elif timer["repetitions"] != 1 and boundary.timer is not None:
        cycle = parse_cycle(to_text(bpmn.evaluate(boundary.timer.value, bpmn.variables_for(instance["key"]), "timeCycle"), "timeCycle"))
        repetitions = timer["repetitions"] - 1 if timer["repetitions"] > 0 else -1
        create_timer(bpmn, instance, boundary.id, cycle.next_due(timer["dueDate"]), repetitions)
    bpmn.activate(bpmn.state.element_instances.get(scope["key"]), boundary, [])
