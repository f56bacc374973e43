"""`propolis broker` and `propolis gateway`: the cluster's two kinds of processes.

A broker hosts its share of the partitions (placement.py, from `--cluster`) and serves the
internal API; a gateway is stateless, speaks Zeebe's protocol to clients and the internal API
to brokers, found through its contact points. Like dev_server.py these are composition roots;
the imports happen inside `serve_*` so that other CLI commands do not load them.

Lifecycle of both: start, print the ready line to stderr, wait for SIGINT/SIGTERM, stop
cleanly (exit 0).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BROKER_READY_PREFIX = "propolis broker: node "
GATEWAY_READY_PREFIX = "propolis gateway: on "
STOP_GRACE_S = 1.0
# A gateway waits this long at start for a first broker to answer (it keeps trying after).
GATEWAY_FIRST_TOPOLOGY_WAIT_S = 5.0
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
RAFT_PASSWORD_ENV = "PROPOLIS_RAFT_PASSWORD"


GATEWAY_MONITORING_PORT_ENV = "PROPOLIS_GATEWAY_MONITORING_PORT"
GATEWAY_MONITORING_PORT_DEFAULT = 9601


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    data_dir: Path | None
    host: str
    port: int
    node_id: int
    partition_count: int
    replication_factor: int = 1
    cluster: str | None = None  # NODE_ID@HOST:PORT,... ; None: this node alone
    advertised_host: str | None = None
    config_path: Path | None = None


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    contact_points: list[str]
    host: str
    port: int
    config_path: Path | None = None
    # /metrics, /health, /ready; not the broker's 9600, so that both fit on one machine.
    monitoring_port: int = GATEWAY_MONITORING_PORT_DEFAULT
    monitoring_host: str = "0.0.0.0"


def _stop_event() -> asyncio.Event:
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop_requested.set)
    return stop_requested


async def serve_broker(settings: BrokerSettings) -> None:
    from propolis.broker.broker import Broker
    from propolis.broker.config_file import load_broker_config
    from propolis.broker.monitoring import MonitoringServer
    from propolis.cluster.broker_server import InternalApiServer
    from propolis.cluster.partition_transport import RemotePartitionTransport
    from propolis.cluster.placement import Member, parse_members, partitions_of, replicas

    password = os.environ.get(RAFT_PASSWORD_ENV, "")
    if settings.replication_factor > 1 and not password:
        raise ValueError(
            f"replication factor {settings.replication_factor} needs {RAFT_PASSWORD_ENV}: the Raft "
            "ports carry pickled messages and are only opened with a password (the same on every node)"
        )
    stop_requested = _stop_event()
    config = load_broker_config(
        settings.config_path, data_dir=settings.data_dir, partition_count=settings.partition_count,
        node_id=settings.node_id,
    )
    advertised = settings.advertised_host or (settings.host if settings.host not in WILDCARD_HOSTS else "127.0.0.1")
    members = parse_members(settings.cluster) if settings.cluster else {settings.node_id: Member(settings.node_id, advertised, settings.port)}
    if settings.node_id not in members:
        raise ValueError(f"--node-id {settings.node_id} is not in --cluster ({', '.join(str(n) for n in sorted(members))})")
    node_ids = sorted(members)
    hosted = partitions_of(settings.node_id, node_ids, config.partition_count, settings.replication_factor)

    def replicas_of(partition_id: int) -> list[int]:
        return replicas(partition_id, node_ids, settings.replication_factor)

    replicator_factory = None
    if settings.replication_factor > 1:
        from propolis.log.raft_replicator import RaftReplicator

        def replicator_factory(partition_id: int, log_: Any, state_transfer: Any) -> Any:
            me = members[settings.node_id]
            partners = [raft_address(members[n], partition_id) for n in replicas_of(partition_id) if n != settings.node_id]
            journal = Path(config.data_dir) / f"partition-{partition_id}" / "raft-journal"
            return RaftReplicator(
                log_, raft_address(me, partition_id), partners, password, journal,
                compaction_entries_min=config.raft_log_compaction_entries_min,
                compaction_interval_s=config.raft_log_compaction_interval_s,
                state_transfer=state_transfer,
            )

    transport = RemotePartitionTransport(members, replicas_of, settings.node_id)
    server: InternalApiServer | None = None
    monitoring: MonitoringServer | None = None
    broker = Broker(config, hosted=hosted, remote=transport, replicator_factory=replicator_factory,
                    replication_factor=settings.replication_factor)
    try:
        # Bind first (port 0 picks one), then advertise what was bound; commands that arrive
        # before the partitions are open answer UNAVAILABLE and the gateway tries again.
        server = InternalApiServer(broker, settings.host, settings.port)
        port = await server.start()
        me = members[settings.node_id]
        if not settings.cluster:
            me = members[settings.node_id] = Member(settings.node_id, advertised, port)
        config.host, config.port = me.host, me.port
        broker.members = [{"nodeId": m.node_id, "host": m.host, "port": m.port} for m in members.values()]
        broker.start()
        monitoring = MonitoringServer(broker, config.monitoring_host, config.monitoring_port)
        monitoring.start()
        print(
            f"{BROKER_READY_PREFIX}{settings.node_id}, internal API on {settings.host}:{port}, "
            f"partitions {hosted} of {config.partition_count}, data in {config.data_dir}",
            file=sys.stderr, flush=True,
        )
        log.info("propolis broker ready", extra={"node": settings.node_id, "port": port, "partitions": hosted,
                                                 "monitoring_port": monitoring.port})
        await stop_requested.wait()
        log.info("stopping")
    finally:
        if monitoring is not None:
            monitoring.stop()
        if server is not None:
            await server.stop(STOP_GRACE_S)
        transport.close()
        broker.close()


def raft_address(member: Any, partition_id: int) -> str:
    """Partition p's Raft port on a node is the node's internal API port + p."""
    return f"{member.host}:{member.port + partition_id}"


async def serve_gateway(settings: GatewaySettings) -> None:
    from propolis.broker.config_file import read_config_document
    from propolis.broker.monitoring import MonitoringServer
    from propolis.clients.dev_server import gateway_env
    from propolis.cluster.remote_client import RemoteBrokerClient
    from propolis.gateway.config import GatewayConfig
    from propolis.gateway.security_config import SecurityConfigError, load_security_config
    from propolis.gateway.server import GatewayServer
    from propolis.gateway.token_endpoint import TokenEndpoint
    from propolis.gateway.tokens import TokenAuthority

    stop_requested = _stop_event()
    document = read_config_document(settings.config_path) if settings.config_path is not None else {}
    security = load_security_config(document)
    auth = security.auth
    if auth.enabled and auth.clients and auth.signing_key is None:
        # Each gateway would sign with its own random key: a token from one would fail at another.
        raise SecurityConfigError("auth.signing_key: required by propolis gateway when auth.clients are defined "
                                  "(every gateway must accept the tokens the others issue)")
    authority = TokenAuthority(auth) if auth.enabled else None
    client = RemoteBrokerClient(settings.contact_points)
    tokens = None
    monitoring = None
    try:
        await client.start(wait_s=GATEWAY_FIRST_TOPOLOGY_WAIT_S)
        server = GatewayServer(client, GatewayConfig(host=settings.host, port=settings.port, **gateway_env()),
                               security=security, authority=authority)
        port = await server.start()
        try:
            monitoring = MonitoringServer(_GatewayNode(server.metrics, client), settings.monitoring_host,
                                          settings.monitoring_port, port_env=GATEWAY_MONITORING_PORT_ENV)
            monitoring.start()
            token_note = ""
            if authority is not None and auth.clients and auth.token_port is not None:
                tokens = TokenEndpoint(authority, security.tls, settings.host, auth.token_port)
                tokens.start()
                token_note = f", token endpoint {tokens.url(settings.host)}"
            print(
                f"{GATEWAY_READY_PREFIX}{settings.host}:{port}, brokers at {', '.join(settings.contact_points)}"
                f"{token_note}, monitoring on {settings.monitoring_host}:{monitoring.port}",
                file=sys.stderr, flush=True,
            )
            await stop_requested.wait()
            log.info("stopping")
        finally:
            if monitoring is not None:
                monitoring.stop()
            if tokens is not None:
                tokens.stop()
            await server.stop(grace_s=STOP_GRACE_S)
    finally:
        await client.close()


class _GatewayNode:
    """A standalone gateway as the monitoring server sees a node: its metrics, and a partition
    is healthy while the gateway knows its leader."""

    def __init__(self, metrics: Any, client: Any) -> None:
        self.metrics = metrics
        self._client = client

    def partition_health(self) -> dict[int, bool]:
        return self._client.partition_health()
