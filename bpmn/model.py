"""The executable shape of a BPMN process, as the parser produces it and the engine runs it.

The parser (`parser.py`) turns XML into these objects once per deployment; the engine only
reads them. Expressions are compiled at parse time (`Expression`), so a syntax error is a
deploy-time error naming the element and the attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class ElementKind(StrEnum):
    PROCESS = "PROCESS"
    START_EVENT = "START_EVENT"
    END_EVENT = "END_EVENT"
    SERVICE_TASK = "SERVICE_TASK"
    RECEIVE_TASK = "RECEIVE_TASK"
    EXCLUSIVE_GATEWAY = "EXCLUSIVE_GATEWAY"
    PARALLEL_GATEWAY = "PARALLEL_GATEWAY"
    INTERMEDIATE_CATCH_EVENT = "INTERMEDIATE_CATCH_EVENT"
    SEQUENCE_FLOW = "SEQUENCE_FLOW"
    USER_TASK = "USER_TASK"
    SCRIPT_TASK = "SCRIPT_TASK"
    BUSINESS_RULE_TASK = "BUSINESS_RULE_TASK"
    SEND_TASK = "SEND_TASK"
    MANUAL_TASK = "MANUAL_TASK"
    TASK = "TASK"
    INTERMEDIATE_THROW_EVENT = "INTERMEDIATE_THROW_EVENT"
    SUB_PROCESS = "SUB_PROCESS"
    BOUNDARY_EVENT = "BOUNDARY_EVENT"
    CALL_ACTIVITY = "CALL_ACTIVITY"
    MULTI_INSTANCE_BODY = "MULTI_INSTANCE_BODY"
    EVENT_BASED_GATEWAY = "EVENT_BASED_GATEWAY"
    INCLUSIVE_GATEWAY = "INCLUSIVE_GATEWAY"
    EVENT_SUB_PROCESS = "EVENT_SUB_PROCESS"


class Expression(Protocol):
    """A value from the model: either a static string or a compiled FEEL expression (`=...`)."""

    source: str  # the text as written in the model, including a leading '=' for FEEL
    is_static: bool

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """Evaluate against visible variables. Never raises for bad data: as in Zeebe 8 and
        FEEL, a missing variable, a missing context entry or a type mismatch yields None
        (null). Use `explain` or `evaluate_or_raise` to learn why a result was null."""
        ...

    def explain(self, variables: Mapping[str, Any]) -> list[str]:
        """The warnings evaluating against `variables` produces, e.g.
        ["no variable found with name 'orderId'"]; empty for a static value. Slower than
        `evaluate`: call it only to word an incident."""
        ...

    def evaluate_or_raise(self, variables: Mapping[str, Any]) -> Any:
        """`evaluate`, but a null result with a reason raises `bpmn.errors.FeelEvaluationError`
        whose message names the problem (e.g. "no variable found with name 'x'") and whose
        `warnings` lists every reason."""
        ...


@dataclass(slots=True)
class Mapping_:
    """One zeebe:input or zeebe:output: evaluate `source`, assign to the `target` path."""

    source: Expression
    target: str  # a variable name, or a dotted path 'a.b.c' into a context


@dataclass(slots=True)
class MessageDefinition:
    """A message catch: the name and the correlation key expression (zeebe:subscription)."""

    id: str
    name: Expression
    correlation_key: Expression | None


@dataclass(slots=True)
class TimerDefinition:
    """bpmn:timerEventDefinition: one of timeDuration, timeDate or timeCycle."""

    kind: str  # "duration" | "date" | "cycle"
    value: Expression


@dataclass(slots=True)
class MultiInstance:
    """bpmn:multiInstanceLoopCharacteristics with zeebe:loopCharacteristics."""

    sequential: bool
    input_collection: Expression
    input_element: str | None = None
    output_collection: str | None = None
    output_element: Expression | None = None
    completion_condition: Expression | None = None


@dataclass(slots=True)
class SequenceFlow:
    id: str
    source_id: str
    target_id: str
    condition: Expression | None
    line: int
    name: str | None = None


@dataclass(slots=True)
class Element:
    id: str
    kind: ElementKind
    line: int
    name: str | None = None
    incoming: list[str] = field(default_factory=list)  # sequence flow ids
    outgoing: list[str] = field(default_factory=list)  # sequence flow ids
    input_mappings: list[Mapping_] = field(default_factory=list)
    output_mappings: list[Mapping_] = field(default_factory=list)
    # service task (zeebe:taskDefinition, zeebe:taskHeaders)
    job_type: Expression | None = None
    job_retries: Expression | None = None
    task_headers: dict[str, str] = field(default_factory=dict)
    # message catch event / receive task
    message: MessageDefinition | None = None
    # exclusive gateway
    default_flow_id: str | None = None
    # the id of the embedded sub-process this element is in; None at the process level
    parent_id: str | None = None
    # embedded sub-process: its none start event; event sub-process: its one start event
    start_event_id: str | None = None
    # Zeebe's bpmnEventType of an event: MESSAGE, TERMINATE, TIMER, ... (UNSPECIFIED if none)
    event_type: str = "UNSPECIFIED"
    # script task run by the engine (zeebe:script): the expression and where its result goes
    script: Expression | None = None
    result_variable: str | None = None
    # user task (zeebe:assignmentDefinition, zeebe:taskSchedule): header name -> expression
    user_task_headers: dict[str, Expression] = field(default_factory=dict)
    # timer catch and boundary events
    timer: TimerDefinition | None = None
    # boundary event: the activity it is attached to, and whether it interrupts it
    attached_to: str | None = None
    cancel_activity: bool = True
    # error boundary event: the code it catches (None: every error); error end event: the
    # code it throws (an expression) and optional errorMessage
    error_code: Expression | None = None
    catches_all_errors: bool = False
    # multi-instance activity: how its body runs the inner instances
    multi_instance: MultiInstance | None = None
    # call activity (zeebe:calledElement): the called process id and variable propagation
    called_process_id: Expression | None = None
    propagate_all_child_variables: bool = True
    propagate_all_parent_variables: bool = True
    # link events: the link's name; a link throw event also names its catch event
    link_name: str | None = None
    link_target_id: str | None = None
    # activity: the ids of the boundary events attached to it, in file order
    boundary_ids: list[str] = field(default_factory=list)
    # signal events: the signal's name (static or an expression)
    signal_name: Expression | None = None
    # escalation events: the code thrown, or caught (None with catches_all_escalations)
    escalation_code: Expression | None = None
    catches_all_escalations: bool = False
    # compensation: a handler activity (isForCompensation), the handler of an activity with a
    # compensation boundary event, and the activity a compensation throw event names (None: all)
    is_for_compensation: bool = False
    compensation_handler_id: str | None = None
    compensation_activity_ref: str | None = None
    # the events whose triggers are opened when this element is entered, besides its boundary
    # events: a catch event or receive task itself, an event-based gateway's events, the start
    # events of the event sub-processes of a sub-process
    catch_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Process:
    id: str  # bpmnProcessId
    name: str | None
    line: int
    # by element id, excluding sequence flows; elements of embedded sub-processes included
    # (ids are unique per file), each naming its sub-process in `parent_id`
    elements: dict[str, Element]
    flows: dict[str, SequenceFlow]  # by flow id, those inside sub-processes included
    start_event_id: str | None  # the process level's none start event, if it has one
    is_executable: bool = True
    # start events with a message, timer or signal definition at the process level
    event_start_ids: list[str] = field(default_factory=list)
    # start events of the event sub-processes at the process level
    catch_ids: list[str] = field(default_factory=list)
    # inclusive gateways that join flows: tokens arriving elsewhere may make them ready
    inclusive_join_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Definitions:
    """What one BPMN resource holds: its executable processes, in document order."""

    processes: list[Process]
