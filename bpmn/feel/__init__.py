"""FEEL expressions (the part after '=' in a Zeebe model)."""

from propolis.bpmn.feel.evaluator import compile_feel

__all__ = ["compile_feel"]
