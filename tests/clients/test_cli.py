"""The `propolis` command line against a real `propolis dev`, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import Worker, propolis, propolis_ok, wait_until
from tests.support.dev_server import free_port
from tests.support.running import running_propolis_dev

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli"
ONE_TASK = FIXTURES / "one_task.bpmn"  # one-task, job type "work", 3 retries
FLAKY_TASK = FIXTURES / "flaky_task.bpmn"  # flaky-task, job type "flaky", 2 retries
WAITING_TASK = FIXTURES / "waiting_task.bpmn"  # waiting-task, job type "waiting", no worker
MESSAGE_WAIT = FIXTURES / "message_wait.bpmn"  # wait-for-payment, message "payment-received"

PYTHON = sys.executable

SUBCOMMANDS = [
    [], ["dev"], ["deploy"], ["create"], ["create", "instance"], ["publish"],
    ["publish", "message"], ["cancel"], ["resolve"], ["resolve", "incident"], ["set"],
    ["set", "variables"], ["status"], ["worker"],
]


def variant(tmp_path: Path, fixture: Path, process_id: str, job_type: str) -> Path:
    """A copy of a one-task fixture under another process id and job type."""
    text = fixture.read_text()
    original_id = text.split('<bpmn:process id="', 1)[1].split('"', 1)[0]
    original_type = text.split('taskDefinition type="', 1)[1].split('"', 1)[0]
    text = text.replace(f'"{original_id}"', f'"{process_id}"').replace(
        f'type="{original_type}"', f'type="{job_type}"'
    )
    path = tmp_path / f"{process_id}.bpmn"
    path.write_text(text)
    return path


def handler_script(tmp_path: Path, name: str, body: str) -> str:
    """A Python handler in a file; returns the --handler command that runs it."""
    path = tmp_path / f"{name}.py"
    path.write_text("import json, os, sys, time\n" + body)
    return f"{PYTHON} {path}"


# -- without a broker ----------------------------------------------------------------------


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=lambda w: " ".join(w) or "propolis")
def test_every_command_has_help_that_exits_0(words: list[str]) -> None:
    result = propolis(*words, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: propolis" in result.stdout
    if words and words[-1] not in ("create", "publish", "resolve", "set"):
        assert "examples:" in result.stdout


def test_invalid_json_variables_exit_1_naming_the_flag() -> None:
    result = propolis("create", "instance", "one-task", "--variables", "{orderId: 7}",
                      address=f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stderr.startswith("error: --variables: invalid JSON")
    assert "Traceback" not in result.stderr


def test_variables_that_are_not_an_object_exit_1() -> None:
    result = propolis("publish", "message", "m", "--correlation-key", "k", "--variables", "[1]")
    assert result.returncode == 1
    assert "error: --variables: expected a JSON object" in result.stderr
    assert "got a JSON array" in result.stderr


def test_a_malformed_duration_is_a_usage_error() -> None:
    result = propolis("publish", "message", "m", "--correlation-key", "k", "--ttl", "10 minutes")
    assert result.returncode == 2
    assert "--ttl" in result.stderr and "expected a duration like" in result.stderr


def test_a_key_that_is_not_a_number_is_a_usage_error() -> None:
    result = propolis("cancel", "order-7")
    assert result.returncode == 2
    assert "expected a numeric key, got 'order-7'" in result.stderr


def test_an_unreachable_gateway_prints_the_grpc_status_not_a_traceback() -> None:
    result = propolis("status", address=f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stderr.startswith("error: UNAVAILABLE: ")
    assert "Traceback" not in result.stderr


# -- against propolis dev ------------------------------------------------------------------


@pytest.fixture(scope="module")
def address(propolis_dev_module) -> str:
    server = propolis_dev_module
    propolis_ok("deploy", str(ONE_TASK), str(FLAKY_TASK), str(WAITING_TASK), str(MESSAGE_WAIT),
                address=server.address)
    return server.address


def test_status_shows_one_broker_leading_every_partition(address: str) -> None:
    text = propolis_ok("status", address=address)
    assert "Cluster size: 1" in text
    assert "Partition 1 : Leader, Healthy" in text
    topology = json.loads(propolis_ok("status", "--json", address=address))
    assert topology["clusterSize"] == 1
    assert topology["partitionsCount"] >= 1
    assert [p["role"] for p in topology["brokers"][0]["partitions"]] == [
        "LEADER"
    ] * topology["partitionsCount"]


def test_deploy_prints_process_id_version_and_key(tmp_path: Path, address: str) -> None:
    model = variant(tmp_path, ONE_TASK, "cli-deploy", "cli-deploy")
    first = propolis_ok("deploy", str(model), address=address)
    assert first.startswith("cli-deploy version 1 key ")
    assert "duplicate" not in first
    again = json.loads(propolis_ok("deploy", "--json", str(model), address=address))
    [process] = again["processes"]
    assert process["processId"] == "cli-deploy"
    assert process["version"] == 1
    assert process["duplicate"] is True
    assert str(process["key"]) in first
    model.write_text(model.read_text().replace('name="One task"', 'name="One task, renamed"'))
    changed = propolis_ok("deploy", str(model), address=address)
    assert changed.startswith("cli-deploy version 2 key ")


def test_deploying_a_broken_file_prints_the_reason_and_exits_1(tmp_path: Path,
                                                              address: str) -> None:
    broken = tmp_path / "broken.bpmn"
    broken.write_text("<bpmn:definitions")
    result = propolis("deploy", str(broken), address=address)
    assert result.returncode == 1
    assert result.stderr.startswith("error: INVALID_ARGUMENT: ")
    assert "broken.bpmn" in result.stderr
    assert "Traceback" not in result.stderr


def test_deploying_a_missing_file_exits_1(tmp_path: Path, address: str) -> None:
    result = propolis("deploy", str(tmp_path / "nope.bpmn"), address=address)
    assert result.returncode == 1
    assert "nope.bpmn: no such file" in result.stderr


def test_create_instance_prints_its_key(address: str) -> None:
    key = int(propolis_ok("create", "instance", "waiting-task", address=address))
    assert key > 0
    created = json.loads(propolis_ok("create", "instance", "waiting-task", "--json",
                                     "--variables", '{"a": 1}', address=address))
    assert created["processId"] == "waiting-task"
    assert created["version"] == 1
    assert created["key"] > key


def test_creating_an_instance_of_an_unknown_process_exits_1(address: str) -> None:
    result = propolis("create", "instance", "no-such-process", address=address)
    assert result.returncode == 1
    assert result.stderr.startswith("error: NOT_FOUND: ")
    assert "no-such-process" in result.stderr


def test_worker_completes_instances_with_the_handlers_variables(address: str) -> None:
    handler = (
        f"{PYTHON} -c 'import json, os, sys; v = json.load(sys.stdin); "
        'print(json.dumps({"doubled": v["n"] * 2, "element": os.environ["PROPOLIS_ELEMENT_ID"], '
        '"jobType": os.environ["PROPOLIS_JOB_TYPE"], '
        '"instance": os.environ["PROPOLIS_PROCESS_INSTANCE_KEY"], '
        '"job": os.environ["PROPOLIS_JOB_KEY"]}))\''
    )
    with Worker(address, "work", handler) as worker:
        for n in (1, 21):
            out = propolis_ok("create", "instance", "one-task", "--with-result",
                              "--variables", json.dumps({"n": n}),
                              "--request-timeout", "20s", address=address)
            key_line, variables_line = out.strip().splitlines()
            variables = json.loads(variables_line)
            assert variables["n"] == n
            assert variables["doubled"] == 2 * n
            assert variables["element"] == "task"
            assert variables["jobType"] == "work"
            assert variables["instance"] == key_line
            assert int(variables["job"]) > 0
        assert worker.stop() == 0
    assert "2 jobs completed, 0 failed" in "".join(worker.stderr)


def test_empty_handler_output_completes_the_job_without_variables(
    tmp_path: Path, address: str
) -> None:
    model = variant(tmp_path, ONE_TASK, "cli-silent", "cli-silent")
    propolis_ok("deploy", str(model), address=address)
    with Worker(address, "cli-silent", "true"):
        out = propolis_ok("create", "instance", "cli-silent", "--with-result", "--variables",
                          '{"kept": "yes"}', "--request-timeout", "20s", "--json",
                          address=address)
    assert json.loads(out)["variables"] == {"kept": "yes"}


def test_worker_runs_at_most_max_jobs_handlers_at_once(tmp_path: Path, address: str) -> None:
    model = variant(tmp_path, ONE_TASK, "cli-concurrent", "cli-concurrent")
    propolis_ok("deploy", str(model), address=address)
    spans = tmp_path / "spans"
    spans.mkdir()
    handler = handler_script(tmp_path, "span", f"""
start = time.monotonic()
time.sleep(0.5)
end = time.monotonic()
with open(os.path.join({str(spans)!r}, os.environ["PROPOLIS_JOB_KEY"]), "w") as f:
    f.write(f"{{start}} {{end}}")
""")
    instances = 7
    for i in range(instances):
        propolis_ok("create", "instance", "cli-concurrent", "--variables", json.dumps({"i": i}),
                    address=address)
    with Worker(address, "cli-concurrent", handler, "--max-jobs", "3") as worker:
        wait_until(lambda: len(list(spans.iterdir())) == instances, timeout_s=60,
                   message="not every job was handled")
    intervals = [tuple(map(float, p.read_text().split())) for p in spans.iterdir()]
    overlap = max(sum(1 for s, e in intervals if s <= t < e) for t, _ in intervals)
    assert 2 <= overlap <= 3
    assert f"{instances} jobs completed" in "".join(worker.stderr)


def test_a_failing_handler_uses_up_the_retries_and_leaves_an_incident(
    tmp_path: Path, address: str
) -> None:
    attempts = tmp_path / "attempts"
    handler = handler_script(tmp_path, "fail", f"""
with open({str(attempts)!r}, "a") as f:
    f.write(os.environ["PROPOLIS_JOB_RETRIES"] + "\\n")
print("card declined for order 7", file=sys.stderr)
sys.exit(3)
""")
    key = propolis_ok("create", "instance", "flaky-task", address=address).strip()
    with Worker(address, "flaky", handler):
        # flaky-task's job has 2 retries: two attempts, then an incident stops the retrying.
        wait_until(lambda: attempts.exists() and len(attempts.read_text().split()) >= 2)
        time.sleep(1.5)
    assert attempts.read_text().split() == ["2", "1"]
    # The instance is stuck on its incident: cancelling it still works.
    assert propolis_ok("cancel", key, address=address).strip() == f"cancelled process instance {key}"


def test_handler_output_that_is_not_json_fails_the_job_with_a_clear_message(
    tmp_path: Path, address: str
) -> None:
    model = variant(tmp_path, FLAKY_TASK, "cli-bad-output", "cli-bad-output")
    propolis_ok("deploy", str(model), address=address)
    attempts = tmp_path / "attempts"
    handler = handler_script(tmp_path, "bad_output", f"""
with open({str(attempts)!r}, "a") as f:
    f.write("x\\n")
print("done!")
""")
    propolis_ok("create", "instance", "cli-bad-output", address=address)
    with Worker(address, "cli-bad-output", handler, "--log-level", "info") as worker:
        wait_until(lambda: attempts.exists() and len(attempts.read_text().split()) >= 2)
        time.sleep(1.0)
        assert worker.stop() == 0
    assert len(attempts.read_text().split()) == 2
    log = "".join(worker.stderr)
    assert "handler printed invalid JSON on stdout" in log
    assert "0 jobs completed, 2 failed" in log


def test_a_published_message_completes_the_waiting_instance(address: str) -> None:
    waiting = subprocess.Popen(
        [sys.executable, "-m", "propolis.clients.cli", "--address", address, "create",
         "instance", "wait-for-payment", "--variables", '{"orderId": "order-7"}',
         "--with-result", "--request-timeout", "30s", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        key = propolis_ok("publish", "message", "payment-received", "--correlation-key",
                          "order-7", "--variables", '{"paid": 12.5}', "--ttl", "1m",
                          "--message-id", "pay-7", address=address)
        assert int(key) > 0
        stdout, stderr = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, stderr
    assert json.loads(stdout)["variables"] == {"orderId": "order-7", "paid": 12.5}


def test_cancel_ends_an_instance_and_a_second_cancel_is_not_found(address: str) -> None:
    key = propolis_ok("create", "instance", "waiting-task", address=address).strip()
    assert propolis_ok("cancel", key, address=address).strip() == f"cancelled process instance {key}"
    again = propolis("cancel", key, address=address)
    assert again.returncode == 1
    assert again.stderr.startswith("error: NOT_FOUND: ")
    assert key in again.stderr


def test_set_variables_on_a_running_instance(address: str) -> None:
    key = propolis_ok("create", "instance", "waiting-task", address=address).strip()
    update = propolis_ok("set", "variables", key, "--variables", '{"approved": true}',
                         address=address)
    assert int(update) > 0
    missing = propolis("set", "variables", "1", "--variables", '{"x": 1}', address=address)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: NOT_FOUND: ")


def test_the_incident_records_the_end_of_the_handlers_stderr(tmp_path: Path) -> None:
    from propolis.log.segmented_log import Log

    from propolis.records import IncidentIntent, Record, ValueType

    data = tmp_path / "data"
    attempts = tmp_path / "attempts"
    handler = handler_script(tmp_path, "fail", f"""
with open({str(attempts)!r}, "a") as f:
    f.write("x\\n")
print("stack trace line\\n" * 500 + "card declined for order 7", file=sys.stderr)
sys.exit(3)
""")
    with running_propolis_dev(data) as server:
        propolis_ok("deploy", str(FLAKY_TASK), address=server.address)
        propolis_ok("create", "instance", "flaky-task", address=server.address)
        with Worker(server.address, "flaky", handler):
            wait_until(lambda: attempts.exists() and len(attempts.read_text().split()) >= 2)
            time.sleep(0.5)
    # The broker is stopped: read what it wrote.
    log = Log.open(data / "partition-1" / "log")
    try:
        records = [Record.decode(payload) for _, payload in log.reader(log.first_position)]
    finally:
        log.close()
    incidents = [r for r in records if r.value_type == ValueType.INCIDENT
                 and r.intent == IncidentIntent.CREATED]
    assert len(incidents) == 1, incidents
    message = json.dumps(incidents[0].value)
    assert "handler exited with code 3" in message
    assert "card declined for order 7" in message


def test_resolving_an_unknown_incident_exits_1_naming_the_key(address: str) -> None:
    result = propolis("resolve", "incident", "2251799813699999", address=address)
    assert result.returncode == 1
    assert result.stderr.startswith("error: NOT_FOUND: ")
    assert "2251799813699999" in result.stderr
