"""INCIDENT RESOLVE: clear an incident and retry what it interrupted."""

from __future__ import annotations

from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError, expected
from propolis.broker.processing import tenancy
from propolis.broker.processing.bpmn_behavior import BpmnBehavior
from propolis.broker.processing.services import Services

from propolis.records import IncidentIntent, RejectionType, ValueType


def resolve_incident(ctx: ProcessingContext, services: Services) -> None:
    key = ctx.command.key
    incident = ctx.state.incidents.get(key)
    if incident is None or not tenancy.may_access(ctx.command, incident["tenantId"]):
        raise RejectionError(RejectionType.NOT_FOUND, expected("resolve incident", "no such incident was found", key))
    job_key = incident.get("jobKey", -1)
    job = ctx.state.jobs.get(job_key) if job_key > 0 else None
    if job is not None and job["retries"] <= 0:
        raise RejectionError(
            RejectionType.INVALID_STATE,
            expected("resolve incident", f"job '{job_key}' has no retries left: update the job's retries first", key),
        )
    record = ctx.event(ValueType.INCIDENT, IncidentIntent.RESOLVED, key, incident, incident["tenantId"])
    ctx.respond(record)
    if job is not None:
        ctx.job_available(job["type"])
        return
    bpmn = BpmnBehavior(ctx, services.processes)
    bpmn.retry_after_incident(incident)
    bpmn.run()
