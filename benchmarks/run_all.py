"""Every figure of benchmarks/RESULTS.md in one run, with progress on stderr.

For each model (one-task, start-end): SpiffWorkflow in memory; propolis at saturation; then
propolis at a fixed open-loop rate of half its measured saturation throughput, for p50/p99
latency. Each propolis run starts its own `propolis dev` (fsync on) with a fresh data folder,
so runs do not share state or a growing log; all runs use one clean export of the commit
(default HEAD), not the working tree, which others may be editing. Prints a markdown section
to paste into RESULTS.md, with the commands that reproduce each figure.

    .venv/bin/python -m benchmarks.run_all            # about 3 minutes
    .venv/bin/python -m benchmarks.run_all --quick    # about 1 minute
    .venv/bin/python -m benchmarks.run_all --working-tree   # measure uncommitted code
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import platform
import shutil
import subprocess
import sys
import time

from benchmarks import load, spiff

CONCURRENCY = 64
WORKERS = 4
NOISY_OTHER_CORES = 0.2  # other processes using more than this while measuring: say so


def propolis_run(pythonpath: str | None, model: str, mode: str, duration_s: float, warmup_s: float, rate: float = 0.0) -> dict:
    dev = load.DevProcess(pythonpath)
    try:
        return asyncio.run(load.run_load(dev.address, model, mode, rate, CONCURRENCY, duration_s, warmup_s, WORKERS, broker_pid=dev.pid, metrics_url=dev.metrics_url))
    finally:
        dev.stop()


def load_command(commit: str | None, model: str, mode: str, duration_s: float, warmup_s: float, rate: float = 0.0) -> str:
    source = f" --commit {commit}" if commit else ""
    pace = f" --rate {rate:.0f}" if mode == "rate" else f" --concurrency {CONCURRENCY}"
    return f".venv/bin/python -m benchmarks.load{source} --model {model} --mode {mode}{pace} --workers {WORKERS} --duration {duration_s:.0f} --warmup {warmup_s:.0f}"


def _output(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, cwd=load.REPO).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier), about 1 minute")
    parser.add_argument("--commit", default="HEAD", help="the commit to measure (default HEAD), from a clean export")
    parser.add_argument("--working-tree", action="store_true", help="measure the working tree as it is instead of a commit")
    parser.add_argument("--models", nargs="+", choices=sorted(load.MODELS), default=["one-task", "start-end"])
    args = parser.parse_args()
    duration, warmup, spiff_s = (8.0, 2.0, 3.0) if args.quick else (30.0, 5.0, 8.0)
    commit = None if args.working_tree else _output(["git", "rev-parse", "--short", args.commit])
    export_root, pythonpath = load.export_commit(commit) if commit else (None, None)
    started = time.monotonic()
    rows = []
    try:
        for model in args.models:
            print(f"== {model}: SpiffWorkflow for {spiff_s:.0f} s", file=sys.stderr, flush=True)
            spiff_result = spiff.run(model, spiff_s)
            print(f"== {model}: propolis at saturation ({CONCURRENCY} in flight) for {warmup + duration:.0f} s", file=sys.stderr, flush=True)
            saturated = propolis_run(pythonpath, model, "saturate", duration, warmup)
            half = max(1.0, round(saturated["completed_per_s_median"] / 2))
            print(f"== {model}: propolis at {half:.0f}/s open loop for {warmup + duration:.0f} s", file=sys.stderr, flush=True)
            paced = propolis_run(pythonpath, model, "rate", duration, warmup, rate=half)
            rows.append((model, spiff_result, saturated, paced, half))
    finally:
        if export_root is not None:
            shutil.rmtree(export_root, ignore_errors=True)
    elapsed = time.monotonic() - started

    measured = commit or (_output(["git", "rev-parse", "--short", "HEAD"]) + " + uncommitted changes")
    print(f"### {time.strftime('%Y-%m-%d')}, commit {measured}, nproc {_output(['nproc'])}, Python {platform.python_version()}\n")
    print(f"`.venv/bin/python -m benchmarks.run_all{' --quick' if args.quick else ''}{' --working-tree' if args.working_tree else ''}` ({elapsed:.0f} s)\n")
    print("| model | propolis saturated, median/s (mean) | SpiffWorkflow, median/s | propolis/Spiff | half rate | completed/s at half rate | p50 ms | p90 ms | p99 ms | RESOURCE_EXHAUSTED | other errors | broker cores | load generator cores | other processes, cores |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model, spiff_result, saturated, paced, half in rows:
        ratio = saturated["completed_per_s_median"] / spiff_result["instances_per_s_median"]
        errors = dict(collections.Counter(saturated["errors"]) + collections.Counter(paced["errors"]))
        other = max(saturated["other_cores"], paced["other_cores"])
        print(
            f"| {model} | {saturated['completed_per_s_median']:.0f} ({saturated['completed_per_s_mean']:.0f}) "
            f"| {spiff_result['instances_per_s_median']:.0f} | {ratio:.2f} | {half:.0f}/s | {paced['completed_per_s_median']:.0f} "
            f"| {paced['latency_ms_p50']} | {paced['latency_ms_p90']} | {paced['latency_ms_p99']} "
            f"| {saturated['resource_exhausted'] + paced['resource_exhausted']} | {errors or 'none'} "
            f"| {saturated['broker_cores']} | {saturated['load_generator_cores']} | {other}{' (noisy)' if other > NOISY_OTHER_CORES else ''} |"
        )
    print("\nInside the broker at saturation (from its /metrics): group commit and the partition thread\n")
    print("| model | batches/s (one fsync each) | commands per batch | records per instance | batch ms, mean | partition thread busy in batches |")
    print("|---|---|---|---|---|---|")
    for model, _spiff_result, saturated, _paced, _half in rows:
        inside = saturated["broker"]
        print(f"| {model} | {inside['batches_per_s']} | {inside['commands_per_batch']} | {inside['records_per_instance']} | {inside['batch_ms_mean']} | {100 * inside['partition_busy']:.0f}% |")
    print("\nCommands for each figure:\n")
    for model, _spiff_result, _saturated, _paced, half in rows:
        print(f"- `.venv/bin/python -m benchmarks.spiff --model {model} --duration {spiff_s:.0f}`")
        print(f"- `{load_command(commit, model, 'saturate', duration, warmup)}`")
        print(f"- `{load_command(commit, model, 'rate', duration, warmup, half)}`")


if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    main()
