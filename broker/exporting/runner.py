"""One exporter's thread: it follows the partition's committed records with its own log cursor
and hands them to the exporter, and runs the exporter's scheduled tasks.

An exporter that raises (from `open`, `export` or a scheduled task) is tried again after an
exponential back-off (`exporter_retry_backoff_initial_ms`, doubled per failure up to
`exporter_retry_backoff_max_ms`); a record whose `export` raised is offered again. Because each
exporter has its own thread, one that fails, or hangs in a request to a server that does not
answer, holds back only itself: never the other exporters, never processing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from propolis.broker.config import BrokerConfig
from propolis.broker.exporting import positions
from propolis.broker.exporting.container import ExporterContainer, TaskQueue
from propolis.broker.exporting.loader import ConfiguredExporter
from propolis.broker.metrics import BrokerMetrics
from propolis.broker.state.store import Store
from propolis.log import Log, LogCursor, PositionCompactedError

from propolis.records import Record

log = logging.getLogger(__name__)

IDLE_WAIT_S = 1.0


class ExporterRunner:
    def __init__(
        self,
        partition_id: int,
        configured: ConfiguredExporter,
        acknowledged: int,
        log_: Log,
        store: Store,
        committed_position: Callable[[], int],
        config: BrokerConfig,
        metrics: BrokerMetrics,
    ) -> None:
        self.partition_id = partition_id
        self._label = str(partition_id)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._tasks = TaskQueue(self._wake.set)
        self.container = ExporterContainer(configured, acknowledged, self._tasks)
        self.exporter_id = configured.exporter_id
        self._log = log_
        self._store = store
        self._committed_position = committed_position
        self._config = config
        self._metrics = metrics
        self._persisted = acknowledged
        self._last_persist = 0.0
        self._cursor: LogCursor | None = None
        if acknowledged < 0:
            self.container.next_position = log_.first_position
        self._thread = threading.Thread(
            target=self._run, name=f"exporter-{partition_id}-{self.exporter_id}", daemon=True
        )

    # -- control, from other threads ----------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def join(self, timeout_s: float) -> bool:
        """Wait for the thread; False if it is still running (an exporter that hangs)."""
        self._thread.join(timeout=timeout_s)
        return not self._thread.is_alive()

    # -- the thread --------------------------------------------------------------------
    def _run(self) -> None:
        container = self.container
        try:
            while not self._stopping.is_set():
                self._open_if_due()
                self._run_due_tasks()
                read = self._export_round()
                self._persist(force=False)
                self._update_metrics()
                if read == 0:
                    self._wake.wait(self._wait_s())
                    self._wake.clear()
        except BaseException:
            log.exception("exporter thread stopped after an unexpected error",
                          extra={"partition": self.partition_id, "exporter": self.exporter_id})
        finally:
            container.cancel_tasks()
            if container.opened:
                try:
                    container.exporter.close()
                except Exception:
                    log.exception("exporter raised from close",
                                  extra={"partition": self.partition_id, "exporter": self.exporter_id})
                container.opened = False
            self._persist(force=True)
            self._update_metrics()

    def _open_if_due(self) -> None:
        container = self.container
        if container.opened or container.retry_at > time.monotonic():
            return
        try:
            container.exporter.open(container.controller)
        except Exception:
            self._failed("open")
            return
        container.opened = True
        container.failures = 0
        log.info("exporter opened", extra={"partition": self.partition_id, "exporter": self.exporter_id,
                                           "from_position": container.next_position})

    def _run_due_tasks(self) -> None:
        for task in self._tasks.pop_due(time.monotonic()):
            try:
                task.run()
            except Exception:
                self._failed("scheduled task")

    def _export_round(self) -> int:
        """Offer the records after the exporter's position (at most
        `exporter_read_records_max`); returns how many were read."""
        container = self.container
        if not container.opened or container.retry_at > time.monotonic():
            return 0
        committed = self._committed_position()
        start = container.next_position
        if start > committed:
            return 0
        read = exported = 0
        try:
            if start < self._log.first_position:
                raise PositionCompactedError(f"position {start} was compacted away")
            if self._cursor is None or self._cursor.next_position != start:
                # The cursor goes on where it stopped; it seeks again only after a failed export.
                self._cursor = self._log.cursor(start)
            for position, payload in self._cursor.read(committed, self._config.exporter_read_records_max):
                read += 1
                record = Record.decode(payload)
                if not container.record_filter.accepts(record):
                    container.skipped(record)
                    continue
                try:
                    container.exporter.export(record)
                except Exception:
                    self._failed(f"export of position {position}")
                    break
                container.failures = 0
                container.handed(record)
                exported += 1
                if self._stopping.is_set():
                    break
        except PositionCompactedError:
            self._cursor = None
            self._skip_compacted()
        if exported:
            self._metrics.exported_records.labels(self._label, self.exporter_id).inc(exported)
        return read

    def _skip_compacted(self) -> None:
        first = self._log.first_position
        container = self.container
        if container.next_position < first:
            # Only possible for an exporter added after the log was compacted: it starts with
            # what the log still holds.
            log.warning(
                "records before the log's first position are gone; the exporter starts there",
                extra={"partition": self.partition_id, "exporter": self.exporter_id,
                       "wanted_position": container.next_position, "first_position": first},
            )
            container.next_position = first

    def _failed(self, what: str) -> None:
        container = self.container
        container.failures += 1
        backoff_ms = min(
            self._config.exporter_retry_backoff_initial_ms * 2 ** (container.failures - 1),
            self._config.exporter_retry_backoff_max_ms,
        )
        container.retry_at = time.monotonic() + backoff_ms / 1000
        self._metrics.exporter_failures.labels(self._label, self.exporter_id).inc()
        log.warning(
            "exporter failed; retrying after back-off",
            exc_info=True,
            extra={"partition": self.partition_id, "exporter": self.exporter_id, "during": what,
                   "failures": container.failures, "retry_in_ms": backoff_ms},
        )

    def _wait_s(self) -> float:
        now = time.monotonic()
        wake_at = now + IDLE_WAIT_S
        next_task = self._tasks.next_due()
        if next_task is not None:
            wake_at = min(wake_at, next_task)
        if self.container.retry_at > now:
            wake_at = min(wake_at, self.container.retry_at)
        return max(wake_at - now, 0.0)

    def _persist(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_persist < self._config.exporter_positions_persist_interval_ms / 1000:
            return
        self._last_persist = now
        acknowledged = self.container.acknowledged
        if acknowledged > self._persisted:
            positions.write_positions(self._store, {self.exporter_id: acknowledged})
            self._persisted = acknowledged

    def _update_metrics(self) -> None:
        acknowledged = self.container.acknowledged
        committed = self._committed_position()
        self._metrics.exporter_position.labels(self._label, self.exporter_id).set(acknowledged)
        self._metrics.exporter_lag.labels(self._label, self.exporter_id).set(max(committed - max(acknowledged, 0), 0))
