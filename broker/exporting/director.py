"""The exporter director: hands a partition's committed records to its exporters.

One director per partition, on its own thread, on the partition's leader (with one node, the
partition itself). It never blocks processing: it reads the log through its own readers, up to
the committed position, and the partition only tells it that more was committed.

Each exporter has its own cursor, so one that fails (raises from `open`, `export` or one of its
scheduled tasks) is retried with exponential back-off while the others go on. A record whose
`export` raised is offered again, to that exporter only, after the back-off. Delivery is
at-least-once: acknowledged positions reach the state every
`exporter_positions_persist_interval_ms` and on close; after a crash every exporter starts
after its persisted position, so it may see records again, never miss one. The log is compacted
only below the lowest persisted position (`positions.compaction_floor`).

Exporters stored in the state but no longer configured are forgotten when the director opens
(as Zeebe does), so they stop holding back compaction.
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
CLOSE_TIMEOUT_S = 30.0


class ExporterDirector:
    def __init__(
        self,
        partition_id: int,
        configured: list[ConfiguredExporter],
        log_: Log,
        store: Store,
        committed_position: Callable[[], int],
        config: BrokerConfig,
        metrics: BrokerMetrics,
    ) -> None:
        self.partition_id = partition_id
        self._configured = configured
        self._log = log_
        self._store = store
        self._committed_position = committed_position
        self._config = config
        self._metrics = metrics
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._tasks = TaskQueue(self._wake.set)
        self._containers: list[ExporterContainer] = []
        self._persisted: dict[str, int] = {}
        self._last_persist = 0.0
        self._thread: threading.Thread | None = None
        self._cursor: LogCursor | None = None

    @property
    def exporter_ids(self) -> list[str]:
        return [item.exporter_id for item in self._configured]

    # -- lifecycle ---------------------------------------------------------------------
    def open(self) -> None:
        """Read the stored positions and start the thread (nothing to do without exporters)."""
        stored = positions.read_positions(self._store)
        configured_ids = set(self.exporter_ids)
        forgotten = [exporter_id for exporter_id in stored if exporter_id not in configured_ids]
        if forgotten:
            positions.write_positions(self._store, {}, removed=forgotten)
            log.info("positions of exporters no longer configured removed",
                     extra={"partition": self.partition_id, "exporters": forgotten})
        if not self._configured:
            return
        for item in self._configured:
            acknowledged = stored.get(item.exporter_id, -1)
            self._persisted[item.exporter_id] = acknowledged
            container = ExporterContainer(item, acknowledged, self._tasks)
            if acknowledged < 0:
                container.next_position = self._log.first_position
            self._containers.append(container)
        self._thread = threading.Thread(target=self._run, name=f"exporter-director-{self.partition_id}", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """More records were committed (called by the partition after each batch)."""
        self._wake.set()

    def close(self) -> None:
        """Close the exporters and persist their positions; returns once the thread ended."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=CLOSE_TIMEOUT_S)
            if self._thread.is_alive():
                log.error("exporter director did not stop in time", extra={"partition": self.partition_id})
            self._thread = None

    def acknowledged_positions(self) -> dict[str, int]:
        """The live acknowledged position of each exporter (-1: none)."""
        return {container.exporter_id: container.acknowledged for container in self._containers}

    # -- the thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._open_due()
                self._run_due_tasks()
                read = self._export_round()
                self._persist(force=False)
                self._update_metrics()
                if read == 0:
                    self._wake.wait(self._wait_s())
                    self._wake.clear()
        except BaseException:
            log.exception("exporter director stopped after an unexpected error", extra={"partition": self.partition_id})
        finally:
            self._close_exporters()
            self._persist(force=True)
            self._update_metrics()

    def _open_due(self) -> None:
        now = time.monotonic()
        for container in self._containers:
            if container.opened or container.retry_at > now:
                continue
            try:
                container.exporter.open(container.controller)
            except Exception:
                self._failed(container, "open")
                continue
            container.opened = True
            container.failures = 0
            log.info("exporter opened", extra={"partition": self.partition_id, "exporter": container.exporter_id,
                                               "from_position": container.next_position})

    def _run_due_tasks(self) -> None:
        for task in self._tasks.pop_due(time.monotonic()):
            try:
                task.run()
            except Exception:
                self._failed(task.owner, "scheduled task")

    def _export_round(self) -> int:
        """Offer each ready exporter the records after its cursor (at most
        `exporter_read_records_max`); returns how many records were read."""
        now = time.monotonic()
        ready = [c for c in self._containers if c.opened and c.retry_at <= now]
        committed = self._committed_position()
        ready = [c for c in ready if c.next_position <= committed]
        if not ready:
            return 0
        start = min(c.next_position for c in ready)
        if start < self._log.first_position:
            self._skip_compacted(ready)
            start = min(c.next_position for c in ready)
        label = str(self.partition_id)
        read = 0
        exported: dict[str, int] = {}
        try:
            if self._cursor is None or self._cursor.next_position != start:
                # A cursor goes on where it stopped; only an exporter falling behind the
                # others (back-off) or one starting elsewhere makes it seek again.
                self._cursor = self._log.cursor(start)
            for position, payload in self._cursor.read(committed, self._config.exporter_read_records_max):
                read += 1
                record: Record | None = None
                for container in ready:
                    if container.next_position != position or container.retry_at > now:
                        continue
                    if record is None:
                        record = Record.decode(payload)
                    if not container.record_filter.accepts(record):
                        container.skipped(record)
                        continue
                    try:
                        container.exporter.export(record)
                    except Exception:
                        self._failed(container, f"export of position {position}")
                        continue
                    container.failures = 0
                    container.handed(record)
                    exported[container.exporter_id] = exported.get(container.exporter_id, 0) + 1
                if self._stopping.is_set():
                    break
        except PositionCompactedError:
            self._cursor = None
            self._skip_compacted(ready)
        for exporter_id, count in exported.items():
            self._metrics.exported_records.labels(label, exporter_id).inc(count)
        return read

    def _skip_compacted(self, containers: list[ExporterContainer]) -> None:
        first = self._log.first_position
        for container in containers:
            if container.next_position < first:
                # Only possible for an exporter added after the log was compacted: it starts
                # with what the log still holds.
                log.warning(
                    "records before the log's first position are gone; the exporter starts there",
                    extra={"partition": self.partition_id, "exporter": container.exporter_id,
                           "wanted_position": container.next_position, "first_position": first},
                )
                container.next_position = first

    def _failed(self, container: ExporterContainer, what: str) -> None:
        container.failures += 1
        backoff_ms = min(
            self._config.exporter_retry_backoff_initial_ms * 2 ** (container.failures - 1),
            self._config.exporter_retry_backoff_max_ms,
        )
        container.retry_at = time.monotonic() + backoff_ms / 1000
        self._metrics.exporter_failures.labels(str(self.partition_id), container.exporter_id).inc()
        log.warning(
            "exporter failed; retrying after back-off",
            exc_info=True,
            extra={"partition": self.partition_id, "exporter": container.exporter_id, "during": what,
                   "failures": container.failures, "retry_in_ms": backoff_ms},
        )

    def _wait_s(self) -> float:
        now = time.monotonic()
        wake_at = now + IDLE_WAIT_S
        next_task = self._tasks.next_due()
        if next_task is not None:
            wake_at = min(wake_at, next_task)
        for container in self._containers:
            if container.retry_at > now:
                wake_at = min(wake_at, container.retry_at)
        return max(wake_at - now, 0.0)

    def _persist(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_persist < self._config.exporter_positions_persist_interval_ms / 1000:
            return
        self._last_persist = now
        changed = {
            container.exporter_id: container.acknowledged
            for container in self._containers
            if container.acknowledged > self._persisted.get(container.exporter_id, -1)
        }
        if changed:
            positions.write_positions(self._store, changed)
            self._persisted.update(changed)

    def _update_metrics(self) -> None:
        label = str(self.partition_id)
        committed = self._committed_position()
        for container in self._containers:
            acknowledged = container.acknowledged
            self._metrics.exporter_position.labels(label, container.exporter_id).set(acknowledged)
            self._metrics.exporter_lag.labels(label, container.exporter_id).set(max(committed - max(acknowledged, 0), 0))

    def _close_exporters(self) -> None:
        for container in self._containers:
            container.cancel_tasks()
            if not container.opened:
                continue
            try:
                container.exporter.close()
            except Exception:
                log.exception("exporter raised from close", extra={"partition": self.partition_id, "exporter": container.exporter_id})
            container.opened = False
