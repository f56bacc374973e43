"""The partition's append-only log: a directory of segment files of checksummed frames.

Layout (bytes in `frame.py`, names and index in `segment.py`): a directory of segment files
named by the position of their first record, `00000000000000000001.log`, each a 16-byte
header (magic `PLOG`, format version, first position) followed by frames

    u32 payload length | u32 CRC-32 of (position + payload) | u64 position | payload

all big-endian. Positions are contiguous integers from 1, one per record. A `.lock` file in
the directory is held (flock) while a `Log` has it open.

What is durable when:
- `append_batch` writes a batch's frames with one `write` call, to the OS, and does not
  fsync. The records are visible to readers at once, and survive the process being killed,
  but not a power loss or OS crash.
- `flush` fsyncs: when it returns, every record appended before it is durable, and
  `durable_position` says up to where. Callers acknowledge nothing that is not flushed,
  and batch several appends per flush (group commit).
- A batch never spans segments. When a batch does not fit in the active segment, the active
  segment is fsync'd and closed before the next one is created: the one fsync that
  `append_batch` does, once per segment. Hence only the last segment can ever end in a torn
  frame, and damage anywhere else is real corruption.
- `truncate` and `compact` are durable when they return.

On open, every segment is scanned and every frame checked (length, position in sequence,
checksum), which builds the sparse index; that costs about 2 µs a record (half a second for
a full 64 MiB segment of 200-byte records on a small VM), which compaction keeps bounded. A damaged tail of the *last* segment (a torn
write: a short frame, a bad checksum, a position out of sequence) is cut off after the last
good frame, the cut is fsync'd and a warning says how many bytes were dropped. Damage in any
other segment raises `LogCorruptedError` naming the file and byte offset. The open also
fsyncs the last segment, so whatever a killed process left in the page cache is durable
before `durable_position` claims it.

Threads: one thread writes (append_batch, flush, truncate, compact, close); readers and the
position properties may be used from any thread. A reader sees the records up to the last
position at the time it was created, never a partial frame.
"""

from __future__ import annotations

import bisect
import fcntl
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from propolis.log.config import (
    FRAME_PAYLOAD_BYTES_MAX,
    INDEX_INTERVAL_BYTES,
    INDEX_INTERVAL_RECORDS,
    READ_CHUNK_BYTES,
    SEGMENT_SIZE_BYTES_DEFAULT,
)
from propolis.log.cursor import LogCursor
from propolis.log.errors import (
    LogClosedError,
    LogCorruptedError,
    LogLockedError,
    PositionCompactedError,
    RecordTooLargeError,
)
from propolis.log.frame import (
    FRAME_HEADER_BYTES,
    SEGMENT_HEADER_BYTES,
    DamagedFrame,
    encode_frames,
    encode_segment_header,
    scan_frames,
)
from propolis.log.segment import (
    SEGMENT_NAME,
    DamagedHeader,
    Segment,
    create_segment_file,
    scan_segment,
)

logger = logging.getLogger(__name__)

LOCK_FILE_NAME = ".lock"
_sync_data = getattr(os, "fdatasync", os.fsync)


class Log:
    """An append-only sequence of records (opaque bytes), each with a position.

    Create with `Log.open`. See the module docstring for what is durable when.
    """

    def __init__(
        self,
        directory: Path,
        segments: list[Segment],
        lock_fd: int,
        segment_size_bytes_max: int,
        record_size_bytes_max: int,
    ) -> None:
        """Use `Log.open`."""
        assert segments, "a log has at least one segment"
        self.directory = directory
        self.segment_size_bytes_max = segment_size_bytes_max
        self.record_size_bytes_max = record_size_bytes_max
        self._segments = segments
        self._lock_fd = lock_fd
        self._lock = threading.Lock()  # guards _segments and each segment's fields
        self._fd = os.open(segments[-1].path, os.O_WRONLY | os.O_APPEND)
        self._durable_position = segments[-1].last_position
        self._file_unsynced = False  # the active segment was written since its last fsync
        self._directory_unsynced = False  # a segment was created since the directory's last fsync
        self._failure: str | None = None  # set when a write or fsync failed: no more writes
        self._closed = False

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        directory: Path | str,
        segment_size_bytes_max: int = SEGMENT_SIZE_BYTES_DEFAULT,
        *,
        record_size_bytes_max: int = FRAME_PAYLOAD_BYTES_MAX,
    ) -> Log:
        """Open the log in `directory`, creating it (and the directory) if need be.

        Checks every frame, cuts a torn tail off the last segment (logging a warning with the
        bytes dropped) and fsyncs the last segment: on return, `durable_position ==
        last_position`. Raises `LogCorruptedError` for damage that is not a torn tail and
        `LogLockedError` when another `Log` has the directory open.

        `segment_size_bytes_max`: a new segment is started when a batch would take the active
        one past this size (a single batch larger than this gets a segment of its own).
        `record_size_bytes_max`: the largest payload `append_batch` accepts, at most
        FRAME_PAYLOAD_BYTES_MAX.
        """
        if segment_size_bytes_max <= SEGMENT_HEADER_BYTES:
            raise ValueError(f"segment_size_bytes_max must exceed the {SEGMENT_HEADER_BYTES}-byte header")
        if not 0 <= record_size_bytes_max <= FRAME_PAYLOAD_BYTES_MAX:
            raise ValueError(
                f"record_size_bytes_max must be between 0 and {FRAME_PAYLOAD_BYTES_MAX}, "
                f"not {record_size_bytes_max}"
            )
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock_directory(directory)
        try:
            segments = _load_segments(directory)
            if not segments:
                segment, fd = create_segment_file(directory, 1)
                os.close(fd)
                segments.append(segment)
            _fsync_path(segments[-1].path)
            _fsync_directory(directory)
            return cls(directory, segments, lock_fd, segment_size_bytes_max, record_size_bytes_max)
        except BaseException:
            os.close(lock_fd)
            raise

    # -- positions -----------------------------------------------------------------------
    @property
    def first_position(self) -> int:
        """The oldest position still held (1 until compaction deletes a segment). When the
        log is empty, `first_position == last_position + 1`."""
        return self._segments[0].first_position

    @property
    def last_position(self) -> int:
        """The position of the last record appended (0 for an empty log)."""
        return self._segments[-1].last_position

    @property
    def durable_position(self) -> int:
        """Every record up to this position is fsync'd."""
        return self._durable_position

    @property
    def size_bytes(self) -> int:
        """Bytes in all segments (headers and frames)."""
        return sum(segment.size_bytes for segment in list(self._segments))

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    # -- writing -------------------------------------------------------------------------
    def append_batch(self, payloads: Sequence[bytes]) -> int:
        """Append `payloads` as consecutive records and return the position of the first.

        The batch is written with one `write` call and is visible to new readers when this
        returns; it is not durable until `flush`. Raises `RecordTooLargeError` (and writes
        nothing) if a payload exceeds `record_size_bytes_max`. If the disk refuses the write
        (e.g. it is full), the `OSError` is raised and nothing of the batch stays in the log.
        """
        self._check_writable()
        if not payloads:
            raise ValueError("an empty batch has no position")
        limit = self.record_size_bytes_max
        batch_bytes = FRAME_HEADER_BYTES * len(payloads)
        for number, payload in enumerate(payloads):
            size = len(payload)
            if size > limit:
                raise RecordTooLargeError(
                    f"record {number} of the batch has {size} bytes, more than the limit of "
                    f"{limit} bytes per record"
                )
            batch_bytes += size
        segment = self._segments[-1]
        if not segment.is_empty and segment.size_bytes + batch_bytes > self.segment_size_bytes_max:
            segment = self._roll_over()
        first = segment.last_position + 1
        self._write(encode_frames(first, payloads), segment.size_bytes)
        with self._lock:
            offset = segment.size_bytes
            position = first
            # Inlined Segment.note_frame: this loop runs once per record.
            index_positions, index_offsets = segment.index_positions, segment.index_offsets
            next_indexed_position = index_positions[-1] + INDEX_INTERVAL_RECORDS if index_positions else first
            next_indexed_offset = index_offsets[-1] + INDEX_INTERVAL_BYTES if index_offsets else offset
            for payload in payloads:
                if position >= next_indexed_position or offset >= next_indexed_offset:
                    index_positions.append(position)
                    index_offsets.append(offset)
                    next_indexed_position = position + INDEX_INTERVAL_RECORDS
                    next_indexed_offset = offset + INDEX_INTERVAL_BYTES
                offset += FRAME_HEADER_BYTES + len(payload)
                position += 1
            segment.size_bytes = offset
            segment.last_position = position - 1
        return first

    def flush(self) -> int:
        """fsync everything appended so far (and the directory, if a segment was created since
        the last flush); returns `durable_position`, now equal to `last_position`. Costs
        nothing when nothing was appended since the last flush.

        If the fsync fails, what reached the disk is unknown: the log refuses further writes
        (`LogClosedError`); reopen it to find out what survived.
        """
        self._check_writable()
        if not self._file_unsynced and not self._directory_unsynced:
            return self._durable_position
        last = self.last_position
        try:
            if self._file_unsynced:
                _sync_data(self._fd)
            if self._directory_unsynced:
                _fsync_directory(self.directory)
        except OSError as error:
            self._failure = f"an fsync failed ({error}); reopen the log to see what is on disk"
            raise LogClosedError(f"log {self.directory}: {self._failure}") from error
        self._file_unsynced = False
        self._directory_unsynced = False
        self._durable_position = last
        return last

    def _write(self, data: bytes, size_before: int) -> None:
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except OSError as error:
            try:  # whatever part of the batch reached the file goes
                os.ftruncate(self._fd, size_before)
            except OSError as undo_error:
                self._failure = (
                    f"a failed write ({error}) left part of a batch that could not be "
                    f"removed ({undo_error}); reopen the log to cut it off"
                )
                raise LogClosedError(f"log {self.directory}: {self._failure}") from error
            raise
        self._file_unsynced = True

    def _roll_over(self) -> Segment:
        """Seal the active segment (fsync it, and the directory if the segment is new since
        the last flush) and start the next one. Once the next file exists, every segment
        before it is whole on disk: only the last one can be torn by a crash."""
        if self._file_unsynced or self._directory_unsynced:
            try:
                if self._file_unsynced:
                    _sync_data(self._fd)
                if self._directory_unsynced:
                    _fsync_directory(self.directory)
            except OSError as error:
                self._failure = f"an fsync failed ({error}); reopen the log to see what is on disk"
                raise LogClosedError(f"log {self.directory}: {self._failure}") from error
            self._file_unsynced = False
            self._directory_unsynced = False
            self._durable_position = self.last_position
        segment, fd = create_segment_file(self.directory, self.last_position + 1)
        os.close(self._fd)
        self._fd = fd
        with self._lock:
            self._segments.append(segment)
        self._file_unsynced = True  # its header
        self._directory_unsynced = True
        return segment

    # -- reading -------------------------------------------------------------------------
    def reader(self, from_position: int, to_position: int | None = None) -> Iterator[tuple[int, bytes]]:
        """Yield (position, payload) from `from_position` up to `to_position` (inclusive) or,
        by default, up to `last_position` at the time of this call; records appended later
        are not included. Records are yielded whether or not they are durable yet: pass
        `to_position=log.durable_position` for durable ones only.

        Raises `PositionCompactedError` at once if `from_position` was compacted away. While
        iterating, raises `LogCorruptedError` if a frame fails its checksum, and
        `PositionCompactedError` if compaction deleted a segment before the reader got to it.
        A reader must not be used across a `truncate` that cuts into its range.
        """
        if self._closed:
            raise LogClosedError(f"log {self.directory} is closed")
        if from_position < 1:
            raise ValueError(f"positions start at 1, not {from_position}")
        with self._lock:
            segments = self._segments
            first = segments[0].first_position
            if from_position < first:
                raise PositionCompactedError(
                    f"position {from_position} was compacted away; the log {self.directory} "
                    f"now starts at position {first}"
                )
            last = segments[-1].last_position
            if to_position is not None:
                last = min(last, to_position)
            plan: list[tuple[Path, int, int, int]] = []
            if from_position <= last:
                number = bisect.bisect_right(segments, from_position, key=_first_position) - 1
                start_position, start_offset = segments[number].seek(from_position)
                for segment in segments[number:]:
                    if segment.first_position > last:
                        break
                    plan.append((segment.path, start_position, start_offset, segment.size_bytes))
                    start_position, start_offset = segment.last_position + 1, SEGMENT_HEADER_BYTES
        return _read(plan, from_position, last)

    def cursor(self, from_position: int) -> LogCursor:
        """A cursor from `from_position` that keeps reading as the log grows, each frame read
        once (see cursor.py); for followers of the tail such as the exporter director."""
        if self._closed:
            raise LogClosedError(f"log {self.directory} is closed")
        first = self.first_position
        if from_position < first:
            raise PositionCompactedError(
                f"position {from_position} was compacted away; the log {self.directory} "
                f"now starts at position {first}"
            )
        return LogCursor(self, from_position)

    # -- maintenance ---------------------------------------------------------------------
    def compact(self, before_position: int) -> int:
        """Delete the segments whose records all lie before `before_position`, never the
        active (last) one; returns how many were deleted. Durable when it returns. Readers
        already past a deleted segment are unaffected; new readers for positions in it raise
        `PositionCompactedError`."""
        self._check_writable()
        deleted: list[Segment] = []
        with self._lock:
            while len(self._segments) > 1 and self._segments[0].last_position < before_position:
                deleted.append(self._segments.pop(0))
        for segment in deleted:
            segment.path.unlink(missing_ok=True)
        if deleted:
            _fsync_directory(self.directory)
            logger.info(
                "log compacted: %d segments deleted, the log now starts at position %d",
                len(deleted),
                self.first_position,
                extra={"log_directory": str(self.directory), "segments_deleted": len(deleted),
                       "first_position": self.first_position},
            )
        return len(deleted)

    def reset(self, first_position: int) -> None:
        """Drop every record and go on empty, the next append getting `first_position` (past
        `last_position`): for a replica that installs a state snapshot newer than its whole
        log. Durable when it returns. No reader may be in use: the caller stops them first.
        A crash in between leaves a shorter, whole log (segments go newest first) or the new,
        empty one."""
        self._check_writable()
        if first_position <= self.last_position:
            raise ValueError(
                f"a reset log starts after its last position {self.last_position}, not at {first_position}"
            )
        try:
            with self._lock:
                removed = list(reversed(self._segments))
            os.close(self._fd)
            self._fd = -1
            for gone in removed:
                gone.path.unlink(missing_ok=True)
            _fsync_directory(self.directory)
            segment, self._fd = create_segment_file(self.directory, first_position)
            _sync_data(self._fd)
            _fsync_directory(self.directory)
        except OSError as error:
            self._failure = f"resetting the log to start at position {first_position} failed ({error})"
            raise LogClosedError(f"log {self.directory}: {self._failure}; reopen it") from error
        with self._lock:
            self._segments = [segment]
        self._file_unsynced = False
        self._directory_unsynced = False
        self._durable_position = first_position - 1
        logger.info(
            "log reset: it now starts empty at position %d", first_position,
            extra={"log_directory": str(self.directory), "first_position": first_position},
        )

    def truncate(self, after_position: int) -> None:
        """Drop every record after `after_position`; the next append gets `after_position + 1`.
        Durable when it returns, with everything kept: `durable_position == last_position`. Used to drop an
        incomplete batch, or entries a new Raft leader overwrote.

        `after_position` may not be before `first_position - 1` (compacted positions are gone).
        """
        self._check_writable()
        if after_position >= self.last_position:
            return
        if after_position < self.first_position - 1:
            raise ValueError(
                f"cannot truncate after position {after_position}: the log starts at position "
                f"{self.first_position}, what is before was compacted away"
            )
        try:
            self._truncate(after_position)
        except OSError as error:
            self._failure = f"truncating after position {after_position} failed ({error})"
            raise LogClosedError(f"log {self.directory}: {self._failure}; reopen it") from error

    def _truncate(self, after_position: int) -> None:
        removed: list[Segment] = []
        with self._lock:
            while len(self._segments) > 1 and self._segments[-1].first_position > after_position:
                removed.append(self._segments.pop())
            segment = self._segments[-1]
        if removed:
            os.close(self._fd)
            self._fd = os.open(segment.path, os.O_WRONLY | os.O_APPEND)
            for gone in removed:  # newest first: a crash in between leaves a shorter, whole log
                gone.path.unlink(missing_ok=True)
        if removed or self._directory_unsynced:
            # Deletions must be durable before the segment is cut: otherwise a crash could
            # bring back later segments after a cut one, a gap in the positions.
            _fsync_directory(self.directory)
            self._directory_unsynced = False
        cut_offset = self._offset_after(segment, after_position)
        os.ftruncate(self._fd, cut_offset)
        _sync_data(self._fd)  # also makes what is kept of this segment durable
        with self._lock:
            segment.size_bytes = cut_offset
            segment.last_position = max(segment.first_position - 1, after_position)
            segment.cut_index(after_position)
        self._file_unsynced = False
        # Earlier segments were fsync'd when they were sealed: everything kept is durable.
        self._durable_position = self.last_position

    def _offset_after(self, segment: Segment, after_position: int) -> int:
        """The byte offset just past the frame of `after_position` in `segment`."""
        if after_position < segment.first_position:
            return SEGMENT_HEADER_BYTES
        start_position, start_offset = segment.seek(after_position)
        with open(segment.path, "rb", buffering=READ_CHUNK_BYTES) as handle:
            try:
                for frames in scan_frames(
                    handle, start_offset, segment.size_bytes, start_position, READ_CHUNK_BYTES
                ):
                    for offset, position, payload in frames:
                        if position == after_position:
                            return offset + FRAME_HEADER_BYTES + len(payload)
            except DamagedFrame as damage:
                raise LogCorruptedError(segment.path, damage.offset, damage.reason) from None
        raise LogCorruptedError(segment.path, None, f"position {after_position} was not found")

    # -- closing -------------------------------------------------------------------------
    def close(self) -> None:
        """Flush (unless a write failed), then release the files and the directory lock.
        Closing twice is harmless."""
        if self._closed:
            return
        try:
            if self._failure is None:
                self.flush()
        finally:
            self._closed = True
            if self._fd >= 0:  # -1 after a failed reset
                os.close(self._fd)
            os.close(self._lock_fd)

    def __enter__(self) -> Log:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Log({str(self.directory)!r}, positions {self.first_position}..{self.last_position}, "
            f"durable {self._durable_position}, {len(self._segments)} segments)"
        )

    def _check_writable(self) -> None:
        if self._closed:
            raise LogClosedError(f"log {self.directory} is closed")
        if self._failure is not None:
            raise LogClosedError(f"log {self.directory} refuses writes: {self._failure}")


def _first_position(segment: Segment) -> int:
    return segment.first_position


def _read(
    plan: list[tuple[Path, int, int, int]], from_position: int, last_position: int
) -> Iterator[tuple[int, bytes]]:
    """Scan the planned (path, first position, start offset, end offset) stretches."""
    for path, start_position, start_offset, end_offset in plan:
        try:
            handle = open(path, "rb", buffering=READ_CHUNK_BYTES)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise PositionCompactedError(
                f"segment {path} was deleted by compaction before the reader got to it"
            ) from None
        with handle:
            try:
                for frames in scan_frames(
                    handle, start_offset, end_offset, start_position, READ_CHUNK_BYTES
                ):
                    for _, position, payload in frames:
                        if position > last_position:
                            return
                        if position >= from_position:
                            yield position, payload
            except DamagedFrame as damage:
                raise LogCorruptedError(path, damage.offset, damage.reason) from None


def _load_segments(directory: Path) -> list[Segment]:
    """Scan every segment file, repairing a torn tail of the last one only."""
    found = sorted(
        (int(match[1]), path)
        for path in directory.iterdir()
        if (match := SEGMENT_NAME.match(path.name)) is not None
    )
    segments: list[Segment] = []
    for number, (first_position, path) in enumerate(found):
        is_last = number == len(found) - 1
        try:
            result = scan_segment(path, first_position, READ_CHUNK_BYTES)
        except DamagedHeader as damage:
            if not (is_last and damage.torn):
                raise LogCorruptedError(path, 0, damage.reason) from None
            segment = _rewrite_torn_header(path, first_position, damage.reason)
        else:
            segment = result.segment
            if result.damage is not None:
                if not is_last:
                    raise LogCorruptedError(path, result.damage.offset, result.damage.reason)
                _cut_torn_tail(path, result.damage, result.file_bytes)
        if segments and segment.first_position != segments[-1].last_position + 1:
            previous = segments[-1]
            raise LogCorruptedError(
                path,
                None,
                f"it starts at position {segment.first_position}, but the segment before it, "
                f"{previous.path.name}, ends at position {previous.last_position}",
            )
        segments.append(segment)
    return segments


def _cut_torn_tail(path: Path, damage: DamagedFrame, file_bytes: int) -> None:
    dropped = file_bytes - damage.offset
    with open(path, "r+b") as handle:
        handle.truncate(damage.offset)
        handle.flush()
        os.fsync(handle.fileno())
    logger.warning(
        "log: torn tail cut off segment %s at byte %d, %d bytes dropped (%s)",
        path.name,
        damage.offset,
        dropped,
        damage.reason,
        extra={"segment": str(path), "cut_offset": damage.offset, "bytes_dropped": dropped,
               "reason": damage.reason},
    )


def _rewrite_torn_header(path: Path, first_position: int, reason: str) -> Segment:
    dropped = path.stat().st_size
    with open(path, "wb") as handle:
        handle.write(encode_segment_header(first_position))
        handle.flush()
        os.fsync(handle.fileno())
    logger.warning(
        "log: segment %s was created but its header never reached the disk (%s); header "
        "rewritten, %d bytes dropped",
        path.name,
        reason,
        dropped,
        extra={"segment": str(path), "cut_offset": 0, "bytes_dropped": dropped, "reason": reason},
    )
    return Segment(path, first_position, first_position - 1, SEGMENT_HEADER_BYTES)


def _lock_directory(directory: Path) -> int:
    fd = os.open(directory / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LogLockedError(
            f"log {directory} is already open (by another Log in this or another process)"
        ) from None
    return fd


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    _fsync_path(directory)  # makes file creations and deletions in it durable
