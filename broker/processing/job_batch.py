"""JOB_BATCH ACTIVATE: hand activatable jobs of a type to a worker, with their variables."""

from __future__ import annotations

from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError
from propolis.broker.processing.bpmn_behavior import BpmnBehavior
from propolis.broker.processing.services import Services
from propolis.broker.state.store import pack

from propolis.records import (
    DEFAULT_TENANT,
    JobBatchIntent,
    Record,
    RecordType,
    RejectionType,
    ValueType,
)


def activate_jobs(ctx: ProcessingContext, services: Services) -> None:
    value = ctx.command.value
    job_type = value.get("type") or ""
    max_jobs = int(value.get("maxJobsToActivate") or 0)
    timeout_ms = int(value.get("timeout") or 0)
    if not job_type:
        raise RejectionError(RejectionType.INVALID_ARGUMENT, "Expected to activate jobs of a type, but no type was given")
    if max_jobs < 1:
        raise RejectionError(RejectionType.INVALID_ARGUMENT, f"Expected to activate at least one job, but maxJobsToActivate was {max_jobs}")
    if timeout_ms < 1:
        raise RejectionError(RejectionType.INVALID_ARGUMENT, f"Expected to activate jobs with a timeout of at least 1 ms, but it was {timeout_ms}")
    fetch = value.get("fetchVariables") or None
    worker = value.get("worker") or ""
    deadline = ctx.now_ms + timeout_ms
    bpmn = BpmnBehavior(ctx, services.processes)
    budget = services.config.job_batch_bytes_max
    keys: list[int] = []
    jobs: list[dict] = []
    truncated = False
    for tenant in value.get("tenantIds") or [DEFAULT_TENANT]:
        for job_key in ctx.state.jobs.activatable(job_type, tenant):
            if len(keys) >= max_jobs:
                break
            job = ctx.state.jobs.get(job_key)
            variables = bpmn.variables_for(job["elementInstanceKey"]).collect(fetch)
            activated = dict(job, deadline=deadline, worker=worker, variables=variables)
            activated.pop("state", None)
            size = len(pack(activated))
            if size > budget:
                truncated = True
                break
            budget -= size
            keys.append(job_key)
            jobs.append(activated)
    batch = {
        "type": job_type,
        "worker": worker,
        "timeout": timeout_ms,
        "maxJobsToActivate": max_jobs,
        "jobKeys": keys,
        "jobs": jobs,
        "truncated": truncated,
        "tenantIds": value.get("tenantIds") or [DEFAULT_TENANT],
    }
    if not keys:
        # Nothing to write: an empty answer must not grow the log (long polls retry often).
        ctx.respond(Record(RecordType.EVENT, ValueType.JOB_BATCH, JobBatchIntent.ACTIVATED, -1, batch, ctx.command.tenant_id))
        return
    record = ctx.event(ValueType.JOB_BATCH, JobBatchIntent.ACTIVATED, ctx.keys.next(), batch)
    ctx.respond(record)
