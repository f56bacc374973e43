"""Parked job activations and the news that wakes them.

A long poll (ActivateJobs) or a job stream that found no job parks as a `JobWaiter` of its job
type. The broker announces, on one of its threads, job types that may have become activatable;
the announcements are collected under a lock and handed to the event loop in one call (one
`call_soon_threadsafe` however many arrive meanwhile).

News of a type wakes *one* parked waiter, not all: each wake costs an activation command on
every partition, and one waiter can take as many jobs as it asked for. Whoever took a full batch
(so more jobs may wait) or holds news it did not act on passes the news on to the next parked
waiter. Waiters are woken in turn (the woken one goes to the back). When no waiter of the type
is parked, every busy one is marked: each of them retries at once if its current attempt
comes back empty, instead of parking past the news.

Tenants: waiters are grouped by the tenants they ask for, and news from the broker (which names
a job type, not a tenant) wakes one waiter *of each group*, so a flood of one tenant's jobs
cannot keep another tenant's workers parked: each group's woken waiter passes news on only
within its group.

Invariant: news is never dropped while a waiter of its type is registered. A waiter consumes
news only by starting an activation after it (`consume()` right before activating); one that
leaves with unconsumed news passes it on (`unregister`).
"""

from __future__ import annotations

import asyncio
import logging
import threading

log = logging.getLogger(__name__)


class JobWaiter:
    __slots__ = ("job_type", "tenants", "parked", "_news")

    def __init__(self, job_type: str, tenants: tuple[str, ...] = ()) -> None:
        self.job_type = job_type
        self.tenants = tenants
        self.parked = False
        self._news = asyncio.Event()

    @property
    def woken(self) -> bool:
        return self._news.is_set()

    def wake(self) -> None:
        self._news.set()

    def consume(self) -> bool:
        """Take the news (if any) before an activation attempt; True if there was news."""
        if self._news.is_set():
            self._news.clear()
            return True
        return False

    async def park(self, timeout_s: float) -> bool:
        """Wait for news up to `timeout_s`; True if news came (or was already there)."""
        if self._news.is_set():
            return True
        self.parked = True
        try:
            async with asyncio.timeout(timeout_s):
                await self._news.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self.parked = False


class JobNotifications:
    """Job-type news from the broker, delivered to parked waiters on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # Per job type, the registered waiters in wake order (a dict as an ordered set).
        self._waiters: dict[str, dict[JobWaiter, None]] = {}
        self._lock = threading.Lock()
        self._pending_types: set[str] = set()
        self._drain_scheduled = False
        self._closed = False

    # -- broker thread ----------------------------------------------------------------------
    def on_jobs_available(self, job_type: str) -> None:
        """The broker's listener: runs on a broker thread, only hands the news over."""
        with self._lock:
            if self._closed:
                return
            self._pending_types.add(job_type)
            if self._drain_scheduled:
                return
            self._drain_scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._pending_types.clear()

    # -- event loop -------------------------------------------------------------------------
    def _drain(self) -> None:
        with self._lock:
            job_types = self._pending_types
            self._pending_types = set()
            self._drain_scheduled = False
        for job_type in job_types:
            self.notify(job_type)

    def register(self, job_type: str, tenants: tuple[str, ...] = ()) -> JobWaiter:
        waiter = JobWaiter(job_type, tenants)
        self._waiters.setdefault(job_type, {})[waiter] = None
        return waiter

    def unregister(self, waiter: JobWaiter) -> None:
        waiters = self._waiters.get(waiter.job_type)
        if waiters is not None:
            waiters.pop(waiter, None)
            if not waiters:
                del self._waiters[waiter.job_type]
        if waiter.consume():
            self.notify(waiter.job_type, tenants=waiter.tenants)

    def notify(
        self, job_type: str, passed_by: JobWaiter | None = None, tenants: tuple[str, ...] | None = None
    ) -> None:
        """News of `job_type` for the waiters asking for `tenants` (None: for every group;
        `passed_by` given: for its group): in each group, wake the next parked waiter, or mark
        every busy one."""
        waiters = self._waiters.get(job_type)
        if not waiters:
            return
        if passed_by is not None:
            tenants = passed_by.tenants
        groups = {w.tenants for w in waiters} if tenants is None else {tenants}
        for group in groups:
            self._notify_group(waiters, group, passed_by)

    @staticmethod
    def _notify_group(waiters: dict[JobWaiter, None], group: tuple[str, ...], passed_by: JobWaiter | None) -> None:
        for waiter in waiters:
            if waiter.tenants == group and waiter.parked and not waiter.woken and waiter is not passed_by:
                waiter.wake()
                del waiters[waiter]  # to the back: the next news goes to another waiter
                waiters[waiter] = None
                return
        for waiter in waiters:
            if waiter.tenants == group and waiter is not passed_by:
                waiter.wake()

    def parked_count(self, job_type: str) -> int:
        return sum(1 for waiter in self._waiters.get(job_type, ()) if waiter.parked)
