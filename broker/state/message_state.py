"""Buffered messages and open message subscriptions, per tenant, name and correlation key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from propolis.broker.state.store import Tables, int2_key, int_key, str_key, unpack, unpack_int2


class MessageState:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def get(self, message_key: int) -> dict[str, Any] | None:
        return self._t.get("messages", int_key(message_key))

    def buffered(self, tenant_id: str, name: str, correlation_key: str) -> Iterator[int]:
        """Keys of buffered messages with that name and correlation key, oldest first."""
        prefix = str_key(tenant_id, name, correlation_key)
        for key, _ in self._t.scan("message_index", prefix):
            yield int.from_bytes(key[len(prefix):], "big", signed=True)

    def id_exists(self, tenant_id: str, name: str, correlation_key: str, message_id: str) -> bool:
        return self._t.has("message_ids", str_key(tenant_id, name, correlation_key, message_id))

    def correlated_to(self, message_key: int, bpmn_process_id: str) -> bool:
        return self._t.has("message_correlated", int_key(message_key) + str_key(bpmn_process_id))

    def deadlines_before(self, now_ms: int) -> Iterator[tuple[int, int]]:
        for key in self._t.scan_until("message_deadlines", int2_key(now_ms + 1, 0)):
            yield unpack_int2(key)

    def subscriptions(self, tenant_id: str, name: str, correlation_key: str) -> Iterator[dict[str, Any]]:
        for _, value in self._t.scan("subscriptions", str_key(tenant_id, name, correlation_key)):
            yield unpack(value)

    def subscriptions_of(self, element_instance_key: int) -> Iterator[dict[str, Any]]:
        """The open subscriptions of an element instance: its own, its boundary events', ..."""
        for _, value in self._t.scan("subscriptions_by_instance", int_key(element_instance_key)):
            yield unpack(value)

    def start_subscriptions(self, tenant_id: str, name: str) -> Iterator[dict[str, Any]]:
        """Message start events of the latest process versions that wait for `name`."""
        for _, value in self._t.scan("message_start_subscriptions", str_key(tenant_id, name)):
            yield unpack(value)

    def start_lock(self, tenant_id: str, bpmn_process_id: str, correlation_key: str) -> int | None:
        """The active instance of that process that a message with this key started, if any."""
        return self._t.get("message_start_locks", str_key(tenant_id, bpmn_process_id, correlation_key))

    # -- written by appliers only --
    def put(self, message_key: int, message: dict[str, Any]) -> None:
        tenant, name, ck = message["tenantId"], message["name"], message["correlationKey"]
        self._t.put("messages", int_key(message_key), message)
        self._t.put_raw("message_index", str_key(tenant, name, ck) + int_key(message_key))
        if message.get("messageId"):
            self._t.put_raw("message_ids", str_key(tenant, name, ck, message["messageId"]))
        self._t.put_raw("message_deadlines", int2_key(message["deadline"], message_key))

    def remove(self, message_key: int) -> None:
        message = self.get(message_key)
        if message is None:
            return
        tenant, name, ck = message["tenantId"], message["name"], message["correlationKey"]
        self._t.delete("messages", int_key(message_key))
        self._t.delete("message_index", str_key(tenant, name, ck) + int_key(message_key))
        if message.get("messageId"):
            self._t.delete("message_ids", str_key(tenant, name, ck, message["messageId"]))
        self._t.delete("message_deadlines", int2_key(message["deadline"], message_key))
        for key, _ in list(self._t.scan("message_correlated", int_key(message_key))):
            self._t.delete("message_correlated", key)

    def mark_correlated(self, message_key: int, bpmn_process_id: str) -> None:
        self._t.put_raw("message_correlated", int_key(message_key) + str_key(bpmn_process_id))

    def unmark_correlated(self, message_key: int, bpmn_process_id: str) -> None:
        self._t.delete("message_correlated", int_key(message_key) + str_key(bpmn_process_id))

    def put_subscription(self, subscription: dict[str, Any]) -> None:
        key = str_key(subscription["tenantId"], subscription["messageName"], subscription["correlationKey"])
        own = int_key(subscription["elementInstanceKey"]) + str_key(subscription["elementId"])
        self._t.put("subscriptions", key + own, subscription)
        self._t.put("subscriptions_by_instance", own, subscription)

    def remove_subscription(self, subscription: dict[str, Any]) -> None:
        key = str_key(subscription["tenantId"], subscription["messageName"], subscription["correlationKey"])
        own = int_key(subscription["elementInstanceKey"]) + str_key(subscription["elementId"])
        self._t.delete("subscriptions", key + own)
        self._t.delete("subscriptions_by_instance", own)

    def put_start_subscription(self, subscription: dict[str, Any]) -> None:
        key = str_key(subscription["tenantId"], subscription["messageName"]) + int_key(subscription["processDefinitionKey"]) + str_key(subscription["startEventId"])
        self._t.put("message_start_subscriptions", key, subscription)

    def remove_start_subscription(self, subscription: dict[str, Any]) -> None:
        key = str_key(subscription["tenantId"], subscription["messageName"]) + int_key(subscription["processDefinitionKey"]) + str_key(subscription["startEventId"])
        self._t.delete("message_start_subscriptions", key)

    def lock_start(self, tenant_id: str, bpmn_process_id: str, correlation_key: str, process_instance_key: int) -> None:
        self._t.put("message_start_locks", str_key(tenant_id, bpmn_process_id, correlation_key), process_instance_key)
        self._t.put("message_start_lock_of", int_key(process_instance_key), [tenant_id, bpmn_process_id, correlation_key])

    def unlock_start(self, process_instance_key: int) -> None:
        lock = self._t.get("message_start_lock_of", int_key(process_instance_key))
        if lock is not None:
            self._t.delete("message_start_lock_of", int_key(process_instance_key))
            self._t.delete("message_start_locks", str_key(*lock))
