"""Compile FEEL expressions into Python closures over a variables mapping.

Parsing happens once (at deploy time); evaluation is a call of nested closures. Semantics
follow FEEL: `null` propagates through arithmetic and comparisons of unlike types, `and` and
`or` are three-valued, lists are indexed from 1 (negative from the end), a path into a list
maps over its elements, and a missing variable is `null` (as in Zeebe 8).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedToken
from propolis.bpmn.errors import FeelEvaluationError, FeelSyntaxError

Compiled = Callable[[Mapping[str, Any]], Any]

_PARSER = Lark(
    (Path(__file__).parent / "feel.lark").read_text(encoding="utf-8"),
    parser="lalr",
    maybe_placeholders=True,
)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _normalize(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _arithmetic(op: Callable[[Any, Any], Any], allow_strings: bool = False) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        if _is_number(left) and _is_number(right):
            try:
                return _normalize(op(left, right))
            except (ZeroDivisionError, OverflowError):
                return None
        if allow_strings and isinstance(left, str) and isinstance(right, str):
            return left + right
        return None

    return apply


_ADD = _arithmetic(lambda a, b: a + b, allow_strings=True)
_SUB = _arithmetic(lambda a, b: a - b)
_MUL = _arithmetic(lambda a, b: a * b)
_DIV = _arithmetic(lambda a, b: a / b)
_POW = _arithmetic(lambda a, b: a**b)


def _comparable(left: Any, right: Any) -> bool:
    if _is_number(left) and _is_number(right):
        return True
    return type(left) is type(right) and isinstance(left, str)


def _equal(left: Any, right: Any) -> Any:
    if left is None or right is None:
        return left is None and right is None
    if _is_number(left) and _is_number(right):
        return left == right
    if type(left) is not type(right):
        return None
    return left == right


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": _equal,
    "!=": lambda a, b: None if (r := _equal(a, b)) is None else not r,
    "<": lambda a, b: a < b if _comparable(a, b) else None,
    "<=": lambda a, b: a <= b if _comparable(a, b) else None,
    ">": lambda a, b: a > b if _comparable(a, b) else None,
    ">=": lambda a, b: a >= b if _comparable(a, b) else None,
}


def _string(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if _is_number(value):
        return str(_normalize(value))
    return str(value)


def _number(value: Any) -> Any:
    if _is_number(value):
        return value
    if isinstance(value, str):
        try:
            return _normalize(float(value)) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return None
    return None


def _numbers(values: Any) -> list | None:
    if not isinstance(values, list) or not all(_is_number(v) for v in values):
        return None
    return values


def _aggregate(fn: Callable[[list], Any], empty: Any = None) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
        numbers = _numbers(values)
        if numbers is None:
            return None
        return fn(numbers) if numbers else empty

    return call


BUILTINS: dict[str, Callable[..., Any]] = {
    "string length": lambda s: len(s) if isinstance(s, str) else None,
    "upper case": lambda s: s.upper() if isinstance(s, str) else None,
    "lower case": lambda s: s.lower() if isinstance(s, str) else None,
    "contains": lambda s, t: t in s if isinstance(s, str) and isinstance(t, str) else None,
    "starts with": lambda s, t: s.startswith(t) if isinstance(s, str) and isinstance(t, str) else None,
    "ends with": lambda s, t: s.endswith(t) if isinstance(s, str) and isinstance(t, str) else None,
    "count": lambda xs: len(xs) if isinstance(xs, list) else None,
    "sum": _aggregate(lambda xs: _normalize(sum(xs))),
    "min": _aggregate(min),
    "max": _aggregate(max),
    "abs": lambda n: abs(n) if _is_number(n) else None,
    "floor": lambda n: math.floor(n) if _is_number(n) else None,
    "ceiling": lambda n: math.ceil(n) if _is_number(n) else None,
    "round": lambda n, scale=0: _normalize(round(n, scale)) if _is_number(n) and _is_number(scale) else None,
    "string": _string,
    "number": _number,
    "not": lambda b: (not b) if isinstance(b, bool) else None,
}


def _lookup(container: Any, name: str) -> Any:
    if isinstance(container, Mapping):
        return container.get(name)
    if isinstance(container, list):
        return [_lookup(item, name) for item in container]
    return None


class _Item(Mapping[str, Any]):
    """Variables seen inside a filter: `item`, the item's own fields, then the outer scope."""

    def __init__(self, item: Any, outer: Mapping[str, Any]) -> None:
        self._item = item
        self._outer = outer

    def get(self, name: str, default: Any = None) -> Any:
        if name == "item":
            return self._item
        if isinstance(self._item, Mapping) and name in self._item:
            return self._item[name]
        return self._outer.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self):  # pragma: no cover - expressions never iterate scopes
        return iter(())

    def __len__(self) -> int:  # pragma: no cover
        return 0


@v_args(inline=True)
class _Compiler(Transformer):
    def number(self, token: Token) -> Compiled:
        text = str(token)
        value = float(text) if "." in text else int(text)
        return lambda v: value

    def string(self, token: Token) -> Compiled:
        value = bytes(str(token)[1:-1], "utf-8").decode("unicode_escape") if "\\" in token else str(token)[1:-1]
        return lambda v: value

    def true(self) -> Compiled:
        return lambda v: True

    def false(self) -> Compiled:
        return lambda v: False

    def null(self) -> Compiled:
        return lambda v: None

    def name(self, token: Token) -> str:
        return str(token)

    def variable(self, name: str) -> Compiled:
        return lambda v: v.get(name)

    def path(self, base: Compiled, name: str) -> Compiled:
        return lambda v: _lookup(base(v), name)

    def index(self, base: Compiled, selector: Compiled) -> Compiled:
        def evaluate(v: Mapping[str, Any]) -> Any:
            collection = base(v)
            if not isinstance(collection, list):
                collection = [collection] if collection is not None else None
            if collection is None:
                return None
            chosen = selector(v)
            if _is_number(chosen):
                position = int(chosen)
                if position > 0 and position <= len(collection):
                    return collection[position - 1]
                if position < 0 and -position <= len(collection):
                    return collection[position]
                return None
            return [item for item in collection if selector(_Item(item, v)) is True]

        return evaluate

    def args(self, *items: Compiled) -> list[Compiled]:
        return list(items)

    def call(self, function: Token | str, arguments: list[Compiled] | None) -> Compiled:
        if str(function) not in BUILTINS and str(function) != "is defined":
            raise FeelSyntaxError(f"the function '{function}' is not supported yet")
        builtin = BUILTINS.get(str(function))
        arguments = arguments or []
        if str(function) == "is defined":
            if len(arguments) != 1:
                raise FeelSyntaxError("'is defined' takes exactly one argument")
            inner = arguments[0]
            return lambda v: inner(v) is not None

        def evaluate(v: Mapping[str, Any]) -> Any:
            try:
                return builtin(*(argument(v) for argument in arguments))
            except TypeError as error:
                raise FeelEvaluationError(f"function '{function}' cannot take these arguments: {error}") from None

        return evaluate

    def list_literal(self, items: list[Compiled] | None) -> Compiled:
        items = items or []
        return lambda v: [item(v) for item in items]

    def entry(self, key: Any, value: Compiled) -> tuple[str, Compiled]:
        key = str(key)
        if key.startswith('"'):
            key = key[1:-1]
        return key, value

    def entries(self, *pairs: tuple[str, Compiled]) -> list[tuple[str, Compiled]]:
        return list(pairs)

    def context_literal(self, pairs: list[tuple[str, Compiled]] | None) -> Compiled:
        pairs = pairs or []
        return lambda v: {key: value(v) for key, value in pairs}

    def neg(self, operand: Compiled) -> Compiled:
        return lambda v: -x if _is_number(x := operand(v)) else None

    def add(self, a: Compiled, b: Compiled) -> Compiled:
        return lambda v: _ADD(a(v), b(v))

    def sub(self, a: Compiled, b: Compiled) -> Compiled:
        return lambda v: _SUB(a(v), b(v))

    def mul(self, a: Compiled, b: Compiled) -> Compiled:
        return lambda v: _MUL(a(v), b(v))

    def div(self, a: Compiled, b: Compiled) -> Compiled:
        return lambda v: _DIV(a(v), b(v))

    def pow(self, a: Compiled, b: Compiled) -> Compiled:
        return lambda v: _POW(a(v), b(v))

    def compare(self, a: Compiled, op: Token, b: Compiled) -> Compiled:
        compare = _COMPARE[str(op)]
        return lambda v: compare(a(v), b(v))

    def between(self, value: Compiled, low: Compiled, high: Compiled) -> Compiled:
        def evaluate(v: Mapping[str, Any]) -> Any:
            x, lo, hi = value(v), low(v), high(v)
            if not (_comparable(x, lo) and _comparable(x, hi)):
                return None
            return lo <= x <= hi

        return evaluate

    def in_expr(self, value: Compiled, candidates: Compiled) -> Compiled:
        def evaluate(v: Mapping[str, Any]) -> Any:
            x, pool = value(v), candidates(v)
            if isinstance(pool, list):
                return any(_equal(x, c) is True for c in pool)
            return _equal(x, pool)

        return evaluate

    def and_expr(self, *operands: Compiled) -> Compiled:
        def evaluate(v: Mapping[str, Any]) -> Any:
            unknown = False
            for operand in operands:
                result = operand(v)
                if result is False:
                    return False
                if result is not True:
                    unknown = True
            return None if unknown else True

        return evaluate

    def or_expr(self, *operands: Compiled) -> Compiled:
        def evaluate(v: Mapping[str, Any]) -> Any:
            unknown = False
            for operand in operands:
                result = operand(v)
                if result is True:
                    return True
                if result is not False:
                    unknown = True
            return None if unknown else False

        return evaluate

    def if_expr(self, condition: Compiled, then: Compiled, otherwise: Compiled) -> Compiled:
        return lambda v: then(v) if condition(v) is True else otherwise(v)


_COMPILER = _Compiler()


@lru_cache(maxsize=4096)
def compile_feel(text: str) -> Compiled:
    """Compile FEEL text (without the leading '='). Raises FeelSyntaxError naming the text
    and where it went wrong."""
    stripped = text.strip()
    if not stripped:
        raise FeelSyntaxError("the expression is empty")
    try:
        tree = _PARSER.parse(stripped)
        return _COMPILER.transform(tree)
    except UnexpectedEOF:
        raise FeelSyntaxError(f"failed to parse FEEL expression '{stripped}': it ends too early") from None
    except (UnexpectedCharacters, UnexpectedToken) as error:
        token = getattr(error, "token", None)
        if token is not None and getattr(token, "type", "") == "$END":
            raise FeelSyntaxError(f"failed to parse FEEL expression '{stripped}': it ends too early") from None
        column = getattr(error, "column", "?")
        raise FeelSyntaxError(
            f"failed to parse FEEL expression '{stripped}': unexpected {_found(error)} at column {column}"
        ) from None
    except LarkError as error:
        cause = error.__context__ if isinstance(error.__context__, FeelSyntaxError) else None
        if cause is not None:
            raise cause from None
        raise FeelSyntaxError(f"failed to parse FEEL expression '{stripped}': {error}") from None


def _found(error: Exception) -> str:
    token = getattr(error, "token", None)
    if token is not None and getattr(token, "type", "") == "$END":
        return "the end of the expression"
    if token is not None:
        return f"'{token}'"
    char = getattr(error, "char", None)
    return f"'{char}'" if char else "input"
