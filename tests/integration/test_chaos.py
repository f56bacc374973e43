"""Chaos: three brokers (every partition replicated three times) and a separate gateway under
continuous load from pyzeebe, unmodified. The leader of a partition is SIGKILLed and
restarted again and again, and once a broker is SIGSTOPped for longer than the election
timeout and then continued.

Afterwards: every instance whose creation was acknowledged completed exactly once, each of its
two tasks' jobs was completed exactly once, a job handler ran twice only where its job timed
out or a failover was under way, no job was handed out after its completion, every instance
that was created at all finished, every replica holds the same log and the same state, and
each failover took less than 5 s from the SIGKILL to the first command processed by the new
leader (measured with a command that must land on that partition).

Bounded for CI by PROPOLIS_CHAOS_KILLS (default 4); it takes about a minute.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from propolis.clients.client import PropolisClient
from propolis.clients.errors import GatewayError
from propolis.log.segmented_log import Log
from pyzeebe import ZeebeClient, ZeebeWorker, create_insecure_channel

from propolis.records import (
    JobIntent,
    ProcessInstanceIntent,
    Record,
    RecordType,
    ValueType,
    partition_of_key,
)
from tests.broker import models
from tests.integration.test_replication import leaders, wait_for
from tests.support.cluster import (
    Broker,
    Gateway,
    assert_replica_logs_equal,
    assert_replica_states_equal,
    ports_for_replicated_nodes,
    running,
)

pytestmark = pytest.mark.slow

PARTITIONS = 2
KILLS = int(os.environ.get("PROPOLIS_CHAOS_KILLS", "4"))
FAILOVER_MAX_S = 5.0
STOPPED_S = 3.0  # SIGSTOP this long: several election timeouts (0.4-0.8 s)
JOB_TIMEOUT_MS = 3_000
# Steady load the workers keep up with on two shared cores (at most; creations take time too).
CREATIONS_PER_S = 40
TASKS = ("chaos-a", "chaos-b")
MODEL = models._process(
    "chaos",
    '<bpmn:startEvent id="start" />'
    + models.service_task("a", "chaos-a")
    + models.service_task("b", "chaos-b")
    + '<bpmn:endEvent id="end" />'
    + models.flow("f1", "start", "a")
    + models.flow("f2", "a", "b")
    + models.flow("f3", "b", "end"),
)


class ZeebeLoad:
    """pyzeebe creating instances one after the other and working both tasks, on its own
    event loop in a thread; records what was acknowledged and every run of a handler."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.acked: dict[int, int] = {}  # process instance key -> its n
        self.runs: dict[tuple[str, int], list[float]] = defaultdict(list)  # (job type, n) -> when
        self.create_errors: Counter[str] = Counter()
        self.stop_creating = threading.Event()
        self.stop_working = threading.Event()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the pyzeebe load did not stop"
        if self.failure is not None:
            raise self.failure

    def all_acked_done(self) -> bool:
        return all(("chaos-b", n) in self.runs for n in list(self.acked.values()))

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported by join()
            self.failure = error

    async def _main(self) -> None:
        # pyzeebe gives up for good after 10 UNAVAILABLE answers unless told otherwise (-1):
        # a long-running service that lives through failovers is configured so.
        client_channel = create_insecure_channel(grpc_address=self.address)
        worker_channel = create_insecure_channel(grpc_address=self.address)
        client = ZeebeClient(client_channel, max_connection_retries=-1)
        worker = ZeebeWorker(worker_channel, name="chaos", request_timeout=1_000, max_connection_retries=-1)
        for job_type in TASKS:
            worker.task(task_type=job_type, timeout_ms=JOB_TIMEOUT_MS, max_jobs_to_activate=64,
                        max_running_jobs=256)(self._handler(job_type))
        work = asyncio.create_task(worker.work())
        n = 0
        while not self.stop_creating.is_set():
            n += 1
            try:
                created = await client.run_process("chaos", {"n": n})
            except Exception as error:  # counted: UNAVAILABLE etc. while a leader is gone
                self.create_errors[type(error).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            key = created if isinstance(created, int) else created.process_instance_key
            self.acked[key] = n
            await asyncio.sleep(1 / CREATIONS_PER_S)
        while not self.stop_working.is_set():
            await asyncio.sleep(0.1)
        await worker.stop()
        await asyncio.wait_for(work, timeout=30)
        await client_channel.close()
        await worker_channel.close()

    def _handler(self, job_type: str) -> Any:
        async def handle(n: int) -> dict[str, int]:
            self.runs[(job_type, n)].append(time.monotonic())
            return {}

        handle.__name__ = job_type.replace("-", "_")
        return handle


def first_command_on(client: PropolisClient, partition_id: int, load: ZeebeLoad, numbers: Iterator[int]) -> None:
    """Create instances until one lands on the partition (the gateway retries over leader
    changes); the instances count as acknowledged load."""
    while True:
        n = next(numbers)
        try:
            created = client.create_instance("chaos", {"n": n})
        except GatewayError as error:
            # NOT_FOUND: right after the deployment, until partition 1 has distributed it.
            assert error.status in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "NOT_FOUND"), error
            time.sleep(0.02)
            continue
        load.acked[created.key] = n
        if partition_of_key(created.key) == partition_id:
            return


def all_healthy(client: PropolisClient) -> bool:
    topology = client.topology()
    return len(topology.brokers) == 3 and all(
        len([p for p in b.partitions if p.health == "HEALTHY"]) == PARTITIONS for b in topology.brokers
    ) and len(leaders(client)) == PARTITIONS


def read_log(log_dir: Path) -> list[Record]:
    log = Log.open(log_dir)
    try:
        return [Record.decode(payload) for _, payload in log.reader(log.first_position)]
    finally:
        log.close()


def check_partition_log(records: list[Record]) -> dict[str, Any]:
    """What the log of one partition says about its instances and jobs."""
    activated, completed = Counter(), Counter()
    job_completions: Counter[tuple[int, str]] = Counter()
    timed_out: set[tuple[int, str]] = set()
    completed_jobs: set[int] = set()
    violations: list[str] = []
    for record in records:
        if record.record_type != RecordType.EVENT:
            continue
        if record.value_type == ValueType.PROCESS_INSTANCE and record.value.get("bpmnElementType") == "PROCESS":
            if record.intent == ProcessInstanceIntent.ELEMENT_ACTIVATED:
                activated[record.key] += 1
            elif record.intent == ProcessInstanceIntent.ELEMENT_COMPLETED:
                completed[record.key] += 1
        elif record.value_type == ValueType.JOB:
            task = (record.value["processInstanceKey"], record.value["type"])
            if record.intent == JobIntent.COMPLETED:
                job_completions[task] += 1
                completed_jobs.add(record.key)
            elif record.intent == JobIntent.TIMED_OUT:
                timed_out.add(task)
        elif record.value_type == ValueType.JOB_BATCH and record.intent == 1:  # ACTIVATED
            for key in record.value["jobKeys"]:
                if key in completed_jobs:
                    violations.append(f"job {key} activated again after its completion")
    return {
        "activated": activated, "completed": completed, "job_completions": job_completions,
        "timed_out": timed_out, "violations": violations,
    }


def test_leaders_killed_and_a_broker_stopped_under_pyzeebe_load(tmp_path: Path) -> None:
    ports = ports_for_replicated_nodes(3, PARTITIONS)
    members = ",".join(f"{n}@127.0.0.1:{port}" for n, port in enumerate(ports))
    brokers = [
        Broker(tmp_path / f"b{n}", partitions=PARTITIONS, port=ports[n], node_id=n, cluster=members, replication_factor=3)
        for n in range(3)
    ]
    gateway = Gateway([b.address for b in brokers])
    failovers: list[tuple[int, float]] = []
    windows: list[tuple[float, float]] = []  # (fault, recovered): duplicates allowed in them
    model = tmp_path / "chaos.bpmn"
    model.write_bytes(MODEL)

    with running(*brokers, gateway), PropolisClient(gateway.address, call_timeout_s=30) as client:
        wait_for(lambda: all_healthy(client), timeout_s=60)
        client.deploy(model)
        # The deployment reaches every partition before the load may land there.
        for partition_id in range(1, PARTITIONS + 1):
            first_command_on(client, partition_id, ZeebeLoad(""), itertools.count(1_000_000))
        load = ZeebeLoad(gateway.address)
        load.start()
        try:
            wait_for(lambda: len(load.acked) > 20, timeout_s=30)
            probes = itertools.count(-1, -1)  # the load counts up from 1
            for kill in range(KILLS):
                partition_id = 1 + kill % PARTITIONS
                victim = brokers[leaders(client)[partition_id]]
                victim.kill(signal.SIGKILL)
                killed = time.monotonic()
                first_command_on(client, partition_id, load, probes)
                failovers.append((partition_id, time.monotonic() - killed))
                time.sleep(1.0)
                victim.start()
                wait_for(lambda: all_healthy(client), timeout_s=60)
                windows.append((killed, time.monotonic()))
                time.sleep(1.0)

            # One broker frozen past the election timeout, then continued.
            frozen = brokers[leaders(client)[1]]
            frozen.kill(signal.SIGSTOP)
            stopped = time.monotonic()
            first_command_on(client, 1, load, probes)
            print(f"with broker {frozen.node_id} stopped, partition 1 processed again after {time.monotonic() - stopped:.2f} s")
            time.sleep(max(0.0, STOPPED_S - (time.monotonic() - stopped)))
            frozen.kill(signal.SIGCONT)
            wait_for(lambda: all_healthy(client), timeout_s=60)
            windows.append((stopped, time.monotonic()))
            time.sleep(1.0)
        finally:
            load.stop_creating.set()
            # Let the workers finish what was acknowledged, and then what timed out.
            deadline = time.monotonic() + 60
            while not load.all_acked_done() and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(JOB_TIMEOUT_MS / 1000 + 2)
            load.stop_working.set()
            load.join()

    for partition_id, seconds in failovers:
        print(f"failover of partition {partition_id}: {seconds:.2f} s from SIGKILL to the first command processed")
    print(f"acknowledged instances: {len(load.acked)}, creation errors during faults: {dict(load.create_errors)}")
    assert len(failovers) == KILLS
    assert all(seconds < FAILOVER_MAX_S for _, seconds in failovers), failovers
    assert len(load.acked) > 100, "the load did not get going"

    # Every replica of a partition has the same log and the same state.
    data_dirs = [b.data_dir for b in brokers]
    logs: dict[int, list[Record]] = {}
    for partition_id in range(1, PARTITIONS + 1):
        assert_replica_logs_equal(data_dirs, partition_id)
        assert_replica_states_equal(data_dirs, partition_id)
        logs[partition_id] = read_log(data_dirs[0] / f"partition-{partition_id}" / "log")

    facts = [check_partition_log(records) for records in logs.values()]
    activated = sum((f["activated"] for f in facts), Counter())
    completed = sum((f["completed"] for f in facts), Counter())
    job_completions = sum((f["job_completions"] for f in facts), Counter())
    timed_out = set().union(*(f["timed_out"] for f in facts))
    assert [v for f in facts for v in f["violations"]] == []

    missing = [key for key in load.acked if completed[key] != 1]
    assert not missing, f"{len(missing)} acknowledged instances did not complete exactly once: {missing[:5]}"
    stuck = [key for key in activated if completed[key] != 1]
    assert not stuck, f"{len(stuck)} created instances did not finish: {stuck[:5]}"
    for key in load.acked:
        for job_type in TASKS:
            assert job_completions[(key, job_type)] == 1, f"instance {key}: {job_type} completed {job_completions[(key, job_type)]} times"

    # A handler ran again only where its job timed out or a fault was under way when it ran.
    key_of = {n: key for key, n in load.acked.items()}
    twice = {task: times for task, times in load.runs.items() if len(times) > 1}
    unexplained = [
        task for task, times in twice.items()
        if task[1] in key_of
        and (key_of[task[1]], task[0]) not in timed_out
        and not any(start - JOB_TIMEOUT_MS / 1000 <= times[0] <= end for start, end in windows)
    ]
    print(f"handlers run more than once: {len(twice)} (timed out or during a fault), unexplained: {len(unexplained)}")
    assert not unexplained, unexplained[:5]
    for n in load.acked.values():
        assert all((job_type, n) in load.runs for job_type in TASKS)
