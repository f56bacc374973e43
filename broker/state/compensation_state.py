"""Completed activities that have a compensation handler, per process instance, in the order
they were entered (element instance keys grow), until the instance ends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from propolis.broker.state.store import Tables, int_key, unpack


class CompensationState:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def of_instance(self, process_instance_key: int) -> Iterator[dict[str, Any]]:
        for _, value in self._t.scan("compensations", int_key(process_instance_key)):
            yield unpack(value)

    # -- written by appliers only --
    def put(self, subscription: dict[str, Any]) -> None:
        key = int_key(subscription["processInstanceKey"]) + int_key(subscription["elementInstanceKey"])
        self._t.put("compensations", key, subscription)

    def remove(self, subscription: dict[str, Any]) -> None:
        self._t.delete("compensations", int_key(subscription["processInstanceKey"]) + int_key(subscription["elementInstanceKey"]))

    def remove_instance(self, process_instance_key: int) -> None:
        for key, _ in list(self._t.scan("compensations", int_key(process_instance_key))):
            self._t.delete("compensations", key)
