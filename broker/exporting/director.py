"""The exporter director: hands a partition's committed records to its exporters.

One director per partition, on the partition's leader (with one node, the partition itself),
and one thread per exporter (runner.py), each with its own log cursor: processing never waits
for an exporter, and an exporter that fails or hangs holds back only itself. The partition only
tells the director that more was committed; the exporters read the log up to the committed
position themselves.

Delivery is at-least-once: acknowledged positions reach the state every
`exporter_positions_persist_interval_ms` and on close (positions.py says where and why); after
a crash every exporter starts after its persisted position, so it may see records again, never
miss one. The log is compacted only below the lowest persisted position
(`positions.compaction_floor`).

Exporters stored in the state but no longer configured are forgotten when the director opens
(as Zeebe does), so they stop holding back compaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from propolis.broker.config import BrokerConfig
from propolis.broker.exporting import positions
from propolis.broker.exporting.loader import ConfiguredExporter
from propolis.broker.exporting.runner import ExporterRunner
from propolis.broker.metrics import BrokerMetrics
from propolis.broker.state.store import Store
from propolis.log import Log

log = logging.getLogger(__name__)

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
        self._runners: list[ExporterRunner] = []

    @property
    def exporter_ids(self) -> list[str]:
        return [item.exporter_id for item in self._configured]

    def open(self) -> None:
        """Read the stored positions and start one thread per exporter."""
        stored = positions.read_positions(self._store)
        configured_ids = set(self.exporter_ids)
        forgotten = [exporter_id for exporter_id in stored if exporter_id not in configured_ids]
        if forgotten:
            positions.write_positions(self._store, {}, removed=forgotten)
            log.info("positions of exporters no longer configured removed",
                     extra={"partition": self.partition_id, "exporters": forgotten})
        for item in self._configured:
            runner = ExporterRunner(
                self.partition_id, item, stored.get(item.exporter_id, -1), self._log, self._store,
                self._committed_position, self._config, self._metrics,
            )
            self._runners.append(runner)
        for runner in self._runners:
            runner.start()

    def notify(self) -> None:
        """More records were committed (called by the partition after each batch)."""
        for runner in self._runners:
            runner.notify()

    def close(self) -> None:
        """Close the exporters and persist their positions, waiting at most CLOSE_TIMEOUT_S."""
        for runner in self._runners:
            runner.stop()
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        for runner in self._runners:
            if not runner.join(max(deadline - time.monotonic(), 0.0)):
                log.error("exporter did not stop in time; its last acknowledgements may be lost",
                          extra={"partition": self.partition_id, "exporter": runner.exporter_id})
        self._runners = []

    def acknowledged_positions(self) -> dict[str, int]:
        """The live acknowledged position of each exporter (-1: none)."""
        return {runner.exporter_id: runner.container.acknowledged for runner in self._runners}
