"""Timer catch events and timer boundary events: TIMER CREATED when the element (or the
activity a boundary event is attached to) is entered, TIMER TRIGGER from the partition's
scheduler when due, TIMER CANCELED when the element leaves first.

Due dates come from the command's timestamp, never the clock, so replay computes the same
ones; a timer that came due while the broker was down fires as soon as it is back.
"""

from __future__ import annotations

from typing import Any

from propolis.bpmn.model import Element, Process, TimerDefinition
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


def cancel_timers(bpmn: BpmnBehavior, instance: dict[str, Any], only: set[str] | None = None) -> None:
    timers = bpmn.state.timers
    for timer_key in list(timers.of_element_instance(instance["key"])):
        timer = timers.get(timer_key)
        if timer is not None and (only is None or timer["targetElementId"] in only):
            bpmn.ctx.event(ValueType.TIMER, TimerIntent.CANCELED, timer_key, timer, timer["tenantId"])


def trigger_timer(ctx: ProcessingContext, services: Services) -> None:
    timer = ctx.state.timers.get(ctx.command.key)
    if timer is None:
        raise RejectionError(RejectionType.NOT_FOUND, expected("trigger timer", "no such timer exists (it was cancelled)", ctx.command.key))
    if timer["dueDate"] > ctx.now_ms:
        raise RejectionError(RejectionType.INVALID_STATE, expected("trigger timer", "it is not due yet", ctx.command.key))
    bpmn = BpmnBehavior(ctx, services.processes)
    if timer["elementInstanceKey"] < 0:
        _start_by_timer(bpmn, timer)
        bpmn.run()
        return
    instance = ctx.state.element_instances.get(timer["elementInstanceKey"])
    if instance is None or instance["state"] != "ACTIVATED":
        ctx.event(ValueType.TIMER, TimerIntent.CANCELED, ctx.command.key, timer, timer["tenantId"])
        return
    ctx.event(ValueType.TIMER, TimerIntent.TRIGGERED, ctx.command.key, timer, timer["tenantId"])
    bpmn.catch_events.trigger(bpmn, instance, timer["targetElementId"], None, timer)
    bpmn.run()


# -- timer start events --------------------------------------------------------------------
def start_timers(bpmn: BpmnBehavior, process_def: dict[str, Any], process: Process) -> None:
    """Open the timers of a newly deployed process version's timer start events."""
    for start_id in process.event_start_ids:
        start = process.elements[start_id]
        if start.timer is None:
            continue
        due, repetitions = _start_due(bpmn, start, bpmn.ctx.now_ms)
        _create_start_timer(bpmn, process_def, start_id, due, repetitions)


def _start_due(bpmn: BpmnBehavior, start: Element, now_ms: int) -> tuple[int, int]:
    # No instance yet, so no variables: a timer start event's expression sees none.
    what = f"time{start.timer.kind.capitalize()} of element '{start.id}'"
    text = to_text(start.timer.value.evaluate({}), what)
    if start.timer.kind == "duration":
        return parse_duration(text).after(now_ms), 1
    if start.timer.kind == "date":
        return parse_date(text), 1
    cycle = parse_cycle(text)
    return cycle.first_due(now_ms), cycle.repetitions


def _create_start_timer(bpmn: BpmnBehavior, process_def: dict[str, Any], start_id: str, due_ms: int, repetitions: int) -> None:
    value = {
        "elementInstanceKey": -1,
        "processInstanceKey": -1,
        "processDefinitionKey": process_def["processDefinitionKey"],
        "bpmnProcessId": process_def["bpmnProcessId"],
        "targetElementId": start_id,
        "dueDate": due_ms,
        "repetitions": repetitions,
        "tenantId": process_def["tenantId"],
    }
    bpmn.ctx.event(ValueType.TIMER, TimerIntent.CREATED, bpmn.ctx.keys.next(), value, process_def["tenantId"])


def cancel_start_timers(bpmn: BpmnBehavior, process_definition_key: int) -> None:
    timers = bpmn.state.timers
    for timer_key in list(timers.of_element_instance(process_definition_key)):
        timer = timers.get(timer_key)
        if timer is not None and timer["elementInstanceKey"] < 0:
            bpmn.ctx.event(ValueType.TIMER, TimerIntent.CANCELED, timer_key, timer, timer["tenantId"])


def _start_by_timer(bpmn: BpmnBehavior, timer: dict[str, Any]) -> None:
    from propolis.broker.processing.process_instance_creation import start_instance

    ctx = bpmn.ctx
    ctx.event(ValueType.TIMER, TimerIntent.TRIGGERED, ctx.command.key, timer, timer["tenantId"])
    process_def = ctx.state.processes.get(timer["processDefinitionKey"])
    if process_def is None:
        return
    process = bpmn.processes.get(ctx.state, timer["processDefinitionKey"])
    start = process.elements[timer["targetElementId"]]
    if timer["repetitions"] != 1 and start.timer is not None and start.timer.kind == "cycle":
        cycle = parse_cycle(to_text(start.timer.value.evaluate({}), "timeCycle"))
        repetitions = timer["repetitions"] - 1 if timer["repetitions"] > 0 else -1
        _create_start_timer(bpmn, process_def, start.id, cycle.next_due(timer["dueDate"]), repetitions)
    start_instance(bpmn, process_def, start.id, {})
