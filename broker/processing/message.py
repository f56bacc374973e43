"""MESSAGE PUBLISH and EXPIRE: buffer messages and correlate them to waiting elements."""

from __future__ import annotations

from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError, expected
from propolis.broker.processing import message_subscription
from propolis.broker.processing.bpmn_behavior import BpmnBehavior
from propolis.broker.processing.catch_events import correlate
from propolis.broker.processing.process_instance_creation import start_instance
from propolis.broker.processing.services import Services

from propolis.records import (
    MessageIntent,
    MessageStartEventSubscriptionIntent,
    RejectionType,
    ValueType,
)


def publish_message(ctx: ProcessingContext, services: Services) -> None:
    value = ctx.command.value
    tenant = ctx.command.tenant_id
    name = value.get("name") or ""
    correlation_key = str(value.get("correlationKey") or "")
    message_id = value.get("messageId") or ""
    ttl_ms = max(0, int(value.get("timeToLive") or 0))
    variables = value.get("variables") or {}
    if not name:
        raise RejectionError(RejectionType.INVALID_ARGUMENT, "Expected to publish a message with a name, but the name was empty")
    if not isinstance(variables, dict):
        raise RejectionError(RejectionType.INVALID_ARGUMENT, f"Expected variables to be a JSON object, but got {type(variables).__name__}")
    if message_id and ctx.state.messages.id_exists(tenant, name, correlation_key, message_id):
        raise RejectionError(
            RejectionType.ALREADY_EXISTS,
            f"Expected to publish a new message with id '{message_id}', but a message with that id was already published",
        )
    message = {
        "name": name,
        "correlationKey": correlation_key,
        "timeToLive": ttl_ms,
        "messageId": message_id,
        "variables": variables,
        "deadline": ctx.now_ms + ttl_ms,
        "tenantId": tenant,
    }
    message_key = ctx.keys.next()
    record = ctx.event(ValueType.MESSAGE, MessageIntent.PUBLISHED, message_key, message)
    ctx.respond(record)
    bpmn = BpmnBehavior(ctx, services.processes)
    correlated_processes: set[str] = set()
    for subscription in list(ctx.state.messages.subscriptions(tenant, name, correlation_key)):
        # A message correlates at most once per process (bpmnProcessId), as in Zeebe.
        if subscription["bpmnProcessId"] in correlated_processes:
            continue
        if message_subscription.is_remote(ctx, subscription):  # an instance on another partition
            if message_subscription.offer(ctx, subscription, message_key, variables):
                correlated_processes.add(subscription["bpmnProcessId"])
            continue
        if correlate(bpmn, subscription, message_key, variables):
            correlated_processes.add(subscription["bpmnProcessId"])
    for subscription in list(ctx.state.messages.start_subscriptions(tenant, name)):
        process_id = subscription["bpmnProcessId"]
        if process_id in correlated_processes:
            continue
        if correlation_key and ctx.state.messages.start_lock(tenant, process_id, correlation_key) is not None:
            continue  # an instance this key started is still active
        correlated_processes.add(process_id)
        process_def = ctx.state.processes.get(subscription["processDefinitionKey"])
        instance_key = ctx.keys.next()
        correlated = dict(subscription, messageKey=message_key, correlationKey=correlation_key, processInstanceKey=instance_key, variables=variables)
        ctx.event(ValueType.MESSAGE_START_EVENT_SUBSCRIPTION, MessageStartEventSubscriptionIntent.CORRELATED, subscription["processDefinitionKey"], correlated)
        start_instance(bpmn, process_def, subscription["startEventId"], variables, pi_key=instance_key)
    bpmn.run()


def expire_message(ctx: ProcessingContext, services: Services) -> None:
    message = ctx.state.messages.get(ctx.command.key)
    if message is None or message["deadline"] > ctx.now_ms:
        raise RejectionError(RejectionType.INVALID_STATE, expected("expire message", "it is gone or not yet due", ctx.command.key))
    ctx.event(ValueType.MESSAGE, MessageIntent.EXPIRED, ctx.command.key, message)
