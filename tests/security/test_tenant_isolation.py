"""The isolation matrix: tenant B's identity against tenant A's deployments, instances, jobs,
messages, signals, incidents and variables, through every RPC and every console endpoint, on a
real `propolis dev` with TLS and auth. Each attempt is refused (PERMISSION_DENIED when B names
tenant A) or finds nothing (NOT_FOUND for A's keys, as if they did not exist); each is followed
by tenant A doing the same successfully, so a refusal is never just a bad key."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import grpc
import pytest
from propolis.clients.client import PropolisClient
from propolis.clients.errors import GatewayError
from propolis.gateway.protocol import GatewayStub, pb

from tests.support.cli import wait_until
from tests.support.secured import SecuredDev, client_spec, secured_propolis_dev

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli"
SIGNAL_WAIT = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="wait-for-signal" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:intermediateCatchEvent id="go"><bpmn:signalEventDefinition signalRef="go-signal" /></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="go" />
    <bpmn:sequenceFlow id="f2" sourceRef="go" targetRef="end" />
  </bpmn:process>
  <bpmn:signal id="go-signal" name="go" />
</bpmn:definitions>
"""
A_ONLY = FIXTURES / "one_task.bpmn"  # deployed to tenant A only
CLIENTS = {"team-a": client_spec(["team-a"]), "team-b": client_spec(["team-b"])}


class Scene:
    """What tenant A owns, and clients for both tenants."""

    def __init__(self, dev: SecuredDev) -> None:
        self.dev = dev
        self.a = dev.client("team-a")
        self.b = dev.client("team-b")
        self.a_token = dev.token("team-a")
        self.b_token = dev.token("team-b")
        shared = [FIXTURES / "waiting_task.bpmn", FIXTURES / "message_wait.bpmn", ("signal.bpmn", SIGNAL_WAIT)]
        deployment = self.a.deploy(*shared, A_ONLY, tenant_id="team-a")
        self.a_definitions = {p.process_id: p.key for p in deployment.processes}
        self.b.deploy(*shared, tenant_id="team-b")  # the same process ids, B's own versions
        self.waiting = self.a.create_instance("waiting-task", {"secret": "of A"}, tenant_id="team-a").key
        self.message_wait = self.a.create_instance("wait-for-payment", {"orderId": "o-1"}, tenant_id="team-a").key
        self.signal_wait = self.a.create_instance("wait-for-signal", tenant_id="team-a").key
        # An incident of A: a job failed without retries.
        failing = self.a.create_instance("waiting-task", {"fail": True}, tenant_id="team-a").key
        jobs = self.activate(self.a, ["team-a"], max_jobs=10)
        self.job = next(j for j in jobs if j.process_instance_key == self.waiting).key
        failing_job = next(j for j in jobs if j.process_instance_key == failing).key
        self.a.fail_job(failing_job, retries=0, error_message="no retries left")
        self.failing_instance = failing
        self.incident = wait_until(lambda: self.console_incident(failing), timeout_s=30, interval_s=0.2)

    @staticmethod
    def activate(client: PropolisClient, tenants: list[str], max_jobs: int = 10) -> list[Any]:
        return client.start_activate_jobs("waiting", "matrix", max_jobs, 60_000, -1, (), tenant_ids=tenants).result()

    def stub(self, token: str) -> tuple[GatewayStub, tuple]:
        channel = grpc.secure_channel(self.dev.address, self.dev.channel_credentials())
        return GatewayStub(channel), (("authorization", f"Bearer {token}"),)

    # -- the console as a browser would use it ------------------------------------------------
    def console(self, client_id: str | None) -> Callable[..., tuple[int, Any]]:
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

        def call(method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
            data = json.dumps(body or {}).encode() if method == "POST" else None
            request = urllib.request.Request(self.dev.server.console_url + path, data=data, method=method,
                                             headers={"Content-Type": "application/json"})
            try:
                with opener.open(request, timeout=10) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        if client_id is not None:
            status, body = call("POST", "/api/login", {"clientId": client_id,
                                                       "clientSecret": CLIENTS[client_id]["secret"]})
            assert status == 200, body
        return call

    def console_incident(self, instance_key: int) -> int | None:
        status, body = self.console("team-a")("GET", f"/api/instances/{instance_key}")
        if status != 200 or not body["incidents"]:
            return None
        return body["incidents"][0]["key"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    with secured_propolis_dev(tmp_path_factory.mktemp("isolation"), CLIENTS) as dev:
        yield Scene(dev)


def refused(call: Callable[[], Any], status: str) -> str:
    with pytest.raises(GatewayError) as caught:
        call()
    assert caught.value.status == status, caught.value
    return caught.value.message


def still_waiting(scene: Scene, instance_key: int) -> bool:
    """A's instance is still active: A can still set variables on it."""
    try:
        scene.a.set_variables(instance_key, {"probe": True})
        return True
    except GatewayError as error:
        assert error.status == "NOT_FOUND", error
        return False


# -- RPCs that name a tenant -------------------------------------------------------------------


def test_deploy_resource_to_another_tenant_is_permission_denied(scene: Scene) -> None:
    message = refused(lambda: scene.b.deploy(A_ONLY, tenant_id="team-a"), "PERMISSION_DENIED")
    assert "tenant identifier 'team-a'" in message and "client 'team-b' is not authorized for tenant 'team-a'" in message


def test_deploy_process_without_a_tenant_is_denied_to_a_client_without_the_default_tenant(scene: Scene) -> None:
    stub, metadata = scene.stub(scene.b_token)
    request = pb.DeployProcessRequest(processes=[pb.ProcessRequestObject(name="x.bpmn", definition=A_ONLY.read_bytes())])
    with pytest.raises(grpc.RpcError) as caught:
        stub.DeployProcess(request, metadata=metadata, timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'<default>'" in caught.value.details()


def test_create_instance_of_another_tenants_process(scene: Scene) -> None:
    refused(lambda: scene.b.create_instance("one-task", tenant_id="team-a"), "PERMISSION_DENIED")
    message = refused(lambda: scene.b.create_instance("one-task", tenant_id="team-b"), "NOT_FOUND")
    assert "one-task" in message
    stub, metadata = scene.stub(scene.b_token)
    by_key = pb.CreateProcessInstanceRequest(processDefinitionKey=scene.a_definitions["one-task"], tenantId="team-b")
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateProcessInstance(by_key, metadata=metadata, timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    # A process id resolves within the tenant: B's own version of a shared id is B's.
    own = scene.b.create_instance("waiting-task", tenant_id="team-b")
    assert own.tenant_id == "team-b" and own.process_definition_key != scene.a_definitions["waiting-task"]
    scene.b.cancel_instance(own.key)
    assert scene.a.create_instance("one-task", tenant_id="team-a").tenant_id == "team-a"


def test_create_instance_with_result_of_another_tenants_process(scene: Scene) -> None:
    refused(lambda: scene.b.create_instance_with_result("one-task", tenant_id="team-a"), "PERMISSION_DENIED")
    refused(lambda: scene.b.create_instance_with_result("one-task", tenant_id="team-b"), "NOT_FOUND")


def test_publish_message_reaches_only_its_own_tenant(scene: Scene) -> None:
    refused(lambda: scene.b.publish_message("payment-received", "o-1", tenant_id="team-a"), "PERMISSION_DENIED")
    scene.b.publish_message("payment-received", "o-1", {"stolen": True}, tenant_id="team-b")
    assert still_waiting(scene, scene.message_wait)
    scene.a.publish_message("payment-received", "o-1", tenant_id="team-a")
    assert wait_until(lambda: not still_waiting(scene, scene.message_wait), timeout_s=20, interval_s=0.1)


def test_broadcast_signal_reaches_only_its_own_tenant(scene: Scene) -> None:
    refused(lambda: scene.b.broadcast_signal("go", tenant_id="team-a"), "PERMISSION_DENIED")
    scene.b.broadcast_signal("go", tenant_id="team-b")
    assert still_waiting(scene, scene.signal_wait)
    scene.a.broadcast_signal("go", tenant_id="team-a")
    assert wait_until(lambda: not still_waiting(scene, scene.signal_wait), timeout_s=20, interval_s=0.1)


def test_activate_jobs_only_of_the_tenants_asked_for_and_allowed(scene: Scene) -> None:
    message = refused(lambda: scene.activate(scene.b, ["team-a"]), "PERMISSION_DENIED")
    assert "not authorized for tenant 'team-a'" in message
    refused(lambda: scene.activate(scene.b, ["team-b", "team-a"]), "PERMISSION_DENIED")
    own = scene.b.create_instance("waiting-task", {"mine": True}, tenant_id="team-b").key
    jobs = scene.activate(scene.b, ["team-b"], max_jobs=100)
    assert jobs and {j.tenant_id for j in jobs} == {"team-b"}
    assert {j.process_instance_key for j in jobs} == {own}
    assert all("secret" not in j.variables for j in jobs)
    for job in jobs:
        scene.b.complete_job(job.key)


def test_stream_activated_jobs_of_another_tenant_is_permission_denied(scene: Scene) -> None:
    stub, metadata = scene.stub(scene.b_token)
    request = pb.StreamActivatedJobsRequest(type="waiting", worker="w", timeout=10_000, tenantIds=["team-a"])
    with pytest.raises(grpc.RpcError) as caught:
        next(iter(stub.StreamActivatedJobs(request, metadata=metadata, timeout=5)))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


# -- RPCs on another tenant's keys: NOT_FOUND, as if the key did not exist -------------------------


def test_job_commands_on_another_tenants_job_are_not_found(scene: Scene) -> None:
    job = scene.job
    stub, metadata = scene.stub(scene.b_token)
    attempts: dict[str, Callable[[], Any]] = {
        "CompleteJob": lambda: scene.b.complete_job(job, {"stolen": True}),
        "FailJob": lambda: scene.b.fail_job(job, retries=0, error_message="x"),
        "ThrowError": lambda: scene.b.throw_error(job, "E1"),
        "UpdateJobRetries": lambda: scene.b.update_job_retries(job, 3),
    }
    for rpc, attempt in attempts.items():
        message = refused(attempt, "NOT_FOUND")
        assert str(job) in message, rpc
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateJobTimeout(pb.UpdateJobTimeoutRequest(jobKey=job, timeout=1), metadata=metadata, timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    scene.a.update_job_retries(job, 5)
    scene.a.complete_job(job, {"done": True})


def test_commands_on_another_tenants_instance_are_not_found(scene: Scene) -> None:
    instance = scene.a.create_instance("waiting-task", tenant_id="team-a").key
    refused(lambda: scene.b.set_variables(instance, {"stolen": True}), "NOT_FOUND")
    refused(lambda: scene.b.modify_instance(instance, terminate=[instance + 1]), "NOT_FOUND")
    refused(lambda: scene.b.cancel_instance(instance), "NOT_FOUND")
    scene.a.set_variables(instance, {"mine": True})
    scene.a.cancel_instance(instance)


def test_resolve_another_tenants_incident_is_not_found(scene: Scene) -> None:
    refused(lambda: scene.b.resolve_incident(scene.incident), "NOT_FOUND")


def test_delete_another_tenants_resource_is_not_found(scene: Scene) -> None:
    key = scene.a.deploy(("deletable.bpmn", SIGNAL_WAIT.replace(b"wait-for-signal", b"deletable")),
                         tenant_id="team-a").processes[0].key
    refused(lambda: scene.b.delete_resource(key), "NOT_FOUND")
    scene.a.delete_resource(key)


def test_topology_shows_no_tenant_data(scene: Scene) -> None:
    assert scene.b.topology().partitions_count == 1


# -- the console ----------------------------------------------------------------------------------


CONSOLE_READS = ["/api/processes", "/api/instances", "/api/changes", "/api/processes/{definition}",
                 "/api/instances/{instance}", "/api/instances/{instance}/timeline"]


def test_the_console_needs_a_sign_in_for_every_endpoint(scene: Scene) -> None:
    anonymous = scene.console(None)
    paths = [p.format(definition=1, instance=1) for p in CONSOLE_READS]
    for path in paths:
        status, body = anonymous("GET", path)
        assert status == 401, (path, body)
    for path in (f"/api/instances/{scene.waiting}/cancel", f"/api/instances/{scene.waiting}/variables",
                 f"/api/incidents/{scene.incident}/resolve"):
        assert anonymous("POST", path, {"variables": {}})[0] == 401
    assert anonymous("GET", "/api/session")[1]["auth"] is True
    status, body = anonymous("POST", "/api/login", {"clientId": "team-a", "clientSecret": "wrong"})
    assert status == 401


def test_the_console_shows_a_tenant_only_its_own(scene: Scene) -> None:
    a, b = scene.console("team-a"), scene.console("team-b")
    assert b("GET", "/api/session")[1] == {"auth": True, "user": "team-b", "tenants": ["team-b"]}
    a_processes = a("GET", "/api/processes")[1]["items"]
    assert {p["tenant_id"] for p in a_processes} == {"team-a"}
    b_processes = b("GET", "/api/processes")[1]["items"]
    assert {p["tenant_id"] for p in b_processes} == {"team-b"}
    for path in ("/api/instances", "/api/instances?tenant=team-a", "/api/instances?process=waiting-task"):
        items = b("GET", path)[1]["items"]
        assert all(i["tenant_id"] == "team-b" for i in items), path
    assert any(i["key"] == scene.waiting for i in a("GET", "/api/instances")[1]["items"])
    values = {"definition": scene.a_definitions["waiting-task"], "instance": scene.waiting}
    for template in CONSOLE_READS[3:]:
        path = template.format(**values)
        assert b("GET", path)[0] == 404, path
        assert a("GET", path)[0] == 200, path


def test_console_actions_on_another_tenants_keys_are_not_found(scene: Scene) -> None:
    b = scene.console("team-b")
    instance = scene.failing_instance
    assert b("POST", f"/api/instances/{instance}/variables", {"variables": {"x": 1}})[0] == 404
    assert b("POST", f"/api/incidents/{scene.incident}/resolve", {})[0] == 404
    assert b("POST", f"/api/instances/{instance}/cancel")[0] == 404
    a = scene.console("team-a")
    status, body = a("POST", f"/api/instances/{instance}/variables", {"variables": {"x": 1}})
    assert status == 200, body
    status, body = a("POST", f"/api/instances/{instance}/cancel")
    assert status == 200, body
