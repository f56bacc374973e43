"""The log alone: append + fsync per batch, for several batch sizes; then read everything
back and reopen the log (which scans and checks every frame).

    .venv/bin/python -m benchmarks.log_append --records 100000

One result line per batch size on stdout (records/s and MB/s of append+flush, fsyncs/s, read
back records/s, reopen time); progress on stderr. Each batch size stops after
--seconds-max seconds of appending, so a slow disk bounds the run instead of stretching it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from propolis.log.segmented_log import Log

BATCH_SIZES = (1, 10, 100)
PROGRESS_INTERVAL_S = 1.0


def measure(records: int, batch_size: int, payload_bytes: int, seconds_max: float) -> str:
    directory = Path(tempfile.mkdtemp(prefix="propolis-log-bench-"))
    try:
        log = Log.open(directory)
        batch = [b"x" * payload_bytes] * batch_size
        written = 0
        started = time.perf_counter()
        next_progress = started + PROGRESS_INTERVAL_S
        while written < records:
            log.append_batch(batch)
            log.flush()
            written += batch_size
            now = time.perf_counter()
            if now >= next_progress:
                print(f"  batch {batch_size}: {written:,} records appended", file=sys.stderr, flush=True)
                next_progress = now + PROGRESS_INTERVAL_S
                if now - started >= seconds_max:
                    print(f"  batch {batch_size}: time limit of {seconds_max:g} s reached", file=sys.stderr)
                    break
        elapsed = time.perf_counter() - started
        read_started = time.perf_counter()
        read = sum(1 for _ in log.reader(1))
        read_elapsed = time.perf_counter() - read_started
        assert read == written, f"read back {read} records of {written}"
        log.close()
        reopen_started = time.perf_counter()
        Log.open(directory).close()
        reopen_elapsed = time.perf_counter() - reopen_started
        return (
            f"batch {batch_size:>4}: {written:>7,} records, {written / elapsed:>9,.0f} records/s, "
            f"{written * payload_bytes / elapsed / 1e6:5.1f} MB/s, "
            f"{written / batch_size / elapsed:6,.0f} fsyncs/s; "
            f"read back {read / read_elapsed:,.0f} records/s; reopen {reopen_elapsed * 1000:,.0f} ms"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000, help="records per batch size (a tenth for batches of 1)")
    parser.add_argument("--payload-bytes", type=int, default=200)
    parser.add_argument("--seconds-max", type=float, default=30.0, help="appending time limit per batch size")
    args = parser.parse_args()
    print(f"{args.payload_bytes}-byte records, append + flush (fsync) per batch", flush=True)
    for batch_size in BATCH_SIZES:
        print(f"measuring batches of {batch_size}...", file=sys.stderr, flush=True)
        records = args.records if batch_size > 1 else args.records // 10
        print(measure(records, batch_size, args.payload_bytes, args.seconds_max), flush=True)


if __name__ == "__main__":
    main()
