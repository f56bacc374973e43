"""`propolis dev`: starts, says where it listens, stops cleanly, and keeps its data."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.support.cli import propolis, propolis_ok
from tests.support.dev_server import READY_MARKER
from tests.support.running import running_propolis_dev

ONE_TASK = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli" / "one_task.bpmn"


def test_restarting_on_the_same_data_keeps_the_deployments(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_propolis_dev(data) as server:
        ready = [line for line in server.output if READY_MARKER in line]
        assert ready == [
            f"propolis dev: gateway on 127.0.0.1:{server.port}, console on http://127.0.0.1:{server.console_port}/, data in {data}\n"
        ]
        first = propolis_ok("deploy", "--json", str(ONE_TASK), address=server.address)
    with running_propolis_dev(data) as server:
        again = propolis_ok("deploy", "--json", str(ONE_TASK), address=server.address)
        assert int(propolis_ok("create", "instance", "one-task", address=server.address)) > 0
    [before] = json.loads(first)["processes"]
    [after] = json.loads(again)["processes"]
    assert after["duplicate"] is True
    assert (after["key"], after["version"]) == (before["key"], before["version"])


def test_info_logs_are_json_lines(tmp_path: Path) -> None:
    with running_propolis_dev(tmp_path / "data", env={"PROPOLIS_LOG_LEVEL": "info"}) as server:
        propolis_ok("status", address=server.address)
    entries = [json.loads(line) for line in server.output if READY_MARKER not in line]
    assert entries, "nothing was logged at info level"
    for entry in entries:
        assert {"ts", "level", "logger", "msg"} <= set(entry)
    assert any(entry["msg"] == "propolis dev ready" for entry in entries)


def test_a_console_or_monitoring_port_in_use_is_named_with_the_setting_that_moves_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        console = propolis("dev", "--host", "127.0.0.1", "--port", "0", "--console-port", port,
                           "--data-dir", str(tmp_path / "a"), timeout_s=60)
        monitoring = propolis("dev", "--host", "127.0.0.1", "--port", "0", "--console-port", "0",
                              "--data-dir", str(tmp_path / "b"), timeout_s=60, env={"PROPOLIS_MONITORING_PORT": port})
    assert console.returncode == 1 and f"the console port 127.0.0.1:{port} cannot be opened" in console.stderr
    assert "PROPOLIS_CONSOLE_PORT" in console.stderr
    assert monitoring.returncode == 1 and f":{port} (/metrics, /health) cannot be opened" in monitoring.stderr
    assert "PROPOLIS_MONITORING_PORT" in monitoring.stderr


def test_a_port_in_use_is_one_error_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = propolis("dev", "--host", "127.0.0.1", "--port", str(port),
                          "--data-dir", str(tmp_path / "data"), timeout_s=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: propolis dev: ")
    assert "Traceback" not in result.stderr
