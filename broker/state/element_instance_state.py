"""Element instances (process instances included) and the bookkeeping of tokens per scope.

An element instance value is the PROCESS_INSTANCE record value plus `state` (the last intent),
`activeChildren` and `activeFlows` (tokens taken but not yet consumed, e.g. waiting at a join),
`jobKey`, and the step an incident interrupted (`incidentStep`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from propolis.broker.state.store import Tables, int2_key, int_key, str_key, unpack, unpack_int2


class ElementInstanceState:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def get(self, key: int) -> dict[str, Any] | None:
        return self._t.get("element_instances", int_key(key))

    def children(self, scope_key: int) -> Iterator[int]:
        for key, _ in self._t.scan("children", int_key(scope_key)):
            yield unpack_int2(key)[1]

    def taken_flow_count(self, scope_key: int, flow_id: str) -> int:
        return self._t.get("taken_flows", int_key(scope_key) + str_key(flow_id)) or 0

    def taken_flows(self, scope_key: int) -> Iterator[str]:
        """Flows of a scope whose tokens wait to be consumed (in transit or at a join)."""
        prefix = int_key(scope_key)
        for key, _ in self._t.scan("taken_flows", prefix):
            yield key[len(prefix):-1].decode()

    def count(self) -> int:
        return self._t.txn.stat(self._t.dbs["element_instances"])["entries"]

    def all_keys(self) -> Iterator[int]:
        for key, _ in self._t.scan("element_instances", b""):
            yield int.from_bytes(key, "big", signed=True)

    def all(self) -> Iterator[dict[str, Any]]:
        for _, value in self._t.scan("element_instances", b""):
            yield unpack(value)

    # -- written by appliers only --
    def put(self, instance: dict[str, Any]) -> None:
        self._t.put("element_instances", int_key(instance["key"]), instance)

    def add(self, instance: dict[str, Any]) -> None:
        self.put(instance)
        scope_key = instance["flowScopeKey"]
        if scope_key >= 0:
            self._t.put_raw("children", int2_key(scope_key, instance["key"]))

    def remove(self, key: int) -> dict[str, Any] | None:
        instance = self.get(key)
        if instance is None:
            return None
        self._t.delete("element_instances", int_key(key))
        scope_key = instance["flowScopeKey"]
        if scope_key >= 0:
            self._t.delete("children", int2_key(scope_key, key))
        for flow_key, _ in list(self._t.scan("taken_flows", int_key(key))):
            self._t.delete("taken_flows", flow_key)
        return instance

    def add_taken_flow(self, scope_key: int, flow_id: str, delta: int) -> None:
        key = int_key(scope_key) + str_key(flow_id)
        count = (self._t.get("taken_flows", key) or 0) + delta
        if count > 0:
            self._t.put("taken_flows", key, count)
        else:
            self._t.delete("taken_flows", key)
