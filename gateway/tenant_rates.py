"""Per-tenant admission by rate: while several tenants send work, each may start new work at
most at its share of a rate that keeps the broker responsive, so a flooding tenant is refused
here (RESOURCE_EXHAUSTED) before its commands queue up in front of everyone's.

Why a rate and not only a share of requests in flight (tenant_shares.py): a tenant that never
holds more than its share in flight can still keep the partition saturated, and then every
command, the other tenants' too, waits behind full batches and for the GIL that the partition
thread holds. Keeping the admitted rate below what the broker can do without queueing is what
keeps the light tenant's latency close to what it is alone.

How the rate is found (AIMD on latency, like the partition's in-flight limit in
broker/backpressure.py, but for starting new work at this gateway):
- The gateway reports how long each broker command took, as it sees it (`observe`), and when
  the broker shed one (`observe_overloaded`). When a second tenant becomes active nothing is
  limited yet. Every `adjust_interval_ms`: if the mean latency of the interval was over
  `latency_target_ms` or the broker shed a command, the limit becomes `backoff_ratio` times
  the smaller of itself and the rate admitted in that interval; if it was under the target
  while some tenant was held back, it grows by `increase_per_s`. Latencies of commands sent
  before the last decrease are not counted (one decrease per round trip, as in TCP), so that
  the backlog of one slow moment does not drive the limit down over and over.
- The target is `latency_target_ms` until the gateway knows the broker's *baseline*, then
  `baseline_multiple` times the baseline: the lowest mean latency of an interval in the last
  `baseline_window_ms` in which nothing was held back and no command was sent while many were
  in flight (`observe(queued=True)`; at least `baseline_samples_min` commands). Either way it
  is at least `latency_target_min_ms`. Judged against its own quiet latency, a quick broker is
  held near it (what a light tenant notices of a flood is how much slower the broker got) and a
  slow or replicated one is not refused at a load it carries. Busy intervals are not taken:
  under a long overload the baseline keeps what the broker did before it, instead of creeping
  up to the latency the overload causes. `baseline_multiple` 0 turns the baseline off. (A
  fixed target that the baseline may only raise is a minimum equal to it: gateway/config.py.)
- A tenant is *active* while it sent new work within the last `active_window_ms`. With one
  active tenant (or none) everything is admitted: a tenant alone may use all there is, and the
  partition's own backpressure applies as before. With several, each has a token bucket
  refilled at its allowance (holding `burst_ms` of it): the limit less what the others use,
  counting each other tenant at most at its equal share (limit / active tenants). A light
  tenant under its equal share therefore never waits for tokens, and what it leaves unused goes
  to the heavy one. No allowance falls below `tenant_rate_min_per_s` (and the limit not below
  that times the active tenants), so a broker slowed by something else (other processes on its
  cores) does not make the gateway refuse a light tenant.

The same limiter, with `active_tenants_min` 1, is the gateway's overload limit (server.py,
config `overload_*`): then a caller alone is limited too, with a latency target that the
broker meets up to its saturation, so that under overload the surplus of new work is refused
here at once while the work already started stays quick.

Only requests that start new work are counted and refused: long polls and job streams (they
wait, and cost nothing while they do) and the commands that finish work (CompleteJob, FailJob,
ThrowError: refusing them only makes more work) always get in. A tenant is the set of tenants its
caller may use (as in tenant_shares.py). Time is passed in (seconds, monotonic), so that the
logic is a deterministic function of its inputs; the event loop's thread is the only caller.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import grpc
from propolis.gateway.errors import GatewayError, expected
from propolis.gateway.tenant_shares import NOT_COUNTED

from propolis.decaying_rate import DecayingRate


@dataclass(frozen=True, slots=True)
class RateSettings:
    latency_target_ms: float = 10.0
    tenant_rate_min_per_s: float = 50.0
    adjust_interval_ms: float = 200.0
    increase_per_s: float = 10.0
    backoff_ratio: float = 0.8
    burst_ms: float = 1_000.0
    active_window_ms: float = 1_000.0
    # The rate is limited while at least this many tenants are active. 1: a limit on all new
    # work at this gateway (its overload limit, see OVERLOAD below), whoever sends it.
    active_tenants_min: int = 2
    baseline_multiple: float = 0.0
    # The target is never below this: under a few ms a mean latency moves with the event loop's
    # and the scheduler's noise, not with queueing, and a target there refuses load that queues
    # nothing.
    latency_target_min_ms: float = 0.0
    baseline_window_ms: float = 60_000.0
    baseline_samples_min: int = 4


class _Tenant:
    __slots__ = ("admitted", "tokens", "filled_at_s", "seen_at_s")

    def __init__(self, now_s: float, window_s: float) -> None:
        self.admitted = DecayingRate(window_s, now_s)
        self.tokens = math.inf  # a new tenant starts with a full bucket (capped at first use)
        self.filled_at_s = now_s
        self.seen_at_s = now_s


class TenantRates:
    def __init__(self, settings: RateSettings) -> None:
        if not 0 < settings.backoff_ratio < 1:
            raise ValueError(f"expected 0 < backoff_ratio < 1, got {settings.backoff_ratio}")
        if settings.active_tenants_min < 1:
            raise ValueError(f"expected active_tenants_min >= 1, got {settings.active_tenants_min}")
        if settings.adjust_interval_ms <= 0 or settings.active_window_ms <= 0:
            raise ValueError(f"expected positive intervals, got {settings}")
        self.settings = settings
        self._window_s = settings.active_window_ms / 1000
        self._tenants: dict[tuple[str, ...], _Tenant] = {}
        self._limit_per_s: float | None = None  # None: fewer active tenants than the minimum, nothing is limited
        self._next_adjust_s = 0.0
        self._interval_from_s = 0.0
        self._decreased_at_s = -math.inf
        self._admitted = 0  # in this interval, by all tenants
        self._latency_sum_s = 0.0
        self._latency_count = 0
        self._overloaded = False
        self._held_back = False
        self._queued = False
        # (interval end, mean latency in s) of unlimited intervals, means increasing: the first
        # is the lowest within the window (a sliding minimum).
        self._baseline: deque[tuple[float, float]] = deque()

    @property
    def limit_per_s(self) -> float | None:
        """The rate shared by the active tenants, or None while fewer than the minimum are."""
        return self._limit_per_s

    def admit(self, rpc: str, tenants: tuple[str, ...], now_s: float) -> None:
        """Let a request in, or raise RESOURCE_EXHAUSTED when its tenant is over its allowance."""
        if rpc in NOT_COUNTED:
            return
        tenant = self._tenants.get(tenants)
        if tenant is None:
            tenant = self._tenants[tenants] = _Tenant(now_s, self._window_s)
        tenant.seen_at_s = now_s
        active = self._active(now_s)
        if len(active) < self.settings.active_tenants_min:
            self._limit_per_s = None
        else:
            if self._limit_per_s is None:
                # Contention starts, unlimited until the first slow interval: then the limit
                # becomes a fraction of what was admitted in it.
                self._limit_per_s = math.inf
                self._start_interval(now_s)
            elif now_s >= self._next_adjust_s:
                self._adjust(len(active), now_s)
            allowance = self._allowance(tenant, active, now_s)
            if allowance == math.inf:
                tenant.tokens = math.inf
            else:
                depth = max(1.0, allowance * self.settings.burst_ms / 1000)
                tenant.tokens = min(depth, tenant.tokens + allowance * (now_s - tenant.filled_at_s))
            tenant.filled_at_s = now_s
            if tenant.tokens < 1.0:
                self._held_back = True
                if len(active) == 1:
                    reason = (
                        f"the gateway starts at most {allowance:.0f} new work requests/s while "
                        f"broker commands take over {self.latency_target_ms:.0f} ms; retry later"
                    )
                else:
                    reason = (
                        f"tenant {', '.join(repr(t) for t in tenants)} is over its share of "
                        f"{allowance:.0f} requests/s while {len(active)} tenants are busy; retry later"
                    )
                raise GatewayError(grpc.StatusCode.RESOURCE_EXHAUSTED, expected(f"handle gRPC request {rpc}", reason))
            tenant.tokens -= 1.0
        tenant.admitted.count(now_s)
        self._admitted += 1

    def observe(self, latency_s: float, now_s: float, queued: bool = False) -> None:
        """A broker command took `latency_s` from the gateway's call to its answer; `queued`:
        it was sent while many commands were in flight (its latency says nothing of the
        broker's quiet latency, the baseline)."""
        self._queued = self._queued or queued
        if now_s - latency_s >= self._decreased_at_s:
            # Commands sent before the last decrease say nothing about the limit it set: only
            # one decrease per round trip, as TCP does.
            self._latency_sum_s += latency_s
            self._latency_count += 1
        self._maybe_adjust(now_s)

    def observe_overloaded(self, now_s: float) -> None:
        """The broker refused a command because it was over its own limit."""
        self._overloaded = True
        self._maybe_adjust(now_s)

    @property
    def latency_target_ms(self) -> float:
        """The mean latency over which the limit shrinks: the baseline's multiple once there is
        a baseline, the fixed target before; never under the minimum."""
        settings = self.settings
        target = settings.latency_target_ms
        if self._baseline and settings.baseline_multiple > 0:
            target = settings.baseline_multiple * self._baseline[0][1] * 1000
        return max(target, settings.latency_target_min_ms)

    def _maybe_adjust(self, now_s: float) -> None:
        if now_s < self._next_adjust_s:
            return
        if self._limit_per_s is not None:
            self._adjust(len(self._active(now_s)), now_s)
        else:
            # Nothing limited: the interval only teaches the baseline.
            self._learn_baseline(now_s)
            self._start_interval(now_s)

    def _learn_baseline(self, now_s: float) -> None:
        settings = self.settings
        if settings.baseline_multiple <= 0:
            return
        # The newest is kept even when old: after a long overload it is the last word there is.
        while len(self._baseline) > 1 and self._baseline[0][0] < now_s - settings.baseline_window_ms / 1000:
            self._baseline.popleft()
        if self._held_back or self._queued or self._latency_count < settings.baseline_samples_min:
            return
        mean_s = self._latency_sum_s / self._latency_count
        while self._baseline and self._baseline[-1][1] >= mean_s:
            self._baseline.pop()
        self._baseline.append((now_s, mean_s))

    def _adjust(self, active: int, now_s: float) -> None:
        settings = self.settings
        assert self._limit_per_s is not None
        # First, so that a broker slow from the start (replication) is judged against itself.
        self._learn_baseline(now_s)
        if active < settings.active_tenants_min:
            self._limit_per_s = None
        else:
            floor = active * settings.tenant_rate_min_per_s
            slow = (
                self._latency_count > 0
                and self._latency_sum_s / self._latency_count * 1000 > self.latency_target_ms
            )
            if slow or self._overloaded:
                interval_s = now_s - self._interval_from_s
                admitted_per_s = self._admitted / interval_s if interval_s > 0 else math.inf
                base = min(self._limit_per_s, admitted_per_s)
                self._limit_per_s = max(floor, base * settings.backoff_ratio)
                self._decreased_at_s = now_s
            elif self._held_back and self._latency_count > 0:
                self._limit_per_s = max(floor, self._limit_per_s + settings.increase_per_s)
        self._start_interval(now_s)

    def _start_interval(self, now_s: float) -> None:
        self._interval_from_s = now_s
        self._admitted = 0
        self._next_adjust_s = now_s + self.settings.adjust_interval_ms / 1000
        self._latency_sum_s = 0.0
        self._latency_count = 0
        self._overloaded = False
        self._held_back = False
        self._queued = False

    def _active(self, now_s: float) -> list[_Tenant]:
        since = now_s - self._window_s
        gone = [key for key, t in self._tenants.items() if t.seen_at_s < since]
        for key in gone:  # bounded by the tenants seen within the window
            del self._tenants[key]
        return list(self._tenants.values())

    def _allowance(self, tenant: _Tenant, active: list[_Tenant], now_s: float) -> float:
        limit = self._limit_per_s
        assert limit is not None
        if limit == math.inf:
            return math.inf
        equal = limit / len(active)
        others = sum(min(t.admitted.per_s(now_s), equal) for t in active if t is not tenant)
        return max(self.settings.tenant_rate_min_per_s, limit - others)
