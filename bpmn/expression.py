"""Expressions in a model: static text, or FEEL when the text starts with '='.

Compiled once, when the model is parsed. A plain variable name (`=orderId`), the most common
expression in models, is a single mapping lookup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from propolis.bpmn.feel import compile_feel

_SIMPLE_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_KEYWORDS = {"true", "false", "null", "if", "then", "else", "and", "or", "not", "in", "between"}


class StaticExpression:
    is_static = True

    def __init__(self, source: str) -> None:
        self.source = source

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        return self.source


class FeelExpression:
    is_static = False

    def __init__(self, source: str) -> None:
        self.source = source
        body = source[1:].strip()
        if _SIMPLE_NAME.match(body) and body not in _KEYWORDS:
            self._compiled = lambda variables, name=body: variables.get(name)
        else:
            self._compiled = compile_feel(body)

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        return self._compiled(variables)


@lru_cache(maxsize=8192)
def compile_expression(source: str) -> StaticExpression | FeelExpression:
    """Raises `FeelSyntaxError` when a FEEL expression does not parse."""
    if source.lstrip().startswith("="):
        return FeelExpression(source.strip())
    return StaticExpression(source)
