"""Broker settings. Every bound carries its unit in its name."""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "PROPOLIS_"


@dataclass(frozen=True)
class ExporterSpec:
    """One entry of the YAML `exporters:` block: an id, a dotted class path and its args."""

    exporter_id: str
    class_name: str
    args: dict[str, Any] = field(default_factory=dict)


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
    # Client commands in flight per partition (arrival to durable) are limited adaptively
    # (broker/backpressure.py): the limit starts at `backpressure_limit_initial`, stays within
    # min..`inflight_commands_max`, and shrinks while commands take longer than the target.
    # Commands over the limit are refused (RESOURCE_EXHAUSTED), except commands that finish
    # work (job completion/failure), which are never shed.
    inflight_commands_max: int = 5_000
    backpressure_limit_initial: int = 100
    backpressure_limit_min: int = 100
    backpressure_latency_target_ms: float = 200.0
    # New work (instance creations, message publications) is refused while the jobs activated
    # in the last half second waited longer than this on average for a worker
    # (broker/work_admission.py): the backlog of started instances stays short. 0 = off, the
    # default: a worker that starts after a backlog of jobs was created (they waited long, but
    # nothing is overloaded) would make the partition refuse creations for half a second; the
    # gateway's overload rate (gateway/config.py) is what limits new work by default. 100 is
    # the value measured in benchmarks/RESULTS.md (2026-12-07).
    backpressure_job_wait_target_ms: float = 0.0
    # ... but never while less new work than this per second was admitted lately.
    backpressure_new_work_rate_min_per_s: float = 50.0
    # Tenants share the partition (broker/command_queue.py): commands are taken round-robin by
    # tenant, and at the limit above a tenant under its share of it still gets in (the flood is
    # shed). While several tenants are active, a batch holds at most this many commands, so a
    # light tenant's command waits for a short batch, not a long one full of another's flood.
    tenant_fairness: bool = True
    contended_batch_commands_max: int = 16
    # Timers, job timeouts, retry back-offs and message TTLs are checked this often.
    scheduler_interval_ms: int = 100
    snapshot_interval_s: float = 60.0
    snapshot_records_min: int = 10_000
    snapshots_kept: int = 2
    state_map_size_bytes: int = 8 << 30
    log_segment_size_bytes_max: int = 64 << 20
    # With replication, pysyncobj's Raft log (its journal file and the entries it keeps in
    # memory) is compacted once it holds more than this many entries (batches), or this long
    # after the last compaction; a follower that fell behind the compacted entries catches up
    # from a snapshot (log/raft_replicator.py).
    raft_log_compaction_entries_min: int = 2_000
    raft_log_compaction_interval_s: float = 60.0
    # One activation answers at most this many bytes of jobs; the rest stays activatable.
    job_batch_bytes_max: int = 4 << 20
    # Variables larger than this (one document, encoded) are rejected with INVALID_ARGUMENT.
    variables_bytes_max: int = 4 << 20
    # Exporters by id (from the YAML file's `exporters:` block, see broker/config_file.py).
    exporters: dict[str, ExporterSpec] = field(default_factory=dict)
    # A failing exporter is retried after this back-off, doubled per failure up to the max.
    exporter_retry_backoff_initial_ms: int = 100
    exporter_retry_backoff_max_ms: int = 10_000
    # Acknowledged exporter positions reach the state at most this often (and on close); a
    # crash re-exports what was acknowledged since (delivery is at-least-once anyway).
    exporter_positions_persist_interval_ms: int = 250
    # The director reads at most this many records per round before it looks at its timers.
    exporter_read_records_max: int = 1_000

    def __post_init__(self) -> None:
        # Environment variables (PROPOLIS_<FIELD>) fill in what the caller left at its default,
        # so flags win over the environment, which wins over the defaults.
        defaults = BrokerConfig.__dataclass_fields__
        for item in fields(self):
            default = defaults[item.name].default
            if default is MISSING:  # exporters: only from the YAML file
                continue
            raw = os.environ.get(ENV_PREFIX + item.name.upper())
            if raw is None or getattr(self, item.name) != default:
                continue
            setattr(self, item.name, env_value(item.name, raw))
        self.data_dir = Path(self.data_dir)


def env_value(name: str, raw: str) -> Any:
    """`raw` (from PROPOLIS_<NAME>) converted to the type of field `name`'s default."""
    default = BrokerConfig.__dataclass_fields__[name].default
    if isinstance(default, Path):
        return Path(raw)
    kind = type(default)
    if kind is bool:  # bool("false") would be True
        if raw.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return raw.strip().lower() in ("true", "1", "yes", "on")
        raise ValueError(f"{ENV_PREFIX}{name.upper()}: expected true or false, got {raw!r}")
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}: expected a {kind.__name__}, got {raw!r}") from None
