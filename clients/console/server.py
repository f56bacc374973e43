"""The web console: a JSON API over the SQLite read model plus the single-page app.

Reads come from the read model that the broker's read-model exporter writes; actions
(cancel, resolve an incident, set variables) go through the gateway's gRPC API like any
client's. The server is stdlib `ThreadingHTTPServer` in a thread: the console's load is a
few operators polling once a second, and it must run inside `propolis dev` next to grpc.aio
without sharing its event loop.

API (all JSON):
    GET  /api/processes                      every process version with instance counts
    GET  /api/processes/<key>                one version with its BPMN XML and per-element counts
    GET  /api/instances?process=&version=&state=&incident=&tenant=&startFrom=&startTo=
                        &endFrom=&endTo=&variable=&value=&limit=&cursor=
                                             one page, newest first, keyset-paged by `cursor`
    GET  /api/instances/<key>                elements, taken flows, variables, incidents, jobs
    GET  /api/instances/<key>/timeline       its events in log order (for replay)
    GET  /api/changes                        positions per partition: poll to learn of changes
    POST /api/instances/<key>/cancel
    POST /api/instances/<key>/variables      {"scopeKey": k, "variables": {...}}
    POST /api/incidents/<key>/resolve        {"jobKey": k, "retries": n}
    GET  /api/session                        who is signed in: {"user", "tenants", "auth"}
    POST /api/login                          {"clientId", "clientSecret"}: sets the session cookie
    POST /api/logout

With auth on (the `auth:` block of the configuration), every endpoint but login needs a session:
signing in with a configured client's id and secret sets an HttpOnly cookie holding a token
from the same authority as the gateway's. Reads show only the caller's tenants (anything of
another tenant is answered 404, as if it did not exist) and actions go to the gateway with the
caller's token, so the gateway checks their permissions and tenants as for any client.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from propolis.clients.client import PropolisClient
from propolis.clients.console.sessions import SESSION_COOKIE, ConsoleAuth, Session
from propolis.clients.errors import GatewayError
from propolis.exporters.read_model import InstanceFilter, ReadModel
from propolis.exporters.read_model.queries import QueryError, ReadModelMissingError

log = logging.getLogger(__name__)

Caller = Session | None

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = Path(__file__).parent / "node_modules" / "bpmn-js" / "dist"
REQUEST_BODY_BYTES_MAX = 1 << 20
GATEWAY_STATUS_TO_HTTP = {
    "NOT_FOUND": HTTPStatus.NOT_FOUND,
    "INVALID_ARGUMENT": HTTPStatus.BAD_REQUEST,
    "FAILED_PRECONDITION": HTTPStatus.CONFLICT,
    "RESOURCE_EXHAUSTED": HTTPStatus.TOO_MANY_REQUESTS,
    "UNAVAILABLE": HTTPStatus.SERVICE_UNAVAILABLE,
    "PERMISSION_DENIED": HTTPStatus.FORBIDDEN,
    "UNAUTHENTICATED": HTTPStatus.UNAUTHORIZED,
}


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name} must be a whole number, got '{value}'") from None


class ConsoleApi:
    """What each endpoint does, apart from HTTP. One place to check who may see what: every
    method gets the signed-in `caller` (None with auth off) and shows only its tenants."""

    def __init__(self, read_model: ReadModel, gateway_address: str, auth: ConsoleAuth | None = None) -> None:
        self.read_model = read_model
        self.gateway_address = gateway_address
        self.auth = auth if auth is not None else ConsoleAuth(None, None)
        self._client: PropolisClient | None = None
        self._client_lock = threading.Lock()

    def client(self, caller: Caller = None) -> PropolisClient:
        if caller is not None:
            # The caller's own token: the gateway checks its permissions and tenants.
            return self.auth.gateway_client(self.gateway_address, caller)
        with self._client_lock:
            if self._client is None:
                self._client = self.auth.gateway_client(self.gateway_address, None)
            return self._client

    @staticmethod
    def _tenants(caller: Caller) -> tuple[str, ...] | None:
        return None if caller is None else tuple(caller.identity.tenants)

    def _visible(self, caller: Caller, tenant_id: str) -> bool:
        return caller is None or tenant_id in caller.identity.tenants

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.read_model.close()

    # -- reads -----------------------------------------------------------------------------
    def session(self, caller: Caller, query: dict[str, str]) -> Any:
        if caller is None:
            return {"auth": self.auth.enabled, "user": None, "tenants": None}
        return {"auth": True, "user": caller.identity.name, "tenants": list(caller.identity.tenants)}

    def processes(self, caller: Caller, query: dict[str, str]) -> Any:
        return {"items": self.read_model.processes(self._tenants(caller))}

    def process(self, caller: Caller, key: int) -> Any:
        process = self.read_model.process(key)
        if process is None or not self._visible(caller, process["tenant_id"]):
            raise ApiError(HTTPStatus.NOT_FOUND, f"no process definition with key {key}")
        process["elements"] = self.read_model.element_stats(key)
        return process

    def instances(self, caller: Caller, query: dict[str, str]) -> Any:
        incident = query.get("incident")
        value = query.get("value")
        if value not in (None, ""):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # a bare word is compared as a string
        else:
            value = None
        try:
            where = InstanceFilter(
                bpmn_process_id=query.get("process") or None,
                version=_int(query.get("version"), "version"),
                process_definition_key=_int(query.get("definition"), "definition"),
                state=query.get("state") or None,
                has_incident=None if incident in (None, "") else incident == "true",
                tenant_ids=_tenant_filter(query.get("tenant"), self._tenants(caller)),
                start_from_ms=_int(query.get("startFrom"), "startFrom"),
                start_to_ms=_int(query.get("startTo"), "startTo"),
                end_from_ms=_int(query.get("endFrom"), "endFrom"),
                end_to_ms=_int(query.get("endTo"), "endTo"),
                variable_name=query.get("variable") or None,
                variable_value=value,
            )
            return self.read_model.instances(where, _int(query.get("limit"), "limit") or 50, query.get("cursor") or None)
        except QueryError as error:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(error)) from None

    def instance(self, caller: Caller, key: int) -> Any:
        instance = self.read_model.instance(key)
        if instance is None or not self._visible(caller, instance["tenant_id"]):
            raise ApiError(HTTPStatus.NOT_FOUND, f"no process instance with key {key}")
        return instance

    def timeline(self, caller: Caller, key: int) -> Any:
        if caller is not None:
            self.instance(caller, key)  # 404 unless the caller may see the instance
        return {"items": self.read_model.timeline(key)}

    def changes(self, caller: Caller, query: dict[str, str]) -> Any:
        return {"positions": self.read_model.positions()}

    # -- actions through the gateway -------------------------------------------------------
    def cancel(self, caller: Caller, key: int, body: dict[str, Any]) -> Any:
        with _closing(self.client(caller), caller) as client:
            client.cancel_instance(key)
        return {"canceled": key}

    def set_variables(self, caller: Caller, key: int, body: dict[str, Any]) -> Any:
        variables = body.get("variables")
        if not isinstance(variables, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "variables must be a JSON object")
        scope_key = body.get("scopeKey", key)
        if not isinstance(scope_key, int):
            raise ApiError(HTTPStatus.BAD_REQUEST, "scopeKey must be an element instance key")
        with _closing(self.client(caller), caller) as client:
            client.set_variables(scope_key, variables, local=bool(body.get("local", True)))
        return {"updated": scope_key}

    def resolve(self, caller: Caller, key: int, body: dict[str, Any]) -> Any:
        job_key = body.get("jobKey")
        retries = body.get("retries")
        if job_key is not None and job_key > 0:
            if not isinstance(retries, int) or retries < 1:
                raise ApiError(HTTPStatus.BAD_REQUEST, "retries must be a whole number of at least 1 to retry the job")
        with _closing(self.client(caller), caller) as client:
            if job_key is not None and job_key > 0:
                client.update_job_retries(job_key, retries)
            client.resolve_incident(key)
        return {"resolved": key}


@contextmanager
def _closing(client: PropolisClient, caller: Caller) -> Iterator[PropolisClient]:
    """A caller's own client is closed after its action; the shared one stays open."""
    try:
        yield client
    finally:
        if caller is not None:
            client.close()


def _tenant_filter(asked: str | None, allowed: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if allowed is None:
        return (asked,) if asked else None
    if asked:
        return (asked,) if asked in allowed else ("",)  # another tenant's: nothing matches
    return allowed


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/api/processes$"), "processes"),
    ("GET", re.compile(r"^/api/processes/(-?\d+)$"), "process"),
    ("GET", re.compile(r"^/api/instances$"), "instances"),
    ("GET", re.compile(r"^/api/instances/(-?\d+)$"), "instance"),
    ("GET", re.compile(r"^/api/instances/(-?\d+)/timeline$"), "timeline"),
    ("GET", re.compile(r"^/api/changes$"), "changes"),
    ("GET", re.compile(r"^/api/session$"), "session"),
    ("POST", re.compile(r"^/api/instances/(-?\d+)/cancel$"), "cancel"),
    ("POST", re.compile(r"^/api/instances/(-?\d+)/variables$"), "set_variables"),
    ("POST", re.compile(r"^/api/incidents/(-?\d+)/resolve$"), "resolve"),
]


def _handler_class(api: ConsoleApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "propolis-console"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            log.debug("console request", extra={"request": format % args})

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self._dispatch("POST")

        def _dispatch(self, method: str) -> None:
            url = urlparse(self.path)
            if not url.path.startswith("/api/"):
                if method == "GET":
                    self._static(url.path)
                else:
                    self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"{method} {url.path} is not allowed"})
                return
            if method == "POST" and url.path in ("/api/login", "/api/logout"):
                self._login() if url.path == "/api/login" else self._logout()
                return
            caller = api.auth.session(self._cookie())
            if api.auth.enabled and caller is None and url.path != "/api/session":
                self._json(HTTPStatus.UNAUTHORIZED, {"error": "sign in first: POST /api/login with clientId and clientSecret"})
                return
            for route_method, pattern, name in _ROUTES:
                match = pattern.match(url.path)
                if match is None or route_method != method:
                    continue
                try:
                    action: Callable[..., Any] = getattr(api, name)
                    if method == "GET":
                        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                        result = action(caller, int(match.group(1))) if match.groups() else action(caller, query)
                    else:
                        result = action(caller, int(match.group(1)), self._body())
                    self._json(HTTPStatus.OK, result)
                except ApiError as error:
                    self._json(error.status, {"error": error.message})
                except GatewayError as error:
                    status = GATEWAY_STATUS_TO_HTTP.get(error.status, HTTPStatus.BAD_GATEWAY)
                    self._json(status, {"error": f"{error.status}: {error.message}"})
                except ReadModelMissingError as error:
                    self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(error)})
                return
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {method} {url.path}"})

        def _cookie(self) -> str | None:
            try:
                morsel = SimpleCookie(self.headers.get("Cookie") or "").get(SESSION_COOKIE)
            except CookieError:
                return None
            return morsel.value if morsel is not None else None

        def _login(self) -> None:
            try:
                body = self._body()
            except ApiError as error:
                self._json(error.status, {"error": error.message})
                return
            if not api.auth.enabled:
                self._json(HTTPStatus.OK, {"auth": False, "user": None, "tenants": None})
                return
            client_id, secret = body.get("clientId"), body.get("clientSecret")
            token = api.auth.login(client_id, secret) if isinstance(client_id, str) and isinstance(secret, str) else None
            if token is None:
                self._json(HTTPStatus.UNAUTHORIZED, {"error": "unknown client or wrong secret"})
                return
            session = api.auth.session(token)
            assert session is not None
            self._json(HTTPStatus.OK, {"auth": True, "user": session.identity.name, "tenants": list(session.identity.tenants)},
                       cookie=api.auth.cookie(token))

        def _logout(self) -> None:
            self._json(HTTPStatus.OK, {"auth": api.auth.enabled, "user": None}, cookie=api.auth.cookie(""))

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if length > REQUEST_BODY_BYTES_MAX:
                raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is larger than {REQUEST_BODY_BYTES_MAX} bytes")
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError as error:
                raise ApiError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {error}") from None
            if not isinstance(body, dict):
                raise ApiError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
            return body

        def _json(self, status: HTTPStatus, payload: Any, cookie: str | None = None) -> None:
            data = json.dumps(payload, default=str).encode()
            self.send_response(status)
            if cookie is not None:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _static(self, path: str) -> None:
            if path.startswith("/vendor/"):
                root, relative = VENDOR_DIR, path.removeprefix("/vendor/")
            else:
                root, relative = STATIC_DIR, (path.lstrip("/") or "index.html")
            file = (root / relative).resolve()
            if not file.is_file() or root.resolve() not in file.parents:
                file = STATIC_DIR / "index.html"  # the app routes by #fragment; anything else is the app
                if path.startswith("/vendor/"):
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no file {path} (run ./run install to fetch bpmn-js)"})
                    return
            data = file.read_bytes()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", mimetypes.guess_type(file.name)[0] or "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class ConsoleServer:
    """The console's HTTP server on its own thread."""

    def __init__(
        self, read_model_path: Path, gateway_address: str, host: str = "0.0.0.0", port: int = 8080,
        security: Any = None, authority: Any = None,
    ) -> None:
        """`security` (a gateway SecurityConfig) and `authority` (its TokenAuthority) turn on
        TLS towards the gateway and sign-in; None: neither."""
        self.api = ConsoleApi(ReadModel(read_model_path), gateway_address, ConsoleAuth(security, authority))
        try:
            self._server = ThreadingHTTPServer((host, port), _handler_class(self.api))
        except OSError as error:
            raise OSError(error.errno, f"the console port {host}:{port} cannot be opened: {error.strerror}; "
                          "use --console-port or PROPOLIS_CONSOLE_PORT (0 for any free one), or --no-console") from error
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="console", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.api.close()
