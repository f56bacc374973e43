"""A log cursor follows the log as it grows: every record once, in order, across segments,
from any position, with the same checks as readers."""

from __future__ import annotations

import pytest
from propolis.log import LogCorruptedError, PositionCompactedError
from propolis.log.segmented_log import Log

from tests.log.records import fill, payload, segment_files


def test_a_cursor_goes_on_where_it_stopped_as_the_log_grows_across_segments(tmp_path):
    log = Log.open(tmp_path, segment_size_bytes_max=1024)
    cursor = log.cursor(1)
    assert cursor.read(to_position=100, records_max=10) == []
    seen = []
    for _ in range(6):
        fill(log, 37, batch_size=7)
        while batch := cursor.read(to_position=log.last_position, records_max=10):
            assert len(batch) <= 10
            seen.extend(batch)
    assert log.segment_count > 5
    assert seen == [(n, payload(n)) for n in range(1, log.last_position + 1)]
    assert cursor.next_position == log.last_position + 1
    log.close()


def test_a_cursor_starts_anywhere_and_stops_at_to_position(tmp_path):
    log = Log.open(tmp_path, segment_size_bytes_max=2048)
    fill(log, 3000)
    cursor = log.cursor(1500)  # inside a segment, past index entries
    assert cursor.read(to_position=1502, records_max=100) == [(n, payload(n)) for n in (1500, 1501, 1502)]
    assert cursor.read(to_position=1502, records_max=100) == []
    assert [p for p, _ in cursor.read(to_position=2999, records_max=5000)] == list(range(1503, 3000))
    assert cursor.read(to_position=10_000, records_max=5000) == [(3000, payload(3000))]
    log.close()


def test_a_cursor_behind_compaction_says_where_the_log_now_starts(tmp_path):
    log = Log.open(tmp_path, segment_size_bytes_max=1024)
    fill(log, 200)
    cursor = log.cursor(1)
    assert len(cursor.read(to_position=5, records_max=10)) == 5
    log.compact(150)
    with pytest.raises(PositionCompactedError, match="position 6 was compacted away"):
        cursor.read(to_position=200, records_max=10)
    with pytest.raises(PositionCompactedError):
        log.cursor(1)
    log.close()


def test_a_damaged_frame_is_reported_with_its_file(tmp_path):
    log = Log.open(tmp_path, segment_size_bytes_max=1024)
    fill(log, 100)
    first = segment_files(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[40] ^= 0xFF  # inside the first frame's payload
    first.write_bytes(bytes(data))
    with pytest.raises(LogCorruptedError, match=first.name):
        log.cursor(1).read(to_position=100, records_max=100)
    log.close()
