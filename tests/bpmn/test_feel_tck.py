"""FEEL conformance measured with the DMN TCK's FEEL literal-expression cases (read from
../shared/dmn-tck beside the repository, never copied into it; see tests/bpmn/tck.py).

A case passes when propolis's FEEL gives the expected value (numbers within 1e-8); a case
the TCK marks as an error passes only when the result is null. Run with -s to see the rate
and the failures per folder."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from propolis.bpmn.errors import FeelSyntaxError
from propolis.bpmn.feel import compile_feel, values

from tests.bpmn import tck

PASS_RATE_MIN = 0.95

CASES = tck.load_cases() if tck.TCK.is_dir() else []
pytestmark = pytest.mark.skipif(not CASES, reason=f"the DMN TCK is not at {tck.TCK}")


def evaluate(case: tck.Case) -> Any:
    results: dict[str, Any] = {}

    def decide(name: str) -> Any:
        if name not in results:
            decision = case.decisions[name]
            for required in decision.requires:
                decide(required)
            scope = {**case.inputs, **results}
            try:
                results[name] = coerce(compile_feel("=" + decision.text)(scope), decision.type_ref)
            except FeelSyntaxError:
                results[name] = None
            except Exception:  # noqa: BLE001 - a crash is a failed case, counted below
                results[name] = "<crashed>"
        return results[name]

    return decide(case.decision)


# A decision's result is coerced to its declared type (DMN 1.4, 7.3.2): a singleton list
# to its element, a value of another type to null. Only FEEL's own types are checked here;
# item definitions of the models (tNumberList...) are left as they are.
_TYPE_NAMES = {
    "number": "number", "string": "string", "boolean": "boolean", "date": "date", "time": "time",
    "dateTime": "date and time", "date and time": "date and time",
    "dayTimeDuration": "days and time duration", "days and time duration": "days and time duration",
    "yearMonthDuration": "years and months duration", "years and months duration": "years and months duration",
    "context": "context", "list": "list",
}


def coerce(value: Any, type_ref: str) -> Any:
    feel_type = _TYPE_NAMES.get(type_ref.split(":")[-1].strip())
    if feel_type is None or value is None:
        return value
    if feel_type != "list" and isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if values.instance_of(value, feel_type) is True else None


def passes(case: tck.Case) -> bool:
    actual = evaluate(case)
    if case.error_expected:
        return actual is None
    return tck.same(actual, case.expected)


def test_the_feel_pass_rate_of_the_dmn_tck_is_at_least_the_bar():
    failures: collections.Counter[str] = collections.Counter()
    passed = 0
    for case in CASES:
        if passes(case):
            passed += 1
        else:
            failures[case.folder] += 1
    rate = passed / len(CASES)
    print(f"\nDMN TCK FEEL literal expressions: {passed}/{len(CASES)} passed ({rate:.1%})")
    for folder, count in failures.most_common(40):
        print(f"  {count:4d} failed in {folder}")
    assert rate >= PASS_RATE_MIN
