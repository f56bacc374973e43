"""On open, the log cuts a torn tail off its last segment and refuses damage anywhere else."""

from __future__ import annotations

import logging

import pytest
from propolis.log.errors import LogCorruptedError
from propolis.log.frame import FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES
from propolis.log.segmented_log import Log

from tests.log.records import fill, payload, segment_files


def flip_byte(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_frame_cut_short_at_the_tail_is_dropped_and_appends_continue_there(tmp_path, caplog):
    with Log.open(tmp_path) as log:
        fill(log, 50)
    segment = segment_files(tmp_path)[-1]
    segment.write_bytes(segment.read_bytes()[:-5])
    with caplog.at_level(logging.WARNING, logger="propolis.log"), Log.open(tmp_path) as log:
        assert log.last_position == log.durable_position == 49
        assert log.append_batch([b"again"]) == 50
        assert list(log.reader(48)) == [(48, payload(48)), (49, payload(49)), (50, b"again")]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.bytes_dropped == FRAME_HEADER_BYTES + len(payload(50)) - 5
    assert "torn tail" in warning.getMessage()


def test_a_frame_header_cut_short_is_dropped(tmp_path):
    with Log.open(tmp_path) as log:
        fill(log, 50)
    segment = segment_files(tmp_path)[-1]
    size = segment.stat().st_size
    with segment.open("ab") as handle:
        handle.write(b"\x00\x00\x01")
    with Log.open(tmp_path) as log:
        assert log.last_position == 50
    assert segment.stat().st_size == size


def test_a_flipped_byte_in_the_last_records_payload_is_dropped_on_open(tmp_path):
    with Log.open(tmp_path) as log:
        fill(log, 50)
    segment = segment_files(tmp_path)[-1]
    flip_byte(segment, segment.stat().st_size - 2)
    with Log.open(tmp_path) as log:
        assert log.last_position == 49
        assert log.append_batch([b"again"]) == 50


def test_a_frame_with_the_wrong_position_ends_the_tail(tmp_path):
    with Log.open(tmp_path) as log:
        fill(log, 20)
    segment = segment_files(tmp_path)[-1]
    good = segment.read_bytes()
    # A whole, well-checksummed frame of position 7 appended again after position 20.
    with Log.open(tmp_path / "other") as other:
        other.append_batch([payload(n) for n in range(1, 8)])
    stale = (tmp_path / "other" / "00000000000000000001.log").read_bytes()
    last_frame = stale[-(FRAME_HEADER_BYTES + len(payload(7))):]
    segment.write_bytes(good + last_frame)
    with Log.open(tmp_path) as log:
        assert log.last_position == 20
    assert segment.read_bytes() == good


def test_a_garbage_tail_in_the_last_of_several_segments_is_dropped(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 300)
    segment = segment_files(tmp_path)[-1]
    with segment.open("ab") as handle:
        handle.write(b"\xff" * 1_000)
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        assert log.last_position == 300
        assert [p for p, _ in log.reader(1)] == list(range(1, 301))


def test_a_segment_whose_header_never_reached_the_disk_is_started_again(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 100)
        last = log.last_position
    # A crash right after the next segment's file was created, before its header was written.
    (tmp_path / f"{last + 1:020d}.log").write_bytes(b"")
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        assert log.last_position == last
        assert log.append_batch([b"next"]) == last + 1
        assert list(log.reader(last + 1)) == [(last + 1, b"next")]


def test_corruption_in_an_earlier_segment_is_an_error_naming_the_file_and_offset(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 300)
    first = segment_files(tmp_path)[0]
    offset = SEGMENT_HEADER_BYTES + FRAME_HEADER_BYTES + 2  # in the first record's payload
    flip_byte(first, offset)
    with pytest.raises(LogCorruptedError, match=rf"{first.name} at byte {SEGMENT_HEADER_BYTES} is corrupt: a checksum mismatch") as raised:
        Log.open(tmp_path, segment_size_bytes_max=1_000)
    assert raised.value.path == first
    assert first.read_bytes()[offset] != payload(1)[2], "the damaged segment was left as it is"


def test_an_earlier_segment_cut_short_is_an_error(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 300)
    second = segment_files(tmp_path)[1]
    second.write_bytes(second.read_bytes()[:-3])
    with pytest.raises(LogCorruptedError, match=f"{second.name} at byte .* cut short"):
        Log.open(tmp_path, segment_size_bytes_max=1_000)


def test_a_missing_segment_in_the_middle_is_an_error(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 300)
    files = segment_files(tmp_path)
    files[2].unlink()
    with pytest.raises(LogCorruptedError, match=f"{files[3].name} is corrupt: it starts at position"):
        Log.open(tmp_path, segment_size_bytes_max=1_000)


def test_a_segment_header_that_is_not_ours_is_an_error(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 300)
    last = segment_files(tmp_path)[-1]
    flip_byte(last, 0)
    with pytest.raises(LogCorruptedError, match="not the segment magic"):
        Log.open(tmp_path, segment_size_bytes_max=1_000)


def test_a_reader_reports_a_record_damaged_after_open(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 300)
        first = segment_files(tmp_path)[0]
        flip_byte(first, SEGMENT_HEADER_BYTES + FRAME_HEADER_BYTES + 2)
        with pytest.raises(LogCorruptedError, match=f"{first.name} at byte {SEGMENT_HEADER_BYTES} is corrupt"):
            list(log.reader(1))


def test_a_segment_header_of_zeros_in_the_last_segment_is_written_again(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 100)
        last = log.last_position
    (tmp_path / f"{last + 1:020d}.log").write_bytes(bytes(SEGMENT_HEADER_BYTES))
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        assert log.last_position == last
        assert log.append_batch([b"next"]) == last + 1
