"""The FEEL cases of the DMN TCK (../shared/dmn-tck beside the repository), read as data.

A case is one expected result of a decision whose logic is a FEEL literal expression: the
expression, the decisions it requires (also literal expressions, evaluated first and known by
their names), the test's input values, and the expected value. Decisions with decision
tables, boxed contexts, invocations, business knowledge models or decision services are not
FEEL literal expressions and are left out.

Values are converted from the TCK's XML (xsi:type xsd:decimal, xsd:date, xsd:duration, lists,
components, nil) into propolis's FEEL values.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree
from propolis.bpmn.feel import temporal

TCK = Path(__file__).resolve().parents[2].parent / "shared" / "dmn-tck" / "TestCases"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


@dataclass
class Decision:
    name: str
    text: str
    requires: list[str] = field(default_factory=list)  # decision names, evaluated first
    type_ref: str = ""  # the decision's declared type (its variable's typeRef)


@dataclass
class Case:
    folder: str
    case_id: str
    decision: str
    decisions: dict[str, Decision]
    inputs: dict[str, Any]
    expected: Any
    error_expected: bool

    @property
    def label(self) -> str:
        return f"{self.folder}/{self.case_id}/{self.decision}"


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


def _children(node: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in node if isinstance(c.tag, str) and _local(c) == name]


def _read_model(path: Path) -> dict[str, Decision]:
    root = etree.parse(str(path)).getroot()
    decisions: dict[str, Decision] = {}
    by_id: dict[str, str] = {}
    raw = []
    for node in root.iter():
        if not isinstance(node.tag, str) or _local(node) != "decision":
            continue
        name = node.get("name") or ""
        by_id[node.get("id") or ""] = name
        literal = _children(node, "literalExpression")
        texts = _children(literal[0], "text") if literal else []
        references = []
        for requirement in _children(node, "informationRequirement"):
            for required in _children(requirement, "requiredDecision"):
                references.append((required.get("href") or "").lstrip("#"))
        knowledge = _children(node, "knowledgeRequirement")
        variables = _children(node, "variable")
        type_ref = variables[0].get("typeRef", "") if variables else ""
        raw.append((name, texts[0].text if texts and not knowledge else None, references, type_ref))
    for name, text, references, type_ref in raw:
        if text is not None:
            decisions[name] = Decision(name, text, [by_id.get(r, r) for r in references], type_ref)
    # A decision is a FEEL case only if every decision it requires is one too.
    changed = True
    while changed:
        changed = False
        for name in list(decisions):
            if any(r not in decisions for r in decisions[name].requires):
                del decisions[name]
                changed = True
    return decisions


def _value(node: etree._Element) -> Any:
    """A TCK value element (value, list, component...) to a FEEL value."""
    if node.get(f"{XSI}nil") == "true":
        return None
    lists = _children(node, "list")
    if lists:
        return [_value(item) for item in _children(lists[0], "item")]
    components = _children(node, "component")
    if components:
        return {c.get("name"): _value(c) for c in components}
    values = _children(node, "value")
    if values:
        return _value(values[0])
    if _local(node) != "value":
        return None
    kind = (node.get(f"{XSI}type") or "").split(":")[-1]
    text = node.text or ""
    if kind in ("decimal", "double", "float", "integer", "int", "long", "short"):
        return Decimal(text.strip())
    if kind == "boolean":
        return text.strip() == "true"
    if kind == "date":
        return temporal.parse_date(text.strip())
    if kind == "dateTime":
        return temporal.parse_date_time(text.strip())
    if kind == "time":
        return temporal.parse_time(text.strip())
    if kind == "duration":
        return temporal.parse_duration(text.strip())
    if _children(node, "list") or kind == "":
        if len(node) == 0:
            return text
    return text


def load_cases(root: Path = TCK) -> list[Case]:
    cases: list[Case] = []
    for level in ("compliance-level-2", "compliance-level-3"):
        for folder in sorted((root / level).iterdir()):
            if not folder.is_dir():
                continue
            models = list(folder.glob("*.dmn"))
            if len(models) != 1:
                continue  # imports of several models: not literal expressions over input data
            decisions = _read_model(models[0])
            for test_file in sorted(folder.glob("*-test-*.xml")):
                tree = etree.parse(str(test_file)).getroot()
                for test in _children(tree, "testCase"):
                    if (test.get("type") or "decision") != "decision":
                        continue
                    inputs = {n.get("name"): _value(n) for n in _children(test, "inputNode")}
                    for result in _children(test, "resultNode"):
                        name = result.get("name") or ""
                        if name not in decisions:
                            continue
                        expected = _children(result, "expected")
                        error = (result.get("errorResult") or "").lower() == "true"
                        cases.append(Case(
                            folder=folder.name,
                            case_id=test.get("id") or "",
                            decision=name,
                            decisions=decisions,
                            inputs=inputs,
                            expected=_value(expected[0]) if expected else None,
                            error_expected=error,
                        ))
    return cases


def same(actual: Any, expected: Any) -> bool:
    """Equal as the TCK means it: numbers within 1e-8, lists and contexts element by element."""
    if expected is None:
        return actual is None
    if isinstance(expected, Decimal):
        if isinstance(actual, bool) or not isinstance(actual, (int, float, Decimal)):
            return False
        try:
            return abs(Decimal(str(actual)) - expected) <= Decimal("1e-8") * max(1, abs(expected))
        except ArithmeticError:
            return False
    if isinstance(expected, bool):
        return actual is expected
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(same(a, e) for a, e in zip(actual, expected, strict=True))
    if isinstance(expected, dict):
        return isinstance(actual, dict) and set(actual) == set(expected) and all(same(actual[k], v) for k, v in expected.items())
    if isinstance(expected, datetime.datetime) or isinstance(actual, datetime.datetime):
        return type(actual) is type(expected) and temporal.same_instant_and_zone(actual, expected)
    return type(actual) is type(expected) and actual == expected
