"""A local HTTP server that answers the requests of the official Elasticsearch client the way
Elasticsearch 8 does, and records them, so tests can check the exact bulk bodies and template
requests the exporter makes. It is not Elasticsearch: it stores nothing and searches nothing.

Modes: `failing` answers every bulk request with 500; `unavailable_times` answers that many
bulk requests with 503 (which the client retries by itself); `refusing` answers 200 with the
first document refused (`errors: true`), as Elasticsearch does for a mapping conflict.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.decode().splitlines()]


class ElasticsearchLikeServer:
    def __init__(self) -> None:
        self._answered: list[tuple[Request, bool]] = []  # and whether it was a success
        self.failing = False
        self.unavailable_times = 0
        self.refusing = False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ElasticsearchLikeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def taken(self, path_prefix: str) -> list[Request]:
        """The requests to paths starting with `path_prefix` that were answered with success."""
        with self._lock:
            return [r for r, ok in self._answered if r.path.startswith(path_prefix) and ok]

    def all(self, path_prefix: str = "/") -> list[Request]:
        with self._lock:
            return [r for r, _ in self._answered if r.path.startswith(path_prefix)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                status, answer = server._answer(request)
                with server._lock:
                    server._answered.append((request, status < 300 and not answer.get("errors")))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Type", "application/vnd.elasticsearch+json;compatible-with=8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815 - http.server's names

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        return Handler

    def _answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        path = request.path.split("?", 1)[0]
        if path.startswith(("/_component_template/", "/_index_template/")) and request.method == "PUT":
            return 200, {"acknowledged": True}
        if path == "/_bulk":
            if self.failing:
                return 500, {"error": {"type": "node_not_connected_exception", "reason": "the node is down"}, "status": 500}
            with self._lock:
                unavailable = self.unavailable_times > 0
                self.unavailable_times -= unavailable
            if unavailable:
                return 503, {"error": {"type": "cluster_block_exception", "reason": "no master"}, "status": 503}
            lines = request.ndjson()
            items = []
            for number, action in enumerate(lines[0::2]):
                meta = action["index"]
                item: dict[str, Any] = {"_index": meta["_index"], "_id": meta["_id"], "status": 201, "result": "created"}
                if self.refusing and number == 0:
                    item = {"_index": meta["_index"], "_id": meta["_id"], "status": 400,
                            "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [value.x]"}}
                items.append({"index": item})
            return 200, {"took": 1, "errors": self.refusing, "items": items}
        return 404, {"error": {"type": "resource_not_found_exception", "reason": f"no handler for {request.method} {path}"}, "status": 404}
