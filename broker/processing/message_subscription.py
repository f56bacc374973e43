"""Message subscriptions whose instance and message live on different partitions.

A message lives on the partition of its correlation key; an element instance that waits for
it lives on the partition of its process instance. When the two differ, the partitions talk
through distributed commands (processing/distribution.py: once each, in order), as Zeebe's
MESSAGE_SUBSCRIPTION / PROCESS_MESSAGE_SUBSCRIPTION protocol does:

- the instance's partition opens its subscription locally (MESSAGE_SUBSCRIPTION CREATED) and
  sends MESSAGE_SUBSCRIPTION CREATE to the message's partition, which keeps the subscription
  (with `subscriptionPartitionId`) and correlates a buffered message at once;
- the message's partition correlates a message to it by writing CORRELATING (the subscription
  takes no other message meanwhile, and the message counts as correlated to that process) and
  sending PROCESS_MESSAGE_SUBSCRIPTION CORRELATE to the instance's partition;
- the instance's partition hands the message to the element if it still waits, and answers
  MESSAGE_SUBSCRIPTION CORRELATE, or REJECT if it does not;
- closing the element sends MESSAGE_SUBSCRIPTION DELETE.

On REJECT, or a DELETE that arrives while a message was on its way, the message is free again
for the process and goes to another waiting instance of it if one waits (in-order delivery
means the instance's partition did not take it). Same-partition subscriptions never use this.
"""

from __future__ import annotations

from typing import Any

from propolis.broker.engine.context import ProcessingContext
from propolis.broker.processing.bpmn_behavior import BpmnBehavior
from propolis.broker.processing.catch_events import correlate
from propolis.broker.processing.distribution import (
    DISTRIBUTION_FIELD,
    distribute,
    without_distribution,
)
from propolis.broker.processing.services import Services

from propolis.records import (
    MessageSubscriptionIntent,
    ProcessMessageSubscriptionIntent,
    ValueType,
    partition_of_correlation_key,
)

_REPLY_FIELDS = ("elementInstanceKey", "elementId", "messageKey", "messageName", "correlationKey", "bpmnProcessId", "tenantId")


def message_partition(ctx: ProcessingContext, subscription: dict[str, Any]) -> int:
    return partition_of_correlation_key(subscription["correlationKey"], ctx.partition_count)


def is_remote(ctx: ProcessingContext, subscription: dict[str, Any]) -> bool:
    """On the message's partition: a subscription of an instance on another partition."""
    return subscription.get("subscriptionPartitionId", ctx.command.partition_id) != ctx.command.partition_id


# -- the instance's partition ------------------------------------------------------------------
def open_remote(ctx: ProcessingContext, subscription: dict[str, Any]) -> bool:
    """After MESSAGE_SUBSCRIPTION CREATED here: tell the message's partition, if that is
    another one. False when the message's partition is this one (nothing to send)."""
    if ctx.partition_count == 1:
        return False
    target = message_partition(ctx, subscription)
    if target == ctx.command.partition_id:
        return False
    value = dict(subscription, subscriptionPartitionId=ctx.command.partition_id)
    distribute(ctx, target, ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CREATE, subscription["elementInstanceKey"], value, subscription["tenantId"])
    return True


def close_remote(ctx: ProcessingContext, subscription: dict[str, Any]) -> None:
    """After MESSAGE_SUBSCRIPTION DELETED here: tell the message's partition, if another."""
    if ctx.partition_count == 1:
        return
    target = message_partition(ctx, subscription)
    if target == ctx.command.partition_id:
        return
    distribute(ctx, target, ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.DELETE, subscription["elementInstanceKey"], _reply(subscription), subscription["tenantId"])


def correlate_at_instance(ctx: ProcessingContext, services: Services) -> None:
    """PROCESS_MESSAGE_SUBSCRIPTION CORRELATE: the message's partition offers a message."""
    value = ctx.command.value
    source = value[DISTRIBUTION_FIELD]["sourcePartitionId"]
    local = next(
        (s for s in ctx.state.messages.subscriptions_of(value["elementInstanceKey"]) if s["elementId"] == value["elementId"]),
        None,
    )
    bpmn = BpmnBehavior(ctx, services.processes)
    reply = _reply(value)
    if local is not None and correlate(bpmn, local, value["messageKey"], value.get("variables") or {}):
        distribute(ctx, source, ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CORRELATE, value["elementInstanceKey"], reply, value["tenantId"])
        bpmn.run()
    else:
        distribute(ctx, source, ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.REJECT, value["elementInstanceKey"], reply, value["tenantId"])


# -- the message's partition -------------------------------------------------------------------
def create(ctx: ProcessingContext, services: Services) -> None:
    """MESSAGE_SUBSCRIPTION CREATE: keep the subscription; a buffered message goes to it now."""
    subscription = without_distribution(ctx.command.value)
    ctx.event(ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CREATED, subscription["elementInstanceKey"], subscription, subscription["tenantId"])
    offer_buffered(ctx, subscription)


def correlated(ctx: ProcessingContext, services: Services) -> None:
    """MESSAGE_SUBSCRIPTION CORRELATE: the instance took the message."""
    subscription = _correlating(ctx)
    if subscription is None:
        return
    ctx.event(ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CORRELATED, subscription["elementInstanceKey"], subscription, subscription["tenantId"])
    if not subscription.get("interrupting", True):
        # A non-interrupting event keeps waiting: the next buffered message may follow.
        offer_buffered(ctx, {k: v for k, v in subscription.items() if k != "correlatingMessageKey"})


def reject(ctx: ProcessingContext, services: Services) -> None:
    """MESSAGE_SUBSCRIPTION REJECT: the element no longer waits; the message is free again."""
    subscription = _correlating(ctx)
    if subscription is None:
        return
    ctx.event(ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.REJECTED, subscription["elementInstanceKey"], subscription, subscription["tenantId"])
    offer_again(ctx, services, subscription["correlatingMessageKey"], subscription["bpmnProcessId"])


def delete(ctx: ProcessingContext, services: Services) -> None:
    """MESSAGE_SUBSCRIPTION DELETE: the element left. A message on its way to it was not taken
    (the instance's partition would have answered CORRELATE first) and is free again."""
    subscription = _find(ctx, ctx.command.value)
    if subscription is None:
        return
    ctx.event(ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.DELETED, subscription["elementInstanceKey"], subscription, subscription["tenantId"])
    if subscription.get("correlatingMessageKey") is not None:
        offer_again(ctx, services, subscription["correlatingMessageKey"], subscription["bpmnProcessId"])


def offer(ctx: ProcessingContext, subscription: dict[str, Any], message_key: int, variables: dict[str, Any]) -> bool:
    """Send a message to the remote subscription; False if it is busy with another one."""
    if subscription.get("correlatingMessageKey") is not None:
        return False
    correlating = dict(subscription, messageKey=message_key, correlatingMessageKey=message_key, variables={})
    ctx.event(ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CORRELATING, subscription["elementInstanceKey"], correlating, subscription["tenantId"])
    offered = dict(_reply(correlating), processInstanceKey=subscription["processInstanceKey"], variables=variables)
    distribute(
        ctx, subscription["subscriptionPartitionId"], ValueType.PROCESS_MESSAGE_SUBSCRIPTION,
        ProcessMessageSubscriptionIntent.CORRELATE, subscription["elementInstanceKey"], offered, subscription["tenantId"],
    )
    return True


def offer_buffered(ctx: ProcessingContext, subscription: dict[str, Any]) -> None:
    messages = ctx.state.messages
    for message_key in messages.buffered(subscription["tenantId"], subscription["messageName"], subscription["correlationKey"]):
        stored = messages.get(message_key)
        if stored is None or stored["deadline"] <= ctx.now_ms:
            continue
        if messages.correlated_to(message_key, subscription["bpmnProcessId"]):
            continue
        offer(ctx, subscription, message_key, stored.get("variables") or {})
        return


def offer_again(ctx: ProcessingContext, services: Services, message_key: int, bpmn_process_id: str) -> None:
    """A buffered message that its process did not take goes to another waiting instance of
    that process, if any (once per process, as always)."""
    message = ctx.state.messages.get(message_key)
    if message is None or message["deadline"] <= ctx.now_ms:
        return
    if ctx.state.messages.correlated_to(message_key, bpmn_process_id):
        return
    variables = message.get("variables") or {}
    for subscription in list(ctx.state.messages.subscriptions(message["tenantId"], message["name"], message["correlationKey"])):
        if subscription["bpmnProcessId"] != bpmn_process_id:
            continue
        if is_remote(ctx, subscription):
            if offer(ctx, subscription, message_key, variables):
                return
            continue
        bpmn = BpmnBehavior(ctx, services.processes)
        if correlate(bpmn, subscription, message_key, variables):
            bpmn.run()
            return


def _find(ctx: ProcessingContext, value: dict[str, Any]) -> dict[str, Any] | None:
    for subscription in ctx.state.messages.subscriptions_of(value["elementInstanceKey"]):
        if subscription["elementId"] == value["elementId"] and subscription.get("subscriptionPartitionId") is not None:
            return subscription
    return None


def _correlating(ctx: ProcessingContext) -> dict[str, Any] | None:
    """The subscription an answer is about, if it still waits for that answer."""
    subscription = _find(ctx, ctx.command.value)
    if subscription is None or subscription.get("correlatingMessageKey") != ctx.command.value["messageKey"]:
        return None
    return subscription


def _reply(value: dict[str, Any]) -> dict[str, Any]:
    return {name: value.get(name) for name in _REPLY_FIELDS}
