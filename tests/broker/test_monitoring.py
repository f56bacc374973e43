"""/health, /ready and /metrics of a running `propolis dev`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
from propolis.gateway.protocol import GatewayStub, pb

from tests.broker import models
from tests.support.dev_server import DevServer


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric(text: str, name: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{") or line.startswith(name + " ")]
    return sum(values)


def test_health_ready_and_metrics_follow_what_the_broker_does(tmp_path):
    server = DevServer(tmp_path / "data")
    server.start()
    try:
        status, body = get(server.monitoring_port, "/health")
        assert status == 200 and json.loads(body) == {"status": "UP", "partitions": {"1": "HEALTHY"}}
        assert get(server.monitoring_port, "/ready")[0] == 200
        assert get(server.monitoring_port, "/nope")[0] == 404

        with grpc.insecure_channel(server.address) as channel:
            stub = GatewayStub(channel)
            stub.DeployResource(pb.DeployResourceRequest(resources=[pb.Resource(name="one.bpmn", content=models.one_task("mon", "mon-work"))]), timeout=10)
            for _ in range(3):
                stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="mon", version=-1), timeout=10)
            request = pb.ActivateJobsRequest(type="mon-work", worker="m", timeout=60_000, maxJobsToActivate=10, requestTimeout=-1)
            jobs = [job for response in stub.ActivateJobs(request, timeout=10) for job in response.jobs]
            stub.CompleteJob(pb.CompleteJobRequest(jobKey=jobs[0].key), timeout=10)
            stub.FailJob(pb.FailJobRequest(jobKey=jobs[1].key, retries=0, errorMessage="boom"), timeout=10)

        status, text = get(server.monitoring_port, "/metrics")
        assert status == 200
        assert metric(text, "propolis_jobs_activated_total") == 3
        assert 'propolis_jobs_total{event="completed",partition="1"} 1.0' in text
        assert 'propolis_jobs_total{event="failed",partition="1"} 1.0' in text
        assert metric(text, "propolis_open_incidents") == 1
        assert metric(text, "propolis_commands_processed_total") >= 7
        assert metric(text, "propolis_log_size_bytes") > 0
    finally:
        assert server.stop() == 0
