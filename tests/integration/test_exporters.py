"""Exporters configured in `propolis dev`'s YAML file, in a real process driven by a real gRPC
client: the JSON-lines file has every record once even across a SIGKILL, a third-party exporter
loaded from PYTHONPATH gets everything after its acknowledged position again (at-least-once),
and a wrong exporter stops the start with one clear line."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from pathlib import Path

from propolis.clients.client import PropolisClient

from tests.broker import models
from tests.support.cli import propolis, wait_until
from tests.support.dev_server import DevServer
from tests.support.plugin_exporter import CLASS_PATH, read_exports, write_plugin
from tests.support.running import stop_cleanly


def last_position(server: DevServer) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.monitoring_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    [line] = [line for line in text.splitlines() if line.startswith("propolis_log_last_position{")]
    return int(float(line.rsplit(" ", 1)[1]))


def run_instances(server: DevServer, count: int) -> None:
    with PropolisClient(server.address) as client:
        client.deploy(("one.bpmn", models.one_task("one", "work")))
        for n in range(count):
            client.create_instance("one", {"n": n})
        completed = 0
        while completed < count:
            for job in client.activate_jobs("work", max_jobs=count, worker="test", timeout_ms=60_000, request_timeout_ms=1_000):
                client.complete_job(job.key, {"done": True})
                completed += 1


def jsonl_positions(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [json.loads(line)["position"] for line in path.read_text().splitlines()]


def test_exports_survive_a_sigkill_once_in_the_file_and_at_least_once_in_a_plugin(tmp_path: Path) -> None:
    plugins = write_plugin(tmp_path / "plugins")
    records_file, plugin_out = tmp_path / "records-1.jsonl", tmp_path / "plugin.txt"
    config = tmp_path / "propolis.yaml"
    config.write_text(
        f"""
snapshot_interval_s: 3600
exporters:
  records-file:
    className: propolis.exporters.jsonl.JsonLinesExporter
    args:
      path: {tmp_path}/records-{{partitionId}}.jsonl
      flushIntervalMs: 20
  acme:
    className: {CLASS_PATH}
    args:
      out: {plugin_out}
      ackDelayMs: 3600000   # never acknowledges before the kill
"""
    )
    env = {"PROPOLIS_CONFIG": str(config), "PYTHONPATH": os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])}
    server = DevServer(tmp_path / "data", env=env)
    server.start()
    try:
        run_instances(server, 5)
        before_kill = last_position(server)
        wait_until(lambda: jsonl_positions(records_file)[-1:] == [before_kill])
        wait_until(lambda: len(read_exports(plugin_out)) == before_kill)
    finally:
        server.kill(signal.SIGKILL)

    server.start()
    try:
        run_instances(server, 3)
        final = last_position(server)
        wait_until(lambda: jsonl_positions(records_file)[-1:] == [final])
        wait_until(lambda: len(read_exports(plugin_out)) == before_kill + final)
    finally:
        stop_cleanly(server)

    assert jsonl_positions(records_file) == list(range(1, final + 1))
    lines = [json.loads(line) for line in records_file.read_text().splitlines()]
    assert lines[0]["valueType"] == "DEPLOYMENT" and lines[0]["recordType"] == "COMMAND"
    assert {"position", "key", "timestamp", "partitionId", "recordType", "valueType", "intent", "value"} <= set(lines[0])
    completed = [line for line in lines if line["valueType"] == "JOB" and line["intent"] == "COMPLETED"]
    assert len(completed) == 8
    # Nothing was acknowledged before the kill: the plugin got all of it again, then the rest.
    positions = [row[0] for row in read_exports(plugin_out)]
    assert positions == list(range(1, before_kill + 1)) + list(range(1, final + 1))


def test_a_wrong_exporter_class_is_one_error_line_naming_the_exporter_and_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "propolis.yaml"
    config.write_text("exporters:\n  es:\n    className: propolis.exporters.nope.Exporter\n")
    result = propolis("dev", "--config", str(config), "--port", "0", "--data-dir", str(tmp_path / "data"), timeout_s=60)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: propolis dev: exporter 'es': className 'propolis.exporters.nope.Exporter': cannot import module 'propolis.exporters.nope'"
    )
    assert "Traceback" not in result.stderr


def test_an_exporter_refusing_its_args_is_named_with_the_field(tmp_path: Path) -> None:
    config = tmp_path / "propolis.yaml"
    config.write_text(
        "exporters:\n  records-file:\n    className: propolis.exporters.jsonl.JsonLinesExporter\n"
        "    args: {path: x.jsonl, flushIntervalMs: soon}\n"
    )
    result = propolis("dev", "--port", "0", "--data-dir", str(tmp_path / "data"), env={"PROPOLIS_CONFIG": str(config)}, timeout_s=60)
    assert result.returncode == 1
    assert result.stderr == (
        "error: propolis dev: exporter 'records-file' (propolis.exporters.jsonl.JsonLinesExporter): "
        "args: flushIntervalMs: expected a whole number of milliseconds >= 0, got 'soon'\n"
    )


def test_the_configuration_file_sets_broker_settings_that_flags_and_environment_leave_open(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PROPOLIS_DATA_DIR", raising=False)
    config = tmp_path / "propolis.yaml"
    config.write_text(f"data_dir: {tmp_path / 'from-file'}\n")
    server = DevServer(None, env={"PROPOLIS_CONFIG": str(config)})
    server.start()
    try:
        run_instances(server, 1)
    finally:
        stop_cleanly(server)
    assert any(line.rstrip().endswith(f"data in {tmp_path / 'from-file'}") for line in server.output)
    assert (tmp_path / "from-file" / "partition-1" / "log").is_dir()
