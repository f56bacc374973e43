"""A cursor that follows a growing log: each `read` continues where the last one stopped.

`Log.reader` is made for one pass: it finds its start through the sparse segment index and
checks every frame from that index entry on (up to INDEX_INTERVAL_RECORDS of them before the
first one wanted), and it ends at the last position of its creation. Something that keeps up
with the log's tail, like the exporter director after every committed batch, would pay that
scan on every read. A cursor remembers the segment and byte offset of its next frame instead,
so each frame is read and checked once.

Frames are checked as readers check them (`LogCorruptedError` names the file and offset).
Compaction of a segment the cursor still needs raises `PositionCompactedError`; a cursor must
not be used across a `truncate` that cuts into what it read. One thread per cursor.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, BinaryIO

from propolis.log.errors import LogClosedError, LogCorruptedError, PositionCompactedError
from propolis.log.frame import FRAME_HEADER_BYTES, DamagedFrame, scan_frames
from propolis.log.segment import Segment

if TYPE_CHECKING:
    from propolis.log.segmented_log import Log

# Frames are read in lists of about this many bytes; a read that stops early wastes at most one.
CURSOR_READ_BYTES = 64 << 10


class LogCursor:
    def __init__(self, log: Log, from_position: int) -> None:
        if from_position < 1:
            raise ValueError(f"positions start at 1, not {from_position}")
        self._log = log
        self._next_position = from_position
        self._segment: Segment | None = None
        self._handle: BinaryIO | None = None
        self._offset = 0  # of the frame holding `_offset_position` in `_segment`
        self._offset_position = 0

    @property
    def next_position(self) -> int:
        """The position the next `read` starts at."""
        return self._next_position

    def read(self, to_position: int, records_max: int) -> list[tuple[int, bytes]]:
        """Up to `records_max` (position, payload) from `next_position` up to `to_position`
        (inclusive, and never past the log's last position); fewer, or none, when the log
        does not hold more yet."""
        records: list[tuple[int, bytes]] = []
        try:
            self._read(records, to_position, records_max)
        finally:
            # Not kept across reads: a buffer filled near the end of the segment could hold
            # bytes that a failed append later rewrote.
            if self._handle is not None:
                self._handle.close()
                self._handle = None
        return records

    def _read(self, records: list[tuple[int, bytes]], to_position: int, records_max: int) -> None:
        while len(records) < records_max and self._next_position <= to_position:
            end_offset = self._locate()
            if end_offset is None or self._offset >= end_offset:
                return
            assert self._segment is not None
            if self._handle is None:
                try:
                    self._handle = open(self._segment.path, "rb", buffering=CURSOR_READ_BYTES)  # noqa: SIM115 - closed by read
                except FileNotFoundError:
                    raise PositionCompactedError(
                        f"segment {self._segment.path} was deleted by compaction before the cursor got to it"
                    ) from None
            try:
                for frames in scan_frames(
                    self._handle, self._offset, end_offset, self._offset_position, CURSOR_READ_BYTES
                ):
                    for offset, position, payload in frames:
                        self._offset = offset + FRAME_HEADER_BYTES + len(payload)
                        self._offset_position = position + 1
                        if position < self._next_position:
                            continue  # between the index entry and the first position wanted
                        records.append((position, payload))
                        self._next_position = position + 1
                        if len(records) >= records_max or position >= to_position:
                            return
            except DamagedFrame as damage:
                raise LogCorruptedError(self._segment.path, damage.offset, damage.reason) from None

    def _locate(self) -> int | None:
        """Point at the segment holding `next_position`; returns the end of its frames, or
        None when the log does not hold `next_position` yet."""
        log = self._log
        if log._closed:
            raise LogClosedError(f"log {log.directory} is closed")
        with log._lock:
            segments = log._segments
            first = segments[0].first_position
            if self._next_position < first:
                raise PositionCompactedError(
                    f"position {self._next_position} was compacted away; the log {log.directory} "
                    f"now starts at position {first}"
                )
            if self._next_position > segments[-1].last_position:
                return None
            segment = segments[bisect.bisect_right(segments, self._next_position, key=_first_position) - 1]
            end_offset = segment.size_bytes
            if segment is not self._segment:
                start_position, start_offset = segment.seek(self._next_position)
        if segment is not self._segment:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
            self._segment = segment
            self._offset, self._offset_position = start_offset, start_position
        return end_offset


def _first_position(segment: Segment) -> int:
    return segment.first_position
