"""The gateway's own metrics, for a gateway serving alone (here over the fake broker): calls by
RPC and status code, served from its own registry on its own /metrics port."""

from __future__ import annotations

import urllib.request

import grpc
import pytest
from prometheus_client import start_http_server
from propolis.gateway.protocol import pb

from tests.gateway.fake_broker import BrokerOverloadedError


def test_calls_are_counted_by_rpc_and_code_and_served_on_the_gateways_own_port(fake_broker, gateway, gateway_stub):
    gateway_stub.Topology(pb.TopologyRequest(), timeout=10)
    fake_broker.failure = BrokerOverloadedError("partition 1 has 9 commands waiting (limit 8); retry later")
    with pytest.raises(grpc.RpcError) as shed:
        gateway_stub.CreateProcessInstance(pb.CreateProcessInstanceRequest(bpmnProcessId="p", version=-1), timeout=10)
    assert shed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as unsupported:
        gateway_stub.EvaluateDecision(pb.EvaluateDecisionRequest(decisionId="d"), timeout=10)
    assert unsupported.value.code() == grpc.StatusCode.UNIMPLEMENTED

    registry = gateway.server.metrics.registry
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert 'propolis_gateway_requests_total{code="OK",rpc="Topology"} 1.0' in text
    assert 'propolis_gateway_requests_total{code="RESOURCE_EXHAUSTED",rpc="CreateProcessInstance"} 1.0' in text
    assert 'propolis_gateway_requests_total{code="UNIMPLEMENTED",rpc="EvaluateDecision"} 1.0' in text
    assert 'propolis_gateway_request_seconds_count{rpc="Topology"} 1.0' in text
    assert "propolis_records_processed" not in text, "a gateway alone has no broker metrics"
