"""Where the broker's time goes under saturation: py-spy samples the `propolis dev` process
while benchmarks.load saturates it, and this prints the shares as text.

    .venv/bin/python -m benchmarks.profile --model one-task --seconds 15
    .venv/bin/python -m benchmarks.profile --gil          # only samples of the thread holding the GIL
    .venv/bin/python -m benchmarks.profile --gil --native # with C frames (pauses the broker per sample)
    .venv/bin/python -m benchmarks.profile --summarize profile.raw   # an earlier recording

py-spy (`pip install py-spy`) samples in --nonblocking mode, so it does not pause the broker;
without --gil a sample is taken of every thread that is not idle, so per-thread shares can add
up to more than 100% of wall time (grpc's C threads and fsync run without the GIL). Time spent
in C code (LMDB, msgpack, protobuf, the kernel) is charged to the Python function that called
it. The raw recording (collapsed stacks, one line per stack with its count) is kept with --out.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks import load

# Where a sample belongs: walking from the innermost frame outwards, the first frame whose
# file matches decides (so msgpack called by the state store counts as state). An innermost
# `Handle._run` is grpc.aio's Cython/C core code run as an asyncio callback.
AREAS = (
    ("log: frame encoding, write, fsync", re.compile(r"(^|/)log/")),
    ("state: LMDB + msgpack (broker/state)", re.compile(r"(^|/)broker/state/")),
    ("event appliers (broker/appliers)", re.compile(r"(^|/)broker/appliers/")),
    ("processors and BPMN behaviour (broker/processing, broker/engine)", re.compile(r"(^|/)broker/(processing|engine)/")),
    ("BPMN model and FEEL (bpmn/)", re.compile(r"(^|/)bpmn/")),
    ("record encoding (records.py)", re.compile(r"(^|/)propolis/records\.py")),
    ("metrics (broker/metrics.py, prometheus_client)", re.compile(r"(^|/)broker/metrics\.py|prometheus_client/")),
    ("partition loop: batching, answers (broker/partition.py)", re.compile(r"(^|/)broker/partition\.py")),
    ("gateway handlers and broker client (gateway/, broker/client.py)", re.compile(r"(^|/)gateway/|(^|/)broker/client\.py")),
    ("asyncio event loop (Python part)", re.compile(r"(^|/)(asyncio/|selectors\.py)")),
)
GRPC_AIO = "grpc.aio C core and Cython (asyncio callbacks with no Python frame)"


def area_of(frames: list[tuple[str, str]]) -> str:
    if frames and frames[-1][0] == "Handle._run":
        return GRPC_AIO
    for _function, file in reversed(frames):
        if "cygrpc" in file:  # --native: grpc's Cython module shows itself
            return GRPC_AIO
        for name, pattern in AREAS:
            if pattern.search(file):
                return name
    return "other (threads' C code, monitoring, ...)"


FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
THREAD = re.compile(r"^thread \((?P<id>[^)]*)\)(?::\s*(?P<name>.*))?$")


def _parse(raw: str) -> list[tuple[str, list[tuple[str, str]], int]]:
    """[(thread name, [(function, file), ...] outermost first, samples)]"""
    stacks = []
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        frames_text, _, count = line.rpartition(" ")
        frames = frames_text.split(";")
        thread = "process"
        match = THREAD.match(frames[0])
        if match:
            thread = match.group("name") or match.group("id")
            frames = frames[1:]
        parsed = []
        for frame in frames:
            frame_match = FRAME.match(frame)
            parsed.append((frame_match.group("function"), _short(frame_match.group("file"))) if frame_match else (frame, "?"))
        stacks.append((_thread_kind(thread), parsed, int(count)))
    return stacks


def _short(file: str) -> str:
    for marker in ("site-packages/", "python3.11/", "lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _thread_kind(name: str) -> str:
    # ThreadPoolExecutor-0_3 -> ThreadPoolExecutor-0
    return re.sub(r"_\d+$", "", name)


def summarize(raw: str, seconds: float | None, rate_hz: int | None, top: int) -> str:
    stacks = _parse(raw)
    total = sum(count for _, _, count in stacks)
    if not total:
        return "no samples\n"
    lines = []
    per_thread = collections.Counter()
    self_by_function = collections.Counter()
    self_by_file = collections.Counter()
    inclusive = collections.Counter()
    areas = collections.Counter()
    for thread, frames, count in stacks:
        per_thread[thread] += count
        areas[f"{thread}: {area_of(frames)}"] += count
        if frames:
            function, file = frames[-1]
            self_by_function[f"{function} ({file})"] += count
            self_by_file[file] += count
        for function, file in {(f, fl) for f, fl in frames}:
            inclusive[f"{function} ({file})"] += count

    def table(title: str, counter: collections.Counter, limit: int) -> None:
        lines.append(f"\n{title}\n")
        lines.append("| share | samples | where |\n|---|---|---|\n")
        for key, count in counter.most_common(limit):
            lines.append(f"| {100 * count / total:5.1f}% | {count} | `{key}` |\n")

    wall = f"; {total} samples over {seconds:.0f} s at {rate_hz} Hz" if seconds and rate_hz else f"; {total} samples"
    lines.append(f"Shares are of all non-idle samples{wall}.\n")
    if seconds and rate_hz:
        lines.append("\nActive time per thread (fraction of wall time the thread was running, not idle):\n\n")
        for thread, count in per_thread.most_common():
            lines.append(f"- {thread}: {100 * count / (seconds * rate_hz):.0f}% of wall time ({100 * count / total:.0f}% of samples)\n")
    table("By area (thread: area; innermost propolis/asyncio frame decides)", areas, len(areas))
    if any(".so" in file or file.endswith(".c") for _, frames, _ in stacks for _, file in frames[-1:]):
        native = collections.Counter()
        for _thread, frames, count in stacks:
            if frames:
                native[frames[-1][0] if frames[-1][0] != "?" else frames[-1][1]] += count
        table("Innermost native function (--native)", native, top)
    table("Self time by file (where the samples were, C calls charged to their Python caller)", self_by_file, top)
    table("Self time by function", self_by_function, top)
    table("Inclusive time by function (the function or anything it called)", inclusive, top + 10)
    return "".join(lines)


def record(model: str, seconds: float, warmup_s: float, rate_hz: int, gil: bool, native: bool, commit: str | None, out: Path) -> dict:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists() and shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    export_root, pythonpath = load.export_commit(commit) if commit else (None, None)
    dev = load.DevProcess(pythonpath)
    summary: dict = {}
    try:
        def drive() -> None:
            summary.update(asyncio.run(load.run_load(dev.address, model, "saturate", 0, 64, seconds + 2, warmup_s, 4, broker_pid=dev.pid, metrics_url=dev.metrics_url)))

        driver = threading.Thread(target=drive)
        driver.start()
        time.sleep(warmup_s + 1)
        print(f"py-spy: sampling pid {dev.pid} for {seconds:.0f} s at {rate_hz} Hz", file=sys.stderr, flush=True)
        command = [py_spy, "record", "--pid", str(dev.pid), "--duration", str(int(seconds)), "--rate", str(rate_hz),
                   "--threads", "--format", "raw", "--output", str(out)]
        if gil:
            command.append("--gil")
        # Native stacks need the process paused while it is read; otherwise do not pause it.
        command.append("--native" if native else "--nonblocking")
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        driver.join()
    finally:
        dev.stop()
        if export_root is not None:
            shutil.rmtree(export_root, ignore_errors=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(load.MODELS), default="one-task")
    parser.add_argument("--seconds", type=float, default=15.0, help="sampled seconds (default 15)")
    parser.add_argument("--warmup", type=float, default=4.0, help="load before sampling starts (default 4)")
    parser.add_argument("--rate", type=int, default=200, help="samples/s (default 200)")
    parser.add_argument("--gil", action="store_true", help="only sample the thread that holds the GIL")
    parser.add_argument("--native", action="store_true", help="also C frames (pauses the broker at each sample, so it runs slower)")
    parser.add_argument("--commit", help="run propolis dev from a clean export of this commit")
    parser.add_argument("--out", type=Path, default=Path("/tmp/propolis-profile.raw"), help="raw collapsed stacks (default /tmp/propolis-profile.raw)")
    parser.add_argument("--top", type=int, default=20, help="rows per table (default 20)")
    parser.add_argument("--summarize", type=Path, help="summarize an earlier raw recording instead of recording")
    args = parser.parse_args()
    if args.summarize:
        print(summarize(args.summarize.read_text(), None, None, args.top))
        return
    summary = record(args.model, args.seconds, args.warmup, args.rate, args.gil, args.native, args.commit, args.out)
    print(f"load while sampling: median {summary.get('completed_per_s_median')}/s completed, broker process "
          f"{summary.get('broker_cores')} cores, load generator {summary.get('load_generator_cores')} cores, "
          f"other processes {summary.get('other_cores')} cores\n")
    print(summarize(args.out.read_text(), args.seconds, args.rate, args.top))


if __name__ == "__main__":
    main()
