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
    counts = interleave(overload_rates(), {"": 800}, 0, 20, lambda per_s: 0.5 if per_s > 200 else 0.01, queued=True)
    admitted, refused = counts[""]
    assert refused > 0
    assert 100 * 20 <= admitted <= 300 * 20, counts


def test_a_slow_broker_at_light_load_never_makes_the_gateway_refuse() -> None:
    # Other processes make every command slow; the load is under the minimum rate.
    counts = interleave(overload_rates(), {"": 45}, 0, 20, lambda per_s: 1.0)
    assert counts[""][1] == 0


def test_the_refusal_says_the_gateway_is_over_its_rate_and_why() -> None:
    rates = overload_rates()
    interleave(rates, {"": 800}, 0, 5, lambda per_s: 0.5, queued=True)
    with pytest.raises(GatewayError) as refused:
        for i in range(1_000):
            rates.admit("CreateProcessInstance", ("",), 5 + i * 0.0001)  # interleave's caller
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "new work requests/s while broker commands take over 20 ms" in str(refused.value)


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


def baseline_rates(target_ms: int = 15, multiple: int = 3) -> TenantRates:
    """With the baseline percent off: the fixed target, raised by `multiple` x the baseline."""
    config = GatewayConfig(overload_latency_target_ms=target_ms, rate_baseline_multiple=multiple, overload_baseline_percent=0)
    return TenantRates(config.overload_rate_settings())


def test_a_broker_slow_even_when_quiet_is_judged_against_its_own_quiet_latency() -> None:
    # Replication makes every command take 30 ms, twice the fixed target: a load it carries
    # (150/s, answered at 40 ms) is not refused, since the target is 3x its quiet latency.
    rates = baseline_rates()
    interleave(rates, {"": 40}, 0, 5, lambda per_s: 0.03)
    assert rates.latency_target_ms == pytest.approx(90)
    counts = interleave(rates, {"": 150}, 5, 15, lambda per_s: 0.04, queued=True)
    assert counts[""] == [1_500, 0]
    # Without the baseline the same broker is held near the minimum rate.
    fixed = baseline_rates(multiple=0)
    interleave(fixed, {"": 40}, 0, 5, lambda per_s: 0.03)
    assert interleave(fixed, {"": 150}, 5, 15, lambda per_s: 0.04, queued=True)[""][1] > 500


def test_a_long_overload_does_not_raise_the_baseline_to_the_latency_it_causes() -> None:
    rates = baseline_rates()
    interleave(rates, {"": 40}, 0, 5, lambda per_s: 0.004)  # quiet: 4 ms
    assert rates.latency_target_ms == 15  # 3 x 4 ms is under the fixed target
    # Two minutes of 800/s on a broker that answers slowly beyond 200/s.
    counts = interleave(rates, {"": 800}, 5, 125, lambda per_s: 0.5 if per_s > 200 else 0.012, queued=True)
    assert rates.latency_target_ms == 15
    admitted, refused = counts[""]
    assert refused > 0 and admitted <= 220 * 120, counts


def test_the_baseline_follows_a_broker_that_became_quicker() -> None:
    rates = baseline_rates(target_ms=5)
    interleave(rates, {"": 40}, 0, 5, lambda per_s: 0.01)
    assert rates.latency_target_ms == pytest.approx(30)
    interleave(rates, {"": 40}, 5, 10, lambda per_s: 0.003)
    assert rates.latency_target_ms == pytest.approx(9)


def test_a_quick_broker_is_judged_against_its_own_quiet_latency_too() -> None:
    # Quiet, this broker answers in 1.5 ms; given more than 300/s it answers in 10 ms: under the
    # fixed 20 ms, but over 500 % of its quiet latency, so the rest is refused.
    rates = overload_rates()
    interleave(rates, {"": 40}, 0, 5, lambda per_s: 0.0015)
    assert rates.latency_target_ms == pytest.approx(7.5)
    admitted, refused = interleave(rates, {"": 800}, 5, 15, lambda per_s: 0.01 if per_s > 300 else 0.0015, queued=True)[""]
    assert refused > 3_000 and admitted < 10 * 360, (admitted, refused)  # about the 300/s it carries quickly
    with_fixed_target = TenantRates(GatewayConfig(overload_baseline_percent=0).overload_rate_settings())
    interleave(with_fixed_target, {"": 40}, 0, 5, lambda per_s: 0.0015)
    assert with_fixed_target.latency_target_ms == 20
    assert interleave(with_fixed_target, {"": 800}, 5, 15, lambda per_s: 0.01 if per_s > 300 else 0.0015,
                      queued=True)[""] == [8_000, 0]


def test_until_it_has_seen_the_broker_quiet_the_overload_target_is_the_fixed_one() -> None:
    rates = overload_rates()
    interleave(rates, {"": 800}, 0, 5, lambda per_s: 0.01, queued=True)
    assert rates.latency_target_ms == 20


def test_the_overload_target_never_falls_below_its_minimum() -> None:
    # In one process the broker answers in 0.4 ms when quiet: 500 % of that is 2 ms, where a
    # mean latency moves with scheduling noise; the target stays at the 5 ms minimum, and a
    # load answered in 3 ms is not refused.
    rates = overload_rates()
    interleave(rates, {"": 40}, 0, 5, lambda per_s: 0.0004)
    assert rates.latency_target_ms == 5
    assert interleave(rates, {"": 300}, 5, 15, lambda per_s: 0.003, queued=True)[""] == [3_000, 0]
