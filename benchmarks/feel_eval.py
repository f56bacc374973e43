"""FEEL evaluation cost per expression shape, as the engine calls it (compiled closure, JSON-like
variables): the conditions and mappings that models use most.

    .venv/bin/python -m benchmarks.feel_eval

Prints nanoseconds per evaluation (best of 5 runs) for each expression.
"""

from __future__ import annotations

import timeit

from propolis.bpmn.expression import compile_expression

VARIABLES = {"amount": 150, "price": 9.5, "order": {"customer": {"id": "c7"}}, "status": "ok", "n": 3, "items": [1, 2, 3]}
EXPRESSIONS = (
    "=amount > 100",
    "=price > 9.25",
    "=order.customer.id",
    '=status = "ok"',
    "=n + 1",
    "=amount * 2 + n",
    "=price * 2",
    "=count(items) > 2",
)
EVALUATIONS_PER_RUN = 200_000
RUNS = 5


def main() -> None:
    for source in EXPRESSIONS:
        evaluate = compile_expression(source).evaluate
        best_s = min(timeit.repeat(lambda evaluate=evaluate: evaluate(VARIABLES), number=EVALUATIONS_PER_RUN, repeat=RUNS))
        print(f"{source:24s} {best_s / EVALUATIONS_PER_RUN * 1e9:6.0f} ns  -> {evaluate(VARIABLES)!r}")


if __name__ == "__main__":
    main()
