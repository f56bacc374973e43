"""Appending, reading back, reopening, compaction and truncation of the segmented log."""

from __future__ import annotations

import threading

import pytest
from propolis.log import segmented_log
from propolis.log.errors import (
    LogClosedError,
    LogLockedError,
    PositionCompactedError,
    RecordTooLargeError,
)
from propolis.log.segmented_log import Log

from tests.log.records import fill, payload, segment_files


def test_a_new_log_is_empty_and_starts_at_position_one(tmp_path):
    with Log.open(tmp_path / "log") as log:
        assert (log.first_position, log.last_position, log.durable_position) == (1, 0, 0)
        assert list(log.reader(1)) == []
        assert log.append_batch([b"a", b"b"]) == 1
        assert log.append_batch([b"c"]) == 3
        assert list(log.reader(1)) == [(1, b"a"), (2, b"b"), (3, b"c")]


def test_reads_back_from_any_position_across_segment_boundaries(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=2_000) as log:
        fill(log, 1_000, batch_size=7)
        assert len(segment_files(tmp_path)) > 10
        for start in (1, 2, 50, 399, 400, 401, 777, 999, 1_000):
            records = list(log.reader(start))
            assert [position for position, _ in records] == list(range(start, 1_001))
            assert all(data == payload(position) for position, data in records)
        assert list(log.reader(1_001)) == []


def test_a_reader_stops_at_to_position(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=2_000) as log:
        fill(log, 300)
        assert [p for p, _ in log.reader(95, to_position=205)] == list(range(95, 206))
        assert list(log.reader(10, to_position=9)) == []


def test_seeking_uses_the_index_in_a_large_segment(tmp_path):
    with Log.open(tmp_path) as log:
        fill(log, 10_000, batch_size=100)
        segment = log._segments[-1]
        assert len(segment.index_positions) >= 9
        assert next(iter(log.reader(8_765))) == (8_765, payload(8_765))


def test_no_segment_grows_past_its_limit_and_a_batch_never_spans_segments(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        batches = [log.append_batch([payload(n) for n in range(7)]) for _ in range(60)]
        log.flush()
        files = segment_files(tmp_path)
        assert all(path.stat().st_size <= 1_000 for path in files)
        segment_starts = {int(path.stem) for path in files}
        assert segment_starts <= set(batches)


def test_a_batch_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=500) as log:
        log.append_batch([b"small"])
        assert log.append_batch([b"x" * 300, b"y" * 300]) == 2
        log.append_batch([b"after"])
        assert [int(path.stem) for path in segment_files(tmp_path)] == [1, 2, 4]
        assert [p for p, _ in log.reader(1)] == [1, 2, 3, 4]


def test_reopening_keeps_everything_and_continues_the_positions(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=2_000) as log:
        fill(log, 300)
    with Log.open(tmp_path, segment_size_bytes_max=2_000) as log:
        assert (log.first_position, log.last_position, log.durable_position) == (1, 300, 300)
        assert log.append_batch([b"next"]) == 301
        records = list(log.reader(1))
    assert records[:300] == [(n, payload(n)) for n in range(1, 301)]
    assert records[300] == (301, b"next")


def test_flush_makes_everything_appended_durable_and_is_free_when_nothing_changed(tmp_path, monkeypatch):
    with Log.open(tmp_path) as log:
        log.append_batch([b"a"])
        log.append_batch([b"b", b"c"])
        assert log.durable_position == 0
        assert log.flush() == 3
        assert log.durable_position == 3
        syncs = []
        monkeypatch.setattr("propolis.log.segmented_log._sync_data", syncs.append)
        assert log.flush() == 3
        assert syncs == []


def test_a_record_over_the_size_limit_is_refused_and_nothing_of_its_batch_is_written(tmp_path):
    with Log.open(tmp_path, record_size_bytes_max=100) as log:
        with pytest.raises(RecordTooLargeError, match="record 1 of the batch has 101 bytes, more than the limit of 100"):
            log.append_batch([b"fine", b"x" * 101])
        assert log.last_position == 0
        assert log.append_batch([b"x" * 100]) == 1


def test_an_empty_batch_is_refused(tmp_path):
    with Log.open(tmp_path) as log, pytest.raises(ValueError, match="empty batch"):
        log.append_batch([])


def test_a_failed_write_leaves_nothing_of_the_batch(tmp_path, monkeypatch):
    import os

    real_write = os.write

    def half_then_full_disk(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    with Log.open(tmp_path) as log:
        log.append_batch([b"kept"])
        monkeypatch.setattr(os, "write", half_then_full_disk)
        with pytest.raises(OSError, match="No space"):
            log.append_batch([b"lost" * 100, b"lost too"])
        monkeypatch.setattr(os, "write", real_write)
        assert log.append_batch([b"next"]) == 2
    with Log.open(tmp_path) as log:
        assert list(log.reader(1)) == [(1, b"kept"), (2, b"next")]


def test_a_failed_fsync_makes_the_log_refuse_writes(tmp_path, monkeypatch):
    def failing_sync(fd):
        raise OSError(5, "Input/output error")

    log = Log.open(tmp_path)
    log.append_batch([b"a"])
    monkeypatch.setattr("propolis.log.segmented_log._sync_data", failing_sync)
    with pytest.raises(LogClosedError, match="fsync failed"):
        log.flush()
    with pytest.raises(LogClosedError, match="refuses writes"):
        log.append_batch([b"b"])
    log.close()


def test_compaction_deletes_only_whole_segments_before_the_position(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 500)
        before = segment_files(tmp_path)
        deleted = log.compact(250)
        after = segment_files(tmp_path)
        assert deleted == len(before) - len(after) > 0
        assert 1 < int(after[0].stem) == log.first_position <= 250
        assert next(iter(log.reader(250))) == (250, payload(250))
        assert [p for p, _ in log.reader(log.first_position)] == list(range(log.first_position, 501))


def test_reading_a_compacted_position_says_where_the_log_now_starts(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 500)
        log.compact(250)
        with pytest.raises(PositionCompactedError, match=f"position 1 was compacted away; .* now starts at position {log.first_position}"):
            log.reader(1)


def test_compaction_never_deletes_the_active_segment(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 100)
        log.compact(10_000)
        assert len(segment_files(tmp_path)) == 1
        assert log.last_position == 100
        assert log.append_batch([b"more"]) == 101
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        assert log.first_position > 1
        assert list(log.reader(101)) == [(101, b"more")]


def test_a_reader_created_before_compaction_reads_on_or_says_its_segment_was_compacted(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 300)
        reader = log.reader(1)
        assert next(reader) == (1, payload(1))
        log.compact(200)
        with pytest.raises(PositionCompactedError, match="deleted by compaction"):
            list(reader)


def test_truncate_drops_the_records_after_a_position_across_segments(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 200)
        log.truncate(120)
        assert log.last_position == log.durable_position == 120
        assert all(int(path.stem) <= 120 for path in segment_files(tmp_path))
        assert log.append_batch([b"x"]) == 121
        assert [p for p, _ in log.reader(100)] == list(range(100, 122))
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        assert log.last_position == 121
        assert list(log.reader(120)) == [(120, payload(120)), (121, b"x")]


def test_truncate_at_a_segment_boundary_and_to_the_very_start(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 200)
        second = int(segment_files(tmp_path)[1].stem)
        log.truncate(second - 1)
        assert log.last_position == second - 1
        assert log.append_batch([b"y"]) == second
        log.truncate(0)
        assert (log.first_position, log.last_position) == (1, 0)
        assert segment_files(tmp_path) == [tmp_path / "00000000000000000001.log"]
        assert log.append_batch([b"z"]) == 1
    with Log.open(tmp_path) as log:
        assert list(log.reader(1)) == [(1, b"z")]


def test_truncate_does_not_reach_into_compacted_positions(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        fill(log, 300)
        log.compact(200)
        with pytest.raises(ValueError, match="compacted"):
            log.truncate(1)


def test_a_second_log_on_the_same_directory_is_refused_until_the_first_closes(tmp_path):
    log = Log.open(tmp_path)
    with pytest.raises(LogLockedError, match="already open"):
        Log.open(tmp_path)
    log.close()
    Log.open(tmp_path).close()


def test_a_closed_log_refuses_appends_and_readers(tmp_path):
    log = Log.open(tmp_path)
    log.append_batch([b"a"])
    log.close()
    log.close()
    with pytest.raises(LogClosedError):
        log.append_batch([b"b"])
    with pytest.raises(LogClosedError):
        log.reader(1)


def test_readers_in_other_threads_see_whole_records_while_appends_go_on(tmp_path):
    errors: list[BaseException] = []
    done = threading.Event()
    with Log.open(tmp_path, segment_size_bytes_max=20_000) as log:

        def read_repeatedly() -> None:
            try:
                while not done.is_set():
                    expected_last = log.last_position
                    records = list(log.reader(1))
                    assert [p for p, _ in records] == list(range(1, len(records) + 1))
                    assert len(records) >= expected_last
                    assert all(data == payload(p) for p, data in records)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        readers = [threading.Thread(target=read_repeatedly) for _ in range(3)]
        for thread in readers:
            thread.start()
        try:
            fill(log, 5_000, batch_size=25)
        finally:
            done.set()
            for thread in readers:
                thread.join()
    assert errors == []


def test_appending_does_not_fsync_until_a_segment_is_sealed(tmp_path, monkeypatch):
    syncs = []
    real_sync = segmented_log._sync_data
    monkeypatch.setattr(segmented_log, "_sync_data", lambda fd: (syncs.append(fd), real_sync(fd)))
    with Log.open(tmp_path, segment_size_bytes_max=1_000) as log:
        first_segment_end = None
        while log.segment_count == 1:
            first_segment_end = log.last_position
            log.append_batch([payload(log.last_position + 1)])
        assert len(syncs) == 1, "one fsync: sealing the first segment"
        assert log.durable_position == first_segment_end
        assert log.flush() == log.last_position


def test_a_reader_sees_the_records_up_to_the_last_position_when_it_was_created(tmp_path):
    with Log.open(tmp_path) as log:
        log.append_batch([b"a", b"b"])
        reader = log.reader(1)
        log.append_batch([b"c"])
        assert list(reader) == [(1, b"a"), (2, b"b")]


def test_a_reset_log_starts_empty_after_the_given_position_and_stays_so_when_reopened(tmp_path):
    with Log.open(tmp_path, segment_size_bytes_max=256) as log:
        for i in range(20):
            log.append_batch([f"old-{i}".encode()])
        log.flush()
        with pytest.raises(ValueError):
            log.reset(20)
        log.reset(101)
        assert (log.first_position, log.last_position, log.durable_position) == (101, 100, 100)
        assert log.append_batch([b"new-101", b"new-102"]) == 101
        log.flush()
    with Log.open(tmp_path) as log:
        assert (log.first_position, log.last_position) == (101, 102)
        assert list(log.reader(101)) == [(101, b"new-101"), (102, b"new-102")]
        assert len(list(tmp_path.glob("*.log"))) == 1
