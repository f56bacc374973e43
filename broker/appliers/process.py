"""Appliers for deployments and process definitions."""

from __future__ import annotations

from propolis.broker.state import State

from propolis.records import ProcessIntent, Record, ValueType


def process_created(state: State, record: Record) -> None:
    state.processes.put(record.value)


def process_deleted(state: State, record: Record) -> None:
    state.processes.remove(record.value)


APPLIERS = {
    (ValueType.PROCESS, ProcessIntent.CREATED): process_created,
    (ValueType.PROCESS, ProcessIntent.DELETED): process_deleted,
}
