"""A separate `propolis gateway` in front of a `propolis broker`, with TLS and auth from its
configuration file: it serves the token endpoint too, and refuses calls without a token."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import yaml
from propolis.clients.client import PropolisClient
from propolis.clients.errors import GatewayError

from tests.support.certificates import CertificateAuthority
from tests.support.cluster import Broker, Gateway, running
from tests.support.dev_server import free_port
from tests.support.secured import AUDIENCE, ISSUER, SIGNING_KEY, SecuredDev, client_spec

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli"
CLIENTS = {"team-a": client_spec(["team-a"])}


def test_a_cluster_gateway_with_tls_issues_tokens_and_checks_them(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "pki")
    certificate = ca.issue("gateway")
    token_port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "tls": {"certificate": str(certificate.certificate), "private_key": str(certificate.private_key)},
        "auth": {"enabled": True, "issuer": ISSUER, "audience": AUDIENCE, "signing_key": SIGNING_KEY,
                 "token_port": token_port, "clients": CLIENTS},
    }))
    broker = Broker(tmp_path / "b0", partitions=1)
    gateway = Gateway([broker.address], env={"PROPOLIS_CONFIG": str(config)})
    with running(broker, gateway):
        assert f"token endpoint https://127.0.0.1:{token_port}/oauth/token" in "".join(gateway.output)
        # SecuredDev's helpers only need the CA, the address and the token port.
        dev = SecuredDev(server=None, ca=ca, gateway_cert=certificate, token_port=token_port, clients=CLIENTS)  # type: ignore[arg-type]
        token = dev.token("team-a")
        credentials = grpc.ssl_channel_credentials(ca.pem)
        with PropolisClient(gateway.address, credentials=credentials, token=token) as client:
            assert client.deploy(FIXTURES / "one_task.bpmn", tenant_id="team-a").tenant_id == "team-a"
            with pytest.raises(GatewayError) as caught:
                client.deploy(FIXTURES / "one_task.bpmn", tenant_id="team-b")
            assert caught.value.status == "PERMISSION_DENIED"
        with PropolisClient(gateway.address, credentials=credentials) as anonymous:
            with pytest.raises(GatewayError) as caught:
                anonymous.topology()
            assert caught.value.status == "UNAUTHENTICATED"


def test_a_cluster_gateway_with_clients_needs_a_signing_key(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"auth": {"enabled": True, "clients": CLIENTS}}))
    broker = Broker(tmp_path / "b0", partitions=1)
    gateway = Gateway([broker.address], env={"PROPOLIS_CONFIG": str(config)})
    with running(broker):
        with pytest.raises(RuntimeError) as caught:
            gateway.start()
        assert "auth.signing_key: required by propolis gateway" in str(caught.value)
