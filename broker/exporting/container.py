"""One exporter as the director sees it: where it is in the log, what it acknowledged, when it
may be tried again, and the controller it was given.

Positions, per exporter:
- `next_position`: the next record to offer (the director's cursor);
- `last_handed`: the last record passed to `export` without it raising;
- `acknowledged`: what the exporter confirmed through its controller (persisted by the
  director). Records its filter refuses count as acknowledged as soon as everything handed
  before them is: an exporter that only wants jobs must not hold back compaction.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from propolis.broker.exporting.loader import ConfiguredExporter
from propolis.exporters.api import Exporter, ExporterContext, RecordFilter

from propolis.records import Record


@dataclass(order=True)
class _Task:
    due: float
    sequence: int
    run: Callable[[], None] = field(compare=False)
    owner: ExporterContainer = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class TaskQueue:
    """Delayed tasks, run on the exporter's thread; scheduling is safe from any thread."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._heap: list[_Task] = []
        self._lock = threading.Lock()
        self._sequence = itertools.count()
        self._wake = wake

    def schedule(self, owner: ExporterContainer, delay_ms: int, run: Callable[[], None]) -> _Task:
        task = _Task(time.monotonic() + max(delay_ms, 0) / 1000, next(self._sequence), run, owner)
        with self._lock:
            heapq.heappush(self._heap, task)
        self._wake()
        return task

    def pop_due(self, now: float) -> list[_Task]:
        due = []
        with self._lock:
            while self._heap and self._heap[0].due <= now:
                task = heapq.heappop(self._heap)
                if not task.cancelled:
                    due.append(task)
        return due

    def next_due(self) -> float | None:
        with self._lock:
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            return self._heap[0].due if self._heap else None

    def cancel_all(self, owner: ExporterContainer) -> None:
        with self._lock:
            for task in self._heap:
                if task.owner is owner:
                    task.cancelled = True


class ExporterContainer:
    def __init__(self, configured: ConfiguredExporter, acknowledged: int, tasks: TaskQueue) -> None:
        self.exporter_id = configured.exporter_id
        self.exporter: Exporter = configured.exporter
        self.context: ExporterContext = configured.context
        self._lock = threading.Lock()
        self._acknowledged = acknowledged
        self.last_handed = -1
        self._skipped_through = -1
        self.next_position = acknowledged + 1
        self.opened = False
        self.failures = 0  # consecutive
        self.retry_at = 0.0  # monotonic
        self._tasks = tasks
        self.controller = _Controller(self)

    @property
    def record_filter(self) -> RecordFilter:
        return self.context.record_filter

    @property
    def acknowledged(self) -> int:
        return self._acknowledged

    def acknowledge(self, position: int) -> None:
        with self._lock:
            if position >= self.last_handed:
                # All it was handed is done: so are the records its filter refused since.
                position = max(position, self._skipped_through)
            if position > self._acknowledged:
                self._acknowledged = position

    def handed(self, record: Record) -> None:
        with self._lock:
            self.last_handed = record.position
        self.next_position = record.position + 1

    def skipped(self, record: Record) -> None:
        with self._lock:
            if self._acknowledged >= self.last_handed:
                self._acknowledged = max(self._acknowledged, record.position)
            else:
                self._skipped_through = record.position
        self.next_position = record.position + 1

    def schedule(self, delay_ms: int, run: Callable[[], None]) -> _Task:
        return self._tasks.schedule(self, delay_ms, run)

    def cancel_tasks(self) -> None:
        self._tasks.cancel_all(self)


class _Controller:
    """The `ExporterController` given to `Exporter.open`."""

    def __init__(self, container: ExporterContainer) -> None:
        self._container = container

    def update_last_exported_position(self, position: int) -> None:
        self._container.acknowledge(position)

    def get_last_exported_position(self) -> int:
        return self._container.acknowledged

    def schedule_cancellable_task(self, delay_ms: int, task: Callable[[], None]) -> _Task:
        return self._container.schedule(delay_ms, task)
