"""The gateway's overload rate: all callers together may start new work only as fast as keeps
broker commands, as the gateway sees them, under the latency target (gateway/config.py
overload_*, the AIMD of gateway/tenant_rates.py with one "tenant").

Time is passed in, so each test is a script of arrivals and latencies at given instants.
"""

from __future__ import annotations

import grpc
import pytest
from propolis.gateway.config import GatewayConfig
from propolis.gateway.errors import GatewayError
from propolis.gateway.tenant_rates import TenantRates

from tests.gateway.test_tenant_rates import interleave


def overload_rates() -> TenantRates:
    return TenantRates(GatewayConfig().overload_rate_settings())


def test_a_broker_that_keeps_up_is_given_everything() -> None:
    counts = interleave(overload_rates(), {"": 400}, 0, 10, lambda per_s: 0.01)
    assert counts[""] == [4_000, 0]


def test_over_what_the_broker_can_take_the_rest_is_refused_and_the_admitted_rate_stays_near_it() -> None:
    # A broker that answers slowly once it is given more than 200/s.
    counts = interleave(overload_rates(), {"": 800}, 0, 20, lambda per_s: 0.5 if per_s > 200 else 0.02)
    admitted, refused = counts[""]
    assert refused > 0
    assert 100 * 20 <= admitted <= 300 * 20, counts


def test_a_slow_broker_at_light_load_never_makes_the_gateway_refuse() -> None:
    # Other processes make every command slow; the load is under the minimum rate.
    counts = interleave(overload_rates(), {"": 45}, 0, 20, lambda per_s: 1.0)
    assert counts[""][1] == 0


def test_the_refusal_says_the_gateway_is_over_its_rate_and_why() -> None:
    rates = overload_rates()
    interleave(rates, {"": 800}, 0, 5, lambda per_s: 0.5)
    with pytest.raises(GatewayError) as refused:
        for i in range(1_000):
            rates.admit("CreateProcessInstance", ("",), 5 + i * 0.0001)  # interleave's caller
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "new work requests/s while broker commands take over 100 ms" in str(refused.value)


def test_job_completions_and_long_polls_are_never_refused() -> None:
    rates = overload_rates()
    interleave(rates, {"": 800}, 0, 5, lambda per_s: 0.5)
    for i in range(1_000):
        for rpc in ("CompleteJob", "FailJob", "ThrowError", "ActivateJobs", "StreamActivatedJobs"):
            rates.admit(rpc, (), 5 + i * 0.0001)


def test_a_target_of_zero_turns_it_off_and_the_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from propolis.clients.dev_server import gateway_env

    monkeypatch.setenv("PROPOLIS_GATEWAY_OVERLOAD_LATENCY_TARGET_MS", "0")
    assert GatewayConfig(**gateway_env()).overload_latency_target_ms == 0
    settings = GatewayConfig(overload_latency_target_ms=250, overload_rate_min_per_s=30).overload_rate_settings()
    assert (settings.latency_target_ms, settings.tenant_rate_min_per_s, settings.active_tenants_min) == (250, 30, 1)
