"""Throughput with 1, 2 and 4 partitions: in one `propolis dev` process (one GIL), spread
over separate `propolis broker` processes behind a `propolis gateway` (one GIL per broker), and
replicated three times (Raft) over three brokers behind a gateway.

    .venv/bin/python -m benchmarks.scaling                 # every shape, ~5 minutes
    .venv/bin/python -m benchmarks.scaling --duration 20   # longer windows
    .venv/bin/python -m benchmarks.scaling --shape dev1 --shape rf3-p2   # some shapes (keys below)

Each shape starts fresh processes on free ports with fresh data folders (fsync on), runs
`benchmarks.load --mode saturate` against its gateway (one-task model, 64 instances in
flight), stops everything with SIGTERM and prints one markdown row. The load generator runs on
the same machine; the row gives the machine's 1-minute load average right after the run, to
show how busy it was (above ~2.5 on two cores, other work competed with the measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from propolis.gateway.protocol import GatewayStub, pb

from benchmarks.load import free_port
from benchmarks.separate_processes import PropolisProcess

START_TIMEOUT_S = 60
LEADERS_TIMEOUT_S = 60
PROPOLIS = str(Path(sys.executable).parent / "propolis")


def ports_with_raft_room(count: int, partitions: int) -> list[int]:
    """Internal API ports whose Raft ports (port + partition id) are free and not another's.

    Picked below the kernel's ephemeral range: a broker that is stopped and started again
    (tests kill and restart them) must get its ports back, and a port in the ephemeral range may
    meanwhile be the local end of some outgoing connection (the other nodes reconnecting)."""
    low, high = _below_ephemeral_range()
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(low, high - partitions)
        if all(abs(port - other) > partitions for other in ports) and all(
            _is_free(port + p) for p in range(partitions + 1)
        ):
            ports.append(port)
    return ports


def _below_ephemeral_range() -> tuple[int, int]:
    try:
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32768  # Linux's default
    return (10_000, first) if first > 12_000 else (first // 2, first)


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_node(args: list[str], ready: str, env: dict[str, str] | None = None) -> PropolisProcess:
    """`propolis ARGS` with monitoring on any free port, started once `ready` is printed."""
    environment = {**os.environ, "PROPOLIS_MONITORING_PORT": "0", "PROPOLIS_GATEWAY_MONITORING_PORT": "0",
                   "GRPC_VERBOSITY": "NONE", **(env or {})}
    return PropolisProcess([PROPOLIS, *args], ready, environment)


@dataclass(frozen=True)
class Shape:
    key: str
    name: str
    partitions: int
    brokers: int  # 0: one `propolis dev` process
    replication_factor: int = 1


def start(shape: Shape, data: Path) -> tuple[str, list[PropolisProcess]]:
    if shape.brokers == 0:
        port = free_port()
        node = start_node(["dev", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data / "dev"),
                     "--partitions", str(shape.partitions), "--no-console"], "propolis dev: gateway on")
        return f"127.0.0.1:{port}", [node]
    if shape.replication_factor > 1:
        ports = ports_with_raft_room(shape.brokers, shape.partitions)
    else:
        ports = [free_port() for _ in range(shape.brokers)]
    members = ",".join(f"{n}@127.0.0.1:{p}" for n, p in enumerate(ports))
    # A fresh secret per run: the Raft ports only need to agree among this run's brokers.
    env = {"PROPOLIS_RAFT_PASSWORD": secrets.token_hex(16)}
    nodes = [
        start_node(["broker", "--host", "127.0.0.1", "--port", str(port), "--node-id", str(n), "--cluster", members,
              "--partitions", str(shape.partitions), "--replication-factor", str(shape.replication_factor),
              "--data-dir", str(data / f"b{n}")], "propolis broker: node ", env)
        for n, port in enumerate(ports)
    ]
    gateway_port = free_port()
    contact_points = [arg for p in ports for arg in ("--contact-point", f"127.0.0.1:{p}")]
    nodes.append(start_node(["gateway", "--host", "127.0.0.1", "--port", str(gateway_port), *contact_points], "propolis gateway: on "))
    address = f"127.0.0.1:{gateway_port}"
    _wait_for_leaders(address, shape.partitions)
    return address, nodes


def _wait_for_leaders(address: str, partitions: int) -> None:
    """Until the gateway sees a healthy leader for every partition (Raft elections take a moment)."""
    deadline = time.monotonic() + LEADERS_TIMEOUT_S
    with grpc.insecure_channel(address) as channel:
        stub = GatewayStub(channel)
        while True:
            try:
                topology = stub.Topology(pb.TopologyRequest(), timeout=5)
                led = {
                    p.partitionId for b in topology.brokers for p in b.partitions
                    if p.role == pb.Partition.LEADER and p.health == pb.Partition.HEALTHY
                }
                if led == set(range(1, partitions + 1)):
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no leader for every partition within {LEADERS_TIMEOUT_S} s")
            time.sleep(0.2)


def measure(shape: Shape, duration_s: int, warmup_s: int, concurrency: int) -> dict:
    data = Path(tempfile.mkdtemp(prefix="propolis-scaling-"))
    address, nodes = start(shape, data)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.load", "--address", address, "--mode", "saturate", "--concurrency", str(concurrency),
             "--duration", str(duration_s), "--warmup", str(warmup_s), "--json"],
            capture_output=True, text=True, timeout=duration_s + warmup_s + 120,
        )
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-2000:])
        return json.loads(result.stdout)
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(data, ignore_errors=True)


SHAPES = [
    Shape("dev1", "propolis dev, 1 partition", 1, 0),
    Shape("dev2", "propolis dev, 2 partitions", 2, 0),
    Shape("dev4", "propolis dev, 4 partitions", 4, 0),
    Shape("b2-p2", "2 brokers + gateway, 2 partitions", 2, 2),
    Shape("b2-p4", "2 brokers + gateway, 4 partitions", 4, 2),
    Shape("rf3-p1", "3 brokers RF3 + gateway, 1 partition", 1, 3, replication_factor=3),
    Shape("rf3-p2", "3 brokers RF3 + gateway, 2 partitions", 2, 3, replication_factor=3),
    Shape("rf3-p3", "3 brokers RF3 + gateway, 3 partitions", 3, 3, replication_factor=3),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--shape", action="append", choices=[s.key for s in SHAPES], help="only these shapes, in this order (repeatable)")
    args = parser.parse_args()
    shapes = [next(s for s in SHAPES if s.key == key) for key in args.shape] if args.shape else SHAPES
    print("| shape | completed/s, median (mean) | p50 ms | p99 ms | RESOURCE_EXHAUSTED | 1-min load average after |")
    print("|---|---|---|---|---|---|")
    for shape in shapes:
        figures = measure(shape, args.duration, args.warmup, args.concurrency)
        load = os.getloadavg()[0]
        print(
            f"| {shape.name} | {_num(figures.get('completed_per_s_median'), 0)} ({_num(figures.get('completed_per_s_mean'), 0)}) | "
            f"{_num(figures.get('latency_ms_p50'), 1)} | {_num(figures.get('latency_ms_p99'), 1)} | {figures.get('resource_exhausted')} | "
            f"{load:.1f} |",
            flush=True,
        )


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
