"""A tenant's share of the rate at which the gateway lets new work in (gateway/tenant_rates.py).

Time is passed in, so each test is a script of arrivals and latencies at given instants.
"""

from __future__ import annotations

import grpc
import pytest
from propolis.gateway.config import GatewayConfig
from propolis.gateway.errors import GatewayError
from propolis.gateway.tenant_rates import RateSettings, TenantRates

SETTINGS = RateSettings(latency_target_ms=10, tenant_rate_min_per_s=20, adjust_interval_ms=100,
                        increase_per_s=10, backoff_ratio=0.8, burst_ms=100, active_window_ms=1_000)


def offer(rates: TenantRates, tenant: str, per_s: float, from_s: float, to_s: float,
          latency_s: float | None = None) -> tuple[int, int]:
    """`tenant` sends CreateProcessInstance at `per_s` from `from_s` until `to_s`; each admitted
    one is answered after `latency_s` (reported at once, as the test's clock does not move).
    Returns (admitted, refused)."""
    admitted = refused = 0
    step = 1.0 / per_s
    at = from_s
    while at < to_s:
        try:
            rates.admit("CreateProcessInstance", (tenant,), at)
        except GatewayError as error:
            assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            refused += 1
        else:
            admitted += 1
            if latency_s is not None:
                rates.observe(latency_s, at)
        at += step
    return admitted, refused


def interleave(rates: TenantRates, loads: dict[str, float], from_s: float, to_s: float,
               latency_of: object, queued: bool = False) -> dict[str, list[int]]:
    """Several tenants at their rates, merged in time order; `latency_of(admitted_per_s)` gives
    the latency the broker answers with, from the rate admitted over the last 200 ms (a broker
    that slows down when it is given more); `queued`: the gateway had many commands in flight."""
    events = sorted((from_s + i / per_s, tenant) for tenant, per_s in loads.items()
                    for i in range(int((to_s - from_s) * per_s)))
    counts = {tenant: [0, 0] for tenant in loads}
    recent: list[float] = []
    for at, tenant in events:
        try:
            rates.admit("CreateProcessInstance", (tenant,), at)
        except GatewayError:
            counts[tenant][1] += 1
            continue
        counts[tenant][0] += 1
        recent.append(at)
        recent = [t for t in recent if t > at - 0.2]
        rates.observe(latency_of(len(recent) * 5), at, queued)  # type: ignore[operator]
    return counts


def test_a_tenant_alone_is_never_limited_however_slow_the_broker() -> None:
    rates = TenantRates(SETTINGS)
    assert offer(rates, "a", per_s=1_000, from_s=0, to_s=5, latency_s=1.0) == (5_000, 0)
    assert rates.limit_per_s is None


def test_a_light_tenant_gets_everything_it_asks_while_a_flood_is_held_to_what_the_broker_can_take() -> None:
    rates = TenantRates(SETTINGS)
    # The broker answers within the target while it is given at most 150 requests/s.
    counts = interleave(rates, {"light": 40, "flood": 400}, 0, 20, lambda last_s: 0.02 if last_s > 150 else 0.005)
    light_admitted, light_refused = counts["light"]
    flood_admitted, flood_refused = counts["flood"]
    assert light_refused == 0 and light_admitted == 800
    assert flood_refused > 4_000
    # Over the run the flood got less than the broker's 150/s less the light tenant's 40/s.
    assert 20 * 60 < flood_admitted < 20 * 130
    assert rates.limit_per_s is not None and 100 < rates.limit_per_s < 200


def test_the_refusal_names_the_tenant_and_its_share() -> None:
    rates = TenantRates(SETTINGS)
    offer(rates, "light", per_s=10, from_s=0, to_s=0.5)
    at = 0.5
    with pytest.raises(GatewayError) as caught:
        while at < 1.0:
            rates.admit("CreateProcessInstance", ("flood",), at)
            rates.observe(1.0, at)
            at += 0.001
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "tenant 'flood' is over its share of" in caught.value.message
    assert "requests/s while 2 tenants are busy; retry later" in caught.value.message


def test_the_limit_shrinks_while_the_broker_is_slow_and_grows_back_while_it_is_quick() -> None:
    rates = TenantRates(SETTINGS)
    interleave(rates, {"light": 10, "flood": 500}, 0, 3, lambda last_s: 0.05)  # always slow
    slow_limit = rates.limit_per_s
    assert slow_limit == 2 * SETTINGS.tenant_rate_min_per_s  # down to its floor
    interleave(rates, {"light": 10, "flood": 500}, 3, 6, lambda last_s: 0.001)  # always quick
    assert rates.limit_per_s is not None and rates.limit_per_s > slow_limit + 200


def test_a_tenant_is_never_held_below_its_minimum() -> None:
    rates = TenantRates(SETTINGS)
    counts = interleave(rates, {"light": 15, "flood": 500}, 0, 10, lambda last_s: 0.5)
    assert counts["light"] == [150, 0]
    assert counts["flood"][0] >= 10 * SETTINGS.tenant_rate_min_per_s * 0.9


def test_the_broker_shedding_load_shrinks_the_limit_like_a_slow_answer() -> None:
    rates = TenantRates(SETTINGS)
    interleave(rates, {"light": 10, "flood": 500}, 0, 1, lambda last_s: 0.001)
    before = rates.limit_per_s
    assert before is not None
    rates.observe_overloaded(1.2)
    rates.observe(0.001, 1.31)  # the next interval's end applies it
    assert rates.limit_per_s is not None and rates.limit_per_s < before


def test_when_the_other_tenant_goes_quiet_the_flood_is_alone_and_unlimited_again() -> None:
    rates = TenantRates(SETTINGS)
    interleave(rates, {"light": 10, "flood": 500}, 0, 3, lambda last_s: 0.05)
    assert rates.limit_per_s is not None
    assert offer(rates, "flood", per_s=400, from_s=4.5, to_s=6, latency_s=0.05) == (600, 0)
    assert rates.limit_per_s is None


def test_long_polls_and_finishing_work_are_never_refused() -> None:
    rates = TenantRates(SETTINGS)
    interleave(rates, {"light": 10, "flood": 500}, 0, 3, lambda last_s: 0.05)
    for rpc in ("ActivateJobs", "StreamActivatedJobs", "CompleteJob", "FailJob", "ThrowError", "Topology"):
        for i in range(1_000):
            rates.admit(rpc, ("flood",), 3 + i / 1_000_000)


def test_the_settings_come_from_the_gateway_config_with_their_units() -> None:
    config = GatewayConfig(tenant_rate_latency_target_ms=25, tenant_rate_min_per_s=7)
    settings = config.tenant_rate_settings()
    assert (settings.latency_target_ms, settings.tenant_rate_min_per_s) == (25, 7)
    assert GatewayConfig().tenant_rate_fairness is True
    with pytest.raises(ValueError, match="backoff_ratio"):
        TenantRates(RateSettings(backoff_ratio=1.0))


def test_the_settings_can_be_given_as_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from propolis.clients.dev_server import gateway_env

    monkeypatch.setenv("PROPOLIS_GATEWAY_TENANT_RATE_FAIRNESS", "false")
    monkeypatch.setenv("PROPOLIS_GATEWAY_TENANT_RATE_LATENCY_TARGET_MS", "25")
    assert gateway_env() == {"tenant_rate_fairness": False, "tenant_rate_latency_target_ms": 25}
    monkeypatch.setenv("PROPOLIS_GATEWAY_TENANT_RATE_FAIRNESS", "maybe")
    with pytest.raises(ValueError, match="PROPOLIS_GATEWAY_TENANT_RATE_FAIRNESS: expected true or false"):
        gateway_env()


def flood_after_quiet(config: GatewayConfig) -> tuple[TenantRates, dict[str, list[int]]]:
    """The light tenant alone for 5 s on a broker answering in 2 ms, then a 10x flood for 10 s
    on a broker answering in 5 ms once it is given more than 150 requests/s: slower than it was
    quiet, but well under the fixed 10 ms target."""
    rates = TenantRates(config.tenant_rate_settings())
    interleave(rates, {"light": 40}, 0, 5, lambda per_s: 0.002)
    counts = interleave(rates, {"light": 40, "flood": 400}, 5, 15, lambda per_s: 0.005 if per_s > 150 else 0.002)
    return rates, counts


def test_a_flood_is_held_to_what_keeps_the_broker_near_its_quiet_latency() -> None:
    rates, counts = flood_after_quiet(GatewayConfig())
    assert rates.latency_target_ms == pytest.approx(3.0)  # 150 % of the 2 ms it answered in alone
    assert counts["light"] == [400, 0]
    admitted, refused = counts["flood"]
    assert refused > 2_000
    assert admitted < 10 * 150  # about what keeps the broker quick, less the light tenant's


def test_with_the_baseline_percent_off_only_the_fixed_target_counts() -> None:
    rates, counts = flood_after_quiet(GatewayConfig(tenant_rate_baseline_percent=0))
    assert rates.latency_target_ms == pytest.approx(10.0)
    assert counts == {"light": [400, 0], "flood": [4_000, 0]}


def test_a_gateway_that_never_saw_the_broker_quiet_uses_the_fixed_target() -> None:
    rates = TenantRates(GatewayConfig().tenant_rate_settings())
    interleave(rates, {"light": 40, "flood": 400}, 0, 10, lambda per_s: 0.005, queued=True)
    assert rates.latency_target_ms == pytest.approx(10.0)
