"""FEEL expressions as models use them, with FEEL's null semantics."""

from __future__ import annotations

import pytest
from propolis.bpmn.errors import FeelSyntaxError
from propolis.bpmn.expression import compile_expression

VARIABLES = {
    "amount": 120,
    "name": "Ada",
    "order": {"total": 21, "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 5}]},
    "xs": [1, 2, 3],
    "flag": True,
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("=amount", 120),
        ("=1 + 2 * 3", 7),
        ("=(1 + 2) * 3", 9),
        ("=10 / 4", 2.5),
        ("=2 ** 3", 8),
        ("=-amount", -120),
        ("=amount > 100", True),
        ("=amount = 120", True),
        ("=amount != 120", False),
        ('=name = "Ada"', True),
        ('="Hello " + name', "Hello Ada"),
        ("=order.total", 21),
        ("=order.items.sku", ["a", "b"]),
        ("=order.items[2].qty", 5),
        ("=xs[1]", 1),
        ("=xs[-1]", 3),
        ("=xs[4]", None),
        ("=xs[item >= 2]", [2, 3]),
        ("=order.items[qty > 3].sku", ["b"]),
        ("=[1, amount]", [1, 120]),
        ('={a: 1, "b c": name}', {"a": 1, "b c": "Ada"}),
        ('=if amount > 100 then "big" else "small"', "big"),
        ("=if missing then 1 else 2", 2),
        ("=flag and amount > 100", True),
        ("=false or flag", True),
        ("=amount between 100 and 200", True),
        ("=amount in [1, 120]", True),
        ("=not(flag)", False),
        ('=string length(name)', 3),
        ('=upper case(name)', "ADA"),
        ('=contains(name, "d")', True),
        ("=count(xs)", 3),
        ("=sum(xs)", 6),
        ("=max(xs)", 3),
        ("=is defined(missing)", False),
        ("=string(amount)", "120"),
        ('=number("4.5")', 4.5),
    ],
)
def test_evaluates(expression, expected):
    assert compile_expression(expression).evaluate(VARIABLES) == expected


@pytest.mark.parametrize(
    "expression",
    ["=missing", "=missing.field", "=amount + missing", '=amount + "x"', "=1 / 0", "=amount < name", "=missing and true"],
)
def test_null_propagates_where_feel_says_so(expression):
    assert compile_expression(expression).evaluate(VARIABLES) is None


def test_three_valued_logic_short_circuits_on_the_deciding_value():
    assert compile_expression("=missing and false").evaluate({}) is False
    assert compile_expression("=missing or true").evaluate({}) is True


def test_text_without_equals_sign_is_static():
    expression = compile_expression("payment-received")
    assert expression.is_static and expression.evaluate({}) == "payment-received"


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [("=amount >", "ends too early"), ("=a > > 1", "column"), ("=nosuch(1)", "'nosuch' is not supported"), ("=", "empty")],
)
def test_syntax_errors_name_the_expression_and_where(expression, fragment):
    with pytest.raises(FeelSyntaxError, match=fragment):
        compile_expression(expression)
