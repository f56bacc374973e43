"""The `propolis` command line: run a development broker, deploy, start instances, run workers.

Every command but `dev` is a client of a gateway (`--address`, default `$PROPOLIS_ADDRESS` or
127.0.0.1:26500). A gRPC error prints `error: <STATUS>: <message>` and exits 1; malformed
arguments print `error: <argument>: <what is wrong>` and exit 1 (argparse's own usage errors
exit 2).
"""

from __future__ import annotations

import argparse
import os

# gRPC's C core writes its own unstructured lines to stderr (e.g. a failed bind); our logs
# say the same thing once, structured. Must be set before grpc is imported.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from propolis.clients.client import DEFAULT_ADDRESS, PropolisClient
from propolis.clients.cluster_nodes import (
    GATEWAY_MONITORING_PORT_DEFAULT,
    GATEWAY_MONITORING_PORT_ENV,
)
from propolis.clients.durations import parse_duration_ms
from propolis.clients.errors import GatewayError, UsageError
from propolis.clients.logging_setup import LEVELS, setup_logging

ADDRESS_ENV = "PROPOLIS_ADDRESS"
DATA_DIR_ENV = "PROPOLIS_DATA_DIR"
HOST_ENV = "PROPOLIS_GATEWAY_HOST"
PORT_ENV = "PROPOLIS_GATEWAY_PORT"
# The same names that BrokerConfig reads for its own fields.
PARTITIONS_ENV = "PROPOLIS_PARTITION_COUNT"
CONTACT_POINTS_ENV = "PROPOLIS_CONTACT_POINTS"
DEFAULT_INTERNAL_PORT = 26501
CONFIG_ENV = "PROPOLIS_CONFIG"
CONSOLE_PORT_ENV = "PROPOLIS_CONSOLE_PORT"
DEFAULT_CONSOLE_PORT = 8080

DEFAULT_DATA_DIR = "./data"
DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 26500
PARTITIONS_MAX = 64


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks; defaults are written into each option's help."""


# -- argument types ------------------------------------------------------------------------


def _key(text: str) -> int:
    try:
        key = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a numeric key, got {text!r}") from None
    if key < 0:
        raise argparse.ArgumentTypeError(f"expected a positive key, got {text!r}")
    return key


def _duration(text: str) -> int:
    try:
        return parse_duration_ms(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 0..65535 (0 = any free), got {value}")
    return value


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"{name}: expected a whole number, got {raw!r}") from None


_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}


def parse_variables(text: str | None, flag: str = "--variables") -> dict[str, Any] | None:
    """A JSON object given inline or as `@path/to/file.json`; None when not given."""
    if text is None:
        return None
    source = text
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"{flag}: cannot read {path}: {error.strerror}") from None
    try:
        value = json.loads(source)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{flag}: invalid JSON: {error.msg} at line {error.lineno} column {error.colno}; "
            """expected an object like '{"orderId": 7}'"""
        ) from None
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), "value")
        raise UsageError(
            f"""{flag}: expected a JSON object like '{{"orderId": 7}}', got a JSON {kind}"""
        )
    return value


# -- output --------------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=None, sort_keys=False))


# -- commands ------------------------------------------------------------------------------


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return _port(raw)
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"{name}: {error}") from None


def cmd_console(args: argparse.Namespace) -> int:
    import signal
    import threading

    from propolis.clients.console.server import ConsoleServer

    server = ConsoleServer(Path(args.db), args.gateway, args.host, args.port)
    server.start()
    print(f"propolis console: on http://{args.host}:{server.port}/, reading {args.db}", file=sys.stderr, flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    import asyncio

    from propolis.clients.dev_server import DevSettings, serve

    partitions = args.partitions
    if not 1 <= partitions <= PARTITIONS_MAX:
        raise UsageError(f"--partitions: expected 1..{PARTITIONS_MAX}, got {partitions}")
    settings = DevSettings(
        data_dir=Path(args.data_dir) if args.data_dir else None,
        host=args.host,
        port=args.port,
        partition_count=partitions,
        config_path=Path(args.config) if args.config else None,
        console_port=None if args.no_console else args.console_port,
        tls_certificate=args.tls_certificate,
        tls_private_key=args.tls_private_key,
        tls_client_ca=args.tls_client_ca,
        token_port=args.token_port,
    )
    try:
        asyncio.run(serve(settings))
    except ValueError as error:  # a wrong configuration file, exporter or setting
        logging.getLogger(__name__).debug("propolis dev failed", exc_info=True)
        print(f"error: propolis dev: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # startup failures (port taken, unreadable data) end here
        logging.getLogger(__name__).debug("propolis dev failed", exc_info=True)
        print(f"error: propolis dev: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


def _serve(name: str, run: Any) -> int:
    import asyncio

    try:
        asyncio.run(run)
    except ValueError as error:  # a wrong member list, configuration file or setting
        logging.getLogger(__name__).debug("propolis %s failed", name, exc_info=True)
        print(f"error: propolis {name}: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # startup failures (port taken, unreadable data) end here
        logging.getLogger(__name__).debug("propolis %s failed", name, exc_info=True)
        print(f"error: propolis {name}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    from propolis.clients.cluster_nodes import BrokerSettings, serve_broker

    if not 1 <= args.partitions <= PARTITIONS_MAX:
        raise UsageError(f"--partitions: expected 1..{PARTITIONS_MAX}, got {args.partitions}")
    settings = BrokerSettings(
        data_dir=Path(args.data_dir) if args.data_dir else None,
        host=args.host,
        port=args.port,
        node_id=args.node_id,
        partition_count=args.partitions,
        replication_factor=args.replication_factor,
        cluster=args.cluster,
        advertised_host=args.advertised_host,
        config_path=Path(args.config) if args.config else None,
    )
    return _serve("broker", serve_broker(settings))


def cmd_gateway(args: argparse.Namespace) -> int:
    from propolis.clients.cluster_nodes import GatewaySettings, serve_gateway

    contact_points = [c for item in args.contact_point or [] for c in item.split(",") if c]
    if not contact_points:
        raise UsageError(f"--contact-point: expected at least one broker HOST:PORT (or env {CONTACT_POINTS_ENV})")
    settings = GatewaySettings(
        contact_points=contact_points, host=args.host, port=args.port,
        config_path=Path(args.config) if args.config else None,
        monitoring_port=args.monitoring_port,
        monitoring_host=os.environ.get("PROPOLIS_MONITORING_HOST") or "0.0.0.0",
    )
    return _serve("gateway", serve_gateway(settings))


def cmd_deploy(args: argparse.Namespace, client: PropolisClient) -> int:
    paths = [Path(p) for p in args.files]
    for path in paths:
        if not path.is_file():
            raise UsageError(f"FILE: {path}: no such file")
    deployment = client.deploy(*paths, tenant_id=args.tenant_id)
    if args.json:
        _print_json({
            "key": deployment.key,
            "processes": [
                {"processId": p.process_id, "version": p.version, "key": p.key,
                 "resourceName": p.resource_name, "duplicate": p.duplicate}
                for p in deployment.processes
            ],
        })
        return 0
    for process in deployment.processes:
        note = " (duplicate: already deployed, unchanged)" if process.duplicate else ""
        print(f"{process.process_id} version {process.version} key {process.key} "
              f"from {process.resource_name}{note}")
    return 0


def cmd_create_instance(args: argparse.Namespace, client: PropolisClient) -> int:
    variables = parse_variables(args.variables)
    if args.with_result:
        fetch = [name for name in (args.fetch_variables or "").split(",") if name]
        instance = client.create_instance_with_result(
            args.process_id,
            variables,
            version=args.version,
            request_timeout_ms=args.request_timeout,
            fetch_variables=fetch,
            tenant_id=args.tenant_id,
        )
    else:
        instance = client.create_instance(
            args.process_id, variables, version=args.version, tenant_id=args.tenant_id
        )
    if args.json:
        out: dict[str, Any] = {
            "key": instance.key, "processId": instance.process_id, "version": instance.version,
            "processDefinitionKey": instance.process_definition_key,
        }
        if args.with_result:
            out["variables"] = instance.variables
        _print_json(out)
        return 0
    print(instance.key)
    if args.with_result:
        print(json.dumps(instance.variables, sort_keys=True))
    return 0


def cmd_broadcast_signal(args: argparse.Namespace, client: PropolisClient) -> int:
    key = client.broadcast_signal(args.name, parse_variables(args.variables), tenant_id=args.tenant_id)
    if args.json:
        _print_json({"key": key})
    else:
        print(key)
    return 0


def cmd_publish_message(args: argparse.Namespace, client: PropolisClient) -> int:
    key = client.publish_message(
        args.name,
        args.correlation_key,
        parse_variables(args.variables),
        ttl_ms=args.ttl,
        message_id=args.message_id,
        tenant_id=args.tenant_id,
    )
    if args.json:
        _print_json({"key": key})
    else:
        print(key)
    return 0


def cmd_cancel(args: argparse.Namespace, client: PropolisClient) -> int:
    client.cancel_instance(args.key)
    print(f"cancelled process instance {args.key}")
    return 0


def cmd_resolve_incident(args: argparse.Namespace, client: PropolisClient) -> int:
    client.resolve_incident(args.key)
    print(f"resolved incident {args.key}")
    return 0


def cmd_set_variables(args: argparse.Namespace, client: PropolisClient) -> int:
    variables = parse_variables(args.variables)
    assert variables is not None  # the flag is required
    key = client.set_variables(args.key, variables, local=args.local)
    print(key)
    return 0


def cmd_status(args: argparse.Namespace, client: PropolisClient) -> int:
    topology = client.topology()
    if args.json:
        _print_json(topology.to_dict())
        return 0
    print(f"Cluster size: {topology.cluster_size}")
    print(f"Partitions count: {topology.partitions_count}")
    print(f"Replication factor: {topology.replication_factor}")
    print(f"Gateway version: {topology.gateway_version or 'unknown'}")
    print("Brokers:")
    for broker in sorted(topology.brokers, key=lambda b: b.node_id):
        print(f"  Broker {broker.node_id} - {broker.host}:{broker.port}")
        print(f"    Version: {broker.version}")
        for p in sorted(broker.partitions, key=lambda p: p.partition_id):
            print(f"    Partition {p.partition_id} : {p.role.title()}, {p.health.title()}")
    return 0


def cmd_worker(args: argparse.Namespace, client: PropolisClient) -> int:
    from propolis.clients.worker import JobWorker, ShellCommandHandler

    handler = ShellCommandHandler(
        args.handler, timeout_s=args.timeout / 1000, retry_backoff_ms=args.retry_backoff
    )
    worker = JobWorker(
        client,
        args.type,
        handler,
        name=args.name,
        max_jobs=args.max_jobs,
        timeout_ms=args.timeout,
        poll_request_timeout_ms=args.poll_timeout,
        fetch_variables=[n for n in (args.fetch_variables or "").split(",") if n],
    )
    signals_seen = 0

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            print("propolis worker: stopping; waiting for running handlers "
                  "(signal again to kill them)", file=sys.stderr, flush=True)
            worker.stop()
        else:
            handler.kill_all()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    print(
        f"propolis worker: handling '{args.type}' jobs from {client.address} "
        f"with {args.handler!r}, at most {args.max_jobs} at once",
        file=sys.stderr,
        flush=True,
    )
    try:
        worker.run()
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    print(
        f"propolis worker: stopped; {worker.completed} jobs completed, {worker.failed} failed",
        file=sys.stderr,
        flush=True,
    )
    return 0


# -- parser --------------------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser, top_level: bool) -> None:
    """Global options work before and after the subcommand: `propolis status --json`."""

    def default(value: Any) -> Any:
        return value if top_level else argparse.SUPPRESS

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--address",
        default=default(os.environ.get(ADDRESS_ENV) or DEFAULT_ADDRESS),
        help=f"the gateway's host:port (env {ADDRESS_ENV}; default %(default)s)"
        if top_level else f"the gateway's host:port (env {ADDRESS_ENV}; default {DEFAULT_ADDRESS})",
    )
    group.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=default(None),
        metavar="LEVEL",
        help="debug, info, warning, error or critical (env PROPOLIS_LOG_LEVEL; default warning)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print results as one JSON object instead of text",
    )
    group.add_argument(
        "--tenant-id",
        default=default(""),
        help="tenant of deployments, instances and messages (empty: the default tenant)",
    )


def _subparser(
    subparsers: Any, name: str, help_text: str, examples: str, handler: Callable[..., int],
    description: str | None = None,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        epilog="examples:\n" + examples,
        formatter_class=_Formatter,
    )
    _global_options(parser, top_level=False)
    parser.set_defaults(run_command=handler)
    return parser


def _group(subparsers: Any, name: str, help_text: str) -> Any:
    parser = subparsers.add_parser(name, help=help_text, description=help_text,
                                   formatter_class=_Formatter)
    children = parser.add_subparsers(dest=f"{name}_what", metavar="WHAT", required=True)
    return children


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="propolis",
        description="propolis: a BPMN workflow broker that speaks Zeebe's gateway protocol.",
        epilog="""examples:
  propolis dev                                   # broker + gateway on :26500, data in ./data
  propolis deploy order.bpmn
  propolis create instance order --variables '{"orderId": 7}'
  propolis worker charge --handler ./charge.sh
  propolis status

run 'propolis COMMAND --help' for a command's options.""",
        formatter_class=_Formatter,
    )
    _global_options(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    dev = _subparser(
        commands, "dev", "run a broker and its gateway in one process",
        f"""  propolis dev
  propolis dev --data-dir /tmp/propolis --port 26600
  {PORT_ENV}=0 propolis dev      # any free port; the ready line tells which

Prints 'propolis dev: gateway on HOST:PORT, data in DIR' to stderr once it accepts calls.
Stops cleanly (exit 0) on Ctrl-C or SIGTERM.""",
        cmd_dev,
    )
    dev.add_argument("--data-dir", default=os.environ.get(DATA_DIR_ENV) or None,
                     help=f"where the log, state and snapshots live "
                          f"(env {DATA_DIR_ENV}; else the config file's data_dir; default {DEFAULT_DATA_DIR})")
    dev.add_argument("--config", metavar="FILE", default=os.environ.get(CONFIG_ENV) or None,
                     help=f"the broker's YAML configuration: any broker setting and an 'exporters:' "
                          f"block (env {CONFIG_ENV}); flags and PROPOLIS_* variables win over it")
    dev.add_argument("--host", default=os.environ.get(HOST_ENV) or DEFAULT_HOST,
                     help=f"the gateway's listen address (env {HOST_ENV}; default %(default)s)")
    dev.add_argument("--port", type=_port, default=None,
                     help=f"the gateway's gRPC port, 0 for any free one "
                          f"(env {PORT_ENV}; default {DEFAULT_PORT})")
    dev.add_argument("--partitions", type=_positive_int, default=None,
                     help=f"number of partitions (env {PARTITIONS_ENV}; default 1)")
    dev.add_argument("--console-port", type=_port, default=_env_port(CONSOLE_PORT_ENV, DEFAULT_CONSOLE_PORT),
                     help=f"the web console's HTTP port, 0 for any free one (env {CONSOLE_PORT_ENV}; default %(default)s)")
    dev.add_argument("--no-console", action="store_true", help="run without the web console and its read model")
    security = dev.add_argument_group("security (see the README; the YAML file's tls: and auth: blocks hold the rest)")
    security.add_argument("--tls-certificate", metavar="PEM",
                          help="serve gRPC (and the token endpoint) over TLS with this certificate chain "
                               "(env PROPOLIS_TLS_CERTIFICATE)")
    security.add_argument("--tls-private-key", metavar="PEM",
                          help="the certificate's private key (env PROPOLIS_TLS_PRIVATE_KEY)")
    security.add_argument("--tls-client-ca", metavar="PEM",
                          help="mutual TLS: require client certificates signed by this CA (env PROPOLIS_TLS_CLIENT_CA)")
    security.add_argument("--token-port", type=_port, default=None,
                          help="with auth on: the OAuth token endpoint's port, 0 for any free one "
                               "(env PROPOLIS_AUTH_TOKEN_PORT; default 8081)")

    broker = _subparser(
        commands, "broker", "run a broker node of a cluster (no gateway: see 'propolis gateway')",
        f"""  propolis broker --partitions 3
  propolis broker --node-id 0 --cluster 0@10.0.0.1:26501,1@10.0.0.2:26501 --partitions 4 --data-dir /var/lib/propolis

Serves the internal API that gateways use (default port {DEFAULT_INTERNAL_PORT}). Partitions are placed over
the --cluster members by node id, the same way on every node. Prints
'propolis broker: node N, internal API on HOST:PORT, partitions [...]' once it serves.""",
        cmd_broker,
    )
    broker.add_argument("--data-dir", default=os.environ.get(DATA_DIR_ENV) or None,
                        help=f"where this node's partitions live (env {DATA_DIR_ENV}; default {DEFAULT_DATA_DIR})")
    broker.add_argument("--config", metavar="FILE", default=os.environ.get(CONFIG_ENV) or None,
                        help=f"the broker's YAML configuration (env {CONFIG_ENV})")
    broker.add_argument("--host", default="0.0.0.0", help="listen address of the internal API (default %(default)s)")
    broker.add_argument("--port", type=_port, default=_env_port("PROPOLIS_BROKER_PORT", DEFAULT_INTERNAL_PORT),
                        help="the internal API's port, 0 for any free one (env PROPOLIS_BROKER_PORT; default %(default)s)")
    broker.add_argument("--advertised-host", default=None,
                        help="the host other nodes and gateways reach this node at, without --cluster "
                             "(default: --host, or 127.0.0.1 when listening on all addresses)")
    broker.add_argument("--node-id", type=int, default=_env_int("PROPOLIS_NODE_ID", 0),
                        help="this node's id in --cluster (env PROPOLIS_NODE_ID; default %(default)s)")
    broker.add_argument("--cluster", default=os.environ.get("PROPOLIS_CLUSTER") or None, metavar="MEMBERS",
                        help="every node of the cluster as NODE_ID@HOST:PORT,... (env PROPOLIS_CLUSTER; "
                             "default: this node alone)")
    broker.add_argument("--partitions", type=_positive_int, default=_env_int(PARTITIONS_ENV, 1),
                        help=f"partitions of the whole cluster (env {PARTITIONS_ENV}; default %(default)s)")
    broker.add_argument("--replication-factor", type=_positive_int, default=1,
                        help="replicas per partition, each partition a Raft group (default %(default)s; above 1 needs PROPOLIS_RAFT_PASSWORD)")

    gateway = _subparser(
        commands, "gateway", "run a stateless gateway in front of broker nodes",
        f"""  propolis gateway --contact-point 127.0.0.1:{DEFAULT_INTERNAL_PORT}
  propolis gateway --contact-point 10.0.0.1:26501 --contact-point 10.0.0.2:26501 --port 26500

Learns the cluster from any reachable contact point and routes each command to the broker
that leads its partition. Prints 'propolis gateway: on HOST:PORT, ...' once it serves.""",
        cmd_gateway,
    )
    gateway.add_argument("--contact-point", action="append", metavar="HOST:PORT",
                         default=[c for c in os.environ.get(CONTACT_POINTS_ENV, "").split(",") if c] or None,
                         help=f"a broker's internal API; repeat or separate by commas (env {CONTACT_POINTS_ENV})")
    gateway.add_argument("--host", default=os.environ.get(HOST_ENV) or DEFAULT_HOST,
                         help=f"listen address (env {HOST_ENV}; default %(default)s)")
    gateway.add_argument("--port", type=_port, default=_env_port(PORT_ENV, DEFAULT_PORT),
                         help=f"the gateway's gRPC port, 0 for any free one (env {PORT_ENV}; default %(default)s)")
    gateway.add_argument("--config", metavar="FILE", default=os.environ.get(CONFIG_ENV) or None,
                         help="a YAML file whose tls: and auth: blocks configure the gateway's security")
    gateway.add_argument("--monitoring-port", type=_port,
                         default=_env_port(GATEWAY_MONITORING_PORT_ENV, GATEWAY_MONITORING_PORT_DEFAULT),
                         help=f"HTTP /metrics, /health and /ready, 0 for any free port (env {GATEWAY_MONITORING_PORT_ENV}; "
                              "default %(default)s)")

    console = _subparser(
        commands, "console", "serve the web console on its own",
        """  propolis console --db data/read-model.sqlite3 --gateway 127.0.0.1:26500

Reads the SQLite read model that a broker's read-model exporter writes
(propolis.exporters.read_model.ReadModelExporter); actions go through the gateway.""",
        cmd_console,
    )
    console.add_argument("--db", required=True, help="the read model's SQLite file")
    console.add_argument("--gateway", default=os.environ.get(ADDRESS_ENV) or "127.0.0.1:26500",
                         help=f"the gateway for actions (env {ADDRESS_ENV}; default %(default)s)")
    console.add_argument("--host", default="0.0.0.0", help="listen address (default %(default)s)")
    console.add_argument("--port", type=_port, default=_env_port(CONSOLE_PORT_ENV, DEFAULT_CONSOLE_PORT),
                         help=f"HTTP port (env {CONSOLE_PORT_ENV}; default %(default)s)")

    deploy = _subparser(
        commands, "deploy", "deploy BPMN files",
        """  propolis deploy order.bpmn
  propolis deploy order.bpmn shipping.bpmn --json

Prints one line per process: its id, version and key; a resource identical to the latest
deployed version is reported as a duplicate and creates nothing.""",
        cmd_deploy,
    )
    deploy.add_argument("files", nargs="+", metavar="FILE", help="BPMN files (.bpmn)")

    create = _group(commands, "create", "create resources (process instances)")
    instance = _subparser(
        create, "instance", "create a process instance",
        """  propolis create instance order
  propolis create instance order --variables '{"orderId": 7}'
  propolis create instance order --variables @vars.json --version 2
  propolis create instance order --with-result --request-timeout 30s

Prints the instance's key; with --with-result, waits until the instance completes and
prints its variables as JSON on a second line.""",
        cmd_create_instance,
    )
    instance.add_argument("process_id", metavar="PROCESS_ID", help="the BPMN process id")
    instance.add_argument("--version", type=int, default=-1,
                          help="the process version (-1: the latest)")
    instance.add_argument("--variables", metavar="JSON",
                          help="a JSON object, or @FILE to read one from a file")
    instance.add_argument("--with-result", action="store_true",
                          help="wait for the instance to complete and print its variables")
    instance.add_argument("--request-timeout", type=_duration, default=10_000,
                          metavar="DURATION",
                          help="with --with-result: how long to wait (e.g. 10s, 2m; default 10s)")
    instance.add_argument("--fetch-variables", metavar="NAMES",
                          help="with --with-result: only these variables (comma-separated)")

    publish = _group(commands, "publish", "publish messages")
    message = _subparser(
        publish, "message", "publish a message",
        """  propolis publish message payment-received --correlation-key order-7
  propolis publish message payment-received --correlation-key order-7 \\
      --variables '{"amount": 12.5}' --ttl 10m --message-id pay-7

Prints the message's key. With a TTL the message waits that long for a subscription.""",
        cmd_publish_message,
    )
    message.add_argument("name", metavar="NAME", help="the message name")
    message.add_argument("--correlation-key", required=True, metavar="KEY",
                         help="the value that the subscription's correlation key must equal")
    message.add_argument("--variables", metavar="JSON",
                         help="a JSON object, or @FILE to read one from a file")
    message.add_argument("--ttl", type=_duration, default=0, metavar="DURATION",
                         help="time to live, e.g. 500ms, 10s, 10m, 1h (default 0: no buffering)")
    message.add_argument("--message-id", default="", metavar="ID",
                         help="a unique id: a second message with the same id is rejected")

    broadcast = _group(commands, "broadcast", "broadcast signals")
    signal = _subparser(
        broadcast, "signal", "broadcast a signal",
        """  propolis broadcast signal stock-arrived
  propolis broadcast signal stock-arrived --variables '{"sku": "A-1"}'

Every signal start event and waiting signal event of that name fires now; prints the
signal's key. Signals are not buffered: nothing that starts waiting later sees it.""",
        cmd_broadcast_signal,
    )
    signal.add_argument("name", metavar="NAME", help="the signal name")
    signal.add_argument("--variables", metavar="JSON",
                        help="a JSON object, or @FILE to read one from a file")

    cancel = _subparser(
        commands, "cancel", "cancel a process instance",
        """  propolis cancel 2251799813685249""",
        cmd_cancel,
    )
    cancel.add_argument("key", type=_key, metavar="KEY", help="the process instance key")

    resolve = _group(commands, "resolve", "resolve incidents")
    incident = _subparser(
        resolve, "incident", "mark an incident resolved so the element is retried",
        """  propolis resolve incident 2251799813685260

For a job incident, give the job retries first; then resolving makes it activatable again.""",
        cmd_resolve_incident,
    )
    incident.add_argument("key", type=_key, metavar="KEY", help="the incident key")

    set_group = _group(commands, "set", "set values (variables)")
    variables = _subparser(
        set_group, "variables", "set variables in a process instance or one of its elements",
        """  propolis set variables 2251799813685249 --variables '{"approved": true}'
  propolis set variables 2251799813685255 --variables '{"x": 1}' --local

Prints the key of the variable update.""",
        cmd_set_variables,
    )
    variables.add_argument("key", type=_key, metavar="KEY",
                           help="process instance key or element instance key")
    variables.add_argument("--variables", required=True, metavar="JSON",
                           help="a JSON object, or @FILE to read one from a file")
    variables.add_argument("--local", action="store_true",
                           help="set them on that scope only, not propagated to its parents")

    _subparser(
        commands, "status", "show the cluster topology: brokers, partitions, roles, health",
        """  propolis status
  propolis status --json
  propolis status --address 10.0.0.5:26500""",
        cmd_status,
    )

    worker = _subparser(
        commands, "worker", "run a job worker that calls a shell command per job",
        """  propolis worker charge --handler ./charge.sh
  propolis worker work --handler 'jq "{done: true}"' --max-jobs 8 --timeout 1m
  propolis worker work --handler 'python3 handle.py'

The handler runs through the shell, once per job, with the job's variables as a JSON object
on stdin and PROPOLIS_JOB_KEY, PROPOLIS_JOB_TYPE, PROPOLIS_JOB_RETRIES,
PROPOLIS_PROCESS_INSTANCE_KEY, PROPOLIS_PROCESS_ID, PROPOLIS_ELEMENT_ID,
PROPOLIS_ELEMENT_INSTANCE_KEY and PROPOLIS_JOB_CUSTOM_HEADERS in its environment.
  exit 0, stdout a JSON object  -> the job completes with those variables
  exit 0, stdout empty          -> the job completes without variables
  exit non-zero                 -> the job fails (retries - 1) with the end of stderr as message
  stdout not a JSON object      -> the job fails, saying so
Ctrl-C stops polling and waits for running handlers; a second Ctrl-C kills them.""",
        cmd_worker,
        description="Run a job worker: long-poll for jobs of TYPE and run a shell command per job.",
    )
    worker.add_argument("type", metavar="TYPE", help="the job type (the service task's type)")
    worker.add_argument("--handler", required=True, metavar="CMD",
                        help="shell command to run per job")
    worker.add_argument("--max-jobs", type=_positive_int, default=32, metavar="N",
                        help="handlers running at once, and jobs activated at most (default 32)")
    worker.add_argument("--timeout", type=_duration, default=300_000, metavar="DURATION",
                        help="how long a job stays locked to this worker; a handler running "
                             "longer is killed (default 5m)")
    worker.add_argument("--name", default=f"propolis-worker-{os.getpid()}",
                        help="the worker name recorded on activated jobs (default propolis-worker-PID)")
    worker.add_argument("--poll-timeout", type=_duration, default=10_000, metavar="DURATION",
                        help="how long one long poll waits for jobs (default 10s)")
    worker.add_argument("--retry-backoff", type=_duration, default=0, metavar="DURATION",
                        help="when a handler fails, wait this long before the job is retried")
    worker.add_argument("--fetch-variables", metavar="NAMES",
                        help="only these variables (comma-separated; default: all)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        try:
            setup_logging(args.log_level)
        except ValueError as error:
            raise UsageError(f"--log-level: {error}") from None
        if args.command in ("broker", "gateway"):
            return args.run_command(args)
        if args.command == "dev":
            if args.port is None:
                args.port = _env_int(PORT_ENV, DEFAULT_PORT)
            if args.partitions is None:
                args.partitions = _env_int(PARTITIONS_ENV, 1)
            return args.run_command(args)
        with PropolisClient(args.address) as client:
            return args.run_command(args, client)
    except GatewayError as error:
        print(f"error: {error.status}: {error.message}", file=sys.stderr)
        return 1
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `propolis status | head -1`: the reader left; not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
