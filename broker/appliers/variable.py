"""Appliers for variables."""

from __future__ import annotations

from propolis.broker.state import State

from propolis.records import Record, ValueType, VariableIntent


def variable_set(state: State, record: Record) -> None:
    value = record.value
    state.variables.put(value["scopeKey"], value["name"], record.key, value["value"])


APPLIERS = {
    (ValueType.VARIABLE, VariableIntent.CREATED): variable_set,
    (ValueType.VARIABLE, VariableIntent.UPDATED): variable_set,
}
