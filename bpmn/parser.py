"""Parse BPMN 2.0 XML (with Zeebe's extensions) into the executable model of `model.py`.

Every problem in a resource is reported at once, each naming the resource, the line, the
element id and its type, what is wrong and what to do instead. `FLOW_NODES` is the one table
of the BPMN tags propolis runs and how each is read; `NOT_YET` lists the flow nodes Zeebe
runs that propolis refuses for now, with what to use meanwhile. Anything else in the BPMN
namespace that is not in `IGNORED` is refused too: silently skipping a token-carrying
element would run a different process than the one the user drew.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree
from propolis.bpmn.errors import BpmnParseError, FeelSyntaxError, Problem
from propolis.bpmn.expression import compile_expression
from propolis.bpmn.model import (
    Definitions,
    Element,
    ElementKind,
    Expression,
    Mapping_,
    MessageDefinition,
    MultiInstance,
    Process,
    SequenceFlow,
    TimerDefinition,
)
from propolis.bpmn.timers import TimerValueError, parse_cycle, parse_date, parse_duration

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
B = f"{{{BPMN_NS}}}"
Z = f"{{{ZEEBE_NS}}}"

DEFAULT_JOB_RETRIES = "3"

# Children of a process that carry no token: documentation, data, and diagram structure.
IGNORED = {
    "documentation", "extensionElements", "textAnnotation", "association", "group", "laneSet",
    "dataObject", "dataObjectReference", "dataStoreReference", "dataInputAssociation",
    "dataOutputAssociation", "property", "ioSpecification", "ioBinding", "auditing", "monitoring",
    "supports", "correlationSubscription", "resourceRole", "performer", "humanPerformer",
    "potentialOwner",
    # children of a sub-process that belong to the sub-process itself, not to its scope
    "incoming", "outgoing", "multiInstanceLoopCharacteristics", "standardLoopCharacteristics",
}

# Flow nodes that Zeebe runs but propolis does not yet, with what to do meanwhile.
NOT_YET = {
    "adHocSubProcess": "Flatten it into the process for now",
    "transaction": "Flatten it into the process for now",
    "complexGateway": "Use parallel and exclusive gateways",
}

# Zeebe extensions that change behaviour: ignoring them would run something else.
UNSUPPORTED_EXTENSIONS = {
    "executionListeners": "execution listeners",
    "taskListeners": "task listeners",
}

# An ioMapping target is a variable name or a dotted path into a context.
_TARGET = re.compile(r"(?:[^\W\d]|\$)[\w$]*(?:\.(?:[^\W\d]|\$)[\w$]*)*")
# A Camunda 7 (JUEL) condition such as ${approved} or #{!approved}.
_JUEL = re.compile(r"^[$#]\{(.*)\}$", re.DOTALL)
_PLAIN_NAME = re.compile(r"[^\W\d][\w]*")

# A reader fills in the element; it returns False when the element cannot run at all.
ReadFn = Callable[["_ProcessReader", etree._Element, Element], bool]


def parse_bpmn(xml: bytes, resource_name: str) -> Definitions:
    """Parse one BPMN resource into its executable processes.

    Raises `BpmnParseError` listing every problem found (never any other exception for bad
    input): malformed XML, a document that is not BPMN, no executable process, elements
    propolis does not support yet, broken references, invalid FEEL.
    """
    if isinstance(xml, str):  # be lenient with callers that read the file as text
        xml = xml.encode("utf-8")
    root = _parse_xml(xml, resource_name)
    problems: list[Problem] = []
    reader = _ProcessReader(resource_name, root, problems)
    reader.check_unique_ids()
    processes = []
    executable = [p for p in root.findall(f"{B}process") if (p.get("isExecutable") or "").strip().lower() == "true"]
    if not executable:
        declared = root.findall(f"{B}process")
        found = f"it has {len(declared)} process(es), none with isExecutable=\"true\"" if declared else "it has no process"
        problems.append(
            Problem(
                f"the resource has no executable process: {found}. "
                "Mark the process to deploy as executable (isExecutable=\"true\")",
                element_type="bpmn:definitions",
                line=root.sourceline,
                resource_name=resource_name,
            )
        )
    for node in executable:
        process = reader.read_process(node)
        if process is not None:
            processes.append(process)
    if problems:
        # In file order, so a user can walk through the file fixing them.
        raise BpmnParseError(sorted(problems, key=lambda p: p.line or 0))
    return Definitions(processes=processes)


def _parse_xml(xml: bytes, resource_name: str) -> etree._Element:
    # No entity expansion from outside, no network, libxml2's size limits on: a resource
    # comes from a client and must not be able to read files or exhaust memory.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as error:
        line, column = error.position if error.position else (None, None)
        message = re.sub(r", line \d+, column \d+$", "", error.msg or "unreadable")
        where = f" (column {column})" if column else ""
        raise BpmnParseError(
            [Problem(f"the XML is not well-formed: {message}{where}", line=line, resource_name=resource_name)]
        ) from None
    except ValueError as error:  # e.g. text with an encoding declaration
        raise BpmnParseError([Problem(f"the XML cannot be read: {error}", line=1, resource_name=resource_name)]) from None
    qname = etree.QName(root)
    if qname.namespace != BPMN_NS or qname.localname != "definitions":
        found = f"<{qname.localname}> in namespace {qname.namespace}" if qname.namespace else f"<{qname.localname}> without namespace"
        hint = f"Expected <definitions> in namespace {BPMN_NS}"
        if "DMN" in (qname.namespace or "").upper():
            hint = "It is a DMN decision; DMN is not supported yet"
        raise BpmnParseError(
            [
                Problem(
                    f"this is not a BPMN 2.0 document: the root element is {found}. {hint}",
                    line=root.sourceline,
                    resource_name=resource_name,
                )
            ]
        )
    return root


def _type_name(node: etree._Element) -> str:
    qname = etree.QName(node)
    prefix = "bpmn" if qname.namespace == BPMN_NS else "zeebe" if qname.namespace == ZEEBE_NS else node.prefix
    return f"{prefix}:{qname.localname}" if prefix else qname.localname


def _local(node: etree._Element) -> str:
    return node.tag.rpartition("}")[2]


def _is_bpmn(node: etree._Element) -> bool:
    tag = node.tag  # not a str for processing instructions and entities
    return type(tag) is str and tag.startswith(B)


@dataclass(slots=True)
class _Scope:
    """The start events of a process or sub-process, as its reader found them."""

    start_id: str | None  # the none start event (an event sub-process: its one start event)
    event_start_ids: list[str]  # process level: message, timer and signal start events
    catch_ids: list[str]  # the start events of the event sub-processes directly inside


class _ProcessReader:
    """Reads the processes of one resource, collecting problems instead of stopping."""

    def __init__(self, resource_name: str, root: etree._Element, problems: list[Problem]) -> None:
        self.resource_name = resource_name
        self.root = root
        self.problems = problems
        self.message_nodes = {m.get("id"): m for m in root.iter(f"{B}message")}
        self.error_nodes = {e.get("id"): e for e in root.iter(f"{B}error")}
        self.signal_nodes = {e.get("id"): e for e in root.iter(f"{B}signal")}
        self.escalation_nodes = {e.get("id"): e for e in root.iter(f"{B}escalation")}
        # A message is read (and its problems reported) once, however many elements use it.
        self.messages: dict[str, MessageDefinition | None] = {}
        self.keyless_reported: set[str] = set()  # messages reported as lacking a correlation key
        # Flows whose condition was written but is wrong: reported once, not also as missing.
        self.flows_with_bad_condition: set[str] = set()
        self.process_of: dict[str, str] = {}  # element id -> id of its process, for hints
        for process in root.findall(f"{B}process"):
            for node in process.iter(f"{B}*"):  # lxml filters by namespace in C
                if node.get("id"):
                    self.process_of[node.get("id")] = process.get("id") or "?"
        self.duplicates: set[int] = set()  # id() of nodes whose id repeats an earlier one

    # -- reporting --------------------------------------------------------------------------
    def problem(self, node: etree._Element | None, what: str, hint: str | None = None, element_id: str | None = None) -> None:
        message = f"{what}. {hint}" if hint else what
        self.problems.append(
            Problem(
                message=message,
                element_id=element_id if element_id is not None else (node.get("id") if node is not None else None),
                element_type=_type_name(node) if node is not None else None,
                line=node.sourceline if node is not None else None,
                resource_name=self.resource_name,
            )
        )

    def expression(self, node: etree._Element, text: str | None, what: str, required: bool = True) -> Expression | None:
        """Compile a value of the model; a syntax error is a problem naming `what`."""
        if text is None or not text.strip():
            if required:
                self.problem(node, f"{what} is missing")
            return None
        try:
            return compile_expression(text.strip() if text.lstrip().startswith("=") else text)
        except FeelSyntaxError as error:
            self.problem(node, f"{what} is not valid FEEL: {error}")
            return None

    def check_unique_ids(self) -> None:
        first_line: dict[str, int] = {}
        for node in self.root.iter(f"{B}*"):
            node_id = node.get("id")
            if not node_id:
                continue
            if node_id in first_line:
                self.duplicates.add(id(node))
                self.problem(
                    node,
                    f"the id '{node_id}' is already used by the element on line {first_line[node_id]}",
                    "Ids must be unique within a file; rename one of them",
                )
            else:
                first_line[node_id] = node.sourceline

    # -- process ----------------------------------------------------------------------------
    def read_process(self, node: etree._Element) -> Process | None:
        process_id = (node.get("id") or "").strip()
        if not process_id:
            self.problem(node, "the process has no id", "Give it an id: it is the bpmnProcessId that instances are created with")
            return None
        elements: dict[str, Element] = {}
        flows: dict[str, SequenceFlow] = {}
        nodes: dict[str, etree._Element] = {}  # id -> XML node, for elements and flows
        scope = self.read_scope(node, None, elements, flows, nodes)
        self.link(node, nodes, elements, flows)
        if scope is None:
            return None
        return Process(
            id=process_id,
            name=node.get("name"),
            line=node.sourceline,
            elements=elements,
            flows=flows,
            start_event_id=scope.start_id,
            event_start_ids=scope.event_start_ids,
            catch_ids=scope.catch_ids,
            inclusive_join_ids=[e.id for e in elements.values() if e.kind == ElementKind.INCLUSIVE_GATEWAY and len(e.incoming) > 1],
        )

    def read_scope(
        self,
        node: etree._Element,
        parent: Element | None,
        elements: dict[str, Element],
        flows: dict[str, SequenceFlow],
        nodes: dict[str, etree._Element],
    ) -> _Scope | None:
        """Read the flow nodes of a process or a sub-process (recursively) into `elements` and
        `flows`; return its start events, or None when it cannot start."""
        parent_id = parent.id if parent is not None else None
        event_sub = parent is not None and parent.kind == ElementKind.EVENT_SUB_PROCESS
        refused_start_events = 0
        starts: list[Element] = []
        event_starts: list[Element] = []
        catch_ids: list[str] = []
        for child in node:
            if not _is_bpmn(child):
                continue  # comments, other vendors' and diagram elements
            tag = _local(child)
            if tag in IGNORED:
                continue
            child_id = child.get("id")
            if not child_id:
                self.problem(child, f"a {_type_name(child)} has no id", "Give every element an id")
                continue
            if id(child) in self.duplicates:
                continue  # reported by check_unique_ids
            nodes[child_id] = child
            if tag == "sequenceFlow":
                flows[child_id] = self.sequence_flow(child)
                continue
            reader = FLOW_NODES.get(tag)
            if tag == "subProcess" and (child.get("triggeredByEvent") or "").strip().lower() == "true":
                reader = (ElementKind.EVENT_SUB_PROCESS, _sub_process)
            if reader is None:
                hint = NOT_YET.get(tag, "It is not a BPMN element that propolis can run")
                self.problem(child, f"{_type_name(child)} is not supported yet", hint)
                continue
            kind, read = reader
            element = Element(id=child_id, kind=kind, line=child.sourceline, name=child.get("name"), parent_id=parent_id)
            self.check_common(child, element)
            if kind == ElementKind.START_EVENT:
                ok = _start_event(self, child, element, "event" if event_sub else "process" if parent is None else "sub")
            else:
                ok = read(self, child, element)
            if ok:
                elements[child_id] = element
                if kind == ElementKind.START_EVENT:
                    (event_starts if element.event_type != "UNSPECIFIED" else starts).append(element)
                elif kind in (ElementKind.SUB_PROCESS, ElementKind.EVENT_SUB_PROCESS):
                    inner = self.read_scope(child, element, elements, flows, nodes)
                    if inner is not None:
                        element.start_event_id = inner.start_id
                        element.catch_ids = inner.catch_ids
                        if kind == ElementKind.EVENT_SUB_PROCESS:
                            catch_ids.append(inner.start_id)
            elif kind == ElementKind.START_EVENT:
                refused_start_events += 1
        where = "the process" if parent_id is None else f"the event sub-process '{parent_id}'" if event_sub else f"the sub-process '{parent_id}'"
        if event_sub:
            if len(event_starts) != 1 or starts:
                if not refused_start_events:
                    found = ", ".join(f"'{s.id}' (line {s.line})" for s in [*starts, *event_starts]) or "none"
                    self.problem(node, f"{where} must have exactly one start event with an event definition, but has: {found}", "Give it one message, timer, signal, error or escalation start event")
                return None
            return _Scope(event_starts[0].id, [], catch_ids)
        if len(starts) > 1:
            listed = ", ".join(f"'{s.id}' (line {s.line})" for s in starts)
            self.problem(node, f"{where} has {len(starts)} none start events: {listed}", "It may have only one; remove the others")
            return None
        if not starts and not event_starts:
            if not refused_start_events:  # otherwise the refused start event says it all
                hint = "Add a none, message, timer or signal start event"
                if parent_id is not None:
                    hint = "An embedded sub-process starts at its one none start event; add one inside it"
                self.problem(node, f"{where} has no start event", hint)
            return None
        if parent_id is not None and not starts:
            return None  # the sub-process reader reported its event start events
        return _Scope(starts[0].id if starts else None, [e.id for e in event_starts], catch_ids)

    def check_common(self, node: etree._Element, element: Element | None = None) -> None:
        """What any flow node may carry that changes how it runs and is not supported yet."""
        for child in node:
            if _is_bpmn(child) and _local(child) == "standardLoopCharacteristics":
                self.problem(node, f"a loop ({_type_name(child)}, line {child.sourceline}) is not supported, as in Zeebe", "Use multi-instance, or a gateway that loops back")
            if _is_bpmn(child) and _local(child) == "multiInstanceLoopCharacteristics" and element is not None:
                element.multi_instance = self.multi_instance(node, child)
        for extension in _extensions(node):
            label = UNSUPPORTED_EXTENSIONS.get(_local(extension)) if extension.tag.startswith(Z) else None
            if label:
                self.problem(node, f"{label} ({_type_name(extension)}, line {extension.sourceline}) are not supported yet", "Remove them for now")
        if (node.get("isForCompensation") or "").strip().lower() == "true" and element is not None:
            element.is_for_compensation = True

    def sequence_flow(self, node: etree._Element) -> SequenceFlow:
        flow_id = node.get("id")
        condition = None
        for child in node:
            if not (_is_bpmn(child) and _local(child) == "conditionExpression"):
                continue
            text = (child.text or "").strip()
            if not text:
                continue  # an empty condition element, as modelers leave behind: no condition
            if not text.startswith("="):
                self.flows_with_bad_condition.add(flow_id)
                self.problem(node, f"the condition '{text}' of sequence flow '{flow_id}' is not a FEEL expression", _condition_hint(text))
                continue
            condition = self.expression(node, text, f"the conditionExpression of sequence flow '{flow_id}'")
            if condition is None:
                self.flows_with_bad_condition.add(flow_id)
        return SequenceFlow(
            id=flow_id,
            source_id=(node.get("sourceRef") or "").strip(),
            target_id=(node.get("targetRef") or "").strip(),
            condition=condition,
            line=node.sourceline,
            name=node.get("name"),
        )

    def link(
        self,
        process: etree._Element,
        by_id: dict[str, etree._Element],
        elements: dict[str, Element],
        flows: dict[str, SequenceFlow],
    ) -> None:
        """Connect flows to their elements, and check what needs the whole graph."""
        process_id = process.get("id")
        for flow in flows.values():
            node = by_id[flow.id]
            for end, ref in (("sourceRef", flow.source_id), ("targetRef", flow.target_id)):
                if ref in elements or ref in by_id or self.process_of.get(ref) == process_id:
                    continue  # exists; if it is not in `elements` it was refused and reported
                self.problem(node, *self.missing_reference(flow.id, end, ref, list(elements), process_id), element_id=flow.id)
            source = elements.get(flow.source_id)
            target = elements.get(flow.target_id)
            if source is not None and target is not None and source.parent_id != target.parent_id:
                inside = lambda e: f"sub-process '{e.parent_id}'" if e.parent_id else "the process level"  # noqa: E731
                self.problem(
                    node,
                    f"sequence flow '{flow.id}' connects '{source.id}' in {inside(source)} to '{target.id}' in {inside(target)}",
                    "A sequence flow cannot cross a sub-process boundary; connect to the sub-process itself",
                    element_id=flow.id,
                )
                continue
            if source is not None:
                source.outgoing.append(flow.id)
                if flow.condition is not None and source.kind not in (ElementKind.EXCLUSIVE_GATEWAY, ElementKind.INCLUSIVE_GATEWAY):
                    self.problem(
                        node,
                        f"sequence flow '{flow.id}' has a condition, but it leaves {_type_name(by_id[source.id])} '{source.id}'",
                        "Only flows leaving an exclusive or inclusive gateway may have conditions; add a gateway before the flow",
                    )
            if target is not None:
                target.incoming.append(flow.id)
        self.link_compensation(process, by_id, elements)
        catches: dict[tuple[str | None, str], list[Element]] = {}
        for element in elements.values():
            if element.link_name and element.kind == ElementKind.INTERMEDIATE_CATCH_EVENT:
                catches.setdefault((element.parent_id, element.link_name), []).append(element)
        for (_, name), found in catches.items():
            for extra in found[1:]:
                self.problem(by_id[extra.id], f"the link name '{name}' is also used by link catch event '{found[0].id}' in the same scope", "Link catch event names must be unique within their scope")
        for element in elements.values():
            node = by_id[element.id]
            if element.link_name and element.kind == ElementKind.INTERMEDIATE_THROW_EVENT:
                found = catches.get((element.parent_id, element.link_name))
                if not found:
                    names = sorted(n for (p, n) in catches if p == element.parent_id)
                    close = difflib.get_close_matches(element.link_name, names, n=1)
                    self.problem(
                        node,
                        f"no link catch event named '{element.link_name}' is in the same scope",
                        f"Did you mean '{close[0]}'?" if close else "Add an intermediate catch event with a link definition of that name",
                    )
                else:
                    element.link_target_id = found[0].id
            if element.kind == ElementKind.BOUNDARY_EVENT:
                self.check_boundary(node, element, elements)
            if element.kind == ElementKind.START_EVENT and element.incoming:
                self.problem(node, f"a start event cannot have incoming sequence flows, but it has {_quoted(element.incoming)}", "Remove them or target another element")
            if element.kind == ElementKind.END_EVENT and element.outgoing:
                self.problem(node, f"an end event cannot have outgoing sequence flows, but it has {_quoted(element.outgoing)}", "Remove them, or use another element type")
            if element.kind == ElementKind.EXCLUSIVE_GATEWAY:
                self.check_exclusive(node, element, flows)
            if element.kind == ElementKind.INCLUSIVE_GATEWAY:
                self.check_default(node, element)
            if element.kind == ElementKind.EVENT_BASED_GATEWAY:
                self.check_event_based(node, element, elements, flows)
            if element.kind == ElementKind.EVENT_SUB_PROCESS and (element.incoming or element.outgoing):
                self.problem(node, "an event sub-process cannot have incoming or outgoing sequence flows", "Remove them: it starts by its start event's trigger and ends inside")

    def link_compensation(self, process: etree._Element, by_id: dict[str, etree._Element], elements: dict[str, Element]) -> None:
        """A compensation boundary event names its handler through a bpmn:association."""
        handler_of: dict[str, str] = {}
        for association in process.iter(f"{B}association"):
            source, target = (association.get("sourceRef") or "").strip(), (association.get("targetRef") or "").strip()
            if source in elements and elements[source].event_type == "COMPENSATION" and elements[source].kind == ElementKind.BOUNDARY_EVENT:
                handler_of[source] = target
        for element in elements.values():
            node = by_id[element.id]
            if element.kind == ElementKind.BOUNDARY_EVENT and element.event_type == "COMPENSATION":
                handler = elements.get(handler_of.get(element.id, ""))
                activity = elements.get(element.attached_to or "")
                if handler is None or not handler.is_for_compensation:
                    self.problem(node, "the compensation boundary event has no compensation handler", "Connect it by an association to an activity with isForCompensation=\"true\"")
                elif activity is not None:
                    activity.compensation_handler_id = handler.id
                if element.outgoing:
                    self.problem(node, "a compensation boundary event cannot have outgoing sequence flows", "Remove them: its handler is connected by an association")
            if element.is_for_compensation and (element.incoming or element.outgoing):
                self.problem(node, "a compensation handler cannot have incoming or outgoing sequence flows", "Remove them: it runs only when compensation is thrown")
            ref = element.compensation_activity_ref
            if ref is not None and (ref not in elements or elements[ref].parent_id != element.parent_id):
                self.problem(node, f"the compensation activityRef '{ref}' names no activity in the same scope", "Name an activity beside the event, or remove activityRef to compensate every activity")

    def check_boundary(self, node: etree._Element, element: Element, elements: dict[str, Element]) -> None:
        target = elements.get(element.attached_to)
        if element.incoming:
            self.problem(node, f"a boundary event cannot have incoming sequence flows, but it has {_quoted(element.incoming)}", "Remove them")
        if target is None:
            if self.process_of.get(element.attached_to) is None:
                close = difflib.get_close_matches(element.attached_to, list(elements), n=1)
                self.problem(
                    node,
                    f"the boundary event is attached to '{element.attached_to}', but no element with that id exists",
                    f"Did you mean '{close[0]}'?" if close else "Set attachedToRef to the id of a task or sub-process",
                )
            return
        if target.kind not in _ACTIVITIES:
            self.problem(node, f"the boundary event is attached to '{target.id}', a {target.kind.value.lower().replace('_', ' ')}", "Attach boundary events to tasks and sub-processes only")
            return
        if target.parent_id != element.parent_id:
            self.problem(node, f"the boundary event is not in the same scope as '{target.id}'", "Place it on the border of that activity")
            return
        target.boundary_ids.append(element.id)

    def missing_reference(self, flow_id: str, end: str, ref: str, ids: list[str], process_id: str | None) -> tuple[str, str | None]:
        if not ref:
            return f"sequence flow '{flow_id}' has no {end}", f"Set {end} to the id of an element of process '{process_id}'"
        other = self.process_of.get(ref)
        if other is not None and other != process_id:
            return (
                f"the {end} of sequence flow '{flow_id}' is '{ref}', which is in process '{other}'",
                "A sequence flow cannot leave its process; use a message between processes",
            )
        close = difflib.get_close_matches(ref, ids, n=1)
        hint = f"Did you mean '{close[0]}'?" if close else None
        return f"the {end} of sequence flow '{flow_id}' is '{ref}', but no element with that id exists in process '{process_id}'", hint

    def check_default(self, node: etree._Element, element: Element) -> None:
        default = element.default_flow_id
        if default is not None and default not in element.outgoing:
            choices = _quoted(element.outgoing) if element.outgoing else "none"
            self.problem(
                node,
                f"the default flow '{default}' is not an outgoing sequence flow of this gateway",
                f"Set default to one of its outgoing flows ({choices})",
            )

    def check_event_based(self, node: etree._Element, element: Element, elements: dict[str, Element], flows: dict[str, SequenceFlow]) -> None:
        if len(element.outgoing) < 2:
            self.problem(node, f"an event-based gateway needs at least two outgoing sequence flows, but it has {len(element.outgoing)}", "Connect it to two or more catch events")
        for flow_id in element.outgoing:
            target = elements.get(flows[flow_id].target_id)
            if target is None:
                continue
            waits = target.kind == ElementKind.INTERMEDIATE_CATCH_EVENT and (target.message or target.timer or target.signal_name)
            if not waits:
                self.problem(
                    node,
                    f"the sequence flow '{flow_id}' leads to '{target.id}', which is not a message, timer or signal intermediate catch event",
                    "An event-based gateway may only lead to message, timer or signal intermediate catch events",
                )
                continue
            if len(target.incoming) > 1:
                self.problem(node, f"the catch event '{target.id}' after the event-based gateway has other incoming flows", "Give it the gateway as its only incoming flow")
            element.catch_ids.append(target.id)

    def check_exclusive(self, node: etree._Element, element: Element, flows: dict[str, SequenceFlow]) -> None:
        self.check_default(node, element)
        default = element.default_flow_id
        if len(element.outgoing) > 1:
            for flow_id in element.outgoing:
                if flow_id != default and flows[flow_id].condition is None and flow_id not in self.flows_with_bad_condition:
                    self.problem(
                        node,
                        f"the outgoing sequence flow '{flow_id}' has no condition",
                        "Every outgoing flow of an exclusive gateway except the default needs one; "
                        "add a conditionExpression such as '=amount > 100', or make it the default flow",
                    )

    def multi_instance(self, node: etree._Element, loop: etree._Element) -> MultiInstance | None:
        characteristics = [e for e in _extensions(loop) if e.tag == f"{Z}loopCharacteristics"]
        if not characteristics:
            self.problem(node, "the multi-instance has no zeebe:loopCharacteristics", "Add <zeebe:loopCharacteristics inputCollection=\"=items\" inputElement=\"item\" /> to its loop characteristics")
            return None
        spec = characteristics[0]
        collection = self.expression(node, spec.get("inputCollection"), "the inputCollection (zeebe:loopCharacteristics)")
        if collection is not None and collection.is_static:
            self.problem(node, f"the inputCollection '{collection.source}' is not an expression", "Start it with '=', such as '=items'")
            collection = None
        names = {}
        for attribute in ("inputElement", "outputCollection"):
            text = (spec.get(attribute) or "").strip() or None
            if text is not None and not _PLAIN_NAME.fullmatch(text):
                self.problem(node, f"the {attribute} '{text}' is not a variable name", "Use a name such as 'item'")
                text = None
            names[attribute] = text
        output_element = None
        if spec.get("outputElement"):
            output_element = self.expression(node, spec.get("outputElement"), "the outputElement (zeebe:loopCharacteristics)")
            if names["outputCollection"] is None:
                self.problem(node, "the multi-instance has an outputElement but no outputCollection", "Set outputCollection to the variable that collects the results")
        condition = None
        for child in loop:
            if _is_bpmn(child) and _local(child) == "completionCondition" and (child.text or "").strip():
                condition = self.expression(node, child.text.strip(), "the completionCondition")
        if collection is None:
            return None
        return MultiInstance(
            sequential=(loop.get("isSequential") or "false").strip().lower() == "true",
            input_collection=collection,
            input_element=names["inputElement"],
            output_collection=names["outputCollection"],
            output_element=output_element,
            completion_condition=condition,
        )

    # -- errors -----------------------------------------------------------------------------
    def error_code(self, node: etree._Element, definition: etree._Element, catching: bool) -> tuple[Expression | None, bool]:
        """The code of an errorEventDefinition: (expression, catches every error)."""
        return self.thrown_code(node, definition, catching, "error")

    def escalation_code(self, node: etree._Element, definition: etree._Element, catching: bool) -> tuple[Expression | None, bool]:
        """The code of an escalationEventDefinition: (expression, catches every escalation)."""
        return self.thrown_code(node, definition, catching, "escalation")

    def thrown_code(self, node: etree._Element, definition: etree._Element, catching: bool, kind: str) -> tuple[Expression | None, bool]:
        """The code of an error or escalation an event throws or catches: (expression, catches
        all). A catch event without a reference or code catches every one, as in Zeebe."""
        nodes = self.error_nodes if kind == "error" else self.escalation_nodes
        ref_attribute, code_attribute = f"{kind}Ref", f"{kind}Code"
        ref = (definition.get(ref_attribute) or "").strip()
        if not ref:
            if catching:
                return None, True
            self.problem(node, f"the {kind} event has no {ref_attribute}", f"Set {ref_attribute} to a bpmn:{kind} with an {code_attribute}")
            return None, False
        target = nodes.get(ref)
        if target is None:
            close = difflib.get_close_matches(ref, [e for e in nodes if e], n=1)
            self.problem(node, f"the {ref_attribute} '{ref}' names no bpmn:{kind} in this file", f"Did you mean '{close[0]}'?" if close else f"Add a bpmn:{kind} with that id and an {code_attribute}")
            return None, False
        code = target.get(code_attribute)
        if code is None or not code.strip():
            if catching:
                return None, True
            self.problem(target, f"the {kind} '{ref}' has no {code_attribute}, but element '{node.get('id')}' throws it", f"Give it an {code_attribute}")
            return None, False
        if catching and code.strip().startswith("="):
            self.problem(target, f"the {code_attribute} of {kind} '{ref}' is an expression, but element '{node.get('id')}' catches it", f"A caught {kind} code must be a static value")
            return None, False
        return self.expression(target, code, f"the {code_attribute} of {kind} '{ref}'"), False

    # -- messages ---------------------------------------------------------------------------
    def message(self, node: etree._Element, message_ref: str | None, needs_key: bool = True) -> MessageDefinition | None:
        """The message an element waits for. Every waiting element but a process's message
        start event needs a correlation key: it picks the instance a message is for."""
        message_ref = (message_ref or "").strip()
        if not message_ref:
            self.problem(node, "it waits for a message but has no messageRef", "Set messageRef to the id of a bpmn:message with a name and a correlation key")
            return None
        if message_ref not in self.messages:
            self.messages[message_ref] = self._message(node, message_ref)
        definition = self.messages[message_ref]
        if definition is not None and needs_key and definition.correlation_key is None:
            message = self.message_nodes[message_ref]
            if message_ref in self.keyless_reported:
                return None
            self.keyless_reported.add(message_ref)
            self.problem(
                message,
                f"the message '{message_ref}' has no correlation key, but element '{node.get('id')}' waits for it",
                "Add <zeebe:subscription correlationKey=\"=orderId\" /> (an expression) under its extensionElements",
            )
            return None
        return definition

    def _message(self, node: etree._Element, message_ref: str) -> MessageDefinition | None:
        message = self.message_nodes.get(message_ref)
        if message is None:
            close = difflib.get_close_matches(message_ref, [m for m in self.message_nodes if m], n=1)
            self.problem(
                node,
                f"the messageRef '{message_ref}' names no bpmn:message in this file",
                f"Did you mean '{close[0]}'?" if close else "Add a bpmn:message with that id under bpmn:definitions",
            )
            return None
        return self.read_message(message, message_ref)

    def read_message(self, message: etree._Element, message_ref: str) -> MessageDefinition | None:
        name_text = message.get("name")
        name = None
        if name_text is None or not name_text.strip():
            self.problem(message, f"the message '{message_ref}' has no name", "Give it a name, static or an expression starting with '='")
        else:
            name = self.expression(message, name_text, f"the name of message '{message_ref}'")
        subscriptions = [e for e in _extensions(message) if e.tag == f"{Z}subscription"]
        key_text = subscriptions[0].get("correlationKey") if subscriptions else None
        correlation_key = None
        key_problem = False
        if key_text is None or not key_text.strip():
            pass  # reported by `message` for the elements that need one
        elif not key_text.lstrip().startswith("="):
            key_problem = True
            # As in Zeebe: a static key would give every instance the same key.
            suggestion = f"write '={key_text.strip()}' to read that variable" if _TARGET.fullmatch(key_text.strip()) else "such as '=orderId'"
            self.problem(
                message,
                f"the correlationKey '{key_text}' of message '{message_ref}' is a static value, but it must be an expression",
                f"Start it with '=': {suggestion}",
            )
        else:
            correlation_key = self.expression(message, key_text, f"the correlationKey of message '{message_ref}'")
            key_problem = correlation_key is None
        if name is None or key_problem:
            return None
        return MessageDefinition(id=message_ref, name=name, correlation_key=correlation_key)

    # -- signals and escalations ------------------------------------------------------------
    def signal(self, node: etree._Element, definition: etree._Element) -> Expression | None:
        """The name of the bpmn:signal a signal event throws or catches."""
        ref = (definition.get("signalRef") or "").strip()
        signal = self.signal_nodes.get(ref) if ref else None
        if signal is None:
            close = difflib.get_close_matches(ref, [e for e in self.signal_nodes if e], n=1) if ref else []
            what = f"the signalRef '{ref}' names no bpmn:signal in this file" if ref else "the signal event has no signalRef"
            self.problem(node, what, f"Did you mean '{close[0]}'?" if close else "Add a bpmn:signal with a name and set signalRef to its id")
            return None
        name = signal.get("name")
        if name is None or not name.strip():
            self.problem(signal, f"the signal '{ref}' has no name", "Give it a name: signals are broadcast by name")
            return None
        return self.expression(signal, name, f"the name of signal '{ref}'")



_ACTIVITIES = frozenset({
    ElementKind.SERVICE_TASK, ElementKind.RECEIVE_TASK, ElementKind.USER_TASK, ElementKind.SCRIPT_TASK,
    ElementKind.BUSINESS_RULE_TASK, ElementKind.SEND_TASK, ElementKind.MANUAL_TASK, ElementKind.TASK,
    ElementKind.SUB_PROCESS, ElementKind.CALL_ACTIVITY,
})


def _quoted(ids: list[str]) -> str:
    return ", ".join(f"'{i}'" for i in ids)


def _condition_hint(text: str) -> str:
    juel = _JUEL.match(text)
    if juel and _PLAIN_NAME.fullmatch(juel.group(1).strip()):
        return f"This looks like a Camunda 7 (JUEL) expression; in Zeebe write '={juel.group(1).strip()}'"
    if juel:
        return "This looks like a Camunda 7 (JUEL) expression; Zeebe conditions are FEEL expressions starting with '=', such as '=amount > 100'"
    return "Conditions are FEEL expressions starting with '=', such as '=amount > 100'"


# -- element readers ----------------------------------------------------------------------
def _extensions(node: etree._Element) -> list[etree._Element]:
    return [
        child
        for ext in node
        if _is_bpmn(ext) and _local(ext) == "extensionElements"
        for child in ext
        if isinstance(child.tag, str)
    ]


def _zeebe(node: etree._Element, name: str) -> list[etree._Element]:
    return [e for e in _extensions(node) if e.tag == f"{Z}{name}"]


def _io_mappings(reader: _ProcessReader, node: etree._Element, element: Element) -> None:
    for io in _zeebe(node, "ioMapping"):
        for direction, mappings in (("input", element.input_mappings), ("output", element.output_mappings)):
            for mapping in io.findall(f"{Z}{direction}"):
                target = (mapping.get("target") or "").strip()
                if not target:
                    reader.problem(node, f"a zeebe:{direction} (line {mapping.sourceline}) has no target", "Set target to the variable to assign")
                    continue
                if not _TARGET.fullmatch(target):
                    reader.problem(
                        node,
                        f"the target '{target}' of a zeebe:{direction} (line {mapping.sourceline}) is not a variable name or a path",
                        "Use a name such as 'total', or a path such as 'order.total'",
                    )
                    continue
                # A mapping without a source assigns null, as in Zeebe.
                source_text = mapping.get("source")
                if source_text is None or not source_text.strip():
                    source_text = "=null"
                source = reader.expression(node, source_text, f"the source of zeebe:{direction} '{target}'")
                if source is not None:
                    mappings.append(Mapping_(source=source, target=target))


def _no_io_mappings(reader: _ProcessReader, node: etree._Element) -> None:
    for io in _zeebe(node, "ioMapping"):
        reader.problem(node, f"zeebe:ioMapping (line {io.sourceline}) is not supported on a {_type_name(node)}", "Move the mappings to a task or an event")


def _event_definitions(node: etree._Element) -> list[etree._Element]:
    return [c for c in node if _is_bpmn(c) and _local(c).endswith("EventDefinition")]


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _kind_of(definition: etree._Element) -> str:
    return _local(definition).removesuffix("EventDefinition")


def _start_event(reader: _ProcessReader, node: etree._Element, element: Element, scope: str) -> bool:
    """A none start event anywhere; message, timer and signal start events at the process
    level; in an event sub-process, exactly one start event that also may catch an error or
    an escalation, interrupting (the default) or not."""
    definitions = _event_definitions(node)
    kinds = [_kind_of(d) for d in definitions]
    element.cancel_activity = (node.get("isInterrupting") or "true").strip().lower() != "false"
    if not kinds:
        _io_mappings(reader, node, element)
        return True
    if scope == "sub":
        reader.problem(node, f"{_a(kinds[0])} start event cannot start an embedded sub-process", "Use a none start event; an event sub-process (triggeredByEvent=\"true\") starts by events")
        return False
    allowed = ("message", "timer", "signal", "error", "escalation") if scope == "event" else ("message", "timer", "signal")
    if len(kinds) > 1 or kinds[0] not in allowed:
        where = "in an event sub-process" if scope == "event" else "at the process level"
        reader.problem(node, f"{_a(' and '.join(kinds))} start event is not supported {where}", f"Use one of: none, {', '.join(allowed)}")
        return False
    kind, definition = kinds[0], definitions[0]
    element.event_type = kind.upper()
    if kind == "message":
        element.message = reader.message(node, definition.get("messageRef"), needs_key=scope == "event")
        if element.message is None:
            return False
    elif kind == "timer":
        element.timer = _timer(reader, node, definition)
        if element.timer is not None and scope == "event" and element.timer.kind == "cycle" and element.cancel_activity:
            reader.problem(node, "an interrupting timer start event of an event sub-process cannot have a timeCycle", "Make it non-interrupting (isInterrupting=\"false\") or use a timeDuration or timeDate")
    elif kind == "signal":
        element.signal_name = reader.signal(node, definition)
    elif kind == "error":
        element.error_code, element.catches_all_errors = reader.error_code(node, definition, catching=True)
        if not element.cancel_activity:
            reader.problem(node, "an error start event cannot be non-interrupting", "Remove isInterrupting=\"false\": an error always interrupts its scope")
    elif kind == "escalation":
        element.escalation_code, element.catches_all_escalations = reader.escalation_code(node, definition, catching=True)
    _io_mappings(reader, node, element)
    return True


def _end_event(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    definitions = _event_definitions(node)
    kinds = [_kind_of(d) for d in definitions]
    if kinds == ["terminate"]:
        element.event_type = "TERMINATE"
    elif kinds == ["error"]:
        element.event_type = "ERROR"
        element.error_code, _ = reader.error_code(node, definitions[0], catching=False)
    elif kinds == ["message"]:
        return _message_throw(reader, node, element, "message end event")
    elif kinds == ["signal"]:
        element.event_type = "SIGNAL"
        element.signal_name = reader.signal(node, definitions[0])
    elif kinds == ["escalation"]:
        element.event_type = "ESCALATION"
        element.escalation_code, _ = reader.escalation_code(node, definitions[0], catching=False)
    elif kinds == ["compensate"]:
        _compensation_throw(reader, node, element, definitions[0])
    elif kinds:
        reader.problem(node, f"{_a(' and '.join(kinds))} end event is not supported yet", "Use a none, terminate, error, message, signal, escalation or compensation end event")
        return False
    _io_mappings(reader, node, element)
    return True


def _throw_event(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    definitions = _event_definitions(node)
    kinds = [_kind_of(d) for d in definitions]
    if kinds == ["message"]:
        return _message_throw(reader, node, element, "message intermediate throw event")
    if kinds == ["link"]:
        return _link(reader, node, element, definitions[0])
    if kinds == ["signal"]:
        element.event_type = "SIGNAL"
        element.signal_name = reader.signal(node, definitions[0])
    elif kinds == ["escalation"]:
        element.event_type = "ESCALATION"
        element.escalation_code, _ = reader.escalation_code(node, definitions[0], catching=False)
    elif kinds == ["compensate"]:
        _compensation_throw(reader, node, element, definitions[0])
    elif kinds:
        reader.problem(
            node,
            f"{_a(' and '.join(kinds))} intermediate throw event is not supported yet",
            "Use a none, message, signal, escalation, compensation or link intermediate throw event",
        )
        return False
    _io_mappings(reader, node, element)
    return True


def _compensation_throw(reader: _ProcessReader, node: etree._Element, element: Element, definition: etree._Element) -> None:
    element.event_type = "COMPENSATION"
    element.compensation_activity_ref = (definition.get("activityRef") or "").strip() or None
    if (definition.get("waitForCompletion") or "true").strip().lower() == "false":
        reader.problem(node, "waitForCompletion=\"false\" is not supported, as in Zeebe", "Remove it: the event waits for the compensation handlers to complete")


def _link(reader: _ProcessReader, node: etree._Element, element: Element, definition: etree._Element) -> bool:
    """Link events: a throw jumps to the catch event of the same name in the same scope."""
    name = (definition.get("name") or "").strip()
    if not name:
        reader.problem(node, "the link event has no name", "Give the link throw event and its catch event the same name")
        return False
    element.event_type = "LINK"
    element.link_name = name
    _io_mappings(reader, node, element)
    return True


def _message_throw(reader: _ProcessReader, node: etree._Element, element: Element, what: str) -> bool:
    """As in Zeebe, a message throw/end event is done by a job worker (zeebe:taskDefinition)."""
    element.event_type = "MESSAGE"
    if not _zeebe(node, "taskDefinition"):
        reader.problem(
            node,
            f"the {what} has no zeebe:taskDefinition",
            "As in Zeebe, a job worker sends the message: add <zeebe:taskDefinition type=\"...\" /> under its extensionElements",
        )
        return False
    _job_definition(reader, node, element)
    _io_mappings(reader, node, element)
    return True


def _service_task(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    """Service, send and business rule tasks: done by job workers of the task's type."""
    if not _zeebe(node, "taskDefinition"):
        what = {"sendTask": "send task", "businessRuleTask": "business rule task"}.get(_local(node), "service task")
        hint = "Add <zeebe:taskDefinition type=\"...\" /> under its extensionElements: the type names the job workers that do the work"
        if _local(node) == "businessRuleTask" and _zeebe(node, "calledDecision"):
            what, hint = "business rule task calls a DMN decision (zeebe:calledDecision), which", "DMN is not supported yet; " + hint
            reader.problem(node, f"the {what} is not supported yet", hint)
        else:
            reader.problem(node, f"the {what} has no zeebe:taskDefinition", hint)
        return True
    _job_definition(reader, node, element)
    _io_mappings(reader, node, element)
    return True


def _job_definition(reader: _ProcessReader, node: etree._Element, element: Element) -> None:
    definitions = _zeebe(node, "taskDefinition")
    if definitions:
        definition = definitions[0]
        element.job_type = reader.expression(node, definition.get("type"), "the job type (zeebe:taskDefinition type)")
        retries = definition.get("retries")
        if retries is None or not retries.strip():
            retries = DEFAULT_JOB_RETRIES
        if not retries.strip().startswith("=") and not retries.strip().isdigit():
            reader.problem(node, f"the job retries '{retries}' (zeebe:taskDefinition retries) is not a whole number", "Write a number such as 3, or an expression starting with '='")
        else:
            element.job_retries = reader.expression(node, retries.strip(), "the job retries (zeebe:taskDefinition retries)")
    for headers in _zeebe(node, "taskHeaders"):
        for header in headers.findall(f"{Z}header"):
            key = header.get("key")
            if key:
                element.task_headers[key] = header.get("value") or ""


def _receive_task(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    element.message = reader.message(node, node.get("messageRef"))
    element.catch_ids = [element.id]
    _io_mappings(reader, node, element)
    return True


def _catch_event(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    definitions = _event_definitions(node)
    kinds = [_kind_of(d) for d in definitions]
    if kinds == ["timer"]:
        element.event_type = "TIMER"
        element.timer = _timer(reader, node, definitions[0])
    elif kinds == ["message"]:
        element.message = reader.message(node, definitions[0].get("messageRef"))
    elif kinds == ["signal"]:
        element.event_type = "SIGNAL"
        element.signal_name = reader.signal(node, definitions[0])
    elif kinds == ["link"]:
        return _link(reader, node, element, definitions[0])
    else:
        described = " and ".join(kinds) if kinds else "none"
        reader.problem(node, f"{_a(described)} intermediate catch event is not supported yet", "Use a message, timer, signal or link catch event")
        return False
    element.catch_ids = [element.id]
    _io_mappings(reader, node, element)
    return True


_TIMER_PARSERS = {"duration": parse_duration, "date": parse_date, "cycle": parse_cycle}


def _timer(reader: _ProcessReader, node: etree._Element, definition: etree._Element) -> TimerDefinition | None:
    found = [(kind, child) for kind in ("duration", "date", "cycle") for child in definition if _is_bpmn(child) and _local(child) == "time" + kind.capitalize()]
    if len(found) != 1:
        reader.problem(
            node,
            "the timer has " + ("no timeDuration, timeDate or timeCycle" if not found else "more than one of timeDuration, timeDate and timeCycle"),
            "Give it exactly one, such as <bpmn:timeDuration>PT10S</bpmn:timeDuration>",
        )
        return None
    kind, child = found[0]
    text = (child.text or "").strip()
    what = f"the time{kind.capitalize()} of the timer"
    expression = reader.expression(node, text, what)
    if expression is None:
        return None
    if expression.is_static:
        try:
            _TIMER_PARSERS[kind](text)
        except TimerValueError as error:
            reader.problem(node, f"{what} is invalid: {error}", "Use an ISO 8601 value or a FEEL expression starting with '='")
            return None
    return TimerDefinition(kind=kind, value=expression)


def _boundary_event(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    attached = (node.get("attachedToRef") or "").strip()
    if not attached:
        reader.problem(node, "the boundary event has no attachedToRef", "Attach it to a task or sub-process")
        return False
    element.attached_to = attached
    element.cancel_activity = (node.get("cancelActivity") or "true").strip().lower() != "false"
    definitions = _event_definitions(node)
    kinds = [_kind_of(d) for d in definitions]
    if kinds == ["timer"]:
        element.event_type = "TIMER"
        element.timer = _timer(reader, node, definitions[0])
        if element.timer is not None and element.timer.kind == "cycle" and element.cancel_activity:
            reader.problem(node, "an interrupting timer boundary event cannot have a timeCycle", "Make it non-interrupting (cancelActivity=\"false\") or use a timeDuration")
    elif kinds == ["error"]:
        element.event_type = "ERROR"
        element.error_code, element.catches_all_errors = reader.error_code(node, definitions[0], catching=True)
        if not element.cancel_activity:
            reader.problem(node, "an error boundary event cannot be non-interrupting", "Remove cancelActivity=\"false\": an error always interrupts the activity")
    elif kinds == ["message"]:
        element.message = reader.message(node, definitions[0].get("messageRef"))
    elif kinds == ["signal"]:
        element.event_type = "SIGNAL"
        element.signal_name = reader.signal(node, definitions[0])
    elif kinds == ["escalation"]:
        element.event_type = "ESCALATION"
        element.escalation_code, element.catches_all_escalations = reader.escalation_code(node, definitions[0], catching=True)
    elif kinds == ["compensate"]:
        element.event_type = "COMPENSATION"  # its handler is found through its association
    else:
        described = " and ".join(kinds) if kinds else "none"
        reader.problem(node, f"{_a(described)} boundary event is not supported yet", "Use a timer, error, message, signal, escalation or compensation boundary event")
        return False
    _io_mappings(reader, node, element)
    return True


def _exclusive_gateway(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    default = (node.get("default") or "").strip()
    element.default_flow_id = default or None
    _no_io_mappings(reader, node)
    return True


def _parallel_gateway(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    _no_io_mappings(reader, node)
    return True


def _event_based_gateway(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    """Its events are found once the flows are linked (see `check_event_based`)."""
    _no_io_mappings(reader, node)
    return True


USER_TASK_JOB_TYPE = "io.camunda.zeebe:userTask"
# Zeebe's job-based user task: where each attribute goes among the job's custom headers.
_USER_TASK_HEADERS = {
    ("assignmentDefinition", "assignee"): "io.camunda.zeebe:assignee",
    ("assignmentDefinition", "candidateGroups"): "io.camunda.zeebe:candidateGroups",
    ("assignmentDefinition", "candidateUsers"): "io.camunda.zeebe:candidateUsers",
    ("taskSchedule", "dueDate"): "io.camunda.zeebe:dueDate",
    ("taskSchedule", "followUpDate"): "io.camunda.zeebe:followUpDate",
}


def _user_task(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    """Zeebe's job-based user task: a job of type io.camunda.zeebe:userTask for a tasklist."""
    # A Camunda user task (<zeebe:userTask/>) runs like the job-based one: propolis has no
    # task list of its own, so a worker for io.camunda.zeebe:userTask completes it.
    element.job_type = compile_expression(USER_TASK_JOB_TYPE)
    element.job_retries = compile_expression(DEFAULT_JOB_RETRIES)
    for (tag, attribute), header in _USER_TASK_HEADERS.items():
        for definition in _zeebe(node, tag):
            text = definition.get(attribute)
            if text is not None and text.strip():
                expression = reader.expression(node, text, f"the {attribute} (zeebe:{tag} {attribute})")
                if expression is not None:
                    element.user_task_headers[header] = expression
    for form in _zeebe(node, "formDefinition"):
        form_key = form.get("formKey") or form.get("formId")
        if form_key:
            element.task_headers["io.camunda.zeebe:formKey"] = form_key
    for headers in _zeebe(node, "taskHeaders"):
        for header in headers.findall(f"{Z}header"):
            if header.get("key"):
                element.task_headers[header.get("key")] = header.get("value") or ""
    _io_mappings(reader, node, element)
    return True


def _script_task(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    """A FEEL expression the engine evaluates (zeebe:script), or a job (zeebe:taskDefinition)."""
    scripts = _zeebe(node, "script")
    if scripts:
        script = scripts[0]
        text = script.get("expression")
        if text is not None and text.strip() and not text.strip().startswith("="):
            reader.problem(node, f"the script expression '{text}' is not a FEEL expression", "Start it with '=', such as '=a + b'")
        else:
            element.script = reader.expression(node, text, "the script expression (zeebe:script expression)")
        result = (script.get("resultVariable") or "").strip()
        if not result:
            reader.problem(node, "the script has no resultVariable", "Set zeebe:script resultVariable to the variable that receives the result")
        elif not _PLAIN_NAME.fullmatch(result):
            reader.problem(node, f"the resultVariable '{result}' is not a variable name", "Use a name such as 'total'")
        else:
            element.result_variable = result
    elif _zeebe(node, "taskDefinition"):
        _job_definition(reader, node, element)
    else:
        reader.problem(
            node,
            "the script task has neither zeebe:script nor zeebe:taskDefinition",
            "Add <zeebe:script expression=\"=...\" resultVariable=\"...\" /> for the engine to evaluate, or a zeebe:taskDefinition for a job worker",
        )
    _io_mappings(reader, node, element)
    return True


def _pass_through_task(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    """Manual and undefined tasks: a token passes through, as in Zeebe."""
    _io_mappings(reader, node, element)
    return True


def _call_activity(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    called = _zeebe(node, "calledElement")
    if not called:
        reader.problem(
            node,
            "the call activity has no zeebe:calledElement",
            "Add <zeebe:calledElement processId=\"...\" /> under its extensionElements: the process it starts",
        )
        return True
    definition = called[0]
    element.called_process_id = reader.expression(node, definition.get("processId"), "the processId (zeebe:calledElement processId)")
    for attribute, field in (("propagateAllChildVariables", "propagate_all_child_variables"), ("propagateAllParentVariables", "propagate_all_parent_variables")):
        text = (definition.get(attribute) or "true").strip().lower()
        if text not in ("true", "false"):
            reader.problem(node, f"zeebe:calledElement {attribute} is '{text}', but it must be true or false", None)
        setattr(element, field, text != "false")
    binding = (definition.get("bindingType") or "latest").strip()
    if binding != "latest":
        reader.problem(node, f"zeebe:calledElement bindingType '{binding}' is not supported yet", "Remove it to call the latest version")
    _io_mappings(reader, node, element)
    return True


def _sub_process(reader: _ProcessReader, node: etree._Element, element: Element) -> bool:
    _io_mappings(reader, node, element)
    return True


FLOW_NODES: dict[str, tuple[ElementKind, ReadFn]] = {
    "userTask": (ElementKind.USER_TASK, _user_task),
    "scriptTask": (ElementKind.SCRIPT_TASK, _script_task),
    "businessRuleTask": (ElementKind.BUSINESS_RULE_TASK, _service_task),
    "sendTask": (ElementKind.SEND_TASK, _service_task),
    "manualTask": (ElementKind.MANUAL_TASK, _pass_through_task),
    "task": (ElementKind.TASK, _pass_through_task),
    "intermediateThrowEvent": (ElementKind.INTERMEDIATE_THROW_EVENT, _throw_event),
    "subProcess": (ElementKind.SUB_PROCESS, _sub_process),
    "boundaryEvent": (ElementKind.BOUNDARY_EVENT, _boundary_event),
    "callActivity": (ElementKind.CALL_ACTIVITY, _call_activity),
    "startEvent": (ElementKind.START_EVENT, lambda reader, node, element: _start_event(reader, node, element, "process")),
    "endEvent": (ElementKind.END_EVENT, _end_event),
    "serviceTask": (ElementKind.SERVICE_TASK, _service_task),
    "receiveTask": (ElementKind.RECEIVE_TASK, _receive_task),
    "intermediateCatchEvent": (ElementKind.INTERMEDIATE_CATCH_EVENT, _catch_event),
    "exclusiveGateway": (ElementKind.EXCLUSIVE_GATEWAY, _exclusive_gateway),
    "inclusiveGateway": (ElementKind.INCLUSIVE_GATEWAY, _exclusive_gateway),
    "parallelGateway": (ElementKind.PARALLEL_GATEWAY, _parallel_gateway),
    "eventBasedGateway": (ElementKind.EVENT_BASED_GATEWAY, _event_based_gateway),
}
