"""`ReadModelExporter`: exports a partition's events into the SQLite read model.

Configured like any exporter (see `propolis.exporters.api`):

    exporters:
      readModel:
        className: propolis.exporters.read_model.ReadModelExporter
        args: {path: data/read-model.sqlite3, flushIntervalMs: 200, flushRecordsMax: 1000}

Records are applied inside one open SQLite transaction and committed every `flushIntervalMs`
or every `flushRecordsMax` records, whichever comes first; the partition's last applied
position is written in the same transaction, and only after the commit is the position
acknowledged to the controller. A record that fails leaves nothing behind (the transaction
is rolled back and the records before it applied again), so and the director can hand it over again. A record at or below the
stored position is a re-delivery and is skipped: delivering the same records twice leaves
the database exactly as delivering them once.

Several partitions' exporters may share one file: SQLite serialises their commits (WAL mode,
with a busy timeout), and each keeps its own position row.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from propolis.exporters.api import (
    ExporterConfigError,
    ExporterContext,
    ExporterController,
    ScheduledTask,
)
from propolis.exporters.read_model.schema import create_schema
from propolis.exporters.read_model.writer import ReadModelWriter

from propolis.records import Record, RecordType, ValueType

log = logging.getLogger(__name__)

FLUSH_INTERVAL_MS_DEFAULT = 200
FLUSH_RECORDS_MAX_DEFAULT = 1_000
# Another partition's exporter may hold the write lock for one commit; wait that long for it.
BUSY_TIMEOUT_MS = 10_000

EXPORTED_VALUE_TYPES = (
    ValueType.PROCESS,
    ValueType.PROCESS_INSTANCE,
    ValueType.VARIABLE,
    ValueType.JOB,
    ValueType.INCIDENT,
    ValueType.MESSAGE,
    ValueType.MESSAGE_SUBSCRIPTION,
)


def open_for_writing(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode (readers never block the writer), with the schema created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL")
    # A commit is on disk before its position is acknowledged (and the log may compact).
    connection.execute("PRAGMA synchronous = FULL")
    create_schema(connection)
    return connection


class ReadModelExporter:
    def __init__(self) -> None:
        self.path: Path | None = None
        self.partition_id = 1
        self.flush_interval_ms = FLUSH_INTERVAL_MS_DEFAULT
        self.flush_records_max = FLUSH_RECORDS_MAX_DEFAULT
        self._db: sqlite3.Connection | None = None
        self._writer: ReadModelWriter | None = None
        self._controller: ExporterController | None = None
        self._task: ScheduledTask | None = None
        self._committed_position = -1
        self._applied_position = -1
        self._uncommitted: list[Record] = []

    # -- lifecycle ---------------------------------------------------------------------
    def configure(self, context: ExporterContext) -> None:
        args = context.args
        unknown = set(args) - {"path", "flushIntervalMs", "flushRecordsMax"}
        if unknown:
            raise ExporterConfigError(
                f"exporter '{context.exporter_id}': unknown args {sorted(unknown)}; "
                "expected path, flushIntervalMs, flushRecordsMax"
            )
        path = args.get("path")
        if not isinstance(path, str | Path) or not str(path):
            raise ExporterConfigError(
                f"exporter '{context.exporter_id}': args.path must name the SQLite file, got {path!r}"
            )
        self.path = Path(path)
        self.flush_interval_ms = _positive_int(context, args, "flushIntervalMs", FLUSH_INTERVAL_MS_DEFAULT)
        self.flush_records_max = _positive_int(context, args, "flushRecordsMax", FLUSH_RECORDS_MAX_DEFAULT)
        self.partition_id = context.partition_id
        context.set_filter(record_types=[RecordType.EVENT], value_types=EXPORTED_VALUE_TYPES)

    def open(self, controller: ExporterController) -> None:
        if self.path is None:
            raise ExporterConfigError("the read model exporter was opened before it was configured")
        self._db = open_for_writing(self.path)
        self._writer = ReadModelWriter(self._db)
        row = self._db.execute(
            "SELECT position FROM exporter_position WHERE partition_id = ?", (self.partition_id,)
        ).fetchone()
        self._committed_position = self._applied_position = row[0] if row else -1
        self._controller = controller
        if self._committed_position > controller.get_last_exported_position():
            # The rows are already in the database: let the log know it need not keep them.
            controller.update_last_exported_position(self._committed_position)
        self._schedule_flush()

    def export(self, record: Record) -> None:
        assert self._db is not None and self._writer is not None, "export before open"
        if record.position <= self._applied_position:
            return  # a re-delivery: this record's rows are already written
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        try:
            self._writer.apply(record)
        except BaseException:
            self._redo_uncommitted()
            raise
        self._uncommitted.append(record)
        self._applied_position = record.position
        if len(self._uncommitted) >= self.flush_records_max:
            self.flush()

    def _redo_uncommitted(self) -> None:
        """Undo a record that failed halfway: roll the transaction back and apply again the
        records before it (they succeeded once and are deterministic), so the failing record
        leaves nothing behind. Cheaper than a savepoint around every record."""
        assert self._db is not None and self._writer is not None
        self._db.execute("ROLLBACK")
        self._db.execute("BEGIN")
        for record in self._uncommitted:
            self._writer.apply(record)

    def flush(self) -> None:
        """Commit what was applied and acknowledge its position."""
        if self._db is None or not self._db.in_transaction:
            return
        self._db.execute(
            "INSERT INTO exporter_position (partition_id, position, updated_ms) VALUES (?,?,?) "
            "ON CONFLICT (partition_id) DO UPDATE SET position = excluded.position, updated_ms = excluded.updated_ms",
            (self.partition_id, self._applied_position, int(time.time() * 1000)),
        )
        self._db.execute("COMMIT")
        self._committed_position = self._applied_position
        self._uncommitted.clear()
        if self._controller is not None:
            self._controller.update_last_exported_position(self._committed_position)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._db is None:
            return
        try:
            self.flush()
        except sqlite3.Error:
            log.exception("read model: the last records could not be committed; they will be exported again")
        finally:
            self._db.close()
            self._db = None

    @property
    def committed_position(self) -> int:
        return self._committed_position

    def _schedule_flush(self) -> None:
        assert self._controller is not None

        def tick() -> None:
            if self._db is None:
                return
            self.flush()
            self._schedule_flush()

        self._task = self._controller.schedule_cancellable_task(self.flush_interval_ms, tick)


def _positive_int(context: ExporterContext, args: dict[str, Any], name: str, default: int) -> int:
    value = args.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ExporterConfigError(
            f"exporter '{context.exporter_id}': args.{name} must be a positive integer, got {value!r}"
        )
    return value
