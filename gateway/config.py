"""Gateway settings. Every bound carries its unit in its name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GatewayConfig:
    host: str = "0.0.0.0"
    port: int = 26500
    # ActivateJobs with requestTimeout 0 long-polls this long (Zeebe's default: 10 s).
    long_poll_timeout_ms_default: int = 10_000
    # CreateProcessInstanceWithResult with requestTimeout 0 waits this long.
    request_timeout_ms_default: int = 15_000
    # gRPC message limit: large enough that a 10 MB payload reaches us and gets a precise
    # INVALID_ARGUMENT, instead of a transport error that names nothing.
    max_message_size_bytes: int = 16 << 20
    # One JSON document (variables) may be at most this large, as Zeebe's maxMessageSize.
    max_variables_bytes: int = 4 << 20
    max_jobs_to_activate_max: int = 1_000
    # A job stream activates at most this many jobs at a time before pushing them.
    stream_batch_jobs_max: int = 32
