"""Shared work of BPMN execution: entering and leaving elements, taking flows, variables,
incidents and scope completion. Element classes (`elements.py`) decide *what* happens at each
step of their lifecycle; this module writes the events that say so.

Execution within one command runs from a FIFO work queue rather than recursion, so a long
chain of elements without a wait state never hits Python's recursion limit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from propolis.bpmn.model import Element, ElementKind, Process
from propolis.broker.engine.context import ProcessingContext
from propolis.broker.processing.process_cache import ProcessCache
from propolis.broker.state.variable_state import ScopeVariables

from propolis.records import (
    IncidentIntent,
    JobIntent,
    ProcessInstanceResultIntent,
    Record,
    RecordType,
    RejectionType,
    ValueType,
    VariableIntent,
)
from propolis.records import (
    ProcessInstanceIntent as PI,
)

WORK_STEPS_MAX = 100_000  # bound on elements entered by one command (a loop without wait states)


class ExpressionFailure(Exception):
    """An expression in the model could not be evaluated for this instance (becomes an incident)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


class BpmnBehavior:
    def __init__(self, ctx: ProcessingContext, processes: ProcessCache) -> None:
        from propolis.broker.processing import catch_events
        from propolis.broker.processing.elements import ELEMENTS

        self.catch_events = catch_events
        self.ctx = ctx
        self.state = ctx.state
        self.processes = processes
        self.elements = ELEMENTS
        self._work: deque[Callable[[], None]] = deque()
        # Set while a catch event is entered: (its local variables, variables to merge on
        # completion), e.g. errorCode/errorMessage and the variables sent with ThrowError.
        self.catch_payload: tuple[dict[str, Any], dict[str, Any]] | None = None
        # Events after an event-based gateway that fired, by (flow scope key, element id), with
        # the variables they carry: entered already triggered, they open nothing and go on.
        self.entered_by_trigger: dict[tuple[int, str], dict[str, Any]] = {}

    # -- running -------------------------------------------------------------------------
    def defer(self, step: Callable[[], None]) -> None:
        """Run `step` after the work queued so far (e.g. once an element is fully entered)."""
        self._work.append(step)

    def run(self) -> None:
        steps = 0
        while self._work:
            steps += 1
            if steps > WORK_STEPS_MAX:
                raise RuntimeError(f"more than {WORK_STEPS_MAX} element steps in one command")
            self._work.popleft()()

    def model(self, instance: dict[str, Any]) -> tuple[Process, Element]:
        process = self.processes.get(self.state, instance["processDefinitionKey"])
        if instance["bpmnElementType"] == ElementKind.PROCESS:
            return process, _process_element(process)
        return process, process.elements[instance["elementId"]]

    # -- lifecycle -----------------------------------------------------------------------
    def element_value(self, process_def: dict[str, Any], element_id: str, kind: str, scope_key: int, pi_key: int) -> dict[str, Any]:
        return {
            "bpmnProcessId": process_def["bpmnProcessId"],
            "version": process_def["version"],
            "processDefinitionKey": process_def["processDefinitionKey"],
            "processInstanceKey": pi_key,
            "elementId": element_id,
            "flowScopeKey": scope_key,
            "bpmnElementType": kind,
            "bpmnEventType": "UNSPECIFIED",
            "parentProcessInstanceKey": -1,
            "parentElementInstanceKey": -1,
            "tenantId": process_def["tenantId"],
        }

    def transition(self, instance: dict[str, Any], intent: PI) -> Record:
        ids: list[str] = ()
        if intent in _SUBSCRIBING_INTENTS and not instance.get("triggered"):
            process, element = self.model(instance)
            ids = self.catch_events.target_ids(process, element, instance)
            if ids and intent == PI.ELEMENT_ACTIVATED:
                # Evaluated before anything is written: a bad timer or correlation key
                # expression is an incident on entering the element.
                planned = self.catch_events.plan(self, instance, process, ids)
        value = {k: instance[k] for k in _PI_VALUE_FIELDS}
        record = self.ctx.event(ValueType.PROCESS_INSTANCE, intent, instance["key"], value, instance["tenantId"])
        instance["state"] = intent.name.removeprefix("ELEMENT_")
        if ids:
            if intent == PI.ELEMENT_ACTIVATED:
                self.catch_events.open_triggers(self, instance, planned)
            else:
                self.catch_events.close_triggers(self, instance)
        return record

    def activate(self, scope: dict[str, Any], element: Element, taken_flow_ids: list[str]) -> None:
        key = self.ctx.keys.next()
        value = self._child_value(scope, element)
        if element.multi_instance is not None:
            value["bpmnElementType"] = ElementKind.MULTI_INSTANCE_BODY.value  # its inner instances come from the body
        value["takenFlowIds"] = taken_flow_ids
        self.ctx.event(ValueType.PROCESS_INSTANCE, PI.ELEMENT_ACTIVATING, key, value, scope["tenantId"])
        self.on_activate(self.state.element_instances.get(key))

    def child_value(self, scope: dict[str, Any], element: Element) -> dict[str, Any]:
        return self._child_value(scope, element)

    def on_activate(self, instance: dict[str, Any]) -> None:
        _, element = self.model(instance)
        try:
            if instance["bpmnElementType"] == ElementKind.MULTI_INSTANCE_BODY:
                from propolis.broker.processing.multi_instance import MULTI_INSTANCE_BODY

                MULTI_INSTANCE_BODY.activate(self, instance, element)
                return
            self.elements[element.kind].activate(self, instance, element)
        except ExpressionFailure as failure:
            self.raise_incident(instance, failure.error_type, failure.message, step="activate")

    def complete(self, instance: dict[str, Any], variables: dict[str, Any] | None = None) -> None:
        """Leave an element: merge `variables` (from a job or a message), apply output mappings,
        then take the outgoing flows that the element's class chooses."""
        _, element = self.model(instance)
        if variables and element.output_mappings:
            self.set_local_variables(instance, variables)
            variables = None
        self.transition(instance, PI.ELEMENT_COMPLETING)
        self.finish_completing(instance, variables)

    def finish_completing(self, instance: dict[str, Any], variables: dict[str, Any] | None = None) -> None:
        _, element = self.model(instance)
        body = instance["bpmnElementType"] == ElementKind.MULTI_INSTANCE_BODY
        inner = False
        if element.multi_instance is not None:
            from propolis.broker.processing import multi_instance

            inner = not body and multi_instance.is_inner(self, instance)
        try:
            if body:
                collected = multi_instance.output_of_body(self, instance, element)
                if collected:
                    self.propagate_variables(instance["flowScopeKey"], collected, instance)
            elif element.output_mappings:
                self.apply_output_mappings(instance, element)
            elif variables:
                self.propagate_variables(instance["flowScopeKey"], variables, instance)
            if inner:
                multi_instance.collect_output(self, instance, element)
        except ExpressionFailure as failure:
            self.raise_incident(instance, failure.error_type, failure.message, step="complete")
            return
        if instance["flowScopeKey"] < 0 and instance["key"] in self.ctx.awaiting_results:
            self.on_process_completed(instance, self.variables_for(instance["key"]).collect())
        if instance["flowScopeKey"] < 0 and instance.get("parentElementInstanceKey", -1) >= 0:
            # A called process: its variables go back to the call activity, which goes on.
            child_variables = self.variables_for(instance["key"]).collect()
            self._work.append(lambda: self._complete_call_activity(instance["parentElementInstanceKey"], child_variables))
        self.transition(instance, PI.ELEMENT_COMPLETED)
        if (element.compensation_handler_id or element.is_for_compensation) and not body:
            from propolis.broker.processing import compensation

            if element.compensation_handler_id:
                compensation.remember(self, instance, element)
            if element.is_for_compensation:
                compensation.handler_completed(self, instance, element)
        if inner:  # the body takes the activity's flows once its inner instances are done
            self.take_flows(instance, [])
            multi_instance.after_inner_completed(self, instance["flowScopeKey"], element)
            return
        flows = self.elements[element.kind].outgoing_on_complete(self, instance, element)
        self.take_flows(instance, flows)

    def _complete_call_activity(self, key: int, child_variables: dict[str, Any]) -> None:
        parent = self.state.element_instances.get(key)
        if parent is None or parent["state"] != "ACTIVATED":
            return
        _, element = self.model(parent)
        passed = element.output_mappings or element.propagate_all_child_variables
        self.complete(parent, child_variables if passed else None)

    def take_flows(self, instance: dict[str, Any], flow_ids: list[str]) -> None:
        if not flow_ids:
            if instance["flowScopeKey"] >= 0:
                self._work.append(lambda: self.complete_scope_if_done(instance["flowScopeKey"]))
            return
        process, _ = self.model(instance)
        scope = self.state.element_instances.get(instance["flowScopeKey"])
        for flow_id in flow_ids:
            flow = process.flows[flow_id]
            value = self._child_value(scope, None, flow_id=flow.id)
            value["targetElementId"] = flow.target_id
            self.ctx.event(ValueType.PROCESS_INSTANCE, PI.SEQUENCE_FLOW_TAKEN, self.ctx.keys.next(), value, scope["tenantId"])
            self._work.append(lambda flow=flow: self._arrive(scope["key"], process, flow.id))

    def _arrive(self, scope_key: int, process: Process, flow_id: str) -> None:
        scope = self.state.element_instances.get(scope_key)
        if scope is None or scope["state"] != "ACTIVATED":
            return
        target = process.elements[process.flows[flow_id].target_id]
        if target.kind == ElementKind.PARALLEL_GATEWAY and len(target.incoming) > 1:
            counts = self.state.element_instances
            if all(counts.taken_flow_count(scope_key, f) > 0 for f in target.incoming):
                self.activate(scope, target, list(target.incoming))
            return
        if target.kind != ElementKind.INCLUSIVE_GATEWAY or len(target.incoming) == 1:
            self.activate(scope, target, [flow_id])
        self.try_inclusive_joins(scope_key, process)

    def try_inclusive_joins(self, scope_key: int, process: Process) -> None:
        """Activate each inclusive join of the scope that has a token and that no other token
        of the scope can still reach through a flow it has not received, as BPMN defines it."""
        if not process.inclusive_join_ids:
            return
        scope = self.state.element_instances.get(scope_key)
        if scope is None or scope["state"] != "ACTIVATED":
            return
        counts = self.state.element_instances
        waiting = set(counts.taken_flows(scope_key))
        for join_id in process.inclusive_join_ids:
            join = process.elements[join_id]
            taken = [f for f in join.incoming if f in waiting]
            if not taken:
                continue
            missing = {f for f in join.incoming if f not in waiting}
            if missing and self._can_reach(scope_key, process, join, missing, waiting):
                continue
            self.activate(scope, join, taken)
            waiting.difference_update(taken)

    def _can_reach(self, scope_key: int, process: Process, join: Element, missing: set[str], waiting: set[str]) -> bool:
        """Whether a token of the scope (an active element, or a flow waiting elsewhere) can
        still arrive at `join` through one of the `missing` flows."""
        starts = []
        for child_key in self.state.element_instances.children(scope_key):
            child = self.state.element_instances.get(child_key)
            if child is not None and child["state"] in ("ACTIVATING", "ACTIVATED", "COMPLETING"):
                starts.append(child["elementId"])
        starts += [process.flows[f].target_id for f in waiting if f not in join.incoming]
        seen: set[str] = set()
        while starts:
            element_id = starts.pop()
            if element_id in seen or element_id == join.id:
                continue
            seen.add(element_id)
            element = process.elements.get(element_id)
            if element is None:
                continue
            for flow_id in element.outgoing:
                if flow_id in missing:
                    return True
                starts.append(process.flows[flow_id].target_id)
            starts.extend(element.boundary_ids)
        return False

    def complete_scope_if_done(self, scope_key: int) -> None:
        scope = self.state.element_instances.get(scope_key)
        if scope is None or scope["state"] != "ACTIVATED":
            return
        if scope["activeChildren"] == 0 and scope["activeFlows"] == 0:
            self.complete(scope)
            return
        process, _ = self.model(scope)
        self.try_inclusive_joins(scope_key, process)

    def terminate_siblings_and_complete_scope(self, instance: dict[str, Any]) -> None:
        """A terminate end event: end every other token of its flow scope, then complete
        the scope (tokens waiting at a join included), as in Zeebe."""
        scope_key = instance["flowScopeKey"]
        for child_key in list(self.state.element_instances.children(scope_key)):
            if child_key == instance["key"]:
                continue
            child = self.state.element_instances.get(child_key)
            if child is not None and child["state"] not in ("TERMINATING", "COMPLETED", "TERMINATED"):
                self.terminate(child)

        def complete_scope() -> None:
            scope = self.state.element_instances.get(scope_key)
            if scope is not None and scope["state"] == "ACTIVATED":
                self.complete(scope)

        self._work.append(complete_scope)

    def terminate(self, instance: dict[str, Any]) -> None:
        self.transition(instance, PI.ELEMENT_TERMINATING)
        for child_key in list(self.state.element_instances.children(instance["key"])):
            child = self.state.element_instances.get(child_key)
            if child is not None:
                self.terminate(child)
        instance = self.state.element_instances.get(instance["key"])
        called = self.state.element_instances.get(instance.get("calledChildKey", -1))
        if called is not None and called["state"] not in ("TERMINATING", "TERMINATED"):
            self.terminate(called)
        if instance["jobKey"] > 0:
            job = self.state.jobs.get(instance["jobKey"])
            if job is not None:
                self.ctx.event(ValueType.JOB, JobIntent.CANCELED, instance["jobKey"], job, job["tenantId"])
        if instance["incidentKey"] > 0:
            incident = self.state.incidents.get(instance["incidentKey"])
            if incident is not None:
                self.ctx.event(ValueType.INCIDENT, IncidentIntent.RESOLVED, instance["incidentKey"], incident, incident["tenantId"])
        self.transition(instance, PI.ELEMENT_TERMINATED)
        if instance["flowScopeKey"] < 0:
            self._answer_awaiting_result(instance, canceled=True)

    def on_process_completed(self, instance: dict[str, Any], variables: dict[str, Any]) -> None:
        self._answer_awaiting_result(instance, canceled=False, variables=variables)

    def _answer_awaiting_result(self, instance: dict[str, Any], canceled: bool, variables: dict[str, Any] | None = None) -> None:
        awaiting = self.ctx.awaiting_results.pop(instance["key"], None)
        if awaiting is None:
            return
        value = {
            "bpmnProcessId": instance["bpmnProcessId"],
            "version": instance["version"],
            "processDefinitionKey": instance["processDefinitionKey"],
            "processInstanceKey": instance["key"],
            "variables": variables or {},
        }
        if canceled:
            record = Record(
                record_type=RecordType.COMMAND_REJECTION,
                value_type=ValueType.PROCESS_INSTANCE_CREATION,
                intent=0,
                key=instance["key"],
                value=value,
                tenant_id=instance["tenantId"],
                rejection_type=RejectionType.INVALID_STATE,
                rejection_reason=(
                    f"Expected to receive the result of process instance '{instance['key']}', "
                    "but it was terminated before it completed"
                ),
            )
        else:
            fetch = awaiting.get("fetchVariables") or []
            if fetch:
                value["variables"] = {k: v for k, v in value["variables"].items() if k in fetch}
            record = Record(
                record_type=RecordType.EVENT,
                value_type=ValueType.PROCESS_INSTANCE_RESULT,
                intent=ProcessInstanceResultIntent.COMPLETED,
                key=instance["key"],
                value=value,
                tenant_id=instance["tenantId"],
            )
        self.ctx.respond(record, request_id=awaiting["requestId"])

    # -- incidents -----------------------------------------------------------------------
    def raise_incident(self, instance: dict[str, Any], error_type: str, message: str, step: str, job_key: int = -1) -> None:
        value = {
            "errorType": error_type,
            "errorMessage": message,
            "bpmnProcessId": instance["bpmnProcessId"],
            "processDefinitionKey": instance["processDefinitionKey"],
            "processInstanceKey": instance["processInstanceKey"],
            "elementId": instance["elementId"],
            "elementInstanceKey": instance["key"],
            "jobKey": job_key,
            "variableScopeKey": instance["key"],
            "tenantId": instance["tenantId"],
            "step": step,
        }
        self.ctx.event(ValueType.INCIDENT, IncidentIntent.CREATED, self.ctx.keys.next(), value, instance["tenantId"])

    def retry_after_incident(self, incident: dict[str, Any]) -> None:
        instance = self.state.element_instances.get(incident["elementInstanceKey"])
        if instance is None:
            return
        if incident["step"] == "activate" and instance["state"] == "ACTIVATING":
            self.on_activate(instance)
        elif incident["step"] == "complete" and instance["state"] == "COMPLETING":
            self.finish_completing(instance)
        elif incident["step"] == "error" and instance["state"] == "ACTIVATED":
            from propolis.broker.processing.elements import throw_error_end_event

            _, element = self.model(instance)
            throw_error_end_event(self, instance, element)

    # -- variables -----------------------------------------------------------------------
    def scope_chain(self, scope_key: int) -> list[int]:
        chain = []
        key = scope_key
        while key >= 0:
            chain.append(key)
            instance = self.state.element_instances.get(key)
            if instance is None:
                break
            key = instance["flowScopeKey"]
        return chain

    def variables_for_scope_only(self, scope_key: int) -> ScopeVariables:
        """The variables of one scope, without those it sees from the scopes around it."""
        return ScopeVariables(self.state.variables, [scope_key], None)

    def variables_for(self, scope_key: int, overlay: dict[str, Any] | None = None) -> ScopeVariables:
        return ScopeVariables(self.state.variables, self.scope_chain(scope_key), overlay)

    def evaluate(self, expression: Any, variables: ScopeVariables, what: str) -> Any:
        try:
            return expression.evaluate(variables)
        except Exception as error:  # a user's expression must become an incident, never a crash
            raise ExpressionFailure("EXTRACT_VALUE_ERROR", f"Failed to evaluate {what} '{expression.source}': {error}") from error

    def set_variable(self, scope_key: int, name: str, value: Any, instance: dict[str, Any]) -> None:
        existing = self.state.variables.get_local(scope_key, name)
        if existing is not None and existing["value"] == value:
            return
        record_value = {
            "name": name,
            "value": value,
            "scopeKey": scope_key,
            "processInstanceKey": instance["processInstanceKey"],
            "processDefinitionKey": instance["processDefinitionKey"],
            "bpmnProcessId": instance["bpmnProcessId"],
            "tenantId": instance["tenantId"],
        }
        if existing is None:
            self.ctx.event(ValueType.VARIABLE, VariableIntent.CREATED, self.ctx.keys.next(), record_value, instance["tenantId"])
        else:
            self.ctx.event(ValueType.VARIABLE, VariableIntent.UPDATED, existing["key"], record_value, instance["tenantId"])

    def set_local_variables(self, instance: dict[str, Any], variables: dict[str, Any]) -> None:
        for name, value in variables.items():
            self.set_variable(instance["key"], name, value, instance)

    def propagate_variables(self, scope_key: int, variables: dict[str, Any], instance: dict[str, Any]) -> None:
        """Each variable goes to the closest scope (from `scope_key` up) that defines it, or
        else to the process instance's scope, as Zeebe merges documents."""
        chain = self.scope_chain(scope_key)
        if not chain:
            return
        for name, value in variables.items():
            target = chain[-1]
            for key in chain:
                if self.state.variables.get_local(key, name) is not None:
                    target = key
                    break
            self.set_variable(target, name, value, instance)

    def apply_input_mappings(self, instance: dict[str, Any], element: Element) -> None:
        if not element.input_mappings:
            return
        result: dict[str, Any] = {}
        # Later inputs see earlier ones, as in Zeebe: the overlay is the result being built.
        variables = self.variables_for(instance["flowScopeKey"], overlay=result)
        for mapping in element.input_mappings:
            value = self.evaluate(mapping.source, variables, f"input mapping '{mapping.target}' of element '{element.id}'")
            _assign_path(result, mapping.target, value)
        self.set_local_variables(instance, result)

    def apply_output_mappings(self, instance: dict[str, Any], element: Element) -> None:
        variables = self.variables_for(instance["key"])
        result: dict[str, Any] = {}
        for mapping in element.output_mappings:
            value = self.evaluate(mapping.source, variables, f"output mapping '{mapping.target}' of element '{element.id}'")
            _assign_path(result, mapping.target, value, existing=variables)
        self.propagate_variables(instance["flowScopeKey"], result, instance)

    # -- helpers -------------------------------------------------------------------------
    def _child_value(self, scope: dict[str, Any], element: Element | None, flow_id: str | None = None) -> dict[str, Any]:
        return {
            "bpmnProcessId": scope["bpmnProcessId"],
            "version": scope["version"],
            "processDefinitionKey": scope["processDefinitionKey"],
            "processInstanceKey": scope["processInstanceKey"],
            "elementId": element.id if element is not None else flow_id,
            "flowScopeKey": scope["key"],
            "bpmnElementType": element.kind.value if element is not None else ElementKind.SEQUENCE_FLOW.value,
            "bpmnEventType": _event_type(element),
            "parentProcessInstanceKey": -1,
            "parentElementInstanceKey": -1,
            "tenantId": scope["tenantId"],
        }


# Entering opens an element's event subscriptions (timers, boundary events); leaving closes them.
_SUBSCRIBING_INTENTS = frozenset({PI.ELEMENT_ACTIVATED, PI.ELEMENT_COMPLETING, PI.ELEMENT_TERMINATING})

_PI_VALUE_FIELDS = (
    "bpmnProcessId",
    "version",
    "processDefinitionKey",
    "processInstanceKey",
    "elementId",
    "flowScopeKey",
    "bpmnElementType",
    "bpmnEventType",
    "parentProcessInstanceKey",
    "parentElementInstanceKey",
    "tenantId",
)


def _event_type(element: Element | None) -> str:
    if element is None:
        return "UNSPECIFIED"
    return "MESSAGE" if element.message is not None else element.event_type


def _process_element(process: Process) -> Element:
    return Element(id=process.id, kind=ElementKind.PROCESS, line=process.line, name=process.name)


def _assign_path(target: dict[str, Any], path: str, value: Any, existing: Any = None) -> None:
    """Assign `value` at a dotted path ('a.b.c'), merging into contexts already there."""
    if "." not in path:
        target[path] = value
        return
    head, *rest = path.split(".")
    if head not in target:
        current = existing.get(head) if existing is not None else None
        target[head] = dict(current) if isinstance(current, dict) else {}
    node = target[head]
    for part in rest[:-1]:
        child = node.get(part)
        node[part] = dict(child) if isinstance(child, dict) else {}
        node = node[part]
    node[rest[-1]] = value
