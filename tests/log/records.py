"""Helpers for the log's tests: recognisable payloads and a log filled with them."""

from __future__ import annotations

from pathlib import Path

from propolis.log.segmented_log import Log


def payload(position: int) -> bytes:
    """The payload the tests store at `position`, of varying length."""
    return f"record-{position}-".encode() * (1 + position % 5)


def fill(log: Log, count: int, batch_size: int = 10) -> None:
    """Append records for the next `count` positions in batches, flushing after each."""
    start = log.last_position + 1
    for first in range(start, start + count, batch_size):
        last = min(first + batch_size, start + count)
        assert log.append_batch([payload(n) for n in range(first, last)]) == first
        log.flush()


def segment_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.suffix == ".log")
