"""Appliers for messages and message subscriptions."""

from __future__ import annotations

from propolis.broker.state import State

from propolis.records import MessageIntent, MessageSubscriptionIntent, Record, ValueType


def message_published(state: State, record: Record) -> None:
    if record.value["timeToLive"] > 0:
        state.messages.put(record.key, record.value)


def message_expired(state: State, record: Record) -> None:
    state.messages.remove(record.key)


def subscription_created(state: State, record: Record) -> None:
    state.messages.put_subscription(record.value)
    instance = state.element_instances.get(record.value["elementInstanceKey"])
    if instance is not None:
        instance["subscription"] = record.value
        state.element_instances.put(instance)


def subscription_correlated(state: State, record: Record) -> None:
    state.messages.remove_subscription(record.value)
    if state.messages.get(record.value["messageKey"]) is not None:
        state.messages.mark_correlated(record.value["messageKey"], record.value["bpmnProcessId"])


def subscription_deleted(state: State, record: Record) -> None:
    state.messages.remove_subscription(record.value)


APPLIERS = {
    (ValueType.MESSAGE, MessageIntent.PUBLISHED): message_published,
    (ValueType.MESSAGE, MessageIntent.EXPIRED): message_expired,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CREATED): subscription_created,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CORRELATED): subscription_correlated,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.DELETED): subscription_deleted,
}
