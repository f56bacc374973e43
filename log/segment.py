"""One segment file of the log: its name, header, extent and sparse index.

A segment is named by the position of its first record, zero-padded to 20 digits so that
names sort like positions: `00000000000000000001.log`. Its layout is in `frame.py`.

The sparse index maps some positions to the byte offset of their frame: the first record,
then one entry whenever INDEX_INTERVAL_RECORDS records or INDEX_INTERVAL_BYTES bytes have
passed since the previous entry. It lives in memory only and is rebuilt when the log is
opened (the open scans every frame anyway). A seek therefore scans at most one interval.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from propolis.log.config import INDEX_INTERVAL_BYTES, INDEX_INTERVAL_RECORDS
from propolis.log.frame import (
    FORMAT_VERSION,
    FRAME_HEADER_BYTES,
    MAGIC,
    SEGMENT_HEADER,
    SEGMENT_HEADER_BYTES,
    DamagedFrame,
    encode_segment_header,
    scan_frames,
)

SEGMENT_NAME = re.compile(r"^(\d{20})\.log$")


def segment_name(first_position: int) -> str:
    return f"{first_position:020d}.log"


@dataclass
class Segment:
    """Where one segment's records are. The log mutates it under its lock."""

    path: Path
    first_position: int
    last_position: int  # first_position - 1 while the segment holds no record
    size_bytes: int  # header and whole frames: where the next frame goes
    index_positions: list[int] = field(default_factory=list)
    index_offsets: list[int] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return self.last_position < self.first_position

    def note_frame(self, position: int, offset: int) -> None:
        """Record the frame of `position` at `offset` in the index if an interval has passed.
        Frames must be noted in position order."""
        if (
            not self.index_positions
            or position - self.index_positions[-1] >= INDEX_INTERVAL_RECORDS
            or offset - self.index_offsets[-1] >= INDEX_INTERVAL_BYTES
        ):
            self.index_positions.append(position)
            self.index_offsets.append(offset)

    def seek(self, position: int) -> tuple[int, int]:
        """(position, offset) of the indexed frame nearest before or at `position`."""
        slot = bisect.bisect_right(self.index_positions, position) - 1
        if slot < 0:
            return self.first_position, SEGMENT_HEADER_BYTES
        return self.index_positions[slot], self.index_offsets[slot]

    def cut_index(self, after_position: int) -> None:
        """Forget index entries past `after_position` (new lists: readers never share them)."""
        keep = bisect.bisect_right(self.index_positions, after_position)
        self.index_positions = self.index_positions[:keep]
        self.index_offsets = self.index_offsets[:keep]


class DamagedHeader(Exception):  # noqa: N818 - internal signal, turned into a LogError by callers
    """The segment header is missing or wrong. `torn` means it looks like a file whose
    creation was cut short by a crash (shorter than a header, or all zeros)."""

    def __init__(self, reason: str, torn: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.torn = torn


@dataclass
class ScanResult:
    segment: Segment  # the whole frames up to the first damaged one
    damage: DamagedFrame | None
    file_bytes: int


def scan_segment(path: Path, first_position: int, chunk_bytes: int) -> ScanResult:
    """Read a segment file from start to end, checking its header (which must say
    `first_position`, as its name does) and every frame, and build its index.

    Raises `DamagedHeader`; a damaged frame ends the scan and is reported in the result.
    """
    with open(path, "rb", buffering=chunk_bytes) as handle:
        file_bytes = os.fstat(handle.fileno()).st_size
        header = handle.read(SEGMENT_HEADER_BYTES)
        if len(header) < SEGMENT_HEADER_BYTES:
            raise DamagedHeader(f"the file has {len(header)} bytes, fewer than a segment header", torn=True)
        if header == bytes(SEGMENT_HEADER_BYTES):
            raise DamagedHeader("the segment header is all zeros", torn=True)
        magic, version, header_first = SEGMENT_HEADER.unpack(header)
        if magic != MAGIC:
            raise DamagedHeader(f"the file starts with {magic!r}, not the segment magic {MAGIC!r}", torn=False)
        if version != FORMAT_VERSION:
            raise DamagedHeader(
                f"format version {version}, but this build reads version {FORMAT_VERSION}", torn=False
            )
        if header_first != first_position:
            raise DamagedHeader(
                f"the header says the first position is {header_first}, the file name says {first_position}",
                torn=False,
            )
        segment = Segment(path, first_position, first_position - 1, SEGMENT_HEADER_BYTES)
        damage = None
        try:
            for frames in scan_frames(
                handle, SEGMENT_HEADER_BYTES, file_bytes, first_position, chunk_bytes
            ):
                for offset, position, _ in frames:
                    segment.note_frame(position, offset)
                offset, position, payload = frames[-1]
                segment.last_position = position
                segment.size_bytes = offset + FRAME_HEADER_BYTES + len(payload)
        except DamagedFrame as damaged:
            damage = damaged
    return ScanResult(segment, damage, file_bytes)


def create_segment_file(directory: Path, first_position: int) -> tuple[Segment, int]:
    """Create the file of a new, empty segment and write its header (not fsync'd). Returns the
    segment and a file descriptor open for appending to it."""
    path = directory / segment_name(first_position)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        header = encode_segment_header(first_position)
        if os.write(fd, header) != len(header):
            raise OSError(f"short write of the header of {path}")
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return Segment(path, first_position, first_position - 1, SEGMENT_HEADER_BYTES), fd
