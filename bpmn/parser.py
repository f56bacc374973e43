"""Parse BPMN 2.0 XML (with Zeebe's extensions) into the executable model of `model.py`.

Every problem found in a resource is reported, each naming the resource, the line, the
element id and its type, and what to use instead. One table (`FLOW_NODES`) maps the BPMN tags
that propolis runs to how they are read; anything else that can carry a token is refused.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from lxml import etree
from propolis.bpmn.errors import BpmnParseError, FeelSyntaxError, Problem
from propolis.bpmn.expression import compile_expression
from propolis.bpmn.model import (
    Definitions,
    Element,
    ElementKind,
    Mapping_,
    MessageDefinition,
    Process,
    SequenceFlow,
)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
B = f"{{{BPMN_NS}}}"
Z = f"{{{ZEEBE_NS}}}"

# Tags inside a process that carry no token and are safe to ignore.
IGNORED = {
    "documentation", "extensionElements", "textAnnotation", "association", "laneSet", "dataObject",
    "dataObjectReference", "dataStoreReference", "dataInputAssociation", "dataOutputAssociation",
    "property", "ioSpecification", "group", "category",
}

# Flow node tags that Zeebe runs but propolis does not yet, with what to use meanwhile.
NOT_YET = {
    "userTask": "model it as a service task with a job worker for now",
    "scriptTask": "use a service task with a job worker, or an output mapping with a FEEL expression",
    "businessRuleTask": "use a service task with a job worker",
    "sendTask": "use a service task with a job worker",
    "manualTask": "remove it or use a none intermediate step such as a service task",
    "task": "use a service task with a zeebe:taskDefinition",
    "subProcess": "flatten it into the process for now",
    "callActivity": "start the other process from a job worker for now",
    "adHocSubProcess": "flatten it into the process for now",
    "transaction": "flatten it into the process for now",
    "boundaryEvent": "boundary events are not supported yet",
    "inclusiveGateway": "use parallel and exclusive gateways",
    "eventBasedGateway": "use a receive task or a message catch event",
    "complexGateway": "use parallel and exclusive gateways",
    "intermediateThrowEvent": "remove it or use a service task",
}

# A reader fills in the element; it returns False when the element cannot be run at all.
ParseFn = Callable[["_ProcessParser", etree._Element, Element], bool]


class _ProcessParser:
    def __init__(self, resource_name: str, root: etree._Element, problems: list[Problem]) -> None:
        self.resource_name = resource_name
        self.root = root
        self.problems = problems
        self.messages = {m.get("id"): m for m in root.iter(f"{B}message")}
        # Flows whose condition was written but is wrong: reported once, not also as missing.
        self.flows_with_bad_condition: set[str] = set()

    def problem(self, node: etree._Element | None, message: str, element_id: str | None = None) -> None:
        self.problems.append(
            Problem(
                message=message,
                element_id=element_id if element_id is not None else (node.get("id") if node is not None else None),
                element_type=_type_name(node) if node is not None else None,
                line=node.sourceline if node is not None else None,
                resource_name=self.resource_name,
            )
        )

    def expression(self, node: etree._Element, text: str | None, what: str, required: bool = True):
        if text is None or text.strip() == "":
            if required:
                self.problem(node, f"{what} is missing")
            return None
        try:
            return compile_expression(text)
        except FeelSyntaxError as error:
            self.problem(node, f"{what}: {error}")
            return None

    # -- process --------------------------------------------------------------------------
    def parse(self, node: etree._Element) -> Process | None:
        process_id = node.get("id")
        if not process_id:
            self.problem(node, "a process needs an id")
            return None
        elements: dict[str, Element] = {}
        flows: dict[str, SequenceFlow] = {}
        seen: dict[str, int] = {}
        for child in node:
            if not isinstance(child.tag, str):
                continue  # comments, processing instructions
            tag = etree.QName(child).localname
            namespace = etree.QName(child).namespace
            if namespace != BPMN_NS or tag in IGNORED:
                continue
            child_id = child.get("id")
            if not child_id:
                self.problem(child, f"a {_type_name(child)} needs an id")
                continue
            if child_id in seen:
                self.problem(child, f"the id is already used by the element on line {seen[child_id]}")
                continue
            seen[child_id] = child.sourceline
            if tag == "sequenceFlow":
                flow = self.sequence_flow(child)
                if flow is not None:
                    flows[flow.id] = flow
                continue
            reader = FLOW_NODES.get(tag)
            if reader is None:
                hint = NOT_YET.get(tag, "it is not a BPMN element that propolis can run")
                self.problem(child, f"this element type is not supported yet; {hint}")
                continue
            kind, parse_fn = reader
            element = Element(id=child_id, kind=kind, line=child.sourceline, name=child.get("name"))
            if parse_fn(self, child, element):
                elements[child_id] = element
        self.link(node, elements, flows)
        starts = [e for e in elements.values() if e.kind == ElementKind.START_EVENT]
        if len(starts) != 1:
            if not starts:
                self.problem(node, "the process has no none start event; add one (message, timer and signal start events are not supported yet)")
            else:
                self.problem(node, f"the process has {len(starts)} none start events ({', '.join(s.id for s in starts)}); it may have only one")
            return None
        return Process(
            id=process_id,
            name=node.get("name"),
            line=node.sourceline,
            elements=elements,
            flows=flows,
            start_event_id=starts[0].id,
        )

    def sequence_flow(self, node: etree._Element) -> SequenceFlow | None:
        condition = None
        for child in node:
            if isinstance(child.tag, str) and etree.QName(child).localname == "conditionExpression":
                text = (child.text or "").strip()
                if not text.startswith("="):
                    self.problem(node, f"the condition '{text}' must be a FEEL expression starting with '='")
                    self.flows_with_bad_condition.add(node.get("id"))
                    continue
                condition = self.expression(node, text, "conditionExpression of the sequence flow")
                if condition is None:
                    self.flows_with_bad_condition.add(node.get("id"))
        return SequenceFlow(
            id=node.get("id"),
            source_id=node.get("sourceRef") or "",
            target_id=node.get("targetRef") or "",
            condition=condition,
            line=node.sourceline,
            name=node.get("name"),
        )

    def link(self, process: etree._Element, elements: dict[str, Element], flows: dict[str, SequenceFlow]) -> None:
        ids = list(elements)
        by_id = {n.get("id"): n for n in process.iter() if isinstance(n.tag, str)}
        for flow in flows.values():
            node = by_id.get(flow.id)
            for end, ref in (("sourceRef", flow.source_id), ("targetRef", flow.target_id)):
                if ref in elements:
                    continue
                if ref in by_id:
                    continue  # refers to an unsupported element, already reported
                close = difflib.get_close_matches(ref, ids, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                what = f"no element with id '{ref}' exists in the process" if ref else "it is empty"
                self.problem(node, f"the {end} of sequence flow '{flow.id}' is '{ref}', but {what}{hint}", element_id=flow.id)
            if flow.source_id in elements:
                elements[flow.source_id].outgoing.append(flow.id)
            if flow.target_id in elements:
                elements[flow.target_id].incoming.append(flow.id)
        for element in elements.values():
            node = by_id.get(element.id)
            if element.kind == ElementKind.START_EVENT and element.incoming:
                self.problem(node, "a start event cannot have incoming sequence flows")
            if element.kind == ElementKind.END_EVENT and element.outgoing:
                self.problem(node, "an end event cannot have outgoing sequence flows")
            if element.kind == ElementKind.EXCLUSIVE_GATEWAY:
                self.check_exclusive(node, element, flows)

    def check_exclusive(self, node: etree._Element, element: Element, flows: dict[str, SequenceFlow]) -> None:
        default = element.default_flow_id
        if default is not None and default not in element.outgoing:
            self.problem(node, f"the default flow '{default}' is not an outgoing sequence flow of this gateway")
        if len(element.outgoing) > 1:
            for flow_id in element.outgoing:
                if flow_id != default and flows[flow_id].condition is None and flow_id not in self.flows_with_bad_condition:
                    self.problem(
                        node,
                        f"the outgoing sequence flow '{flow_id}' has no condition; "
                        "every outgoing flow of an exclusive gateway except the default needs one",
                    )


# -- element readers ---------------------------------------------------------------------
def _type_name(node: etree._Element) -> str:
    return f"bpmn:{etree.QName(node).localname}"


def _extension(node: etree._Element, name: str) -> list[etree._Element]:
    return [e for ext in node.findall(f"{B}extensionElements") for e in ext.findall(f"{Z}{name}")]


def _io_mappings(parser: _ProcessParser, node: etree._Element, element: Element) -> None:
    for io in _extension(node, "ioMapping"):
        for direction, target_list in (("input", element.input_mappings), ("output", element.output_mappings)):
            for mapping in io.findall(f"{Z}{direction}"):
                target = (mapping.get("target") or "").strip()
                if not target:
                    parser.problem(node, f"a zeebe:{direction} mapping (line {mapping.sourceline}) has no target")
                    continue
                # A mapping without a source creates the variable with the value null, as in Zeebe.
                raw_source = mapping.get("source")
                if raw_source is None or not raw_source.strip():
                    raw_source = "=null"
                source = parser.expression(node, raw_source, f"the source of zeebe:{direction} '{target}'")
                if source is not None:
                    target_list.append(Mapping_(source=source, target=target))


def _event_definitions(node: etree._Element) -> list[etree._Element]:
    return [c for c in node if isinstance(c.tag, str) and etree.QName(c).localname.endswith("EventDefinition")]


def _none_event(kind_name: str) -> ParseFn:
    def parse(parser: _ProcessParser, node: etree._Element, element: Element) -> bool:
        definitions = _event_definitions(node)
        if definitions:
            definition = etree.QName(definitions[0]).localname.removesuffix("EventDefinition")
            parser.problem(node, f"a {definition} {kind_name} is not supported yet; only none {kind_name}s are")
            return False
        _io_mappings(parser, node, element)
        return True

    return parse


def _service_task(parser: _ProcessParser, node: etree._Element, element: Element) -> bool:
    definitions = _extension(node, "taskDefinition")
    if not definitions:
        parser.problem(node, "a service task needs a zeebe:taskDefinition with a job type")
    else:
        definition = definitions[0]
        element.job_type = parser.expression(node, definition.get("type"), "the job type (zeebe:taskDefinition type)")
        retries = definition.get("retries")
        if retries is not None and retries.strip():
            element.job_retries = parser.expression(node, retries, "the job retries (zeebe:taskDefinition retries)")
    for headers in _extension(node, "taskHeaders"):
        for header in headers.findall(f"{Z}header"):
            key = header.get("key")
            if key:
                element.task_headers[key] = header.get("value") or ""
    _io_mappings(parser, node, element)
    return True


def _message(parser: _ProcessParser, node: etree._Element, element: Element, message_ref: str | None) -> None:
    if not message_ref:
        parser.problem(node, "a message catch needs a messageRef to a bpmn:message")
        return
    message = parser.messages.get(message_ref)
    if message is None:
        parser.problem(node, f"the messageRef '{message_ref}' names no bpmn:message in this file")
        return
    name = parser.expression(message, message.get("name"), f"the name of message '{message_ref}'")
    subscriptions = _extension(message, "subscription")
    correlation = None
    if not subscriptions or not (subscriptions[0].get("correlationKey") or "").strip():
        parser.problem(node, f"the message '{message_ref}' needs a zeebe:subscription with a correlationKey")
    else:
        correlation = parser.expression(message, subscriptions[0].get("correlationKey"), f"the correlationKey of message '{message_ref}'")
    if name is not None:
        element.message = MessageDefinition(id=message_ref, name=name, correlation_key=correlation)


def _catch_event(parser: _ProcessParser, node: etree._Element, element: Element) -> bool:
    definitions = _event_definitions(node)
    kinds = [etree.QName(d).localname for d in definitions]
    if kinds != ["messageEventDefinition"]:
        described = kinds[0].removesuffix("EventDefinition") if kinds else "none"
        parser.problem(node, f"a {described} intermediate catch event is not supported yet; only message catch events are")
        return False
    _message(parser, node, element, definitions[0].get("messageRef"))
    _io_mappings(parser, node, element)
    return True


def _receive_task(parser: _ProcessParser, node: etree._Element, element: Element) -> bool:
    _message(parser, node, element, node.get("messageRef"))
    _io_mappings(parser, node, element)
    return True


def _exclusive_gateway(parser: _ProcessParser, node: etree._Element, element: Element) -> bool:
    element.default_flow_id = node.get("default")
    return True


def _nothing(parser: _ProcessParser, node: etree._Element, element: Element) -> bool:
    return True


FLOW_NODES: dict[str, tuple[ElementKind, ParseFn]] = {
    "startEvent": (ElementKind.START_EVENT, _none_event("start event")),
    "endEvent": (ElementKind.END_EVENT, _none_event("end event")),
    "serviceTask": (ElementKind.SERVICE_TASK, _service_task),
    "receiveTask": (ElementKind.RECEIVE_TASK, _receive_task),
    "intermediateCatchEvent": (ElementKind.INTERMEDIATE_CATCH_EVENT, _catch_event),
    "exclusiveGateway": (ElementKind.EXCLUSIVE_GATEWAY, _exclusive_gateway),
    "parallelGateway": (ElementKind.PARALLEL_GATEWAY, _nothing),
}


def parse_bpmn(xml: bytes, resource_name: str) -> Definitions:
    """Parse one BPMN resource. Raises `BpmnParseError` listing every problem found."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as error:
        line = error.position[0] if error.position else None
        raise BpmnParseError([Problem(f"the XML is malformed: {error.msg}", line=line, resource_name=resource_name)]) from None
    if etree.QName(root).namespace != BPMN_NS or etree.QName(root).localname != "definitions":
        raise BpmnParseError([
            Problem(
                f"expected a BPMN 2.0 document (<definitions> in {BPMN_NS}), but the root element is <{etree.QName(root).localname}> in {etree.QName(root).namespace or 'no namespace'}",
                line=root.sourceline,
                resource_name=resource_name,
            )
        ])
    problems: list[Problem] = []
    reader = _ProcessParser(resource_name, root, problems)
    processes = []
    executable = [p for p in root.findall(f"{B}process") if p.get("isExecutable", "false").lower() == "true"]
    if not executable:
        problems.append(Problem("the resource has no executable process (isExecutable=\"true\")", line=root.sourceline, resource_name=resource_name))
    for node in executable:
        process = reader.parse(node)
        if process is not None:
            processes.append(process)
    if problems:
        raise BpmnParseError(problems)
    return Definitions(processes=processes)
