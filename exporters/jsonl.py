"""A JSON-lines file exporter, for debugging: one record per line, as `Record.describe()`
gives it (names instead of numbers, Zeebe's field names).

    exporters:
      records-file:
        className: propolis.exporters.jsonl.JsonLinesExporter
        args:
          path: data/records-{partitionId}.jsonl   # required; {partitionId} is replaced (one
                                                   # file per partition: use it with several)
          flushIntervalMs: 100   # lines are written at once and flushed this often; 0: every record
          fsync: false           # true: fsync the file at each flush, before acknowledging

Positions are acknowledged only once their lines are flushed (and fsync'd when asked). The file
has each record once, in log order: on open, a line cut short by a crash is removed, and records
at or before the last position in the file (delivered again after a restart, delivery being
at-least-once) are not written a second time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from propolis.exporters.api import (
    ExporterConfigError,
    ExporterContext,
    ExporterController,
    ScheduledTask,
)
from propolis.exporters.json_records import record_json

from propolis.records import Record

TAIL_READ_BYTES = 1 << 20


class JsonLinesExporter:
    def __init__(self) -> None:
        self.path: Path | None = None
        self.flush_interval_ms = 100
        self.fsync = False
        self._file: IO[str] | None = None
        self._controller: ExporterController | None = None
        self._last_written = -1
        self._last_acknowledged = -1
        self._flush_task: ScheduledTask | None = None

    def configure(self, context: ExporterContext) -> None:
        args: dict[str, Any] = dict(context.args)
        path = args.pop("path", None)
        if not isinstance(path, str) or not path:
            raise ExporterConfigError("path: expected the file to write, e.g. 'records-{partitionId}.jsonl'")
        interval = args.pop("flushIntervalMs", self.flush_interval_ms)
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 0:
            raise ExporterConfigError(f"flushIntervalMs: expected a whole number of milliseconds >= 0, got {interval!r}")
        fsync = args.pop("fsync", self.fsync)
        if not isinstance(fsync, bool):
            raise ExporterConfigError(f"fsync: expected true or false, got {fsync!r}")
        if args:
            raise ExporterConfigError(
                f"{sorted(args)[0]}: unknown setting; expected path, flushIntervalMs and fsync"
            )
        self.path = Path(path.replace("{partitionId}", str(context.partition_id)))
        self.flush_interval_ms = interval
        self.fsync = fsync

    def open(self, controller: ExporterController) -> None:
        assert self.path is not None, "configure comes first"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._last_written = _repair_tail(self.path)
        self._file = self.path.open("a", encoding="utf-8")
        self._controller = controller
        self._last_acknowledged = controller.get_last_exported_position()
        if self._last_written > self._last_acknowledged:
            # Written and flushed before a crash, but not yet acknowledged.
            self._acknowledge(self._last_written)
        if self.flush_interval_ms > 0:
            self._flush_task = controller.schedule_cancellable_task(self.flush_interval_ms, self._flush_periodically)

    def export(self, record: Record) -> None:
        assert self._file is not None, "open comes first"
        if record.position > self._last_written:
            self._file.write(record_json(record) + "\n")
            self._last_written = record.position
        if self.flush_interval_ms == 0:
            self._flush()

    def close(self) -> None:
        if self._flush_task is not None:
            self._flush_task.cancel()
        if self._file is None:
            return
        try:
            self._flush()
        except OSError:
            pass  # not acknowledged: exported again next time
        self._file.close()
        self._file = None

    def _flush_periodically(self) -> None:
        assert self._controller is not None
        self._flush_task = self._controller.schedule_cancellable_task(self.flush_interval_ms, self._flush_periodically)
        self._flush()

    def _flush(self) -> None:
        if self._file is None or self._last_written <= self._last_acknowledged:
            return
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self._acknowledge(self._last_written)

    def _acknowledge(self, position: int) -> None:
        assert self._controller is not None
        self._controller.update_last_exported_position(position)
        self._last_acknowledged = position


def _repair_tail(path: Path) -> int:
    """Cut a partial last line off the file; returns the position of its last record (-1)."""
    if not path.exists():
        return -1
    with path.open("rb+") as file:
        size = file.seek(0, os.SEEK_END)
        start = max(size - TAIL_READ_BYTES, 0)
        file.seek(start)
        tail = file.read()
        if tail and not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n") + 1  # 0 when no newline: the whole tail is partial
            file.truncate(start + cut)
            tail = tail[:cut]
        for line in reversed(tail.splitlines()):
            try:
                return int(json.loads(line)["position"])
            except (ValueError, KeyError, TypeError):
                continue
    return -1
