"""One class per BPMN element type: what happens when a token enters it, and which flows it
takes when it completes. Shared work (variables, incidents, subscriptions) is in
`BpmnBehavior`, passed in, not inherited.
"""

from __future__ import annotations

import json
from typing import Any

from propolis.bpmn.model import Element, ElementKind
from propolis.broker.processing.bpmn_behavior import BpmnBehavior, ExpressionFailure

from propolis.records import JobIntent, MessageSubscriptionIntent, ValueType
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


class BoundaryEventBehavior(ElementBehavior):
    """Entered when its trigger fired (the activity was already terminated if it interrupts):
    a caught error's code and message are its local variables, for its output mappings."""

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
    """Intermediate catch events: timer or message."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        if element.link_name is not None:  # entered from its link throw event: go on
            PASS_THROUGH.activate(bpmn, instance, element)
            return
        behavior = WAIT if element.timer is not None else MESSAGE_CATCH
        behavior.activate(bpmn, instance, element)


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


class MessageCatchBehavior(ElementBehavior):
    """Intermediate message catch event and receive task: wait for a correlated message."""

    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        bpmn.apply_input_mappings(instance, element)
        variables = bpmn.variables_for(instance["key"])
        message = element.message
        name = bpmn.evaluate(message.name, variables, f"message name of element '{element.id}'")
        if not isinstance(name, str) or not name:
            raise ExpressionFailure("EXTRACT_VALUE_ERROR", f"Expected the message name of element '{element.id}' to be a non-empty string, but it was {name!r}")
        correlation_key = ""
        if message.correlation_key is not None:
            correlation_key = bpmn.evaluate(message.correlation_key, variables, f"correlation key of element '{element.id}'")
            if isinstance(correlation_key, bool) or not isinstance(correlation_key, (str, int, float)):
                raise ExpressionFailure(
                    "EXTRACT_VALUE_ERROR",
                    f"Failed to extract the correlation key for '{message.correlation_key.source}' of element '{element.id}': "
                    f"the value must be either a string or a number, but was {correlation_key!r}",
                )
            if isinstance(correlation_key, float) and correlation_key.is_integer():
                correlation_key = int(correlation_key)
            correlation_key = str(correlation_key)
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        subscription = {
            "messageName": name,
            "correlationKey": correlation_key,
            "elementInstanceKey": instance["key"],
            "processInstanceKey": instance["processInstanceKey"],
            "bpmnProcessId": instance["bpmnProcessId"],
            "elementId": element.id,
            "tenantId": instance["tenantId"],
            "messageKey": -1,
            "variables": {},
        }
        bpmn.ctx.event(ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CREATED, instance["key"], subscription, instance["tenantId"])
        # A message published before the subscription opened correlates now, once per process.
        messages = bpmn.state.messages
        for message_key in messages.buffered(instance["tenantId"], name, correlation_key):
            stored = messages.get(message_key)
            if stored is None or stored["deadline"] <= bpmn.ctx.now_ms:
                continue
            if messages.correlated_to(message_key, instance["bpmnProcessId"]):
                continue
            correlate(bpmn, subscription, message_key, stored.get("variables") or {})
            return


def throw_error_end_event(bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
    from propolis.broker.processing import errors

    code = bpmn.evaluate(element.error_code, bpmn.variables_for(instance["key"]), f"error code of element '{element.id}'")
    if not isinstance(code, str) or not code:
        raise ExpressionFailure(
            "EXTRACT_VALUE_ERROR",
            f"Expected the error code of element '{element.id}' ({element.error_code.source}) to be a non-empty string, but it was {code!r}",
        )
    scope = bpmn.state.element_instances.get(instance["flowScopeKey"])
    if not errors.throw(bpmn, scope, code, ""):
        bpmn.raise_incident(instance, "UNHANDLED_ERROR_EVENT", errors.unhandled_message(code, ""), step="error")


def correlate(bpmn: BpmnBehavior, subscription: dict[str, Any], message_key: int, variables: dict[str, Any]) -> None:
    """Hand a message to a waiting element and complete it with the message's variables."""
    correlated = dict(subscription, messageKey=message_key, variables=variables)
    bpmn.ctx.event(
        ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CORRELATED,
        subscription["elementInstanceKey"], correlated, subscription["tenantId"],
    )
    instance = bpmn.state.element_instances.get(subscription["elementInstanceKey"])
    instance.pop("subscription", None)
    bpmn.complete(instance, variables)


class ExclusiveGatewayBehavior(ElementBehavior):
    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        flow_id = self._choose(bpmn, instance, element)
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        instance["chosenFlowId"] = flow_id
        bpmn.complete(instance)

    def _choose(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> str | None:
        if not element.outgoing:
            return None
        process, _ = bpmn.model(instance)
        variables = bpmn.variables_for(instance["flowScopeKey"])
        for flow_id in element.outgoing:
            if flow_id == element.default_flow_id:
                continue
            flow = process.flows[flow_id]
            if flow.condition is None:
                return flow_id
            try:
                result = flow.condition.evaluate(variables)
            except Exception as error:  # a user's condition fails: an incident, not a crash
                raise ExpressionFailure(
                    "CONDITION_ERROR",
                    f"Expected to evaluate the condition '{flow.condition.source}' of sequence flow '{flow_id}', but it failed: {error}",
                ) from error
            if result is True:
                return flow_id
        if element.default_flow_id:
            return element.default_flow_id
        raise ExpressionFailure(
            "CONDITION_ERROR",
            f"Expected at least one condition to evaluate to true, or to have a default flow, at exclusive gateway '{element.id}'",
        )

    def outgoing_on_complete(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> list[str]:
        # Re-evaluated here only when completion was retried after an incident.
        flow_id = instance.get("chosenFlowId") or self._choose(bpmn, instance, element)
        return [flow_id] if flow_id else []


class ParallelGatewayBehavior(ElementBehavior):
    def activate(self, bpmn: BpmnBehavior, instance: dict[str, Any], element: Element) -> None:
        bpmn.transition(instance, PI.ELEMENT_ACTIVATED)
        bpmn.complete(instance)


WAIT = WaitBehavior()
PASS_THROUGH = PassThroughBehavior()
MESSAGE_CATCH = MessageCatchBehavior()

ELEMENTS: dict[ElementKind, ElementBehavior] = {
    ElementKind.PROCESS: ProcessBehavior(),
    ElementKind.START_EVENT: PassThroughBehavior(),
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
    ElementKind.CALL_ACTIVITY: CallActivityBehavior(),
    ElementKind.RECEIVE_TASK: MessageCatchBehavior(),
    ElementKind.INTERMEDIATE_CATCH_EVENT: CatchEventBehavior(),
    ElementKind.BOUNDARY_EVENT: BoundaryEventBehavior(),
    ElementKind.EXCLUSIVE_GATEWAY: ExclusiveGatewayBehavior(),
    ElementKind.PARALLEL_GATEWAY: ParallelGatewayBehavior(),
}
