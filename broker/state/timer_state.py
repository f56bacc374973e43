"""Timers waiting to fire: by key, by due date (for the scheduler) and by the element instance
whose activation created them (to cancel them when it leaves)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from propolis.broker.state.store import Tables, int2_key, int_key, unpack_int2


class TimerState:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def get(self, timer_key: int) -> dict[str, Any] | None:
        return self._t.get("timers", int_key(timer_key))

    def due_before(self, now_ms: int) -> Iterator[tuple[int, int]]:
        """(due date, timer key) of timers that are due, earliest first."""
        for key in self._t.scan_until("timer_due", int2_key(now_ms + 1, 0)):
            yield unpack_int2(key)

    def of_element_instance(self, element_instance_key: int) -> Iterator[int]:
        """Timers of an element instance, or (timer start events) of a process definition."""
        for key, _ in self._t.scan("timer_by_instance", int_key(element_instance_key)):
            yield unpack_int2(key)[1]

    # -- written by appliers only --
    def put(self, timer_key: int, timer: dict[str, Any]) -> None:
        self._t.put("timers", int_key(timer_key), timer)
        self._t.put_raw("timer_due", int2_key(timer["dueDate"], timer_key))
        self._t.put_raw("timer_by_instance", int2_key(_owner(timer), timer_key))

    def remove(self, timer_key: int) -> None:
        timer = self.get(timer_key)
        if timer is None:
            return
        self._t.delete("timers", int_key(timer_key))
        self._t.delete("timer_due", int2_key(timer["dueDate"], timer_key))
        self._t.delete("timer_by_instance", int2_key(_owner(timer), timer_key))


def _owner(timer: dict[str, Any]) -> int:
    """A timer start event's timer belongs to its process definition, others to an instance."""
    key = timer["elementInstanceKey"]
    return key if key >= 0 else timer["processDefinitionKey"]
