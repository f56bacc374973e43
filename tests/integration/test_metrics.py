"""`propolis dev`'s one /metrics: the gateway's calls by RPC and status code next to the
broker's partition metrics (command latency), and each configured exporter's progress."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from propolis.gateway.protocol import GatewayStub, pb

from tests.broker import models
from tests.broker.test_monitoring import get, metric
from tests.support.cli import wait_until
from tests.support.dev_server import DevServer
from tests.support.running import stop_cleanly


def sample(text: str, line_start: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(line.rsplit(" ", 1)[1])


def test_gateway_calls_and_exporter_progress_are_on_the_metrics_page(tmp_path: Path) -> None:
    config = tmp_path / "propolis.yaml"
    records = tmp_path / "records.jsonl"
    config.write_text(
        "exporters:\n  records-file:\n    className: propolis.exporters.jsonl.JsonLinesExporter\n"
        f"    args: {{path: {records}, flushIntervalMs: 10}}\n"
    )
    server = DevServer(tmp_path / "data", env={"PROPOLIS_CONFIG": str(config)})
    server.start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = GatewayStub(channel)
            stub.DeployResource(pb.DeployResourceRequest(resources=[pb.Resource(name="one.bpmn", content=models.one_task("m", "m-work"))]), timeout=10)
            for _ in range(2):
                stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="m", version=-1), timeout=10)
            with pytest.raises(grpc.RpcError) as refused:
                stub.CompleteJob(pb.CompleteJobRequest(jobKey=123), timeout=10)
            assert refused.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.RpcError):
                stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="nope", version=-1), timeout=10)

        last = int(metric(get(server.monitoring_port, "/metrics")[1], "propolis_log_last_position"))
        wait_until(lambda: records.exists() and len(records.read_text().splitlines()) == last)

        def exporter_caught_up() -> str | None:
            text = get(server.monitoring_port, "/metrics")[1]
            return text if metric(text, "propolis_exporter_lag_records") == 0 else None

        text = wait_until(exporter_caught_up)
        assert sample(text, 'propolis_gateway_requests_total{code="OK",rpc="DeployResource"}') == 1
        assert sample(text, 'propolis_gateway_requests_total{code="OK",rpc="CreateProcessInstance"}') == 2
        assert sample(text, 'propolis_gateway_requests_total{code="NOT_FOUND",rpc="CompleteJob"}') == 1
        assert sample(text, 'propolis_gateway_requests_total{code="NOT_FOUND",rpc="CreateProcessInstance"}') == 1
        assert sample(text, 'propolis_gateway_request_seconds_count{rpc="CreateProcessInstance"}') == 3
        assert sample(text, "propolis_gateway_requests_in_flight ") == 0
        # Five client commands (two of them rejected), none scheduled by the broker itself.
        assert sample(text, 'propolis_command_latency_seconds_count{partition="1"}') == 5
        labels = '{exporter="records-file",partition="1"}'
        assert sample(text, f"propolis_exporter_exported_records_total{labels}") == last
        assert sample(text, f"propolis_exporter_acknowledged_position{labels}") == last
        assert json.loads(records.read_text().splitlines()[-1])["position"] == last
    finally:
        stop_cleanly(server)
