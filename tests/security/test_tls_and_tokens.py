"""TLS, mutual TLS and bearer tokens at a real `propolis dev`: who gets in and who does not."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import jwt
import pytest
from propolis.clients.client import PropolisClient
from propolis.clients.errors import GatewayError

from tests.support.certificates import rsa_key_pair
from tests.support.secured import (
    AUDIENCE,
    ISSUER,
    SIGNING_KEY,
    SecuredDev,
    client_spec,
    secured_propolis_dev,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli"
CLIENTS = {
    "deployer": client_spec(["<default>"], ["deploy"]),
    "operator": client_spec(["<default>"]),
    "nobody": client_spec(["<default>"], []),
}


@pytest.fixture(scope="module")
def external_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    return rsa_key_pair(tmp_path_factory.mktemp("idp"), "idp")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, external_key) -> SecuredDev:
    extra = {"keys": [{"algorithm": "RS256", "public_key": str(external_key[1]), "kid": "idp-1"}]}
    with secured_propolis_dev(tmp_path_factory.mktemp("secured"), CLIENTS, extra_auth=extra) as server:
        yield server


def refused(call, status: str) -> str:
    with pytest.raises(GatewayError) as caught:
        call()
    assert caught.value.status == status, caught.value
    return caught.value.message


def claims(**overrides) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "operator", "iat": now, "exp": now + 600, **overrides}


# -- TLS ---------------------------------------------------------------------------------------


def test_a_plaintext_client_cannot_talk_to_a_tls_gateway(dev: SecuredDev) -> None:
    with PropolisClient(dev.address, call_timeout_s=3) as plain:
        refused(plain.topology, "UNAVAILABLE")


def test_a_tls_client_that_does_not_trust_the_certificate_is_refused(dev: SecuredDev, tmp_path: Path) -> None:
    import grpc

    from tests.support.certificates import CertificateAuthority

    stranger = CertificateAuthority(tmp_path / "other", "other CA")
    credentials = grpc.ssl_channel_credentials(stranger.pem)
    with PropolisClient(dev.address, call_timeout_s=3, credentials=credentials, token=dev.token("operator")) as client:
        refused(client.topology, "UNAVAILABLE")


def test_the_ready_line_names_the_token_endpoint(dev: SecuredDev) -> None:
    ready = next(line for line in dev.server.output if "propolis dev: gateway on" in line)
    assert f"token endpoint https://127.0.0.1:{dev.token_port}/oauth/token" in ready


# -- the token endpoint --------------------------------------------------------------------------


def test_the_token_endpoint_issues_a_bearer_jwt_for_form_basic_and_json_requests(dev: SecuredDev) -> None:
    secret = CLIENTS["operator"]["secret"]
    form = dev.request_token({"grant_type": "client_credentials", "client_id": "operator", "client_secret": secret})
    basic = dev.request_token({"grant_type": "client_credentials", "audience": "anything"}, headers={
        "Authorization": "Basic " + base64.b64encode(f"operator:{secret}".encode()).decode()})
    as_json = dev.request_token({"grant_type": "client_credentials", "client_id": "operator",
                                 "client_secret": secret}, as_json=True)
    for status, body in (form, basic, as_json):
        assert status == 200, body
        assert body["token_type"] == "Bearer" and body["expires_in"] > 0
        decoded = jwt.decode(body["access_token"], SIGNING_KEY, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
        assert decoded["sub"] == "operator"


def test_the_token_endpoint_refuses_a_wrong_secret_an_unknown_client_and_other_grants(dev: SecuredDev) -> None:
    status, body = dev.request_token({"grant_type": "client_credentials", "client_id": "operator",
                                      "client_secret": "wrong"})
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = dev.request_token({"grant_type": "client_credentials", "client_id": "ghost", "client_secret": "x"})
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = dev.request_token({"grant_type": "password", "client_id": "operator",
                                      "client_secret": CLIENTS["operator"]["secret"]})
    assert (status, body["error"]) == (400, "unsupported_grant_type")


def test_secrets_and_tokens_never_reach_the_log(dev: SecuredDev) -> None:
    token = dev.token("operator")
    with dev.client(token=token) as client:
        client.topology()
    dev.request_token({"grant_type": "client_credentials", "client_id": "operator", "client_secret": "wrong-guess"})
    output = "".join(dev.server.output)
    for secret in (token, SIGNING_KEY, "wrong-guess", *(c["secret"] for c in CLIENTS.values())):
        assert secret not in output


# -- bearer tokens at the gateway ----------------------------------------------------------------


def test_a_call_without_a_token_is_unauthenticated(dev: SecuredDev) -> None:
    with dev.client() as client:
        message = refused(client.topology, "UNAUTHENTICATED")
    assert "authorization: Bearer" in message and "none was given" in message


@pytest.mark.parametrize("token, why", [
    ("not-a-jwt", "not a well-formed JWT"),
    ("a.b.c", "not a well-formed JWT"),
    (jwt.encode(claims(exp=int(time.time()) - 3600), SIGNING_KEY, "HS256", headers={"kid": "propolis"}), "expired"),
    (jwt.encode(claims(), "another-key-that-is-long-enough-0123456789abcdef", "HS256"), "signature does not match"),
    (jwt.encode(claims(aud="someone-else"), SIGNING_KEY, "HS256"), "audience 'zeebe-api'"),
    (jwt.encode(claims(iss="elsewhere"), SIGNING_KEY, "HS256"), "not issued by 'propolis-test'"),
    (jwt.encode({k: v for k, v in claims().items() if k != "exp"}, SIGNING_KEY, "HS256"), "lacks the 'exp' claim"),
    (jwt.encode(claims(), None, "none"), "no configured key verifies tokens signed with 'none'"),
])
def test_bad_tokens_are_unauthenticated_with_the_reason(dev: SecuredDev, token: str, why: str) -> None:
    with dev.client(token=token) as client:
        message = refused(client.topology, "UNAUTHENTICATED")
    assert why in message
    assert token not in message


def test_a_token_of_a_configured_identity_provider_key_is_accepted(dev: SecuredDev, external_key) -> None:
    token = jwt.encode(claims(sub="idp-user", tenants=["<default>"], permissions=["deploy"]), external_key[0],
                       "RS256", headers={"kid": "idp-1"})
    with dev.client(token=token) as client:
        client.topology()
        assert client.deploy(FIXTURES / "one_task.bpmn").processes[0].process_id == "one-task"
        message = refused(lambda: client.create_instance("one-task"), "PERMISSION_DENIED")
    assert "client 'idp-user' lacks the 'start' permission" in message


def test_each_rpc_needs_its_permission(dev: SecuredDev) -> None:
    with dev.client("deployer") as deployer:
        deployer.deploy(FIXTURES / "waiting_task.bpmn")
        message = refused(lambda: deployer.create_instance("waiting-task"), "PERMISSION_DENIED")
        assert "CreateProcessInstance" in message and "'start' permission" in message
        message = refused(lambda: deployer.activate_jobs("waiting", request_timeout_ms=-1), "PERMISSION_DENIED")
        assert "'work' permission" in message
        message = refused(lambda: deployer.publish_message("m", "k"), "PERMISSION_DENIED")
        assert "'operate' permission" in message
    with dev.client("nobody") as nobody:
        nobody.topology()  # any signed-in client may see the topology
        message = refused(lambda: nobody.deploy(FIXTURES / "one_task.bpmn"), "PERMISSION_DENIED")
        assert "client 'nobody' lacks the 'deploy' permission" in message
    with dev.client("operator") as operator:
        instance = operator.create_instance("waiting-task")
        operator.cancel_instance(instance.key)


# -- mutual TLS --------------------------------------------------------------------------------


def test_mutual_tls_refuses_clients_without_a_certificate(tmp_path: Path) -> None:
    with secured_propolis_dev(tmp_path, {}, mutual_tls=True, auth=False) as dev:
        import grpc

        with PropolisClient(dev.address, call_timeout_s=3, credentials=grpc.ssl_channel_credentials(dev.ca.pem)) as bare:
            refused(bare.topology, "UNAVAILABLE")
        with dev.client() as client:  # with a client certificate from the CA
            assert client.topology().partitions_count == 1
            client.deploy(FIXTURES / "one_task.bpmn")


# -- a JWKS URL ----------------------------------------------------------------------------------


def test_tokens_of_an_identity_provider_are_checked_against_its_jwks_url(tmp_path: Path) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography.hazmat.primitives import serialization

    private_pem, _public = rsa_key_pair(tmp_path, "jwks")
    private = serialization.load_pem_private_key(private_pem, None)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    keys = json.dumps({"keys": [{**jwk, "kid": "idp-key", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(keys)))
            self.end_headers()
            self.wfile.write(keys)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        with secured_propolis_dev(tmp_path / "dev", {}, extra_auth={"jwks_url": url}) as dev:
            good = jwt.encode(claims(sub="idp-user", tenants=["<default>"], permissions=["deploy"]), private_pem,
                              "RS256", headers={"kid": "idp-key"})
            with dev.client(token=good) as client:
                assert client.deploy(FIXTURES / "one_task.bpmn").processes[0].process_id == "one-task"
            other_pem, _ = rsa_key_pair(tmp_path, "other")
            forged = jwt.encode(claims(sub="idp-user", tenants=["<default>"], permissions=["deploy"]), other_pem,
                                "RS256", headers={"kid": "idp-key"})
            with dev.client(token=forged) as client:
                assert "signature does not match" in refused(client.topology, "UNAUTHENTICATED")
    finally:
        server.shutdown()
        server.server_close()


def test_tls_from_the_environment_without_a_configuration_file(tmp_path: Path) -> None:
    import grpc

    from tests.support.certificates import CertificateAuthority
    from tests.support.running import running_propolis_dev

    ca = CertificateAuthority(tmp_path / "pki")
    gateway = ca.issue("gateway")
    env = {"PROPOLIS_TLS_CERTIFICATE": str(gateway.certificate), "PROPOLIS_TLS_PRIVATE_KEY": str(gateway.private_key)}
    with running_propolis_dev(tmp_path / "data", env=env) as server:
        with PropolisClient(server.address, credentials=grpc.ssl_channel_credentials(ca.pem)) as client:
            client.deploy(FIXTURES / "one_task.bpmn")  # auth is off: no token needed
            refused(lambda: client.deploy(FIXTURES / "one_task.bpmn", tenant_id="acme"), "INVALID_ARGUMENT")
        with PropolisClient(server.address, call_timeout_s=3) as plain:
            refused(plain.topology, "UNAVAILABLE")


def test_a_token_of_the_gateways_own_key_for_a_client_not_configured_is_refused(dev: SecuredDev) -> None:
    token = jwt.encode(claims(sub="removed-client", tenants=["<default>"], permissions=["deploy"]), SIGNING_KEY,
                       "HS256", headers={"kid": "propolis"})
    with dev.client(token=token) as client:
        assert "client 'removed-client' is not configured" in refused(client.topology, "UNAUTHENTICATED")
