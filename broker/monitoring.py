"""A node's monitoring endpoints over plain HTTP: `/health` (every partition healthy),
`/ready` (started and able to take commands) and Prometheus `/metrics`.

The node is anything with `metrics.registry` and `partition_health()` (partition id -> healthy):
a broker (its partitions' health), or a standalone gateway (whether it knows a leader of each
partition, clients/cluster_nodes.py)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


class MonitoringServer:
    def __init__(self, broker: Any, host: str, port: int, port_env: str = "PROPOLIS_MONITORING_PORT") -> None:
        self._broker = broker
        try:
            self._server = ThreadingHTTPServer((host, port), self._handler_class())
        except OSError as error:
            raise OSError(error.errno, f"the monitoring port {host}:{port} (/metrics, /health) cannot be opened: {error.strerror}; "
                          f"set {port_env} to another port, or 0 for any free one") from error
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="monitoring", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        broker = self._broker

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(broker.metrics.registry), CONTENT_TYPE_LATEST)
                elif path in ("/health", "/ready"):
                    partitions = broker.partition_health()
                    healthy = bool(partitions) and all(partitions.values())
                    body = {"status": "UP" if healthy else "DOWN", "partitions": {str(p): "HEALTHY" if ok else "UNHEALTHY" for p, ok in partitions.items()}}
                    self._send(200 if healthy else 503, json.dumps(body).encode(), "application/json")
                else:
                    self._send(404, b'{"error": "unknown path; try /health, /ready or /metrics"}', "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
                return

        return Handler
