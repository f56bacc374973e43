"""DEPLOYMENT CREATE: parse, validate and version BPMN resources."""

from __future__ import annotations

import hashlib

from propolis.bpmn.errors import BpmnError
from propolis.bpmn.model import Process
from propolis.bpmn.parser import parse_bpmn
from propolis.bpmn.timers import TimerValueError
from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError
from propolis.broker.processing import timers
from propolis.broker.processing.bpmn_behavior import BpmnBehavior
from propolis.broker.processing.distribution import DEPLOYMENT_PARTITION_ID, distribute
from propolis.broker.processing.services import Services

from propolis.records import (
    DeploymentIntent,
    MessageStartEventSubscriptionIntent,
    ProcessIntent,
    RejectionType,
    SignalSubscriptionIntent,
    ValueType,
)

BPMN_SUFFIXES = (".bpmn", ".xml")


def create_deployment(ctx: ProcessingContext, services: Services) -> None:
    if ctx.partition_count > 1 and ctx.command.partition_id != DEPLOYMENT_PARTITION_ID:
        # Versions and keys are decided in one place, then distributed to every partition.
        raise RejectionError(
            RejectionType.INVALID_ARGUMENT,
            f"Expected to deploy on partition {DEPLOYMENT_PARTITION_ID}, which distributes deployments "
            f"to the others, but the deployment reached partition {ctx.command.partition_id}",
        )
    resources = ctx.command.value.get("resources") or []
    if not resources:
        raise RejectionError(RejectionType.INVALID_ARGUMENT, "Expected to deploy at least one resource, but none given")
    tenant = ctx.command.tenant_id
    errors: list[str] = []
    parsed = []
    seen_ids: dict[str, str] = {}
    for resource in resources:
        name = resource.get("resourceName") or "<unnamed>"
        content = resource.get("resource") or b""
        if not name.endswith(BPMN_SUFFIXES):
            errors.append(f"'{name}': expected a BPMN resource (a name ending in .bpmn or .xml); DMN decisions and forms are not supported yet")
            continue
        try:
            definitions = parse_bpmn(content, name)
        except BpmnError as error:
            errors.append(f"'{name}': {error}")
            continue
        for process in definitions.processes:
            problem = _start_event_problem(process)
            if problem:
                errors.append(f"'{name}': {problem}")
            if process.id in seen_ids:
                errors.append(f"'{name}': duplicated process id '{process.id}' (also in '{seen_ids[process.id]}')")
            seen_ids[process.id] = name
            parsed.append((name, content, process))
    if errors:
        raise RejectionError(
            RejectionType.INVALID_ARGUMENT,
            "Expected to deploy new resources, but encountered the following errors:\n" + "\n".join(errors),
        )
    deployment_key = ctx.keys.next()
    metadata = []
    created = []
    for name, content, process in parsed:
        checksum = hashlib.sha256(content).hexdigest()
        latest = ctx.state.processes.latest_version(tenant, process.id)
        if latest is not None and latest["checksum"] == checksum:
            metadata.append(_metadata(latest, duplicate=True))
            continue
        version = ctx.state.processes.next_version(tenant, process.id)
        key = ctx.keys.next()
        stored = {
            "bpmnProcessId": process.id,
            "version": version,
            "processDefinitionKey": key,
            "resourceName": name,
            "checksum": checksum,
            "resource": content,
            "tenantId": tenant,
            "deploymentKey": deployment_key,
        }
        ctx.event(ValueType.PROCESS, ProcessIntent.CREATED, key, stored)
        services.processes.put(key, process)
        replace_start_subscriptions(ctx, services, latest, stored, process)
        metadata.append(_metadata(stored, duplicate=False))
        created.append(stored)
    if created:
        # Every partition runs instances of every process: send the new versions, with their
        # keys and versions as decided here, to the other partitions.
        for partition_id in range(1, ctx.partition_count + 1):
            if partition_id != ctx.command.partition_id:
                distribute(ctx, partition_id, ValueType.DEPLOYMENT, DeploymentIntent.DISTRIBUTE, deployment_key, {"processes": created, "tenantId": tenant})
    record = ctx.event(
        ValueType.DEPLOYMENT,
        DeploymentIntent.CREATED,
        deployment_key,
        {"resources": [{"resourceName": r.get("resourceName", "")} for r in resources], "processesMetadata": metadata, "tenantId": tenant},
    )
    ctx.respond(record)


def receive_deployment(ctx: ProcessingContext, services: Services) -> None:
    """DEPLOYMENT DISTRIBUTE: the process versions that partition 1 deployed, stored here with
    the same keys and versions; their start events open here as on partition 1 (timer start
    events excepted: those fire on partition 1 only, or each would start an instance)."""
    value = ctx.command.value
    for stored in value["processes"]:
        key = stored["processDefinitionKey"]
        if ctx.state.processes.get(key) is not None:
            continue
        latest = ctx.state.processes.latest_version(stored["tenantId"], stored["bpmnProcessId"])
        ctx.event(ValueType.PROCESS, ProcessIntent.CREATED, key, stored, stored["tenantId"])
        if latest is None or latest["version"] < stored["version"]:
            replace_start_subscriptions(ctx, services, latest, stored, services.processes.get(ctx.state, key))
    ctx.event(
        ValueType.DEPLOYMENT, DeploymentIntent.DISTRIBUTED, ctx.command.key,
        {"processesMetadata": [_metadata(p, duplicate=False) for p in value["processes"]], "tenantId": value["tenantId"]},
        value["tenantId"],
    )


def _metadata(process: dict, duplicate: bool) -> dict:
    return {
        "bpmnProcessId": process["bpmnProcessId"],
        "version": process["version"],
        "processDefinitionKey": process["processDefinitionKey"],
        "resourceName": process["resourceName"],
        "checksum": process["checksum"],
        "isDuplicate": duplicate,
        "tenantId": process["tenantId"],
    }


def _start_event_problem(process: Process) -> str | None:
    """A timer start event's value is known at deployment (it sees no variables): check it."""
    for start_id in process.event_start_ids:
        start = process.elements[start_id]
        if start.timer is None:
            continue
        what = f"time{start.timer.kind.capitalize()} of timer start event '{start_id}'"
        try:
            text = timers.to_text(start.timer.value.evaluate({}), what)
            {"duration": timers.parse_duration, "date": timers.parse_date, "cycle": timers.parse_cycle}[start.timer.kind](text)
        except TimerValueError as error:
            return f"the {what} ({start.timer.value.source}) is not a valid timer value: {error}"
    return None


def replace_start_subscriptions(ctx: ProcessingContext, services: Services, previous: dict | None, stored: dict | None, process: Process | None) -> None:
    """Message, signal and timer start events belong to the latest version only, as in Zeebe:
    deploying a new version closes those of the one before (`previous`) and opens its own
    (`stored`, `process`); either may be None."""
    bpmn = BpmnBehavior(ctx, services.processes)
    if previous is not None:
        old = services.processes.get(ctx.state, previous["processDefinitionKey"])
        if old.event_start_ids:
            old_key = previous["processDefinitionKey"]
            for start_id in old.event_start_ids:
                start = old.elements[start_id]
                if start.message is not None:
                    subscription = _message_start(previous, start)
                    ctx.event(ValueType.MESSAGE_START_EVENT_SUBSCRIPTION, MessageStartEventSubscriptionIntent.DELETED, old_key, subscription)
            for subscription in list(ctx.state.signals.subscriptions_of(old_key)):
                ctx.event(ValueType.SIGNAL_SUBSCRIPTION, SignalSubscriptionIntent.DELETED, old_key, subscription)
            timers.cancel_start_timers(bpmn, old_key)
    if stored is None:
        return
    key = stored["processDefinitionKey"]
    for start_id in process.event_start_ids:
        start = process.elements[start_id]
        if start.message is not None:
            ctx.event(ValueType.MESSAGE_START_EVENT_SUBSCRIPTION, MessageStartEventSubscriptionIntent.CREATED, key, _message_start(stored, start))
        elif start.signal_name is not None:
            subscription = {
                "signalName": start.signal_name.evaluate({}),
                "processDefinitionKey": key,
                "bpmnProcessId": stored["bpmnProcessId"],
                "catchEventId": start_id,
                "catchEventInstanceKey": -1,
                "elementInstanceKey": -1,
                "processInstanceKey": -1,
                "interrupting": True,
                "tenantId": stored["tenantId"],
            }
            ctx.event(ValueType.SIGNAL_SUBSCRIPTION, SignalSubscriptionIntent.CREATED, key, subscription)
    if ctx.command.partition_id == DEPLOYMENT_PARTITION_ID:
        timers.start_timers(bpmn, stored, process)


def _message_start(process_def: dict, start) -> dict:
    return {
        "processDefinitionKey": process_def["processDefinitionKey"],
        "bpmnProcessId": process_def["bpmnProcessId"],
        "startEventId": start.id,
        "messageName": start.message.name.evaluate({}),
        "tenantId": process_def["tenantId"],
        "correlationKey": "",
        "messageKey": -1,
        "processInstanceKey": -1,
        "variables": {},
    }
