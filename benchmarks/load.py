"""Load generator: starters and job workers over gRPC against a propolis gateway.

Starters create instances with CreateProcessInstanceWithResult, whose answer arrives when the
instance has completed, so its round trip *is* the create-to-complete latency. Workers
long-poll ActivateJobs in batches and complete each job with CompleteJob.

    # saturation: keep N instances in flight, measure completed/s
    .venv/bin/python -m benchmarks.load --mode saturate --concurrency 64 --duration 20
    # fixed open-loop rate: creations are scheduled on a clock, so queueing shows in latency
    .venv/bin/python -m benchmarks.load --mode rate --rate 150 --duration 20

Without --address it starts `propolis dev` on a free port with a fresh data folder (fsync on,
as always) and stops it afterwards. Progress goes to stderr once a second; --json prints a
summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from propolis.gateway.protocol import METHODS, pb

MODELS = {
    "one-task": (Path(__file__).parent / "models" / "one_task.bpmn", "bench-one-task", "bench-work"),
    "start-end": (Path(__file__).parent / "models" / "start_end.bpmn", "bench-start-end", None),
}
READY_MARKER = "propolis dev: gateway on"


def _callable(channel: grpc.aio.Channel, name: str) -> Any:
    method = METHODS[name]
    factory = channel.unary_stream if method.server_streaming else channel.unary_unary
    return factory(method.path, request_serializer=method.request.SerializeToString, response_deserializer=method.response.FromString)


class Stats:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.per_second: list[int] = []
        self.errors: dict[str, int] = {}
        self.completed = 0
        self.recording = False

    def record(self, latency_ms: float) -> None:
        self.completed += 1
        if self.recording:
            self.latencies_ms.append(latency_ms)

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def run_load(address: str, model: str, mode: str, rate: float, concurrency: int, duration_s: float, warmup_s: float, workers: int) -> dict[str, Any]:
    path, process_id, job_type = MODELS[model]
    channel = grpc.aio.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)])
    deploy = _callable(channel, "DeployResource")
    create = _callable(channel, "CreateProcessInstanceWithResult")
    activate = _callable(channel, "ActivateJobs")
    complete = _callable(channel, "CompleteJob")
    await deploy(pb.DeployResourceRequest(resources=[pb.Resource(name=path.name, content=path.read_bytes())]), timeout=30)
    stats = Stats()
    stop = asyncio.Event()  # no new instances
    workers_stop = asyncio.Event()  # set once every started instance has its answer
    request = pb.CreateProcessInstanceWithResultRequest(
        request=pb.CreateProcessInstanceRequest(bpmnProcessId=process_id, version=-1, variables='{"orderId": 1}'),
        requestTimeout=60_000,
    )

    async def one_instance() -> None:
        started = time.perf_counter()
        try:
            await create(request, timeout=70)
        except grpc.aio.AioRpcError as error:
            stats.error(error.code().name)
            return
        stats.record((time.perf_counter() - started) * 1000)

    async def saturating_starter() -> None:
        while not stop.is_set():
            await one_instance()

    async def rate_starter() -> None:
        interval = 1.0 / rate
        next_at = time.perf_counter()
        in_flight: set[asyncio.Task] = set()
        while not stop.is_set():
            next_at += interval
            task = asyncio.create_task(one_instance())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        if in_flight:
            await asyncio.wait(in_flight, timeout=70)

    async def worker() -> None:
        while not workers_stop.is_set():
            try:
                async for response in activate(
                    pb.ActivateJobsRequest(type=job_type, worker="bench", timeout=30_000, maxJobsToActivate=64, requestTimeout=1_000),
                    timeout=10,
                ):
                    if response.jobs:
                        results = await asyncio.gather(
                            *(complete(pb.CompleteJobRequest(jobKey=job.key), timeout=30) for job in response.jobs),
                            return_exceptions=True,
                        )
                        for result in results:
                            if isinstance(result, grpc.aio.AioRpcError):
                                stats.error("complete " + result.code().name)
            except grpc.aio.AioRpcError as error:
                if not workers_stop.is_set():
                    stats.error("activate " + error.code().name)

    async def progress() -> None:
        last = 0
        elapsed = 0
        while not stop.is_set():
            await asyncio.sleep(1.0)
            elapsed += 1
            done = stats.completed - last
            last = stats.completed
            if stats.recording:
                stats.per_second.append(done)
            phase = "measure" if stats.recording else "warmup"
            print(f"[{phase} {elapsed:>3}s] completed {done}/s, total {stats.completed}, errors {sum(stats.errors.values())}", file=sys.stderr, flush=True)

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
    await asyncio.sleep(duration_s)
    measured = stats.completed - measured_from
    elapsed = time.perf_counter() - started
    stats.recording = False
    stop.set()
    # Workers go on until the last started instance has its answer, then stop too.
    await asyncio.wait(starter_tasks, timeout=75)
    workers_stop.set()
    await asyncio.wait(worker_tasks + [progress_task], timeout=15)
    for task in starter_tasks + worker_tasks + [progress_task]:
        task.cancel()
    await channel.close()
    return {
        "engine": "propolis",
        "model": model,
        "mode": mode,
        "rate": rate if mode == "rate" else None,
        "concurrency": concurrency if mode == "saturate" else None,
        "completed_per_s_mean": round(measured / elapsed, 1),
        "completed_per_s_median": statistics.median(stats.per_second) if stats.per_second else 0,
        "latency_ms_p50": round(percentile(stats.latencies_ms, 0.50), 1),
        "latency_ms_p90": round(percentile(stats.latencies_ms, 0.90), 1),
        "latency_ms_p99": round(percentile(stats.latencies_ms, 0.99), 1),
        "errors": stats.errors,
    }


class DevProcess:
    """`propolis dev` on a free port with a fresh data folder."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.data_dir = tempfile.mkdtemp(prefix="propolis-bench-")
        executable = Path(sys.executable).parent / "propolis"
        self.process = subprocess.Popen(
            [str(executable), "dev", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", self.data_dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PROPOLIS_MONITORING_PORT": "0"},
        )
        deadline = time.monotonic() + 60
        for line in self.process.stderr:
            if READY_MARKER in line:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("propolis dev did not start")
        self.address = f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        subprocess.run(["rm", "-rf", self.data_dir], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", help="a running gateway (default: start propolis dev)")
    parser.add_argument("--model", choices=sorted(MODELS), default="one-task")
    parser.add_argument("--mode", choices=["saturate", "rate"], default="saturate")
    parser.add_argument("--rate", type=float, default=100.0, help="instances/s in rate mode")
    parser.add_argument("--concurrency", type=int, default=64, help="instances in flight in saturate mode")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--workers", type=int, default=4, help="job worker tasks")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    dev = None if args.address else DevProcess()
    address = args.address or dev.address
    try:
        summary = asyncio.run(run_load(address, args.model, args.mode, args.rate, args.concurrency, args.duration, args.warmup, args.workers))
    finally:
        if dev is not None:
            dev.stop()
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    main()
