"""Backpressure: does the broker stay responsive at twice the load it can carry?

The cluster issue's goal: at 2x overload, latency stays within 3x of the latency at half load,
and the surplus is refused (RESOURCE_EXHAUSTED) promptly. Each round, on fresh processes:

1. capacity: `benchmarks.load --mode saturate` (64 instances in flight, the gateway's overload
   rate off) gives completed/s;
2. half load: an open-loop rate of capacity / 2;
3. 2x overload: an open-loop rate of capacity x 2.
Runs 2 and 3 begin with 3 s at a tenth of the capacity on the same processes (unmeasured), as
load rises on a running cluster (`--no-lead-in`: straight into the load on fresh processes).

Latency is create-to-complete of the one-task model (CreateProcessInstanceWithResult, with job
workers), over the instances that were admitted; refused creations are counted, not timed.
Rounds are repeated (--repeat) and the table gives each round and the medians of the ratios.

    .venv/bin/python -m benchmarks.overload                       # propolis broker + gateway
    .venv/bin/python -m benchmarks.overload --shape dev           # everything in one process
    .venv/bin/python -m benchmarks.overload --repeat 3 --duration 10

Shapes: `separate` runs `propolis broker` (one partition) and `propolis gateway` as two
processes, as a cluster does; `dev` runs `propolis dev`, where the gateway's refusals cost the
broker's own process time (one GIL). Extra environment (PROPOLIS_GATEWAY_OVERLOAD_*) reaches
the processes, to compare settings. The load generator shares the machine: the table gives
the 1-minute load average after each round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
from typing import Any

from benchmarks.load import DevProcess, export_commit, run_load
from benchmarks.separate_processes import SeparateProcesses

SATURATE_CONCURRENCY = 64
WORKERS = 4
# Capacity is what the broker completes when nothing is refused at the gateway (the partition's
# own limit of commands in flight stays on; 64 instances in flight stay under it).
UNLIMITED = {"PROPOLIS_GATEWAY_OVERLOAD_LATENCY_TARGET_MS": "0"}
# Before the half-load and the overload runs, the same processes carry a tenth of the capacity
# for this long: load rises on a cluster that was running, whose gateway has seen the broker
# quiet (its overload target is relative to that; a gateway started into an overload uses the
# fixed target: --no-lead-in measures that).
LEAD_IN_S = 3.0
LEAD_IN_SHARE = 0.1


def one_run(
    shape: str, pythonpath: str | None, mode: str, rate: float, duration_s: float, warmup_s: float,
    env: dict[str, str] | None = None, lead_in_rate: float = 0.0,
) -> dict[str, Any]:
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        server = DevProcess(pythonpath) if shape == "dev" else SeparateProcesses(pythonpath)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        pid = server.pid if isinstance(server, DevProcess) else server.pids[0]
        if lead_in_rate > 0:
            asyncio.run(run_load(server.address, "one-task", "rate", lead_in_rate, SATURATE_CONCURRENCY,
                                 LEAD_IN_S, 0.0, WORKERS))
        return asyncio.run(run_load(
            server.address, "one-task", mode, rate, SATURATE_CONCURRENCY, duration_s, warmup_s, WORKERS,
            broker_pid=pid, metrics_url=server.metrics_url,
        ))
    finally:
        server.stop()


def one_round(shape: str, pythonpath: str | None, duration_s: float, warmup_s: float, number: int,
              lead_in: bool = True) -> dict[str, Any]:
    def progress(text: str) -> None:
        print(f"[round {number}] {text}", file=sys.stderr, flush=True)

    progress("capacity (saturate, the gateway's overload rate off)")
    capacity = one_run(shape, pythonpath, "saturate", 0, duration_s, warmup_s, UNLIMITED)["completed_per_s_median"]
    half_rate, overload_rate = capacity / 2, capacity * 2
    progress(f"capacity {capacity}/s; half load at {half_rate:.0f}/s")
    lead_in_rate = capacity * LEAD_IN_SHARE if lead_in else 0.0
    half = one_run(shape, pythonpath, "rate", half_rate, duration_s, warmup_s, lead_in_rate=lead_in_rate)
    progress(f"half load p50 {half['latency_ms_p50']} ms p99 {half['latency_ms_p99']} ms; 2x overload at {overload_rate:.0f}/s")
    overload = one_run(shape, pythonpath, "rate", overload_rate, duration_s, warmup_s, lead_in_rate=lead_in_rate)
    progress(f"2x overload p50 {overload['latency_ms_p50']} ms p99 {overload['latency_ms_p99']} ms")
    return {
        "capacity_per_s": capacity,
        "half": half,
        "overload": overload,
        "p50_ratio": round(overload["latency_ms_p50"] / half["latency_ms_p50"], 2),
        "p99_ratio": round(overload["latency_ms_p99"] / half["latency_ms_p99"], 2),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["separate", "dev"], default="separate")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run (default 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring (default 3)")
    parser.add_argument("--no-lead-in", action="store_true",
                        help=f"start the half-load and overload runs on fresh processes at once (default: "
                             f"{LEAD_IN_S:.0f} s at a tenth of the capacity first)")
    parser.add_argument("--commit", help="run the broker from a clean export of this commit")
    parser.add_argument("--json", action="store_true", help="print the rounds as JSON")
    args = parser.parse_args()
    export_root, pythonpath = export_commit(args.commit) if args.commit else (None, None)
    try:
        rounds = [one_round(args.shape, pythonpath, args.duration, args.warmup, n, not args.no_lead_in)
                  for n in range(1, args.repeat + 1)]
    finally:
        if export_root is not None:
            shutil.rmtree(export_root, ignore_errors=True)
    if args.json:
        print(json.dumps(rounds, indent=2))
        return
    print("| round | capacity/s | half: rate, p50 / p99 ms | 2x: rate, completed/s, p50 / p99 ms | refused | "
          "p50 ratio | p99 ratio | load avg 1m |")
    print("|---|---|---|---|---|---|---|---|")
    for number, r in enumerate(rounds, 1):
        half, over = r["half"], r["overload"]
        print(f"| {number} | {r['capacity_per_s']} | {half['rate']:.0f}, {half['latency_ms_p50']} / {half['latency_ms_p99']} | "
              f"{over['rate']:.0f}, {over['completed_per_s_median']}, {over['latency_ms_p50']} / {over['latency_ms_p99']} | "
              f"{over['resource_exhausted']} | {r['p50_ratio']}x | {r['p99_ratio']}x | {r['load_average_1m']} |")
    print(f"| median | | | | | {statistics.median(r['p50_ratio'] for r in rounds):.2f}x | "
          f"{statistics.median(r['p99_ratio'] for r in rounds):.2f}x | |")


if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    main()
