"""`propolis dev`: a broker and a gateway in one process, for development and tests.

This is the one place in `clients/` that wires the broker itself (not only its client side)
to the gateway: it is the composition root of the single-process shape. The imports happen
inside `serve` so that every other CLI command works without loading the broker.

Lifecycle: start the broker (opening and recovering its partitions), start the gateway, print
the ready line to stderr, wait for SIGINT or SIGTERM, then stop the gateway (in-flight calls get
`GATEWAY_STOP_GRACE_S`) and close the broker. A clean stop exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

GATEWAY_STOP_GRACE_S = 1.0
READY_LINE_PREFIX = "propolis dev: gateway on "
READ_MODEL_FILE = "read-model.sqlite3"
READ_MODEL_CLASS = "propolis.exporters.read_model.ReadModelExporter"
GIL_SWITCH_INTERVAL_ENV = "PROPOLIS_GIL_SWITCH_INTERVAL_MS"
# Python's default is 5 ms. 1 ms: with another tenant's flood held to its share, a light
# tenant's p99 in `propolis dev` was 1.6-1.8x its baseline instead of 1.7-3.2x, at the same
# saturated throughput (benchmarks/RESULTS.md, "Tenant fairness relative to the quiet latency").
GIL_SWITCH_INTERVAL_MS_DEFAULT = "1"


@dataclass(frozen=True, slots=True)
class DevSettings:
    data_dir: Path | None  # None: the configuration file's, else ./data
    host: str
    port: int
    partition_count: int
    config_path: Path | None = None  # the broker's YAML file (--config / PROPOLIS_CONFIG)
    console_port: int | None = 8080  # the web console (0: any free port); None: no console
    # TLS and the token endpoint by flag; the rest of tls:/auth: from the file and environment.
    tls_certificate: str | None = None
    tls_private_key: str | None = None
    tls_client_ca: str | None = None
    token_port: int | None = None


def gateway_env() -> dict[str, int | bool]:
    """Gateway settings from PROPOLIS_GATEWAY_<FIELD> (e.g.
    PROPOLIS_GATEWAY_TENANT_REQUESTS_IN_FLIGHT_MAX=64, PROPOLIS_GATEWAY_TENANT_RATE_FAIRNESS=false);
    host and port have their own flags."""
    from dataclasses import fields

    from propolis.gateway.config import GatewayConfig

    values: dict[str, int | bool] = {}
    for item in fields(GatewayConfig):
        name = f"PROPOLIS_GATEWAY_{item.name.upper()}"
        raw = os.environ.get(name)
        if not raw or item.name in ("host", "port"):
            continue
        if isinstance(item.default, bool):
            word = raw.strip().lower()
            if word not in ("true", "1", "yes", "on", "false", "0", "no", "off"):
                raise ValueError(f"{name}: expected true or false, got {raw!r}")
            values[item.name] = word in ("true", "1", "yes", "on")
            continue
        try:
            values[item.name] = int(raw)
        except ValueError:
            raise ValueError(f"{name}: expected a whole number, got {raw!r}") from None
    return values


def load_security(settings: DevSettings):  # -> SecurityConfig (imported lazily, like the broker)
    from propolis.broker.config_file import read_config_document
    from propolis.gateway.security_config import load_security_config

    document = read_config_document(settings.config_path) if settings.config_path is not None else {}
    return load_security_config(
        document,
        tls_certificate=settings.tls_certificate,
        tls_private_key=settings.tls_private_key,
        tls_client_ca=settings.tls_client_ca,
        token_port=settings.token_port,
    )


def ready_line(
    host: str, port: int, data_dir: Path, console_port: int | None = None, token_url: str | None = None
) -> str:
    console = f", console on http://{host}:{console_port}/" if console_port is not None else ""
    token = f", token endpoint {token_url}" if token_url is not None else ""
    return f"{READY_LINE_PREFIX}{host}:{port}{console}{token}, data in {data_dir}"


async def serve(settings: DevSettings) -> None:
    from propolis.broker.broker import Broker
    from propolis.broker.client import InProcessBrokerClient
    from propolis.broker.config import ExporterSpec
    from propolis.broker.config_file import load_broker_config
    from propolis.gateway.config import GatewayConfig
    from propolis.gateway.metrics import GatewayMetrics
    from propolis.gateway.server import GatewayServer
    from propolis.gateway.token_endpoint import TokenEndpoint
    from propolis.gateway.tokens import TokenAuthority

    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop_requested.set)

    switch_ms = os.environ.get(GIL_SWITCH_INTERVAL_ENV) or GIL_SWITCH_INTERVAL_MS_DEFAULT
    # The partition and exporter threads are CPU-bound under load; the gateway's event loop
    # waits up to one switch interval for the GIL after every wake-up, and an instance's round
    # trip has several. A shorter interval bounds those waits.
    try:
        sys.setswitchinterval(float(switch_ms) / 1000)
    except ValueError:
        raise ValueError(f"{GIL_SWITCH_INTERVAL_ENV}: expected milliseconds > 0, got {switch_ms!r}") from None
    security = load_security(settings)
    authority = TokenAuthority(security.auth) if security.auth.enabled else None
    config = load_broker_config(
        settings.config_path, data_dir=settings.data_dir, partition_count=settings.partition_count
    )
    data_dir = config.data_dir
    read_model_path = data_dir / READ_MODEL_FILE
    if settings.console_port is not None:
        # The console reads what the read-model exporter writes: configure it unless the
        # configuration file already does.
        configured = [s for s in config.exporters.values() if s.class_name == READ_MODEL_CLASS]
        if configured:
            read_model_path = Path(configured[0].args.get("path", read_model_path))
        else:
            config.exporters["console-read-model"] = ExporterSpec(
                "console-read-model", READ_MODEL_CLASS, {"path": str(read_model_path)}
            )
    broker = Broker(config)
    try:
        broker.start()  # opens the partitions, replaying their logs; nothing else runs yet
        # One process, one /metrics: the gateway's metrics join the broker's registry.
        server = GatewayServer(
            InProcessBrokerClient(broker), GatewayConfig(host=settings.host, port=settings.port, **gateway_env()),
            GatewayMetrics(broker.metrics.registry), security, authority,
        )
        port = await server.start()
        monitoring = None
        console = None
        tokens = None
        try:
            token_url = None
            if authority is not None and security.auth.token_port is not None:
                tokens = TokenEndpoint(authority, security.tls, settings.host, security.auth.token_port)
                tokens.start()
                token_url = tokens.url(settings.host)
            from propolis.broker.monitoring import MonitoringServer

            # After the gateway, so that a taken gateway port is the error a user sees first.
            monitoring = MonitoringServer(broker, broker.config.monitoring_host, broker.config.monitoring_port)
            monitoring.start()
            if settings.console_port is not None:
                from propolis.clients.console.server import ConsoleServer

                console = ConsoleServer(
                    read_model_path, f"127.0.0.1:{port}", settings.host, settings.console_port,
                    security=security, authority=authority,
                )
                console.start()
            console_port = console.port if console is not None else None
            print(ready_line(settings.host, port, data_dir, console_port, token_url), file=sys.stderr, flush=True)
            log.info("monitoring ready", extra={"port": monitoring.port, "paths": ["/health", "/ready", "/metrics"]})
            log.info(
                "propolis dev ready",
                extra={"host": settings.host, "port": port, "data_dir": str(data_dir),
                       "partitions": settings.partition_count},
            )
            await stop_requested.wait()
            log.info("stopping")
        finally:
            if console is not None:
                console.stop()
            if tokens is not None:
                tokens.stop()
            if monitoring is not None:
                monitoring.stop()
            await server.stop(grace_s=GATEWAY_STOP_GRACE_S)
    finally:
        broker.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
