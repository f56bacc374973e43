"""Appliers for incidents. Resolving a job's incident makes the job activatable again."""

from __future__ import annotations

from propolis.broker.state import State

from propolis.records import IncidentIntent, Record, ValueType


def _mark_element(state: State, element_instance_key: int, incident_key: int) -> None:
    instance = state.element_instances.get(element_instance_key)
    if instance is not None:
        instance["incidentKey"] = incident_key
        state.element_instances.put(instance)


def incident_created(state: State, record: Record) -> None:
    state.incidents.put(record.key, record.value)
    _mark_element(state, record.value["elementInstanceKey"], record.key)


def incident_resolved(state: State, record: Record) -> None:
    state.incidents.remove(record.key)
    _mark_element(state, record.value["elementInstanceKey"], -1)
    job_key = record.value.get("jobKey", -1)
    job = state.jobs.get(job_key) if job_key > 0 else None
    if job is not None and job["retries"] > 0:
        job.update(deadline=-1, recurringTime=-1, worker="")
        state.jobs.set_state(job_key, job, "ACTIVATABLE")


APPLIERS = {
    (ValueType.INCIDENT, IncidentIntent.CREATED): incident_created,
    (ValueType.INCIDENT, IncidentIntent.RESOLVED): incident_resolved,
}
