"""Broker settings. Every bound carries its unit in its name."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

ENV_PREFIX = "PROPOLIS_"


@dataclass
class BrokerConfig:
    data_dir: Path = Path("data")
    partition_count: int = 1
    node_id: int = 0
    host: str = "127.0.0.1"
    port: int = 26501
    # /health, /ready and Prometheus /metrics (Zeebe's brokers use 9600 too); 0 = any free port.
    monitoring_host: str = "0.0.0.0"
    monitoring_port: int = 9600
    # Group commit: at most this many commands share one fsync and one LMDB transaction.
    batch_commands_max: int = 500
    # Commands waiting for a partition beyond this are refused (RESOURCE_EXHAUSTED), except
    # commands that finish work (job completion/failure), which are never shed first.
    inflight_commands_max: int = 5_000
    # Timers, job timeouts, retry back-offs and message TTLs are checked this often.
    scheduler_interval_ms: int = 100
    snapshot_interval_s: float = 60.0
    snapshot_records_min: int = 10_000
    snapshots_kept: int = 2
    state_map_size_bytes: int = 8 << 30
    log_segment_size_bytes_max: int = 64 << 20
    # One activation answers at most this many bytes of jobs; the rest stays activatable.
    job_batch_bytes_max: int = 4 << 20
    # Variables larger than this (one document, encoded) are rejected with INVALID_ARGUMENT.
    variables_bytes_max: int = 4 << 20

    def __post_init__(self) -> None:
        # Environment variables (PROPOLIS_<FIELD>) fill in what the caller left at its default,
        # so flags win over the environment, which wins over the defaults.
        defaults = BrokerConfig.__dataclass_fields__
        for field in fields(self):
            raw = os.environ.get(ENV_PREFIX + field.name.upper())
            if raw is None or getattr(self, field.name) != defaults[field.name].default:
                continue
            kind = type(defaults[field.name].default)
            setattr(self, field.name, Path(raw) if kind is type(Path()) or field.name == "data_dir" else kind(raw))
        self.data_dir = Path(self.data_dir)
