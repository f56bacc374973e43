"""A fake `BrokerClient` for gateway tests: in memory, records every command that arrives and
answers with canned events or rejections, and keeps activatable jobs per (partition, type) so
that activation, long polling, streams and JOB YIELD can be observed.

`RunningGateway` runs a real `GatewayServer` on a free port in its own event-loop thread, so
that tests can call it over a real gRPC channel (sync stubs, or pyzeebe in another loop) while
the fake announces jobs from yet another thread, as a broker would.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from propolis.broker.client import (
    BrokerOverloadedError,
    BrokerResponse,
    BrokerUnavailableError,
    JobAvailableListener,
)
from propolis.gateway.config import GatewayConfig
from propolis.gateway.server import GatewayServer

from propolis.records import (
    DEFAULT_TENANT,
    DeploymentIntent,
    IncidentIntent,
    JobBatchIntent,
    JobIntent,
    MessageIntent,
    ProcessInstanceCreationIntent,
    ProcessInstanceIntent,
    ProcessInstanceResultIntent,
    RejectionType,
    ValueType,
    VariableDocumentIntent,
    encode_key,
)


@dataclass
class Sent:
    partition_id: int
    value_type: int
    intent: int
    value: dict[str, Any]
    key: int
    tenant_id: str


Answer = Callable[[Sent], Any]  # returns a BrokerResponse (or an awaitable of one), or raises


@dataclass
class FakeBroker:
    partition_count: int = 1
    sent: list[Sent] = field(default_factory=list)
    answers: dict[tuple[int, int], Answer] = field(default_factory=dict)
    # Raise this from every execute (e.g. BrokerOverloadedError(...)).
    failure: Exception | None = None
    # Seconds each JOB_BATCH ACTIVATE takes before it answers (the jobs are taken at once).
    activation_delay_s: float = 0.0
    # CREATE_WITH_AWAITING_RESULT answers only when this is set.
    instances_complete: bool = True
    activatable: dict[tuple[int, str], list[tuple[int, dict[str, Any]]]] = field(
        default_factory=dict
    )
    activated: dict[int, dict[str, Any]] = field(default_factory=dict)
    yielded: list[int] = field(default_factory=list)
    listeners: list[JobAvailableListener] = field(default_factory=list)
    _counter: int = 0
    _message_ids: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- BrokerClient ---------------------------------------------------------------------
    def topology(self) -> dict[str, Any]:
        return {
            "clusterSize": 1,
            "partitionsCount": self.partition_count,
            "replicationFactor": 1,
            "brokers": [
                {
                    "nodeId": 0,
                    "host": "127.0.0.1",
                    "port": 26501,
                    "version": "0.1.0",
                    "partitions": [
                        {"partitionId": p, "role": "LEADER", "health": "HEALTHY"}
                        for p in range(1, self.partition_count + 1)
                    ],
                }
            ],
        }

    def add_job_available_listener(self, listener: JobAvailableListener) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    async def execute(
        self,
        partition_id: int,
        value_type: int,
        intent: int,
        value: dict[str, Any],
        key: int = -1,
        tenant_id: str = DEFAULT_TENANT,
    ) -> BrokerResponse:
        sent = Sent(partition_id, value_type, intent, value, key, tenant_id)
        with self._lock:
            self.sent.append(sent)
        if self.failure is not None:
            raise self.failure
        override = self.answers.get((value_type, intent))
        if override is not None:
            result = override(sent)
        else:
            result = _DEFAULT_ANSWERS[(value_type, intent)](self, sent)
        if inspect.isawaitable(result):
            result = await result
        return result

    # -- helpers for tests ----------------------------------------------------------------
    def next_key(self, partition_id: int = 1) -> int:
        with self._lock:
            self._counter += 1
            return encode_key(partition_id, self._counter)

    def add_job(
        self,
        job_type: str,
        partition_id: int = 1,
        variables: dict[str, Any] | None = None,
        custom_headers: dict[str, Any] | None = None,
        announce: bool = True,
    ) -> int:
        key = self.next_key(partition_id)
        job = {
            "type": job_type,
            "processInstanceKey": self.next_key(partition_id),
            "bpmnProcessId": "order",
            "processDefinitionVersion": 3,
            "processDefinitionKey": encode_key(1, 7),
            "elementId": "charge",
            "elementInstanceKey": self.next_key(partition_id),
            "customHeaders": custom_headers or {},
            "worker": "",
            "retries": 3,
            "deadline": -1,
            "variables": variables or {},
            "tenantId": DEFAULT_TENANT,
        }
        with self._lock:
            self.activatable.setdefault((partition_id, job_type), []).append((key, job))
        if announce:
            self.announce(job_type)
        return key

    def add_job_later(self, delay_s: float, job_type: str, **kwargs: Any) -> threading.Timer:
        """Add a job from another thread after `delay_s` and announce it, like a broker."""
        timer = threading.Timer(delay_s, lambda: self.add_job(job_type, **kwargs))
        timer.start()
        return timer

    def announce(self, job_type: str) -> None:
        for listener in list(self.listeners):
            listener(job_type)

    def commands(self, value_type: int, intent: int | None = None) -> list[Sent]:
        with self._lock:
            return [
                s
                for s in self.sent
                if s.value_type == value_type and (intent is None or s.intent == intent)
            ]

    def reject(self, value_type: int, intent: int, rejection_type: int, reason: str) -> None:
        self.answers[(value_type, intent)] = lambda sent: BrokerResponse(
            value_type, intent, sent.key, {}, sent.tenant_id, sent.partition_id,
            rejection_type, reason,
        )


def _event(sent: Sent, value_type: int, intent: int, key: int, value: dict[str, Any]) -> BrokerResponse:
    return BrokerResponse(value_type, intent, key, value, sent.tenant_id, sent.partition_id)


def _rejection(sent: Sent, rejection_type: int, reason: str) -> BrokerResponse:
    return BrokerResponse(
        sent.value_type, sent.intent, sent.key, {}, sent.tenant_id, sent.partition_id,
        rejection_type, reason,
    )


def _deploy(broker: FakeBroker, sent: Sent) -> BrokerResponse:
    metadata = [
        {
            "bpmnProcessId": r["resourceName"].rsplit(".", 1)[0],
            "version": 1,
            "processDefinitionKey": broker.next_key(),
            "resourceName": r["resourceName"],
            "checksum": "c",
            "isDuplicate": False,
            "tenantId": sent.tenant_id,
        }
        for r in sent.value["resources"]
    ]
    return _event(
        sent, ValueType.DEPLOYMENT, DeploymentIntent.CREATED, broker.next_key(),
        {"processesMetadata": metadata},
    )


def _instance_value(broker: FakeBroker, sent: Sent) -> dict[str, Any]:
    return {
        "bpmnProcessId": sent.value["bpmnProcessId"] or "by-key",
        "version": 1,
        "processDefinitionKey": sent.value["processDefinitionKey"]
        if sent.value["processDefinitionKey"] > 0
        else encode_key(1, 7),
        "processInstanceKey": broker.next_key(sent.partition_id),
        "variables": sent.value["variables"],
    }


def _create(broker: FakeBroker, sent: Sent) -> BrokerResponse:
    value = _instance_value(broker, sent)
    return _event(
        sent, ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATED,
        value["processInstanceKey"], value,
    )


async def _create_with_result(broker: FakeBroker, sent: Sent) -> BrokerResponse:
    while not broker.instances_complete:
        await asyncio.sleep(0.01)
    value = _instance_value(broker, sent)
    # Not filtered by fetchVariables here: the gateway must keep that promise itself.
    value["variables"] = dict(sent.value["variables"], result="done")
    return _event(
        sent, ValueType.PROCESS_INSTANCE_RESULT, ProcessInstanceResultIntent.COMPLETED,
        value["processInstanceKey"], value,
    )


async def _activate(broker: FakeBroker, sent: Sent) -> BrokerResponse:
    value = sent.value
    now_ms = int(time.time() * 1000)
    with broker._lock:
        queue = broker.activatable.get((sent.partition_id, value["type"]), [])
        taken = queue[: value["maxJobsToActivate"]]
        del queue[: len(taken)]
        jobs = []
        for key, job in taken:
            job = dict(job, worker=value["worker"], deadline=now_ms + value["timeout"])
            broker.activated[key] = job
            jobs.append(job)
    if broker.activation_delay_s:
        await asyncio.sleep(broker.activation_delay_s)
    batch = {"jobKeys": [key for key, _ in taken], "jobs": jobs, "truncated": False}
    return _event(sent, ValueType.JOB_BATCH, JobBatchIntent.ACTIVATED, broker.next_key(), batch)


def _job_command(done_intent: int, action: str) -> Callable[[FakeBroker, Sent], BrokerResponse]:
    def answer(broker: FakeBroker, sent: Sent) -> BrokerResponse:
        with broker._lock:
            job = broker.activated.get(sent.key)
            if job is None:
                return _rejection(
                    sent, RejectionType.NOT_FOUND,
                    f"Expected to {action} with key '{sent.key}', but no such job was found",
                )
            if done_intent in (JobIntent.COMPLETED, JobIntent.FAILED, JobIntent.ERROR_THROWN):
                del broker.activated[sent.key]
        return _event(sent, ValueType.JOB, done_intent, sent.key, dict(job))

    return answer


def _yield(broker: FakeBroker, sent: Sent) -> BrokerResponse:
    with broker._lock:
        job = broker.activated.pop(sent.key, None)
        if job is None:
            return _rejection(
                sent, RejectionType.NOT_FOUND,
                f"Expected to yield job with key '{sent.key}', but no such job was found",
            )
        broker.yielded.append(sent.key)
        broker.activatable.setdefault((sent.partition_id, job["type"]), []).append((sent.key, job))
    broker.announce(job["type"])
    return _event(sent, ValueType.JOB, JobIntent.YIELDED, sent.key, job)


def _publish(broker: FakeBroker, sent: Sent) -> BrokerResponse:
    message_id = sent.value["messageId"]
    if message_id:
        with broker._lock:
            if message_id in broker._message_ids:
                return _rejection(
                    sent, RejectionType.ALREADY_EXISTS,
                    f"Expected to publish a new message with id '{message_id}', but a message "
                    "with that id was already published",
                )
            broker._message_ids.add(message_id)
    return _event(sent, ValueType.MESSAGE, MessageIntent.PUBLISHED, broker.next_key(sent.partition_id), sent.value)


_DEFAULT_ANSWERS: dict[tuple[int, int], Callable[[FakeBroker, Sent], Any]] = {
    (ValueType.DEPLOYMENT, DeploymentIntent.CREATE): _deploy,
    (ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATE): _create,
    (
        ValueType.PROCESS_INSTANCE_CREATION,
        ProcessInstanceCreationIntent.CREATE_WITH_AWAITING_RESULT,
    ): _create_with_result,
    (ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.CANCEL): lambda b, s: _event(
        s, ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.ELEMENT_TERMINATING, s.key, {}
    ),
    (ValueType.VARIABLE_DOCUMENT, VariableDocumentIntent.UPDATE): lambda b, s: _event(
        s, ValueType.VARIABLE_DOCUMENT, VariableDocumentIntent.UPDATED, b.next_key(s.partition_id), s.value
    ),
    (ValueType.INCIDENT, IncidentIntent.RESOLVE): lambda b, s: _event(
        s, ValueType.INCIDENT, IncidentIntent.RESOLVED, s.key, {}
    ),
    (ValueType.MESSAGE, MessageIntent.PUBLISH): _publish,
    (ValueType.JOB_BATCH, JobBatchIntent.ACTIVATE): _activate,
    (ValueType.JOB, JobIntent.COMPLETE): _job_command(JobIntent.COMPLETED, "complete job"),
    (ValueType.JOB, JobIntent.FAIL): _job_command(JobIntent.FAILED, "fail job"),
    (ValueType.JOB, JobIntent.THROW_ERROR): _job_command(JobIntent.ERROR_THROWN, "throw an error for job"),
    (ValueType.JOB, JobIntent.UPDATE_RETRIES): _job_command(JobIntent.RETRIES_UPDATED, "update the retries of job"),
    (ValueType.JOB, JobIntent.UPDATE_TIMEOUT): _job_command(JobIntent.TIMEOUT_UPDATED, "update the timeout of job"),
    (ValueType.JOB, JobIntent.YIELD): _yield,
}


class RunningGateway:
    """A `GatewayServer` over `broker` on a free port, served by its own event-loop thread."""

    def __init__(self, broker: Any, config: GatewayConfig | None = None) -> None:
        self.broker = broker
        self.config = config or GatewayConfig(host="127.0.0.1", port=0)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="gateway-loop", daemon=True)
        self._thread.start()
        self.server = GatewayServer(broker, self.config)
        self.port = self.run(self.server.start())

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, coroutine: Any, timeout_s: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def close(self) -> None:
        try:
            self.run(self.server.stop(grace_s=0.2))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


__all__ = [
    "BrokerOverloadedError",
    "BrokerUnavailableError",
    "FakeBroker",
    "RunningGateway",
    "Sent",
]
