"""JOB commands: complete, fail, throw error, update retries/timeout, yield, and the broker's
own time-out and back-off commands."""

from __future__ import annotations

from typing import Any

from propolis.broker.engine.context import ProcessingContext
from propolis.broker.engine.rejections import RejectionError, expected
from propolis.broker.processing import errors, tenancy
from propolis.broker.processing.bpmn_behavior import BpmnBehavior
from propolis.broker.processing.services import Services

from propolis.records import JobIntent, RejectionType, ValueType


def _job(ctx: ProcessingContext, action: str, states: tuple[str, ...]) -> dict[str, Any]:
    key = ctx.command.key
    job = ctx.state.jobs.get(key)
    if job is None or not tenancy.may_access(ctx.command, job["tenantId"]):
        raise RejectionError(RejectionType.NOT_FOUND, expected(action, "no such job was found", key))
    if job["state"] not in states:
        why = {
            "FAILED": "it is in state 'FAILED' (no retries left, or waiting for its retry back-off)",
            "ERROR_THROWN": "an error was thrown for it and is waiting for an incident to be resolved",
            "ACTIVATABLE": "it is not activated",
        }.get(job["state"], f"it is in state '{job['state']}'")
        raise RejectionError(RejectionType.INVALID_STATE, expected(action, why, key))
    return job


def _variables(ctx: ProcessingContext) -> dict[str, Any]:
    variables = ctx.command.value.get("variables") or {}
    if not isinstance(variables, dict):
        raise RejectionError(RejectionType.INVALID_ARGUMENT, f"Expected variables to be a JSON object, but got {type(variables).__name__}")
    return variables


def complete_job(ctx: ProcessingContext, services: Services) -> None:
    job = _job(ctx, "complete job", ("ACTIVATED", "ACTIVATABLE"))
    variables = _variables(ctx)
    record = ctx.event(ValueType.JOB, JobIntent.COMPLETED, ctx.command.key, dict(job, variables=variables), job["tenantId"])
    ctx.respond(record)
    instance = ctx.state.element_instances.get(job["elementInstanceKey"])
    if instance is not None and instance["state"] == "ACTIVATED":
        bpmn = BpmnBehavior(ctx, services.processes)
        bpmn.complete(instance, variables)
        bpmn.run()


def fail_job(ctx: ProcessingContext, services: Services) -> None:
    job = _job(ctx, "fail job", ("ACTIVATED", "ACTIVATABLE"))
    value = ctx.command.value
    retries = int(value.get("retries", 0))
    backoff_ms = max(0, int(value.get("retryBackoff", 0) or 0))
    message = value.get("errorMessage") or ""
    failed = dict(
        job,
        retries=retries,
        errorMessage=message,
        retryBackoff=backoff_ms,
        recurringTime=ctx.now_ms + backoff_ms if retries > 0 and backoff_ms > 0 else -1,
        variables={},
    )
    record = ctx.event(ValueType.JOB, JobIntent.FAILED, ctx.command.key, failed, job["tenantId"])
    ctx.respond(record)
    variables = _variables(ctx)
    instance = ctx.state.element_instances.get(job["elementInstanceKey"])
    bpmn = BpmnBehavior(ctx, services.processes)
    if variables and instance is not None:
        bpmn.set_local_variables(instance, variables)
    if retries > 0:
        if backoff_ms == 0:
            ctx.job_available(job["type"])
    elif instance is not None:
        bpmn.raise_incident(instance, "JOB_NO_RETRIES", message or "No more retries left.", step="job", job_key=ctx.command.key)


def throw_error(ctx: ProcessingContext, services: Services) -> None:
    job = _job(ctx, "throw an error for job", ("ACTIVATED", "ACTIVATABLE"))
    value = ctx.command.value
    code = value.get("errorCode") or ""
    message = value.get("errorMessage") or ""
    record = ctx.event(ValueType.JOB, JobIntent.ERROR_THROWN, ctx.command.key, dict(job, errorCode=code, errorMessage=message, variables={}), job["tenantId"])
    ctx.respond(record)
    instance = ctx.state.element_instances.get(job["elementInstanceKey"])
    if instance is None:
        return
    bpmn = BpmnBehavior(ctx, services.processes)
    variables = value.get("variables") or {}
    if errors.throw(bpmn, instance, code, message, variables if isinstance(variables, dict) else {}):
        bpmn.run()
        return
    bpmn.raise_incident(instance, "UNHANDLED_ERROR_EVENT", errors.unhandled_message(code, message), step="job", job_key=ctx.command.key)


def update_retries(ctx: ProcessingContext, services: Services) -> None:
    retries = int(ctx.command.value.get("retries", 0))
    if retries < 1:
        raise RejectionError(
            RejectionType.INVALID_ARGUMENT,
            expected("update the retries of job", f"the amount given was '{retries}'; it must be at least 1", ctx.command.key),
        )
    job = _job(ctx, "update the retries of job", ("ACTIVATABLE", "ACTIVATED", "FAILED", "ERROR_THROWN"))
    record = ctx.event(ValueType.JOB, JobIntent.RETRIES_UPDATED, ctx.command.key, dict(job, retries=retries, variables={}), job["tenantId"])
    ctx.respond(record)


def update_timeout(ctx: ProcessingContext, services: Services) -> None:
    timeout_ms = int(ctx.command.value.get("timeout", 0))
    job = _job(ctx, "update the timeout of job", ("ACTIVATED",))
    record = ctx.event(ValueType.JOB, JobIntent.TIMEOUT_UPDATED, ctx.command.key, dict(job, deadline=ctx.now_ms + timeout_ms, variables={}), job["tenantId"])
    ctx.respond(record)


def yield_job(ctx: ProcessingContext, services: Services) -> None:
    job = _job(ctx, "yield job", ("ACTIVATED",))
    record = ctx.event(ValueType.JOB, JobIntent.YIELDED, ctx.command.key, dict(job, variables={}), job["tenantId"])
    ctx.respond(record)
    ctx.job_available(job["type"])


def time_out_job(ctx: ProcessingContext, services: Services) -> None:
    job = ctx.state.jobs.get(ctx.command.key)
    if job is None or job["state"] != "ACTIVATED" or job["deadline"] > ctx.now_ms:
        raise RejectionError(RejectionType.INVALID_STATE, expected("time out job", "it is no longer activated or its deadline moved", ctx.command.key))
    ctx.event(ValueType.JOB, JobIntent.TIMED_OUT, ctx.command.key, dict(job, variables={}), job["tenantId"])
    ctx.job_available(job["type"])


def recur_after_backoff(ctx: ProcessingContext, services: Services) -> None:
    job = ctx.state.jobs.get(ctx.command.key)
    if job is None or job["state"] != "FAILED" or not (0 <= job.get("recurringTime", -1) <= ctx.now_ms):
        raise RejectionError(RejectionType.INVALID_STATE, expected("make job activatable after its back-off", "it is not waiting for a back-off", ctx.command.key))
    ctx.event(ValueType.JOB, JobIntent.RECURRED_AFTER_BACKOFF, ctx.command.key, dict(job, variables={}), job["tenantId"])
    ctx.job_available(job["type"])
