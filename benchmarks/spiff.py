"""The same models in SpiffWorkflow, the Python BPMN engine people would otherwise use: in
memory, one thread, no durability, no network.

SpiffWorkflow 3.2's plain `BpmnParser` maps bpmn:serviceTask to its default `ServiceTask`, whose
run does nothing and leaves the task STARTED (waiting), as a created job waits for a worker.
Each instance: create the workflow, run engine steps (start event -> service task STARTED), then
do the worker's part (merge {"done": True} into the task's data and complete it), run engine
steps again (end event) and check that the workflow completed. The parsed spec is reused, as
propolis reuses a deployed process.

    .venv/bin/python -m benchmarks.spiff --model one-task --duration 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

MODELS_DIR = Path(__file__).parent / "models"
MODELS = {
    # model: (file, process id, service tasks a worker completes per instance)
    "one-task": (MODELS_DIR / "one_task.bpmn", "bench-one-task", 1),
    "start-end": (MODELS_DIR / "start_end.bpmn", "bench-start-end", 0),
}
WINDOW_S = 1.0


def run_instance(spec, process_id: str, worker_tasks: int) -> None:
    workflow = BpmnWorkflow(spec)
    workflow.do_engine_steps()
    waiting = workflow.get_tasks(state=TaskState.STARTED)
    if len(waiting) != worker_tasks:
        raise RuntimeError(f"{process_id}: expected {worker_tasks} task(s) waiting for a worker, found {waiting}")
    for task in waiting:
        task.data.update({"done": True})
        task.complete()
    workflow.do_engine_steps()
    if not workflow.is_completed():
        raise RuntimeError(f"{process_id} did not complete in SpiffWorkflow")


def run(model: str, duration_s: float) -> dict:
    """Instances/s in windows of WINDOW_S for about duration_s (at least one window)."""
    path, process_id, worker_tasks = MODELS[model]
    parser = BpmnParser()
    parser.add_bpmn_file(str(path))
    spec = parser.get_spec(process_id)
    per_second: list[int] = []
    end = time.monotonic() + duration_s
    while not per_second or time.monotonic() < end:
        window_end = time.monotonic() + WINDOW_S
        count = 0
        while time.monotonic() < window_end:
            run_instance(spec, process_id, worker_tasks)
            count += 1
        per_second.append(round(count / WINDOW_S))
        print(f"spiff {model}: {count}/s", file=sys.stderr, flush=True)
    return {
        "engine": "SpiffWorkflow",
        "model": model,
        "instances_per_s_median": statistics.median(per_second),
        "per_second": per_second,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="one-task")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds (default 5)")
    args = parser.parse_args()
    print(json.dumps(run(args.model, args.duration)))


if __name__ == "__main__":
    main()
