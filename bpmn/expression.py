"""Expressions in a model: a static value, or FEEL when the text starts with '='.

Compiled once, when the model is parsed, and shared between models that repeat the same text
(an LRU cache keyed by the text). Evaluating is a direct call of the compiled closure:
`=orderId` is one `variables.get("orderId")`.

Missing variables evaluate to null, as in Zeebe 8. When a null is not acceptable (a
correlation key, a job type), ask why: `explain(variables)` re-evaluates with bookkeeping
and returns the warnings ("no variable found with name 'orderId'"), and
`evaluate_or_raise(variables)` raises `FeelEvaluationError` carrying them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from propolis.bpmn.errors import FeelEvaluationError
from propolis.bpmn.feel import TracingScope, compile_feel
from propolis.bpmn.feel.plain import PLAIN_TYPES, to_plain

# Distinct expression texts kept compiled. Models repeat a few texts many times; a deployment
# of new texts beyond this only costs recompiling the least recently used ones.
EXPRESSION_CACHE_SIZE = 4096


class StaticExpression:
    """A value written as is (`type="charge"`): evaluates to its text."""

    __slots__ = ("source",)
    is_static = True

    def __init__(self, source: str) -> None:
        self.source = source

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        return self.source

    def explain(self, variables: Mapping[str, Any]) -> list[str]:
        return []

    def evaluate_or_raise(self, variables: Mapping[str, Any]) -> Any:
        return self.source

    def __repr__(self) -> str:
        return f"StaticExpression({self.source!r})"


class FeelExpression:
    """A FEEL expression (`=amount > 100`), compiled.

    `evaluate` is the compiled closure itself, stored on the instance, so calling it costs no
    extra Python frame: it is on the engine's hot path.
    """

    __slots__ = ("source", "evaluate", "_traced")
    is_static = False
    evaluate: Callable[[Mapping[str, Any]], Any]

    def __init__(self, source: str) -> None:
        self.source = source  # as written, with the leading '='
        self.evaluate = _plain_results(compile_feel(source))
        self._traced: Callable[[Any], Any] | None = None

    def explain(self, variables: Mapping[str, Any]) -> list[str]:
        """Why evaluating against `variables` gives what it gives: every warning FEEL would
        report (missing variables and context entries, type mismatches, ...), in order."""
        if self._traced is None:
            self._traced = compile_feel(self.source, trace=True)
        warnings: list[str] = []
        self._traced(TracingScope(variables, warnings))
        return list(dict.fromkeys(warnings))  # once each, in order

    def evaluate_or_raise(self, variables: Mapping[str, Any]) -> Any:
        """Like `evaluate`, but a null result that has a reason (a missing variable, a type
        mismatch) raises `FeelEvaluationError` naming it. A variable that holds null still
        evaluates to null: that is the user's value, not a failure."""
        value = self.evaluate(variables)
        if value is None:
            warnings = self.explain(variables)
            if warnings:
                raise FeelEvaluationError(self.source, warnings)
        return value

    def __repr__(self) -> str:
        return f"FeelExpression({self.source!r})"


def _plain_results(compiled: Callable[[Any], Any]) -> Callable[[Mapping[str, Any]], Any]:
    """Results leave FEEL as JSON values (variables, job types, timer values): a date as
    "2024-01-31", a duration as "PT1H", as Zeebe writes them."""

    def evaluate(variables: Mapping[str, Any]) -> Any:
        result = compiled(variables)
        return result if type(result) in PLAIN_TYPES else to_plain(result)

    return evaluate


@lru_cache(maxsize=EXPRESSION_CACHE_SIZE)
def compile_expression(source: str) -> StaticExpression | FeelExpression:
    """Compile a value from a model. Text starting with '=' (after leading blanks) is FEEL;
    anything else is static. Raises `FeelSyntaxError` when the FEEL does not parse."""
    if source.lstrip().startswith("="):
        return FeelExpression(source.strip())
    return StaticExpression(source)
