"""Admission of new work by the job backlog: a partition refuses to start new instances while
the jobs it already started wait too long for a worker.

Why a second limit beside the in-flight limit (backpressure.py): a creation is cheap at the
partition, so the in-flight limit admits creations much faster than whole instances can be
worked off (a job cycle costs a gateway round trip, a worker and the completion). The surplus
does not wait as commands, it waits as activatable jobs, where the in-flight limit cannot see
it, and every instance's latency grows with that backlog.

The signal is the *job wait*: how long a job was activatable before a worker activated it
(from the batch that made it activatable to the batch that activated it). It sees the whole
cost of an instance, whatever makes the workers slow (the gateway, the workers, the GIL they
share), and it has no samples when no worker asks for jobs, so a model whose jobs nobody takes
yet (or long-running work held by workers) never makes the partition refuse creations.

Rule: new work (instance creation, message publication) is refused while the mean job wait of
the jobs activated in the last `window_ms` is over `job_wait_target_ms`, unless less than
`new_work_rate_min_per_s` was admitted lately (light load is never refused). A window without
activations opens the gate again: the backlog that closed it has been worked off, or nobody is
working on it. The refusal is a gate, not a rate: while it is closed the backlog drains, and
the first jobs created after it opens are activated quickly, which keeps it open. Commands
that finish work are never refused here.

Off by default (BrokerConfig.backpressure_job_wait_target_ms = 0): it cannot tell a backlog
that workers cannot keep up with from one that a worker started late just took (both show long
waits), and the second must not refuse creations.

Time is passed in (seconds, monotonic), so the logic is a deterministic function of its inputs.
Thread safety: `job_activatable`/`job_activated`/`job_gone` are called by the partition thread,
`admits_new_work` by callers' threads; a lock guards the shared state.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from propolis.decaying_rate import DecayingRate


@dataclass(frozen=True, slots=True)
class WorkAdmissionSettings:
    # 0 turns the gate off (new work is then only limited by the in-flight limit).
    job_wait_target_ms: float = 100.0
    window_ms: float = 500.0
    # Jobs whose activatable time is remembered; the oldest are forgotten beyond it (a job
    # nobody takes must not hold memory forever; a forgotten job just gives no sample).
    tracked_jobs_max: int = 100_000
    # Job waits kept for the window's mean; the oldest are dropped beyond it.
    samples_max: int = 10_000
    # New work is never refused while less than this much per second was admitted (over about
    # a second): light load is never refused, even when a worker just took a backlog of old
    # jobs (started after them) or other processes slow this machine down.
    new_work_rate_min_per_s: float = 50.0


class WorkAdmission:
    def __init__(self, settings: WorkAdmissionSettings) -> None:
        if settings.window_ms <= 0 or settings.tracked_jobs_max < 1 or settings.samples_max < 1:
            raise ValueError(f"expected a positive window and bounds, got {settings}")
        self.settings = settings
        self._activatable_since_s: dict[int, float] = {}  # job key -> when it became activatable
        self._waits: deque[tuple[float, float]] = deque()  # (activated at, wait), oldest first
        self._wait_sum_s = 0.0
        self._admitted = DecayingRate(window_s=1.0)  # new work admitted, over about a second
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.settings.job_wait_target_ms > 0

    def job_activatable(self, job_key: int, now_s: float) -> None:
        """A job was created, or became activatable again (timed out, failed with retries)."""
        if not self.enabled:
            return
        tracked = self._activatable_since_s
        tracked.pop(job_key, None)
        if len(tracked) >= self.settings.tracked_jobs_max:
            del tracked[next(iter(tracked))]  # the oldest
        tracked[job_key] = now_s

    def job_gone(self, job_key: int) -> None:
        """A job ended (completed, canceled, error thrown, out of retries) without a sample."""
        self._activatable_since_s.pop(job_key, None)

    def job_activated(self, job_key: int, now_s: float) -> None:
        since_s = self._activatable_since_s.pop(job_key, None)
        if since_s is None:
            return
        wait_s = max(0.0, now_s - since_s)
        with self._lock:
            self._waits.append((now_s, wait_s))
            self._wait_sum_s += wait_s
            if len(self._waits) > self.settings.samples_max:
                self._wait_sum_s -= self._waits.popleft()[1]
            self._expire(now_s)

    def mean_job_wait_ms(self, now_s: float) -> float | None:
        """Mean wait of the jobs activated within the window, None without any."""
        with self._lock:
            self._expire(now_s)
            if not self._waits:
                return None
            return max(0.0, self._wait_sum_s) / len(self._waits) * 1000

    def admits_new_work(self, now_s: float) -> bool:
        """Whether to take one more command that starts new work (counted when True)."""
        if not self.enabled:
            return True
        with self._lock:
            rate_per_s = self._admitted.per_s(now_s)
        if rate_per_s >= self.settings.new_work_rate_min_per_s:
            mean_ms = self.mean_job_wait_ms(now_s)
            if mean_ms is not None and mean_ms > self.settings.job_wait_target_ms:
                return False
        with self._lock:
            self._admitted.count(now_s)
        return True

    def _expire(self, now_s: float) -> None:
        since_s = now_s - self.settings.window_ms / 1000
        waits = self._waits
        while waits and waits[0][0] < since_s:
            self._wait_sum_s -= waits.popleft()[1]
        if not waits:
            self._wait_sum_s = 0.0  # no float drift carried across idle windows
