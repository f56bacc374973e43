"""FEEL, the expression language of Zeebe models (the text after a leading '=').

`compile_feel(text)` returns a closure `variables -> value`; see `compiler.py` for how, and
`values.py` for FEEL's semantics in Python terms. Most callers want
`propolis.bpmn.expression.compile_expression`, which also handles static values and caching.
"""

from propolis.bpmn.feel.compiler import TracingScope, compile_feel

__all__ = ["TracingScope", "compile_feel"]
