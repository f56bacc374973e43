"""Load generator: starters and job workers over gRPC against a propolis gateway.

Starters create instances with CreateProcessInstanceWithResult, whose answer arrives when the
instance has completed, so its round trip *is* the create-to-complete latency. Workers
long-poll ActivateJobs in batches and complete each job with CompleteJob, all completes of a
batch in flight at once.

    # saturation: keep N instances in flight, measure completed/s
    .venv/bin/python -m benchmarks.load --mode saturate --concurrency 64 --duration 20
    # fixed open-loop rate: creations are scheduled on a clock, independent of completions,
    # so queueing shows in the latency
    .venv/bin/python -m benchmarks.load --mode rate --rate 150 --duration 20
    # against a clean export of a commit instead of the working tree (others may be editing it)
    .venv/bin/python -m benchmarks.load --commit HEAD

Without --address it starts `propolis dev` on a free port with a fresh data folder (fsync on,
as always) and stops it with SIGTERM afterwards; then it also reports how many cores the
broker process and the load generator used while measuring. Progress goes to stderr once a
second; --json prints a summary on stdout. The run ends by itself: warm-up + duration, then at
most DRAIN_TIMEOUT_S for the last answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from prometheus_client.parser import text_string_to_metric_families
from propolis.gateway.protocol import METHODS, pb

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = Path(__file__).parent / "models"
MODELS = {
    # model: (file, process id, job type of its service task or None)
    "one-task": (MODELS_DIR / "one_task.bpmn", "bench-one-task", "bench-work"),
    "start-end": (MODELS_DIR / "start_end.bpmn", "bench-start-end", None),
}
READY_MARKER = "propolis dev: gateway on"
DEV_START_TIMEOUT_S = 60
DEV_STOP_TIMEOUT_S = 60
DEV_OUTPUT_LINES_KEPT = 200
CREATE_REQUEST_TIMEOUT_MS = 60_000  # the gateway's wait for the result
CREATE_DEADLINE_S = 70  # the client's deadline, a little longer
ACTIVATE_JOBS_MAX = 64
ACTIVATE_REQUEST_TIMEOUT_MS = 1_000  # long poll
JOB_TIMEOUT_MS = 30_000
RATE_IN_FLIGHT_MAX = 20_000  # open loop, but not unbounded: creations beyond this are skipped and counted
DRAIN_TIMEOUT_S = 75
OVERLOADED = "RESOURCE_EXHAUSTED"
OVERLOADED_BACKOFF_S = 0.1  # saturate mode: a starter refused for overload waits this long
WATCHED_METRICS = (
    "propolis_batch_processing_seconds_count",
    "propolis_batch_processing_seconds_sum",
    "propolis_commands_processed_total",
    "propolis_records_processed_total",
)


def _callable(channel: grpc.aio.Channel, name: str) -> Any:
    method = METHODS[name]
    factory = channel.unary_stream if method.server_streaming else channel.unary_unary
    return factory(method.path, request_serializer=method.request.SerializeToString, response_deserializer=method.response.FromString)


class Stats:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.per_second: list[int] = []
        self.errors: dict[str, int] = {}  # "<rpc> <status code>" -> count
        self.created = 0
        self.completed = 0
        self.skipped = 0  # rate mode: creations not sent because RATE_IN_FLIGHT_MAX were in flight
        self.create_failures = 0
        self.jobs_completed = 0
        self.recording = False

    def record(self, latency_ms: float) -> None:
        self.completed += 1
        if self.recording:
            self.latencies_ms.append(latency_ms)

    def error(self, rpc: str, code: str) -> None:
        key = f"{rpc} {code}"
        self.errors[key] = self.errors.get(key, 0) + 1

    def overloaded(self) -> int:
        return sum(count for key, count in self.errors.items() if key.endswith(OVERLOADED))


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_counters(metrics_url: str) -> dict[str, float]:
    """Totals over all partitions from propolis dev's Prometheus /metrics."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in WATCHED_METRICS:
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def broker_figures(before: dict[str, float], after: dict[str, float], elapsed_s: float, completed: int) -> dict[str, float]:
    """Group commit and processing figures over the measured window."""
    delta = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in WATCHED_METRICS}
    batches = delta["propolis_batch_processing_seconds_count"] or 1
    return {
        "batches_per_s": round(delta["propolis_batch_processing_seconds_count"] / elapsed_s, 1),
        "commands_per_batch": round(delta["propolis_commands_processed_total"] / batches, 1),
        "records_per_instance": round(delta["propolis_records_processed_total"] / completed, 1) if completed else None,
        "batch_ms_mean": round(1000 * delta["propolis_batch_processing_seconds_sum"] / batches, 2),
        # Fraction of wall time the partition thread spent inside batches (process + fsync + commit).
        "partition_busy": round(delta["propolis_batch_processing_seconds_sum"] / elapsed_s, 2),
    }


def machine_busy_seconds() -> float:
    """CPU time all cores spent on anything but idle and iowait since boot, from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


async def run_load(
    address: str, model: str, mode: str, rate: float, concurrency: int, duration_s: float, warmup_s: float, workers: int,
    broker_pid: int | None = None, metrics_url: str | None = None,
) -> dict[str, Any]:
    """Deploy `model`, drive it for warmup_s + duration_s and return the summary (see main)."""
    path, process_id, job_type = MODELS[model]
    channel = grpc.aio.insecure_channel(address)
    deploy = _callable(channel, "DeployResource")
    create = _callable(channel, "CreateProcessInstanceWithResult")
    activate = _callable(channel, "ActivateJobs")
    complete = _callable(channel, "CompleteJob")
    await deploy(pb.DeployResourceRequest(resources=[pb.Resource(name=path.name, content=path.read_bytes())]), timeout=30)
    stats = Stats()
    stop = asyncio.Event()  # no new instances
    workers_stop = asyncio.Event()  # set once every started instance has its answer
    in_flight: set[asyncio.Task] = set()
    request = pb.CreateProcessInstanceWithResultRequest(
        request=pb.CreateProcessInstanceRequest(bpmnProcessId=process_id, version=-1, variables='{"orderId": 1}'),
        requestTimeout=CREATE_REQUEST_TIMEOUT_MS,
    )

    async def one_instance() -> bool:
        """False: the broker was overloaded (RESOURCE_EXHAUSTED)."""
        stats.created += 1
        started = time.perf_counter()
        try:
            await create(request, timeout=CREATE_DEADLINE_S)
        except grpc.aio.AioRpcError as error:
            stats.create_failures += 1
            stats.error("create", error.code().name)
            return error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED
        stats.record((time.perf_counter() - started) * 1000)
        return True

    async def saturating_starter() -> None:
        while not stop.is_set():
            if not await one_instance():
                # As Zeebe's clients do on RESOURCE_EXHAUSTED: back off before trying again,
                # instead of answering the refusal with a storm of retries.
                await asyncio.sleep(OVERLOADED_BACKOFF_S)

    async def rate_starter() -> None:
        interval_s = 1.0 / rate
        next_at = time.perf_counter()
        while not stop.is_set():
            next_at += interval_s
            if len(in_flight) < RATE_IN_FLIGHT_MAX:
                task = asyncio.create_task(one_instance())
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            else:
                stats.skipped += 1
            # Behind schedule (a slow event loop): catch up, but let the other tasks run.
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        if in_flight:
            await asyncio.wait(in_flight, timeout=DRAIN_TIMEOUT_S)

    async def complete_job(key: int) -> None:
        try:
            await complete(pb.CompleteJobRequest(jobKey=key, variables='{"done": true}'), timeout=30)
            stats.jobs_completed += 1
        except grpc.aio.AioRpcError as error:
            stats.error("complete", error.code().name)

    async def worker() -> None:
        activation = pb.ActivateJobsRequest(
            type=job_type, worker="bench", timeout=JOB_TIMEOUT_MS, maxJobsToActivate=ACTIVATE_JOBS_MAX,
            requestTimeout=ACTIVATE_REQUEST_TIMEOUT_MS,
        )
        while not workers_stop.is_set():
            try:
                async for response in activate(activation, timeout=ACTIVATE_REQUEST_TIMEOUT_MS / 1000 + 10):
                    if response.jobs:
                        await asyncio.gather(*(complete_job(job.key) for job in response.jobs))
            except grpc.aio.AioRpcError as error:
                if not workers_stop.is_set():
                    stats.error("activate", error.code().name)
                    await asyncio.sleep(0.1)

    async def progress() -> None:
        last = 0
        elapsed = 0
        while not workers_stop.is_set():
            await asyncio.sleep(1.0)
            elapsed += 1
            done = stats.completed - last
            last = stats.completed
            phase = "measure" if stats.recording else ("drain" if stop.is_set() else "warmup")
            waiting = stats.created - stats.completed - stats.create_failures
            print(
                f"[{phase:>7} {elapsed:>3}s] completed {done}/s, total {stats.completed}, in flight {waiting}, "
                f"errors {sum(stats.errors.values())} (of which {OVERLOADED} {stats.overloaded()})",
                file=sys.stderr, flush=True,
            )

    worker_tasks = [asyncio.create_task(worker()) for _ in range(workers if job_type else 0)]
    if mode == "saturate":
        starter_tasks = [asyncio.create_task(saturating_starter()) for _ in range(concurrency)]
    else:
        starter_tasks = [asyncio.create_task(rate_starter())]
    progress_task = asyncio.create_task(progress())
    await asyncio.sleep(warmup_s)
    stats.recording = True
    measured_from = stats.completed
    started = time.perf_counter()
    own_cpu_from = _own_cpu_seconds()
    broker_cpu_from = cpu_seconds(broker_pid) if broker_pid else None
    machine_from = machine_busy_seconds()
    counters_from = await asyncio.to_thread(broker_counters, metrics_url) if metrics_url else None
    # Per-second counts over whole seconds of the measured window, on its own clock.
    window_from = measured_from
    for second in range(1, int(duration_s) + 1):
        await asyncio.sleep(max(0.0, started + second - time.perf_counter()))
        stats.per_second.append(stats.completed - window_from)
        window_from = stats.completed
    await asyncio.sleep(max(0.0, started + duration_s - time.perf_counter()))
    measured = stats.completed - measured_from
    elapsed = time.perf_counter() - started
    own_cores = (_own_cpu_seconds() - own_cpu_from) / elapsed
    broker_cores = (cpu_seconds(broker_pid) - broker_cpu_from) / elapsed if broker_pid else None
    machine_cores = (machine_busy_seconds() - machine_from) / elapsed
    counters_to = await asyncio.to_thread(broker_counters, metrics_url) if metrics_url else None
    stats.recording = False
    stop.set()
    # Workers go on until the last started instance has its answer, then stop too.
    await asyncio.wait(starter_tasks, timeout=DRAIN_TIMEOUT_S)
    workers_stop.set()
    await asyncio.wait(worker_tasks + [progress_task], timeout=15)
    for task in starter_tasks + worker_tasks + [progress_task] + list(in_flight):
        task.cancel()
    await channel.close()
    return {
        "engine": "propolis",
        "model": model,
        "mode": mode,
        "rate": rate if mode == "rate" else None,
        "concurrency": concurrency if mode == "saturate" else None,
        "workers": workers if job_type else 0,
        "measured_s": round(elapsed, 1),
        "completed_per_s_median": statistics.median(stats.per_second) if stats.per_second else 0,
        "completed_per_s_mean": round(measured / elapsed, 1),
        "per_second": stats.per_second,
        "latency_ms_p50": round(percentile(stats.latencies_ms, 0.50), 1),
        "latency_ms_p90": round(percentile(stats.latencies_ms, 0.90), 1),
        "latency_ms_p99": round(percentile(stats.latencies_ms, 0.99), 1),
        "latency_samples": len(stats.latencies_ms),
        "created": stats.created,
        "completed": stats.completed,
        "jobs_completed": stats.jobs_completed,
        "skipped_in_flight_limit": stats.skipped,
        "resource_exhausted": stats.overloaded(),
        "errors": {key: count for key, count in stats.errors.items() if not key.endswith(OVERLOADED)},
        "broker_cores": round(broker_cores, 2) if broker_cores is not None else None,
        "load_generator_cores": round(own_cores, 2),
        # Everything else on the machine (other people's tests...): a noisy run shows here.
        "other_cores": round(machine_cores - own_cores - (broker_cores or 0), 2) if broker_pid else None,
        "machine_cores": os.cpu_count(),
        "broker": broker_figures(counters_from, counters_to, elapsed, measured) if metrics_url else None,
    }


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def export_commit(revision: str) -> tuple[Path, str]:
    """A clean copy of `revision` importable as `propolis` (the working tree may hold others'
    unfinished edits). Returns (folder to delete afterwards, PYTHONPATH for `propolis dev`)."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", revision], capture_output=True, text=True, check=True).stdout.strip()
    root = Path(tempfile.mkdtemp(prefix=f"propolis-{commit}-"))
    source = root / "source"
    source.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    # Lay the packages out as pyproject's package-dir says: propolis.broker lives in broker/, ...
    package_dirs = tomllib.loads((source / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    packages = root / "packages"
    shutil.copytree(source / package_dirs["propolis"], packages / "propolis")
    for name, folder in sorted(package_dirs.items()):
        target = packages / Path(*name.split("."))
        if name == "propolis" or (target.exists() and target.resolve() == (source / folder).resolve()):
            continue  # a sub-package inside an already linked folder (propolis.exporters.elasticsearch)
        target.symlink_to(source / folder, target_is_directory=True)
    check = subprocess.run(
        [sys.executable, "-c", "import propolis.broker, propolis.log; print(propolis.broker.__file__, propolis.log.__file__)"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(packages)}, cwd=root, check=True,
    ).stdout
    if str(REPO) in check:
        raise RuntimeError(f"the export of {commit} does not shadow the working tree: {check}")
    return root, str(packages)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DevProcess:
    """`propolis dev` on a free port with a fresh data folder; its stderr is read continuously
    (a full pipe would stall the broker) and the last lines are kept for error messages."""

    def __init__(self, pythonpath: str | None = None) -> None:
        self.port = free_port()
        self.monitoring_port = free_port()
        self.data_dir = tempfile.mkdtemp(prefix="propolis-bench-")
        self.output: list[str] = []
        env = {**os.environ, "PROPOLIS_MONITORING_HOST": "127.0.0.1", "PROPOLIS_MONITORING_PORT": str(self.monitoring_port), "GRPC_VERBOSITY": os.environ.get("GRPC_VERBOSITY", "NONE")}
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        executable = Path(sys.executable).parent / "propolis"
        # --console-port 0: any free port, so that runs side by side (tests, other benchmarks) do
        # not fight over the default 8080
        self.command = [str(executable), "dev", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", self.data_dir, "--console-port", "0"]
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=tempfile.gettempdir())
        ready = threading.Event()

        def pump() -> None:
            for line in self.process.stderr:
                self.output.append(line)
                del self.output[:-DEV_OUTPUT_LINES_KEPT]
                if READY_MARKER in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + DEV_START_TIMEOUT_S
        while not ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("propolis dev did not start:\n" + "".join(self.output[-30:]))
        self.address = f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.monitoring_port}/metrics"

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=DEV_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", help="a running gateway, host:port (default: start propolis dev)")
    parser.add_argument("--commit", help="without --address: run propolis dev from a clean export of this commit")
    parser.add_argument("--model", choices=sorted(MODELS), default="one-task")
    parser.add_argument("--mode", choices=["saturate", "rate"], default="saturate")
    parser.add_argument("--rate", type=float, default=100.0, help="instances/s in rate mode (default 100)")
    parser.add_argument("--concurrency", type=int, default=64, help="instances in flight in saturate mode (default 64)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds (default 20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (default 5)")
    parser.add_argument("--workers", type=int, default=4, help=f"job worker tasks, each activating up to {ACTIVATE_JOBS_MAX} jobs (default 4)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    args = parser.parse_args()
    if args.mode == "rate" and args.rate <= 0:
        parser.error("--rate must be positive")
    export_root, pythonpath = export_commit(args.commit) if args.commit and not args.address else (None, None)
    dev = None if args.address else DevProcess(pythonpath)
    address = args.address or dev.address
    try:
        summary = asyncio.run(run_load(
            address, args.model, args.mode, args.rate, args.concurrency, args.duration, args.warmup, args.workers,
            broker_pid=dev.pid if dev else None, metrics_url=dev.metrics_url if dev else None,
        ))
    finally:
        if dev is not None:
            dev.stop()
        if export_root is not None:
            shutil.rmtree(export_root, ignore_errors=True)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    main()
