"""Errors of the log package. `LogError` is the root; every error names what it is about."""

from __future__ import annotations

from pathlib import Path


class LogError(Exception):
    """Root of the log's errors."""


class LogCorruptedError(LogError):
    """Damage that is not repaired silently: a bad frame in a segment other than the last,
    segments whose positions do not follow each other, a garbled segment header, or a frame
    that fails its checksum when read back."""

    def __init__(self, path: Path, offset: int | None, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        where = f"segment {path}" if offset is None else f"segment {path} at byte {offset}"
        super().__init__(f"{where} is corrupt: {reason}")


class PositionCompactedError(LogError):
    """The requested position was deleted by compaction (or its segment was deleted while
    a reader was on its way to it)."""


class RecordTooLargeError(LogError):
    """A record's payload is larger than a frame may hold."""


class LogLockedError(LogError):
    """Another `Log` (in this process or another) has the directory open."""


class LogClosedError(LogError):
    """The log was closed, or refuses writes after a failed write or fsync."""


class NotLeaderError(LogError):
    """A replicator was asked to append on a node that is not the leader of its group."""
