"""Nothing acknowledged is lost: SIGKILL the broker again and again under load.

A real `propolis dev` process serves a real gRPC client that starts instances and works their
jobs. The broker is killed at random moments and restarted on the same data. Afterwards:
every instance whose creation was acknowledged has completed exactly once, no job was handed
out again after its completion was acknowledged, and the state rebuilt from the newest
snapshot plus the log equals the state on disk.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import grpc
import pytest
from propolis.broker.recovery import compare_states, rebuild_from_snapshot_and_log
from propolis.broker.state.store import Store
from propolis.gateway.protocol import GatewayStub, pb
from propolis.log.segmented_log import Log

from propolis.records import Record
from tests.broker import models
from tests.support.dev_server import DevServer

KILLS = int(os.environ.get("PROPOLIS_DURABILITY_KILLS", "6"))
JOB_TIMEOUT_MS = 1_000

pytestmark = pytest.mark.slow


class Load:
    """Creates instances and works their jobs until told to stop; records what was acked."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.acked_instances: set[int] = set()
        # job key -> when its completion was acknowledged (time.monotonic())
        self.acked_completions: dict[int, float] = {}
        # Instances whose only job was completed (acked) or found already gone.
        self.finished_instances: set[int] = set()
        self.violations: list[str] = []
        self.stop_creating = threading.Event()
        self.stop_working = threading.Event()
        self.lock = threading.Lock()

    def _stub(self) -> tuple[grpc.Channel, GatewayStub]:
        channel = grpc.insecure_channel(self.address)
        return channel, GatewayStub(channel)

    def create_loop(self) -> None:
        channel, stub = self._stub()
        n = 0
        while not self.stop_creating.is_set():
            n += 1
            try:
                response = stub.CreateProcessInstance(
                    pb.CreateProcessInstanceRequest(bpmnProcessId="durable", version=-1, variables=f'{{"n": {n}}}'),
                    timeout=2,
                )
            except grpc.RpcError:
                time.sleep(0.05)  # the broker is down or restarting; try again
                continue
            with self.lock:
                self.acked_instances.add(response.processInstanceKey)
        channel.close()

    def work_loop(self) -> None:
        channel, stub = self._stub()
        while not self.stop_working.is_set():
            try:
                asked_at = time.monotonic()
                request = pb.ActivateJobsRequest(
                    type="durable-work", worker="durability", timeout=JOB_TIMEOUT_MS,
                    maxJobsToActivate=32, requestTimeout=200,
                )
                jobs = [job for response in stub.ActivateJobs(request, timeout=3) for job in response.jobs]
            except grpc.RpcError:
                time.sleep(0.05)
                continue
            for job in jobs:
                with self.lock:
                    # Only an acknowledgement from before this activation was asked for counts:
                    # the broker may have activated the job just before another worker's
                    # completion of it was processed.
                    acked_at = self.acked_completions.get(job.key)
                    if acked_at is not None and acked_at < asked_at:
                        self.violations.append(f"job {job.key} was activated again after its completion was acknowledged")
                # As a real worker does: retry a completion whose answer was lost in a crash,
                # until the broker confirms it or says the job is gone.
                outcome = None
                while outcome is None and not self.stop_working.is_set():
                    try:
                        stub.CompleteJob(pb.CompleteJobRequest(jobKey=job.key, variables='{"done": true}'), timeout=2)
                        outcome = "completed"
                    except grpc.RpcError as error:
                        if error.code() == grpc.StatusCode.NOT_FOUND:
                            outcome = "gone"  # completed before a crash took the answer with it
                        else:
                            time.sleep(0.05)
                with self.lock:
                    if outcome == "completed":
                        self.acked_completions[job.key] = time.monotonic()
                    if outcome is not None:
                        self.finished_instances.add(job.processInstanceKey)
        channel.close()


def job_order_violations(data_dir: Path, acked_jobs: set[int]) -> list[str]:
    """From the log: no job is activated after its COMPLETED event, and every completion that
    was acknowledged is there."""
    log = Log.open(data_dir / "partition-1" / "log")
    completed: set[int] = set()
    violations = []
    try:
        for position, payload in log.reader(log.first_position):
            record = Record.decode(payload)
            if record.record_type != 2:  # EVENT
                continue
            if record.value_type == 6 and record.intent == 2:  # JOB COMPLETED
                completed.add(record.key)
            elif record.value_type == 7 and record.intent == 1:  # JOB_BATCH ACTIVATED
                for key in record.value["jobKeys"]:
                    if key in completed:
                        violations.append(f"job {key} activated at position {position} after it completed")
    finally:
        log.close()
    violations += [f"acknowledged completion of job {key} is not in the log" for key in sorted(acked_jobs - completed)]
    return violations


def completed_process_instances(data_dir: Path) -> list[int]:
    log = Log.open(data_dir / "partition-1" / "log")
    try:
        completed = []
        for _, payload in log.reader(log.first_position):
            record = Record.decode(payload)
            if (
                record.value_type == 3  # PROCESS_INSTANCE
                and record.intent == 5  # ELEMENT_COMPLETED
                and record.value.get("bpmnElementType") == "PROCESS"
            ):
                completed.append(record.key)
        return completed
    finally:
        log.close()


def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path):
    data_dir = tmp_path / "data"
    server = DevServer(data_dir, env={"PROPOLIS_SNAPSHOT_INTERVAL_S": "1", "PROPOLIS_SNAPSHOT_RECORDS_MIN": "200"})
    server.start()
    model = tmp_path / "durable.bpmn"
    model.write_bytes(models.one_task("durable", "durable-work"))
    channel = grpc.insecure_channel(server.address)
    GatewayStub(channel).DeployResource(pb.DeployResourceRequest(resources=[pb.Resource(name="durable.bpmn", content=model.read_bytes())]), timeout=10)
    channel.close()

    load = Load(server.address)
    threads = [threading.Thread(target=load.create_loop, daemon=True)] + [
        threading.Thread(target=load.work_loop, daemon=True) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    rng = random.Random(7)
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.4, 1.5))
        server.kill(signal.SIGKILL)
        server.start()
    time.sleep(0.5)
    load.stop_creating.set()
    threads[0].join(timeout=10)

    # Let the workers finish everything that was acknowledged (timed-out jobs come back).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with load.lock:
            if load.acked_instances <= load.finished_instances:
                break
        time.sleep(0.5)
    load.stop_working.set()
    for thread in threads[1:]:
        thread.join(timeout=10)
    server.stop()

    assert load.violations == []
    assert job_order_violations(data_dir, set(load.acked_completions)) == []
    completed = completed_process_instances(data_dir)
    assert len(completed) == len(set(completed)), "an instance completed twice"
    missing = load.acked_instances - set(completed)
    assert not missing, f"{len(missing)} acknowledged instances never completed"
    assert len(load.acked_instances) > 20, "the load did not get going"

    live = Store(data_dir / "partition-1" / "state", 1 << 30)
    rebuilt = rebuild_from_snapshot_and_log(data_dir / "partition-1", tmp_path / "rebuilt", 1)
    assert compare_states(live, rebuilt) == []
