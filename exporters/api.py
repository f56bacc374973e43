"""The exporter interface: how records leave the broker.

An exporter is any importable class with a no-argument constructor that implements
`Exporter`. The broker's YAML configuration names it by id and dotted class path:

    exporters:
      elasticsearch:
        className: propolis.exporters.elasticsearch.ElasticsearchExporter
        args: {url: "http://localhost:9200", bulk: {size: 1000, delayMs: 1000}}

Lifecycle, driven by the exporter director on the partition leader, one director per
partition, in its own thread (so a slow exporter never stalls processing):

1. `configure(context)` once at broker start, before anything is opened. The exporter reads
   and validates `context.args` (its own config block) and raises `ExporterConfigError`
   naming the bad field; the broker then refuses to start. It may call
   `context.set_filter(...)` to receive only some record and value types.
2. `open(controller)` once the partition is ready. The controller acknowledges exported
   positions and schedules delayed work (e.g. a bulk flush every second).
3. `export(record)` for every record in log order that passes the filter, starting after the
   position the exporter last acknowledged. An exception means "not exported": the director
   retries the same record with back-off and the exporter sees it again. Delivery is
   at-least-once: after a crash or a leader change, records after the last acknowledged
   position are exported again, so exporters must be idempotent by `record.position`.
4. `close()` on shutdown or when the partition stops being leader.

An exporter must not change the record (the same object may be handed to other exporters),
must not block for long in `export` (buffer and flush on a scheduled task instead), and must
not raise from `close`. Log compaction never deletes records beyond the lowest acknowledged
position of all configured exporters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from propolis.records import Record, RecordType, ValueType


class ExporterError(Exception):
    """Root of the errors an exporter raises on purpose."""


class ExporterConfigError(ExporterError):
    """The exporter's config block is wrong; the message names the field and why."""


@dataclass
class RecordFilter:
    """Which records an exporter receives. Empty sets mean all."""

    record_types: frozenset[RecordType] = frozenset()
    value_types: frozenset[ValueType] = frozenset()

    def accepts(self, record: Record) -> bool:
        if self.record_types and record.record_type not in self.record_types:
            return False
        if self.value_types and record.value_type not in self.value_types:
            return False
        return True


@dataclass
class ExporterContext:
    """What an exporter is told at configure time."""

    exporter_id: str
    partition_id: int
    args: dict[str, Any] = field(default_factory=dict)
    record_filter: RecordFilter = field(default_factory=RecordFilter)

    def set_filter(
        self,
        record_types: Iterable[RecordType] = (),
        value_types: Iterable[ValueType] = (),
    ) -> None:
        self.record_filter = RecordFilter(frozenset(record_types), frozenset(value_types))


class ScheduledTask(Protocol):
    def cancel(self) -> None: ...


class ExporterController(Protocol):
    """Given to `Exporter.open`; thread-safe."""

    def update_last_exported_position(self, position: int) -> None:
        """Everything up to and including `position` is safely exported."""

    def get_last_exported_position(self) -> int:
        """The last acknowledged position (-1 if none yet)."""

    def schedule_cancellable_task(self, delay_ms: int, task: Callable[[], None]) -> ScheduledTask:
        """Run `task` once after `delay_ms` on the director's thread."""


@runtime_checkable
class Exporter(Protocol):
    def configure(self, context: ExporterContext) -> None: ...

    def open(self, controller: ExporterController) -> None: ...

    def export(self, record: Record) -> None: ...

    def close(self) -> None: ...
