"""A real `propolis dev` with TLS and auth on, and clients that sign in through its token
endpoint: the configuration file is written at test time, certificates made with
tests/support/certificates.py.

    with secured_propolis_dev(tmp_path, CLIENTS) as dev:
        client = dev.client("team-a")          # PropolisClient over TLS with team-a's token
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml
from propolis.clients.client import PropolisClient

from tests.support.certificates import Certificate, CertificateAuthority
from tests.support.dev_server import DevServer, free_port
from tests.support.running import running_propolis_dev

SIGNING_KEY = "a-test-signing-key-that-is-long-enough-0123456789"
ISSUER = "propolis-test"
AUDIENCE = "zeebe-api"


def client_spec(tenants: list[str], permissions: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"secret": "secret-of-" + "-".join(tenants), "tenants": tenants}
    if permissions is not None:
        spec["permissions"] = permissions
    return spec


@dataclass
class SecuredDev:
    server: DevServer
    ca: CertificateAuthority
    gateway_cert: Certificate
    token_port: int
    clients: dict[str, dict[str, Any]]
    mutual_tls: bool = False

    @property
    def address(self) -> str:
        return self.server.address

    @property
    def token_url(self) -> str:
        return f"https://127.0.0.1:{self.token_port}/oauth/token"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.path))

    def request_token(self, fields: dict[str, str], headers: dict[str, str] | None = None,
                      as_json: bool = False) -> tuple[int, dict[str, Any]]:
        body = json.dumps(fields).encode() if as_json else urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(self.token_url, data=body, method="POST", headers={
            "Content-Type": "application/json" if as_json else "application/x-www-form-urlencoded", **(headers or {})})
        try:
            with urllib.request.urlopen(request, context=self.ssl_context(), timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def token(self, client_id: str) -> str:
        status, body = self.request_token({
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": self.clients[client_id]["secret"]})
        assert status == 200, body
        return body["access_token"]

    def channel_credentials(self) -> grpc.ChannelCredentials:
        if self.mutual_tls:
            client = self.ca.issue("test-client", server=False)
            return grpc.ssl_channel_credentials(self.ca.pem, client.private_key.read_bytes(),
                                                client.certificate.read_bytes())
        return grpc.ssl_channel_credentials(self.ca.pem)

    def client(self, client_id: str | None = None, token: str | None = None) -> PropolisClient:
        """A client over TLS with `client_id`'s fresh token (or `token` as given; neither: none)."""
        if client_id is not None:
            token = self.token(client_id)
        return PropolisClient(self.address, credentials=self.channel_credentials(), token=token)


def write_config(directory: Path, tls: dict[str, Any], auth: dict[str, Any] | None) -> Path:
    document: dict[str, Any] = {"tls": tls}
    if auth is not None:
        document["auth"] = auth
    path = directory / "propolis.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@contextmanager
def secured_propolis_dev(directory: Path, clients: dict[str, dict[str, Any]], *, mutual_tls: bool = False,
                         auth: bool = True, extra_auth: dict[str, Any] | None = None,
                         env: dict[str, str] | None = None) -> Iterator[SecuredDev]:
    ca = CertificateAuthority(directory / "pki")
    gateway_cert = ca.issue("gateway")
    tls = {"certificate": str(gateway_cert.certificate), "private_key": str(gateway_cert.private_key)}
    if mutual_tls:
        tls["client_ca"] = str(ca.path)
    token_port = free_port()
    auth_block = {"enabled": True, "issuer": ISSUER, "audience": AUDIENCE, "signing_key": SIGNING_KEY,
                  "clients": clients, **(extra_auth or {})} if auth else None
    config = write_config(directory, tls, auth_block)
    env = {"PROPOLIS_CONFIG": str(config), "PROPOLIS_AUTH_TOKEN_PORT": str(token_port), **(env or {})}
    with running_propolis_dev(directory / "data", env=env) as server:
        yield SecuredDev(server, ca, gateway_cert, token_port, clients, mutual_tls)
