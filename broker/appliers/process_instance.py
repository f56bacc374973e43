"""Appliers for element instances and sequence flows.

Token bookkeeping per flow scope: `activeChildren` counts element instances, `activeFlows`
counts taken sequence flows whose target has not been entered yet (e.g. waiting at a parallel
join). ELEMENT_ACTIVATING carries `takenFlowIds`, the flows whose tokens the element consumed.
"""

from __future__ import annotations

from propolis.broker.state import State

from propolis.records import CompensationSubscriptionIntent, Record, ValueType
from propolis.records import ProcessInstanceIntent as PI


def _adjust_scope(state: State, scope_key: int, children: int = 0, flows: int = 0) -> None:
    scope = state.element_instances.get(scope_key)
    if scope is not None:
        scope["activeChildren"] += children
        scope["activeFlows"] += flows
        state.element_instances.put(scope)


def element_activating(state: State, record: Record) -> None:
    value = record.value
    instance = dict(value)
    taken = instance.pop("takenFlowIds", ())
    instance.update(key=record.key, state="ACTIVATING", activeChildren=0, activeFlows=0, jobKey=-1, incidentKey=-1)
    state.element_instances.add(instance)
    scope_key = value["flowScopeKey"]
    if scope_key < 0 and value.get("parentElementInstanceKey", -1) >= 0:
        # A called process: its call activity knows it, to terminate it with itself.
        caller = state.element_instances.get(value["parentElementInstanceKey"])
        if caller is not None:
            caller["calledChildKey"] = record.key
            state.element_instances.put(caller)
    if scope_key < 0:
        state.processes.count_instance(value["processDefinitionKey"], 1)
    if scope_key >= 0:
        for flow_id in taken:
            state.element_instances.add_taken_flow(scope_key, flow_id, -1)
        _adjust_scope(state, scope_key, children=1, flows=-len(taken))


def _set_state(state_name: str):
    def applier(state: State, record: Record) -> None:
        instance = state.element_instances.get(record.key)
        if instance is not None:
            instance["state"] = state_name
            state.element_instances.put(instance)

    return applier


def element_finished(state: State, record: Record) -> None:
    instance = state.element_instances.remove(record.key)
    state.variables.remove_scope(record.key)
    if instance is not None and instance["flowScopeKey"] >= 0:
        _adjust_scope(state, instance["flowScopeKey"], children=-1)
    elif instance is not None:
        state.messages.unlock_start(record.key)
        state.processes.count_instance(instance["processDefinitionKey"], -1)
        state.compensations.remove_instance(record.key)


def sequence_flow_taken(state: State, record: Record) -> None:
    scope_key = record.value["flowScopeKey"]
    state.element_instances.add_taken_flow(scope_key, record.value["elementId"], 1)
    _adjust_scope(state, scope_key, flows=1)


def compensation_subscribed(state: State, record: Record) -> None:
    state.compensations.put(record.value)


def compensation_done(state: State, record: Record) -> None:
    state.compensations.remove(record.value)


APPLIERS = {
    (ValueType.COMPENSATION_SUBSCRIPTION, CompensationSubscriptionIntent.CREATED): compensation_subscribed,
    (ValueType.COMPENSATION_SUBSCRIPTION, CompensationSubscriptionIntent.TRIGGERED): compensation_subscribed,
    (ValueType.COMPENSATION_SUBSCRIPTION, CompensationSubscriptionIntent.COMPLETED): compensation_done,
    (ValueType.COMPENSATION_SUBSCRIPTION, CompensationSubscriptionIntent.DELETED): compensation_done,
    (ValueType.PROCESS_INSTANCE, PI.ELEMENT_ACTIVATING): element_activating,
    (ValueType.PROCESS_INSTANCE, PI.ELEMENT_ACTIVATED): _set_state("ACTIVATED"),
    (ValueType.PROCESS_INSTANCE, PI.ELEMENT_COMPLETING): _set_state("COMPLETING"),
    (ValueType.PROCESS_INSTANCE, PI.ELEMENT_TERMINATING): _set_state("TERMINATING"),
    (ValueType.PROCESS_INSTANCE, PI.ELEMENT_COMPLETED): element_finished,
    (ValueType.PROCESS_INSTANCE, PI.ELEMENT_TERMINATED): element_finished,
    (ValueType.PROCESS_INSTANCE, PI.SEQUENCE_FLOW_TAKEN): sequence_flow_taken,
}
