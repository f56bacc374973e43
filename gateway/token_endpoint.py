"""The built-in OAuth 2.0 token endpoint (RFC 6749, client credentials grant), so that Zeebe
clients' OAuth settings work unchanged: `POST /oauth/token` with `grant_type=client_credentials`
and the client's id and secret (HTTP Basic, form fields or a JSON body, as the different
clients send them) answers `{"access_token", "token_type": "Bearer", "expires_in"}` with a JWT
that the gateway accepts. A requested `audience` or `scope` is accepted and ignored: the token
is for this gateway's audience, and what it may do comes from the client's configuration.

Served over HTTPS with the gateway's certificate when TLS is configured (OAuth clients such as
pyzeebe's refuse plain HTTP). Secrets and tokens are never logged; failures are logged with the
client id only. A stdlib `ThreadingHTTPServer` on its own thread: clients fetch a token once an
hour, not once a call.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlparse

from propolis.gateway.security_config import TlsConfig
from propolis.gateway.tokens import TokenAuthority

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/token"
REQUEST_BODY_BYTES_MAX = 16 << 10


def _form_or_json(content_type: str, raw: bytes) -> dict[str, str]:
    if "json" in content_type:
        document = json.loads(raw or b"{}")
        if not isinstance(document, dict):
            raise ValueError("the body must be a JSON object")
        return {str(k): str(v) for k, v in document.items() if v is not None}
    return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    # RFC 6749 2.3.1: both parts are form-url-encoded before Basic encoding.
    return (unquote_plus(client_id), unquote_plus(secret)) if sep else None


def _handler_class(authority: TokenAuthority) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "propolis-token-endpoint"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass  # request lines are not logged: a query string could hold a secret

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "invalid_request", f"use POST {TOKEN_PATH}")

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            if urlparse(self.path).path != TOKEN_PATH:
                self._error(HTTPStatus.NOT_FOUND, "invalid_request", f"no endpoint {self.path.split('?')[0]}; use {TOKEN_PATH}")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > REQUEST_BODY_BYTES_MAX:
                self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "invalid_request", "the body is too large")
                return
            try:
                fields = _form_or_json(self.headers.get("Content-Type", ""), self.rfile.read(length))
            except (ValueError, UnicodeDecodeError):
                self._error(HTTPStatus.BAD_REQUEST, "invalid_request", "the body is neither a form nor a JSON object")
                return
            grant = fields.get("grant_type", "")
            if grant != "client_credentials":
                self._error(HTTPStatus.BAD_REQUEST, "unsupported_grant_type",
                            f"only grant_type=client_credentials is supported, got {grant!r}")
                return
            credentials = _basic_credentials(self.headers.get("Authorization")) or (
                fields.get("client_id", ""), fields.get("client_secret", "")
            )
            client_id, secret = credentials
            client = authority.client(client_id, secret) if client_id else None
            if client is None:
                log.warning("token refused", extra={"client_id": client_id[:100]})
                self._error(HTTPStatus.UNAUTHORIZED, "invalid_client", "unknown client or wrong secret")
                return
            token, ttl = authority.issue(client)
            log.info("token issued", extra={"client_id": client_id, "expires_in_s": ttl})
            self._json(HTTPStatus.OK, {"access_token": token, "token_type": "Bearer", "expires_in": ttl})

        def _error(self, status: HTTPStatus, error: str, description: str) -> None:
            self._json(status, {"error": error, "error_description": description})

        def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Pragma", "no-cache")
            if status == HTTPStatus.UNAUTHORIZED:
                self.send_header("WWW-Authenticate", 'Basic realm="propolis"')
            self.end_headers()
            self.wfile.write(data)

    return Handler


class TokenEndpoint:
    """`start()` serves on its own thread; `port` is the bound port; `stop()` ends it."""

    def __init__(self, authority: TokenAuthority, tls: TlsConfig, host: str, port: int) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler_class(authority))
        self._server.daemon_threads = True
        self.tls = tls.enabled
        if tls.enabled:
            assert tls.certificate is not None and tls.private_key is not None
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls.certificate), str(tls.private_key))
            # The handshake happens in the request's thread, not in the accepting one: a client
            # that stalls mid-handshake must not hold up everyone else's.
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-endpoint", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, host: str) -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{TOKEN_PATH}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
