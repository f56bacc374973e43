"""Prometheus metrics of the gateway: calls by RPC and status code, their duration, calls in
flight.

They register in whatever `CollectorRegistry` they are given: `propolis dev` passes the
broker's, so one `/metrics` serves both; a gateway running alone can serve its own registry
on its monitoring port (clients/cluster_nodes.py).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "propolis_gateway_requests", "gRPC calls answered, by RPC and status code (RESOURCE_EXHAUSTED: shed by backpressure)",
            ["rpc", "code"], registry=self.registry,
        )
        self.request_latency = Histogram(
            "propolis_gateway_request_seconds",
            "Time from a call's arrival to its answer (for long polls and job streams: how long they stayed open)",
            ["rpc"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.tenant_rate_limit = Gauge(
            "propolis_gateway_tenant_rate_limit_per_second",
            "New work per second shared by the tenants while several are active (gateway/tenant_rates.py): "
            "0 while at most one is, +Inf while several are and none had to be limited yet",
            registry=self.registry,
        )
        self.overload_rate_limit = Gauge(
            "propolis_gateway_overload_rate_limit_per_second",
            "New work per second this gateway admits (gateway/config.py overload_latency_target_ms): "
            "+Inf until broker commands first took longer than the target, 0 while idle",
            registry=self.registry,
        )
        self.tenant_rate_latency_target = Gauge(
            "propolis_gateway_tenant_rate_latency_target_seconds",
            "Mean broker command latency over which the tenants' shared rate shrinks: a multiple of the "
            "broker's quiet latency once the gateway has seen it (config tenant_rate_baseline_percent)",
            registry=self.registry,
        )
        self.overload_latency_target = Gauge(
            "propolis_gateway_overload_latency_target_seconds",
            "Mean broker command latency over which the overload rate shrinks: overload_baseline_percent of the "
            "broker's quiet latency once the gateway has seen it, overload_latency_target_ms before; at least "
            "overload_latency_target_min_ms",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "propolis_gateway_requests_in_flight", "gRPC calls being handled (long polls and job streams included)",
            registry=self.registry,
        )
