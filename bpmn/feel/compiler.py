"""Compile FEEL text into a Python closure over a variables mapping.

Parsing happens once per distinct expression text (at deploy time); evaluating is a call of
nested closures, with no tree walking. A variable or a path (`orderId`, `order.customer.id`),
the most common expressions in models, compiles to plain `.get` calls.

Each expression can be compiled twice. The *fast* closure is what the engine runs. The
*traced* closure is compiled lazily, only when someone asks why a result was null: it
evaluates the same way but records warnings ("no variable found with name 'x'") in the
scope it is given. The fast path never pays for the bookkeeping.

Scopes: closures receive a mapping of variables and only call `.get`, `in` and `[]` on it,
never iterate it (the engine passes a lazy view over a chain of scopes). Filters and context
literals wrap it in a small scope object of their own.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)
from propolis.bpmn.errors import FeelSyntaxError
from propolis.bpmn.feel import temporal, values
from propolis.bpmn.feel.builtins import BUILTINS as _BASICS
from propolis.bpmn.feel.library import LIBRARY, positional, with_conversions
from propolis.bpmn.feel.numbers import from_decimal
from propolis.bpmn.feel.values import (
    ARITHMETIC,
    COMPARISON,
    Range,
    UnaryTest,
    comparable,
    describe,
    describe_arithmetic_failure,
    describe_comparison_failure,
    describe_lookup_failure,
    equal,
    float_comparison,
    is_number,
    lookup,
)

Compiled = Callable[[Any], Any]

BUILTINS: dict[str, Callable[..., Any]] = {name: with_conversions(name, f) for name, f in {**_BASICS, **LIBRARY}.items()}

# Longer texts are refused: a model is not the place for a program, and the cost of
# parsing must stay small at deploy time.
EXPRESSION_CHARS_MAX = 65_536

_PARSER = Lark(
    (Path(__file__).parent / "feel.lark").read_text(encoding="utf-8"),
    parser="lalr",
    maybe_placeholders=True,
)

# FEEL's string escapes. Any other backslash stays as written, so that regular expressions
# read naturally: "\d+" is the pattern \d+.
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|U[0-9a-fA-F]{6}|.)", re.DOTALL)


def _unescape(body: str) -> str:
    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "uU" and len(code) > 1:
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, match.group(0))

    if "\\" not in body:
        return body
    text = _ESCAPE.sub(replace, body)
    # \uD83D\uDCA9: a surrogate pair written as two escapes is one character
    return text.encode("utf-16", "surrogatepass").decode("utf-16") if any("\ud800" <= c <= "\udfff" for c in text) else text


# -- scopes -------------------------------------------------------------------------------
class TracingScope:
    """The engine's variables, seen by a traced closure: also holds the warnings list."""

    __slots__ = ("variables", "warnings")

    def __init__(self, variables: Mapping[str, Any], warnings: list[str]) -> None:
        self.variables = variables
        self.warnings = warnings

    def get(self, name: str, default: Any = None) -> Any:
        return self.variables.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.variables

    def __getitem__(self, name: str) -> Any:
        return self.variables[name]


class _ItemScope:
    """Inside a filter `xs[...]`: the item's entries, then `item`, then the outer scope."""

    __slots__ = ("item", "outer", "warnings")

    def __init__(self, item: Any, outer: Any, warnings: list[str] | None) -> None:
        self.item = item
        self.outer = outer
        self.warnings = warnings

    def get(self, name: str, default: Any = None) -> Any:
        item = self.item
        if isinstance(item, Mapping) and name in item:
            return item[name]  # an entry named `item` wins over the item itself, as in the TCK
        if name == "item":
            return item
        return self.outer.get(name, default)

    def __contains__(self, name: str) -> bool:
        item = self.item
        return name == "item" or (isinstance(item, Mapping) and name in item) or name in self.outer

    def __getitem__(self, name: str) -> Any:
        if name in self:
            return self.get(name)
        raise KeyError(name)


class _ContextScope:
    """Inside a context literal: entries defined so far (`{a: 1, b: a + 1}`), then outside."""

    __slots__ = ("entries", "outer", "warnings")

    def __init__(self, entries: dict[str, Any], outer: Any, warnings: list[str] | None) -> None:
        self.entries = entries
        self.outer = outer
        self.warnings = warnings

    def get(self, name: str, default: Any = None) -> Any:
        entries = self.entries
        if name in entries:
            return entries[name]
        return self.outer.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.entries or name in self.outer

    def __getitem__(self, name: str) -> Any:
        if name in self.entries:
            return self.entries[name]
        return self.outer[name]


def _constant(value: Any) -> Compiled:
    """A closure for a literal; it remembers its value so operators can fold or inline it."""

    def constant(v: Any) -> Any:
        return value

    constant.feel_constant = (value,)  # type: ignore[attr-defined]
    return constant


def _constant_of(compiled: Compiled) -> tuple[Any] | None:
    return getattr(compiled, "feel_constant", None)


def _binary(apply: Callable[[Any, Any], Any], left: Compiled, right: Compiled) -> Compiled:
    """`left op right` for the fast path, specialised for the shapes models use most:
    `name op literal` is one closure call, and `literal op literal` is folded now."""
    left_constant, right_constant = _constant_of(left), _constant_of(right)
    if left_constant is not None and right_constant is not None:
        return _constant(apply(left_constant[0], right_constant[0]))
    names = _names_of(left)
    if right_constant is not None:
        value = right_constant[0]
        if type(value) is Decimal and (literal := float_comparison(apply, value)) is not None:
            if names is not None and len(names) == 1:
                name = names[0]
                return lambda v: literal(v.get(name))
            return lambda v: literal(left(v))
        if names is not None and len(names) == 1:
            name = names[0]
            return lambda v: apply(v.get(name), value)
        return lambda v: apply(left(v), value)
    return lambda v: apply(left(v), right(v))


def _names_of(compiled: Compiled) -> tuple[str, ...] | None:
    """The path a closure reads (`a.b.c` -> ('a', 'b', 'c')), if it is just a path."""
    return getattr(compiled, "feel_names", None)


def _with_names(compiled: Compiled, names: tuple[str, ...]) -> Compiled:
    compiled.feel_names = names  # type: ignore[attr-defined]
    return compiled


def _fast_path(names: tuple[str, ...]) -> Compiled:
    """A closure for a variable or a path: dict lookups, no intermediate closures."""
    first = names[0]
    if len(names) == 1:

        def variable(v: Any) -> Any:
            return v.get(first)

        return _with_names(variable, names)
    if len(names) == 2:
        second = names[1]

        def path2(v: Any) -> Any:
            container = v.get(first)
            if type(container) is dict:
                return container.get(second)
            return lookup(container, second)

        return _with_names(path2, names)
    rest = names[1:]

    def path(v: Any) -> Any:
        value = v.get(first)
        for name in rest:
            value = value.get(name) if type(value) is dict else lookup(value, name)
        return value

    return _with_names(path, names)


def _exists(names: tuple[str, ...]) -> Compiled:
    """`is defined(a.b)`: whether the variable (and each context entry) exists, even if null."""
    first, rest = names[0], names[1:]

    def evaluate(v: Any) -> Any:
        if first not in v:
            return False
        value = v[first]
        for name in rest:
            if isinstance(value, Mapping) and name in value:
                value = value[name]
            elif isinstance(value, list):
                value = lookup(value, name)
            else:
                return False
        return True

    return evaluate


def _key_text(token: Token) -> str:
    text = str(token).strip()
    return _unescape(text[1:-1]) if text.startswith('"') else text


class _Name(str):
    """A name as written, remembering where (for messages about it)."""

    line: int | None
    column: int | None

    def __new__(cls, text: str, token: Token) -> _Name:
        name = super().__new__(cls, text)
        name.line, name.column = token.line, token.column
        return name


class NamedArguments(list):
    """Arguments given by name: a list of (name, compiled)."""


class FeelFunction:
    """A function literal's value: its parameters, its body and the scope it was made in."""

    __slots__ = ("parameters", "body", "scope", "trace")

    def __init__(self, parameters: list[str], body: Compiled, scope: Any, trace: bool) -> None:
        self.parameters = parameters
        self.body = body
        self.scope = scope
        self.trace = trace

    def __call__(self, *args: Any, **named: Any) -> Any:
        bound = dict(zip(self.parameters, args, strict=False))
        for name in self.parameters:
            bound.setdefault(name, named.get(name))
        warnings = self.scope.warnings if self.trace else None
        return self.body(_ContextScope(bound, self.scope, warnings))


def _typed_body(body: Compiled, types: list[tuple[str, str]]) -> Compiled:
    """A function body whose typed parameters (`function(a: number)`) are checked first: an
    argument of another type makes the call null."""

    def checked(scope: Any) -> Any:
        for name, type_name in types:
            if values.instance_of(scope.get(name), type_name) is not True:
                return None
        return body(scope)

    return checked


def _matches_test(value: Any, pool: Any) -> Any:
    """`value in pool` for one positive unary test: a range contains it, a list has it (or a
    range of it containing it), a function accepts it, anything else equals it."""
    if isinstance(pool, Range):
        return pool.contains(value)
    if type(pool) is UnaryTest:
        return pool.matches(value)
    if isinstance(pool, list):
        if isinstance(value, list) and equal(value, pool) is True:
            return True
        return any(_matches_test(value, item) is True for item in pool)
    if callable(pool):
        outcome = pool(value)
        return outcome if isinstance(outcome, bool) else None
    return equal(value, pool)


def _python_name(function: Any, name: str) -> str:
    """A FEEL parameter name as the Python function spells it ("start position" ->
    start_position, "from" -> from_)."""
    python = name.replace(" ", "_")
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return python
    return python if python in parameters or python + "_" not in parameters else python + "_"


def _range_items(interval: Range) -> list[Any] | None:
    """The values a `for` walks over a range of whole numbers or of dates; else None."""
    low, high = interval.start, interval.end
    if type(low) is int and type(high) is int:
        step = 1 if high >= low else -1
        items: list[Any] = list(range(low, high + step, step))
    elif type(low) is type(high) is temporal._D:
        step_days = temporal._TD(days=1 if high >= low else -1)
        items = []
        while (day := low + step_days * len(items)) != high + step_days:
            items.append(day)
    else:
        return None
    if items and not interval.start_included:
        items = items[1:]
    if items and not interval.end_included:
        items = items[:-1]
    return items


def _call(function: Any, args: list[Any], named: dict[str, Any] | None) -> Any:
    try:
        if named is not None:
            if isinstance(function, FeelFunction):
                return function(**named)
            return function(**{_python_name(function, name): value for name, value in named.items()})
        return function(*args)
    except _INVOCATION_FAILURES:
        return None


# -- the compiler -------------------------------------------------------------------------
@v_args(inline=True)
class _Compiler(Transformer):
    """Tree -> closure. `trace` builds the closures that record warnings (see module doc)."""

    def __init__(self, source: str, trace: bool) -> None:
        super().__init__()
        self.source = source
        self.trace = trace
        self.bound_names: set[str] = set()

    # literals
    def number(self, token: Token) -> Compiled:
        text = str(token)
        if "." in text or "e" in text or "E" in text:
            return _constant(from_decimal(Decimal(text)))
        return _constant(int(text))

    def temporal(self, token: Token) -> Compiled:
        return _constant(temporal.parse_temporal(_unescape(str(token)[2:-1])))

    # ranges
    def _range(self, low: Compiled, high: Compiled, low_in: bool, high_in: bool) -> Compiled:
        return lambda v: Range(low(v), high(v), low_in, high_in)

    def range_closed(self, low: Compiled, high: Compiled) -> Compiled:
        return self._range(low, high, True, True)

    def range_closed_open(self, low: Compiled, high: Compiled) -> Compiled:
        return self._range(low, high, True, False)

    def range_open_closed(self, low: Compiled, high: Compiled) -> Compiled:
        return self._range(low, high, False, True)

    def range_open(self, low: Compiled, high: Compiled) -> Compiled:
        return self._range(low, high, False, False)

    # iteration and quantifiers
    def iteration(self, name: str, start: Compiled, end: Compiled | None) -> tuple[str, Compiled]:
        if end is None:
            return name, start

        def numbers(v: Any) -> Any:
            low, high = start(v), end(v)
            if type(low) is type(high) is temporal._D:
                step = temporal._TD(days=1 if high >= low else -1)
                days = []
                while (day := low + step * len(days)) != high + step:
                    days.append(day)
                return days
            if type(low) is not int or type(high) is not int:
                return None
            step = 1 if high >= low else -1
            return list(range(low, high + step, step))

        return name, numbers

    def binding(self, name: str, source: Compiled) -> tuple[str, Compiled]:
        return name, source

    def for_expr(self, *parts: Any) -> Compiled:
        *iterations, body = parts
        trace = self.trace

        def evaluate(v: Any) -> Any:
            results: list[Any] = []

            def loop(index: int, scope: Any) -> bool:
                if index == len(iterations):
                    results.append(body(scope))
                    return True
                name, source = iterations[index]
                items = source(scope)
                if isinstance(items, Range):
                    items = _range_items(items)
                if items is None:
                    return False
                if not isinstance(items, list):
                    items = [items]
                for item in items:
                    inner = _ContextScope({name: item, "partial": list(results)}, scope, scope.warnings if trace else None)
                    if not loop(index + 1, inner):
                        return False
                return True

            return results if loop(0, v) else None

        return evaluate

    def quantified(self, quantifier: Token, *parts: Any) -> Compiled:
        *bindings, condition = parts
        every = str(quantifier) == "every"
        trace = self.trace

        def evaluate(v: Any) -> Any:
            outcomes: list[Any] = []

            def loop(index: int, scope: Any) -> bool:
                if index == len(bindings):
                    outcomes.append(condition(scope))
                    return True
                name, source = bindings[index]
                items = source(scope)
                if not isinstance(items, list):
                    return False
                for item in items:
                    if not loop(index + 1, _ContextScope({name: item}, scope, scope.warnings if trace else None)):
                        return False
                return True

            if not loop(0, v):
                return None
            if every:
                return False if any(o is False for o in outcomes) else (True if all(o is True for o in outcomes) else None)
            return True if any(o is True for o in outcomes) else (False if all(o is False for o in outcomes) else None)

        return evaluate

    # user-defined functions
    def parameters(self, *names: str | tuple[str, str]) -> list[str | tuple[str, str]]:
        return list(names)

    def typed_parameter(self, name: Token, type_token: Token) -> tuple[str, str]:
        return _key_text(name), " ".join(str(type_token).split())

    def function_literal(self, parameters: list[str | tuple[str, str]] | None, body: Compiled) -> Compiled:
        names = [p if isinstance(p, str) else p[0] for p in parameters or []]
        types = [(p[0], p[1]) for p in parameters or [] if not isinstance(p, str)]
        trace = self.trace
        if types:
            body = _typed_body(body, types)

        def evaluate(v: Any) -> Any:
            return FeelFunction(names, body, v, trace)

        return evaluate

    # in, instance of
    def test_compare(self, op: Token, operand: Compiled) -> Compiled:
        apply = COMPARISON[str(op)]
        def test(v: Any) -> Callable[[Any], Any]:
            bound = operand(v)
            return lambda x: apply(x, bound)

        return test

    def test_value(self, operand: Compiled) -> Compiled:
        def test(v: Any) -> Callable[[Any], Any]:
            pool = operand(v)
            return lambda x: _matches_test(x, pool)

        return test

    def unary_test(self, op: Token, operand: Compiled) -> Compiled:
        """`(< 10)`: a unary test as a value; `x in (< 10)` applies it."""
        text = str(op)
        return lambda v: UnaryTest(text, operand(v))

    def in_any(self, value: Compiled, *tests: Compiled) -> Compiled:
        def evaluate(v: Any) -> Any:
            x = value(v)
            unknown = False
            for test in tests:
                outcome = test(v)(x)
                if outcome is True:
                    return True
                if outcome is not False:
                    unknown = True
            return None if unknown else False

        return evaluate

    def instance_of(self, value: Compiled, type_token: Token) -> Compiled:
        type_name = " ".join(str(type_token).split())
        return lambda v: values.instance_of(value(v), type_name)

    def string(self, token: Token) -> Compiled:
        return _constant(_unescape(str(token)[1:-1]))

    def true(self) -> Compiled:
        return _constant(True)

    def false(self) -> Compiled:
        return _constant(False)

    def null(self) -> Compiled:
        return _constant(None)

    def list_literal(self, items: list[Compiled] | None) -> Compiled:
        items = items or []
        return lambda v: [item(v) for item in items]

    def context_literal(self, pairs: list[tuple[str, Compiled]] | None) -> Compiled:
        pairs = pairs or []
        trace = self.trace

        if len({key for key, _ in pairs}) != len(pairs):
            return _constant(None)  # a context cannot have the same key twice

        def evaluate(v: Any) -> Any:
            result: dict[str, Any] = {}
            scope = _ContextScope(result, v, v.warnings if trace else None)
            for key, value in pairs:
                result[key] = value(scope)
            return result

        return evaluate

    def entry(self, key: Token, value: Compiled) -> tuple[str, Compiled]:
        return _key_text(key), value

    def list_items(self, *items: Compiled) -> list[Compiled]:
        return list(items)

    def entries(self, *pairs: tuple[str, Compiled]) -> list[tuple[str, Compiled]]:
        return list(pairs)

    def arguments(self, *items: Compiled) -> list[Compiled]:
        return list(items)

    def named_argument(self, name: Token, value: Compiled) -> tuple[str, Compiled]:
        return _key_text(name), value

    def named_arguments(self, *pairs: tuple[str, Compiled]) -> NamedArguments:
        return NamedArguments(pairs)

    def call_value(self, base: Compiled, arguments: Any) -> Compiled:
        """`f(x)` where `f` is one name: a built-in, or a function value in scope."""
        names = _names_of(base)
        if names is not None and len(names) == 1 and names[0] not in self.bound_names:
            name = names[0]
            token = Token.new_borrow_pos("NAME", str(name), Token("NAME", "", line=getattr(name, "line", None), column=getattr(name, "column", None)))
            return self.call((str(name), token), arguments)
        dynamic = self._dynamic_call(base, arguments)
        if names is not None and len(names) == 1 and names[0] in BUILTINS:
            # `{count: count(items)}`: the entry is not defined yet where it is computed, so a
            # bound name that holds no function still calls the built-in of that name
            name = names[0]
            token = Token("NAME", str(name), line=getattr(name, "line", None), column=getattr(name, "column", None))
            builtin_call = self.call((str(name), token), arguments)
            return lambda v: dynamic(v) if callable(base(v)) else builtin_call(v)
        return dynamic

    def _dynamic_call(self, base: Compiled, arguments: Any) -> Compiled:
        arguments = arguments or []
        if isinstance(arguments, NamedArguments):
            pairs = list(arguments)
            return lambda v: _call(base(v), [], {name: value(v) for name, value in pairs}) if callable(base(v)) else None

        def evaluate(v: Any) -> Any:
            function = base(v)
            if not callable(function):
                return None
            return _call(function, [argument(v) for argument in arguments], None)

        return evaluate

    # names and paths
    def name(self, *tokens: Token) -> str:
        words = [str(t)[1:-1] if str(t).startswith("`") else str(t) for t in tokens]
        return _Name(" ".join(words), tokens[0])

    def variable(self, name: str) -> Compiled:
        if not self.trace:
            return _fast_path((name,))

        def evaluate(v: Any) -> Any:
            if name in v:
                return v[name]
            v.warnings.append(f"no variable found with name '{name}'")
            return None

        return _with_names(evaluate, (name,))

    def path(self, base: Compiled, name: str) -> Compiled:
        base_names = _names_of(base)
        if not self.trace:
            if base_names is not None:
                return _fast_path((*base_names, name))
            return lambda v: lookup(base(v), name)

        def evaluate(v: Any) -> Any:
            container = base(v)
            result = lookup(container, name)
            if result is None and (reason := describe_lookup_failure(container, name)):
                v.warnings.append(reason)
            return result

        return _with_names(evaluate, (*base_names, name)) if base_names is not None else evaluate

    def filter(self, base: Compiled, selector: Compiled) -> Compiled:
        """`xs[2]` picks the 2nd item (1-based, negative from the end); `xs[item > 2]`
        keeps the items for which the condition is true. Which one is decided by the
        selector's value, as FEEL says: a number indexes."""
        trace = self.trace

        def evaluate(v: Any) -> Any:
            collection = base(v)
            if collection is None:
                return None
            if not isinstance(collection, list):
                collection = [collection]  # FEEL treats a single value as a list of one
            mark = len(v.warnings) if trace else 0
            chosen = selector(v)
            if is_number(chosen):
                return _index(collection, chosen, v if trace else None)
            if trace:
                del v.warnings[mark:]  # a filter's names were looked up outside any item
            warnings = v.warnings if trace else None
            return [item for item in collection if selector(_ItemScope(item, v, warnings)) is True]

        return evaluate

    # operators
    def negate(self, operand: Compiled) -> Compiled:
        if not self.trace:
            return lambda v: values.negate(operand(v))

        def evaluate(v: Any) -> Any:
            value = operand(v)
            result = values.negate(value)
            if result is None and value is not None:
                v.warnings.append(f"cannot negate {describe(value)}")
            return result

        return evaluate

    def _arithmetic(self, op: str, left: Compiled, right: Compiled) -> Compiled:
        apply = ARITHMETIC[op]
        if not self.trace:
            return _binary(apply, left, right)

        def evaluate(v: Any) -> Any:
            a, b = left(v), right(v)
            result = apply(a, b)
            if result is None and (reason := describe_arithmetic_failure(op, a, b)):
                v.warnings.append(reason)
            return result

        return evaluate

    def add(self, left: Compiled, right: Compiled) -> Compiled:
        return self._arithmetic("+", left, right)

    def subtract(self, left: Compiled, right: Compiled) -> Compiled:
        return self._arithmetic("-", left, right)

    def multiply(self, left: Compiled, right: Compiled) -> Compiled:
        return self._arithmetic("*", left, right)

    def divide(self, left: Compiled, right: Compiled) -> Compiled:
        return self._arithmetic("/", left, right)

    def power(self, left: Compiled, right: Compiled) -> Compiled:
        return self._arithmetic("**", left, right)

    def compare(self, left: Compiled, op: Token, right: Compiled) -> Compiled:
        apply = COMPARISON[str(op)]
        if not self.trace:
            return _binary(apply, left, right)

        def evaluate(v: Any) -> Any:
            a, b = left(v), right(v)
            result = apply(a, b)
            if result is None and (reason := describe_comparison_failure(a, b)):
                v.warnings.append(reason)
            return result

        return evaluate

    def between(self, value: Compiled, low: Compiled, high: Compiled) -> Compiled:
        trace = self.trace

        def evaluate(v: Any) -> Any:
            x, lo, hi = value(v), low(v), high(v)
            if comparable(x, lo) and comparable(x, hi):
                return lo <= x <= hi
            if trace:
                reason = describe_comparison_failure(x, lo) if not comparable(x, lo) else describe_comparison_failure(x, hi)
                if reason:
                    v.warnings.append(reason)
            return None

        return evaluate

    def in_expr(self, value: Compiled, test: Compiled) -> Compiled:
        return lambda v: test(v)(value(v))

    def and_expr(self, *operands: Compiled) -> Compiled:
        # Three-valued: false wins, then null (anything not boolean), then true.
        def evaluate(v: Any) -> Any:
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
        def evaluate(v: Any) -> Any:
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
        # A condition that is not `true` (false, null, a number...) takes the else branch.
        return lambda v: then(v) if condition(v) is True else otherwise(v)

    # functions
    def function_name(self, *tokens: Token) -> tuple[str, Token]:
        return " ".join(" ".join(str(token).split()) for token in tokens), tokens[0]

    def bind(self, tree: Any) -> None:
        """Names that the expression itself defines (context entries, parameters, loop
        variables): calling one of them is not a call of an unknown built-in."""
        bound: set[str] = set()
        for node in tree.iter_subtrees():
            if node.data in ("entry", "parameters", "typed_parameter", "iteration", "binding"):
                for child in node.children:
                    if isinstance(child, Token) and child.type in ("NAMED", "STRING"):
                        bound.add(_key_text(child))
                    elif hasattr(child, "data") and child.data == "name":
                        bound.add(" ".join(str(t).strip("`") for t in child.children))
        self.bound_names = bound

    def call(self, function: tuple[str, Token], arguments: list[Compiled] | None) -> Compiled:
        name, token = function
        arguments = arguments or []
        if isinstance(arguments, NamedArguments):
            builtin = BUILTINS.get(name)
            if builtin is None:
                hint = _unknown_function_hint(name)
                raise FeelSyntaxError(self.source, f"unknown function '{name}'", token.line, token.column, hint)
            pairs = list(arguments)
            if positional(name, {key: None for key, _ in pairs}) is None:
                raise FeelSyntaxError(self.source, f"function '{name}' has no parameters named {', '.join(repr(k) for k, _ in pairs)}", token.line, token.column)

            def named_call(v: Any) -> Any:
                args = positional(name, {key: value(v) for key, value in pairs})
                return _call(builtin, args, None)

            return named_call
        if name == "is defined":
            self._check_arity(name, token, lambda value: None, len(arguments))
            names = _names_of(arguments[0])
            if names is not None:
                return _exists(names)
            inner = arguments[0]
            return lambda v: inner(v) is not None
        builtin = BUILTINS.get(name)
        if builtin is None:
            hint = _unknown_function_hint(name)
            raise FeelSyntaxError(self.source, f"unknown function '{name}'", token.line, token.column, hint)
        self._check_arity(name, token, builtin, len(arguments))
        if not self.trace:
            return _fast_call(builtin, arguments)

        def evaluate(v: Any) -> Any:
            args = [argument(v) for argument in arguments]
            result = _invoke(builtin, args)
            if result is None and any(arg is not None for arg in args):
                shown = ", ".join(describe(arg) for arg in args)
                v.warnings.append(f"function '{name}' cannot be applied to {shown}")
            return result

        return evaluate

    def _check_arity(self, name: str, token: Token, function: Callable[..., Any], count: int) -> None:
        try:
            inspect.signature(function).bind(*range(count))
        except TypeError:
            expected = _arity(function)
            raise FeelSyntaxError(
                self.source, f"function '{name}' takes {expected}, but {count} given", token.line, token.column
            ) from None


def _index(collection: list, chosen: Any, traced: Any) -> Any:
    position = int(chosen)
    if position == chosen and position != 0 and -len(collection) <= position <= len(collection):
        return collection[position - 1] if position > 0 else collection[position]
    if traced is not None:
        traced.warnings.append(f"index {values.to_text(chosen)} is out of range for a list of {len(collection)} items")
    return None


_INVOCATION_FAILURES = (TypeError, ValueError, ArithmeticError, RecursionError)


def _invoke(builtin: Callable[..., Any], args: list[Any]) -> Any:
    try:
        return builtin(*args)
    except _INVOCATION_FAILURES:  # a built-in meeting data it does not expect: FEEL's null
        return None


def _fast_call(builtin: Callable[..., Any], arguments: list[Compiled]) -> Compiled:
    if len(arguments) == 1:
        [only] = arguments

        def call1(v: Any) -> Any:
            try:
                return builtin(only(v))
            except _INVOCATION_FAILURES:
                return None

        return call1
    return lambda v: _invoke(builtin, [argument(v) for argument in arguments])


def _arity(function: Callable[..., Any]) -> str:
    parameters = list(inspect.signature(function).parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        required = sum(1 for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty)
        return f"at least {max(required, 1)} argument{'s' if required > 1 else ''}"
    required = sum(1 for p in parameters if p.default is p.empty)
    if required == len(parameters):
        return f"{required} argument{'s' if required != 1 else ''}"
    return f"{required} to {len(parameters)} arguments"


def _unknown_function_hint(name: str) -> str:
    close = difflib.get_close_matches(name, [*BUILTINS, "is defined"], n=1)
    if close:
        return f"Did you mean '{close[0]}'?"
    return "It is not a built-in function that propolis supports yet"


# -- entry point --------------------------------------------------------------------------
# Habits from other expression languages (JUEL, JavaScript), and what FEEL writes instead.
_HINTS = (
    (re.compile(r"=="), "FEEL compares with '=', not '=='"),
    (re.compile(r"&&"), "FEEL writes 'and', not '&&'"),
    (re.compile(r"\|\|"), "FEEL writes 'or', not '||'"),
    (re.compile(r"'"), "FEEL strings use double quotes"),
    (re.compile(r"!(?!=)"), "FEEL negates with not(...)"),
)


def compile_feel(source: str, trace: bool = False) -> Compiled:
    """Compile `source`, an expression as written in a model (a leading '=' is allowed and
    skipped). Raises `FeelSyntaxError` naming the text and the position of the problem.

    With `trace`, the closure must be called with a `TracingScope`; it records warnings.
    """
    text = source.strip()
    if len(text) > EXPRESSION_CHARS_MAX:
        raise FeelSyntaxError(text, f"the expression is longer than {EXPRESSION_CHARS_MAX} characters")
    # Keep the '=' as a blank so that reported columns count from the text as written.
    body = " " + text[1:] if text.startswith("=") else text
    if not body.strip():
        raise FeelSyntaxError(text, "the expression is empty")
    try:
        tree = _PARSER.parse(body)
    except UnexpectedEOF:
        raise FeelSyntaxError(text, "the expression ends too early") from None
    except UnexpectedInput as error:
        reason, hint = _reason(error, body)
        at_end = isinstance(error, UnexpectedToken) and error.token.type == "$END"
        line, column = (None, None) if at_end else (error.line, error.column)
        raise FeelSyntaxError(text, reason, line, column, hint) from None
    try:
        compiler = _Compiler(text, trace)
        compiler.bind(tree)
        return compiler.transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, FeelSyntaxError):
            raise error.orig_exc from None
        raise
    except RecursionError:
        raise FeelSyntaxError(text, "the expression is nested too deeply") from None


def _reason(error: UnexpectedInput, body: str) -> tuple[str, str | None]:
    """What went wrong, and the likeliest fix when the text shows a habit from elsewhere."""
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        reason = "the expression ends too early"
    elif isinstance(error, UnexpectedToken):
        reason = f"unexpected '{error.token}'"
    elif isinstance(error, UnexpectedCharacters) and error.char == '"':
        reason = "a string starts here but is never closed"
    elif isinstance(error, UnexpectedCharacters):
        reason = f"unexpected character '{error.char}'"
    else:  # pragma: no cover - lark raises only the kinds above for LALR
        reason = "unexpected input"
    hints = [hint for pattern, hint in _HINTS if pattern.search(body)]
    return reason, (hints[0] if hints else None)
