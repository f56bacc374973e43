"""The bytes of the log on disk: the segment header and the record frame.

A segment file starts with a 16-byte header, all integers big-endian:

    magic b"PLOG" (4 bytes) | format version u32 (= 1) | first position u64

followed by frames, one per record, back to back:

    payload length u32 | checksum u32 | position u64 | payload (length bytes)

The checksum is zlib's CRC-32 of the 8 position bytes followed by the payload: a damaged
position fails the check as a flipped payload bit does, and a whole frame whose position is
not the next one expected (a stale frame) is refused by the position check. The length is not
covered directly: a wrong length moves the payload's end, and the checksum then fails.
CRC-32C would be as good; zlib's CRC-32 ships with Python and is fast.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from propolis.log.config import FRAME_PAYLOAD_BYTES_MAX

MAGIC = b"PLOG"
FORMAT_VERSION = 1
SEGMENT_HEADER = struct.Struct(">4sIQ")  # magic, version, first position
FRAME_HEADER = struct.Struct(">IIQ")  # payload length, checksum, position
SEGMENT_HEADER_BYTES = SEGMENT_HEADER.size
FRAME_HEADER_BYTES = FRAME_HEADER.size
_POSITION = struct.Struct(">Q")
_CHECKED_FROM = 8  # the checksum covers the frame from its position field to its end
FRAMES_PER_LIST_MAX = 4_096  # scan_frames yields lists of at most this many frames


class DamagedFrame(Exception):  # noqa: N818 - internal signal, turned into a LogError by callers
    """The frame at `offset` is not whole or not right; `reason` says how."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


def encode_segment_header(first_position: int) -> bytes:
    return SEGMENT_HEADER.pack(MAGIC, FORMAT_VERSION, first_position)


def encode_frames(first_position: int, payloads: Sequence[bytes]) -> bytes:
    """The frames of `payloads` at consecutive positions from `first_position`, as one buffer."""
    pack = FRAME_HEADER.pack
    pack_position = _POSITION.pack
    crc32 = zlib.crc32
    parts: list[bytes] = []
    position = first_position
    for payload in payloads:
        parts.append(pack(len(payload), crc32(payload, crc32(pack_position(position))), position))
        parts.append(payload)
        position += 1
    return b"".join(parts)


def scan_frames(
    handle: BinaryIO,
    start_offset: int,
    end_offset: int,
    first_position: int,
    batch_bytes: int,
) -> Iterator[list[tuple[int, int, bytes]]]:
    """Yield the frames between `start_offset` and `end_offset` of `handle`, the first of
    which must hold `first_position`, as lists of (offset, position, payload) of about
    `batch_bytes` each (lists rather than single frames: this loop is the log's read path).

    Every frame is checked: its length within FRAME_PAYLOAD_BYTES_MAX and whole before
    `end_offset`, its position the next one expected, its checksum right. The first frame
    that fails raises `DamagedFrame` with its offset, after the good frames before it were
    yielded. `handle` should be buffered (the frames are read header, then payload).
    """
    header_bytes = FRAME_HEADER_BYTES
    payload_bytes_max = FRAME_PAYLOAD_BYTES_MAX
    frames_per_list_max = FRAMES_PER_LIST_MAX
    unpack = FRAME_HEADER.unpack
    crc32 = zlib.crc32
    read = handle.read
    handle.seek(start_offset)
    offset = start_offset
    expected = first_position
    while offset < end_offset:
        frames = []
        listed_bytes = 0
        damage = None
        while offset < end_offset and listed_bytes < batch_bytes and len(frames) < frames_per_list_max:
            header = read(header_bytes)
            if len(header) < header_bytes:
                damage = f"a frame header cut short ({len(header)} of {header_bytes} bytes)"
                break
            length, crc, position = unpack(header)
            frame_end = offset + header_bytes + length
            if length > payload_bytes_max:
                damage = f"a frame length of {length} bytes, above the limit of {payload_bytes_max}"
                break
            if frame_end > end_offset:
                damage = f"a frame cut short ({end_offset - offset} of {header_bytes + length} bytes)"
                break
            if position != expected:
                damage = f"position {position} where {expected} was expected"
                break
            payload = read(length)
            if len(payload) < length:
                damage = f"a frame cut short ({header_bytes + len(payload)} of {header_bytes + length} bytes)"
                break
            if crc32(payload, crc32(header[_CHECKED_FROM:])) != crc:
                damage = f"a checksum mismatch in the frame of position {position}"
                break
            frames.append((offset, position, payload))
            offset = frame_end
            expected += 1
            listed_bytes += length
        if frames:
            yield frames
        if damage is not None:
            raise DamagedFrame(offset, damage)
