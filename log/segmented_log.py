"""The partition's append-only log: segment files of checksummed frames.

Layout: a directory of segment files named by the position of their first record
(`00000000000000000001.log`). A segment starts with a 16-byte header (magic `PLOG`, format
version, first position). Each record is one frame:

    u32 payload length | u32 crc32 of (position + payload) | u64 position | payload

Positions are contiguous integers from 1, one per record. A batch is written with one
`write` call and never spans segments. Durability is explicit: `append_batch` only writes,
`flush` fsyncs; a caller acknowledges nothing it has not flushed (group commit: append
several batches, flush once).

On open, the last segment is scanned; a torn or corrupt tail (short frame, bad checksum,
position out of sequence) is cut off after the last good frame and the cut is fsync'd.
Corruption in any earlier segment is not repaired silently: it raises `LogCorruptedError`.
"""

from __future__ import annotations

import bisect
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from propolis.log.config import (
    FRAME_PAYLOAD_BYTES_MAX,
    INDEX_INTERVAL_RECORDS,
    SEGMENT_SIZE_BYTES_DEFAULT,
)
from propolis.log.errors import LogCorruptedError, PositionCompactedError, RecordTooLargeError

logger = logging.getLogger(__name__)

MAGIC = b"PLOG"
FORMAT_VERSION = 1
SEGMENT_HEADER = struct.Struct(">4sIQ")  # magic, version, first position
FRAME_HEADER = struct.Struct(">IIQ")  # length, crc32, position
SUFFIX = ".log"


def _checksum(position: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(position.to_bytes(8, "big")))


@dataclass
class _Segment:
    path: Path
    first_position: int
    last_position: int  # first_position - 1 while empty
    size_bytes: int
    # Sparse index: (position, byte offset of its frame), every INDEX_INTERVAL_RECORDS records.
    index: list[tuple[int, int]] = field(default_factory=list)


def _segment_name(first_position: int) -> str:
    return f"{first_position:020d}{SUFFIX}"


class Log:
    """An append-only log of records with positions. Appends come from one thread; readers
    may run in other threads and see records up to `last_position` at their creation."""

    def __init__(self, directory: Path, segment_size_bytes_max: int) -> None:
        self.directory = directory
        self.segment_size_bytes_max = segment_size_bytes_max
        self._segments: list[_Segment] = []
        self._file = None
        self._lock = threading.Lock()
        self._durable_position = 0
        self._dir_dirty = False

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path, segment_size_bytes_max: int = SEGMENT_SIZE_BYTES_DEFAULT) -> Log:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        log = cls(directory, segment_size_bytes_max)
        paths = sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX))
        for number, path in enumerate(paths):
            is_last = number == len(paths) - 1
            log._segments.append(log._scan(path, repair=is_last))
        for before, after in zip(log._segments, log._segments[1:], strict=False):
            if before.last_position + 1 != after.first_position:
                raise LogCorruptedError(
                    f"log segments are not contiguous: {before.path.name} ends at position "
                    f"{before.last_position}, {after.path.name} starts at {after.first_position}"
                )
        if not log._segments:
            log._new_segment(1)
        log._file = open(log._segments[-1].path, "ab")  # noqa: SIM115 - held for the log's life
        log._durable_position = log.last_position
        return log

    def _scan(self, path: Path, repair: bool) -> _Segment:
        with open(path, "rb") as handle:
            data = handle.read()
        if len(data) < SEGMENT_HEADER.size:
            if repair:
                return self._rewrite_header(path, self._first_position_from_name(path))
            raise LogCorruptedError(f"segment {path} is shorter than its header")
        magic, version, first_position = SEGMENT_HEADER.unpack_from(data)
        if magic != MAGIC or version != FORMAT_VERSION:
            raise LogCorruptedError(f"segment {path} has no valid header (magic {magic!r}, version {version})")
        segment = _Segment(path, first_position, first_position - 1, SEGMENT_HEADER.size)
        offset = SEGMENT_HEADER.size
        expected = first_position
        end = len(data)
        while offset < end:
            problem = None
            if end - offset < FRAME_HEADER.size:
                problem = "a frame header cut short"
            else:
                length, crc, position = FRAME_HEADER.unpack_from(data, offset)
                payload_end = offset + FRAME_HEADER.size + length
                if length > FRAME_PAYLOAD_BYTES_MAX or payload_end > end:
                    problem = "a frame cut short"
                elif position != expected:
                    problem = f"position {position} where {expected} was expected"
                elif _checksum(position, data[offset + FRAME_HEADER.size : payload_end]) != crc:
                    problem = f"a bad checksum at position {position}"
            if problem is not None:
                if not repair:
                    raise LogCorruptedError(f"segment {path} is corrupt at byte {offset}: {problem}")
                dropped = end - offset
                with open(path, "r+b") as handle:
                    handle.truncate(offset)
                    handle.flush()
                    os.fsync(handle.fileno())
                logger.warning(
                    "log tail cut after the last good record",
                    extra={"segment": path.name, "offset": offset, "bytes_dropped": dropped, "reason": problem},
                )
                break
            if (expected - first_position) % INDEX_INTERVAL_RECORDS == 0:
                segment.index.append((expected, offset))
            segment.last_position = expected
            expected += 1
            offset = payload_end
        segment.size_bytes = offset
        return segment

    @staticmethod
    def _first_position_from_name(path: Path) -> int:
        return int(path.name.removesuffix(SUFFIX))

    def _rewrite_header(self, path: Path, first_position: int) -> _Segment:
        with open(path, "wb") as handle:
            handle.write(SEGMENT_HEADER.pack(MAGIC, FORMAT_VERSION, first_position))
            handle.flush()
            os.fsync(handle.fileno())
        return _Segment(path, first_position, first_position - 1, SEGMENT_HEADER.size)

    def _new_segment(self, first_position: int) -> None:
        path = self.directory / _segment_name(first_position)
        segment = self._rewrite_header(path, first_position)
        with self._lock:
            self._segments.append(segment)
        self._dir_dirty = True

    # -- positions ----------------------------------------------------------------------
    @property
    def first_position(self) -> int:
        return self._segments[0].first_position

    @property
    def last_position(self) -> int:
        return self._segments[-1].last_position

    @property
    def size_bytes(self) -> int:
        """Bytes on disk in all segments."""
        return sum(segment.size_bytes for segment in self._segments)

    @property
    def durable_position(self) -> int:
        return self._durable_position

    # -- writing ------------------------------------------------------------------------
    def append_batch(self, payloads: list[bytes]) -> int:
        """Write records as one batch; returns the position of the first. Not durable until
        `flush`."""
        if not payloads:
            raise ValueError("an empty batch has no position")
        for payload in payloads:
            if len(payload) > FRAME_PAYLOAD_BYTES_MAX:
                raise RecordTooLargeError(
                    f"a record of {len(payload)} bytes is larger than the limit of {FRAME_PAYLOAD_BYTES_MAX} bytes"
                )
        segment = self._segments[-1]
        if segment.size_bytes > SEGMENT_HEADER.size and segment.size_bytes >= self.segment_size_bytes_max:
            self._roll_over()
            segment = self._segments[-1]
        first = segment.last_position + 1
        parts = []
        offset = segment.size_bytes
        new_index = []
        position = first
        for payload in payloads:
            if (position - segment.first_position) % INDEX_INTERVAL_RECORDS == 0:
                new_index.append((position, offset))
            header = FRAME_HEADER.pack(len(payload), _checksum(position, payload), position)
            parts.append(header)
            parts.append(payload)
            offset += FRAME_HEADER.size + len(payload)
            position += 1
        self._file.write(b"".join(parts))
        self._file.flush()  # to the OS: readers in this process see whole frames
        with self._lock:
            segment.index.extend(new_index)
            segment.size_bytes = offset
            segment.last_position = position - 1
        return first

    def _roll_over(self) -> None:
        self.flush()
        self._file.close()
        self._new_segment(self.last_position + 1)
        self._file = open(self._segments[-1].path, "ab")  # noqa: SIM115

    def flush(self) -> int:
        """Make everything appended so far durable; returns the durable position."""
        if self._durable_position == self.last_position and not self._dir_dirty:
            return self._durable_position
        self._file.flush()
        os.fsync(self._file.fileno())
        if self._dir_dirty:
            _fsync_dir(self.directory)
            self._dir_dirty = False
        self._durable_position = self.last_position
        return self._durable_position

    # -- reading ------------------------------------------------------------------------
    def reader(self, from_position: int) -> Iterator[tuple[int, bytes]]:
        """(position, payload) from `from_position` up to the last position at this call."""
        with self._lock:
            segments = [
                (s.path, s.first_position, s.last_position, list(s.index))
                for s in self._segments
            ]
        if not segments:
            return iter(())
        first_available = segments[0][1]
        if from_position < first_available:
            raise PositionCompactedError(
                f"position {from_position} was compacted away; the log starts at {first_available}"
            )
        return self._read(segments, max(from_position, 1))

    @staticmethod
    def _read(segments: list, from_position: int) -> Iterator[tuple[int, bytes]]:
        firsts = [first for _, first, _, _ in segments]
        number = max(0, bisect.bisect_right(firsts, from_position) - 1)
        for path, first, last, index in segments[number:]:
            if last < from_position or last < first:
                continue
            start_offset = SEGMENT_HEADER.size
            if index:
                slot = bisect.bisect_right([p for p, _ in index], from_position) - 1
                if slot >= 0:
                    start_offset = index[slot][1]
            try:
                handle = open(path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                raise PositionCompactedError(f"segment {path.name} was compacted while being read") from None
            with handle:
                handle.seek(start_offset)
                position = 0
                while position < last:
                    header = handle.read(FRAME_HEADER.size)
                    if len(header) < FRAME_HEADER.size:
                        raise LogCorruptedError(f"segment {path.name} ends before position {last}")
                    length, _, position = FRAME_HEADER.unpack(header)
                    payload = handle.read(length)
                    if position >= from_position:
                        yield position, payload

    # -- maintenance --------------------------------------------------------------------
    def compact(self, before_position: int) -> int:
        """Delete whole segments whose records all lie before `before_position` (never the
        active one). Returns the number of segments deleted."""
        deleted = 0
        while len(self._segments) > 1 and self._segments[0].last_position < before_position:
            with self._lock:
                segment = self._segments.pop(0)
            segment.path.unlink(missing_ok=True)
            deleted += 1
        if deleted:
            _fsync_dir(self.directory)
        return deleted

    def truncate(self, after_position: int) -> None:
        """Drop every record after `after_position` (e.g. an unfinished batch, or entries a
        new Raft leader overwrote)."""
        if after_position >= self.last_position:
            return
        self._file.close()
        while len(self._segments) > 1 and self._segments[-1].first_position > after_position:
            with self._lock:
                segment = self._segments.pop()
            segment.path.unlink()
        segment = self._segments[-1]
        offset = SEGMENT_HEADER.size
        index = [entry for entry in segment.index if entry[0] <= after_position]
        with open(segment.path, "r+b") as handle:
            if index:
                handle.seek(index[-1][1])
                offset = index[-1][1]
            position = segment.first_position - 1
            while True:
                header = handle.read(FRAME_HEADER.size)
                if len(header) < FRAME_HEADER.size:
                    break
                length, _, position = FRAME_HEADER.unpack(header)
                if position > after_position:
                    break
                handle.seek(length, os.SEEK_CUR)
                offset += FRAME_HEADER.size + length
            handle.truncate(offset)
            handle.flush()
            os.fsync(handle.fileno())
        with self._lock:
            segment.index = index
            segment.size_bytes = offset
            segment.last_position = max(segment.first_position - 1, min(after_position, segment.last_position))
        _fsync_dir(self.directory)
        self._durable_position = min(self._durable_position, self.last_position)
        self._file = open(segment.path, "ab")  # noqa: SIM115

    def close(self) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
