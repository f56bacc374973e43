"""Jobs, and the indexes that find them: activatable by (type, tenant), by deadline, by back-off.

Job `state`: ACTIVATABLE, ACTIVATED, FAILED (no retries left, or waiting for its back-off),
ERROR_THROWN (waiting for an incident to be resolved).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from propolis.broker.state.store import Tables, int2_key, int_key, str_key, unpack_int2


def _activatable_key(job: dict[str, Any], job_key: int) -> bytes:
    return str_key(job["type"], job["tenantId"]) + int_key(job_key)


class JobState:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def get(self, job_key: int) -> dict[str, Any] | None:
        return self._t.get("jobs", int_key(job_key))

    def activatable(self, job_type: str, tenant_id: str) -> Iterator[int]:
        prefix = str_key(job_type, tenant_id)
        for key, _ in self._t.scan("jobs_activatable", prefix):
            yield int.from_bytes(key[len(prefix):], "big", signed=True)

    def deadlines_before(self, now_ms: int) -> Iterator[tuple[int, int]]:
        """(deadline, job key) of activated jobs whose deadline has passed."""
        for key in self._t.scan_until("job_deadlines", int2_key(now_ms + 1, 0)):
            yield unpack_int2(key)

    def backoffs_before(self, now_ms: int) -> Iterator[tuple[int, int]]:
        for key in self._t.scan_until("job_backoffs", int2_key(now_ms + 1, 0)):
            yield unpack_int2(key)

    # -- written by appliers only --
    def put(self, job_key: int, job: dict[str, Any]) -> None:
        self._t.put("jobs", int_key(job_key), job)

    def _unindex(self, job_key: int, job: dict[str, Any]) -> None:
        state = job.get("state")
        if state == "ACTIVATABLE":
            self._t.delete("jobs_activatable", _activatable_key(job, job_key))
        elif state == "ACTIVATED":
            self._t.delete("job_deadlines", int2_key(job["deadline"], job_key))
        elif state == "FAILED" and job.get("recurringTime", -1) >= 0:
            self._t.delete("job_backoffs", int2_key(job["recurringTime"], job_key))

    def set_state(self, job_key: int, job: dict[str, Any], state: str) -> None:
        """Move a job to `state`, keeping the indexes in step. `job` holds the new fields."""
        old = self.get(job_key)
        if old is not None:
            self._unindex(job_key, old)
        job["state"] = state
        if state == "ACTIVATABLE":
            self._t.put_raw("jobs_activatable", _activatable_key(job, job_key))
        elif state == "ACTIVATED":
            self._t.put_raw("job_deadlines", int2_key(job["deadline"], job_key))
        elif state == "FAILED" and job.get("recurringTime", -1) >= 0:
            self._t.put_raw("job_backoffs", int2_key(job["recurringTime"], job_key))
        self.put(job_key, job)

    def remove(self, job_key: int) -> None:
        old = self.get(job_key)
        if old is not None:
            self._unindex(job_key, old)
            self._t.delete("jobs", int_key(job_key))
