"""The benchmark tools work end to end (no timing is asserted: benchmarks measure that)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from benchmarks import load, spiff

REPO = Path(__file__).resolve().parents[2]


def test_the_load_generator_completes_instances_without_errors(propolis_dev):
    summary = asyncio.run(load.run_load(propolis_dev.address, "one-task", "rate", 20, 0, 2.0, 0.5, 2))
    assert summary["errors"] == {}
    assert summary["resource_exhausted"] == 0
    assert summary["completed"] == summary["created"] > 0
    assert summary["jobs_completed"] == summary["completed"]
    assert summary["latency_ms_p50"] > 0


def test_the_command_line_starts_propolis_dev_and_reports_json():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.load", "--model", "one-task", "--mode", "rate", "--rate", "20",
         "--duration", "3", "--warmup", "0.5", "--workers", "1", "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["completed"] > 0
    assert summary["errors"] == {} and summary["resource_exhausted"] == 0
    assert summary["broker_cores"] is not None


def test_spiff_runs_the_same_models_to_completion():
    for model in spiff.MODELS:
        assert spiff.run(model, 0.2)["instances_per_s_median"] > 0
