"""Appliers for timers: created, and gone once triggered or cancelled."""

from __future__ import annotations

from propolis.broker.state import State

from propolis.records import Record, TimerIntent, ValueType


def timer_created(state: State, record: Record) -> None:
    state.timers.put(record.key, record.value)


def timer_gone(state: State, record: Record) -> None:
    state.timers.remove(record.key)


APPLIERS = {
    (ValueType.TIMER, TimerIntent.CREATED): timer_created,
    (ValueType.TIMER, TimerIntent.TRIGGERED): timer_gone,
    (ValueType.TIMER, TimerIntent.CANCELED): timer_gone,
}
