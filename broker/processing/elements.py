"""One class per BPMN element type: what happens when a token enters it, and which flows it
takes when it completes. Shared work (variables, incidents, subscriptions) is in
`BpmnBehavior`, passed in, not inherited.
"""

from __future__ import annotations

import json
from typing import Any

from propolis.bpmn.model import Element, ElementKind
from propolis.broker.processing.bpmn_behavior import BpmnBehavior, ExpressionFailure

from propolis.records import JobIntent, ValueType
from propolis.records import ProcessInstanceIntent as PI

JOB_RETRIES_DEFAULT = 3


class ElementBehavior:
    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        raise NotImplementedError

    def outgoing_on_complete(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> list[str]:
        """Activities take every outgoing flow (an implicit parallel split), as in Zeebe."""
        return list(element.outgoing)


class ProcessBehavior(ElementBehavior):
    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        process, _ = bpmn.model(instance)
        start_ids = instance.get("startElementIds") or [process.start_event_id]
        for element_id in start_ids:
            bpmn.activate(instance, process.elements[element_id], [])

    def outgoing_on_complete(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> list[str]:
        return []


class PassThroughBehavior(ElementBehavior):
    """None start event, none end event: enter and leave at once."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        bpmn.apply_input_mappings(instance, element)
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        bpmn.complete(instance)


class CaughtEventBehavior(ElementBehavior):
    """Boundary events and start events: entered when their trigger fired (an interrupted
    activity or scope was already ended): a caught error's code and message are local
    variables, for output mappings; a message's or signal's variables are merged on leaving.
    A none start event passes straight through."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        local, merged = bpmn.catch_payload or ({}, {})
        bpmn.catch_payload = None
        if local:
            bpmn.set_local_variables(instance, local)
        bpmn.apply_input_mappings(instance, element)
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        bpmn.complete(instance, merged or None)


class ServiceTaskBehavior(ElementBehavior):
    """Every job-based element: service, send, business rule, job-based script and user
    tasks, message throw and end events."""

    def activate(
        self,
        bpmn: BpmnBehavior,
        instance: dict[str, Any],
        element: Element,
        extra_headers: dict[str, str] | None = None,
        inputs_applied: bool = False,
    ) -> None:
        if not inputs_applied:
            bpmn.apply_input_mappings(instance, element)
        variables = bpmn.variables_for(instance["key"])
        job_type = bpmn.evaluate(element.job_type, variables, f"job type of element '{element.id}'")
        if not isinstance(job_type, str) or not job_type:
            raise ExpressionFailure(
                "EXTRACT_VALUE_ERROR",
                f"Expected the job type of element '{element.id}' ({element.job_type.source}) to be a non-empty string, but it was {job_type!r}",
            )
        retries: Any = JOB_RETRIES_DEFAULT
        if element.job_retries is not None:
            retries = bpmn.evaluate(element.job_retries, variables, f"job retries of element '{element.id}'")
            try:
                retries = int(retries)
            except (TypeError, ValueError):
                raise ExpressionFailure(
                    "EXTRACT_VALUE_ERROR",
                    f"Expected the job retries of element '{element.id}' to be a number, but it was {retries!r}",
                ) from None
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        job = {
            "type": job_type,
            "retries": retries,
            "deadline": -1,
            "worker": "",
            "customHeaders": {**element.task_headers, **(extra_headers or {})},
            "errorMessage": "",
            "errorCode": "",
            "retryBackoff": 0,
            "recurringTime": -1,
            "elementId": element.id,
            "elementInstanceKey": instance["key"],
            "processInstanceKey": instance["processInstanceKey"],
            "bpmnProcessId": instance["bpmnProcessId"],
            "processDefinitionVersion": instance["version"],
            "processDefinitionKey": instance["processDefinitionKey"],
            "tenantId": instance["tenantId"],
            "variables": {},
        }
        bpmn.ctx.event(ValueType.JOB, JobIntent.CREATED, bpmn.ctx.keys.next(), job, instance["tenantId"])
        bpmn.ctx.job_available(job_type)


class UserTaskBehavior(ServiceTaskBehavior):
    """Zeebe's job-based user task: assignment and schedule evaluated into custom headers."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        if not element.user_task_headers:
            super().activate(bpmn, instance, element)
            return
        bpmn.apply_input_mappings(instance, element)
        variables = bpmn.variables_for(instance["key"])
        headers: dict[str, str] = {}
        for header, expression in element.user_task_headers.items():
            value = bpmn.evaluate(expression, variables, f"{header.rsplit(':', 1)[-1]} of user task '{element.id}'")
            if header.endswith(("candidateGroups", "candidateUsers")):
                if isinstance(value, str):
                    value = [part.strip() for part in value.split(",") if part.strip()]
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ExpressionFailure(
                        "EXTRACT_VALUE_ERROR",
                        f"Expected the {header.rsplit(':', 1)[-1]} of user task '{element.id}' ({expression.source}) to be a list of strings, but it was {value!r}",
                    )
                headers[header] = json.dumps(value)
            elif value is not None:
                headers[header] = value if isinstance(value, str) else json.dumps(value)
        super().activate(bpmn, instance, element, extra_headers=headers, inputs_applied=True)


class ScriptTaskBehavior(ServiceTaskBehavior):
    """zeebe:script: the engine evaluates the expression and completes at once; without it
    the task is job-based like a service task."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        if element.script is None:
            super().activate(bpmn, instance, element)
            return
        bpmn.apply_input_mappings(instance, element)
        variables = bpmn.variables_for(instance["key"])
        result = bpmn.evaluate(element.script, variables, f"script of element '{element.id}'")
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        bpmn.complete(instance, {element.result_variable: result})


class JobOrPassThroughBehavior(ServiceTaskBehavior):
    """Throw and end events: a job when they carry a zeebe:taskDefinition (message events),
    else a token passes through; a terminate end event ends its flow scope."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        if element.job_type is not None:
            super().activate(bpmn, instance, element)
            return
        bpmn.apply_input_mappings(instance, element)
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        if element.event_type == "TERMINATE":
            bpmn.terminate_siblings_and_complete_scope(instance)
        elif element.event_type == "ERROR":
            throw_error_end_event(bpmn, instance, element)
            return
        elif element.event_type == "SIGNAL":
            from propolis.broker.processing import signals

            variables = bpmn.variables_for(instance["key"])
            name = bpmn.catch_events.signal_name_of(bpmn, element, variables)
            signals.broadcast(bpmn, instance["tenantId"], name, {})
        elif element.event_type == "ESCALATION":
            from propolis.broker.processing import errors

            errors.throw_escalation(bpmn, instance, element)
        elif element.event_type == "COMPENSATION":
            from propolis.broker.processing import compensation

            if compensation.throw(bpmn, instance, element):
                return  # it goes on once the handlers have completed
        instance = bpmn.state.element_instances.get(instance["key"])
        if instance is None or instance["state"] != "ACTIVATED":
            return  # what it threw ended it, e.g. an interrupting boundary event of its scope
        bpmn.complete(instance)
        if element.link_target_id is not None:
            process, _ = bpmn.model(instance)
            scope = bpmn.state.element_instances.get(instance["flowScopeKey"])
            bpmn.activate(scope, process.elements[element.link_target_id], [])


class SubProcessBehavior(ElementBehavior):
    """Embedded sub-process: its own variable scope; it completes when its last token ends."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        bpmn.apply_input_mappings(instance, element)
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        process, _ = bpmn.model(instance)
        bpmn.activate(instance, process.elements[element.start_event_id], [])


class WaitBehavior(ElementBehavior):
    """A timer catch event: it waits; its timer (opened on ELEMENT_ACTIVATED) completes it."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        bpmn.apply_input_mappings(instance, element)
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)


class CatchEventBehavior(ElementBehavior):
    """Intermediate catch events (message, timer, signal) and receive tasks: they wait for
    their trigger, opened on entering (see catch_events.py). A link catch event goes on at
    once; an event after an event-based gateway that fired is entered already triggered."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        if element.link_name is not None:  # entered from its link throw event: go on
            PASS_THROUGH.activate(bpmn, instance, element)
            return
        payload = bpmn.entered_by_trigger.pop((instance["flowScopeKey"], element.id), None)
        if payload is not None:
            instance["triggered"] = True
            bpmn.apply_input_mappings(instance, element)
            bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
            bpmn.complete(instance, payload or None)
            return
        WAIT.activate(bpmn, instance, element)


class EventBasedGatewayBehavior(ElementBehavior):
    """Waits for the first of the events after it (their triggers are its own while it is
    active); then it takes the flow to that event."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)

    def outgoing_on_complete(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> list[str]:
        return [instance["chosenFlowId"]]


class CallActivityBehavior(ElementBehavior):
    """Starts the latest version of another process as a child instance; completes when the
    child completes, with its variables (all of them, or only through output mappings)."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        bpmn.apply_input_mappings(instance, element)
        variables = bpmn.variables_for(instance["key"])
        process_id = bpmn.evaluate(element.called_process_id, variables, f"called process id of element '{element.id}'")
        if not isinstance(process_id, str) or not process_id:
            raise ExpressionFailure(
                "EXTRACT_VALUE_ERROR",
                f"Expected the called process id of element '{element.id}' ({element.called_process_id.source}) to be a non-empty string, but it was {process_id!r}",
            )
        definition = bpmn.state.processes.latest_version(instance["tenantId"], process_id)
        if definition is None:
            raise ExpressionFailure(
                "CALLED_ELEMENT_ERROR",
                f"Expected process with BPMN process id '{process_id}' to be deployed, but not found.",
            )
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        if element.propagate_all_parent_variables:
            handed_down = variables.collect()
        else:  # only what the input mappings made
            handed_down = bpmn.variables_for_scope_only(instance["key"]).collect()
        child_key = bpmn.ctx.keys.next()
        value = bpmn.element_value(definition, definition["bpmnProcessId"], "PROCESS", -1, child_key)
        value.update(parentProcessInstanceKey=instance["processInstanceKey"], parentElementInstanceKey=instance["key"])
        bpmn.ctx.event(ValueType.PROCESS_INSTANCE, PI.ELEMENT_ACTIVATING, child_key, value, instance["tenantId"])
        child = bpmn.state.element_instances.get(child_key)
        for name, variable in handed_down.items():
            bpmn.set_variable(child_key, name, variable, child)
        bpmn.on_activate(child)


def thrown_code(bpmn: BpmnBehavior, instance: dict[str, Any], element: Element, expression: Any, what: str) -> str:
    """The code an error or escalation event throws: a non-empty string, else an incident."""
    code = bpmn.evaluate(expression, bpmn.variables_for(instance["key"]), f"{what} of element '{element.id}'")
    if not isinstance(code, str) or not code:
        raise ExpressionFailure(
            "EXTRACT_VALUE_ERROR",
            f"Expected the {what} of element '{element.id}' ({expression.source}) to be a non-empty string, but it was {code!r}",
        )
    return code


def throw_error_end_event(bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
    from propolis.broker.processing import errors

    code = thrown_code(bpmn, instance, element, element.error_code, "error code")
    scope = bpmn.state.element_instances.get(instance["flowScopeKey"])
    if not errors.throw(bpmn, scope, code, ""):
        bpmn.raise_incident(instance, "UNHANDLED_ERROR_EVENT", errors.unhandled_message(code, ""), step="error")


def true_flows(bpmn: BpmnBehavior, instance: dict[str, Any], element: Element, first_only: bool) -> list[str]:
    """The outgoing flows of a gateway whose condition is true (a flow without one always
    is), in file order; the default flow when none is; an incident when there is no default.
    An exclusive gateway takes the first, an inclusive one all of them."""
    if not element.outgoing:
        return []
    process, _ = bpmn.model(instance)
    variables = bpmn.variables_for(instance["flowScopeKey"])
    chosen = []
    for flow_id in element.outgoing:
        if flow_id == element.default_flow_id:
            continue
        flow = process.flows[flow_id]
        if flow.condition is not None:
            try:
                result = flow.condition.evaluate(variables)
            except Exception as error:  # a user's condition fails: an incident, not a crash
                raise ExpressionFailure(
                    "CONDITION_ERROR",
                    f"Expected to evaluate the condition '{flow.condition.source}' of sequence flow '{flow_id}', but it failed: {error}",
                ) from error
            if result is not True:
                continue
        chosen.append(flow_id)
        if first_only:
            return chosen
    if chosen:
        return chosen
    if element.default_flow_id:
        return [element.default_flow_id]
    kind = element.kind.value.lower().replace("_", " ")
    raise ExpressionFailure(
        "CONDITION_ERROR",
        f"Expected at least one condition to evaluate to true, or to have a default flow, at {kind} '{element.id}'",
    )


class ExclusiveGatewayBehavior(ElementBehavior):
    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        flow_id = self._choose(bpmn, instance, element)  # before any event: a failure is an incident
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        instance["chosenFlowId"] = flow_id
        bpmn.complete(instance)

    def _choose(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> str | None:
        chosen = true_flows(bpmn, instance, element, first_only=True)
        return chosen[0] if chosen else None

    def outgoing_on_complete(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> list[str]:
        # Re-evaluated here only when completion was retried after an incident.
        flow_id = instance.get("chosenFlowId") or self._choose(bpmn, instance, element)
        return [flow_id] if flow_id else []


class InclusiveGatewayBehavior(ElementBehavior):
    """Takes every outgoing flow whose condition is true (a flow without one always), else
    the default flow. Its join is in `BpmnBehavior._arrive`."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        instance["chosenFlowIds"] = self._choose(bpmn, instance, element)
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        bpmn.complete(instance)

    def _choose(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> list[str]:
        return true_flows(bpmn, instance, element, first_only=False)

    def outgoing_on_complete(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> list[str]:
        chosen = instance.get("chosenFlowIds")
        return chosen if chosen is not None else self._choose(bpmn, instance, element)


class ParallelGatewayBehavior(ElementBehavior):
    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        bpmn.complete(instance)


WAIT = WaitBehavior()
PASS_THROUGH = PassThroughBehavior()

ELEMENTS: dict[ElementKind, ElementBehavior] = {
    ElementKind.PROCESS: ProcessBehavior(),
    ElementKind.START_EVENT: CaughtEventBehavior(),
    ElementKind.END_EVENT: JobOrPassThroughBehavior(),
    ElementKind.INTERMEDIATE_THROW_EVENT: JobOrPassThroughBehavior(),
    ElementKind.SERVICE_TASK: ServiceTaskBehavior(),
    ElementKind.SEND_TASK: ServiceTaskBehavior(),
    ElementKind.BUSINESS_RULE_TASK: ServiceTaskBehavior(),
    ElementKind.USER_TASK: UserTaskBehavior(),
    ElementKind.SCRIPT_TASK: ScriptTaskBehavior(),
    ElementKind.MANUAL_TASK: PassThroughBehavior(),
    ElementKind.TASK: PassThroughBehavior(),
    ElementKind.SUB_PROCESS: SubProcessBehavior(),
    ElementKind.EVENT_SUB_PROCESS: SubProcessBehavior(),
    ElementKind.CALL_ACTIVITY: CallActivityBehavior(),
    ElementKind.RECEIVE_TASK: CatchEventBehavior(),
    ElementKind.INTERMEDIATE_CATCH_EVENT: CatchEventBehavior(),
    ElementKind.BOUNDARY_EVENT: CaughtEventBehavior(),
    ElementKind.EXCLUSIVE_GATEWAY: ExclusiveGatewayBehavior(),
    ElementKind.PARALLEL_GATEWAY: ParallelGatewayBehavior(),
    ElementKind.EVENT_BASED_GATEWAY: EventBasedGatewayBehavior(),
    ElementKind.INCLUSIVE_GATEWAY: InclusiveGatewayBehavior(),
}
