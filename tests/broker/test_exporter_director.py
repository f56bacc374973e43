"""The exporter director in a real broker (real log, real LMDB): exporters see every committed
record in order, a failing one is retried without holding up the others or processing, the
acknowledged positions survive a restart, and compaction keeps what exporters still need."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from propolis.broker.config import ExporterSpec
from propolis.broker.exporting import positions
from propolis.broker.exporting.errors import ExporterStartupError
from propolis.broker.recovery import compare_states, rebuild_from_snapshot_and_log
from propolis.broker.state.store import Store

from tests.broker import models
from tests.broker.harness import BrokerHarness
from tests.support.cli import wait_until
from tests.support.plugin_exporter import CLASS_PATH, read_exports, write_plugin


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(write_plugin(tmp_path / "plugins")))
    return tmp_path


def recording(exporter_id: str, out: Path, **args: object) -> ExporterSpec:
    return ExporterSpec(exporter_id, CLASS_PATH, {"out": str(out), **args})


def run_one_instance(harness: BrokerHarness) -> None:
    harness.deploy(("one.bpmn", models.one_task("one", "work")))
    harness.create("one")
    [(job_key, _)] = harness.activate("work")
    harness.complete(job_key)


def metric(harness: BrokerHarness, name: str, exporter: str) -> float:
    value = harness.broker.metrics.registry.get_sample_value(name, {"partition": "1", "exporter": exporter})
    return value or 0.0


def test_every_committed_record_is_exported_once_in_log_order(plugin: Path) -> None:
    out = plugin / "all.txt"
    harness = BrokerHarness(plugin / "data", exporters={"all": recording("all", out)}).start()
    try:
        run_one_instance(harness)
        last = harness.broker.partition(1).log.last_position
        wait_until(lambda: len(read_exports(out)) == last)
        exported = read_exports(out)
        assert [row[0] for row in exported] == list(range(1, last + 1))
        assert [(row[1], row[2]) for row in exported] == [
            (r["recordType"], r["valueType"]) for r in harness.records()
        ]
        wait_until(lambda: metric(harness, "propolis_exporter_lag_records", "all") == 0)
        assert metric(harness, "propolis_exporter_exported_records_total", "all") == last
    finally:
        harness.close()


def test_a_filter_passes_only_its_types_and_the_rest_counts_as_acknowledged(plugin: Path) -> None:
    out = plugin / "jobs.txt"
    spec = recording("jobs", out, valueTypes=["JOB"], recordTypes=["EVENT"])
    harness = BrokerHarness(plugin / "data", exporters={"jobs": spec}).start()
    try:
        run_one_instance(harness)
        partition = harness.broker.partition(1)
        last = partition.log.last_position
        expected = [
            (r["position"], "EVENT", "JOB") for r in harness.records()
            if r["valueType"] == "JOB" and r["recordType"] == "EVENT"
        ]
        assert [e[0] for e in expected], "the model creates and completes a job"
        wait_until(lambda: read_exports(out) == expected)
        # The last record is no job event, yet nothing is left to export.
        wait_until(lambda: partition.director.acknowledged_positions() == {"jobs": last})
    finally:
        harness.close()


def test_a_failing_exporter_is_retried_while_the_others_and_processing_go_on(plugin: Path) -> None:
    healthy_out, failing_out, down = plugin / "healthy.txt", plugin / "failing.txt", plugin / "down"
    down.touch()
    exporters = {
        "healthy": recording("healthy", healthy_out),
        "failing": recording("failing", failing_out, failWhile=str(down)),
    }
    harness = BrokerHarness(
        plugin / "data", exporters=exporters, exporter_retry_backoff_initial_ms=10, exporter_retry_backoff_max_ms=50
    ).start()
    try:
        run_one_instance(harness)
        run_one_instance(harness)  # processing goes on: commands are answered
        last = harness.broker.partition(1).log.last_position
        wait_until(lambda: len(read_exports(healthy_out)) == last)
        wait_until(lambda: metric(harness, "propolis_exporter_failures_total", "failing") >= 3)
        assert read_exports(failing_out) == []
        assert metric(harness, "propolis_exporter_lag_records", "failing") == last
        assert metric(harness, "propolis_exporter_lag_records", "healthy") == 0

        down.unlink()  # the backend is back
        wait_until(lambda: len(read_exports(failing_out)) == last)
        assert [row[0] for row in read_exports(failing_out)] == list(range(1, last + 1))
        wait_until(lambda: metric(harness, "propolis_exporter_lag_records", "failing") == 0)
    finally:
        harness.close()


def test_an_exporter_that_hangs_holds_back_only_itself(plugin: Path) -> None:
    healthy_out, hanging_out, stuck = plugin / "healthy.txt", plugin / "hanging.txt", plugin / "stuck"
    stuck.touch()
    exporters = {
        "hanging": recording("hanging", hanging_out, hangWhile=str(stuck)),
        "healthy": recording("healthy", healthy_out),
    }
    harness = BrokerHarness(plugin / "data", exporters=exporters).start()
    try:
        run_one_instance(harness)
        run_one_instance(harness)
        last = harness.broker.partition(1).log.last_position
        wait_until(lambda: len(read_exports(healthy_out)) == last)
        assert read_exports(hanging_out) == []
        assert harness.broker.partition(1).director.acknowledged_positions()["hanging"] == -1

        stuck.unlink()  # the server answers at last
        wait_until(lambda: len(read_exports(hanging_out)) == last)
        assert [row[0] for row in read_exports(hanging_out)] == list(range(1, last + 1))
    finally:
        stuck.unlink(missing_ok=True)
        harness.close()


def test_acknowledged_positions_survive_a_restart_and_export_resumes_after_them(plugin: Path) -> None:
    out = plugin / "out.txt"
    harness = BrokerHarness(plugin / "data", exporters={"rec": recording("rec", out)}).start()
    try:
        run_one_instance(harness)
        first_run = harness.broker.partition(1).log.last_position
        wait_until(lambda: len(read_exports(out)) == first_run)
        harness.restart()  # a clean close persists the acknowledged position
        assert positions.read_positions(harness.broker.partition(1).store) == {"rec": first_run}
        run_one_instance(harness)
        last = harness.broker.partition(1).log.last_position
        wait_until(lambda: len(read_exports(out)) >= last)
        assert [row[0] for row in read_exports(out)] == list(range(1, last + 1))
    finally:
        harness.close()


def test_compaction_keeps_every_record_an_exporter_has_not_acknowledged(plugin: Path) -> None:
    out, down = plugin / "out.txt", plugin / "down"
    down.touch()
    harness = BrokerHarness(
        plugin / "data",
        exporters={"slow": recording("slow", out, failWhile=str(down))},
        log_segment_size_bytes_max=4096,
        exporter_retry_backoff_initial_ms=10,
        exporter_retry_backoff_max_ms=20,
        exporter_positions_persist_interval_ms=0,
    ).start()
    try:
        for _ in range(6):
            run_one_instance(harness)
        partition = harness.broker.partition(1)
        assert partition.log.segment_count > 2, "the test needs several segments"
        snapshot_position = partition.take_snapshot()
        assert snapshot_position == partition.log.last_position
        harness.deploy(("one.bpmn", models.one_task("one", "work")))  # a batch: compaction runs
        assert partition.log.first_position == 1, "nothing acknowledged, nothing may go"

        down.unlink()
        last = partition.log.last_position
        wait_until(lambda: positions.read_positions(partition.store).get("slow") == last)
        partition.take_snapshot()
        harness.deploy(("one.bpmn", models.one_task("one", "work")))
        # The partition compacts after the batch, which may be after the deploy was answered.
        wait_until(lambda: partition.log.first_position > 1)
        assert partition.log.first_position <= last + 1
        run_one_instance(harness)
        final = partition.log.last_position
        wait_until(lambda: len(read_exports(out)) >= final)
    finally:
        harness.close()
    # The exporters database is left out of the replay check; everything else must match.
    live = Store(harness.partition_dir() / "state", 1 << 30)
    rebuilt = rebuild_from_snapshot_and_log(harness.partition_dir(), plugin / "rebuilt", 1)
    try:
        assert compare_states(live, rebuilt) == []
    finally:
        live.close()
        rebuilt.close()
    # Restored from the snapshot (older exporter position than the live one), the exporter
    # still finds in the log every record after the position it restarts from.
    shutil.rmtree(harness.partition_dir() / "state")
    harness = BrokerHarness(plugin / "data", exporters={"slow": recording("slow", out)}).start()
    try:
        wait_until(lambda: harness.broker.partition(1).director.acknowledged_positions()["slow"] == final)
        assert {row[0] for row in read_exports(out)} == set(range(1, final + 1))
    finally:
        harness.close()


def test_positions_of_exporters_no_longer_configured_are_forgotten(plugin: Path) -> None:
    harness = BrokerHarness(plugin / "data", exporters={"old": recording("old", plugin / "old.txt")}).start()
    try:
        run_one_instance(harness)
        wait_until(lambda: harness.broker.partition(1).director.acknowledged_positions()["old"] > 0)
    finally:
        harness.close()
    harness = BrokerHarness(plugin / "data").start()
    try:
        assert positions.read_positions(harness.broker.partition(1).store) == {}
    finally:
        harness.close()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ExporterSpec("es", "no_such_module.Exporter"),
         "exporter 'es': className 'no_such_module.Exporter': cannot import module 'no_such_module'"),
        (ExporterSpec("es", "acme_exporter.Nope"),
         "exporter 'es': className 'acme_exporter.Nope': module 'acme_exporter' has no class 'Nope'"),
        (ExporterSpec("es", "pathlib.PurePath"),
         "PurePath is not an exporter: it has no configure, open, export, close method"),
        (ExporterSpec("rec", CLASS_PATH, {}),
         f"exporter 'rec' ({CLASS_PATH}): args: out: expected the file to record exports in"),
    ],
)
def test_a_broken_exporter_stops_the_start_naming_the_exporter_and_field(plugin: Path, spec: ExporterSpec, message: str) -> None:
    harness = BrokerHarness(plugin / "data", exporters={spec.exporter_id: spec})
    with pytest.raises(ExporterStartupError) as raised:
        harness.broker.start()
    assert message in str(raised.value)
    assert not (plugin / "data" / "partition-1").exists(), "nothing was opened"
    harness.loop.close()
