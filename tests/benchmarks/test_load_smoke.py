"""The load generator works end to end (no timing is asserted: benchmarks measure that)."""

from __future__ import annotations

import asyncio

from benchmarks import load, spiff


def test_the_load_generator_completes_instances_without_errors(propolis_dev):
    summary = asyncio.run(load.run_load(propolis_dev.address, "one-task", "rate", 20, 0, 2.0, 0.5, 2))
    assert summary["errors"] == {}
    assert summary["completed_per_s_mean"] > 0
    assert summary["latency_ms_p50"] > 0


def test_spiff_runs_the_same_model_to_completion():
    result = spiff.run("one-task", 0.2)
    assert result["instances_per_s_median"] > 0
