"""The partition's append-only log on disk, and the seam through which it is replicated.

`Log` (segmented_log.py) stores opaque records with positions; `Replicator` (replicator.py)
is how a partition appends and commits batches. This package imports nothing else of ours.
"""

from propolis.log.cursor import LogCursor
from propolis.log.errors import (
    LogClosedError,
    LogCorruptedError,
    LogError,
    LogLockedError,
    NotLeaderError,
    PositionCompactedError,
    RecordTooLargeError,
)
from propolis.log.replicator import LocalReplicator, Replicator
from propolis.log.segmented_log import Log

__all__ = [
    "LocalReplicator",
    "Log",
    "LogCursor",
    "LogClosedError",
    "LogCorruptedError",
    "LogError",
    "LogLockedError",
    "NotLeaderError",
    "PositionCompactedError",
    "RecordTooLargeError",
    "Replicator",
]
