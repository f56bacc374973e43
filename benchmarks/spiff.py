"""The same models in SpiffWorkflow, the Python BPMN engine people would otherwise use: in
memory, one thread, no durability. The service task is completed in place, as a worker would.

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

MODELS = {
    "one-task": (Path(__file__).parent / "models" / "one_task.bpmn", "bench-one-task"),
    "start-end": (Path(__file__).parent / "models" / "start_end.bpmn", "bench-start-end"),
}


def run(model: str, duration_s: float) -> dict:
    path, process_id = MODELS[model]
    parser = BpmnParser()
    parser.add_bpmn_file(str(path))
    spec = parser.get_spec(process_id)
    per_second: list[int] = []
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        window_end = time.monotonic() + 1.0
        count = 0
        while time.monotonic() < window_end:
            workflow = BpmnWorkflow(spec)
            workflow.do_engine_steps()
            for task in workflow.get_tasks(state=TaskState.STARTED):
                task.data["done"] = True
                task.complete()
            workflow.do_engine_steps()
            if not workflow.is_completed():
                raise RuntimeError(f"{process_id} did not complete in SpiffWorkflow")
            count += 1
        per_second.append(count)
        print(f"spiff {model}: {count}/s", file=sys.stderr, flush=True)
    return {"engine": "SpiffWorkflow", "model": model, "instances_per_s_median": statistics.median(per_second), "windows": per_second}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="one-task")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds (default 5)")
    args = parser.parse_args()
    print(json.dumps(run(args.model, args.duration)))


if __name__ == "__main__":
    main()
