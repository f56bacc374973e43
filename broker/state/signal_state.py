"""Open signal subscriptions, per tenant and signal name: signal start events of the latest
process versions (elementInstanceKey -1) and catching elements of running instances."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from propolis.broker.state.store import Tables, int_key, str_key, unpack


def _own_key(subscription: dict[str, Any]) -> bytes:
    owner = subscription["elementInstanceKey"]
    if owner < 0:  # a start event: owned by its process definition
        owner = subscription["processDefinitionKey"]
    return int_key(owner) + str_key(subscription["catchEventId"])


class SignalState:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def subscriptions(self, tenant_id: str, name: str) -> Iterator[dict[str, Any]]:
        for _, value in self._t.scan("signal_subscriptions", str_key(tenant_id, name)):
            yield unpack(value)

    def subscriptions_of(self, owner_key: int) -> Iterator[dict[str, Any]]:
        """Of an element instance, or (start events) of a process definition."""
        for _, value in self._t.scan("signal_subscriptions_by_instance", int_key(owner_key)):
            yield unpack(value)

    # -- written by appliers only --
    def put(self, subscription: dict[str, Any]) -> None:
        own = _own_key(subscription)
        self._t.put("signal_subscriptions", str_key(subscription["tenantId"], subscription["signalName"]) + own, subscription)
        self._t.put("signal_subscriptions_by_instance", own, subscription)

    def remove(self, subscription: dict[str, Any]) -> None:
        own = _own_key(subscription)
        self._t.delete("signal_subscriptions", str_key(subscription["tenantId"], subscription["signalName"]) + own)
        self._t.delete("signal_subscriptions_by_instance", own)
