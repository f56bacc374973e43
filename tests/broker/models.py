"""Small BPMN models for engine tests, written as Camunda Modeler would (minus diagrams)."""

from __future__ import annotations

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


def _process(process_id: str, body: str, extra: str = "") -> bytes:
    return (HEADER + f'<bpmn:process id="{process_id}" isExecutable="true">\n{body}\n</bpmn:process>\n{extra}</bpmn:definitions>\n').encode()


def flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />'
    return (
        f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
    )


def service_task(task_id: str, job_type: str, retries: str = "3", io: str = "", headers: str = "") -> str:
    return (
        f'<bpmn:serviceTask id="{task_id}"><bpmn:extensionElements>'
        f'<zeebe:taskDefinition type="{job_type}" retries="{retries}" />{io}{headers}'
        "</bpmn:extensionElements></bpmn:serviceTask>"
    )


def start_end(process_id: str = "start-end") -> bytes:
    return _process(process_id, '<bpmn:startEvent id="start" /><bpmn:endEvent id="end" />' + flow("f1", "start", "end"))


def one_task(process_id: str = "one-task", job_type: str = "work", retries: str = "3", io: str = "") -> bytes:
    return _process(
        process_id,
        '<bpmn:startEvent id="start" />'
        + service_task("task", job_type, retries, io, '<zeebe:taskHeaders><zeebe:header key="k" value="v" /></zeebe:taskHeaders>')
        + '<bpmn:endEvent id="end" />'
        + flow("f1", "start", "task")
        + flow("f2", "task", "end"),
    )


def exclusive(process_id: str = "exclusive") -> bytes:
    return _process(
        process_id,
        '<bpmn:startEvent id="start" />'
        '<bpmn:exclusiveGateway id="gw" default="to-small" />'
        + service_task("big", "big")
        + service_task("small", "small")
        + '<bpmn:endEvent id="end-big" /><bpmn:endEvent id="end-small" />'
        + flow("f1", "start", "gw")
        + flow("to-big", "gw", "big", "=amount &gt; 100")
        + flow("to-small", "gw", "small")
        + flow("f3", "big", "end-big")
        + flow("f4", "small", "end-small"),
    )


def exclusive_without_default(process_id: str = "exclusive-strict") -> bytes:
    return _process(
        process_id,
        '<bpmn:startEvent id="start" /><bpmn:exclusiveGateway id="gw" />'
        '<bpmn:endEvent id="end-a" /><bpmn:endEvent id="end-b" />'
        + flow("f1", "start", "gw")
        + flow("to-a", "gw", "end-a", "=x = 1")
        + flow("to-b", "gw", "end-b", "=x = 2"),
    )


def parallel(process_id: str = "parallel") -> bytes:
    return _process(
        process_id,
        '<bpmn:startEvent id="start" /><bpmn:parallelGateway id="fork" /><bpmn:parallelGateway id="join" />'
        + service_task("a", "a")
        + service_task("b", "b")
        + '<bpmn:endEvent id="end" />'
        + flow("f1", "start", "fork")
        + flow("f2", "fork", "a")
        + flow("f3", "fork", "b")
        + flow("f4", "a", "join")
        + flow("f5", "b", "join")
        + flow("f6", "join", "end"),
    )


def message_catch(process_id: str = "message-catch", receive_task: bool = False) -> bytes:
    catch = (
        '<bpmn:receiveTask id="wait" messageRef="msg" />'
        if receive_task
        else '<bpmn:intermediateCatchEvent id="wait"><bpmn:messageEventDefinition messageRef="msg" /></bpmn:intermediateCatchEvent>'
    )
    message = (
        '<bpmn:message id="msg" name="payment-received"><bpmn:extensionElements>'
        '<zeebe:subscription correlationKey="=orderId" /></bpmn:extensionElements></bpmn:message>\n'
    )
    return _process(
        process_id,
        '<bpmn:startEvent id="start" />' + catch + '<bpmn:endEvent id="end" />' + flow("f1", "start", "wait") + flow("f2", "wait", "end"),
        extra=message,
    )


def io_mapping(process_id: str = "io-mapping") -> bytes:
    io = (
        '<zeebe:ioMapping><zeebe:input source="=order.total * 2" target="doubled" />'
        '<zeebe:output source="=result + 1" target="finalResult" /></zeebe:ioMapping>'
    )
    return one_task(process_id, "io", io=io)


def sub_process(process_id: str = "sub-process") -> bytes:
    """An embedded sub-process with a job inside, next to a branch that a terminate end
    event inside a second sub-process cuts short."""
    return _process(
        process_id,
        '<bpmn:startEvent id="start" /><bpmn:parallelGateway id="fork" />'
        '<bpmn:subProcess id="sub"><bpmn:startEvent id="s1" />'
        + service_task("inner", "inner", io='<zeebe:ioMapping><zeebe:input source="=1" target="local" /></zeebe:ioMapping>')
        + '<bpmn:endEvent id="e1" />' + flow("sf1", "s1", "inner") + flow("sf2", "inner", "e1")
        + "</bpmn:subProcess>"
        '<bpmn:subProcess id="cut"><bpmn:startEvent id="s2" /><bpmn:parallelGateway id="cut-fork" />'
        + service_task("never", "never")
        + '<bpmn:endEvent id="stop"><bpmn:terminateEventDefinition /></bpmn:endEvent>'
        + flow("cf1", "s2", "cut-fork") + flow("cf2", "cut-fork", "never") + flow("cf3", "cut-fork", "stop")
        + "</bpmn:subProcess>"
        '<bpmn:parallelGateway id="join" /><bpmn:endEvent id="end" />'
        + flow("f1", "start", "fork") + flow("f2", "fork", "sub") + flow("f3", "fork", "cut")
        + flow("f4", "sub", "join") + flow("f5", "cut", "join") + flow("f6", "join", "end"),
    )


def timers(process_id: str = "timers", wait: str = "PT0.2S", remind: str = "R2/PT0.1S") -> bytes:
    """A timer catch event, then a task with an interrupting and a repeating non-interrupting
    timer boundary event."""
    return _process(
        process_id,
        '<bpmn:startEvent id="start" />'
        f'<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>{wait}</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        + service_task("task", "timed-work")
        + '<bpmn:boundaryEvent id="deadline" attachedToRef="task"><bpmn:timerEventDefinition>'
        "<bpmn:timeDuration>=deadline</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        '<bpmn:boundaryEvent id="remind" attachedToRef="task" cancelActivity="false"><bpmn:timerEventDefinition>'
        f"<bpmn:timeCycle>{remind}</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        + service_task("reminder", "remind") + service_task("late", "late")
        + '<bpmn:endEvent id="end" /><bpmn:endEvent id="reminded" /><bpmn:endEvent id="too-late" />'
        + flow("f1", "start", "wait") + flow("f2", "wait", "task") + flow("f3", "task", "end")
        + flow("f4", "remind", "reminder") + flow("f5", "reminder", "reminded")
        + flow("f6", "deadline", "late") + flow("f7", "late", "too-late"),
    )


def call_activity(process_id: str = "caller", called: str = "one-task") -> bytes:
    return _process(
        process_id,
        '<bpmn:startEvent id="start" /><bpmn:callActivity id="call"><bpmn:extensionElements>'
        f'<zeebe:calledElement processId="{called}" /></bpmn:extensionElements></bpmn:callActivity>'
        '<bpmn:endEvent id="end" />' + flow("f1", "start", "call") + flow("f2", "call", "end"),
    )


def multi_instance(process_id: str = "multi", sequential: bool = False) -> bytes:
    return _process(
        process_id,
        '<bpmn:startEvent id="start" />'
        '<bpmn:serviceTask id="each"><bpmn:extensionElements><zeebe:taskDefinition type="per-item" /></bpmn:extensionElements>'
        f'<bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}"><bpmn:extensionElements>'
        '<zeebe:loopCharacteristics inputCollection="=items" inputElement="item" outputCollection="out" outputElement="=item * 2" />'
        "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics></bpmn:serviceTask>"
        '<bpmn:endEvent id="end" />' + flow("f1", "start", "each") + flow("f2", "each", "end"),
    )


def events(process_id: str = "events") -> bytes:
    """Message and signal boundary events, an event-based gateway, an inclusive fork and join,
    and two event sub-processes (a non-interrupting message one, an error one)."""
    message = (
        '<bpmn:message id="Nudge" name="nudge"><bpmn:extensionElements><zeebe:subscription correlationKey="=key" />'
        '</bpmn:extensionElements></bpmn:message><bpmn:message id="Go" name="go"><bpmn:extensionElements>'
        '<zeebe:subscription correlationKey="=key" /></bpmn:extensionElements></bpmn:message>'
        '<bpmn:signal id="Stop" name="stop" /><bpmn:error id="Err" errorCode="bad" />'
    )
    return _process(
        process_id,
        '<bpmn:startEvent id="start" />'
        + service_task("work", "ev-work")
        + '<bpmn:boundaryEvent id="nudged" attachedToRef="work" cancelActivity="false"><bpmn:messageEventDefinition messageRef="Nudge" /></bpmn:boundaryEvent>'
        '<bpmn:boundaryEvent id="stopped" attachedToRef="work"><bpmn:signalEventDefinition signalRef="Stop" /></bpmn:boundaryEvent>'
        '<bpmn:endEvent id="nudge-end" /><bpmn:endEvent id="stop-end" />'
        '<bpmn:eventBasedGateway id="choose" />'
        '<bpmn:intermediateCatchEvent id="go"><bpmn:messageEventDefinition messageRef="Go" /></bpmn:intermediateCatchEvent>'
        '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>PT0.05S</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>'
        '<bpmn:inclusiveGateway id="fork" /><bpmn:inclusiveGateway id="join" />'
        + service_task("left", "ev-left") + service_task("right", "ev-right")
        + '<bpmn:endEvent id="end" />'
        '<bpmn:subProcess id="on-nudge" triggeredByEvent="true"><bpmn:startEvent id="ns" isInterrupting="false">'
        '<bpmn:messageEventDefinition messageRef="Nudge" /></bpmn:startEvent><bpmn:endEvent id="ne" />'
        + flow("fn", "ns", "ne") + "</bpmn:subProcess>"
        '<bpmn:subProcess id="on-error" triggeredByEvent="true"><bpmn:startEvent id="es"><bpmn:errorEventDefinition errorRef="Err" />'
        '</bpmn:startEvent><bpmn:endEvent id="ee" />' + flow("fe", "es", "ee") + "</bpmn:subProcess>"
        + flow("f1", "start", "work") + flow("f2", "work", "choose") + flow("f3", "nudged", "nudge-end") + flow("f4", "stopped", "stop-end")
        + flow("f5", "choose", "go") + flow("f6", "choose", "wait") + flow("f7", "go", "fork") + flow("f8", "wait", "fork")
        + flow("f9", "fork", "left", "=true") + flow("f10", "fork", "right", "=key = \"k-0\"")
        + flow("f11", "left", "join") + flow("f12", "right", "join") + flow("f13", "join", "end"),
        message,
    )


def event_starts(process_id: str = "event-starts") -> bytes:
    """Message, signal and timer start events in one process."""
    return _process(
        process_id,
        '<bpmn:startEvent id="by-message"><bpmn:messageEventDefinition messageRef="Order" /></bpmn:startEvent>'
        '<bpmn:startEvent id="by-signal"><bpmn:signalEventDefinition signalRef="Tick" /></bpmn:startEvent>'
        '<bpmn:startEvent id="by-timer"><bpmn:timerEventDefinition><bpmn:timeCycle>R3/PT0.05S</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>'
        + service_task("task", "started") + '<bpmn:endEvent id="end" />'
        + flow("f1", "by-message", "task") + flow("f2", "by-signal", "task") + flow("f3", "by-timer", "task") + flow("f4", "task", "end"),
        '<bpmn:message id="Order" name="order" /><bpmn:signal id="Tick" name="tick" />',
    )


def compensation(process_id: str = "compensation") -> bytes:
    """Two compensable tasks, then a compensation throw event that runs both handlers."""
    def compensable(task_id: str) -> str:
        return (
            service_task(task_id, "comp-work")
            + f'<bpmn:boundaryEvent id="{task_id}-c" attachedToRef="{task_id}"><bpmn:compensateEventDefinition /></bpmn:boundaryEvent>'
            + f'<bpmn:serviceTask id="{task_id}-undo" isForCompensation="true"><bpmn:extensionElements>'
            '<zeebe:taskDefinition type="comp-undo" /></bpmn:extensionElements></bpmn:serviceTask>'
            + f'<bpmn:association id="{task_id}-a" sourceRef="{task_id}-c" targetRef="{task_id}-undo" />'
        )

    return _process(
        process_id,
        '<bpmn:startEvent id="start" />' + compensable("one") + compensable("two")
        + '<bpmn:endEvent id="undo"><bpmn:compensateEventDefinition /></bpmn:endEvent>'
        + flow("f1", "start", "one") + flow("f2", "one", "two") + flow("f3", "two", "undo"),
    )
