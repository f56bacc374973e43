"""The source of a third-party exporter, written into a temporary folder that tests put on the
import path: a plugin is any importable module, not something shipped with propolis.

It appends `<position> <recordType> <valueType>` per exported record to the file `out`, and
acknowledges every `ackEvery` records (default 1) or, with `ackDelayMs`, only from a scheduled
task that often (so a crash before it leaves records unacknowledged). While the file
`failWhile` exists, `export` raises, as an exporter whose backend is down would; while
`hangWhile` exists, `export` does not return, as one waiting on a server that never answers.
"""

from __future__ import annotations

from pathlib import Path

MODULE_NAME = "acme_exporter"
CLASS_PATH = f"{MODULE_NAME}.RecordingExporter"

SOURCE = '''
import time
from pathlib import Path

from propolis.exporters.api import ExporterConfigError
from propolis.records import RecordType, ValueType


class RecordingExporter:
    def configure(self, context):
        args = dict(context.args)
        if "out" not in args:
            raise ExporterConfigError("out: expected the file to record exports in")
        self.out = Path(args["out"])
        self.fail_while = Path(args["failWhile"]) if "failWhile" in args else None
        self.hang_while = Path(args["hangWhile"]) if "hangWhile" in args else None
        self.ack_delay_ms = int(args.get("ackDelayMs", 0))
        value_types = [ValueType[name] for name in args.get("valueTypes", [])]
        record_types = [RecordType[name] for name in args.get("recordTypes", [])]
        if value_types or record_types:
            context.set_filter(record_types=record_types, value_types=value_types)

    def open(self, controller):
        self.controller = controller
        self.last = controller.get_last_exported_position()
        self.file = self.out.open("a")
        if self.ack_delay_ms:
            controller.schedule_cancellable_task(self.ack_delay_ms, self.acknowledge)

    def export(self, record):
        if self.fail_while is not None and self.fail_while.exists():
            raise ConnectionError("the backend is down")
        while self.hang_while is not None and self.hang_while.exists():
            time.sleep(0.01)
        self.file.write(f"{record.position} {RecordType(record.record_type).name} {ValueType(record.value_type).name}\\n")
        self.file.flush()
        self.last = record.position
        if not self.ack_delay_ms:
            self.controller.update_last_exported_position(record.position)

    def acknowledge(self):
        self.controller.update_last_exported_position(self.last)
        self.controller.schedule_cancellable_task(self.ack_delay_ms, self.acknowledge)

    def close(self):
        self.file.close()
'''


def write_plugin(directory: Path) -> Path:
    """Write the plugin module into `directory` (to be put on the import path)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{MODULE_NAME}.py").write_text(SOURCE)
    return directory


def read_exports(out: Path) -> list[tuple[int, str, str]]:
    if not out.exists():
        return []
    rows = []
    for line in out.read_text().splitlines():
        position, record_type, value_type = line.split()
        rows.append((int(position), record_type, value_type))
    return rows
