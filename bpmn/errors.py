"""Errors of the bpmn package. Messages are written from the user's side and say where."""

from __future__ import annotations

from dataclasses import dataclass


class BpmnError(Exception):
    """Root of the errors that parsing or evaluating a model raises."""


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    element_id: str | None = None
    element_type: str | None = None
    line: int | None = None
    resource_name: str = ""

    def __str__(self) -> str:
        where = []
        if self.resource_name:
            where.append(self.resource_name)
        if self.line is not None:
            where.append(f"line {self.line}")
        prefix = " ".join(where)
        if self.element_id is not None:
            kind = f" ({self.element_type})" if self.element_type else ""
            subject = f"element '{self.element_id}'{kind}: "
        else:
            subject = ""
        return f"{prefix}: {subject}{self.message}" if prefix else f"{subject}{self.message}"


class BpmnParseError(BpmnError):
    """A resource is not a model that propolis can run; lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"- {problem}" for problem in problems))


class FeelSyntaxError(BpmnError):
    """An expression does not parse; the message names the text and the position."""


class FeelEvaluationError(BpmnError):
    """An expression could not be evaluated for the given variables."""
