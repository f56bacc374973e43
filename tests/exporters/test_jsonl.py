"""The JSON-lines exporter in a real broker: one line per record, each record once, a torn last
line repaired, acknowledged only what is flushed, args checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from propolis.broker.config import ExporterSpec
from propolis.broker.exporting import positions
from propolis.broker.exporting.errors import ExporterStartupError
from propolis.broker.state.store import Store

from tests.broker import models
from tests.broker.harness import BrokerHarness
from tests.exporters.documents import as_json
from tests.support.cli import wait_until

JSONL = "propolis.exporters.jsonl.JsonLinesExporter"


def broker_with_file(tmp_path: Path, **args: object) -> BrokerHarness:
    spec = ExporterSpec("file", JSONL, {"path": str(tmp_path / "out-{partitionId}.jsonl"), **args})
    return BrokerHarness(tmp_path / "data", exporters={"file": spec}, exporter_positions_persist_interval_ms=0)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("args", [{}, {"flushIntervalMs": 0, "fsync": True}])
def test_every_record_is_a_line_described_with_names(tmp_path: Path, args: dict) -> None:
    harness = broker_with_file(tmp_path, **args).start()
    try:
        harness.deploy(("one.bpmn", models.one_task("one", "work")))
        harness.create("one", {"orderId": 7})
        last = harness.broker.partition(1).log.last_position
        out = tmp_path / "out-1.jsonl"
        wait_until(lambda: len(lines(out)) == last)
        assert lines(out) == as_json(harness.records())
        deployment = lines(out)[0]
        assert (deployment["recordType"], deployment["valueType"], deployment["intent"]) == ("COMMAND", "DEPLOYMENT", "CREATE")
        assert deployment["value"]["resources"][0]["resourceName"] == "one.bpmn"
        # Acknowledged once flushed: nothing is left to export.
        wait_until(lambda: harness.broker.partition(1).director.acknowledged_positions() == {"file": last})
    finally:
        harness.close()


def test_a_line_cut_short_by_a_crash_is_removed_and_no_record_is_written_twice(tmp_path: Path) -> None:
    harness = broker_with_file(tmp_path).start()
    out = tmp_path / "out-1.jsonl"
    try:
        harness.deploy(("one.bpmn", models.one_task("one", "work")))
        last = harness.broker.partition(1).log.last_position
        wait_until(lambda: len(lines(out)) == last)
    finally:
        harness.close()
    whole = out.read_text().splitlines(keepends=True)
    # As after a crash in the middle of a write: the last line torn, and the last positions
    # not acknowledged (a line is acknowledged only once flushed whole).
    out.write_text("".join(whole[:-1]) + whole[-1][:10])
    store = Store(harness.partition_dir() / "state", 1 << 30)
    positions.write_positions(store, {"file": last - 3})
    store.close()
    harness = BrokerHarness(tmp_path / "data", exporters=harness.config.exporters).start()
    try:
        harness.create("one")
        final = harness.broker.partition(1).log.last_position
        wait_until(lambda: out.read_text().endswith("\n") and len(lines(out)) == final)
        assert [line["position"] for line in lines(out)] == list(range(1, final + 1))
    finally:
        harness.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "args: path: expected the file to write"),
        ({"path": "x", "fsync": "yes"}, "args: fsync: expected true or false, got 'yes'"),
        ({"path": "x", "flushIntervalMs": -1}, "args: flushIntervalMs: expected a whole number of milliseconds >= 0, got -1"),
        ({"path": "x", "flush": 1}, "args: flush: unknown setting; expected path, flushIntervalMs and fsync"),
    ],
)
def test_wrong_args_stop_the_start(tmp_path: Path, args: dict, message: str) -> None:
    harness = BrokerHarness(tmp_path / "data", exporters={"file": ExporterSpec("file", JSONL, args)})
    with pytest.raises(ExporterStartupError, match=f"exporter 'file' \\({JSONL}\\): {message}"):
        harness.broker.start()
    harness.loop.close()
