"""Prometheus metrics of a broker, in its own registry (several brokers can share a process in
tests). Partitions update them after each committed batch; names follow Prometheus habits."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from propolis.records import (
    IncidentIntent,
    JobBatchIntent,
    JobIntent,
    Record,
    RecordType,
    ValueType,
)

_JOB_EVENTS = {
    JobIntent.COMPLETED: "completed",
    JobIntent.FAILED: "failed",
    JobIntent.TIMED_OUT: "timed_out",
    JobIntent.ERROR_THROWN: "error_thrown",
    JobIntent.CREATED: "created",
}


class BrokerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["partition"]
        self.records_processed = Counter(
            "propolis_records_processed", "Records written by stream processing (commands, events, rejections)", labels, registry=self.registry
        )
        self.commands_processed = Counter("propolis_commands_processed", "Commands processed", labels, registry=self.registry)
        self.batch_latency = Histogram(
            "propolis_batch_processing_seconds",
            "Time to process one batch of commands, append it to the log and make it durable",
            labels,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.command_latency = Histogram(
            "propolis_command_latency_seconds",
            "Time from a client's command reaching the partition to its batch being durable (waiting, processing, fsync)",
            labels,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.backpressure_rejections = Counter(
            "propolis_backpressure_rejected_commands", "Commands refused because the partition was over its in-flight limit", labels, registry=self.registry
        )
        self.backpressure_limit = Gauge(
            "propolis_backpressure_limit", "The partition's adaptive limit of client commands in flight", labels, registry=self.registry
        )
        self.jobs = Counter("propolis_jobs", "Job lifecycle events", labels + ["event"], registry=self.registry)
        self.jobs_activated = Counter("propolis_jobs_activated", "Jobs handed to workers", labels, registry=self.registry)
        self.open_incidents = Gauge("propolis_open_incidents", "Incidents not yet resolved", labels, registry=self.registry)
        self.log_size = Gauge("propolis_log_size_bytes", "Bytes in the partition's log segments", labels, registry=self.registry)
        self.last_position = Gauge("propolis_log_last_position", "Position of the last record in the log", labels, registry=self.registry)
        exporter_labels = labels + ["exporter"]
        self.exported_records = Counter(
            "propolis_exporter_exported_records", "Records an exporter took without raising (filtered-out records are not counted)",
            exporter_labels, registry=self.registry,
        )
        self.exporter_failures = Counter(
            "propolis_exporter_failures", "Times an exporter raised from open, export or a scheduled task (each is retried with back-off)",
            exporter_labels, registry=self.registry,
        )
        self.exporter_lag = Gauge(
            "propolis_exporter_lag_records", "Committed records after the exporter's acknowledged position",
            exporter_labels, registry=self.registry,
        )
        self.exporter_position = Gauge(
            "propolis_exporter_acknowledged_position", "The last position the exporter acknowledged (-1: none)",
            exporter_labels, registry=self.registry,
        )

    def observe_command_latencies(self, partition_id: int, latencies_s: list[float]) -> None:
        histogram = self.command_latency.labels(str(partition_id))
        for latency_s in latencies_s:
            histogram.observe(latency_s)

    def observe_batch(self, partition_id: int, records: list[Record], commands: int, elapsed_s: float) -> None:
        label = str(partition_id)
        self.records_processed.labels(label).inc(len(records))
        self.commands_processed.labels(label).inc(commands)
        self.batch_latency.labels(label).observe(elapsed_s)
        for record in records:
            if record.record_type != RecordType.EVENT:
                continue
            if record.value_type == ValueType.JOB and record.intent in _JOB_EVENTS:
                self.jobs.labels(label, _JOB_EVENTS[record.intent]).inc()
            elif record.value_type == ValueType.JOB_BATCH and record.intent == JobBatchIntent.ACTIVATED:
                self.jobs_activated.labels(label).inc(len(record.value["jobKeys"]))
            elif record.value_type == ValueType.INCIDENT:
                if record.intent == IncidentIntent.CREATED:
                    self.open_incidents.labels(label).inc()
                elif record.intent == IncidentIntent.RESOLVED:
                    self.open_incidents.labels(label).dec()
