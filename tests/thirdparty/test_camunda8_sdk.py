"""@camunda8/sdk (from npm, unmodified): its Zeebe gRPC client against a real `propolis dev`.

The scenario is a node script, node/sdk_smoke.mjs; like node/sdk_cluster.mjs (which
test_cluster_clients.py runs against a cluster) it prints `SUMMARY {json}` on its last line.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.thirdparty.conftest import NODE_DIR

pytestmark = pytest.mark.thirdparty

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn" / "cli"
SCRIPT_TIMEOUT_S = 180


def run_sdk_script(node: Path, script: str, address: str, *args: str) -> dict[str, Any]:
    """Run one of node/*.mjs against a gateway and return its summary, which must say ok."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZEEBE_", "CAMUNDA_"))}
    env.update({
        "ZEEBE_GRPC_ADDRESS": f"grpc://{address}",
        "CAMUNDA_AUTH_STRATEGY": "NONE",
        "CAMUNDA_SECURE_CONNECTION": "false",
        "ZEEBE_INSECURE_CONNECTION": "true",
        "CAMUNDA_TENANT_ID": "",
    })
    result = subprocess.run(
        [str(node), str(NODE_DIR / script), *args], cwd=NODE_DIR, env=env,
        capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("SUMMARY ")]
    assert lines, f"no summary (exit {result.returncode})\n{result.stdout}\n{result.stderr}"
    summary = json.loads(lines[-1].removeprefix("SUMMARY "))
    assert summary["ok"], summary.get("error", "") + "\n" + result.stdout[-3000:]
    assert result.returncode == 0
    return summary


def test_deploy_work_create_with_result_publish_and_cancel(camunda8_sdk: Path,
                                                          propolis_dev) -> None:
    summary = run_sdk_script(camunda8_sdk, "sdk_smoke.mjs", propolis_dev.address, str(FIXTURES))
    assert summary["topology"] == {"clusterSize": 1, "partitionsCount": 1, "roles": ["LEADER"]}
    assert summary["deployed"] == ["one-task@1", "wait-for-payment@1", "waiting-task@1"]
    assert summary["handled"] == [3, 4]
    assert summary["results"] == [
        {"n": 3, "squared": 9, "by": "camunda8-sdk"},
        {"n": 4, "squared": 16, "by": "camunda8-sdk"},
    ]
    assert summary["messageResult"] == {"orderId": "sdk-1", "paid": "yes"}
    assert int(summary["messageKey"]) > 0
    assert int(summary["cancelled"]) > 0
