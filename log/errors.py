"""Errors of the log package."""


class LogError(Exception):
    """Root of the log's errors."""


class LogCorruptedError(LogError):
    """A segment other than the last one is damaged: this is not repaired silently."""


class PositionCompactedError(LogError):
    """The requested position was deleted by compaction."""


class RecordTooLargeError(LogError):
    """A record is larger than a frame may be."""
