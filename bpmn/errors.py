"""Errors of the bpmn package. Messages are written from the user's side and say where.

A model that cannot be deployed raises `BpmnParseError` listing *every* problem found, so a
user fixes a file in one round trip. FEEL has two failures: `FeelSyntaxError` at deploy time
(the text does not parse) and `FeelEvaluationError` at run time (see
`Expression.evaluate_or_raise`); a plain `evaluate` never raises for bad data, it yields null
as FEEL does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# How much of a long expression an error message quotes.
QUOTED_EXPRESSION_CHARS_MAX = 200


class BpmnError(Exception):
    """Root of the errors that parsing a model or evaluating its expressions raises."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a resource, located as precisely as the XML allows.

    `message` says what is wrong and, as a second sentence, what to do instead.
    """

    message: str
    element_id: str | None = None
    element_type: str | None = None  # e.g. 'bpmn:userTask'
    line: int | None = None
    resource_name: str = ""

    def __str__(self) -> str:
        # Reads: "order.bpmn line 12: element 'Task_1' (bpmn:userTask): <what>. <hint>"
        where = " ".join(part for part in (self.resource_name, _line(self.line)) if part)
        subject = ""
        if self.element_id is not None:
            kind = f" ({self.element_type})" if self.element_type else ""
            subject = f"element '{self.element_id}'{kind}: "
        elif self.element_type is not None:
            subject = f"{self.element_type}: "
        return f"{where}: {subject}{self.message}" if where else f"{subject}{self.message}"


def _line(line: int | None) -> str:
    return f"line {line}" if line is not None else ""


class BpmnParseError(BpmnError):
    """A resource is not a model that propolis can run; `problems` lists every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(f"- {problem}" for problem in self.problems))


class FeelSyntaxError(BpmnError):
    """A FEEL expression does not parse, or calls a function that does not exist.

    `expression` is the text as written (with its leading '='), `reason` what went wrong,
    `line`/`column` (1-based, within the expression) where, when known, and `hint` what to
    write instead, when there is a likely fix.
    """

    def __init__(
        self,
        expression: str,
        reason: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.expression = expression
        self.reason = reason
        self.line = line
        self.column = column
        self.hint = hint
        super().__init__(self._describe())

    def _describe(self) -> str:
        position = ""
        if self.column is not None:
            position = f" at column {self.column}"
            if self.line is not None and self.line > 1:
                position = f" at line {self.line}, column {self.column}"
        hint = f". {self.hint}" if self.hint else ""
        quoted = self.expression
        if len(quoted) > QUOTED_EXPRESSION_CHARS_MAX:  # the position says where; keep messages short
            quoted = quoted[: QUOTED_EXPRESSION_CHARS_MAX - 3] + "..."
        return f"failed to parse FEEL expression '{quoted}': {self.reason}{position}{hint}"


class FeelEvaluationError(BpmnError):
    """An expression could not produce a value for the given variables.

    `warnings` are the reasons the evaluation reported, each a sentence such as
    "no variable found with name 'orderId'".
    """

    def __init__(self, expression: str, warnings: Sequence[str]) -> None:
        self.expression = expression
        self.warnings = list(warnings)
        reasons = "; ".join(self.warnings) if self.warnings else "the result is null"
        super().__init__(f"failed to evaluate expression '{expression}': {reasons}")
