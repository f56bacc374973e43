"""FEEL expressions as models use them, with FEEL's null semantics and precise errors."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from propolis.bpmn.errors import FeelEvaluationError, FeelSyntaxError
from propolis.bpmn.expression import compile_expression
from propolis.bpmn.feel import TracingScope, compile_feel

VARIABLES = {
    "amount": 120,
    "price": 2.5,
    "name": "Ada",
    "order": {"total": 21, "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 5}], "note": None},
    "xs": [1, 2, 3],
    "flag": True,
    "nothing": None,
}


def evaluate(expression: str, variables: Mapping[str, Any] = VARIABLES) -> Any:
    return compile_expression(expression).evaluate(variables)


class LazyScope(Mapping[str, Any]):
    """Like the engine's scope chain: answers lookups, refuses to be iterated."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.gets: list[str] = []

    def get(self, name: str, default: Any = None) -> Any:
        self.gets.append(name)
        return self.values.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("expressions must not iterate the variables")

    def __len__(self) -> int:
        raise AssertionError("expressions must not size the variables")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # literals
        ("=1", 1),
        ("=1.5", 1.5),
        ("=.5", 0.5),
        ('="a \\"quoted\\" \\\\ text\\n"', 'a "quoted" \\ text\n'),
        ('="caf\\u00e9 ünïcode"', "café ünïcode"),
        ("=true", True),
        ("=null", None),
        ("=[1, amount]", [1, 120]),
        ("=[]", []),
        ('={a: 1, "b c": name}', {"a": 1, "b c": "Ada"}),
        ("={a: 1, b: a + 1}", {"a": 1, "b": 2}),
        ("={}", {}),
        # names, paths, indexes, filters
        ("=amount", 120),
        ("=order.total", 21),
        ("=order.items.sku", ["a", "b"]),
        ("=order.items[2].qty", 5),
        ("=xs[1]", 1),
        ("=xs[-1]", 3),
        ("=xs[item >= 2]", [2, 3]),
        ("=order.items[qty > 3].sku", ["b"]),
        ("={a: {b: [10, 20]}}.a.b[2]", 20),
        ("=`amount`", 120),
        # arithmetic
        ("=1 + 2 * 3", 7),
        ("=(1 + 2) * 3", 9),
        ("=10 / 4", 2.5),
        ("=10 / 5", 2),
        ("=7 - 10", -3),
        ("=2 ** 3", 8),
        ("=2 ** 3 ** 2", 64),  # left-associative, as the DMN TCK has it
        ("=-amount", -120),
        ("=price * 2", 5),
        ('="Hello " + name', "Hello Ada"),
        # comparison and logic
        ("=amount > 100", True),
        ("=amount = 120", True),
        ("=amount != 120", False),
        ("=amount = 120.0", True),
        ('=name = "Ada"', True),
        ('=name < "Bob"', True),
        ("=nothing = null", True),
        ("=missing = null", True),
        ("=[1, 2] = [1, 2]", True),
        ("={a: 1} = {a: 1}", True),
        ("=flag and amount > 100", True),
        ("=false or flag", True),
        ("=not(flag)", False),
        ('=if amount > 100 then "big" else "small"', "big"),
        ("=if missing then 1 else 2", 2),
        ("=if 1 then 1 else 2", 2),
        ("=amount between 100 and 200", True),
        ("=amount between 121 and 200", False),
        ("=amount in [1, 120]", True),
        ("=amount in 120", True),
        ('=name in ["Bob"]', False),
        ("=// a comment\n amount /* and another */ + 1", 121),
    ],
)
def test_evaluates(expression, expected):
    result = evaluate(expression)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("=string length(name)", 3),
        ("=upper case(name)", "ADA"),
        ("=lower  case(name)", "ada"),
        ('=substring("foobar", 3)', "obar"),
        ('=substring("foobar", -3, 2)', "ba"),
        ('=substring before("foo@bar", "@")', "foo"),
        ('=substring after("foo@bar", "@")', "bar"),
        ('=contains(name, "d")', True),
        ('=starts with(name, "A")', True),
        ('=ends with(name, "a")', True),
        ('=string join(["a", null, "b"], "-")', "a-b"),
        ('=trim("  x ")', "x"),
        ('=matches("Hello", "^h", "i")', True),
        ('=replace("abcd", "(b)(c)", "$2$1")', "acbd"),
        ('=split("a, b,c", ",\\s*")', ["a", "b", "c"]),
        ("=string(amount)", "120"),
        ("=string(1.5)", "1.5"),
        ("=string(flag)", "true"),
        ('=string({a: [1, "x"]})', '{a:[1, "x"]}'),
        ('=number("4.5")', 4.5),
        ('=number("-12")', -12),
        ('=number("12abc")', None),
        ("=count(xs)", 3),
        ("=sum(xs)", 6),
        ("=sum(1, 2.5)", 3.5),
        ("=sum([])", None),
        ("=mean(xs)", 2),
        ("=min(xs)", 1),
        ("=max(3, 9, 4)", 9),
        ('=max(["a", "c", "b"])', "c"),
        ("=list contains(xs, 2)", True),
        ("=append(xs, 4)", [1, 2, 3, 4]),
        ("=concatenate(xs, [4], [])", [1, 2, 3, 4]),
        ("=sublist(xs, 2)", [2, 3]),
        ("=reverse(xs)", [3, 2, 1]),
        ("=index of([1, 2, 1], 1)", [1, 3]),
        ("=distinct values([1, 2, 1])", [1, 2]),
        ("=union([1, 2], [2, 3])", [1, 2, 3]),
        ("=flatten([1, [2, [3]]])", [1, 2, 3]),
        ("=all([true, flag])", True),
        ("=any([false, null])", None),
        ("=abs(-2)", 2),
        ("=floor(1.5)", 1),
        ("=ceiling(1.2)", 2),
        ("=decimal(1.255, 2)", 1.26),
        ("=modulo(-7, 3)", 2),
        ("=sqrt(16)", 4),
        ("=odd(3)", True),
        ("=even(3)", False),
        ('=get value({a: 1}, "a")', 1),
        ("=is defined(amount)", True),
        ("=is defined(nothing)", True),
        ("=is defined(missing)", False),
        ("=is defined(order.note)", True),
        ("=is defined(order.nope)", False),
    ],
)
def test_built_in_functions(expression, expected):
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "=order.items[qty > 3].sku", "={a: 1, b: a + 1}", "=amount * price - 1", "=xs[-1]", "=missing.x",
        '=if amount between 100 and 200 then upper case(name) else "no"', "=is defined(order.note)",
        "=amount in [1, 120] and not(flag)", '=string join(order.items.sku, "+")',
    ],
)
def test_explaining_evaluates_exactly_like_evaluating(expression):
    traced = compile_feel(expression, trace=True)
    assert traced(TracingScope(VARIABLES, [])) == evaluate(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "=missing",
        "=missing.field",
        "=amount.field",
        "=amount + missing",
        '=amount + "x"',
        "=1 / 0",
        "=amount < name",
        "=missing and true",
        "=xs[4]",
        "=xs[0]",
        "=-name",
        "=upper case(amount)",
        "=amount between missing and 200",
        "=2 ** 100000",
    ],
)
def test_null_propagates_where_feel_says_so(expression):
    assert evaluate(expression) is None


def test_three_valued_logic_decides_on_the_deciding_operand():
    assert evaluate("=missing and false") is False
    assert evaluate("=missing or true") is True
    assert evaluate("=missing or false") is None
    assert evaluate("=1 and true") is None


def test_numbers_are_decimals_so_tenths_add_up_exactly():
    assert evaluate("=0.1 + 0.2 = 0.3") is True
    assert evaluate("=0.1 + 0.2") == 0.3 and evaluate("=1.1 * 3") == 3.3
    assert evaluate('=string(0.1 + 0.2)') == "0.3" and evaluate("=string(1 / 3)") == "0." + "3" * 34
    # floats from JSON variables mean the decimal they are written as
    assert evaluate("=price * 3", {"price": 0.1}) == 0.3 and evaluate("=price = 0.1", {"price": 0.1}) is True
    assert evaluate("=sum([0.1, 0.2, price])", {"price": 0.3}) == 0.6


def test_numbers_leave_feel_as_json_numbers_whole_ones_as_ints():
    assert type(evaluate("=1")) is int and type(evaluate("=1.0")) is int and type(evaluate("=3 * 1.5")) is float
    assert evaluate("=10 / 4") == 2.5 and type(evaluate("=10 / 5")) is int
    assert evaluate("=[1.5, {a: 2.25}]") == [1.5, {"a": 2.25}]
    assert json.loads(json.dumps(evaluate("=[1 / 3, decimal(2.675, 2), 2 ** 0.5]"))) == [1 / 3, 2.68, 2**0.5]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("=modulo(-5.5, 2)", 0.5),
        ("=modulo(5.5, -2)", -0.5),
        ("=decimal(1 / 3, 2)", 0.33),
        ("=round half up(-2.5, 0)", -3),
        ("=round up(5.5, 6176)", 5.5),
        ("=median([1, 2, 3, 4])", 2.5),
        ("=stddev([2, 4, 7, 5])", 2.0816659994661326),
        ('=duration("PT1H") / duration("PT40M")', 1.5),
        ('=string(duration("PT1H") * 1.5)', "PT1H30M"),
        ("=10 ** -2", 0.01),
        ("=(-2) ** 0.5", None),
    ],
)
def test_numeric_functions_compute_in_decimal(expression, expected):
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('=upper case(["bob"])', "BOB"),  # a list of one where a value is expected
        ("=list replace(1, 1, 5)", [5]),  # a value where a list is expected
        ("=count(7)", 1),
        ('=index of([[1], 1], [1])', [1]),  # a parameter that may hold a list keeps it
        ("=(function(a: number) a + 1)(2)", 3),
        ('=(function(a: number) a + 1)("2")', None),  # typed parameters are checked
        ("=(1..10] = ]1..10]", True),
        ("=[1..10) = [1..10[", True),
        ("=10 in ]1..10[", False),
        ("=[1, 2, 3][-1]", 3),  # a '[' that starts an index is no range end
        ("=(< 10) = (< 10)", True),  # unary tests as values
        ("=(< 10) = (null..10)", False),
        ("=5 in (< 10)", True),
        ("=[1, 2, 3][item in (> 1)]", [2, 3]),
        ("=5 in ]1..10)", True),
        ('={foo+bar: 1, 🐎: "😀"}', {"foo+bar": 1, "🐎": "😀"}),
        ('=[{item: 1}, {item: 2}][item >= 2]', [{"item": 2}]),
        ('={a: {b: 1}} instance of context<a: context<b: number>>', True),
        ('={a: "1"} instance of context<a: number>', False),
        ('=[{a: "x"}] instance of list<context<a: string>>', True),
        ('=date and\n time("2024-01-31T10:00:00")', "2024-01-31T10:00:00"),
        ('=date("02024-01-31")', None),
    ],
)
def test_dmn_conversions_and_literals(expression, expected):
    assert evaluate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('=matches("a\\rb", "a.b")', False),  # XPath's dot matches no carriage return
        ('=matches("a\\nb", "a.b", "s")', True),
        ('=matches("ab\\n", "ab$")', False),  # $ is the end of the text
        ('=matches("hello world", "hello\\ sworld", "x")', True),  # x drops whitespace
        ('=matches("a#b", "a#b", "x")', True),  # and knows no comments
        ('=matches("x", "[a-z-[aeiou]]")', True),  # class subtraction
        ('=matches("a", "[a-z-[aeiou]]")', False),
        ('=matches("Ab", "^\\p{Lu}\\p{Ll}$")', True),  # Unicode categories
        ('=matches("é", "\\p{IsBasicLatin}")', False),  # and blocks
        ('=matches("a.b", "a.b", "q")', True),
        ('=matches("abcd", "(asd)[\\1]")', None),  # a back-reference in a class is an error
        ('=matches("a", "(")', None),
        ('=replace("abc", "b", "[$0]")', "a[b]c"),
    ],
)
def test_regular_expressions_follow_xpath(expression, expected):
    assert evaluate(expression) == expected


def test_a_context_entry_named_like_a_built_in_still_calls_the_built_in_where_it_is_computed():
    assert evaluate("={sum: sum([1, 2]), count: count([1])}") == {"sum": 3, "count": 1}
    assert evaluate("={count: function(x) 42, r: count([1])}")["r"] == 42


def test_text_without_equals_sign_is_static_and_kept_as_written():
    expression = compile_expression("payment-received")
    assert expression.is_static and expression.evaluate({}) == "payment-received"
    assert compile_expression(" a = b ").evaluate({}) == " a = b "
    assert compile_expression("  =amount").evaluate(VARIABLES) == 120


def test_compiled_expressions_are_cached_by_their_text():
    assert compile_expression("=amount > 1") is compile_expression("=amount > 1")


def test_a_variable_is_one_lookup_and_the_scope_is_never_iterated():
    scope = LazyScope({"orderId": "o-7", "order": {"items": [{"qty": 2}]}})
    assert compile_expression("=orderId").evaluate(scope) == "o-7"
    assert scope.gets == ["orderId"]
    assert compile_expression("=order.items[qty > 1].qty").evaluate(scope) == [2]
    assert compile_expression("={a: orderId, b: a}.b").evaluate(scope) == "o-7"
    assert compile_expression("=is defined(order)").evaluate(scope) is True


def test_explain_names_the_missing_variable():
    expression = compile_expression("=orderId")
    assert expression.evaluate({}) is None
    assert expression.explain({}) == ["no variable found with name 'orderId'"]
    assert expression.explain({"orderId": None}) == []


@pytest.mark.parametrize(
    ("expression", "warning"),
    [
        ("=order.nope", "no context entry found with key 'nope'; the context has 'total', 'items', 'note'"),
        ("=amount.x", "cannot read 'x' of 120 (number): only a context has entries"),
        ('=amount + "x"', 'cannot add 120 (number) and "x" (string)'),
        ("=amount / 0", "division by zero: 120 (number) / 0 (number)"),
        ("=amount < name", 'cannot compare 120 (number) with "Ada" (string)'),
        ("=xs[7]", "index 7 is out of range for a list of 3 items"),
        ("=upper case(amount)", "function 'upper case' cannot be applied to 120 (number)"),
        ("=order.items[qty > limit]", "no variable found with name 'limit'"),
    ],
)
def test_explain_says_why_a_result_is_null(expression, warning):
    assert warning in compile_expression(expression).explain(VARIABLES)


def test_explain_reports_nothing_for_a_filter_whose_names_are_item_entries_or_for_is_defined():
    assert compile_expression("=order.items[qty > 3]").explain(VARIABLES) == []
    assert compile_expression("=is defined(missing)").explain(VARIABLES) == []


def test_evaluate_or_raise_names_the_missing_variable():
    expression = compile_expression("=orderId")
    with pytest.raises(FeelEvaluationError) as caught:
        expression.evaluate_or_raise({})
    assert str(caught.value) == "failed to evaluate expression '=orderId': no variable found with name 'orderId'"
    assert caught.value.warnings == ["no variable found with name 'orderId'"]
    assert expression.evaluate_or_raise({"orderId": 7}) == 7
    assert expression.evaluate_or_raise({"orderId": None}) is None  # the user's own null
    assert compile_expression("static").evaluate_or_raise({}) == "static"


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("=amount >", "'=amount >': the expression ends too early"),
        ("=a > > 1", "unexpected '>' at column 6"),
        ("=a == 1", "at column 5. FEEL compares with '=', not '=='"),
        ("=a && b", "FEEL writes 'and'"),
        ("=x = 'a'", "FEEL strings use double quotes"),
        ('="open', "a string starts here but is never closed at column 2"),
        ("=a\n +\n )", "unexpected ')' at line 3, column 2"),
        ("=nosuch(1)", "unknown function 'nosuch' at column 2"),
        ("=uppercase(name)", "Did you mean 'upper case'?"),
        ("=upper case(a, b)", "function 'upper case' takes 1 argument, but 2 given"),
        ("=", "the expression is empty"),
        ("=" + "-" * 5000 + "1", "nested too deeply"),
    ],
)
def test_syntax_errors_name_the_expression_the_position_and_a_fix(expression, fragment):
    with pytest.raises(FeelSyntaxError) as caught:
        compile_expression(expression)
    assert fragment in str(caught.value)
    assert str(caught.value).startswith("failed to parse FEEL expression '")


def test_keywords_inside_names_are_names():
    variables = {"index": 1, "iffy": 2, "notes": 3, "order_in": 4, "android": 5}
    assert evaluate("=index + iffy + notes + order_in + android", variables) == 15
