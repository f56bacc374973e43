"""Real `propolis broker` and `propolis gateway` processes on free ports, which tests can kill
and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from propolis.broker.recovery import compare_states
from propolis.broker.state.store import Store

from benchmarks.scaling import ports_with_raft_room
from tests.support.dev_server import START_TIMEOUT_S, free_port, propolis_executable

RAFT_PASSWORD = "test-raft-password"

# Internal API ports with the Raft ports above them (port + partition id) free too; the
# benchmarks start clusters the same way.
ports_for_replicated_nodes = ports_with_raft_room


def assert_replica_logs_equal(data_dirs: list[Path], partition_id: int) -> None:
    """Every replica's log of the partition holds the same bytes (none empty)."""
    logs = [d / f"partition-{partition_id}" / "log" for d in data_dirs]
    contents = [b"".join(p.read_bytes() for p in sorted(log.glob("*.log"))) for log in logs]
    assert contents[0] and contents.count(contents[0]) == len(contents), f"partition {partition_id}: the replicas' logs differ"


def assert_replica_states_equal(data_dirs: list[Path], partition_id: int) -> None:
    """Every replica's state of the partition equals the first one's (of stopped brokers)."""
    stores = [Store(d / f"partition-{partition_id}" / "state", 1 << 30) for d in data_dirs]
    try:
        for other in stores[1:]:
            assert compare_states(stores[0], other) == []
    finally:
        for store in stores:
            store.close()


class NodeProcess:
    def __init__(self, args: list[str], ready_marker: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.ready_marker = ready_marker
        self.env = {**os.environ, "PROPOLIS_MONITORING_PORT": "0", "PROPOLIS_GATEWAY_MONITORING_PORT": "0", **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self) -> None:
        self.process = subprocess.Popen(
            [propolis_executable(), *self.args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, env=self.env,
        )
        ready = threading.Event()

        def pump(stream) -> None:
            for line in stream:
                self.output.append(line)
                if self.ready_marker in line:
                    ready.set()

        threading.Thread(target=pump, args=(self.process.stderr,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"propolis {self.args[0]} did not start:\n" + "".join(self.output[-50:]))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.process.wait(timeout=30)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


class Broker(NodeProcess):
    def __init__(
        self, data_dir: Path, partitions: int, port: int | None = None, node_id: int = 0, cluster: str | None = None,
        replication_factor: int = 1, env: dict[str, str] | None = None,
    ) -> None:
        # Below the ephemeral range, so that the port is still free when a test restarts it.
        self.port = port or ports_with_raft_room(1, partitions)[0]
        self.data_dir = data_dir
        self.node_id = node_id
        args = ["broker", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(data_dir),
                "--partitions", str(partitions), "--node-id", str(node_id), "--replication-factor", str(replication_factor)]
        if cluster:
            args += ["--cluster", cluster]
        super().__init__(args, "propolis broker: node ", env={"PROPOLIS_RAFT_PASSWORD": RAFT_PASSWORD, **(env or {})})

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


class Gateway(NodeProcess):
    def __init__(self, contact_points: list[str], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        args = ["gateway", "--host", "127.0.0.1", "--port", str(self.port)]
        for contact_point in contact_points:
            args += ["--contact-point", contact_point]
        super().__init__(args, "propolis gateway: on ", env=env)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def running(*nodes: NodeProcess) -> Iterator[None]:
    """Start the nodes in order; stop them in reverse order, each of which must exit 0."""
    started: list[NodeProcess] = []
    try:
        for node in nodes:
            node.start()
            started.append(node)
        yield
    finally:
        codes = []
        for node in reversed(started):
            try:
                codes.append((node.args[0], node.stop(), "".join(node.output[-20:])))
            except subprocess.TimeoutExpired:
                node.process.kill()
                codes.append((node.args[0], "timeout", "".join(node.output[-20:])))
    bad = [c for c in codes if c[1] not in (0, -9)]
    assert not bad, f"nodes did not stop cleanly: {bad}"
