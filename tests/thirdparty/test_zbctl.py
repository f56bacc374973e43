"""Zeebe's own CLI, zbctl (from npm, unmodified), against a real `propolis dev`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import wait_until

pytestmark = pytest.mark.thirdparty

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli"
ZBCTL_TIMEOUT_S = 60


class Zbctl:
    def __init__(self, binary: Path, address: str) -> None:
        self.binary = binary
        self.address = address

    def command(self, *args: str) -> list[str]:
        return [str(self.binary), *args, "--insecure", "--address", self.address]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.command(*args), capture_output=True, text=True,
                                timeout=ZBCTL_TIMEOUT_S, env=self.env())
        if check:
            assert result.returncode == 0, (
                f"zbctl {' '.join(args)} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args).stdout)

    @staticmethod
    def env() -> dict[str, str]:
        # No credentials lying around may turn on OAuth.
        return {k: v for k, v in os.environ.items() if not k.startswith(("ZEEBE_", "CAMUNDA_"))}


@pytest.fixture(scope="module")
def cli(zbctl: Path, propolis_dev_module) -> Zbctl:
    return Zbctl(zbctl, propolis_dev_module.address)


@pytest.fixture(scope="module")
def deployed(cli: Zbctl) -> dict:
    return cli.json("deploy", str(FIXTURES / "one_task.bpmn"), str(FIXTURES / "waiting_task.bpmn"),
                    str(FIXTURES / "message_wait.bpmn"))


def test_status_reports_the_topology(cli: Zbctl) -> None:
    out = cli.run("status").stdout
    assert "Cluster size: 1" in out
    assert "Partitions count: 1" in out
    assert "Partition 1 : Leader, Healthy" in out


def test_deploy_returns_every_process(deployed: dict) -> None:
    processes = {p["bpmnProcessId"]: p for p in deployed["processes"]}
    assert set(processes) == {"one-task", "waiting-task", "wait-for-payment"}
    assert all(p["version"] == 1 for p in processes.values())
    assert int(deployed["key"]) > 0


def test_create_instance_returns_its_key(cli: Zbctl, deployed: dict) -> None:
    created = cli.json("create", "instance", "waiting-task", "--variables", '{"a": 1}')
    assert created["bpmnProcessId"] == "waiting-task"
    assert int(created["processInstanceKey"]) > 0


def test_create_worker_completes_jobs_of_an_instance_created_with_result(
    cli: Zbctl, deployed: dict, tmp_path: Path
) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text(
        "import json, sys\n"
        "v = json.load(sys.stdin)\n"
        "print(json.dumps({'tripled': v['n'] * 3}))\n"
    )
    handler.chmod(0o755)
    # zbctl runs the handler without a shell: a command word and no arguments with spaces.
    launcher = tmp_path / "handler.sh"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {handler}\n")
    launcher.chmod(0o755)
    worker = subprocess.Popen(
        cli.command("create", "worker", "work", "--handler", str(launcher),
                    "--pollInterval", "100ms"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli.env(),
    )
    try:
        for n in (2, 5):
            result = cli.json("create", "instance", "one-task", "--variables",
                              json.dumps({"n": n}), "--withResult", "--requestTimeout", "30s")
            assert result["variables"] == {"n": n, "tripled": 3 * n} or json.loads(
                result["variables"]
            ) == {"n": n, "tripled": 3 * n}
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_activate_and_complete_a_job_by_hand(cli: Zbctl, deployed: dict) -> None:
    created = cli.json("create", "instance", "waiting-task", "--variables", '{"hand": true}')

    def activate() -> list:
        out = cli.json("activate", "jobs", "waiting", "--maxJobsToActivate", "10",
                       "--timeout", "1m", "--requestTimeout", "2s")
        return out.get("jobs") or []

    jobs = wait_until(activate, timeout_s=30, interval_s=0.2)
    ours = [j for j in jobs if str(j["processInstanceKey"]) == str(created["processInstanceKey"])]
    assert ours, jobs
    job = ours[0]
    assert job["elementId"] == "task"
    variables = job["variables"] if isinstance(job["variables"], dict) else json.loads(
        job["variables"]
    )
    assert variables["hand"] is True
    out = cli.run("complete", "job", str(job["key"]), "--variables", '{"done": true}')
    assert "completed" in (out.stdout + out.stderr).lower()
    again = cli.run("complete", "job", str(job["key"]), check=False)
    assert again.returncode != 0
    assert "NotFound" in again.stderr or "NOT_FOUND" in again.stderr


def test_publish_message_correlates_to_a_waiting_instance(cli: Zbctl, deployed: dict) -> None:
    waiting = subprocess.Popen(
        cli.command("create", "instance", "wait-for-payment", "--variables",
                    '{"orderId": "zb-1"}', "--withResult", "--requestTimeout", "30s"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli.env(),
    )
    try:
        time.sleep(0.5)
        published = cli.json("publish", "message", "payment-received", "--correlationKey", "zb-1",
                             "--variables", '{"paid": true}', "--ttl", "1m")
        assert int(published["key"]) > 0
        stdout, stderr = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, stderr
    result = json.loads(stdout)
    variables = result["variables"]
    if isinstance(variables, str):
        variables = json.loads(variables)
    assert variables == {"orderId": "zb-1", "paid": True}


def test_cancel_instance(cli: Zbctl, deployed: dict) -> None:
    created = cli.json("create", "instance", "waiting-task")
    key = str(created["processInstanceKey"])
    out = cli.run("cancel", "instance", key)
    assert key in out.stdout + out.stderr
    again = cli.run("cancel", "instance", key, check=False)
    assert again.returncode != 0
