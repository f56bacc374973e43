"""Appliers for messages and message subscriptions."""

from __future__ import annotations

from propolis.broker.state import State

from propolis.records import (
    MessageIntent,
    MessageStartEventSubscriptionIntent,
    MessageSubscriptionIntent,
    Record,
    SignalSubscriptionIntent,
    ValueType,
)


def message_published(state: State, record: Record) -> None:
    if record.value["timeToLive"] > 0:
        state.messages.put(record.key, record.value)


def message_expired(state: State, record: Record) -> None:
    state.messages.remove(record.key)


def subscription_created(state: State, record: Record) -> None:
    state.messages.put_subscription(record.value)


def subscription_correlated(state: State, record: Record) -> None:
    # A non-interrupting boundary event or event sub-process keeps waiting for more.
    if record.value.get("interrupting", True):
        state.messages.remove_subscription(record.value)
    elif record.value.get("correlatingMessageKey") is not None:
        # The message's partition: the instance on another partition took the message.
        waiting = {k: v for k, v in record.value.items() if k != "correlatingMessageKey"}
        state.messages.put_subscription(dict(waiting, messageKey=-1))
    if state.messages.get(record.value["messageKey"]) is not None:
        state.messages.mark_correlated(record.value["messageKey"], record.value["bpmnProcessId"])


def subscription_correlating(state: State, record: Record) -> None:
    # The message's partition offered a message to an instance on another partition: the
    # subscription takes no other meanwhile, and the message counts as taken by the process.
    state.messages.put_subscription(record.value)
    if state.messages.get(record.value["messageKey"]) is not None:
        state.messages.mark_correlated(record.value["messageKey"], record.value["bpmnProcessId"])


def subscription_rejected(state: State, record: Record) -> None:
    state.messages.remove_subscription(record.value)
    state.messages.unmark_correlated(record.value["correlatingMessageKey"], record.value["bpmnProcessId"])


def subscription_deleted(state: State, record: Record) -> None:
    state.messages.remove_subscription(record.value)
    if record.value.get("correlatingMessageKey") is not None:  # the offered message was not taken
        state.messages.unmark_correlated(record.value["correlatingMessageKey"], record.value["bpmnProcessId"])


def start_subscription_created(state: State, record: Record) -> None:
    state.messages.put_start_subscription(record.value)


def start_subscription_deleted(state: State, record: Record) -> None:
    state.messages.remove_start_subscription(record.value)


def start_subscription_correlated(state: State, record: Record) -> None:
    # While the instance a message started is active, no other message with its correlation
    # key starts another one (Zeebe's rule; an empty key never locks).
    value = record.value
    if value["correlationKey"]:
        state.messages.lock_start(value["tenantId"], value["bpmnProcessId"], value["correlationKey"], value["processInstanceKey"])
    if state.messages.get(value["messageKey"]) is not None:
        state.messages.mark_correlated(value["messageKey"], value["bpmnProcessId"])


def signal_subscription_created(state: State, record: Record) -> None:
    state.signals.put(record.value)


def signal_subscription_deleted(state: State, record: Record) -> None:
    state.signals.remove(record.value)


APPLIERS = {
    (ValueType.MESSAGE, MessageIntent.PUBLISHED): message_published,
    (ValueType.MESSAGE, MessageIntent.EXPIRED): message_expired,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CREATED): subscription_created,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CORRELATED): subscription_correlated,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.DELETED): subscription_deleted,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CORRELATING): subscription_correlating,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.REJECTED): subscription_rejected,
    (ValueType.MESSAGE_START_EVENT_SUBSCRIPTION, MessageStartEventSubscriptionIntent.CREATED): start_subscription_created,
    (ValueType.MESSAGE_START_EVENT_SUBSCRIPTION, MessageStartEventSubscriptionIntent.DELETED): start_subscription_deleted,
    (ValueType.MESSAGE_START_EVENT_SUBSCRIPTION, MessageStartEventSubscriptionIntent.CORRELATED): start_subscription_correlated,
    (ValueType.SIGNAL_SUBSCRIPTION, SignalSubscriptionIntent.CREATED): signal_subscription_created,
    (ValueType.SIGNAL_SUBSCRIPTION, SignalSubscriptionIntent.DELETED): signal_subscription_deleted,
}
