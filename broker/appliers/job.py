"""Appliers for jobs and job batches."""

from __future__ import annotations

from propolis.broker.state import State

from propolis.records import JobBatchIntent, JobIntent, Record, ValueType

_NOT_STORED = ("variables",)


def _stored(value: dict) -> dict:
    return {k: v for k, v in value.items() if k not in _NOT_STORED}


def job_created(state: State, record: Record) -> None:
    state.jobs.set_state(record.key, _stored(record.value), "ACTIVATABLE")
    instance = state.element_instances.get(record.value["elementInstanceKey"])
    if instance is not None:
        instance["jobKey"] = record.key
        state.element_instances.put(instance)


def jobs_activated(state: State, record: Record) -> None:
    for job_key, job in zip(record.value["jobKeys"], record.value["jobs"], strict=True):
        stored = state.jobs.get(job_key)
        if stored is not None:
            stored.update(deadline=job["deadline"], worker=job["worker"])
            state.jobs.set_state(job_key, stored, "ACTIVATED")


def job_removed(state: State, record: Record) -> None:
    state.jobs.remove(record.key)


def job_failed(state: State, record: Record) -> None:
    stored = state.jobs.get(record.key)
    if stored is None:
        return
    value = record.value
    stored.update(retries=value["retries"], errorMessage=value.get("errorMessage", ""), deadline=-1)
    stored["recurringTime"] = value.get("recurringTime", -1) if value["retries"] > 0 else -1
    if value["retries"] > 0 and stored["recurringTime"] < 0:
        state.jobs.set_state(record.key, stored, "ACTIVATABLE")
    else:
        state.jobs.set_state(record.key, stored, "FAILED")


def job_activatable_again(state: State, record: Record) -> None:
    stored = state.jobs.get(record.key)
    if stored is not None:
        stored.update(deadline=-1, recurringTime=-1, worker="")
        state.jobs.set_state(record.key, stored, "ACTIVATABLE")


def retries_updated(state: State, record: Record) -> None:
    stored = state.jobs.get(record.key)
    if stored is not None:
        stored["retries"] = record.value["retries"]
        state.jobs.put(record.key, stored)


def timeout_updated(state: State, record: Record) -> None:
    stored = state.jobs.get(record.key)
    if stored is not None:
        stored["deadline"] = record.value["deadline"]
        state.jobs.set_state(record.key, stored, "ACTIVATED")


def error_thrown(state: State, record: Record) -> None:
    stored = state.jobs.get(record.key)
    if stored is not None:
        stored.update(errorCode=record.value.get("errorCode", ""), errorMessage=record.value.get("errorMessage", ""))
        state.jobs.set_state(record.key, stored, "ERROR_THROWN")


APPLIERS = {
    (ValueType.JOB, JobIntent.CREATED): job_created,
    (ValueType.JOB_BATCH, JobBatchIntent.ACTIVATED): jobs_activated,
    (ValueType.JOB, JobIntent.COMPLETED): job_removed,
    (ValueType.JOB, JobIntent.CANCELED): job_removed,
    (ValueType.JOB, JobIntent.FAILED): job_failed,
    (ValueType.JOB, JobIntent.TIMED_OUT): job_activatable_again,
    (ValueType.JOB, JobIntent.YIELDED): job_activatable_again,
    (ValueType.JOB, JobIntent.RECURRED_AFTER_BACKOFF): job_activatable_again,
    (ValueType.JOB, JobIntent.RETRIES_UPDATED): retries_updated,
    (ValueType.JOB, JobIntent.TIMEOUT_UPDATED): timeout_updated,
    (ValueType.JOB, JobIntent.ERROR_THROWN): error_thrown,
}
