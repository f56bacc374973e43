"""The log keeps every flushed record, repairs a torn tail and refuses silent corruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from propolis.log.errors import LogCorruptedError, PositionCompactedError, RecordTooLargeError
from propolis.log.segmented_log import Log


def payload(n: int) -> bytes:
    return f"record-{n}".encode() * 3


def fill(log: Log, count: int, batch: int = 10) -> None:
    for start in range(1, count + 1, batch):
        log.append_batch([payload(n) for n in range(start, min(start + batch, count + 1))])
        log.flush()


def test_reads_back_from_any_position_across_segments(tmp_path):
    log = Log.open(tmp_path, segment_size_bytes_max=2_000)
    fill(log, 1_000)
    assert len(list(tmp_path.iterdir())) > 5
    for start in (1, 2, 399, 1_000):
        records = list(log.reader(start))
        assert records[0] == (start, payload(start))
        assert [p for p, _ in records] == list(range(start, 1_001))
    log.close()


def test_reopening_keeps_everything_and_continues_the_positions(tmp_path):
    log = Log.open(tmp_path, segment_size_bytes_max=2_000)
    fill(log, 300)
    log.close()
    log = Log.open(tmp_path, segment_size_bytes_max=2_000)
    assert log.append_batch([b"next"]) == 301
    assert list(log.reader(300))[-1] == (301, b"next")
    log.close()


def last_segment(directory):
    return sorted(directory.iterdir())[-1]


def test_a_frame_cut_short_at_the_tail_is_dropped_on_open(tmp_path):
    log = Log.open(tmp_path)
    fill(log, 50)
    log.close()
    segment = last_segment(tmp_path)
    segment.write_bytes(segment.read_bytes()[:-5])
    log = Log.open(tmp_path)
    assert log.last_position == 49
    assert log.append_batch([b"again"]) == 50
    assert list(log.reader(50)) == [(50, b"again")]
    log.close()


def test_a_flipped_byte_in_the_last_record_is_dropped_on_open(tmp_path):
    log = Log.open(tmp_path)
    fill(log, 50)
    log.close()
    segment = last_segment(tmp_path)
    data = bytearray(segment.read_bytes())
    data[-2] ^= 0xFF
    segment.write_bytes(bytes(data))
    log = Log.open(tmp_path)
    assert log.last_position == 49
    log.close()


def test_corruption_in_an_earlier_segment_is_an_error_naming_the_file(tmp_path):
    log = Log.open(tmp_path, segment_size_bytes_max=1_000)
    fill(log, 300)
    log.close()
    first = sorted(tmp_path.iterdir())[0]
    data = bytearray(first.read_bytes())
    data[40] ^= 0xFF
    first.write_bytes(bytes(data))
    with pytest.raises(LogCorruptedError, match=first.name):
        Log.open(tmp_path, segment_size_bytes_max=1_000)


def test_compaction_deletes_only_whole_old_segments(tmp_path):
    log = Log.open(tmp_path, segment_size_bytes_max=1_000)
    fill(log, 500)
    segments_before = len(list(tmp_path.iterdir()))
    log.compact(250)
    assert len(list(tmp_path.iterdir())) < segments_before
    assert 1 < log.first_position <= 250
    assert next(iter(log.reader(250)))[0] == 250
    with pytest.raises(PositionCompactedError, match="compacted"):
        list(log.reader(1))
    log.close()


def test_truncate_drops_records_after_a_position(tmp_path):
    log = Log.open(tmp_path, segment_size_bytes_max=1_000)
    fill(log, 200)
    log.truncate(120)
    assert log.last_position == 120
    assert log.append_batch([b"x"]) == 121
    log.close()
    assert Log.open(tmp_path, segment_size_bytes_max=1_000).last_position == 121


def test_a_record_over_the_frame_limit_is_refused(tmp_path, monkeypatch):
    import propolis.log.segmented_log as module

    monkeypatch.setattr(module, "FRAME_PAYLOAD_BYTES_MAX", 100)
    log = Log.open(tmp_path)
    with pytest.raises(RecordTooLargeError, match="101 bytes"):
        log.append_batch([b"x" * 101])
    log.close()


def test_every_flushed_record_survives_sigkill(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        from propolis.log.segmented_log import Log
        log = Log.open(__import__("pathlib").Path({str(tmp_path)!r}), segment_size_bytes_max=4096)
        n = 0
        while True:
            log.append_batch([b"r%d" % (n + i) for i in range(7)])
            n += 7
            log.flush()
            print(n, flush=True)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    flushed = 0
    for line in process.stdout:
        flushed = int(line)
        if flushed > 3_000:
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    log = Log.open(tmp_path, segment_size_bytes_max=4096)
    assert log.last_position >= flushed
    records = list(log.reader(1))
    assert records[flushed - 1] == (flushed, b"r%d" % (flushed - 1))
    log.close()
