"""Event appliers: the only code that writes state. Replay calls these and nothing else.

One small function per event, registered in `APPLIERS` by (value type, intent). An applier
never evaluates an expression or reads the process model: the processor decided, the event
records what it decided.
"""

from __future__ import annotations

from collections.abc import Callable

from propolis.broker.appliers import (
    distribution,
    incident,
    job,
    message,
    process,
    process_instance,
    timer,
    variable,
)
from propolis.broker.state import State

from propolis.records import Record

Applier = Callable[[State, Record], None]

APPLIERS: dict[tuple[int, int], Applier] = {}
for _module in (process, process_instance, job, variable, incident, message, timer, distribution):
    APPLIERS.update(_module.APPLIERS)


def apply_event(state: State, record: Record) -> None:
    applier = APPLIERS.get((record.value_type, record.intent))
    if applier is not None:
        applier(state, record)
