"""RESOURCE_DELETION DELETE: delete a process definition by its key.

A definition with active instances is refused (they still need their model). Deleting the
latest version closes its message, signal and timer start events and makes the highest
version left the latest, whose start events open again. Version numbers are never reused.
"""

from __future__ import annotations

from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError
from propolis.broker.processing import tenancy
from propolis.broker.processing.deployment import replace_start_subscriptions
from propolis.broker.processing.services import Services

from propolis.records import ProcessIntent, RejectionType, ResourceDeletionIntent, ValueType


def delete_resource(ctx: ProcessingContext, services: Services) -> None:
    key = ctx.command.key
    if ctx.partition_count > 1:
        # Whether a definition still has instances is known per partition only; deleting it
        # safely across partitions needs a round of questions this version does not ask.
        raise RejectionError(
            RejectionType.INVALID_STATE,
            f"Expected to delete resource `{key}`, but deleting resources is supported with one "
            f"partition only (this cluster has {ctx.partition_count})",
        )
    process_def = ctx.state.processes.get(key)
    if process_def is None or not tenancy.may_access(ctx.command, process_def["tenantId"]):
        raise RejectionError(RejectionType.NOT_FOUND, f"Expected to delete resource but no resource found with key `{key}`")
    running = ctx.state.processes.running_instances(key)
    if running:
        raise RejectionError(
            RejectionType.INVALID_STATE,
            f"Expected to delete process definition '{process_def['bpmnProcessId']}' version {process_def['version']} (key {key}), "
            f"but it has {running} active process instance(s); cancel them or let them complete first",
        )
    tenant, process_id = process_def["tenantId"], process_def["bpmnProcessId"]
    was_latest = ctx.state.processes.latest_version(tenant, process_id)["processDefinitionKey"] == key
    if was_latest:
        replace_start_subscriptions(ctx, services, process_def, None, None)
    deleted = {k: v for k, v in process_def.items() if k != "resource"}
    ctx.event(ValueType.PROCESS, ProcessIntent.DELETED, key, process_def, tenant)
    if was_latest:
        now_latest = ctx.state.processes.latest_version(tenant, process_id)
        if now_latest is not None:
            replace_start_subscriptions(ctx, services, None, now_latest, services.processes.get(ctx.state, now_latest["processDefinitionKey"]))
    record = ctx.event(ValueType.RESOURCE_DELETION, ResourceDeletionIntent.DELETED, key, {"resourceKey": key, "tenantId": tenant, **{k: deleted[k] for k in ("bpmnProcessId", "version")}}, tenant)
    ctx.respond(record)
