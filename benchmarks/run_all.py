"""Every figure of benchmarks/RESULTS.md in one run, with progress on stderr.

For each model (one-task, start-end): SpiffWorkflow in memory; propolis at saturation; then
propolis at a fixed rate of half its saturation throughput for p50/p99 latency. Each
propolis run starts its own `propolis dev` (fsync on) with a fresh data folder, so runs do not
share state. Prints a markdown section to paste into RESULTS.md.

    .venv/bin/python -m benchmarks.run_all            # about 3 minutes
    .venv/bin/python -m benchmarks.run_all --quick    # about 1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys

from benchmarks import load, spiff


def propolis_run(model: str, mode: str, duration_s: float, warmup_s: float, rate: float = 0.0) -> dict:
    dev = load.DevProcess()
    try:
        return asyncio.run(load.run_load(dev.address, model, mode, rate, 64, duration_s, warmup_s, 4))
    finally:
        dev.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    args = parser.parse_args()
    duration, warmup, spiff_s = (8.0, 2.0, 3.0) if args.quick else (20.0, 5.0, 8.0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    rows = []
    for model in ("one-task", "start-end"):
        print(f"== {model}: SpiffWorkflow", file=sys.stderr)
        spiff_result = spiff.run(model, spiff_s)
        print(f"== {model}: propolis at saturation", file=sys.stderr)
        saturated = propolis_run(model, "saturate", duration, warmup)
        half = max(1.0, saturated["completed_per_s_median"] / 2)
        print(f"== {model}: propolis at {half:.0f}/s", file=sys.stderr)
        paced = propolis_run(model, "rate", duration, warmup, rate=half)
        rows.append((model, spiff_result, saturated, paced, half))
    print(f"### {commit} on {os.cpu_count()} cores, Python {platform.python_version()}\n")
    print("Command: `.venv/bin/python -m benchmarks.run_all" + (" --quick" if args.quick else "") + "`\n")
    print("| model | propolis saturated (median/s) | SpiffWorkflow (median/s) | propolis/Spiff | rate for latency | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for model, spiff_result, saturated, paced, half in rows:
        ratio = saturated["completed_per_s_median"] / spiff_result["instances_per_s_median"]
        errors = {**saturated["errors"], **paced["errors"]}
        print(
            f"| {model} | {saturated['completed_per_s_median']:.0f} | {spiff_result['instances_per_s_median']:.0f} | {ratio:.2f} "
            f"| {half:.0f}/s | {paced['latency_ms_p50']} | {paced['latency_ms_p99']} | {errors or 'none'} |"
        )


if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    main()
