"""Gateway settings. Every bound carries its unit in its name; every queue and wait has one."""

from __future__ import annotations

from dataclasses import dataclass

from propolis.gateway.tenant_rates import RateSettings


@dataclass
class GatewayConfig:
    host: str = "0.0.0.0"
    port: int = 26500  # 0 picks a free port; `GatewayServer.start()` returns the bound one

    # -- payloads --------------------------------------------------------------------------
    # gRPC message limit, both directions: large enough that a 10 MB payload reaches us and gets
    # a precise INVALID_ARGUMENT naming the field, instead of a transport error naming nothing.
    max_message_size_bytes: int = 16 << 20
    # One JSON document in a request (variables) may be at most this large, like Zeebe's
    # maxMessageSize for a record.
    max_variables_bytes: int = 4 << 20

    # -- request timeouts ------------------------------------------------------------------
    # ActivateJobs with requestTimeout 0 long-polls this long (Zeebe's default: 10 s).
    long_poll_timeout_ms_default: int = 10_000
    # A parked long poll or job stream retries activation this often even without news from
    # the broker, so that a lost notification delays a job by at most this much.
    long_poll_probe_interval_ms: int = 5_000
    # CreateProcessInstanceWithResult with requestTimeout 0 waits this long (Zeebe: 15 s).
    request_timeout_ms_default: int = 15_000

    # -- job activation ----------------------------------------------------------------------
    # ActivateJobs asks for at most this many jobs at once, whatever the client asks for.
    max_jobs_to_activate_max: int = 1_000
    # A job stream activates at most this many jobs at a time before pushing them one by one;
    # small, because an activated job's timeout runs while it waits to be written.
    stream_batch_jobs_max: int = 32
    # A job stream whose activation found the broker overloaded or unavailable stays open and
    # tries again after this long.
    stream_retry_delay_ms: int = 200
    # Giving a job back (JOB YIELD) after its stream or long poll went away is tried this often.
    job_yield_attempts_max: int = 3
    job_yield_retry_delay_ms: int = 100

    # -- server ----------------------------------------------------------------------------
    # Calls in flight at once, long polls and job streams included; beyond this gRPC answers
    # RESOURCE_EXHAUSTED.
    concurrent_rpcs_max: int = 10_000
    # With auth on: beyond this many requests in flight (long polls, job streams and job
    # completions not counted), a tenant holding its share of them is refused first
    # (tenant_shares.py).
    tenant_requests_in_flight_max: int = 128
    # With auth on, while several tenants start new work: each may do so at most at its share
    # of a rate that keeps broker commands, as the gateway sees them, under the latency target
    # (AIMD: tenant_rates.py); the flood is refused here before it saturates the partition.
    tenant_rate_fairness: bool = True
    # Until the gateway has seen the broker's quiet latency (see rate_baseline_multiple), the
    # target is this; after, it is `tenant_rate_baseline_percent` of that quiet latency, so that
    # while a tenant floods the broker stays about as quick as it was before (the light tenant's
    # p99 within 2x: benchmarks/tenant_fairness.py). 0: the fixed target only (or
    # rate_baseline_multiple times the quiet latency, if higher).
    tenant_rate_latency_target_ms: int = 10
    tenant_rate_baseline_percent: int = 150
    tenant_rate_min_per_s: int = 50  # no tenant's allowance goes below this
    tenant_rate_adjust_interval_ms: int = 200
    tenant_rate_increase_per_s: int = 10  # added per interval while a tenant is held back
    tenant_rate_burst_ms: int = 1_000  # a tenant's bucket holds this much of its allowance (arrivals come in bursts)
    # With a limiter's baseline percent at 0, its fixed latency target is raised to at least
    # this multiple of the broker's quiet latency (the lowest mean latency of a 200 ms interval
    # in the last minute in which nothing was limited and little was in flight); 0: the fixed
    # target only.
    rate_baseline_multiple: int = 3

    # Overload: new work (instance creations, message publications, signals) is admitted at
    # most at a rate that keeps broker commands, as the gateway sees them (job completions
    # included, so the whole instance's cost shows), under a mean latency target: AIMD as in
    # tenant_rates.py, with all callers as one tenant. Beyond it the gateway answers
    # RESOURCE_EXHAUSTED at once, so the work already started stays quick. The target is
    # `overload_baseline_percent` of the broker's quiet latency once the gateway has seen it
    # (so that a quick machine and a replicated cluster are each judged against themselves: 500
    # keeps the latency at 2x overload within 3x of half load, benchmarks/overload.py; higher
    # trades that for throughput), `overload_latency_target_ms` until then; percent 0: the
    # fixed target (raised by rate_baseline_multiple). The rate never goes below
    # `overload_rate_min_per_s` (a busy machine must not make light load refused). A target
    # of 0 turns it off.
    overload_latency_target_ms: int = 20
    overload_baseline_percent: int = 500
    # ...but never below this (in `propolis dev` the quiet latency is under 1 ms, and 500 % of
    # it refused a few % of half load).
    overload_latency_target_min_ms: int = 5
    overload_rate_min_per_s: int = 50
    # Nothing is refused for overload while fewer broker commands than this are in flight at
    # this gateway: then nothing queues (a client sending one request at a time cannot
    # overload anything), and slow answers come from elsewhere (replication, a busy machine).
    overload_in_flight_min: int = 8

    def overload_rate_settings(self) -> RateSettings:
        # Limited even with one tenant: all new work at this gateway.
        return self._rate_settings(self.overload_latency_target_ms, self.overload_rate_min_per_s,
                                   self.overload_baseline_percent, self.overload_latency_target_min_ms,
                                   active_tenants_min=1)

    def tenant_rate_settings(self) -> RateSettings:
        return self._rate_settings(self.tenant_rate_latency_target_ms, self.tenant_rate_min_per_s,
                                   self.tenant_rate_baseline_percent, 0)

    def _rate_settings(self, latency_target_ms: int, rate_min_per_s: int, baseline_percent: int,
                       latency_target_min_ms: int, **only_here: int) -> RateSettings:
        """The two limiters differ in target, floor, baseline percent and who counts; the rest
        they share. With the percentage at 0 the fixed target stays the least the target can
        be, and `rate_baseline_multiple` times the quiet latency may only raise it."""
        if baseline_percent > 0:
            multiple, target_min_ms = baseline_percent / 100, latency_target_min_ms
        else:
            multiple, target_min_ms = self.rate_baseline_multiple, max(latency_target_ms, latency_target_min_ms)
        return RateSettings(
            latency_target_ms=latency_target_ms,
            tenant_rate_min_per_s=rate_min_per_s,
            adjust_interval_ms=self.tenant_rate_adjust_interval_ms,
            increase_per_s=self.tenant_rate_increase_per_s,
            burst_ms=self.tenant_rate_burst_ms,
            baseline_multiple=multiple,
            latency_target_min_ms=target_min_ms,
            **only_here,
        )
