"""The log alone: append + fsync per batch, for several batch sizes, then read everything back.

    .venv/bin/python -m benchmarks.log_append --records 100000

Prints one line per batch size (records/s, MB/s, fsyncs/s) with progress on stderr.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from propolis.log.segmented_log import Log

TIME_LIMIT_S = 60.0  # per batch size: stop early on a slow disk


def measure(records: int, batch_size: int, payload_bytes: int) -> str:
    directory = Path(tempfile.mkdtemp(prefix="propolis-log-bench-"))
    try:
        log = Log.open(directory)
        payload = b"x" * payload_bytes
        batch = [payload] * batch_size
        written = 0
        started = time.perf_counter()
        while written < records and time.perf_counter() - started < TIME_LIMIT_S:
            log.append_batch(batch)
            log.flush()
            written += batch_size
        elapsed = time.perf_counter() - started
        read_started = time.perf_counter()
        read = sum(1 for _ in log.reader(1))
        read_elapsed = time.perf_counter() - read_started
        log.close()
        return (
            f"batch {batch_size:>4}: {written / elapsed:>10,.0f} records/s, "
            f"{written * payload_bytes / elapsed / 1e6:6.1f} MB/s, {written / batch_size / elapsed:8,.0f} fsyncs/s; "
            f"read back {read / read_elapsed:,.0f} records/s"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--payload-bytes", type=int, default=200)
    args = parser.parse_args()
    for batch_size in (1, 10, 100):
        print(f"measuring batches of {batch_size}...", file=sys.stderr, flush=True)
        print(measure(args.records if batch_size > 1 else args.records // 10, batch_size, args.payload_bytes))


if __name__ == "__main__":
    main()
