"""pyzeebe and zbctl, unmodified, signing in through propolis dev's token endpoint and talking
to its gateway over TLS, with their own OAuth settings (no propolis code on the client side)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest
from pyzeebe import ZeebeClient, ZeebeWorker, create_oauth2_client_credentials_channel
from pyzeebe.errors import ZeebeError, ZeebeGatewayUnavailableError

from tests.support.secured import AUDIENCE, SecuredDev, client_spec, secured_propolis_dev

pytestmark = pytest.mark.thirdparty

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli"
CLIENTS = {
    "pyzeebe-app": client_spec(["<default>", "team-a"]),
    "zbctl-user": client_spec(["<default>"]),
    "team-b": client_spec(["team-b"]),
}


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> SecuredDev:
    with secured_propolis_dev(tmp_path_factory.mktemp("oauth-clients"), CLIENTS) as server:
        yield server


def pyzeebe_channel(dev: SecuredDev, client_id: str, secret: str | None = None) -> grpc.aio.Channel:
    return create_oauth2_client_credentials_channel(
        grpc_address=dev.address,
        client_id=client_id,
        client_secret=secret if secret is not None else CLIENTS[client_id]["secret"],
        authorization_server=dev.token_url,
        audience=AUDIENCE,
        channel_credentials=grpc.ssl_channel_credentials(dev.ca.pem),
    )


def run_pyzeebe(dev: SecuredDev, client_id: str, scenario, monkeypatch: pytest.MonkeyPatch, secret: str | None = None) -> Any:
    # requests (under pyzeebe's OAuth session) must trust the test CA for the token endpoint.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(dev.ca.path))

    async def main() -> Any:
        channel = pyzeebe_channel(dev, client_id, secret)
        try:
            return await asyncio.wait_for(scenario(ZeebeClient(channel), channel), timeout=90)
        finally:
            await channel.close()

    return asyncio.run(main())


def test_pyzeebe_deploys_runs_and_works_jobs_in_its_tenant(dev: SecuredDev, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(client: ZeebeClient, channel: Any) -> Any:
        deployment = await client.deploy_resource(str(FIXTURES / "one_task.bpmn"), tenant_id="team-a")
        assert deployment.tenant_id == "team-a"
        worker = ZeebeWorker(channel, name="pyzeebe-oauth", request_timeout=1_000, tenant_ids=["team-a"])

        @worker.task(task_type="work", timeout_ms=30_000)
        async def double(n: int) -> dict[str, int]:
            return {"doubled": n * 2}

        work = asyncio.create_task(worker.work())
        try:
            return await client.run_process_with_result("one-task", {"n": 21}, timeout=20_000, tenant_id="team-a")
        finally:
            await worker.stop()
            await asyncio.wait_for(work, timeout=30)

    result = run_pyzeebe(dev, "pyzeebe-app", scenario, monkeypatch)
    assert result.variables == {"n": 21, "doubled": 42}


def test_pyzeebe_with_a_wrong_secret_gets_no_further_than_the_token_endpoint(
    dev: SecuredDev, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(client: ZeebeClient, channel: Any) -> Any:
        return await client.topology()

    with pytest.raises(ZeebeGatewayUnavailableError) as caught:
        run_pyzeebe(dev, "pyzeebe-app", scenario, monkeypatch, secret="not-the-secret")
    assert "(invalid_client) unknown client or wrong secret" in repr(caught.value)
    assert "not-the-secret" not in "".join(dev.server.output)


def test_pyzeebe_cannot_use_a_tenant_it_is_not_allowed(dev: SecuredDev, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(client: ZeebeClient, channel: Any) -> Any:
        await client.deploy_resource(str(FIXTURES / "one_task.bpmn"), tenant_id="team-b")

    with pytest.raises(ZeebeError) as caught:
        run_pyzeebe(dev, "pyzeebe-app", scenario, monkeypatch)
    error = caught.value.grpc_error
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "client 'pyzeebe-app' is not authorized for tenant 'team-b'" in error.details()


# -- zbctl -------------------------------------------------------------------------------------


def run_zbctl(binary: Path, dev: SecuredDev, home: Path, *args: str, secret: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZEEBE_", "CAMUNDA_"))}
    env.update({
        "HOME": str(home),  # zbctl caches tokens under ~/.camunda
        "SSL_CERT_FILE": str(dev.ca.path),  # Go's HTTP client must trust the token endpoint
        "ZEEBE_ADDRESS": dev.address,
        "ZEEBE_CA_CERTIFICATE_PATH": str(dev.ca.path),
        "ZEEBE_CLIENT_ID": "zbctl-user",
        "ZEEBE_CLIENT_SECRET": secret if secret is not None else CLIENTS["zbctl-user"]["secret"],
        "ZEEBE_AUTHORIZATION_SERVER_URL": dev.token_url,
        "ZEEBE_TOKEN_AUDIENCE": AUDIENCE,
    })
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60, env=env)


def test_zbctl_signs_in_with_its_environment_and_works_over_tls(zbctl: Path, dev: SecuredDev, tmp_path: Path) -> None:
    status = run_zbctl(zbctl, dev, tmp_path, "status")
    assert status.returncode == 0, status.stderr
    assert "Partition 1 : Leader, Healthy" in status.stdout
    deployed = run_zbctl(zbctl, dev, tmp_path, "deploy", str(FIXTURES / "waiting_task.bpmn"))
    assert deployed.returncode == 0, deployed.stderr
    created = run_zbctl(zbctl, dev, tmp_path, "create", "instance", "waiting-task")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["processInstanceKey"]
    cancelled = run_zbctl(zbctl, dev, tmp_path, "cancel", "instance", str(key))
    assert cancelled.returncode == 0, cancelled.stderr


def test_zbctl_flags_work_as_well_as_its_environment(zbctl: Path, dev: SecuredDev, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZEEBE_", "CAMUNDA_"))}
    env.update({"HOME": str(tmp_path), "SSL_CERT_FILE": str(dev.ca.path)})
    result = subprocess.run(
        [str(zbctl), "status", "--address", dev.address, "--certPath", str(dev.ca.path),
         "--clientId", "zbctl-user", "--clientSecret", CLIENTS["zbctl-user"]["secret"],
         "--authzUrl", dev.token_url, "--audience", AUDIENCE],
        capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr


def test_zbctl_with_a_wrong_secret_is_refused(zbctl: Path, dev: SecuredDev, tmp_path: Path) -> None:
    result = run_zbctl(zbctl, dev, tmp_path, "status", secret="wrong-secret")
    assert result.returncode != 0
    assert "wrong-secret" not in "".join(dev.server.output)


def test_zbctl_without_credentials_is_unauthenticated(zbctl: Path, dev: SecuredDev, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZEEBE_", "CAMUNDA_"))}
    env["HOME"] = str(tmp_path)
    result = subprocess.run([str(zbctl), "status", "--address", dev.address, "--certPath", str(dev.ca.path)],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode != 0
    assert "Unauthenticated" in result.stderr or "UNAUTHENTICATED" in result.stderr, result.stderr
