"""Every flushed record survives the process being killed (a real process, SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from propolis.log.segmented_log import Log

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from propolis.log.segmented_log import Log

    log = Log.open(Path(sys.argv[1]), segment_size_bytes_max=4096)
    while True:
        first = log.append_batch([b"r%d" % (log.last_position + 1 + i) for i in range(7)])
        if first % 3 == 0:  # some batches are appended but never flushed
            continue
        print(log.flush(), flush=True)
    """
)


def test_every_flushed_position_is_readable_after_the_writer_is_killed(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        flushed = 0
        for line in process.stdout:
            flushed = int(line)
            if flushed > 3_000:
                break
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
    assert flushed > 3_000
    with Log.open(tmp_path, segment_size_bytes_max=4096) as log:
        assert log.last_position >= flushed
        assert log.segment_count > 10
        records = list(log.reader(1))
    assert records == [(n, b"r%d" % n) for n in range(1, len(records) + 1)]
