"""Tenant fairness: does one tenant's flood starve another?

Runs `propolis dev` with auth on and two clients, `victim` (tenant `victim`) and `flood`
(tenant `flood`), both with the one-task model deployed to their tenant and their own job
workers (ActivateJobs with their tenantIds). Three runs, each on a fresh broker:

1. baseline: the victim alone, creating instances at --victim-rate per second (open loop);
2. flood, fairness on: the victim as before, plus the flood tenant at --flood-factor times that
   rate (open loop: beyond the broker's capacity by default);
3. flood, fairness off (`PROPOLIS_TENANT_FAIRNESS=false`: one FIFO and one limit for all, as
   in Zeebe).

It reports the victim's create-to-complete latency (CreateProcessInstanceWithResult round
trips) p50/p99, its errors, and the flood's completions/s and RESOURCE_EXHAUSTED answers.
The issue's goal: with the flood (and fairness on), the victim's p99 within 2x of baseline.

    .venv/bin/python -m benchmarks.tenant_fairness                 # about 2 minutes
    .venv/bin/python -m benchmarks.tenant_fairness --commit HEAD   # from a clean export

Tokens are minted here with the broker's signing key (the same JWTs its token endpoint issues),
so the token endpoint is not part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import jwt
import yaml
from prometheus_client.parser import text_string_to_metric_families
from propolis.gateway.protocol import pb

from benchmarks.load import (
    ACTIVATE_JOBS_MAX,
    ACTIVATE_REQUEST_TIMEOUT_MS,
    CREATE_DEADLINE_S,
    CREATE_REQUEST_TIMEOUT_MS,
    DRAIN_TIMEOUT_S,
    JOB_TIMEOUT_MS,
    MODELS,
    DevProcess,
    _callable,
    broker_counters,
    broker_figures,
    cpu_seconds,
    export_commit,
    machine_busy_seconds,
    percentile,
)

SIGNING_KEY = "benchmark-signing-key-0123456789abcdefghijklmnop"
ISSUER = "propolis"
AUDIENCE = "zeebe-api"
TENANTS = ("victim", "flood")
FLOOD_IN_FLIGHT_MAX = 4_000  # the flood is open loop, but its own memory is bounded
VICTIM_WORKERS = 2
FLOOD_WORKERS = 4


def command_latency(metrics_url: str) -> tuple[float, float]:
    """(sum of seconds, count) of propolis_command_latency_seconds: arrival at the partition
    to durable, over all commands."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "propolis_command_latency_seconds_sum":
                total += sample.value
            elif sample.name == "propolis_command_latency_seconds_count":
                count += sample.value
    return total, count


def token(tenant: str) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": tenant, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, SIGNING_KEY, "HS256", headers={"kid": "propolis"})


def write_config(directory: Path) -> Path:
    clients = {t: {"secret": f"secret-{t}", "tenants": [t], "permissions": ["deploy", "start", "work", "operate"]}
               for t in TENANTS}
    path = directory / "fairness.yaml"
    path.write_text(yaml.safe_dump({"auth": {"enabled": True, "issuer": ISSUER, "audience": AUDIENCE,
                                             "signing_key": SIGNING_KEY, "token_port": 0, "clients": clients}}))
    return path


class TenantLoad:
    """One tenant's starters and workers on its own channel."""

    def __init__(self, address: str, tenant: str, rate: float, workers: int, in_flight_max: int) -> None:
        self.tenant = tenant
        self.rate = rate
        self.workers = workers
        self.in_flight_max = in_flight_max
        self.channel = grpc.aio.insecure_channel(address)
        self.metadata = (("authorization", f"Bearer {token(tenant)}"),)
        self.latencies_ms: list[float] = []
        self.errors: dict[str, int] = {}
        self.measuring = False
        self.completed_measured = 0
        self.skipped = 0

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    async def deploy(self) -> None:
        path, _process_id, _job_type = MODELS["one-task"]
        deploy = _callable(self.channel, "DeployResource")
        await deploy(pb.DeployResourceRequest(resources=[pb.Resource(name=path.name, content=path.read_bytes())],
                                              tenantId=self.tenant), metadata=self.metadata, timeout=30)

    async def run(self, stop: asyncio.Event, workers_stop: asyncio.Event) -> None:
        _path, process_id, job_type = MODELS["one-task"]
        create = _callable(self.channel, "CreateProcessInstanceWithResult")
        activate = _callable(self.channel, "ActivateJobs")
        complete = _callable(self.channel, "CompleteJob")
        request = pb.CreateProcessInstanceWithResultRequest(
            request=pb.CreateProcessInstanceRequest(bpmnProcessId=process_id, version=-1, tenantId=self.tenant),
            requestTimeout=CREATE_REQUEST_TIMEOUT_MS,
        )
        in_flight: set[asyncio.Task] = set()

        async def one_instance() -> None:
            measured = self.measuring
            started = time.perf_counter()
            try:
                await create(request, metadata=self.metadata, timeout=CREATE_DEADLINE_S)
            except grpc.aio.AioRpcError as error:
                if measured:
                    self.error(error.code().name)
                return
            if measured and self.measuring:
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                self.completed_measured += 1

        async def starter() -> None:
            interval_s = 1.0 / self.rate
            next_at = time.perf_counter()
            while not stop.is_set():
                next_at += interval_s
                if len(in_flight) < self.in_flight_max:
                    task = asyncio.create_task(one_instance())
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                else:
                    self.skipped += 1
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            if in_flight:
                await asyncio.wait(in_flight, timeout=DRAIN_TIMEOUT_S)

        async def complete_job(key: int) -> None:
            try:
                await complete(pb.CompleteJobRequest(jobKey=key, variables='{"done": true}'), metadata=self.metadata, timeout=30)
            except grpc.aio.AioRpcError as error:
                self.error("complete " + error.code().name)

        async def worker() -> None:
            activation = pb.ActivateJobsRequest(
                type=job_type, worker=f"bench-{self.tenant}", timeout=JOB_TIMEOUT_MS, maxJobsToActivate=ACTIVATE_JOBS_MAX,
                requestTimeout=ACTIVATE_REQUEST_TIMEOUT_MS, tenantIds=[self.tenant],
            )
            while not workers_stop.is_set():
                try:
                    async for response in activate(activation, metadata=self.metadata, timeout=ACTIVATE_REQUEST_TIMEOUT_MS / 1000 + 10):
                        if response.jobs:
                            await asyncio.gather(*(complete_job(job.key) for job in response.jobs))
                except grpc.aio.AioRpcError as error:
                    if not workers_stop.is_set():
                        self.error("activate " + error.code().name)
                        await asyncio.sleep(0.1)

        worker_tasks = [asyncio.create_task(worker()) for _ in range(self.workers)]
        await starter()
        await workers_stop.wait()
        for task in worker_tasks:
            task.cancel()
        await asyncio.gather(*worker_tasks, return_exceptions=True)
        await self.channel.close()

    def summary(self, measured_s: float) -> dict[str, Any]:
        values = sorted(self.latencies_ms)
        return {
            "tenant": self.tenant,
            "rate": self.rate,
            "completed_per_s": round(self.completed_measured / measured_s, 1),
            "p50_ms": round(percentile(values, 0.50), 1) if values else None,
            "p99_ms": round(percentile(values, 0.99), 1) if values else None,
            "max_ms": round(values[-1], 1) if values else None,
            "errors": dict(sorted(self.errors.items())),
            "skipped": self.skipped,
        }


async def run_scenario(address: str, specs: list[tuple[str, float, int]], warmup_s: float, duration_s: float,
                       broker_pid: int, metrics_url: str) -> dict[str, Any]:
    """`specs`: (tenant, rate, workers) per tenant; grpc.aio channels belong to this loop."""
    loads = [TenantLoad(address, tenant, rate, workers, FLOOD_IN_FLIGHT_MAX) for tenant, rate, workers in specs]
    for load in loads:
        await load.deploy()
    stop = asyncio.Event()
    workers_stop = asyncio.Event()
    runs = [asyncio.create_task(load.run(stop, workers_stop)) for load in loads]
    await asyncio.sleep(warmup_s)
    busy_from, broker_from, own_from = machine_busy_seconds(), cpu_seconds(broker_pid), time.process_time()
    counters_from, latency_from = broker_counters(metrics_url), command_latency(metrics_url)
    for load in loads:
        load.measuring = True
    started = time.perf_counter()
    await asyncio.sleep(duration_s)
    for load in loads:
        load.measuring = False
    elapsed = time.perf_counter() - started
    busy, broker_cores, own = machine_busy_seconds() - busy_from, cpu_seconds(broker_pid) - broker_from, time.process_time() - own_from
    counters_to, latency_to = broker_counters(metrics_url), command_latency(metrics_url)
    commands = latency_to[1] - latency_from[1]
    stop.set()
    await asyncio.sleep(min(DRAIN_TIMEOUT_S, 15))
    workers_stop.set()
    await asyncio.gather(*runs, return_exceptions=True)
    return {
        "tenants": [load.summary(elapsed) for load in loads],
        "broker_cores": round(broker_cores / elapsed, 2),
        "load_generator_cores": round(own / elapsed, 2),
        "other_cores": round((busy - broker_cores - own) / elapsed, 2),
        "broker": broker_figures(counters_from, counters_to, elapsed, sum(load.completed_measured for load in loads)),
        "command_latency_ms_mean": round(1000 * (latency_to[0] - latency_from[0]) / commands, 1) if commands else None,
    }


def scenario(name: str, fairness: bool, victim_rate: float, flood_rate: float | None, args: argparse.Namespace,
             pythonpath: str | None, config: Path) -> dict[str, Any]:
    os.environ["PROPOLIS_CONFIG"] = str(config)
    os.environ["PROPOLIS_TENANT_FAIRNESS"] = "true" if fairness else "false"
    os.environ["PROPOLIS_CONSOLE_PORT"] = "0"
    dev = DevProcess(pythonpath)
    try:
        specs = [("victim", victim_rate, VICTIM_WORKERS)]
        if flood_rate is not None:
            specs.append(("flood", flood_rate, FLOOD_WORKERS))
        result = asyncio.run(run_scenario(dev.address, specs, args.warmup, args.duration, dev.pid, dev.metrics_url))
    finally:
        code = dev.stop()
    result.update({"scenario": name, "fairness": fairness, "exit_code": code})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--victim-rate", type=float, default=40.0, help="the victim's instances/s (default 40)")
    parser.add_argument("--flood-factor", type=float, default=10.0, help="the flood's rate as a multiple of the victim's (default 10)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per run (default 20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (default 5)")
    parser.add_argument("--commit", help="run propolis dev from a clean export of this commit")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    export_root, pythonpath = export_commit(args.commit) if args.commit else (None, None)
    config_dir = Path(tempfile.mkdtemp(prefix="propolis-fairness-"))
    try:
        config = write_config(config_dir)
        flood = args.victim_rate * args.flood_factor
        results = [
            scenario("baseline: victim alone", True, args.victim_rate, None, args, pythonpath, config),
            scenario("flood, fairness on", True, args.victim_rate, flood, args, pythonpath, config),
            scenario("flood, fairness off", False, args.victim_rate, flood, args, pythonpath, config),
        ]
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)
        if export_root is not None:
            shutil.rmtree(export_root, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    baseline_p99 = results[0]["tenants"][0]["p99_ms"]
    print("| run | victim completed/s | victim p50 ms | victim p99 ms | p99 / baseline | victim errors | flood rate | flood completed/s | flood errors | command latency ms (mean, partition) | commands/batch | broker cores | load gen cores | other cores |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        victim = result["tenants"][0]
        flood_summary = result["tenants"][1] if len(result["tenants"]) > 1 else None
        ratio = round(victim["p99_ms"] / baseline_p99, 2) if victim["p99_ms"] and baseline_p99 else None
        print(f"| {result['scenario']} | {victim['completed_per_s']} | {victim['p50_ms']} | {victim['p99_ms']} | {ratio} | "
              f"{victim['errors'] or 'none'} | {flood_summary['rate'] if flood_summary else '-'} | "
              f"{flood_summary['completed_per_s'] if flood_summary else '-'} | "
              f"{(flood_summary['errors'] or 'none') if flood_summary else '-'} | {result['command_latency_ms_mean']} | "
              f"{result['broker']['commands_per_batch']} | {result['broker_cores']} | "
              f"{result['load_generator_cores']} | {result['other_cores']} |")


if __name__ == "__main__":
    main()
