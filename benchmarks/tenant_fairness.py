"""Tenant fairness: does one tenant's flood starve another?

Runs `propolis dev` with auth on and two clients, `victim` (tenant `victim`) and `flood`
(tenant `flood`), both with the one-task model deployed to their tenant and their own job
workers (ActivateJobs with their tenantIds). Each run is on a fresh broker; the scenarios:

- `baseline`: the victim alone, creating instances at --victim-rate per second (open loop);
- `flood`: the victim as before, plus the flood tenant at --flood-factor times that rate (open
  loop: beyond the broker's capacity by default), starting 5 s after the victim (as a flood
  starts on a cluster that was running; the victim is measured only after the flood's own
  warm-up), with the defaults: the gateway's per-tenant
  rate share (gateway/tenant_rates.py) and share of requests in flight, the partition's
  round-robin by tenant;
- `flood-no-rate`: the same without the gateway's rate share
  (`PROPOLIS_GATEWAY_TENANT_RATE_FAIRNESS=false`; the defaults before it);
- `flood-off`: no fairness at the gateway's rate nor at the partition
  (`PROPOLIS_TENANT_FAIRNESS=false` too: one FIFO and one limit for all, as in Zeebe).

It reports the victim's create-to-complete latency (CreateProcessInstanceWithResult round
trips) p50/p99, its errors, the flood's completions/s and RESOURCE_EXHAUSTED answers, and the
gateway's tenant rate limit and its latency target (medians of once-a-second samples).
The issue's goal: with the flood (defaults), the victim's p99 within 2x of baseline.

Each tenant's load runs in its own process (tenants are different clients: the victim's
round trips must not wait for the flood's in the load generator's own event loop).
`--separate-gateway` runs `propolis broker` and `propolis gateway` (auth from the same file) as
two processes instead of `propolis dev`; that shape has no read-model exporter.

    .venv/bin/python -m benchmarks.tenant_fairness                 # about 3 minutes
    .venv/bin/python -m benchmarks.tenant_fairness --commit HEAD   # from a clean export
    .venv/bin/python -m benchmarks.tenant_fairness --scenarios baseline,flood --repeat 3

Tokens are minted here with the broker's signing key (the same JWTs its token endpoint issues),
so the token endpoint is not part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing
import os
import re
import shutil
import statistics
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
from benchmarks.separate_processes import SeparateProcesses

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
    samples = metric_samples(metrics_url, ("propolis_command_latency_seconds_sum", "propolis_command_latency_seconds_count"))
    return samples.get("propolis_command_latency_seconds_sum", 0.0), samples.get("propolis_command_latency_seconds_count", 0.0)


def metric_samples(metrics_url: str, names: tuple[str, ...]) -> dict[str, float]:
    """Totals of the named samples (over their labels) from a /metrics page."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in names:
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


RATE_LIMIT_METRIC = "propolis_gateway_tenant_rate_limit_per_second"
RATE_TARGET_METRIC = "propolis_gateway_tenant_rate_latency_target_seconds"


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
        self.refusals: dict[str, int] = {}
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
                    if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        # which limit refused it: the gateway's rate or in-flight share, or the partition's
                        reason = re.sub(r"\d+", "N", (error.details() or "").partition(", but ")[2])[:48]
                        self.refusals[reason] = self.refusals.get(reason, 0) + 1
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
            "refusals": dict(sorted(self.refusals.items())),
            "skipped": self.skipped,
        }


START_ALLOWANCE_S = 5.0  # for the tenant processes to start and deploy before their load starts
# The flood starts this long after the victim, as floods do on a running cluster: the gateway
# has seen the broker with the victim's load alone (its quiet latency, which the tenants' rate
# limit is relative to). The victim's latency is measured only after the flood's warm-up.
FLOOD_DELAY_S = 5.0
STOP_DRAIN_S = 15.0  # after the window: answers still in flight may come back this long


async def _until(at_s: float) -> None:
    await asyncio.sleep(max(0.0, at_s - time.time()))


async def _tenant_run(address: str, tenant: str, rate: float, workers: int,
                      start_at_s: float, measure_from_s: float, measure_to_s: float) -> dict[str, Any]:
    load = TenantLoad(address, tenant, rate, workers, FLOOD_IN_FLIGHT_MAX)
    await load.deploy()
    await _until(start_at_s)
    stop = asyncio.Event()
    workers_stop = asyncio.Event()
    run = asyncio.create_task(load.run(stop, workers_stop))
    await _until(measure_from_s)
    load.measuring = True
    own_from, started = time.process_time(), time.perf_counter()
    await _until(measure_to_s)
    load.measuring = False
    elapsed, own = time.perf_counter() - started, time.process_time() - own_from
    stop.set()
    await asyncio.sleep(STOP_DRAIN_S)
    workers_stop.set()
    await asyncio.gather(run, return_exceptions=True)
    return {**load.summary(elapsed), "cores": round(own / elapsed, 2)}


def tenant_process(address: str, tenant: str, rate: float, workers: int,
                   start_at_s: float, measure_from_s: float, measure_to_s: float) -> dict[str, Any]:
    """One tenant's load in a process of its own (run by a process pool)."""
    return asyncio.run(_tenant_run(address, tenant, rate, workers, start_at_s, measure_from_s, measure_to_s))


def run_scenario(address: str, specs: list[tuple[str, float, int]], warmup_s: float, duration_s: float,
                 server_pids: list[int], metrics_url: str, gateway_metrics_url: str | None = None) -> dict[str, Any]:
    """`specs`: (tenant, rate, workers) per tenant, each run in its own process."""
    start_at = time.time() + START_ALLOWANCE_S
    measure_from = start_at + FLOOD_DELAY_S + warmup_s
    measure_to = measure_from + duration_s
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(len(specs), mp_context=spawn) as pool:
        runs = [pool.submit(tenant_process, address, tenant, rate, workers,
                            start_at + (FLOOD_DELAY_S if tenant == "flood" else 0.0), measure_from, measure_to)
                for tenant, rate, workers in specs]
        time.sleep(max(0.0, measure_from - time.time()))
        busy_from, server_from = machine_busy_seconds(), sum(cpu_seconds(pid) for pid in server_pids)
        counters_from, latency_from = broker_counters(metrics_url), command_latency(metrics_url)
        started = time.perf_counter()
        limits: list[float] = []
        targets: list[float] = []
        while time.time() < measure_to:
            # the gateway's rate limit and latency target, sampled once a second
            time.sleep(max(0.0, min(1.0, measure_to - time.time())))
            samples = metric_samples(gateway_metrics_url or metrics_url, (RATE_LIMIT_METRIC, RATE_TARGET_METRIC))
            if RATE_LIMIT_METRIC in samples:
                limits.append(samples[RATE_LIMIT_METRIC])
            if RATE_TARGET_METRIC in samples:
                targets.append(samples[RATE_TARGET_METRIC] * 1000)
        elapsed = time.perf_counter() - started
        busy, server_cores = machine_busy_seconds() - busy_from, sum(cpu_seconds(pid) for pid in server_pids) - server_from
        counters_to, latency_to = broker_counters(metrics_url), command_latency(metrics_url)
        tenants = [run.result() for run in runs]
    commands = latency_to[1] - latency_from[1]
    load_cores = sum(t["cores"] for t in tenants)
    completed = sum(round(t["completed_per_s"] * elapsed) for t in tenants)
    return {
        "tenants": tenants,
        "broker_cores": round(server_cores / elapsed, 2),
        "load_generator_cores": round(load_cores, 2),
        "other_cores": round(busy / elapsed - server_cores / elapsed - load_cores, 2),
        "broker": broker_figures(counters_from, counters_to, elapsed, completed),
        "command_latency_ms_mean": round(1000 * (latency_to[0] - latency_from[0]) / commands, 1) if commands else None,
        "gateway_rate_limit_per_s_median": round(statistics.median(limits), 1) if limits else None,
        "gateway_rate_target_ms_median": round(statistics.median(targets), 2) if targets else None,
    }


SCENARIOS = {
    # name: (label, flood?, environment)
    "baseline": ("baseline: victim alone", False, {}),
    "flood": ("flood, defaults (rate share on)", True, {}),
    "flood-no-rate": ("flood, rate share off", True, {"PROPOLIS_GATEWAY_TENANT_RATE_FAIRNESS": "false"}),
    "flood-off": ("flood, all fairness off", True,
                  {"PROPOLIS_GATEWAY_TENANT_RATE_FAIRNESS": "false", "PROPOLIS_TENANT_FAIRNESS": "false"}),
}
FAIRNESS_ENV = ("PROPOLIS_GATEWAY_TENANT_RATE_FAIRNESS", "PROPOLIS_TENANT_FAIRNESS")


def scenario(name: str, victim_rate: float, flood_rate: float, args: argparse.Namespace,
             pythonpath: str | None, config: Path) -> dict[str, Any]:
    label, flooded, env = SCENARIOS[name]
    for variable in FAIRNESS_ENV:
        os.environ.pop(variable, None)
    os.environ.update(env)
    os.environ["PROPOLIS_CONFIG"] = str(config)
    os.environ["PROPOLIS_CONSOLE_PORT"] = "0"
    server = SeparateProcesses(pythonpath, config) if args.separate_gateway else DevProcess(pythonpath)
    try:
        specs = [("victim", victim_rate, VICTIM_WORKERS)]
        if flooded:
            specs.append(("flood", flood_rate, FLOOD_WORKERS))
        separate = isinstance(server, SeparateProcesses)
        pids = server.pids if separate else [server.pid]
        result = run_scenario(server.address, specs, args.warmup, args.duration, pids, server.metrics_url,
                              server.gateway_metrics_url if separate else None)
    finally:
        code = server.stop()
        for variable in env:
            os.environ.pop(variable, None)
    result.update({"scenario": label, "name": name, "exit_code": code, "load_average_1m": os.getloadavg()[0]})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--victim-rate", type=float, default=40.0, help="the victim's instances/s (default 40)")
    parser.add_argument("--flood-factor", type=float, default=10.0, help="the flood's rate as a multiple of the victim's (default 10)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per run (default 20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (default 5)")
    parser.add_argument("--scenarios", default="baseline,flood,flood-no-rate,flood-off",
                        help=f"comma-separated, run in this order (of {', '.join(SCENARIOS)}; default all)")
    parser.add_argument("--repeat", type=int, default=1, help="run the scenarios this many times, back to back (default 1)")
    parser.add_argument("--separate-gateway", action="store_true",
                        help="propolis broker + propolis gateway as two processes instead of propolis dev")
    parser.add_argument("--commit", help="run the broker from a clean export of this commit")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    names = [n for n in args.scenarios.split(",") if n]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        parser.error(f"--scenarios: unknown {unknown}; expected some of {', '.join(SCENARIOS)}")
    export_root, pythonpath = export_commit(args.commit) if args.commit else (None, None)
    config_dir = Path(tempfile.mkdtemp(prefix="propolis-fairness-"))
    rounds: list[list[dict[str, Any]]] = []
    try:
        config = write_config(config_dir)
        flood = args.victim_rate * args.flood_factor
        for _ in range(args.repeat):
            rounds.append([scenario(name, args.victim_rate, flood, args, pythonpath, config) for name in names])
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)
        if export_root is not None:
            shutil.rmtree(export_root, ignore_errors=True)
    if args.json:
        print(json.dumps(rounds, indent=2))
        return
    print("| round | run | victim completed/s | victim p50 ms | victim p99 ms | p99 / baseline | victim errors | "
          "flood rate | flood completed/s | flood errors | command latency ms (mean, partition) | commands/batch | "
          "tenant rate limit /s (median) | latency target ms (median) | server cores | load gen cores | other cores | load avg 1m |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for number, results in enumerate(rounds, 1):
        baseline = next((r for r in results if r["name"] == "baseline"), None)
        baseline_p99 = baseline["tenants"][0]["p99_ms"] if baseline else None
        for result in results:
            victim = result["tenants"][0]
            flood_summary = result["tenants"][1] if len(result["tenants"]) > 1 else None
            ratio = round(victim["p99_ms"] / baseline_p99, 2) if victim["p99_ms"] and baseline_p99 else None
            print(f"| {number} | {result['scenario']} | {victim['completed_per_s']} | {victim['p50_ms']} | {victim['p99_ms']} | "
                  f"{ratio} | {victim['errors'] or 'none'} | {flood_summary['rate'] if flood_summary else '-'} | "
                  f"{flood_summary['completed_per_s'] if flood_summary else '-'} | "
                  f"{(flood_summary['errors'] or 'none') if flood_summary else '-'} | {result['command_latency_ms_mean']} | "
                  f"{result['broker']['commands_per_batch']} | {result['gateway_rate_limit_per_s_median']} | "
                  f"{result['gateway_rate_target_ms_median']} | {result['broker_cores']} | "
                  f"{result['load_generator_cores']} | {result['other_cores']} | {result['load_average_1m']:.1f} |")


if __name__ == "__main__":
    main()
